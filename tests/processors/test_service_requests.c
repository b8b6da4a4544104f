/* test_service_requests.c: the SR Variance report (H3.24) through the engine, on a fake sink. */
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

static int sr(struct fixture *f, const char *id, const char *at, const char *party,
              const char *service, long long count, const char *region)
{
    return apply_fmt(f,
                     "{\"event_id\":\"%s\",\"type\":\"service_request\",\"schema_version\":1,"
                     "\"occurred_at\":\"%s\",\"party_id\":\"%s\",\"service_ref\":\"%s\","
                     "\"count\":%lld,\"region\":\"%s\"}",
                     id, at, party, service, count, region);
}

/* A service_request forecast; @service NULL: the party's all-services forecast. */
static int forecast(struct fixture *f, const char *id, const char *at, const char *party,
                    const char *service, const char *period, long long qty)
{
    char svc[64] = "";

    if (service != NULL) {
        snprintf(svc, sizeof(svc), ",\"service_ref\":\"%s\"", service);
    }
    return apply_fmt(f,
                     "{\"event_id\":\"%s\",\"type\":\"forecast\",\"schema_version\":1,"
                     "\"occurred_at\":\"%s\",\"report\":\"service_request\",\"party_id\":\"%s\","
                     "\"period\":\"%s\",\"quantity\":%lld%s}",
                     id, at, party, period, qty, svc);
}

static json_t *sr_report(struct fixture *f, const char *window)
{
    json_t *snap = latest_snapshot(f, window);

    assert_non_null(snap);
    return jget(snap, "reports/sr_variance");
}

static const char *str_at(const json_t *root, const char *path)
{
    const char *s = json_string_value(jget(root, path));

    assert_non_null(s);
    return s;
}

static double real_at(const json_t *root, const char *path)
{
    json_t *v = jget(root, path);

    assert_true(json_is_real(v));
    return json_real_value(v);
}

/* The month's figures as outputs.md draws them, every key checked. */
static void sr_variance__snapshot_figures(void **state)
{
    struct fixture *f = *state;
    const char *keys[] = {"1.1.1", "2.1", "3.1", "8.14.2"};
    const char *key;
    json_t *value;
    json_t *r;
    size_t i = 0;

    assert_int_equal(forecast(f, "f1", "2021-03-01T09:00:00Z", "SUP-01", NULL, "2021-04", 1000), 0);
    assert_int_equal(forecast(f, "f2", "2021-03-01T09:00:00Z", "SUP-02", "1.1.1", "2021-04", 300),
                     0);
    assert_int_equal(forecast(f, "f3", "2021-03-01T09:00:00Z", "SUP-02", "8.14.2", "2021-04", 200),
                     0);
    /* All-services and per-service: the party's forecast is the all-services one, but its
     * per-service forecast still counts in by_service. */
    assert_int_equal(forecast(f, "f4", "2021-03-01T09:00:00Z", "SUP-03", NULL, "2021-04", 400), 0);
    assert_int_equal(forecast(f, "f5", "2021-03-01T09:00:00Z", "SUP-03", "1.1.1", "2021-04", 50),
                     0);
    /* A per-service forecast and no actuals: the party and the service still appear. */
    assert_int_equal(forecast(f, "f6", "2021-03-01T09:00:00Z", "SUP-05", "2.1", "2021-04", 10), 0);
    assert_int_equal(sr(f, "s1", "2021-04-02T10:00:00Z", "SUP-01", "1.1.1", 600, "north"), 0);
    assert_int_equal(sr(f, "s2", "2021-04-02T11:00:00Z", "SUP-01", "1.1.1", 500, "central"), 0);
    assert_int_equal(sr(f, "s3", "2021-04-03T10:00:00Z", "SUP-02", "8.14.2", 400, "south"), 0);
    assert_int_equal(sr(f, "s4", "2021-04-04T10:00:00Z", "SUP-03", "1.1.1", 380, "south"), 0);
    assert_int_equal(sr(f, "s5", "2021-04-05T10:00:00Z", "SUP-04", "3.1", 7, "north"), 0);
    ow_engine_finish(f->eng, true);
    r = sr_report(f, "2021-04");

    assert_int_equal(jint(r, "actual"), 1887);
    /* Adjusted grand total: SUP-04 (no forecast) counts as zero. */
    assert_int_equal(jint(r, "forecast"), 1000 + 500 + 400 + 10);
    assert_int_equal(jint(r, "variance"), 1887 - 1910);
    assert_true(real_at(r, "percent_of_forecast") == 100.0 * 1887 / 1910);
    assert_int_equal(jint(r, "parties_without_forecast"), 1);

    assert_int_equal(jint(r, "by_region/north"), 607);
    assert_int_equal(jint(r, "by_region/central"), 500);
    assert_int_equal(jint(r, "by_region/south"), 780);
    assert_int_equal(json_object_size(jget(r, "by_region")), 3);
    assert_int_equal(jint(r, "by_csp/csp_n"), 607);
    assert_int_equal(jint(r, "by_csp/csp_cs"), 1280);
    assert_int_equal(json_object_size(jget(r, "by_csp")), 2);

    assert_int_equal(jint(r, "by_service/1.1.1/actual"), 1480);
    assert_int_equal(jint(r, "by_service/1.1.1/forecast"), 350); /* per-service only */
    assert_int_equal(jint(r, "by_service/8.14.2/actual"), 400);
    assert_int_equal(jint(r, "by_service/8.14.2/forecast"), 200);
    assert_int_equal(jint(r, "by_service/3.1/actual"), 7);
    assert_int_equal(jint(r, "by_service/3.1/forecast"), 0);
    assert_int_equal(jint(r, "by_service/2.1/actual"), 0);
    assert_int_equal(jint(r, "by_service/2.1/forecast"), 10);
    json_object_foreach(jget(r, "by_service"), key, value)
    {
        assert_true(i < 4);
        assert_string_equal(key, keys[i++]); /* sorted, whichever map the key came from */
    }
    assert_int_equal(i, 4);

    assert_int_equal(jint(r, "by_party/SUP-01/actual"), 1100);
    assert_int_equal(jint(r, "by_party/SUP-01/forecast"), 1000);
    assert_int_equal(jint(r, "by_party/SUP-01/variance"), 100);
    assert_true(real_at(r, "by_party/SUP-01/percent_of_forecast") == 110.0);
    assert_true(json_is_true(jget(r, "by_party/SUP-01/has_forecast")));
    assert_int_equal(jint(r, "by_party/SUP-02/forecast"), 500); /* sum of per-service */
    assert_int_equal(jint(r, "by_party/SUP-03/forecast"), 400); /* all-services wins */
    assert_int_equal(jint(r, "by_party/SUP-04/forecast"), 0);
    assert_true(json_is_false(jget(r, "by_party/SUP-04/has_forecast")));
    assert_true(json_is_null(jget(r, "by_party/SUP-04/percent_of_forecast")));
    assert_int_equal(jint(r, "by_party/SUP-05/actual"), 0);
    assert_true(real_at(r, "by_party/SUP-05/percent_of_forecast") == 0.0);
    assert_int_equal(json_object_size(jget(r, "by_party")), 5);

    assert_int_equal(json_array_size(jget(r, "exceptions/at_or_over_110")), 1);
    assert_string_equal(str_at(r, "exceptions/at_or_over_110/0"), "SUP-01");
    assert_int_equal(json_array_size(jget(r, "exceptions/at_or_under_90")), 2);
    assert_string_equal(str_at(r, "exceptions/at_or_under_90/0"), "SUP-02");
    assert_string_equal(str_at(r, "exceptions/at_or_under_90/1"), "SUP-05");
    assert_int_equal(json_array_size(jget(r, "exceptions/no_forecast")), 1);
    assert_string_equal(str_at(r, "exceptions/no_forecast/0"), "SUP-04");

    assert_string_equal(str_at(r, "sec_ref"), "H3.24");
    assert_string_equal(str_at(r, "due"), "2021-05-17");
}

static void sr_variance__forecast_revisions_latest_wins(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    forecast(f, "f1", "2021-03-01T09:00:00Z", "A", "1.1.1", "2021-04", 100);
    forecast(f, "f2", "2021-03-02T09:00:00Z", "A", "1.1.1", "2021-04", 70);
    forecast(f, "f3", "2021-03-01T12:00:00Z", "A", "1.1.1", "2021-04", 999); /* older: ignored */
    forecast(f, "f4", "2021-03-01T09:00:00Z", "A", "2.2", "2021-04", 30);
    /* Same occurred_at: the later read wins. */
    forecast(f, "f5", "2021-03-01T09:00:00Z", "A", "2.2", "2021-04", 35);
    forecast(f, "f6", "2021-03-01T09:00:00Z", "B", NULL, "2021-04", 10);
    forecast(f, "f7", "2021-03-01T09:00:00Z", "B", NULL, "2021-04", 12);
    ow_engine_finish(f->eng, true);
    r = sr_report(f, "2021-04");
    assert_int_equal(jint(r, "by_party/A/forecast"), 105);
    assert_int_equal(jint(r, "by_service/1.1.1/forecast"), 70);
    assert_int_equal(jint(r, "by_service/2.2/forecast"), 35);
    assert_int_equal(jint(r, "by_party/B/forecast"), 12);
    assert_int_equal(jint(r, "forecast"), 117);
    assert_int_equal(jint(r, "actual"), 0);
    assert_true(real_at(r, "percent_of_forecast") == 0.0);
}

/* The same events in another order give the same report. */
static void sr_variance__arrival_order_does_not_change_figures(void **state)
{
    struct fixture *g = fixture_create(NULL, false);
    struct fixture *f = *state;
    json_t *a;
    json_t *b;

    (void)state;
    forecast(f, "f1", "2021-04-01T09:00:00Z", "A", NULL, "2021-04", 50);
    sr(f, "s1", "2021-04-02T10:00:00Z", "A", "1.1", 20, "north");
    sr(f, "s2", "2021-04-02T10:30:00Z", "B", "1.2", 5, "south");
    forecast(f, "f2", "2021-04-02T10:40:00Z", "A", NULL, "2021-04", 40);
    sr(f, "s3", "2021-04-02T11:00:00Z", "A", "1.2", 30, "central");

    sr(g, "s3", "2021-04-02T11:00:00Z", "A", "1.2", 30, "central");
    forecast(g, "f2", "2021-04-02T10:40:00Z", "A", NULL, "2021-04", 40);
    sr(g, "s2", "2021-04-02T10:30:00Z", "B", "1.2", 5, "south");
    forecast(g, "f1", "2021-04-01T09:00:00Z", "A", NULL, "2021-04", 50);
    sr(g, "s1", "2021-04-02T10:00:00Z", "A", "1.1", 20, "north");

    ow_engine_finish(f->eng, true);
    ow_engine_finish(g->eng, true);
    a = sr_report(f, "2021-04");
    b = sr_report(g, "2021-04");
    assert_int_equal(jint(a, "by_party/A/forecast"), 40);
    assert_true(json_equal(a, b));
    fixture_destroy(g);
}

static void sr_variance__count_overflow_rejects_the_event(void **state)
{
    struct fixture *f = *state;
    const struct ow_engine_stats *st = ow_engine_stats(f->eng);
    json_t *dl;
    json_t *r;

    assert_int_equal(sr(f, "s1", "2021-04-02T10:00:00Z", "A", "1.1", INT64_MAX - 5, "north"), 0);
    /* A new party and a new service: neither may appear when the event is rejected. */
    assert_int_equal(sr(f, "s2", "2021-04-02T10:00:01Z", "B", "9.9", 6, "south"), OW_ESCHEMA);
    assert_int_equal(st->dead_by_reason[OW_DL_OVERFLOW], 1);
    dl = fake_sink_get(f->sink, OW_STREAM_DEADLETTER, 0, NULL);
    assert_non_null(strstr(json_string_value(jget(dl, "error")), "service_request: field 'count'"));
    assert_int_equal(sr(f, "s3", "2021-04-02T10:00:02Z", "A", "1.1", 5, "north"), 0);
    ow_engine_finish(f->eng, true);
    r = sr_report(f, "2021-04");
    assert_int_equal(jint(r, "actual"), INT64_MAX);
    assert_int_equal(jint(r, "by_region/north"), INT64_MAX);
    assert_int_equal(jint(r, "by_region/south"), 0);
    assert_int_equal(jint(r, "by_csp/csp_n"), INT64_MAX);
    assert_int_equal(jint(r, "by_service/1.1/actual"), INT64_MAX);
    assert_null(jget(r, "by_service/9.9"));
    assert_null(jget(r, "by_party/B"));
    assert_int_equal(jint(r, "parties_without_forecast"), 1);
}

static void sr_variance__forecast_overflow_rejects_the_event(void **state)
{
    struct fixture *f = *state;
    json_t *dl;
    json_t *r;

    assert_int_equal(forecast(f, "f1", "2021-03-01T09:00:00Z", "A", NULL, "2021-04", INT64_MAX), 0);
    assert_int_equal(forecast(f, "f2", "2021-03-01T09:00:00Z", "B", "1.1", "2021-04", 1),
                     OW_ESCHEMA);
    dl = fake_sink_get(f->sink, OW_STREAM_DEADLETTER, 0, NULL);
    assert_non_null(strstr(json_string_value(jget(dl, "error")), "forecast: field 'quantity'"));
    ow_engine_finish(f->eng, true);
    r = sr_report(f, "2021-04");
    assert_int_equal(jint(r, "forecast"), INT64_MAX);
    assert_null(jget(r, "by_party/B"));
    assert_int_equal(jint(r, "variance"), -INT64_MAX);
}

static void sr_variance__gap_month_is_zero_filled(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    sr(f, "s1", "2021-01-05T10:00:00Z", "A", "1.1", 1, "north");
    sr(f, "s2", "2021-03-05T10:00:00Z", "A", "1.1", 1, "north");
    ow_engine_finish(f->eng, true);
    r = sr_report(f, "2021-02");
    assert_int_equal(jint(r, "actual"), 0);
    assert_int_equal(jint(r, "forecast"), 0);
    assert_true(json_is_null(jget(r, "percent_of_forecast")));
    assert_int_equal(jint(r, "by_region/north"), 0);
    assert_int_equal(jint(r, "by_region/central"), 0);
    assert_int_equal(jint(r, "by_region/south"), 0);
    assert_int_equal(jint(r, "by_csp/csp_n"), 0);
    assert_int_equal(jint(r, "by_csp/csp_cs"), 0);
    assert_int_equal(json_object_size(jget(r, "by_service")), 0);
    assert_int_equal(json_object_size(jget(r, "by_party")), 0);
    assert_int_equal(json_array_size(jget(r, "exceptions/no_forecast")), 0);
    assert_string_equal(str_at(r, "due"), "2021-03-12");
}

static void sr_variance__month_is_london_local(void **state)
{
    struct fixture *f = *state;

    sr(f, "s1", "2021-03-31T23:30:00Z", "A", "1.1", 7, "north"); /* 00:30 BST: April */
    sr(f, "s2", "2021-03-31T22:59:59Z", "A", "1.1", 3, "north"); /* 23:59:59 BST: March */
    ow_engine_finish(f->eng, true);
    assert_int_equal(jint(sr_report(f, "2021-04"), "actual"), 7);
    assert_int_equal(jint(sr_report(f, "2021-03"), "actual"), 3);
}

/* A forecast for a closed month applies like any late event: a new revision. */
static void sr_variance__late_forecast_makes_a_new_revision(void **state)
{
    struct fixture *f = *state;
    json_t *snap;

    sr(f, "s1", "2021-04-02T10:00:00Z", "A", "1.1", 10, "north");
    sr(f, "s2", "2021-05-18T01:00:00+01:00", "A", "1.1", 1, "north"); /* April closes */
    snap = latest_snapshot(f, "2021-04");
    assert_int_equal(jint(snap, "revision"), 1);
    assert_int_equal(jint(snap, "reports/sr_variance/parties_without_forecast"), 1);
    assert_int_equal(forecast(f, "f1", "2021-05-18T02:00:00+01:00", "A", NULL, "2021-04", 8), 0);
    ow_engine_finish(f->eng, false);
    snap = latest_snapshot(f, "2021-04");
    assert_int_equal(jint(snap, "revision"), 2);
    assert_int_equal(jint(snap, "late_events"), 1);
    assert_int_equal(jint(snap, "reports/sr_variance/forecast"), 8);
    assert_int_equal(jint(snap, "reports/sr_variance/parties_without_forecast"), 0);
    assert_string_equal(str_at(snap, "reports/sr_variance/exceptions/at_or_over_110/0"), "A");
}

/* ---- save and restore (processor.h: save, restore) ---- */

#define SR_LINE(id, at, party, svc, n, region)                                                     \
    "{\"event_id\":\"" id "\",\"type\":\"service_request\",\"schema_version\":1,"                  \
    "\"occurred_at\":\"" at "\",\"party_id\":\"" party "\",\"service_ref\":\"" svc "\","           \
    "\"count\":" #n ",\"region\":\"" region "\"}"
#define FC_LINE(id, at, party, period, qty)                                                        \
    "{\"event_id\":\"" id "\",\"type\":\"forecast\",\"schema_version\":1,\"occurred_at\":\"" at    \
    "\",\"report\":\"service_request\",\"party_id\":\"" party "\",\"period\":\"" period            \
    "\",\"quantity\":" #qty "}"
#define FCS_LINE(id, at, party, svc, period, qty)                                                  \
    "{\"event_id\":\"" id "\",\"type\":\"forecast\",\"schema_version\":1,\"occurred_at\":\"" at    \
    "\",\"report\":\"service_request\",\"party_id\":\"" party "\",\"service_ref\":\"" svc          \
    "\",\"period\":\"" period "\",\"quantity\":" #qty "}"

/* Per-service forecasts revised (an older one read after a newer one), an all-services
 * forecast over per-service ones, a service forecast without actuals, three regions, a
 * duplicate, and months that close and expire. */
static const char *const sr_script[] = {
    FCS_LINE("f1", "2021-03-20T09:00:00Z", "A", "1.1.1", "2021-04", 60),
    FCS_LINE("f2", "2021-03-20T09:00:00Z", "A", "2.1", "2021-04", 40),
    FCS_LINE("f3", "2021-03-20T09:00:00Z", "B", "8.14.2", "2021-04", 15), /* no actuals */
    SR_LINE("s1", "2021-03-30T10:00:00Z", "A", "1.1.1", 3, "south"),
    SR_LINE("s2", "2021-04-02T10:00:00Z", "A", "1.1.1", 50, "north"),
    SR_LINE("s3", "2021-04-03T10:00:00Z", "B", "2.1", 7, "central"),
    FCS_LINE("f4", "2021-04-04T09:00:00Z", "A", "1.1.1", "2021-04", 30),  /* A: 70 */
    FCS_LINE("f5", "2021-04-03T09:00:00Z", "A", "1.1.1", "2021-04", 500), /* older */
    SR_LINE("s4", "2021-04-05T10:00:00Z", "A", "2.1", 30, "south"),       /* A: 80 of 70 */
    SR_LINE("s4", "2021-04-05T10:00:00Z", "A", "2.1", 30, "south"),       /* duplicate */
    FC_LINE("f6", "2021-04-06T09:00:00Z", "A", "2021-04", 200),           /* outranks */
    FCS_LINE("f7", "2021-04-07T09:00:00Z", "A", "2.1", "2021-04", 45),    /* under f6 */
    SR_LINE("s5", "2021-04-20T10:00:00Z", "B", "8.14.2", 2, "north"),
    SR_LINE("s6", "2021-05-02T10:00:00Z", "B", "2.1", 1, "south"),
    FCS_LINE("f8", "2021-05-02T11:00:00Z", "B", "2.1", "2021-05", 1),
    SR_LINE("s7", "2021-06-20T10:00:00Z", "A", "1.1.1", 4, "central"), /* closes April */
    SR_LINE("s8", "2021-05-30T10:00:00Z", "A", "1.1.1", 9, "north"),   /* late, May open */
    SR_LINE("s9", "2021-08-20T10:00:00Z", "C", "1.1.1", 1, "north"),   /* expiries */
};

static void sr_variance__restart_at_any_line_changes_nothing(void **state)
{
    size_t n = sizeof(sr_script) / sizeof(*sr_script);
    struct fixture *f;
    json_t *got;
    json_t *r;

    (void)state;
    got = restore_check_alerts(NULL, sr_script, n);
    assert_int_equal(alert_records_of(got, "sr_forecast_exceeded/2021-04/party_id=A", "firing"), 1);
    json_decref(got);
    /* The figures the script is about. */
    f = fixture_create(NULL, false);
    restore_check_feed(f, sr_script, 0, n);
    ow_engine_finish(f->eng, true);
    r = sr_report(f, "2021-04");
    assert_int_equal(jint(r, "by_party/A/forecast"), 200);
    assert_int_equal(jint(r, "by_party/A/actual"), 80);
    assert_int_equal(jint(r, "by_service/1.1.1/forecast"), 30);
    assert_int_equal(jint(r, "by_service/2.1/forecast"), 45);
    assert_int_equal(jint(r, "by_service/8.14.2/forecast"), 15);
    assert_int_equal(jint(r, "by_service/8.14.2/actual"), 2);
    assert_int_equal(jint(r, "by_region/south"), 30);
    fixture_destroy(f);
}

/* ---- malformed states ---- */

/* A state saved after @script, with @mutate applied to the processor @proc's part, is refused
 * with OW_EINVAL and an error whose place contains @where. */
static void expect_refused(const char *const *script, size_t n, const char *proc,
                           void (*mutate)(json_t *mine), const char *where)
{
    struct fixture *f = fixture_create(NULL, true);
    struct fixture *g = fixture_create(NULL, true);
    json_t *saved;
    struct ow_err err;

    restore_check_feed(f, script, 0, n);
    saved = ow_engine_save(f->eng);
    mutate(json_object_get(json_object_get(saved, "processors"), proc));
    assert_int_equal(ow_engine_restore(g->eng, saved, &err), OW_EINVAL);
    if (strstr(err.where, where) == NULL) {
        fail_msg("error at '%s: %s', expected a place containing '%s'", err.where, err.text, where);
    }
    json_decref(saved);
    fixture_destroy(f);
    fixture_destroy(g);
}

static json_t *first_month(json_t *mine)
{
    return json_array_get(json_object_get(mine, "months"), 0);
}

static void bad_version(json_t *mine)
{
    json_object_set_new(mine, "v", json_integer(2));
}

static void bad_said(json_t *mine)
{
    json_array_set_new(jget(first_month(mine), "parties/A"), 3, json_integer(7));
}

static void bad_total(json_t *mine)
{
    json_object_set_new(first_month(mine), "actual", json_integer(1));
}

static void bad_regions(json_t *mine)
{
    json_array_set_new(json_array_get(json_object_get(first_month(mine), "own"), 0), 0,
                       json_integer(-1));
}

static void bad_forecast(json_t *mine)
{
    json_t *party = json_object_get(
        json_array_get(json_array_get(json_object_get(mine, "forecasts"), 0), 1), "A");

    json_object_set_new(json_array_get(party, 2), "1.1.1", json_string("sixty"));
}

static void twice(json_t *mine)
{
    json_t *months = json_object_get(mine, "months");

    json_array_append(months, json_array_get(months, 0));
}

static void sr_variance__malformed_state_is_refused_with_its_place(void **state)
{
    size_t n = sizeof(sr_script) / sizeof(*sr_script) - 1; /* before the expiries */

    (void)state;
    expect_refused(sr_script, n, "sr_variance", bad_version, "processors.sr_variance");
    expect_refused(sr_script, n, "sr_variance", bad_said, "sr_variance.months[0].parties.A");
    expect_refused(sr_script, n, "sr_variance", bad_total, "sr_variance.months[0]");
    expect_refused(sr_script, n, "sr_variance", bad_regions, "sr_variance.months[0].own");
    expect_refused(sr_script, n, "sr_variance", bad_forecast, "sr_variance.forecasts[0].A");
    expect_refused(sr_script, n, "sr_variance", twice, "sr_variance.months[");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sr_variance__snapshot_figures, setup, teardown),
        cmocka_unit_test_setup_teardown(sr_variance__forecast_revisions_latest_wins, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sr_variance__arrival_order_does_not_change_figures, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sr_variance__count_overflow_rejects_the_event, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sr_variance__forecast_overflow_rejects_the_event, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sr_variance__gap_month_is_zero_filled, setup, teardown),
        cmocka_unit_test_setup_teardown(sr_variance__month_is_london_local, setup, teardown),
        cmocka_unit_test_setup_teardown(sr_variance__late_forecast_makes_a_new_revision, setup,
                                        teardown),
        cmocka_unit_test(sr_variance__restart_at_any_line_changes_nothing),
        cmocka_unit_test(sr_variance__malformed_state_is_refused_with_its_place),
    };

    return cmocka_run_group_tests_name("sr_variance", tests, NULL, NULL);
}
