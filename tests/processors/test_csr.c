/* test_csr.c: the CSR Variance report (L8.9) through the engine, on a fake sink. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int csr(struct fixture *f, const char *id, const char *at, const char *party, int batched,
               long long count, const char *region)
{
    char reg[48] = "";

    if (region != NULL) {
        snprintf(reg, sizeof(reg), ",\"region\":\"%s\"", region);
    }
    return apply_fmt(f,
                     "{\"event_id\":\"%s\",\"type\":\"csr\",\"schema_version\":1,"
                     "\"occurred_at\":\"%s\",\"party_id\":\"%s\",\"batched\":%s,\"count\":%lld%s}",
                     id, at, party, batched ? "true" : "false", count, reg);
}

static int forecast(struct fixture *f, const char *id, const char *at, const char *party,
                    const char *period, long long qty)
{
    return apply_fmt(f,
                     "{\"event_id\":\"%s\",\"type\":\"forecast\",\"schema_version\":1,"
                     "\"occurred_at\":\"%s\",\"report\":\"csr\",\"party_id\":\"%s\","
                     "\"period\":\"%s\",\"quantity\":%lld}",
                     id, at, party, period, qty);
}

static json_t *csr_report(struct fixture *f, const char *window)
{
    json_t *snap = latest_snapshot(f, window);

    assert_non_null(snap);
    return jget(snap, "reports/csr_variance");
}

static void csr_variance__latest_forecast_wins_and_exceptions(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    assert_int_equal(forecast(f, "f1", "2021-03-01T09:00:00Z", "SUB-01", "2021-04", 100), 0);
    assert_int_equal(forecast(f, "f2", "2021-03-15T09:00:00Z", "SUB-01", "2021-04", 200), 0);
    /* Older than f2, read after it: f2 stands. */
    assert_int_equal(forecast(f, "f3", "2021-03-10T09:00:00Z", "SUB-01", "2021-04", 50), 0);
    assert_int_equal(csr(f, "c1", "2021-04-02T10:00:00Z", "SUB-01", 0, 150, "north"), 0);
    assert_int_equal(csr(f, "c2", "2021-04-03T10:00:00Z", "SUB-01", 1, 80, "south"), 0);
    ow_engine_finish(f->eng, true);
    r = csr_report(f, "2021-04");
    assert_int_equal(jint(r, "actual"), 230);
    assert_int_equal(jint(r, "forecast"), 200);
    assert_int_equal(jint(r, "variance"), 30);
    assert_true(json_real_value(jget(r, "percent_of_forecast")) == 115.0);
    assert_int_equal(jint(r, "single"), 150);
    assert_int_equal(jint(r, "batched"), 80);
    assert_int_equal(jint(r, "by_region/north"), 150);
    assert_int_equal(jint(r, "by_region/south"), 80);
    assert_int_equal(jint(r, "by_region/central"), 0);
    assert_int_equal(jint(r, "by_region/unknown"), 0);
    assert_int_equal(jint(r, "by_party/SUB-01/forecast"), 200);
    assert_true(json_is_true(jget(r, "by_party/SUB-01/has_forecast")));
    assert_string_equal(json_string_value(jget(r, "exceptions/at_or_over_110/0")), "SUB-01");
    assert_int_equal(json_array_size(jget(r, "exceptions/at_or_under_90")), 0);
    assert_string_equal(json_string_value(jget(r, "sec_ref")), "L8.9");
    assert_string_equal(json_string_value(jget(r, "due")), "2021-05-17");
}

static void csr_variance__forecast_tie_later_read_wins(void **state)
{
    struct fixture *f = *state;

    forecast(f, "f1", "2021-03-01T09:00:00Z", "SUB-01", "2021-04", 100);
    forecast(f, "f2", "2021-03-01T09:00:00Z", "SUB-01", "2021-04", 70);
    ow_engine_finish(f->eng, true);
    assert_int_equal(jint(csr_report(f, "2021-04"), "forecast"), 70);
}

static void csr_variance__adjusted_grand_total(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    forecast(f, "f1", "2021-03-01T09:00:00Z", "SUB-01", "2021-04", 1000);
    forecast(f, "f2", "2021-03-01T09:00:00Z", "SUB-03", "2021-04", 40);
    csr(f, "c1", "2021-04-02T10:00:00Z", "SUB-01", 0, 900, "central");
    csr(f, "c2", "2021-04-02T11:00:00Z", "SUB-02", 1, 25, NULL); /* no forecast */
    ow_engine_finish(f->eng, true);
    r = csr_report(f, "2021-04");
    assert_int_equal(jint(r, "actual"), 925);
    assert_int_equal(jint(r, "forecast"), 1040);
    assert_int_equal(jint(r, "variance"), -115);
    assert_int_equal(jint(r, "parties_without_forecast"), 1);
    assert_int_equal(jint(r, "by_party/SUB-02/forecast"), 0);
    assert_true(json_is_false(jget(r, "by_party/SUB-02/has_forecast")));
    assert_true(json_is_null(jget(r, "by_party/SUB-02/percent_of_forecast")));
    /* A forecast and no actuals: still in the grand total, at 0% of forecast. */
    assert_int_equal(jint(r, "by_party/SUB-03/actual"), 0);
    assert_true(json_real_value(jget(r, "by_party/SUB-03/percent_of_forecast")) == 0.0);
    assert_string_equal(json_string_value(jget(r, "exceptions/no_forecast/0")), "SUB-02");
    /* 900/1000 = 90%: at the line is an exception. */
    assert_string_equal(json_string_value(jget(r, "exceptions/at_or_under_90/0")), "SUB-01");
    assert_string_equal(json_string_value(jget(r, "exceptions/at_or_under_90/1")), "SUB-03");
    assert_int_equal(jint(r, "by_region/unknown"), 25);
}

static void csr_variance__bands_are_exact_at_the_line(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    forecast(f, "f1", "2021-03-01T09:00:00Z", "A", "2021-04", 1000);
    forecast(f, "f2", "2021-03-01T09:00:00Z", "B", "2021-04", 1000);
    forecast(f, "f3", "2021-03-01T09:00:00Z", "C", "2021-04", 1000);
    csr(f, "c1", "2021-04-02T10:00:00Z", "A", 0, 1100, "north"); /* 110.0%: over */
    csr(f, "c2", "2021-04-02T10:00:00Z", "B", 0, 1099, "north"); /* 109.9%: not */
    csr(f, "c3", "2021-04-02T10:00:00Z", "C", 0, 901, "north");  /* 90.1%: not */
    ow_engine_finish(f->eng, true);
    r = csr_report(f, "2021-04");
    assert_int_equal(json_array_size(jget(r, "exceptions/at_or_over_110")), 1);
    assert_string_equal(json_string_value(jget(r, "exceptions/at_or_over_110/0")), "A");
    assert_int_equal(json_array_size(jget(r, "exceptions/at_or_under_90")), 0);
}

static void csr_variance__bst_boundary_event_counts_in_april(void **state)
{
    struct fixture *f = *state;

    csr(f, "c1", "2021-03-31T23:30:00Z", "SUB-01", 0, 7, "north");
    csr(f, "c2", "2021-03-31T22:59:59Z", "SUB-01", 0, 3, "north");
    ow_engine_finish(f->eng, true);
    assert_int_equal(jint(csr_report(f, "2021-04"), "actual"), 7);
    assert_int_equal(jint(csr_report(f, "2021-03"), "actual"), 3);
}

static void csr_variance__overflow_rejects_the_event(void **state)
{
    struct fixture *f = *state;
    const struct ow_engine_stats *st = ow_engine_stats(f->eng);

    assert_int_equal(csr(f, "c1", "2021-04-02T10:00:00Z", "A", 0, INT64_MAX - 5, "north"), 0);
    assert_int_equal(csr(f, "c2", "2021-04-02T10:00:01Z", "A", 0, 6, "north"), OW_ESCHEMA);
    assert_int_equal(st->dead_by_reason[OW_DL_OVERFLOW], 1);
    assert_int_equal(csr(f, "c3", "2021-04-02T10:00:02Z", "A", 0, 5, "north"), 0);
    ow_engine_finish(f->eng, true);
    assert_int_equal(jint(csr_report(f, "2021-04"), "actual"), INT64_MAX);
    assert_non_null(strstr(
        json_string_value(jget(fake_sink_get(f->sink, OW_STREAM_DEADLETTER, 0, NULL), "error")),
        "csr: field 'count'"));
}

/* A rejected event leaves no trace: a new party whose first CSR would overflow the month's
 * total does not appear (no line, no parties_without_forecast, no csr_no_forecast alert). */
static void csr_variance__overflow_leaves_no_new_party(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    assert_int_equal(csr(f, "c1", "2021-04-02T10:00:00Z", "A", 0, INT64_MAX, "north"), 0);
    assert_int_equal(csr(f, "c2", "2021-04-02T10:00:01Z", "B", 1, 1, "south"), OW_ESCHEMA);
    ow_engine_finish(f->eng, true);
    r = csr_report(f, "2021-04");
    assert_null(jget(r, "by_party/B"));
    assert_int_equal(jint(r, "parties_without_forecast"), 1);
    assert_int_equal(jint(r, "batched"), 0);
    assert_int_equal(jint(r, "by_region/south"), 0);
    assert_int_equal(fake_sink_alerts(f->sink, "csr_no_forecast", "firing"), 1); /* A only */
}

static void csr_variance__late_event_makes_a_new_revision(void **state)
{
    struct fixture *f = *state;
    json_t *snap;

    csr(f, "c1", "2021-04-02T10:00:00Z", "A", 0, 10, "north");
    /* April closes at 2021-05-18T00:00+01:00; the watermark trails by 1 h. */
    csr(f, "c2", "2021-05-18T00:30:00+01:00", "A", 0, 1, "north");
    assert_null(latest_snapshot(f, "2021-04"));
    csr(f, "c3", "2021-05-18T01:00:00+01:00", "A", 0, 1, "north");
    snap = latest_snapshot(f, "2021-04");
    assert_non_null(snap);
    assert_int_equal(jint(snap, "revision"), 1);
    assert_true(json_is_true(jget(snap, "final")));
    assert_int_equal(jint(snap, "reports/csr_variance/actual"), 10);
    csr(f, "c4", "2021-04-30T10:00:00Z", "A", 1, 5, "north");
    ow_engine_finish(f->eng, false);
    snap = latest_snapshot(f, "2021-04");
    assert_int_equal(jint(snap, "revision"), 2);
    assert_int_equal(jint(snap, "late_events"), 1);
    assert_int_equal(jint(snap, "reports/csr_variance/actual"), 15);
    /* May is still open without --close-all. */
    snap = latest_snapshot(f, "2021-05");
    assert_int_equal(jint(snap, "revision"), 0);
    assert_true(json_is_false(jget(snap, "final")));
}

static void csr_variance__expired_window_is_a_dead_letter(void **state)
{
    struct fixture *f = *state;

    csr(f, "c1", "2021-04-02T10:00:00Z", "A", 0, 10, "north");
    /* April is kept until June closes (2 windows past): mid-July. */
    csr(f, "c2", "2021-07-20T10:00:00Z", "A", 0, 1, "north");
    assert_int_equal(csr(f, "c3", "2021-04-03T10:00:00Z", "A", 0, 1, "north"), OW_ESCHEMA);
    assert_int_equal(ow_engine_stats(f->eng)->dead_by_reason[OW_DL_WINDOW_EXPIRED], 1);
    assert_int_equal(forecast(f, "f1", "2021-07-20T10:00:00Z", "A", "2021-04", 5), OW_ESCHEMA);
    /* May is closed but not expired: applied as a late event. */
    assert_int_equal(csr(f, "c4", "2021-05-03T10:00:00Z", "A", 0, 1, "north"), 0);
    assert_int_equal(ow_engine_stats(f->eng)->late_events, 1);
}

static void csr_variance__gap_months_get_zero_snapshots(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    csr(f, "c1", "2021-01-02T10:00:00Z", "A", 0, 1, "north");
    csr(f, "c2", "2021-03-02T10:00:00Z", "A", 0, 1, "north");
    ow_engine_finish(f->eng, true);
    r = csr_report(f, "2021-02");
    assert_int_equal(jint(r, "actual"), 0);
    assert_true(json_is_null(jget(r, "percent_of_forecast")));
    assert_int_equal(json_object_size(jget(r, "by_party")), 0);
}

/* ---- save and restore (processor.h: save, restore) ---- */

#define CSR_LINE(id, at, party, batched, n, region)                                                \
    "{\"event_id\":\"" id "\",\"type\":\"csr\",\"schema_version\":1,\"occurred_at\":\"" at         \
    "\",\"party_id\":\"" party "\",\"batched\":" batched ",\"count\":" #n region "}"
#define FC_LINE(id, at, party, period, qty)                                                        \
    "{\"event_id\":\"" id "\",\"type\":\"forecast\",\"schema_version\":1,\"occurred_at\":\"" at    \
    "\",\"report\":\"csr\",\"party_id\":\"" party "\",\"period\":\"" period                        \
    "\",\"quantity\":" #qty "}"
#define NORTH ",\"region\":\"north\""
#define SOUTH ",\"region\":\"south\""

/* Single and batched requests in every region and none, forecasts revised (an older one read
 * late), alerts raised and resolved, a close and a late event. */
static const char *const csr_script[] = {
    FC_LINE("f1", "2021-03-20T09:00:00Z", "SUB-01", "2021-04", 100),
    CSR_LINE("c1", "2021-04-02T10:00:00Z", "SUB-01", "false", 60, NORTH),
    CSR_LINE("c2", "2021-04-02T11:00:00Z", "SUB-01", "true", 55, ""),   /* 115% */
    CSR_LINE("c3", "2021-04-03T10:00:00Z", "SUB-02", "true", 4, SOUTH), /* no forecast */
    FC_LINE("f2", "2021-04-04T09:00:00Z", "SUB-01", "2021-04", 150),    /* 76.7% */
    FC_LINE("f3", "2021-04-03T09:00:00Z", "SUB-01", "2021-04", 10),     /* older */
    FC_LINE("f4", "2021-04-05T09:00:00Z", "SUB-02", "2021-04", 40),
    "@2021-04-25T00:00:00Z",
    CSR_LINE("c4", "2021-05-20T10:00:00Z", "SUB-03", "false", 1,
             ",\"region\":\"central\""),                                  /* April closes */
    CSR_LINE("c5", "2021-04-30T10:00:00Z", "SUB-01", "false", 30, NORTH), /* late: 96.7% */
};

static void csr_variance__restart_at_any_line_changes_nothing(void **state)
{
    size_t n = sizeof(csr_script) / sizeof(*csr_script);
    struct fixture *f;
    json_t *got;
    json_t *r;

    (void)state;
    got = restore_check_alerts(NULL, csr_script, n);
    assert_int_equal(
        alert_records_of(got, "csr_forecast_exceeded/2021-04/party_id=SUB-01", "firing"), 1);
    assert_int_equal(
        alert_records_of(got, "csr_forecast_exceeded/2021-04/party_id=SUB-01", "resolved"), 1);
    assert_int_equal(alert_records_of(got, "csr_no_forecast/2021-04/party_id=SUB-02", "resolved"),
                     1);
    assert_int_equal(
        alert_records_of(got, "csr_forecast_shortfall/2021-04/party_id=SUB-01", "firing"), 1);
    assert_int_equal(
        alert_records_of(got, "csr_forecast_shortfall/2021-04/party_id=SUB-01", "resolved"), 1);
    json_decref(got);
    f = fixture_create(NULL, false);
    restore_check_feed(f, csr_script, 0, n);
    ow_engine_finish(f->eng, true);
    r = csr_report(f, "2021-04");
    assert_int_equal(jint(r, "single"), 90);
    assert_int_equal(jint(r, "batched"), 59);
    assert_int_equal(jint(r, "by_region/north"), 90);
    assert_int_equal(jint(r, "by_region/south"), 4);
    assert_int_equal(jint(r, "by_region/unknown"), 55);
    fixture_destroy(f);
}

static void bad_own(json_t *mine)
{
    /* single + batched no longer the month's actual */
    json_array_set_new(jget(json_array_get(json_object_get(mine, "months"), 0), "own"), 1,
                       json_integer(0));
}

static void csr_variance__malformed_state_is_refused_with_its_place(void **state)
{
    struct fixture *f = fixture_create(NULL, true);
    struct fixture *g = fixture_create(NULL, true);
    json_t *saved;
    struct ow_err err;

    (void)state;
    restore_check_feed(f, csr_script, 0, 4);
    saved = ow_engine_save(f->eng);
    bad_own(jget(saved, "processors/csr_variance"));
    assert_int_equal(ow_engine_restore(g->eng, saved, &err), OW_EINVAL);
    assert_string_equal(err.where, "state: processors.csr_variance.months[0].own");
    assert_non_null(strstr(err.text, "single, batched"));
    json_decref(saved);
    fixture_destroy(f);
    fixture_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(csr_variance__latest_forecast_wins_and_exceptions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(csr_variance__forecast_tie_later_read_wins, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(csr_variance__adjusted_grand_total, setup, teardown),
        cmocka_unit_test_setup_teardown(csr_variance__bands_are_exact_at_the_line, setup, teardown),
        cmocka_unit_test_setup_teardown(csr_variance__bst_boundary_event_counts_in_april, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(csr_variance__overflow_rejects_the_event, setup, teardown),
        cmocka_unit_test_setup_teardown(csr_variance__overflow_leaves_no_new_party, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(csr_variance__late_event_makes_a_new_revision, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(csr_variance__expired_window_is_a_dead_letter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(csr_variance__gap_months_get_zero_snapshots, setup,
                                        teardown),
        cmocka_unit_test(csr_variance__restart_at_any_line_changes_nothing),
        cmocka_unit_test(csr_variance__malformed_state_is_refused_with_its_place),
    };

    return cmocka_run_group_tests_name("csr_variance", tests, NULL, NULL);
}
