/* test_alert.c: alert state machine, ids, `for`, hysteresis, save/restore. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "civil.h"
#include "fake_sink.h"

struct t {
    struct fake_sink *sink;
    struct ow_alerts *a;
    struct ow_rule_conf conf;
};

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof(*t));

    t->sink = fake_sink_create();
    t->a = ow_alerts_create(fake_sink_sink(t->sink));
    t->conf.enabled = true;
    t->conf.severity = "warning";
    t->conf.threshold = 110;
    t->conf.resolve = NAN;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;

    ow_alerts_destroy(t->a);
    fake_sink_destroy(t->sink);
    free(t);
    return 0;
}

/* A percent-of-forecast rule: fires at >= 110, resolves below 109. */
static enum ow_alert_state observe(struct t *t, double value, int64_t at)
{
    struct ow_alert_dim dims[] = {{"party_id", "SUP-0042"}};
    struct ow_alert_obs obs = {
        .rule = "sr_forecast_exceeded",
        .conf = &t->conf,
        .window = {OW_WIN_MONTH, 2021 * 12 + 3},
        .dims = dims,
        .ndims = 1,
        .breach = value >= 110,
        .recovered = value < 109,
        .value = value,
        .threshold = 110,
        .unit = "percent_of_forecast",
        .message = "test",
        .event_us = at,
    };

    return ow_alerts_observe(t->a, &obs);
}

static void alert__fires_once_and_resolves_with_hysteresis(void **state)
{
    struct t *t = *state;
    json_t *rec;
    const char *key;

    assert_int_equal(observe(t, 100, 1), OW_ALERT_INACTIVE);
    assert_int_equal(fake_sink_count(t->sink, OW_STREAM_ALERTS), 0);
    assert_int_equal(observe(t, 111, 2), OW_ALERT_FIRING);
    assert_int_equal(observe(t, 120, 3), OW_ALERT_FIRING);
    assert_int_equal(observe(t, 109.5, 4), OW_ALERT_FIRING); /* inside the band: no flap */
    assert_int_equal(fake_sink_count(t->sink, OW_STREAM_ALERTS), 1);
    rec = fake_sink_get(t->sink, OW_STREAM_ALERTS, 0, &key);
    assert_string_equal(key, "sr_forecast_exceeded/2021-04/party_id=SUP-0042");
    assert_string_equal(json_string_value(json_object_get(rec, "state")), "firing");
    assert_string_equal(json_string_value(json_object_get(rec, "window")), "2021-04");
    assert_true(json_real_value(json_object_get(rec, "value")) == 111.0);
    assert_int_equal(observe(t, 108, 5), OW_ALERT_RESOLVED);
    assert_int_equal(fake_sink_count(t->sink, OW_STREAM_ALERTS), 2);
    assert_int_equal(observe(t, 108, 6), OW_ALERT_RESOLVED);
    assert_int_equal(observe(t, 112, 7), OW_ALERT_FIRING);
    assert_int_equal(fake_sink_count(t->sink, OW_STREAM_ALERTS), 3);
}

static void alert__for_waits_in_event_time(void **state)
{
    struct t *t = *state;

    t->conf.for_us = 3600 * OW_US_PER_SEC;
    assert_int_equal(observe(t, 115, 0), OW_ALERT_PENDING);
    ow_alerts_on_watermark(t->a, 3599 * OW_US_PER_SEC);
    assert_int_equal(fake_sink_alerts(t->sink, NULL, "firing"), 0);
    ow_alerts_on_watermark(t->a, 3600 * OW_US_PER_SEC);
    assert_int_equal(fake_sink_alerts(t->sink, NULL, "firing"), 1);
    assert_int_equal(fake_sink_alerts(t->sink, NULL, "pending"), 1);
}

static void alert__pending_that_clears_is_resolved(void **state)
{
    struct t *t = *state;

    t->conf.for_us = 3600 * OW_US_PER_SEC;
    observe(t, 115, 0);
    assert_int_equal(observe(t, 100, 10), OW_ALERT_RESOLVED);
    ow_alerts_on_watermark(t->a, 7200 * OW_US_PER_SEC);
    assert_int_equal(fake_sink_alerts(t->sink, NULL, "firing"), 0);
}

static void alert__disabled_rule_is_silent(void **state)
{
    struct t *t = *state;

    t->conf.enabled = false;
    assert_int_equal(observe(t, 200, 1), OW_ALERT_INACTIVE);
    assert_int_equal(fake_sink_count(t->sink, OW_STREAM_ALERTS), 0);
}

static void alert__severity_change_is_published(void **state)
{
    struct t *t = *state;

    observe(t, 115, 1);
    t->conf.severity = "critical";
    observe(t, 116, 2);
    observe(t, 117, 3);
    assert_int_equal(fake_sink_count(t->sink, OW_STREAM_ALERTS), 2);
    assert_string_equal(json_string_value(json_object_get(
                            fake_sink_get(t->sink, OW_STREAM_ALERTS, 1, NULL), "severity")),
                        "critical");
}

static void alert__id_sorts_and_encodes_dims(void **state)
{
    struct ow_alert_dim dims[] = {{"provider", "CSP/N"}, {"measure", "PM2,1=%"}};
    char id[256];

    (void)state;
    ow_alert_id("measure_below_target", (struct ow_window_id){OW_WIN_QUARTER, 2021 * 4}, dims, 2,
                id, sizeof(id));
    assert_string_equal(id, "measure_below_target/2021-Q1/measure=PM2%2C1%3D%25,provider=CSP%2FN");
    ow_alert_id("incident_backlog", (struct ow_window_id){OW_WIN_MONTH, 2021 * 12}, NULL, 0, id,
                sizeof(id));
    assert_string_equal(id, "incident_backlog/2021-01/");
}

static void alert__state_survives_save_and_restore(void **state)
{
    struct t *t = *state;
    struct ow_alerts *b = ow_alerts_create(fake_sink_sink(t->sink));
    json_t *saved;

    observe(t, 115, 1);
    saved = ow_alerts_save(t->a);
    assert_int_equal(ow_alerts_restore(b, saved), 0);
    json_decref(saved);
    assert_int_equal(ow_alerts_state(b, "sr_forecast_exceeded/2021-04/party_id=SUP-0042"),
                     OW_ALERT_FIRING);
    /* The restored engine does not fire again for the same condition. */
    ow_alerts_destroy(t->a);
    t->a = b;
    assert_int_equal(observe(t, 120, 2), OW_ALERT_FIRING);
    assert_int_equal(fake_sink_count(t->sink, OW_STREAM_ALERTS), 1);
    assert_int_equal(observe(t, 100, 3), OW_ALERT_RESOLVED);
    assert_int_equal(fake_sink_count(t->sink, OW_STREAM_ALERTS), 2);
}

/* One step of a history: an observation of @value at @at (with @severity), or, when @value
 * is NAN, the watermark moved to @at. */
struct step {
    double value;
    int64_t at;
    char *severity;
};

static void apply_step(struct ow_alerts *a, struct ow_rule_conf *conf, const struct step *st)
{
    struct ow_alert_dim dims[] = {{"party_id", "SUP-0042"}};
    struct ow_alert_obs obs = {
        .rule = "sr_forecast_exceeded",
        .conf = conf,
        .window = {OW_WIN_MONTH, 2021 * 12 + 3},
        .dims = dims,
        .ndims = 1,
        .breach = st->value >= 110,
        .recovered = st->value < 109,
        .value = st->value,
        .threshold = 110,
        .unit = "percent_of_forecast",
        .message = "test",
        .event_us = st->at,
    };

    conf->severity = st->severity;
    if (isnan(st->value)) {
        ow_alerts_on_watermark(a, st->at);
    } else {
        ow_alerts_observe(a, &obs);
    }
}

/* Saves share each alert's save form until it changes: a save after every step must equal the
 * save of a store that replayed the same steps and never saved before. */
static void alert__every_save_holds_the_changes_since_the_last(void **state)
{
    struct t *t = *state;
    const int64_t h = 3600 * OW_US_PER_SEC;
    const struct step steps[] = {
        {115, 0, "warning"},      {116, 10, "warning"},     {NAN, h, "warning"},
        {117, h + 1, "warning"},  {118, h + 2, "critical"}, {100, h + 3, "critical"},
        {105, h + 4, "critical"}, {120, h + 5, "critical"}, {NAN, 3 * h, "critical"},
    };

    t->conf.for_us = h;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct ow_alerts *fresh = ow_alerts_create(fake_sink_sink(t->sink));
        struct ow_rule_conf conf = t->conf;
        json_t *got;
        json_t *want;

        apply_step(t->a, &t->conf, &steps[i]);
        got = ow_alerts_save(t->a);
        for (size_t k = 0; k <= i; k++) {
            apply_step(fresh, &conf, &steps[k]);
        }
        want = ow_alerts_save(fresh);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_SORT_KEYS);
            char *w = json_dumps(want, JSON_SORT_KEYS);

            fprintf(stderr, "step %zu:\n got  %s\n want %s\n", i, g, w);
            free(g);
            free(w);
        }
        assert_true(json_equal(got, want));
        json_decref(got);
        json_decref(want);
        ow_alerts_destroy(fresh);
    }
}

static void alert__window_lists_fired_alerts(void **state)
{
    struct t *t = *state;
    json_t *list;

    observe(t, 115, 1);
    list = ow_alerts_of_window(t->a, (struct ow_window_id){OW_WIN_MONTH, 2021 * 12 + 3});
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    list = ow_alerts_of_window(t->a, (struct ow_window_id){OW_WIN_MONTH, 2021 * 12 + 4});
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    list = ow_alerts_list(t->a, "firing");
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    list = ow_alerts_list(t->a, "resolved");
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(alert__fires_once_and_resolves_with_hysteresis, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(alert__for_waits_in_event_time, setup, teardown),
        cmocka_unit_test_setup_teardown(alert__pending_that_clears_is_resolved, setup, teardown),
        cmocka_unit_test_setup_teardown(alert__disabled_rule_is_silent, setup, teardown),
        cmocka_unit_test_setup_teardown(alert__severity_change_is_published, setup, teardown),
        cmocka_unit_test(alert__id_sorts_and_encodes_dims),
        cmocka_unit_test_setup_teardown(alert__state_survives_save_and_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(alert__every_save_holds_the_changes_since_the_last, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(alert__window_lists_fired_alerts, setup, teardown),
    };

    return cmocka_run_group_tests_name("alert", tests, NULL, NULL);
}
