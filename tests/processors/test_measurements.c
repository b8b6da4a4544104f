/* test_measurements.c: the Performance Measurement report (H13.4) and its alert rules through
 * the engine, on a fake sink. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedded.h"
#include "engine_fixture.h"
#include "restore_check.h"

static int setup(void **state)
{
    *state = fixture_create(NULL, false);
    return 0;
}

static int teardown(void **state)
{
    fixture_destroy(*state);
    return 0;
}

static int meas(struct fixture *f, const char *id, const char *at, const char *measure,
                const char *provider, long long met, long long total)
{
    return apply_fmt(f,
                     "{\"event_id\":\"%s\",\"type\":\"measurement\",\"schema_version\":1,"
                     "\"occurred_at\":\"%s\",\"measure\":\"%s\",\"provider\":\"%s\","
                     "\"met\":%lld,\"total\":%lld}",
                     id, at, measure, provider, met, total);
}

static json_t *measures(struct fixture *f, const char *window)
{
    json_t *snap = latest_snapshot(f, window);

    assert_non_null(snap);
    return jget(snap, "reports/performance/measures");
}

/* The row of (@measure, @provider) in @window's latest snapshot, or NULL. */
static json_t *row(struct fixture *f, const char *window, const char *measure, const char *provider)
{
    json_t *ms = measures(f, window);
    size_t i;
    json_t *r;

    json_array_foreach(ms, i, r)
    {
        if (strcmp(json_string_value(jget(r, "measure")), measure) == 0 &&
            strcmp(json_string_value(jget(r, "provider")), provider) == 0) {
            return r;
        }
    }
    return NULL;
}

static const char *status(json_t *r)
{
    json_t *s = jget(r, "status");

    return json_is_null(s) ? "(null)" : json_string_value(s);
}

static double real(json_t *r, const char *key)
{
    json_t *v = jget(r, key);

    assert_true(json_is_real(v));
    return json_real_value(v);
}

/* Alert records under @id in @state (NULL: any). */
static size_t alerts(struct fixture *f, const char *id, const char *state)
{
    size_t n = 0;

    for (size_t i = 0; i < fake_sink_count(f->sink, OW_STREAM_ALERTS); i++) {
        const char *key;
        json_t *rec = fake_sink_get(f->sink, OW_STREAM_ALERTS, i, &key);

        if (strcmp(key, id) == 0 &&
            (state == NULL || strcmp(json_string_value(jget(rec, "state")), state) == 0)) {
            n++;
        }
    }
    return n;
}

static void advance(struct fixture *f, const char *at)
{
    ow_engine_advance_watermark(f->eng, ts(at), OW_CLOSE_WATERMARK);
}

/* ---- figures ---- */

static void performance__percent_and_status(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    assert_int_equal(meas(f, "a1", "2021-04-02T10:00:00Z", "CPM1", "DCC", 490, 500), 0);
    assert_int_equal(meas(f, "a2", "2021-04-20T10:00:00Z", "CPM1", "DCC", 500, 500), 0);
    assert_int_equal(meas(f, "b", "2021-04-03T10:00:00Z", "CPM2", "DCC", 989, 1000), 0);
    assert_int_equal(meas(f, "c", "2021-04-03T10:00:00Z", "CPM3", "DCC", 959, 1000), 0);
    assert_int_equal(meas(f, "d", "2021-04-03T10:00:00Z", "CPM6", "DCC", 199, 200), 0);
    assert_int_equal(meas(f, "e", "2021-04-03T10:00:00Z", "CPM5", "DCC", 80, 100), 0);
    ow_engine_finish(f->eng, true);

    r = row(f, "2021-04", "CPM1", "DCC"); /* 990 / 1000: exactly at the 99% target */
    assert_int_equal(jint(r, "met"), 990);
    assert_int_equal(jint(r, "total"), 1000);
    assert_true(real(r, "percent") == 99.0);
    assert_true(real(r, "target") == 99.0);
    assert_true(real(r, "minimum") == 96.0);
    assert_string_equal(status(r), "met");
    assert_int_equal(jint(r, "months_below_target"), 0);
    assert_int_equal(jint(r, "months_observed"), 1);

    r = row(f, "2021-04", "CPM2", "DCC"); /* 98.9%: below target, above minimum */
    assert_true(real(r, "percent") == 100.0 * 989 / 1000);
    assert_string_equal(status(r), "below_target");
    assert_int_equal(jint(r, "months_below_target"), 1);

    r = row(f, "2021-04", "CPM3", "DCC"); /* 95.9%: below the minimum, so below target too */
    assert_string_equal(status(r), "below_minimum");
    assert_int_equal(jint(r, "months_below_target"), 1);

    r = row(f, "2021-04", "CPM6", "DCC"); /* 99.5% against a 99.5% target */
    assert_true(real(r, "target") == 99.5);
    assert_string_equal(status(r), "met");

    r = row(f, "2021-04", "CPM5", "DCC"); /* 80% against 90/80: at the minimum meets it */
    assert_string_equal(status(r), "below_target");
    assert_string_equal(
        json_string_value(jget(latest_snapshot(f, "2021-04"), "reports/performance/sec_ref")),
        "H13.4");
    assert_string_equal(
        json_string_value(jget(latest_snapshot(f, "2021-04"), "reports/performance/due")),
        "2021-06-08"); /* 25th Working Day after April 2021 */
}

/* A double would call 99.99999999999999978% "100%"; the comparison is exact. */
static void performance__levels_compare_exactly_beyond_double_precision(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    assert_int_equal(meas(f, "a", "2021-04-02T10:00:00Z", "CPM4", "DCC", 4611686018427387903LL,
                          4611686018427387904LL),
                     0);
    assert_int_equal(meas(f, "b", "2021-04-02T10:00:00Z", "CPM7", "DCC", 4565569158243114025LL,
                          4611686018427387904LL),
                     0); /* 99% of 2^62 is 4565569158243114024.96: one unit more meets it */
    ow_engine_finish(f->eng, true);
    r = row(f, "2021-04", "CPM4", "DCC");
    assert_true(real(r, "percent") == 100.0);
    assert_string_equal(status(r), "below_target");
    r = row(f, "2021-04", "CPM7", "DCC");
    assert_string_equal(status(r), "met");
}

static void performance__wildcard_and_exact_provider(void **state)
{
    struct fixture *f =
        fixture_create("{\"processors\": {\"performance\": {\"targets\": {\"PM2\": {"
                       "\"*\": {\"target\": 99, \"minimum\": 95},"
                       "\"CSP_N\": {\"target\": 99.9, \"minimum\": 99.5}}}}}}",
                       false);
    json_t *r;

    (void)state;
    assert_int_equal(meas(f, "n", "2021-04-02T10:00:00Z", "PM2", "CSP_N", 995, 1000), 0);
    assert_int_equal(meas(f, "c", "2021-05-02T10:00:00Z", "PM2", "CSP_CS", 995, 1000), 0);
    ow_engine_finish(f->eng, true);

    r = row(f, "2021-05", "PM2", "CSP_N"); /* exact entry: 99.5% is below its 99.9% target */
    assert_true(real(r, "target") == 99.9);
    assert_true(real(r, "minimum") == 99.5);
    r = row(f, "2021-04", "PM2", "CSP_N");
    assert_string_equal(status(r), "below_target");
    r = row(f, "2021-05", "PM2", "CSP_CS"); /* the wildcard: 99.5% meets 99% */
    assert_true(real(r, "target") == 99.0);
    assert_true(real(r, "minimum") == 95.0);
    assert_string_equal(status(r), "met");
    /* The exact pair is in every month; the wildcard's pair only once its data arrived. */
    assert_null(row(f, "2021-04", "PM2", "CSP_CS"));
    assert_non_null(row(f, "2021-05", "PM2", "CSP_N"));
    assert_int_equal(jint(row(f, "2021-05", "PM2", "CSP_N"), "total"), 0);
    assert_null(row(f, "2021-04", "PM2", "*"));
    /* The built-in CPM levels are still there: the table was laid over them. */
    assert_true(real(row(f, "2021-04", "CPM1", "DCC"), "target") == 99.0);
    fixture_destroy(f);
}

static void performance__unknown_measure_has_no_target(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    assert_int_equal(meas(f, "a", "2021-04-02T10:00:00Z", "PM9", "DSP", 4, 5), 0);
    /* A provider without its own entry for a configured measure: no wildcard, no target. */
    assert_int_equal(meas(f, "b", "2021-04-02T10:00:00Z", "CPM1", "CSP_N", 1, 5), 0);
    ow_engine_finish(f->eng, true);
    r = row(f, "2021-04", "PM9", "DSP");
    assert_non_null(r);
    assert_int_equal(jint(r, "met"), 4);
    assert_int_equal(jint(r, "total"), 5);
    assert_true(real(r, "percent") == 80.0);
    assert_true(json_is_null(jget(r, "target")));
    assert_true(json_is_null(jget(r, "minimum")));
    assert_string_equal(status(r), "no_target");
    assert_int_equal(jint(r, "months_below_target"), 0);
    assert_int_equal(jint(r, "months_observed"), 1);
    assert_string_equal(status(row(f, "2021-04", "CPM1", "CSP_N")), "no_target");
}

static void performance__rows_sorted_by_measure_then_provider(void **state)
{
    struct fixture *f = *state;
    json_t *ms;
    size_t i;
    json_t *r;
    const char *want[][2] = {
        {"CPM1", "DCC"}, {"CPM10", "DCC"}, {"CPM2", "DCC"}, {"CPM3", "DCC"},
        {"CPM4", "DCC"}, {"CPM5", "DCC"},  {"CPM6", "DCC"}, {"CPM7", "DCC"},
        {"CPM8", "DCC"}, {"PM2", "A"},     {"PM2", "Z"},    {"PM2.1", "B"},
    };

    assert_int_equal(meas(f, "1", "2021-04-02T10:00:00Z", "PM2.1", "B", 1, 1), 0);
    assert_int_equal(meas(f, "2", "2021-04-02T10:00:00Z", "PM2", "Z", 1, 1), 0);
    assert_int_equal(meas(f, "3", "2021-04-02T10:00:00Z", "CPM10", "DCC", 1, 1), 0);
    assert_int_equal(meas(f, "4", "2021-04-02T10:00:00Z", "PM2", "A", 1, 1), 0);
    ow_engine_finish(f->eng, true);
    ms = measures(f, "2021-04");
    assert_int_equal(json_array_size(ms), sizeof(want) / sizeof(want[0]));
    json_array_foreach(ms, i, r)
    {
        assert_string_equal(json_string_value(jget(r, "measure")), want[i][0]);
        assert_string_equal(json_string_value(jget(r, "provider")), want[i][1]);
    }
}

static void performance__configured_measures_are_zero_filled(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    assert_int_equal(meas(f, "a", "2021-04-02T10:00:00Z", "PM9", "DSP", 5, 5), 0);
    assert_int_equal(meas(f, "b", "2021-06-02T10:00:00Z", "CPM1", "DCC", 5, 5), 0);
    ow_engine_finish(f->eng, true);
    /* April: the eight CPMs without data, and PM9. */
    assert_int_equal(json_array_size(measures(f, "2021-04")), 9);
    r = row(f, "2021-04", "CPM8", "DCC");
    assert_int_equal(jint(r, "met"), 0);
    assert_int_equal(jint(r, "total"), 0);
    assert_true(json_is_null(jget(r, "percent")));
    assert_true(real(r, "target") == 99.0);
    assert_true(json_is_null(jget(r, "status"))); /* no data: nothing to compare */
    assert_int_equal(jint(r, "months_below_target"), 0);
    assert_int_equal(jint(r, "months_observed"), 0);
    /* May, a gap month: the CPMs, and PM9 (seen within the history) with no data. */
    assert_int_equal(json_array_size(measures(f, "2021-05")), 9);
    r = row(f, "2021-05", "PM9", "DSP");
    assert_int_equal(jint(r, "total"), 0);
    assert_true(json_is_null(jget(r, "percent")));
    assert_string_equal(status(r), "no_target");
    assert_int_equal(jint(r, "months_observed"), 1);
    assert_int_equal(jint(row(f, "2021-06", "CPM1", "DCC"), "months_observed"), 1);
}

static void performance__history_counts_closed_months_with_a_gap(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    assert_int_equal(meas(f, "jan", "2021-01-15T10:00:00Z", "CPM1", "DCC", 98, 100), 0);
    assert_int_equal(meas(f, "feb", "2021-02-15T10:00:00Z", "CPM1", "DCC", 100, 100), 0);
    /* March: no data for CPM1 (another measure makes the month). */
    assert_int_equal(meas(f, "mar", "2021-03-15T10:00:00Z", "PM9", "DSP", 1, 1), 0);
    assert_int_equal(meas(f, "apr", "2021-04-25T10:00:00Z", "CPM1", "DCC", 90, 100), 0);
    /* The watermark has closed January to March; April is open. */
    assert_non_null(latest_snapshot(f, "2021-03"));
    r = row(f, "2021-02", "CPM1", "DCC");
    assert_string_equal(status(r), "met");
    assert_int_equal(jint(r, "months_below_target"), 1);
    assert_int_equal(jint(r, "months_observed"), 2);
    r = row(f, "2021-03", "CPM1", "DCC");
    assert_true(json_is_null(jget(r, "status")));
    assert_int_equal(jint(r, "months_below_target"), 1);
    assert_int_equal(jint(r, "months_observed"), 2);
    /* April's open snapshot counts April as it stands (revision 0). */
    ow_engine_finish(f->eng, false);
    r = row(f, "2021-04", "CPM1", "DCC");
    assert_int_equal(jint(latest_snapshot(f, "2021-04"), "revision"), 0);
    assert_string_equal(status(r), "below_minimum");
    assert_int_equal(jint(r, "months_below_target"), 2);
    assert_int_equal(jint(r, "months_observed"), 3);
    /* ...and so does its final snapshot. */
    advance(f, "2021-06-01T00:00:00Z");
    assert_true(json_is_true(jget(latest_snapshot(f, "2021-04"), "final")));
    r = row(f, "2021-04", "CPM1", "DCC");
    assert_int_equal(jint(r, "months_below_target"), 2);
    assert_int_equal(jint(r, "months_observed"), 3);
}

static void performance__history_beyond_28_months_is_dropped(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    assert_int_equal(meas(f, "old", "2019-01-15T10:00:00Z", "CPM1", "DCC", 1, 100), 0);
    assert_int_equal(meas(f, "new", "2021-05-15T10:00:00Z", "CPM1", "DCC", 100, 100), 0);
    ow_engine_finish(f->eng, true);
    /* 2021-04 reaches back 28 months to 2019-01, this month included. */
    r = row(f, "2021-04", "CPM1", "DCC");
    assert_int_equal(jint(r, "months_observed"), 1);
    assert_int_equal(jint(r, "months_below_target"), 1);
    /* 2021-05 no longer does. */
    r = row(f, "2021-05", "CPM1", "DCC");
    assert_int_equal(jint(r, "months_observed"), 1);
    assert_int_equal(jint(r, "months_below_target"), 0);
}

static void performance__shorter_history_from_the_config(void **state)
{
    struct fixture *f = fixture_create("{\"history_months\": 3, \"processors\": {\"performance\": "
                                       "{\"repeat_months\": 3}}}",
                                       false);

    (void)state;
    assert_int_equal(meas(f, "1", "2021-01-15T10:00:00Z", "CPM1", "DCC", 1, 100), 0);
    assert_int_equal(meas(f, "2", "2021-02-15T10:00:00Z", "CPM1", "DCC", 1, 100), 0);
    assert_int_equal(meas(f, "3", "2021-03-15T10:00:00Z", "CPM1", "DCC", 1, 100), 0);
    assert_int_equal(meas(f, "4", "2021-04-15T10:00:00Z", "CPM1", "DCC", 1, 100), 0);
    advance(f, "2021-05-01T00:00:00Z"); /* March closes */
    assert_int_equal(jint(row(f, "2021-03", "CPM1", "DCC"), "months_observed"), 3);
    /* August: January to May expire, and with them every cell before April. */
    assert_int_equal(meas(f, "8", "2021-08-15T10:00:00Z", "CPM1", "DCC", 1, 1), 0);
    ow_engine_finish(f->eng, true);
    assert_int_equal(jint(row(f, "2021-04", "CPM1", "DCC"), "months_observed"), 3);
    assert_int_equal(jint(row(f, "2021-04", "CPM1", "DCC"), "months_below_target"), 3);
    assert_int_equal(jint(row(f, "2021-06", "CPM1", "DCC"), "months_observed"), 1);
    assert_int_equal(jint(row(f, "2021-06", "CPM1", "DCC"), "months_below_target"), 1);
    assert_int_equal(jint(row(f, "2021-07", "CPM1", "DCC"), "months_observed"), 0);
    assert_int_equal(jint(row(f, "2021-08", "CPM1", "DCC"), "months_observed"), 1);
    fixture_destroy(f);
}

static void performance__values_kept_after_the_window_expired(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    assert_int_equal(meas(f, "jan", "2021-01-15T10:00:00Z", "CPM1", "DCC", 90, 100), 0);
    assert_int_equal(meas(f, "jun", "2021-06-15T10:00:00Z", "CPM1", "DCC", 100, 100), 0);
    /* January is past its retention: a late count for it is a dead letter... */
    assert_int_equal(meas(f, "late", "2021-01-20T10:00:00Z", "CPM1", "DCC", 1, 1), OW_ESCHEMA);
    assert_non_null(strstr(
        json_string_value(jget(fake_sink_get(f->sink, OW_STREAM_DEADLETTER, 0, NULL), "error")),
        "window expired"));
    /* ...but its value still counts in the history. */
    ow_engine_finish(f->eng, true);
    r = row(f, "2021-06", "CPM1", "DCC");
    assert_int_equal(jint(r, "months_observed"), 2);
    assert_int_equal(jint(r, "months_below_target"), 1);
}

static void performance__overflow_rejects_the_event(void **state)
{
    struct fixture *f = *state;
    json_t *dl;
    json_t *r;

    assert_int_equal(meas(f, "a", "2021-04-02T10:00:00Z", "CPM1", "DCC", 10, 4611686018427387904LL),
                     0);
    assert_int_equal(meas(f, "b", "2021-04-03T10:00:00Z", "CPM1", "DCC", 10, 4611686018427387904LL),
                     OW_ESCHEMA);
    dl = fake_sink_get(f->sink, OW_STREAM_DEADLETTER, 0, NULL);
    assert_string_equal(json_string_value(jget(dl, "error")),
                        "measurement: field 'total': the month's sum would overflow 64 bits");
    /* Another month is a sum of its own. */
    assert_int_equal(meas(f, "c", "2021-05-03T10:00:00Z", "CPM1", "DCC", 10, 4611686018427387904LL),
                     0);
    ow_engine_finish(f->eng, true);
    r = row(f, "2021-04", "CPM1", "DCC");
    assert_int_equal(jint(r, "met"), 10);
    assert_int_equal(jint(r, "total"), 4611686018427387904LL);
}

/* A late event that changes whether a closed month was below target changes the history of
 * the months after it: they get a new revision, and the figures do not depend on arrival. */
static void performance__late_event_updates_later_months_history(void **state)
{
    struct fixture *f = fixture_create("{\"windows\": {\"retention_windows\": 6}}", false);

    (void)state;
    assert_int_equal(meas(f, "apr", "2021-04-15T10:00:00Z", "CPM1", "DCC", 100, 100), 0);
    assert_int_equal(meas(f, "may", "2021-05-15T10:00:00Z", "CPM1", "DCC", 100, 100), 0);
    advance(f, "2021-07-01T00:00:00Z");
    assert_int_equal(jint(row(f, "2021-05", "CPM1", "DCC"), "months_below_target"), 0);
    assert_int_equal(jint(latest_snapshot(f, "2021-05"), "revision"), 1);
    assert_int_equal(meas(f, "apr2", "2021-04-20T10:00:00Z", "CPM1", "DCC", 0, 100), 0);
    ow_engine_flush(f->eng);
    assert_string_equal(status(row(f, "2021-04", "CPM1", "DCC")), "below_minimum");
    assert_int_equal(jint(latest_snapshot(f, "2021-05"), "revision"), 2);
    assert_int_equal(jint(row(f, "2021-05", "CPM1", "DCC"), "months_below_target"), 1);
    fixture_destroy(f);
}

/* ---- configuration ---- */

/* The first error of the default config with @over laid over "processors.performance", or
 * NULL when it loads and the engine starts. */
static char *config_error(const char *over)
{
    struct ow_conf_errors *errs = ow_conf_errors_create("test-config");
    json_t *doc = json_loads(ow_embedded_file("default.json", NULL), 0, NULL);
    json_t *patch = json_loads(over, 0, NULL);
    json_t *perf = json_object_get(json_object_get(doc, "processors"), "performance");
    struct ow_config *cfg;
    char *out = NULL;
    char buf[600];

    assert_non_null(patch);
    json_object_update(perf, patch);
    cfg = ow_config_from_json(doc, "test-config", ".", "test", errs);
    if (cfg == NULL) {
        out = strdup(ow_conf_errors_get(errs, 0));
    } else {
        struct fake_sink *fs = fake_sink_create();
        struct ow_err err;
        struct ow_engine *eng = ow_engine_create(cfg, fake_sink_sink(fs), false, &err);

        if (eng == NULL) {
            out = strdup(ow_err_str(&err, buf, sizeof(buf)));
        }
        ow_engine_destroy(eng);
        fake_sink_destroy(fs);
    }
    ow_config_destroy(cfg);
    json_decref(patch);
    json_decref(doc);
    ow_conf_errors_destroy(errs);
    return out;
}

static void expect_error(const char *over, const char *want)
{
    char *got = config_error(over);

    assert_non_null(got);
    if (strstr(got, want) == NULL) {
        fail_msg("error \"%s\" does not contain \"%s\"", got, want);
    }
    free(got);
}

static void performance__config_errors_name_the_place(void **state)
{
    (void)state;
    expect_error("{\"targets\": {\"CPM1\": {\"*\": {\"target\": 101, \"minimum\": 96}}}}",
                 "test-config: $.processors.performance.targets.CPM1[\"*\"].target: expected "
                 "number 0..100, got 101");
    expect_error("{\"targets\": {\"PM2\": {\"CSP_N\": {\"target\": \"99\", \"minimum\": 96}}}}",
                 "$.processors.performance.targets.PM2.CSP_N.target: expected number 0..100, "
                 "got \"99\"");
    expect_error("{\"targets\": {\"PM2\": {\"CSP_N\": {\"target\": 95, \"minimum\": 96}}}}",
                 "$.processors.performance.targets.PM2.CSP_N.minimum: minimum must be <= target: "
                 "expected 0..95, got 96");
    expect_error("{\"targets\": {\"PM2\": {\"*\": {\"target\": 99}}}}",
                 "$.processors.performance.targets.PM2[\"*\"].minimum: required key is missing");
    expect_error("{\"targets\": {\"PM2\": {\"*\": {\"target\": 99, \"minimum\": 9, \"max\": 1}}}}",
                 "$.processors.performance.targets.PM2[\"*\"].max: unknown key");
    expect_error("{\"targets\": {\"PM2\": {\"*\": {\"target\": 99.12345, \"minimum\": 9}}}}",
                 "$.processors.performance.targets.PM2[\"*\"].target: expected at most 4 decimal "
                 "places");
    expect_error("{\"targets\": {\"PM2.1\": [1]}}",
                 "$.processors.performance.targets[\"PM2.1\"]: expected an object of providers");
    expect_error("{\"targets\": 3}", "$.processors.performance.targets: expected an object");
    expect_error("{\"rules\": {\"measure_repeat_breach\": {\"threshold\": 7}}}",
                 "$.processors.performance.rules.measure_repeat_breach.threshold: expected an "
                 "integer 1..repeat_months (6), got 7");
    expect_error("{\"rules\": {\"measure_below_target\": {\"threshold\": 99}}}",
                 "$.processors.performance.rules.measure_below_target.threshold: not used");
    expect_error("{\"repeat_months\": 30}",
                 "$.processors.performance.repeat_months: expected at most history_months (28)");
    /* A measure set to null removes the built-in entry; levels with 4 decimals are fine. */
    assert_null(config_error("{\"targets\": {\"CPM1\": null, \"PM2\": {\"*\": {\"target\": "
                             "99.1234, \"minimum\": 0}}}}"));
}

static void performance__null_removes_a_built_in_measure(void **state)
{
    struct fixture *f = fixture_create(
        "{\"processors\": {\"performance\": {\"targets\": {\"CPM8\": null}}}}", false);

    (void)state;
    assert_int_equal(meas(f, "a", "2021-04-02T10:00:00Z", "CPM1", "DCC", 1, 1), 0);
    ow_engine_finish(f->eng, true);
    assert_int_equal(json_array_size(measures(f, "2021-04")), 7);
    assert_null(row(f, "2021-04", "CPM8", "DCC"));
    fixture_destroy(f);
}

/* ---- alerts ---- */

#define BT_ID "measure_below_target/2021-04/measure=CPM1,provider=DCC"
#define BM_ID "measure_below_minimum/2021-04/measure=CPM1,provider=DCC"

static void performance__below_target_fires_once_and_resolves_with_hysteresis(void **state)
{
    struct fixture *f = *state;
    json_t *rec;

    /* 57 / 60: below target, but fewer than min_units (100) units: nothing yet. */
    assert_int_equal(meas(f, "1", "2021-04-02T10:00:00Z", "CPM1", "DCC", 57, 60), 0);
    assert_int_equal(fake_sink_count(f->sink, OW_STREAM_ALERTS), 0);
    /* 97 / 100 = 97%: fires. */
    assert_int_equal(meas(f, "2", "2021-04-03T10:00:00Z", "CPM1", "DCC", 40, 40), 0);
    assert_int_equal(alerts(f, BT_ID, "firing"), 1);
    assert_int_equal(alerts(f, BM_ID, NULL), 0);
    rec = fake_sink_get(f->sink, OW_STREAM_ALERTS, 0, NULL);
    assert_string_equal(json_string_value(jget(rec, "severity")), "warning");
    assert_true(json_real_value(jget(rec, "value")) == 97.0);
    assert_true(json_real_value(jget(rec, "threshold")) == 99.0);
    assert_string_equal(json_string_value(jget(rec, "dims/measure")), "CPM1");
    assert_string_equal(json_string_value(jget(rec, "dims/provider")), "DCC");
    assert_string_equal(json_string_value(jget(rec, "event_time")), "2021-04-03T10:00:00Z");
    /* Still below: no new record. */
    assert_int_equal(meas(f, "3", "2021-04-04T10:00:00Z", "CPM1", "DCC", 100, 100), 0);
    /* 990 / 1000 = 99.0%: at the target, but not past the 99.3% resolve line. */
    assert_int_equal(meas(f, "4", "2021-04-05T10:00:00Z", "CPM1", "DCC", 793, 800), 0);
    assert_int_equal(alerts(f, BT_ID, NULL), 1);
    /* 99.5%: resolved. */
    assert_int_equal(meas(f, "5", "2021-04-06T10:00:00Z", "CPM1", "DCC", 1000, 1000), 0);
    assert_int_equal(alerts(f, BT_ID, "firing"), 1);
    assert_int_equal(alerts(f, BT_ID, "resolved"), 1);
    assert_int_equal(fake_sink_count(f->sink, OW_STREAM_ALERTS), 2);
}

static void performance__below_minimum_fires_and_resolves_with_hysteresis(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(meas(f, "1", "2021-04-02T10:00:00Z", "CPM1", "DCC", 95, 100), 0);
    assert_int_equal(alerts(f, BM_ID, "firing"), 1);
    assert_int_equal(alerts(f, BT_ID, "firing"), 1);
    assert_string_equal(
        json_string_value(jget(fake_sink_latest(f->sink, OW_STREAM_ALERTS, BM_ID), "severity")),
        "critical");
    /* 96.2%: at or above the minimum, below its 96.3% resolve line. */
    assert_int_equal(meas(f, "2", "2021-04-03T10:00:00Z", "CPM1", "DCC", 867, 900), 0);
    assert_int_equal(alerts(f, BM_ID, NULL), 1);
    /* 96.3%: resolved; still below target. */
    assert_int_equal(meas(f, "3", "2021-04-04T10:00:00Z", "CPM1", "DCC", 1, 1), 0);
    assert_int_equal(meas(f, "4", "2021-04-04T11:00:00Z", "CPM1", "DCC", 1000, 1000), 0);
    assert_int_equal(alerts(f, BM_ID, "resolved"), 1);
    assert_int_equal(alerts(f, BT_ID, NULL), 1);
}

static void performance__alerts_at_close_whatever_the_units(void **state)
{
    struct fixture *f = *state;
    json_t *rec;

    assert_int_equal(meas(f, "1", "2021-04-02T10:00:00Z", "CPM2", "DCC", 9, 10), 0);
    assert_int_equal(fake_sink_count(f->sink, OW_STREAM_ALERTS), 0);
    /* April closes at 2021-05-18T00:00:00+01:00 (10 Working Days). */
    advance(f, "2021-05-17T22:59:59Z");
    assert_int_equal(fake_sink_count(f->sink, OW_STREAM_ALERTS), 0);
    advance(f, "2021-05-17T23:00:00Z");
    assert_int_equal(alerts(f, "measure_below_target/2021-04/measure=CPM2,provider=DCC", "firing"),
                     1);
    rec = fake_sink_latest(f->sink, OW_STREAM_ALERTS,
                           "measure_below_minimum/2021-04/measure=CPM2,provider=DCC");
    assert_non_null(rec);
    assert_string_equal(json_string_value(jget(rec, "event_time")), "2021-05-17T23:00:00Z");
    /* The final snapshot lists them. */
    assert_int_equal(json_array_size(jget(latest_snapshot(f, "2021-04"), "alerts")), 2);
}

static void performance__end_of_input_close_judges_like_the_watermark(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(meas(f, "1", "2021-04-02T10:00:00Z", "CPM2", "DCC", 9, 10), 0);
    ow_engine_finish(f->eng, true); /* replay --close-all: no watermark passes the close */
    assert_int_equal(alerts(f, "measure_below_target/2021-04/measure=CPM2,provider=DCC", "firing"),
                     1);
    assert_int_equal(json_array_size(jget(latest_snapshot(f, "2021-04"), "alerts")), 2);
}

static void performance__disabled_rule_is_silent(void **state)
{
    struct fixture *f = fixture_create("{\"processors\": {\"performance\": {\"rules\": {"
                                       "\"measure_below_target\": {\"enabled\": false}}}}}",
                                       false);

    (void)state;
    assert_int_equal(meas(f, "1", "2021-04-02T10:00:00Z", "CPM1", "DCC", 50, 100), 0);
    advance(f, "2021-06-01T00:00:00Z");
    assert_int_equal(alerts(f, BT_ID, NULL), 0);
    assert_int_equal(alerts(f, BM_ID, "firing"), 1);
    fixture_destroy(f);
}

static void performance__no_alerts_without_a_target(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(meas(f, "1", "2021-04-02T10:00:00Z", "PM9", "DSP", 1, 1000), 0);
    advance(f, "2021-12-01T00:00:00Z");
    assert_int_equal(fake_sink_count(f->sink, OW_STREAM_ALERTS), 0);
}

#define RB(month) "measure_repeat_breach/" month "/measure=CPM1,provider=DCC"

static void performance__repeat_breach_three_of_six(void **state)
{
    struct fixture *f = fixture_create("{\"windows\": {\"retention_windows\": 6}}", false);
    json_t *rec;

    (void)state;
    /* Below target in January, March and May; met in February and April. */
    assert_int_equal(meas(f, "1", "2021-01-20T10:00:00Z", "CPM1", "DCC", 980, 1000), 0);
    assert_int_equal(meas(f, "2", "2021-02-20T10:00:00Z", "CPM1", "DCC", 1000, 1000), 0);
    assert_int_equal(meas(f, "3", "2021-03-20T10:00:00Z", "CPM1", "DCC", 980, 1000), 0);
    assert_int_equal(meas(f, "4", "2021-04-20T10:00:00Z", "CPM1", "DCC", 1000, 1000), 0);
    assert_int_equal(meas(f, "5", "2021-05-20T10:00:00Z", "CPM1", "DCC", 980, 1000), 0);
    advance(f, "2021-06-10T00:00:00Z"); /* April has closed, May not */
    assert_int_equal(alerts(f, RB("2021-03"), NULL), 0);
    assert_int_equal(alerts(f, RB("2021-04"), NULL), 0);
    assert_int_equal(alerts(f, RB("2021-05"), NULL), 0);
    advance(f, "2021-06-20T00:00:00Z"); /* May closes: 3 of the last 6 */
    assert_int_equal(alerts(f, RB("2021-05"), "firing"), 1);
    rec = fake_sink_latest(f->sink, OW_STREAM_ALERTS, RB("2021-05"));
    assert_true(json_real_value(jget(rec, "value")) == 3.0);
    assert_true(json_real_value(jget(rec, "threshold")) == 3.0);
    assert_string_equal(json_string_value(jget(rec, "unit")), "months");
    /* Late data takes March back to target: 2 of 6, at the resolve line (threshold - 1). */
    assert_int_equal(meas(f, "3b", "2021-03-21T10:00:00Z", "CPM1", "DCC", 10000, 10000), 0);
    assert_int_equal(alerts(f, RB("2021-05"), "resolved"), 1);
    assert_int_equal(alerts(f, RB("2021-05"), "firing"), 1);
    fixture_destroy(f);
}

static void performance__repeat_breach_disabled_is_silent(void **state)
{
    struct fixture *f = fixture_create("{\"processors\": {\"performance\": {\"rules\": {"
                                       "\"measure_repeat_breach\": {\"enabled\": false}}}}}",
                                       false);

    (void)state;
    assert_int_equal(meas(f, "1", "2021-01-20T10:00:00Z", "CPM1", "DCC", 980, 1000), 0);
    assert_int_equal(meas(f, "2", "2021-02-20T10:00:00Z", "CPM1", "DCC", 980, 1000), 0);
    assert_int_equal(meas(f, "3", "2021-03-20T10:00:00Z", "CPM1", "DCC", 980, 1000), 0);
    advance(f, "2021-05-01T00:00:00Z");
    assert_int_equal(alerts(f, RB("2021-03"), NULL), 0);
    assert_int_equal(fake_sink_alerts(f->sink, "measure_below_target", "firing"), 3);
    fixture_destroy(f);
}

/* ---- save and restore (processor.h: save, restore) ---- */

#define MEAS_LINE(id, at, measure, provider, met, total)                                           \
    "{\"event_id\":\"" id "\",\"type\":\"measurement\",\"schema_version\":1,\"occurred_at\":\"" at \
    "\",\"measure\":\"" measure "\",\"provider\":\"" provider "\",\"met\":" #met                   \
    ",\"total\":" #total "}"
#define BT_ID_OF(month) "measure_below_target/" month "/measure=CPM1,provider=DCC"
#define BM_ID_OF(month) "measure_below_minimum/" month "/measure=CPM1,provider=DCC"
#define SIX_MONTHS "{\"windows\": {\"retention_windows\": 6}}"

/* Both level rules fire and resolve, the repeat rule fires at a close and resolves on late
 * data, a month closes below min_units, pairs without a level come and go. */
static const char *const perf_script[] = {
    MEAS_LINE("1", "2021-01-20T10:00:00Z", "CPM1", "DCC", 980, 1000), /* 98%: below target */
    MEAS_LINE("2", "2021-01-21T10:00:00Z", "CPM9", "ACME", 5, 10),    /* no level */
    MEAS_LINE("3", "2021-02-20T10:00:00Z", "CPM1", "DCC", 1000, 1000),
    MEAS_LINE("4", "2021-03-20T10:00:00Z", "CPM1", "DCC", 950, 1000), /* below minimum */
    MEAS_LINE("5", "2021-03-21T10:00:00Z", "CPM1", "DCC", 60, 60),
    MEAS_LINE("6", "2021-03-22T10:00:00Z", "CPM4", "DCC", 99, 100), /* target 100% */
    MEAS_LINE("7", "2021-04-20T10:00:00Z", "CPM1", "DCC", 1000, 1000),
    MEAS_LINE("8", "2021-05-20T10:00:00Z", "CPM1", "DCC", 980, 1000),
    "@2021-06-20T00:00:00Z",                                             /* May closes: 3 of 6 */
    MEAS_LINE("9", "2021-03-23T10:00:00Z", "CPM1", "DCC", 10000, 10000), /* March met: 2 of 6 */
    MEAS_LINE("10", "2021-06-21T10:00:00Z", "CPM1", "DCC", 50, 60),      /* few units */
    MEAS_LINE("11", "2021-05-21T10:00:00Z", "CPM1", "DCC", 1000, 1000),  /* May back to 99% */
    MEAS_LINE("11b", "2021-05-22T10:00:00Z", "CPM1", "DCC", 2000, 2000), /* 99.5%: resolved */
    MEAS_LINE("12", "2021-08-02T10:00:00Z", "CPM2", "DCC", 1, 1),        /* June, July close */
};

static void performance__restart_at_any_line_changes_nothing(void **state)
{
    size_t n = sizeof(perf_script) / sizeof(*perf_script);
    json_t *got;

    (void)state;
    got = restore_check_alerts(SIX_MONTHS, perf_script, n);
    assert_int_equal(alert_records_of(got, BT_ID_OF("2021-03"), "firing"), 1);
    assert_int_equal(alert_records_of(got, BT_ID_OF("2021-03"), "resolved"), 1);
    assert_int_equal(alert_records_of(got, BM_ID_OF("2021-03"), "resolved"), 1);
    /* At 99.0% May holds (not past the 99.3% resolve line), then resolves at 99.5%. */
    assert_int_equal(alert_records_of(got, BT_ID_OF("2021-05"), "resolved"), 1);
    assert_int_equal(alert_records_of(got, RB("2021-05"), "firing"), 1);
    assert_int_equal(alert_records_of(got, RB("2021-05"), "resolved"), 1);
    /* June closes with 60 units: judged at close. */
    assert_int_equal(alert_records_of(got, BM_ID_OF("2021-06"), "firing"), 1);
    assert_int_equal(json_array_size(got), 12);
    json_decref(got);
}

/* The state saved after the first @n lines of perf_script, with @mutate applied to the
 * processor's part, is refused: OW_EINVAL, and an error naming @where. */
static void expect_refused(size_t n, void (*mutate)(json_t *mine), const char *where)
{
    struct fixture *f = fixture_create(SIX_MONTHS, true);
    struct fixture *g = fixture_create(SIX_MONTHS, true);
    json_t *saved;
    struct ow_err err;

    restore_check_feed(f, perf_script, 0, n);
    saved = ow_engine_save(f->eng);
    mutate(jget(saved, "processors/performance"));
    assert_int_equal(ow_engine_restore(g->eng, saved, &err), OW_EINVAL);
    assert_string_equal(err.where, where);
    json_decref(saved);
    fixture_destroy(f);
    fixture_destroy(g);
}

static void bad_version(json_t *mine)
{
    json_object_del(mine, "v");
}

static void bad_watermark(json_t *mine)
{
    json_object_set_new(mine, "watermark_us", json_real(1.5));
}

static json_t *cells_of_first(json_t *mine)
{
    return json_array_get(json_array_get(json_object_get(mine, "keys"), 0), 2);
}

static void bad_said(json_t *mine)
{
    json_array_set_new(json_array_get(cells_of_first(mine), 0), 3, json_integer(3));
}

static void met_over_total(json_t *mine)
{
    json_array_set_new(json_array_get(cells_of_first(mine), 0), 1, json_integer(1001));
}

static void months_descend(json_t *mine)
{
    json_t *cells = cells_of_first(mine);

    json_array_append(cells, json_array_get(cells, 0));
}

static void key_twice(json_t *mine)
{
    json_t *keys = json_object_get(mine, "keys");

    json_array_append(keys, json_array_get(keys, 0));
}

static void performance__malformed_state_is_refused_with_its_place(void **state)
{
    (void)state;
    expect_refused(4, bad_version, "state: processors.performance");
    expect_refused(4, bad_watermark, "state: processors.performance");
    expect_refused(4, bad_said, "state: processors.performance.keys[0]");
    expect_refused(4, met_over_total, "state: processors.performance.keys[0]");
    expect_refused(4, months_descend, "state: processors.performance.keys[0]");
    expect_refused(4, key_twice, "state: processors.performance.keys[2]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(performance__percent_and_status, setup, teardown),
        cmocka_unit_test_setup_teardown(performance__levels_compare_exactly_beyond_double_precision,
                                        setup, teardown),
        cmocka_unit_test(performance__wildcard_and_exact_provider),
        cmocka_unit_test_setup_teardown(performance__unknown_measure_has_no_target, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(performance__rows_sorted_by_measure_then_provider, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(performance__configured_measures_are_zero_filled, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(performance__history_counts_closed_months_with_a_gap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(performance__history_beyond_28_months_is_dropped, setup,
                                        teardown),
        cmocka_unit_test(performance__shorter_history_from_the_config),
        cmocka_unit_test_setup_teardown(performance__values_kept_after_the_window_expired, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(performance__overflow_rejects_the_event, setup, teardown),
        cmocka_unit_test(performance__late_event_updates_later_months_history),
        cmocka_unit_test(performance__config_errors_name_the_place),
        cmocka_unit_test(performance__null_removes_a_built_in_measure),
        cmocka_unit_test_setup_teardown(
            performance__below_target_fires_once_and_resolves_with_hysteresis, setup, teardown),
        cmocka_unit_test_setup_teardown(
            performance__below_minimum_fires_and_resolves_with_hysteresis, setup, teardown),
        cmocka_unit_test_setup_teardown(performance__alerts_at_close_whatever_the_units, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(performance__end_of_input_close_judges_like_the_watermark,
                                        setup, teardown),
        cmocka_unit_test(performance__disabled_rule_is_silent),
        cmocka_unit_test_setup_teardown(performance__no_alerts_without_a_target, setup, teardown),
        cmocka_unit_test(performance__repeat_breach_three_of_six),
        cmocka_unit_test(performance__repeat_breach_disabled_is_silent),
        cmocka_unit_test(performance__restart_at_any_line_changes_nothing),
        cmocka_unit_test(performance__malformed_state_is_refused_with_its_place),
    };

    return cmocka_run_group_tests_name("performance", tests, NULL, NULL);
}
