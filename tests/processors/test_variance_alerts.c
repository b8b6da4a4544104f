/* test_variance_alerts.c: the sr_* and csr_* variance alert rules (outputs.md, Alerts) through
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

static int sr(struct fixture *f, const char *id, const char *at, const char *party, long long count)
{
    return apply_fmt(f,
                     "{\"event_id\":\"%s\",\"type\":\"service_request\",\"schema_version\":1,"
                     "\"occurred_at\":\"%s\",\"party_id\":\"%s\",\"service_ref\":\"1.1.1\","
                     "\"count\":%lld,\"region\":\"north\"}",
                     id, at, party, count);
}

static int forecast(struct fixture *f, const char *id, const char *at, const char *report,
                    const char *party, const char *period, long long qty)
{
    return apply_fmt(f,
                     "{\"event_id\":\"%s\",\"type\":\"forecast\",\"schema_version\":1,"
                     "\"occurred_at\":\"%s\",\"report\":\"%s\",\"party_id\":\"%s\","
                     "\"period\":\"%s\",\"quantity\":%lld}",
                     id, at, report, party, period, qty);
}

static int csr(struct fixture *f, const char *id, const char *at, const char *party,
               long long count)
{
    return apply_fmt(f,
                     "{\"event_id\":\"%s\",\"type\":\"csr\",\"schema_version\":1,"
                     "\"occurred_at\":\"%s\",\"party_id\":\"%s\",\"batched\":false,"
                     "\"count\":%lld}",
                     id, at, party, count);
}

static size_t alerts(struct fixture *f, const char *rule, const char *state)
{
    return fake_sink_alerts(f->sink, rule, state);
}

/* The latest record of @alert_id, which must exist. */
static json_t *alert(struct fixture *f, const char *alert_id)
{
    json_t *a = fake_sink_latest(f->sink, OW_STREAM_ALERTS, alert_id);

    if (a == NULL) {
        fail_msg("no alert %s", alert_id);
    }
    return a;
}

/* How many of the records in JSON array @list have rule @rule. */
static size_t count_rule(const json_t *list, const char *rule)
{
    size_t n = 0;
    size_t i;
    json_t *a;

    json_array_foreach(list, i, a)
    {
        n += strcmp(json_string_value(json_object_get(a, "rule")), rule) == 0;
    }
    return n;
}

static const char *str_at(const json_t *root, const char *path)
{
    const char *s = json_string_value(jget(root, path));

    assert_non_null(s);
    return s;
}

static double num_at(const json_t *root, const char *path)
{
    json_t *v = jget(root, path);

    assert_true(json_is_number(v));
    return json_number_value(v);
}

#define EXCEEDED_ID "sr_forecast_exceeded/2021-04/party_id=SUP-0042"

/* Fires at the crossing event, not before, and never again while it holds. */
static void sr_forecast_exceeded__fires_once_at_the_crossing_event(void **state)
{
    struct fixture *f = *state;
    json_t *a;

    forecast(f, "f1", "2021-03-20T09:00:00Z", "service_request", "SUP-0042", "2021-04", 1000);
    sr(f, "s1", "2021-04-02T10:00:00Z", "SUP-0042", 600);
    sr(f, "s2", "2021-04-03T10:00:00Z", "SUP-0042", 499); /* 109.9% */
    assert_int_equal(fake_sink_count(f->sink, OW_STREAM_ALERTS), 0);
    sr(f, "s3", "2021-04-04T10:02:11Z", "SUP-0042", 1); /* 110.0%: the line itself */
    assert_int_equal(alerts(f, "sr_forecast_exceeded", "firing"), 1);
    a = alert(f, EXCEEDED_ID);
    assert_string_equal(str_at(a, "alert_id"), EXCEEDED_ID);
    assert_string_equal(str_at(a, "rule"), "sr_forecast_exceeded");
    assert_string_equal(str_at(a, "state"), "firing");
    assert_string_equal(str_at(a, "severity"), "warning");
    assert_string_equal(str_at(a, "window"), "2021-04");
    assert_string_equal(str_at(a, "dims/party_id"), "SUP-0042");
    assert_true(num_at(a, "value") == 110.0);
    assert_true(num_at(a, "threshold") == 110.0);
    assert_string_equal(str_at(a, "unit"), "percent_of_forecast");
    assert_string_equal(str_at(a, "event_time"), "2021-04-04T10:02:11Z");
    assert_string_equal(str_at(a, "message"),
                        "SUP-0042 has sent 110.0% of its April 2021 service request forecast");
    sr(f, "s4", "2021-04-05T10:00:00Z", "SUP-0042", 300);
    sr(f, "s5", "2021-04-06T10:00:00Z", "SUP-0042", 300);
    assert_int_equal(alerts(f, "sr_forecast_exceeded", NULL), 1);
    /* A new month is a new alert: April's does not carry over. */
    sr(f, "s6", "2021-05-02T10:00:00Z", "SUP-0042", 5);
    assert_int_equal(alerts(f, "sr_forecast_exceeded", NULL), 1);
}

/* One event that jumps well past the line: the value is where it landed. */
static void sr_forecast_exceeded__value_is_where_the_crossing_event_landed(void **state)
{
    struct fixture *f = *state;
    json_t *a;

    forecast(f, "f1", "2021-03-20T09:00:00Z", "service_request", "SUP-0042", "2021-04", 1000);
    sr(f, "s1", "2021-04-19T10:02:11Z", "SUP-0042", 1315);
    a = alert(f, EXCEEDED_ID);
    assert_true(num_at(a, "value") == 131.5);
    assert_string_equal(str_at(a, "message"),
                        "SUP-0042 has sent 131.5% of its April 2021 service request forecast");
    assert_string_equal(str_at(a, "event_time"), "2021-04-19T10:02:11Z");
}

/* Fire at 110%, resolve only at or below 109% (a tenth of the band back): a forecast revision
 * to 109.5% keeps it firing, one to 108% resolves it, and a later rise fires it again. */
static void sr_forecast_exceeded__hysteresis_on_forecast_revisions(void **state)
{
    struct fixture *f = *state;
    json_t *snap;
    json_t *a;

    forecast(f, "f1", "2021-03-20T09:00:00Z", "service_request", "SUP-0042", "2021-04", 1700);
    sr(f, "s1", "2021-04-02T10:00:00Z", "SUP-0042", 1971); /* 115.9% */
    assert_int_equal(alerts(f, "sr_forecast_exceeded", "firing"), 1);
    forecast(f, "f2", "2021-04-02T11:00:00Z", "service_request", "SUP-0042", "2021-04", 1800);
    /* 1971 / 1800 = 109.5%: below the fire line, above the resolve line. */
    assert_int_equal(alerts(f, "sr_forecast_exceeded", NULL), 1);
    /* The snapshot's exception list is a figure, not an alert: 109.5% is no exception, while
     * the alert is still firing. */
    ow_engine_finish(f->eng, false);
    snap = latest_snapshot(f, "2021-04");
    assert_int_equal(json_array_size(jget(snap, "reports/sr_variance/exceptions/at_or_over_110")),
                     0);
    assert_int_equal(json_array_size(jget(snap, "alerts")), 1);
    forecast(f, "f3", "2021-04-02T12:00:00Z", "service_request", "SUP-0042", "2021-04", 1825);
    /* 1971 / 1825 = 108.0%: resolved. */
    assert_int_equal(alerts(f, "sr_forecast_exceeded", "resolved"), 1);
    a = alert(f, EXCEEDED_ID);
    assert_string_equal(str_at(a, "state"), "resolved");
    assert_true(num_at(a, "value") == 108.0);
    assert_string_equal(str_at(a, "event_time"), "2021-04-02T12:00:00Z");
    /* The actual rises past the line again: a new firing record under the same id. */
    sr(f, "s2", "2021-04-02T13:00:00Z", "SUP-0042", 37); /* 2008 / 1825 = 110.03% */
    assert_int_equal(alerts(f, "sr_forecast_exceeded", "firing"), 2);
    assert_string_equal(str_at(alert(f, EXCEEDED_ID), "state"), "firing");
}

/* Both lines are exact: 110.0% fires, 109.9% does not; exactly 109.0% resolves (reaching a
 * line counts, at the resolve line as at the fire line). */
static void sr_forecast_exceeded__lines_are_exact(void **state)
{
    struct fixture *f = *state;

    forecast(f, "f1", "2021-03-20T09:00:00Z", "service_request", "A", "2021-04", 990);
    sr(f, "s1", "2021-04-02T10:00:00Z", "A", 1088); /* 109.9% */
    assert_int_equal(alerts(f, "sr_forecast_exceeded", NULL), 0);
    sr(f, "s2", "2021-04-02T10:00:01Z", "A", 1); /* 1089 / 990 = 110.0% */
    assert_int_equal(alerts(f, "sr_forecast_exceeded", "firing"), 1);
    sr(f, "s3", "2021-04-02T10:00:02Z", "A", 1);
    forecast(f, "f2", "2021-04-02T11:00:00Z", "service_request", "A", "2021-04", 999);
    assert_int_equal(alerts(f, "sr_forecast_exceeded", "resolved"), 0); /* 109.1% */
    forecast(f, "f3", "2021-04-02T11:00:01Z", "service_request", "A", "2021-04", 1000);
    assert_int_equal(alerts(f, "sr_forecast_exceeded", "resolved"), 1); /* 109.0% */
}

/* The exceeded line of a large forecast is as exact as a small one's: forecast x 11000 fits in
 * 64 bits for 10^14 and does not for 10^15 (the line is then worked out in 128 bits). */
static void sr_forecast_exceeded__large_forecasts_have_exact_lines(void **state)
{
    struct fixture *f = *state;

    forecast(f, "f1", "2021-03-20T09:00:00Z", "service_request", "A", "2021-04", 100000000000000);
    forecast(f, "f2", "2021-03-20T09:00:00Z", "service_request", "B", "2021-04", 1000000000000000);
    sr(f, "s1", "2021-04-02T10:00:00Z", "A", 109999999999999);
    sr(f, "s2", "2021-04-02T10:00:01Z", "B", 1099999999999999);
    assert_int_equal(alerts(f, "sr_forecast_exceeded", NULL), 0);
    sr(f, "s3", "2021-04-02T10:00:02Z", "A", 1); /* 110 000 000 000 000: 110.0% */
    assert_string_equal(str_at(alert(f, "sr_forecast_exceeded/2021-04/party_id=A"), "state"),
                        "firing");
    assert_int_equal(alerts(f, "sr_forecast_exceeded", NULL), 1);
    sr(f, "s4", "2021-04-02T10:00:03Z", "B", 1);
    assert_string_equal(str_at(alert(f, "sr_forecast_exceeded/2021-04/party_id=B"), "state"),
                        "firing");
    assert_int_equal(alerts(f, "sr_forecast_exceeded", NULL), 2);
}

static void sr_forecast_exceeded__zero_forecast_is_exceeded_by_any_actual(void **state)
{
    struct fixture *f = *state;
    json_t *a;

    forecast(f, "f1", "2021-03-20T09:00:00Z", "service_request", "Z", "2021-04", 0);
    sr(f, "s1", "2021-04-02T10:00:00Z", "Z", 1);
    a = alert(f, "sr_forecast_exceeded/2021-04/party_id=Z");
    assert_string_equal(str_at(a, "state"), "firing");
    assert_string_equal(str_at(a, "message"),
                        "Z has sent 1 service request in April 2021 against a forecast of zero");
    sr(f, "s2", "2021-04-02T10:00:01Z", "Z", 1);
    assert_int_equal(alerts(f, "sr_forecast_exceeded", NULL), 1);
    /* A zero forecast is a forecast: no no_forecast alert. */
    assert_int_equal(alerts(f, "sr_no_forecast", NULL), 0);
}

/* Values in the id are percent-encoded. */
static void sr_forecast_exceeded__id_encodes_the_party(void **state)
{
    struct fixture *f = *state;

    forecast(f, "f1", "2021-03-20T09:00:00Z", "service_request", "A/B=C,D%", "2021-04", 10);
    sr(f, "s1", "2021-04-02T10:00:00Z", "A/B=C,D%", 11);
    assert_string_equal(
        str_at(alert(f, "sr_forecast_exceeded/2021-04/party_id=A%2FB%3DC%2CD%25"), "dims/party_id"),
        "A/B=C,D%");
}

/* Once per party and month; resolved when a forecast for that month arrives. */
static void sr_no_forecast__once_per_party_month(void **state)
{
    struct fixture *f = *state;
    json_t *a;

    sr(f, "s1", "2021-04-02T10:00:00Z", "SUP-09", 3);
    sr(f, "s2", "2021-04-03T10:00:00Z", "SUP-09", 4);
    sr(f, "s3", "2021-04-04T10:00:00Z", "SUP-09", 500);
    assert_int_equal(alerts(f, "sr_no_forecast", "firing"), 1);
    assert_int_equal(alerts(f, "sr_forecast_exceeded", NULL), 0); /* no forecast: not this */
    a = alert(f, "sr_no_forecast/2021-04/party_id=SUP-09");
    assert_string_equal(str_at(a, "event_time"), "2021-04-02T10:00:00Z");
    assert_true(num_at(a, "value") == 3.0);
    assert_string_equal(str_at(a, "unit"), "count");
    assert_string_equal(str_at(a, "message"),
                        "SUP-09 sent service requests in April 2021 without a forecast for that "
                        "month");
    sr(f, "s4", "2021-05-02T10:00:00Z", "SUP-09", 1);
    assert_int_equal(alerts(f, "sr_no_forecast", "firing"), 2);
    assert_non_null(alert(f, "sr_no_forecast/2021-05/party_id=SUP-09"));
    /* A party whose forecast came first never gets one. */
    forecast(f, "f1", "2021-04-20T09:00:00Z", "service_request", "SUP-10", "2021-05", 10);
    sr(f, "s5", "2021-05-03T10:00:00Z", "SUP-10", 1);
    assert_int_equal(alerts(f, "sr_no_forecast", "firing"), 2);
    /* April's forecast arrives: April's alert resolves, May's stays. */
    forecast(f, "f2", "2021-05-03T11:00:00Z", "service_request", "SUP-09", "2021-04", 507);
    assert_int_equal(alerts(f, "sr_no_forecast", "resolved"), 1);
    assert_string_equal(str_at(alert(f, "sr_no_forecast/2021-04/party_id=SUP-09"), "state"),
                        "resolved");
    assert_string_equal(str_at(alert(f, "sr_no_forecast/2021-05/party_id=SUP-09"), "state"),
                        "firing");
    sr(f, "s6", "2021-04-20T10:00:00Z", "SUP-09", 1);
    assert_int_equal(alerts(f, "sr_no_forecast", NULL), 3);
}

/* Judged at window close only, before the closing snapshot is written. */
static void sr_forecast_shortfall__only_at_close(void **state)
{
    struct fixture *f = *state;
    json_t *snap;
    json_t *a;

    forecast(f, "f1", "2021-03-20T09:00:00Z", "service_request", "LOW", "2021-04", 1000);
    forecast(f, "f2", "2021-03-20T09:00:00Z", "service_request", "OK", "2021-04", 1000);
    forecast(f, "f3", "2021-03-20T09:00:00Z", "service_request", "IDLE", "2021-04", 50);
    forecast(f, "f4", "2021-03-20T09:00:00Z", "service_request", "ZERO", "2021-04", 0);
    sr(f, "s1", "2021-04-02T10:00:00Z", "LOW", 900); /* 90%: at the line */
    sr(f, "s2", "2021-04-02T10:00:00Z", "OK", 901);  /* 90.1% */
    /* The month ends, its grace runs: nothing yet (the watermark trails by an hour). */
    sr(f, "s3", "2021-05-18T00:59:59+01:00", "OK", 1);
    assert_int_equal(alerts(f, "sr_forecast_shortfall", NULL), 0);
    assert_null(latest_snapshot(f, "2021-04"));
    /* April closes at 2021-05-18T00:00+01:00. */
    sr(f, "s4", "2021-05-18T01:00:00+01:00", "OK", 1);
    assert_int_equal(alerts(f, "sr_forecast_shortfall", "firing"), 2);
    a = alert(f, "sr_forecast_shortfall/2021-04/party_id=LOW");
    assert_true(num_at(a, "value") == 90.0);
    assert_true(num_at(a, "threshold") == 90.0);
    assert_string_equal(str_at(a, "event_time"), "2021-05-17T23:00:00Z");
    assert_string_equal(str_at(a, "message"),
                        "LOW sent only 90.0% of its April 2021 service request forecast");
    /* A forecast and no actuals: 0%. A zero forecast has no shortfall. */
    assert_true(num_at(alert(f, "sr_forecast_shortfall/2021-04/party_id=IDLE"), "value") == 0.0);
    assert_null(
        fake_sink_latest(f->sink, OW_STREAM_ALERTS, "sr_forecast_shortfall/2021-04/party_id=ZERO"));
    /* Raised before the final snapshot: it lists them (with the projections, which at the
     * month's end are the actuals: LOW at 90% and IDLE at 0%). */
    snap = latest_snapshot(f, "2021-04");
    assert_true(json_is_true(jget(snap, "final")));
    assert_int_equal(count_rule(jget(snap, "alerts"), "sr_forecast_shortfall"), 2);
    assert_int_equal(count_rule(jget(snap, "alerts"), "sr_projected_variance"), 2);
    /* A late event that takes LOW to 91% resolves it. */
    sr(f, "s5", "2021-04-30T10:00:00Z", "LOW", 10);
    assert_string_equal(str_at(alert(f, "sr_forecast_shortfall/2021-04/party_id=LOW"), "state"),
                        "resolved");
}

static void sr_forecast_shortfall__at_end_of_input_close_all(void **state)
{
    struct fixture *f = *state;
    json_t *snap;

    forecast(f, "f1", "2021-03-20T09:00:00Z", "service_request", "LOW", "2021-04", 1000);
    sr(f, "s1", "2021-04-02T10:00:00Z", "LOW", 100);
    ow_engine_finish(f->eng, false); /* open windows stay open: nothing judged */
    assert_int_equal(alerts(f, "sr_forecast_shortfall", NULL), 0);
    ow_engine_finish(f->eng, true);
    assert_int_equal(alerts(f, "sr_forecast_shortfall", "firing"), 1);
    snap = latest_snapshot(f, "2021-04");
    assert_true(json_is_true(jget(snap, "final")));
    assert_string_equal(str_at(snap, "alerts/0/alert_id"),
                        "sr_forecast_shortfall/2021-04/party_id=LOW");
}

/* A forecast for a month that closed without any state of ours (a gap month) is judged as
 * closed at once. */
static void sr_forecast_shortfall__late_forecast_for_a_closed_gap_month(void **state)
{
    struct fixture *f = *state;
    json_t *a;

    sr(f, "s1", "2021-03-02T10:00:00Z", "X", 1);
    sr(f, "s2", "2021-06-01T10:00:00Z", "X", 1); /* March, April and May close */
    assert_true(json_is_true(jget(latest_snapshot(f, "2021-04"), "final")));
    forecast(f, "f1", "2021-06-01T11:00:00Z", "service_request", "P", "2021-04", 100);
    a = alert(f, "sr_forecast_shortfall/2021-04/party_id=P");
    assert_string_equal(str_at(a, "state"), "firing");
    assert_string_equal(str_at(a, "event_time"), "2021-06-01T11:00:00Z");
}

/* April 2021 runs from 2021-03-31T23:00Z for 30 days: half of it has passed at
 * 2021-04-15T23:00Z. */
static void sr_projected_variance__after_the_share_of_the_month(void **state)
{
    struct fixture *f = *state;
    json_t *a;

    forecast(f, "f1", "2021-03-20T09:00:00Z", "service_request", "FAST", "2021-04", 1000);
    forecast(f, "f2", "2021-03-20T09:00:00Z", "service_request", "SLOW", "2021-04", 1000);
    forecast(f, "f3", "2021-03-20T09:00:00Z", "service_request", "EVEN", "2021-04", 1000);
    sr(f, "s1", "2021-04-02T10:00:00Z", "FAST", 600);
    sr(f, "s2", "2021-04-02T10:00:00Z", "EVEN", 500);
    ow_engine_advance_watermark(f->eng, ts("2021-04-15T22:59:59Z"), OW_CLOSE_WATERMARK);
    assert_int_equal(alerts(f, "sr_projected_variance", NULL), 0);
    ow_engine_advance_watermark(f->eng, ts("2021-04-15T23:00:00Z"), OW_CLOSE_WATERMARK);
    /* FAST: 600 * 30 / 15 = 1200, 120%; SLOW: nothing sent, 0%; EVEN: 100%. */
    assert_int_equal(alerts(f, "sr_projected_variance", "firing"), 2);
    a = alert(f, "sr_projected_variance/2021-04/party_id=FAST");
    assert_true(num_at(a, "value") == 120.0);
    assert_true(num_at(a, "threshold") == 110.0);
    assert_string_equal(str_at(a, "severity"), "info");
    assert_string_equal(str_at(a, "event_time"), "2021-04-15T23:00:00Z");
    assert_string_equal(str_at(a, "message"),
                        "FAST is on course to send 120.0% of its April 2021 service request "
                        "forecast (run rate after 50% of the month)");
    a = alert(f, "sr_projected_variance/2021-04/party_id=SLOW");
    assert_true(num_at(a, "value") == 0.0);
    assert_true(num_at(a, "threshold") == 90.0);
    assert_null(
        fake_sink_latest(f->sink, OW_STREAM_ALERTS, "sr_projected_variance/2021-04/party_id=EVEN"));
    /* The actual is 60%: no other rule says anything. */
    assert_int_equal(alerts(f, "sr_forecast_exceeded", NULL), 0);
    /* Time passes with no more requests: after 19 days FAST projects 600 * 30 / 19 = 94.7%
     * (back inside 91..109: resolved) and EVEN 500 * 30 / 19 = 78.9% (under: fires). */
    ow_engine_advance_watermark(f->eng, ts("2021-04-19T23:00:00Z"), OW_CLOSE_WATERMARK);
    assert_string_equal(str_at(alert(f, "sr_projected_variance/2021-04/party_id=FAST"), "state"),
                        "resolved");
    a = alert(f, "sr_projected_variance/2021-04/party_id=EVEN");
    assert_string_equal(str_at(a, "state"), "firing");
    assert_string_equal(str_at(a, "event_time"), "2021-04-19T23:00:00Z");
    assert_int_equal(alerts(f, "sr_projected_variance", "firing"), 3);
    /* An event after the share is judged at once: SLOW sends 1000, projected at 157.9%; still
     * outside the bands (on the other side), so no new record. */
    sr(f, "s3", "2021-04-20T10:00:00Z", "SLOW", 1000);
    a = alert(f, "sr_projected_variance/2021-04/party_id=SLOW");
    assert_string_equal(str_at(a, "state"), "firing");
    assert_int_equal(alerts(f, "sr_projected_variance", NULL), 4);
    assert_int_equal(alerts(f, "sr_forecast_exceeded", NULL), 0); /* 100%: not over */
}

static void sr_projected_variance__share_is_configurable(void **state)
{
    struct fixture *f = fixture_create(
        "{\"processors\":{\"sr_variance\":{\"projected_after_percent\":80}}}", false);

    (void)state;
    forecast(f, "f1", "2021-03-20T09:00:00Z", "service_request", "SLOW", "2021-04", 1000);
    ow_engine_advance_watermark(f->eng, ts("2021-04-24T22:59:59Z"), OW_CLOSE_WATERMARK);
    assert_int_equal(alerts(f, "sr_projected_variance", NULL), 0);
    ow_engine_advance_watermark(f->eng, ts("2021-04-24T23:00:00Z"), OW_CLOSE_WATERMARK);
    assert_int_equal(alerts(f, "sr_projected_variance", "firing"), 1);
    fixture_destroy(f);
}

static void sr_rules__disabled_rule_is_silent(void **state)
{
    struct fixture *f = fixture_create("{\"processors\":{\"sr_variance\":{\"rules\":{"
                                       "\"sr_forecast_exceeded\":{\"enabled\":false},"
                                       "\"sr_no_forecast\":{\"enabled\":false}}}}}",
                                       false);
    json_t *snap;

    (void)state;
    forecast(f, "f1", "2021-03-20T09:00:00Z", "service_request", "A", "2021-04", 10);
    sr(f, "s1", "2021-04-02T10:00:00Z", "A", 50);
    sr(f, "s2", "2021-04-02T10:00:00Z", "NOFC", 50);
    assert_int_equal(alerts(f, "sr_forecast_exceeded", NULL), 0);
    assert_int_equal(alerts(f, "sr_no_forecast", NULL), 0);
    /* The other rules still run, with their defaults. */
    ow_engine_advance_watermark(f->eng, ts("2021-04-16T00:00:00Z"), OW_CLOSE_WATERMARK);
    assert_int_equal(alerts(f, "sr_projected_variance", "firing"), 1);
    /* The exception lists do not depend on the rules. */
    ow_engine_finish(f->eng, true);
    snap = latest_snapshot(f, "2021-04");
    assert_string_equal(str_at(snap, "reports/sr_variance/exceptions/at_or_over_110/0"), "A");
    assert_string_equal(str_at(snap, "reports/sr_variance/exceptions/no_forecast/0"), "NOFC");
    fixture_destroy(f);
}

/* The bands move the alert lines and the exception lists together. */
static void sr_rules__bands_set_the_lines(void **state)
{
    struct fixture *f =
        fixture_create("{\"processors\":{\"sr_variance\":{\"upper_band_percent\":20}}}", false);
    json_t *a;

    (void)state;
    forecast(f, "f1", "2021-03-20T09:00:00Z", "service_request", "A", "2021-04", 100);
    sr(f, "s1", "2021-04-02T10:00:00Z", "A", 119);
    assert_int_equal(alerts(f, "sr_forecast_exceeded", NULL), 0);
    sr(f, "s2", "2021-04-02T10:00:01Z", "A", 1);
    a = alert(f, "sr_forecast_exceeded/2021-04/party_id=A");
    assert_true(num_at(a, "threshold") == 120.0);
    /* Resolve: 120 - 2 = 118%. 120 / 102 = 117.6%. */
    forecast(f, "f2", "2021-04-02T11:00:00Z", "service_request", "A", "2021-04", 101);
    assert_int_equal(alerts(f, "sr_forecast_exceeded", "resolved"), 0); /* 118.8% */
    forecast(f, "f3", "2021-04-02T12:00:00Z", "service_request", "A", "2021-04", 102);
    assert_int_equal(alerts(f, "sr_forecast_exceeded", "resolved"), 1);
    fixture_destroy(f);
}

static void sr_rules__configured_resolve_line(void **state)
{
    struct fixture *f =
        fixture_create("{\"processors\":{\"sr_variance\":{\"rules\":{"
                       "\"sr_forecast_exceeded\":{\"resolve\":100, \"severity\":\"critical\"}}}}}",
                       false);

    (void)state;
    forecast(f, "f1", "2021-03-20T09:00:00Z", "service_request", "A", "2021-04", 100);
    sr(f, "s1", "2021-04-02T10:00:00Z", "A", 110);
    assert_string_equal(str_at(alert(f, "sr_forecast_exceeded/2021-04/party_id=A"), "severity"),
                        "critical");
    forecast(f, "f2", "2021-04-02T11:00:00Z", "service_request", "A", "2021-04", 105);
    assert_int_equal(alerts(f, "sr_forecast_exceeded", "resolved"), 0); /* 104.8% */
    forecast(f, "f3", "2021-04-02T12:00:00Z", "service_request", "A", "2021-04", 110);
    assert_int_equal(alerts(f, "sr_forecast_exceeded", "resolved"), 1); /* 100% */
    fixture_destroy(f);
}

/* An engine on the default config with @over laid on its processors section. */
static bool engine_accepts(const char *over, char *msg, size_t len)
{
    struct ow_conf_errors *errs = ow_conf_errors_create("test-config");
    json_t *doc = json_loads(ow_embedded_file("default.json", NULL), 0, NULL);
    json_t *patch = json_loads(over, 0, NULL);
    struct ow_config *cfg;
    struct ow_engine *eng;
    struct ow_err err;
    struct fake_sink *sink = fake_sink_create();

    assert_non_null(doc);
    assert_non_null(patch);
    json_object_update(json_object_get(json_object_get(doc, "processors"), "sr_variance"), patch);
    cfg = ow_config_from_json(doc, "test-config", ".", "test", errs);
    assert_non_null(cfg);
    eng = ow_engine_create(cfg, fake_sink_sink(sink), false, &err);
    if (eng == NULL) {
        ow_err_str(&err, msg, len);
    }
    ow_engine_destroy(eng);
    ow_config_destroy(cfg);
    fake_sink_destroy(sink);
    json_decref(patch);
    json_decref(doc);
    ow_conf_errors_destroy(errs);
    return eng != NULL;
}

static void sr_rules__config_that_makes_no_sense_is_refused(void **state)
{
    char msg[600];

    (void)state;
    assert_true(engine_accepts("{}", msg, sizeof(msg)));
    assert_false(engine_accepts("{\"rules\":{\"sr_forecast_exceeded\":{\"threshold\":120}}}", msg,
                                sizeof(msg)));
    assert_non_null(
        strstr(msg, "$.processors.sr_variance.rules.sr_forecast_exceeded.threshold: not used"));
    assert_false(engine_accepts("{\"rules\":{\"sr_forecast_exceeded\":{\"resolve\":111}}}", msg,
                                sizeof(msg)));
    assert_non_null(strstr(msg, "sr_forecast_exceeded.resolve: expected null or a percent"));
    assert_false(engine_accepts("{\"rules\":{\"sr_forecast_shortfall\":{\"resolve\":80}}}", msg,
                                sizeof(msg)));
    assert_non_null(strstr(msg, "sr_forecast_shortfall.resolve"));
    assert_false(engine_accepts("{\"rules\":{\"sr_projected_variance\":{\"resolve\":105}}}", msg,
                                sizeof(msg)));
    assert_non_null(strstr(msg, "sr_projected_variance.resolve: expected null"));
}

/* The CSR report has the same rules under csr_* names. */
static void csr_rules__wired_into_csr_variance(void **state)
{
    struct fixture *f = *state;
    json_t *a;

    forecast(f, "f1", "2021-03-20T09:00:00Z", "csr", "SUB-01", "2021-04", 100);
    /* An SR forecast for the same party is another report's: not a CSR forecast. */
    forecast(f, "f2", "2021-03-20T09:00:00Z", "service_request", "SUB-02", "2021-04", 100);
    csr(f, "c1", "2021-04-02T10:00:00Z", "SUB-01", 109);
    assert_int_equal(fake_sink_count(f->sink, OW_STREAM_ALERTS), 0);
    csr(f, "c2", "2021-04-02T10:30:00Z", "SUB-01", 1);
    a = alert(f, "csr_forecast_exceeded/2021-04/party_id=SUB-01");
    assert_string_equal(str_at(a, "state"), "firing");
    assert_string_equal(str_at(a, "message"),
                        "SUB-01 has sent 110.0% of its April 2021 CSR forecast");
    csr(f, "c3", "2021-04-02T11:00:00Z", "SUB-02", 1);
    a = alert(f, "csr_no_forecast/2021-04/party_id=SUB-02");
    assert_string_equal(str_at(a, "message"),
                        "SUB-02 sent CSRs in April 2021 without a forecast for that month");
    assert_int_equal(alerts(f, "sr_no_forecast", NULL), 0);
    ow_engine_advance_watermark(f->eng, ts("2021-04-16T00:00:00Z"), OW_CLOSE_WATERMARK);
    assert_int_equal(alerts(f, "csr_projected_variance", "firing"), 1); /* 219.4% */
    assert_int_equal(alerts(f, "sr_projected_variance", "firing"), 1);  /* SUB-02's SR: 0% */
    ow_engine_finish(f->eng, true);
    assert_int_equal(alerts(f, "csr_forecast_shortfall", NULL), 0);
    assert_int_equal(alerts(f, "sr_forecast_shortfall", "firing"), 1);
    assert_int_equal(alerts(f, "csr_forecast_exceeded", NULL), 1);
}

/* ---- save and restore (processor.h: save, restore) ---- */

#define SR_LINE(id, at, party, svc, n)                                                             \
    "{\"event_id\":\"" id "\",\"type\":\"service_request\",\"schema_version\":1,"                  \
    "\"occurred_at\":\"" at "\",\"party_id\":\"" party "\",\"service_ref\":\"" svc "\","           \
    "\"count\":" #n ",\"region\":\"north\"}"
#define CSR_LINE(id, at, party, n)                                                                 \
    "{\"event_id\":\"" id "\",\"type\":\"csr\",\"schema_version\":1,\"occurred_at\":\"" at         \
    "\",\"party_id\":\"" party "\",\"batched\":false,\"count\":" #n "}"
#define FC_LINE(id, at, report, party, period, qty)                                                \
    "{\"event_id\":\"" id "\",\"type\":\"forecast\",\"schema_version\":1,\"occurred_at\":\"" at    \
    "\",\"report\":\"" report "\",\"party_id\":\"" party "\",\"period\":\"" period                 \
    "\",\"quantity\":" #qty "}"

/* Every rule fires and resolves on the way, forecasts are revised (one older revision arrives
 * after a newer one), months close under the watermark and a late event and a late gap-month
 * forecast reach closed months: a restart before any line changes nothing. */
static const char *const variance_script[] = {
    SR_LINE("s0", "2021-03-25T10:00:00Z", "X", "1.1.1", 1),
    FC_LINE("f1", "2021-03-20T09:00:00Z", "service_request", "A", "2021-04", 100),
    FC_LINE("f2", "2021-03-20T09:00:00Z", "service_request", "B", "2021-04", 100),
    FC_LINE("c1", "2021-03-20T09:00:00Z", "csr", "A", "2021-04", 10),
    SR_LINE("s1", "2021-04-02T10:00:00Z", "A", "1.1.1", 50),
    SR_LINE("s2", "2021-04-03T10:00:00Z", "C", "1.1.1", 5), /* C: no forecast */
    SR_LINE("s3", "2021-04-05T10:00:00Z", "A", "2.1", 65),  /* A: 115%, exceeded */
    CSR_LINE("k1", "2021-04-05T11:00:00Z", "A", 12),        /* csr A: 120% */
    FC_LINE("f3", "2021-04-06T10:00:00Z", "service_request", "A", "2021-04", 110), /* 104.5% */
    FC_LINE("f4", "2021-04-06T09:00:00Z", "service_request", "A", "2021-04", 50),  /* older */
    FC_LINE("f5", "2021-04-07T10:00:00Z", "service_request", "C", "2021-04", 100),
    SR_LINE("s4", "2021-04-10T10:00:00Z", "B", "1.1.1", 30),
    SR_LINE("s5", "2021-04-17T12:00:00Z", "B", "2.1", 1), /* projections judged */
    "@2021-04-20T00:00:00Z",
    FC_LINE("f6", "2021-04-21T10:00:00Z", "service_request", "B", "2021-04", 70),
    SR_LINE("s6", "2021-04-28T10:00:00Z", "C", "1.1.1", 120), /* C: 125% */
    CSR_LINE("k2", "2021-04-28T11:00:00Z", "Z", 3),
    SR_LINE("s7", "2021-05-03T10:00:00Z", "A", "1.1.1", 10), /* May: no forecast */
    "@2021-05-20T00:00:00Z",                                 /* April closes */
    FC_LINE("f9", "2021-05-20T10:00:00Z", "service_request", "C", "2021-04", 200), /* 62.5% */
    SR_LINE("s8", "2021-04-29T10:00:00Z", "B", "1.1.1", 40), /* late: B back to 101% */
    FC_LINE("f7", "2021-05-04T10:00:00Z", "service_request", "A", "2021-05", 5),
    SR_LINE("s9", "2021-07-20T10:00:00Z", "A", "1.1.1", 1), /* May and June close */
    FC_LINE("f8", "2021-07-20T11:00:00Z", "service_request", "P", "2021-06", 100), /* gap */
    SR_LINE("s10", "2021-07-21T10:00:00Z", "P", "1.1.1", 1),
};

static void variance__restart_at_any_line_changes_nothing(void **state)
{
    size_t n = sizeof(variance_script) / sizeof(*variance_script);
    json_t *got;

    (void)state;
    got = restore_check_alerts(NULL, variance_script, n);
    /* The script raises and resolves what it is meant to. */
    assert_int_equal(alert_records_of(got, "sr_no_forecast/2021-04/party_id=C", "firing"), 1);
    assert_int_equal(alert_records_of(got, "sr_no_forecast/2021-04/party_id=C", "resolved"), 1);
    /* The older revision f4 (50) does not stand: A stays resolved. */
    assert_int_equal(alert_records_of(got, "sr_forecast_exceeded/2021-04/party_id=A", "firing"), 1);
    assert_int_equal(alert_records_of(got, "sr_forecast_exceeded/2021-04/party_id=A", "resolved"),
                     1);
    assert_int_equal(alert_records_of(got, "sr_projected_variance/2021-04/party_id=A", "resolved"),
                     1);
    assert_int_equal(alert_records_of(got, "sr_forecast_shortfall/2021-04/party_id=B", "firing"),
                     1);
    assert_int_equal(alert_records_of(got, "sr_forecast_shortfall/2021-04/party_id=B", "resolved"),
                     1);
    assert_int_equal(alert_records_of(got, "sr_forecast_shortfall/2021-06/party_id=P", "firing"),
                     1);
    /* A revision after April closed: C's shortfall is judged at once. */
    assert_int_equal(alert_records_of(got, "sr_forecast_exceeded/2021-04/party_id=C", "resolved"),
                     1);
    assert_int_equal(alert_records_of(got, "sr_forecast_shortfall/2021-04/party_id=C", "firing"),
                     1);
    assert_int_equal(alert_records_of(got, "csr_forecast_exceeded/2021-04/party_id=A", "firing"),
                     1);
    assert_int_equal(alert_records_of(got, "csr_no_forecast/2021-04/party_id=Z", "firing"), 1);
    assert_int_equal(json_array_size(got), 26);
    json_decref(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sr_forecast_exceeded__fires_once_at_the_crossing_event,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            sr_forecast_exceeded__value_is_where_the_crossing_event_landed, setup, teardown),
        cmocka_unit_test_setup_teardown(sr_forecast_exceeded__hysteresis_on_forecast_revisions,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(sr_forecast_exceeded__lines_are_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(sr_forecast_exceeded__large_forecasts_have_exact_lines,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            sr_forecast_exceeded__zero_forecast_is_exceeded_by_any_actual, setup, teardown),
        cmocka_unit_test_setup_teardown(sr_forecast_exceeded__id_encodes_the_party, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sr_no_forecast__once_per_party_month, setup, teardown),
        cmocka_unit_test_setup_teardown(sr_forecast_shortfall__only_at_close, setup, teardown),
        cmocka_unit_test_setup_teardown(sr_forecast_shortfall__at_end_of_input_close_all, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sr_forecast_shortfall__late_forecast_for_a_closed_gap_month,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(sr_projected_variance__after_the_share_of_the_month, setup,
                                        teardown),
        cmocka_unit_test(sr_projected_variance__share_is_configurable),
        cmocka_unit_test(sr_rules__disabled_rule_is_silent),
        cmocka_unit_test(sr_rules__bands_set_the_lines),
        cmocka_unit_test(sr_rules__configured_resolve_line),
        cmocka_unit_test(sr_rules__config_that_makes_no_sense_is_refused),
        cmocka_unit_test_setup_teardown(csr_rules__wired_into_csr_variance, setup, teardown),
        cmocka_unit_test(variance__restart_at_any_line_changes_nothing),
    };

    return cmocka_run_group_tests_name("variance_alerts", tests, NULL, NULL);
}
