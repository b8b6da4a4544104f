/* test_threshold.c: the generic threshold rule: any figure of any report, at the crossing
 * event, with hysteresis, and its configuration errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "engine_fixture.h"

#define RULES                                                                                      \
    "{\"threshold_rules\": [{\"name\": \"north SRs\", \"report\": \"sr_variance\","                \
    " \"metric\": \"by_csp/csp_n\", \"op\": \">=\", \"value\": 100, \"resolve\": 90,"              \
    " \"severity\": \"critical\"}, {\"name\": \"service 8.14.2\", \"report\": \"sr_variance\","    \
    " \"metric\": \"by_service/8.14.2/actual\", \"op\": \">\", \"value\": 5}]}"

static int sr(struct fixture *f, const char *id, const char *at, const char *region,
              const char *service, long long count)
{
    return apply_fmt(f,
                     "{\"event_id\":\"%s\",\"type\":\"service_request\",\"schema_version\":1,"
                     "\"occurred_at\":\"%s\",\"party_id\":\"SUP-1\",\"service_ref\":\"%s\","
                     "\"count\":%lld,\"region\":\"%s\"}",
                     id, at, service, count, region);
}

static void threshold__fires_at_the_crossing_event(void **state)
{
    struct fixture *f = fixture_create(RULES, false);
    json_t *rec;

    (void)state;
    sr(f, "a", "2021-04-02T10:00:00Z", "north", "1.1.1", 60);
    sr(f, "b", "2021-04-02T11:00:00Z", "south", "1.1.1", 60); /* C&S: not csp_n */
    assert_int_equal(fake_sink_alerts(f->sink, "threshold", NULL), 0);
    sr(f, "c", "2021-04-02T12:00:00Z", "north", "1.1.1", 40); /* csp_n reaches 100 */
    assert_int_equal(fake_sink_alerts(f->sink, "threshold", "firing"), 1);
    rec = fake_sink_latest(f->sink, OW_STREAM_ALERTS, "threshold/2021-04/name=north SRs");
    assert_non_null(rec);
    assert_string_equal(json_string_value(jget(rec, "severity")), "critical");
    assert_string_equal(json_string_value(jget(rec, "event_time")), "2021-04-02T12:00:00Z");
    assert_true(json_real_value(jget(rec, "value")) == 100.0);
    assert_true(json_real_value(jget(rec, "threshold")) == 100.0);
    sr(f, "d", "2021-04-02T13:00:00Z", "north", "1.1.1", 1);
    assert_int_equal(fake_sink_alerts(f->sink, "threshold", "firing"), 1); /* no repeat */
    /* A path through a service reference (dots in the key). */
    sr(f, "e", "2021-04-02T14:00:00Z", "south", "8.14.2", 6);
    assert_non_null(
        fake_sink_latest(f->sink, OW_STREAM_ALERTS, "threshold/2021-04/name=service 8.14.2"));
    /* Another month has its own alert. */
    sr(f, "f", "2021-05-02T10:00:00Z", "north", "1.1.1", 150);
    assert_non_null(
        fake_sink_latest(f->sink, OW_STREAM_ALERTS, "threshold/2021-05/name=north SRs"));
    fixture_destroy(f);
}

static void threshold__resolves_past_the_resolve_value(void **state)
{
    struct fixture *f = fixture_create("{\"threshold_rules\": [{\"name\": \"few\", \"report\":"
                                       " \"sr_variance\", \"metric\": \"percent_of_forecast\","
                                       " \"op\": \"<\", \"value\": 50, \"resolve\": 60}]}",
                                       false);
    const char *fc = "{\"event_id\":\"f1\",\"type\":\"forecast\",\"schema_version\":1,"
                     "\"occurred_at\":\"2021-03-01T10:00:00Z\",\"report\":\"service_request\","
                     "\"party_id\":\"SUP-1\",\"period\":\"2021-04\",\"quantity\":100}";

    (void)state;
    apply_json(f, fc);
    sr(f, "a", "2021-04-02T10:00:00Z", "north", "1.1.1", 10); /* 10%: fires */
    assert_int_equal(fake_sink_alerts(f->sink, "threshold", "firing"), 1);
    sr(f, "b", "2021-04-02T11:00:00Z", "north", "1.1.1", 45); /* 55%: inside the band */
    assert_int_equal(fake_sink_alerts(f->sink, "threshold", "resolved"), 0);
    sr(f, "c", "2021-04-02T12:00:00Z", "north", "1.1.1", 6); /* 61%: resolved */
    assert_int_equal(fake_sink_alerts(f->sink, "threshold", "resolved"), 1);
    fixture_destroy(f);
}

static void threshold__config_errors_name_the_rule(void **state)
{
    struct ow_conf_errors *errs = ow_conf_errors_create("site.json");
    json_t *doc = json_loads("{\"threshold_rules\": [{\"name\": \"x\", \"report\": \"nope\","
                             " \"metric\": \"a\", \"value\": 1}, {\"name\": \"y\", \"report\":"
                             " \"csr_variance\", \"metric\": \"a\", \"value\": 1, \"op\": \"=>\"},"
                             " {\"report\": \"csr_variance\", \"metric\": \"a\", \"value\": 1}]}",
                             0, NULL);
    struct ow_config *cfg = ow_config_from_json(doc, "site.json", ".", "x", errs);
    bool seen[3] = {false, false, false};

    (void)state;
    assert_null(cfg);
    for (size_t i = 0; i < ow_conf_errors_count(errs); i++) {
        const char *e = ow_conf_errors_get(errs, i);

        seen[0] |= strstr(e, "$.threshold_rules[0].report: expected a report key") != NULL;
        seen[1] |= strstr(e, "$.threshold_rules[1].op: expected one of") != NULL;
        seen[2] |= strstr(e, "$.threshold_rules[2].name: required key is missing") != NULL;
    }
    assert_true(seen[0] && seen[1] && seen[2]);
    json_decref(doc);
    ow_conf_errors_destroy(errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(threshold__fires_at_the_crossing_event),
        cmocka_unit_test(threshold__resolves_past_the_resolve_value),
        cmocka_unit_test(threshold__config_errors_name_the_rule),
    };

    return cmocka_run_group_tests_name("threshold", tests, NULL, NULL);
}
