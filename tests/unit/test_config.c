/* test_config.c: the configuration walker and the top-level map: defaults, bounds, paths. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "config.h"

static struct ow_config *load_text(const char *text, struct ow_conf_errors **errs)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    struct ow_config *cfg;

    assert_non_null(doc);
    *errs = ow_conf_errors_create("site.json");
    cfg = ow_config_from_json(doc, "site.json", ".", "x", *errs);
    json_decref(doc);
    return cfg;
}

static bool has_error(const struct ow_conf_errors *errs, const char *want)
{
    for (size_t i = 0; i < ow_conf_errors_count(errs); i++) {
        if (strstr(ow_conf_errors_get(errs, i), want) != NULL) {
            return true;
        }
    }
    for (size_t i = 0; i < ow_conf_errors_count(errs); i++) {
        fprintf(stderr, "  got: %s\n", ow_conf_errors_get(errs, i));
    }
    return false;
}

static void config__built_in_default_loads(void **state)
{
    struct ow_conf_errors *errs = NULL;
    struct ow_config *cfg = ow_config_load(NULL, &errs);

    (void)state;
    assert_non_null(cfg);
    assert_string_equal(cfg->timezone, "Europe/London");
    assert_true(cfg->windows.grace.working_days);
    assert_int_equal(cfg->windows.grace.days, 10);
    assert_int_equal(cfg->windows.allowed_disorder_us, 3600 * OW_US_PER_SEC);
    assert_int_equal(cfg->dedup.span_us, 7 * OW_US_PER_DAY);
    assert_int_equal(cfg->dedup.max_bytes, 1073741824);
    assert_int_equal(cfg->history_months, 28);
    assert_int_equal(strlen(cfg->sha256), 64);
    ow_config_destroy(cfg);
    ow_conf_errors_destroy(errs);
}

static void config__empty_object_takes_every_default(void **state)
{
    struct ow_conf_errors *errs;
    struct ow_config *cfg = load_text("{}", &errs);

    (void)state;
    assert_non_null(cfg);
    assert_int_equal(cfg->windows.retention_windows, 2);
    assert_int_equal(cfg->windows.future_limit_us, OW_US_PER_DAY);
    ow_config_destroy(cfg);
    ow_conf_errors_destroy(errs);
}

static void config__errors_name_file_path_and_expectation(void **state)
{
    struct ow_conf_errors *errs;
    struct ow_config *cfg =
        load_text("{\"windows\": {\"grace\": \"ten days\", \"retention_windows\": -4,"
                  " \"allowed_disorder\": 5}, \"dedup\": {\"spam\": 1}, \"history_months\": 3.5,"
                  " \"processors\": {\"nope\": {}}}",
                  &errs);

    (void)state;
    assert_null(cfg);
    assert_true(has_error(errs, "site.json: $.windows.grace: expected Working Days such as "
                                "\"10wd\""));
    assert_true(has_error(errs, "site.json: $.windows.retention_windows: expected integer "
                                "0..120, got -4"));
    assert_true(has_error(errs, "site.json: $.windows.allowed_disorder: expected a duration"));
    assert_true(has_error(errs, "site.json: $.dedup.spam: unknown key"));
    assert_true(has_error(errs, "site.json: $.history_months: expected integer 1..240, got 3.5"));
    assert_true(has_error(errs, "site.json: $.processors.nope: unknown processor"));
    /* Every error is reported, not just the first. */
    assert_true(ow_conf_errors_count(errs) >= 6);
    ow_conf_errors_destroy(errs);
}

static void config__grace_as_duration_or_working_days(void **state)
{
    struct ow_conf_errors *errs;
    struct ow_config *cfg = load_text("{\"windows\": {\"grace\": \"36h\"}}", &errs);

    (void)state;
    assert_non_null(cfg);
    assert_false(cfg->windows.grace.working_days);
    assert_int_equal(cfg->windows.grace.duration_us, 36 * OW_US_PER_HOUR);
    ow_config_destroy(cfg);
    ow_conf_errors_destroy(errs);
    cfg = load_text("{\"windows\": {\"grace\": \"25wd\"}}", &errs);
    assert_non_null(cfg);
    assert_true(cfg->windows.grace.working_days);
    assert_int_equal(cfg->windows.grace.days, 25);
    ow_config_destroy(cfg);
    ow_conf_errors_destroy(errs);
}

static void config__comments_are_allowed_anywhere(void **state)
{
    struct ow_conf_errors *errs;
    struct ow_config *cfg =
        load_text("{\"$comment\": \"x\", \"windows\": {\"$comment\": \"y\"}}", &errs);

    (void)state;
    assert_non_null(cfg);
    ow_config_destroy(cfg);
    ow_conf_errors_destroy(errs);
}

static void config__unreadable_file_is_reported(void **state)
{
    struct ow_conf_errors *errs = NULL;
    struct ow_config *cfg = ow_config_load("/nonexistent/opswatch.json", &errs);

    (void)state;
    assert_null(cfg);
    assert_true(has_error(errs, "/nonexistent/opswatch.json: $: cannot read"));
    ow_conf_errors_destroy(errs);
}

static void config__durations_parse(void **state)
{
    int64_t us;

    (void)state;
    assert_int_equal(ow_conf_parse_duration("500ms", &us), 0);
    assert_int_equal(us, 500000);
    assert_int_equal(ow_conf_parse_duration("7d", &us), 0);
    assert_int_equal(us, 7 * OW_US_PER_DAY);
    assert_int_equal(ow_conf_parse_duration("7", &us), -1);
    assert_int_equal(ow_conf_parse_duration("-1h", &us), -1);
    assert_int_equal(ow_conf_parse_duration("1w", &us), -1);
    assert_int_equal(ow_conf_parse_duration("99999999999999999d", &us), -1);
}

static void config__strings_expand_env_and_files(void **state)
{
    char why[300];
    char *s;
    FILE *f;

    (void)state;
    setenv("OW_TEST_SECRET", "hunter2", 1);
    s = ow_config_expand("user:${OW_TEST_SECRET}@x", why, sizeof(why));
    assert_string_equal(s, "user:hunter2@x");
    free(s);
    assert_null(ow_config_expand("${OW_TEST_UNSET_VAR}", why, sizeof(why)));
    assert_string_equal(why, "environment variable OW_TEST_UNSET_VAR is not set");
    f = fopen("/tmp/ow_test_secret.txt", "w");
    fputs("s3cret\n", f);
    fclose(f);
    s = ow_config_expand("file:/tmp/ow_test_secret.txt", why, sizeof(why));
    assert_string_equal(s, "s3cret");
    free(s);
    remove("/tmp/ow_test_secret.txt");
    assert_null(ow_config_expand("file:/nonexistent/secret", why, sizeof(why)));
}

static void config__kafka_properties_never_echo_secrets(void **state)
{
    struct ow_conf_errors *errs;
    struct ow_config *cfg =
        load_text("{\"kafka\": {\"properties\": {\"sasl.password\": \"${OW_TEST_UNSET_VAR}\"},"
                  " \"input_topics\": []}}",
                  &errs);

    (void)state;
    assert_null(cfg);
    assert_true(has_error(errs, "site.json: $.kafka.properties[\"sasl.password\"]: environment "
                                "variable OW_TEST_UNSET_VAR is not set"));
    assert_true(has_error(errs, "site.json: $.kafka.input_topics: expected a non-empty array"));
    ow_conf_errors_destroy(errs);
    setenv("OW_TEST_SECRET", "hunter2", 1);
    cfg = load_text("{\"kafka\": {\"properties\": {\"sasl.password\": \"${OW_TEST_SECRET}\"}}}",
                    &errs);
    assert_non_null(cfg);
    assert_int_equal(cfg->kafka.properties.count, 1);
    assert_string_equal(cfg->kafka.properties.values[0], "hunter2");
    assert_int_equal(cfg->kafka.input_topics.count, 7);
    ow_config_destroy(cfg);
    ow_conf_errors_destroy(errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config__built_in_default_loads),
        cmocka_unit_test(config__empty_object_takes_every_default),
        cmocka_unit_test(config__errors_name_file_path_and_expectation),
        cmocka_unit_test(config__grace_as_duration_or_working_days),
        cmocka_unit_test(config__comments_are_allowed_anywhere),
        cmocka_unit_test(config__unreadable_file_is_reported),
        cmocka_unit_test(config__durations_parse),
        cmocka_unit_test(config__strings_expand_env_and_files),
        cmocka_unit_test(config__kafka_properties_never_echo_secrets),
    };

    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
