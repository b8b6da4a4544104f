/* test_reconfigure.c: a reload (ow_engine_reconfigure, what opswatchd does on SIGHUP) makes the
 * next event or watermark step judge with the new rules and thresholds, even where a processor
 * had precomputed something from the old ones (variance: the actual at which a party is next
 * judged; rdp_incidents: deadlines from trt_hours; problems: RCA targets from
 * rca_target_hours). Each test shows the same script without the reload saying nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "alert.h"
#include "engine_fixture.h"

/* @f's engine rebuilt on @g's configuration (@g must then outlive @f's engine). */
static void reload(struct fixture *f, struct fixture *g)
{
    struct ow_err err;

    assert_int_equal(ow_engine_reconfigure(&f->eng, g->cfg, fake_sink_sink(f->sink), &err), OW_OK);
}

static void sr(struct fixture *f, const char *id, const char *at, long long count)
{
    assert_int_equal(apply_fmt(f,
                               "{\"event_id\":\"%s\",\"type\":\"service_request\","
                               "\"schema_version\":1,\"occurred_at\":\"%s\",\"party_id\":"
                               "\"SUB-01\",\"service_ref\":\"8.14\",\"count\":%lld,\"region\":"
                               "\"south\"}",
                               id, at, count),
                     OW_OK);
}

/* SUB-01: forecast 100 for April, 105 requests (between the 1% and the 10% line). */
static void sr_script(struct fixture *f)
{
    assert_int_equal(apply_fmt(f, "{\"event_id\":\"f1\",\"type\":\"forecast\",\"schema_version\":1,"
                                  "\"occurred_at\":\"2021-03-20T00:00:00Z\",\"report\":"
                                  "\"service_request\",\"party_id\":\"SUB-01\",\"period\":"
                                  "\"2021-04\",\"quantity\":100}"),
                     OW_OK);
    sr(f, "s1", "2021-04-02T10:00:00Z", 105);
}

static void reconfigure__band_change_judges_the_next_event(void **state)
{
    struct fixture *f = fixture_create(NULL, true);
    struct fixture *same = fixture_create(NULL, true);
    struct fixture *banded =
        fixture_create("{\"processors\": {\"sr_variance\": {\"upper_band_percent\": 1}}}", true);

    (void)state;
    sr_script(f);
    sr_script(same);
    sr(same, "s2", "2021-04-02T11:00:00Z", 1);
    assert_int_equal(fake_sink_alerts(same->sink, "sr_forecast_exceeded", NULL), 0);

    /* 105 is over the new 101 line: the party's next request judges it (not only past 110). */
    reload(f, banded);
    assert_int_equal(fake_sink_alerts(f->sink, "sr_forecast_exceeded", NULL), 0);
    sr(f, "s2", "2021-04-02T11:00:00Z", 1);
    assert_int_equal(fake_sink_alerts(f->sink, "sr_forecast_exceeded", "firing"), 1);
    fixture_destroy(f);
    fixture_destroy(banded);
    fixture_destroy(same);
}

/* A reload with the same configuration keeps the line where it was. */
static void reconfigure__same_config_keeps_the_line(void **state)
{
    struct fixture *f = fixture_create(NULL, true);
    struct fixture *g = fixture_create(NULL, true);

    (void)state;
    sr_script(f);
    reload(f, g);
    sr(f, "s2", "2021-04-02T11:00:00Z", 4);
    assert_int_equal(fake_sink_alerts(f->sink, "sr_forecast_exceeded", NULL), 0);
    sr(f, "s3", "2021-04-02T12:00:00Z", 1); /* 110 */
    assert_int_equal(fake_sink_alerts(f->sink, "sr_forecast_exceeded", "firing"), 1);
    fixture_destroy(f);
    fixture_destroy(g);
}

static void csr_tick(struct fixture *f, const char *id, const char *at)
{
    assert_int_equal(apply_fmt(f,
                               "{\"event_id\":\"%s\",\"type\":\"csr\",\"schema_version\":1,"
                               "\"occurred_at\":\"%s\",\"party_id\":\"SUB-09\",\"batched\":false,"
                               "\"count\":1,\"region\":\"south\"}",
                               id, at),
                     OW_OK);
}

/* Severity 3 (24 h by default) opened at midnight; the watermark at 11:00. */
static void incident_script(struct fixture *f)
{
    assert_int_equal(apply_fmt(f,
                               "{\"event_id\":\"i1\",\"type\":\"incident\",\"schema_version\":1,"
                               "\"occurred_at\":\"2021-04-01T00:00:00Z\",\"incident_id\":"
                               "\"INC-1\",\"action\":\"opened\",\"severity\":3,\"rdp_id\":\"A\"}"),
                     OW_OK);
    csr_tick(f, "c1", "2021-04-01T12:00:00Z");
}

static void reconfigure__trt_change_moves_deadlines(void **state)
{
    struct fixture *f = fixture_create(NULL, true);
    struct fixture *same = fixture_create(NULL, true);
    struct fixture *fast =
        fixture_create("{\"processors\": {\"rdp_incidents\": {\"trt_hours\": [4, 8, 4, 72, "
                       "120]}}}",
                       true);
    struct fixture *slow = fixture_create(NULL, true);
    uint64_t counts[4];
    json_t *a;

    (void)state;
    incident_script(same);
    csr_tick(same, "c2", "2021-04-01T12:30:00Z");
    assert_int_equal(fake_sink_alerts(same->sink, "incident_overdue", NULL), 0);

    /* 4 h: the deadline (04:00) is behind the watermark: the next step fires it. */
    incident_script(f);
    reload(f, fast);
    csr_tick(f, "c2", "2021-04-01T12:30:00Z");
    assert_int_equal(fake_sink_alerts(f->sink, "incident_overdue", "firing"), 1);
    a = fake_sink_latest(f->sink, OW_STREAM_ALERTS, "incident_overdue/2021-04/incident_id=INC-1");
    assert_non_null(a);
    assert_string_equal(json_string_value(jget(a, "event_time")), "2021-04-01T04:00:00Z");
    assert_true(json_real_value(jget(a, "threshold")) == 4.0);

    /* Back to 24 h: the deadline is ahead again, the alert resolves at the next step, and
     * fires again when the watermark reaches the new deadline. The counters of published
     * records (/metrics) go on across the reload. */
    reload(f, slow);
    ow_alerts_counts(ow_engine_alerts(f->eng), counts);
    assert_int_equal(counts[OW_ALERT_FIRING], fake_sink_alerts(f->sink, NULL, "firing"));
    assert_true(counts[OW_ALERT_FIRING] >= 1);
    csr_tick(f, "c3", "2021-04-01T13:00:00Z");
    assert_int_equal(fake_sink_alerts(f->sink, "incident_overdue", "resolved"), 1);
    csr_tick(f, "c4", "2021-04-02T01:00:00Z");
    assert_int_equal(fake_sink_alerts(f->sink, "incident_overdue", "firing"), 2);
    fixture_destroy(f);
    fixture_destroy(fast);
    fixture_destroy(slow);
    fixture_destroy(same);
}

/* Critical (72 h by default), under investigation since midnight; the watermark at 23:00. */
static void problem_script(struct fixture *f)
{
    assert_int_equal(apply_fmt(f, "{\"event_id\":\"p1\",\"type\":\"problem\",\"schema_version\":1,"
                                  "\"occurred_at\":\"2021-04-01T00:00:00Z\",\"problem_id\":"
                                  "\"PRB-1\",\"action\":\"created\",\"status\":"
                                  "\"under_investigation\",\"category\":\"critical\"}"),
                     OW_OK);
    csr_tick(f, "c1", "2021-04-02T00:00:00Z");
}

static void reconfigure__rca_target_change_judges_the_next_step(void **state)
{
    struct fixture *f = fixture_create(NULL, true);
    struct fixture *same = fixture_create(NULL, true);
    struct fixture *fast = fixture_create(
        "{\"processors\": {\"problems\": {\"rca_target_hours\": {\"critical\": 12}}}}", true);
    struct fixture *later = fixture_create(
        "{\"processors\": {\"problems\": {\"rca_target_hours\": {\"critical\": 30}}}}", true);
    json_t *a;

    (void)state;
    problem_script(same);
    csr_tick(same, "c2", "2021-04-02T00:30:00Z");
    assert_int_equal(fake_sink_alerts(same->sink, "problem_rca_breach", NULL), 0);

    /* 12 h: the target (12:00) is behind the watermark: the next step fires it. */
    problem_script(f);
    reload(f, fast);
    csr_tick(f, "c2", "2021-04-02T00:30:00Z");
    assert_int_equal(fake_sink_alerts(f->sink, "problem_rca_breach", "firing"), 1);
    a = fake_sink_latest(f->sink, OW_STREAM_ALERTS, "problem_rca_breach/2021-Q2/problem_id=PRB-1");
    assert_non_null(a);
    assert_string_equal(json_string_value(jget(a, "event_time")), "2021-04-01T12:00:00Z");

    /* 30 h: the target is ahead again: resolved at the next step; the watermark reaching the
     * new target (06:00 the next day) fires it. */
    reload(f, later);
    csr_tick(f, "c3", "2021-04-02T01:00:00Z");
    assert_int_equal(fake_sink_alerts(f->sink, "problem_rca_breach", "resolved"), 1);
    csr_tick(f, "c4", "2021-04-02T07:30:00Z");
    assert_int_equal(fake_sink_alerts(f->sink, "problem_rca_breach", "firing"), 2);
    fixture_destroy(f);
    fixture_destroy(fast);
    fixture_destroy(later);
    fixture_destroy(same);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reconfigure__band_change_judges_the_next_event),
        cmocka_unit_test(reconfigure__same_config_keeps_the_line),
        cmocka_unit_test(reconfigure__trt_change_moves_deadlines),
        cmocka_unit_test(reconfigure__rca_target_change_judges_the_next_step),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
