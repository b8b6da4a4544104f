/* test_problems.c: the Problem report (AG 3.2) and the problem_rca_breach alert through the
 * engine, on a fake sink. */
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

/* Format one problem event. @status, @category and @extra (raw JSON members, starting with a
 * comma) may be NULL. */
static void prob_text(char *buf, size_t len, const char *id, const char *at, const char *pid,
                      const char *action, const char *status, const char *category,
                      const char *extra)
{
    char st[64] = "";
    char cat[64] = "";

    if (status != NULL) {
        snprintf(st, sizeof(st), ",\"status\":\"%s\"", status);
    }
    if (category != NULL) {
        snprintf(cat, sizeof(cat), ",\"category\":\"%s\"", category);
    }
    snprintf(buf, len,
             "{\"event_id\":\"%s\",\"type\":\"problem\",\"schema_version\":1,"
             "\"occurred_at\":\"%s\",\"problem_id\":\"%s\",\"action\":\"%s\"%s%s%s}",
             id, at, pid, action, st, cat, extra ? extra : "");
}

static int prob(struct fixture *f, const char *id, const char *at, const char *pid,
                const char *action, const char *status, const char *category, const char *extra)
{
    char buf[1024];

    prob_text(buf, sizeof(buf), id, at, pid, action, status, category, extra);
    return apply_json(f, buf);
}

static int created(struct fixture *f, const char *id, const char *at, const char *pid,
                   const char *status, const char *category, const char *extra)
{
    return prob(f, id, at, pid, "created", status, category, extra);
}

static int changed(struct fixture *f, const char *id, const char *at, const char *pid,
                   const char *status, const char *extra)
{
    return prob(f, id, at, pid, "status_changed", status, NULL, extra);
}

static json_t *report(struct fixture *f, const char *window)
{
    json_t *snap = latest_snapshot(f, window);

    assert_non_null(snap);
    return jget(snap, "reports/problems");
}

static void problems__every_figure_of_a_quarter(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    assert_int_equal(created(f, "e0", "2020-12-20T10:00:00Z", "P5", "under_investigation",
                             "critical", ",\"rca_target_at\":\"2021-12-31T00:00:00Z\""),
                     0);
    assert_int_equal(created(f, "e1", "2021-01-10T10:00:00Z", "P1", "under_investigation",
                             "critical", ",\"significant\":true"),
                     0);
    assert_int_equal(created(f, "e2", "2021-01-12T10:00:00Z", "P2", "pending", "high", NULL), 0);
    assert_int_equal(created(f, "e3", "2021-02-01T10:00:00Z", "P3", "under_investigation", "medium",
                             ",\"significant\":true"),
                     0);
    assert_int_equal(
        changed(f, "e4", "2021-02-10T10:00:00Z", "P3", "completed", ",\"significant\":false"), 0);
    assert_int_equal(created(f, "e5", "2021-02-02T10:00:00Z", "P4", "under_investigation", "low",
                             ",\"significant\":true"),
                     0);
    assert_int_equal(prob(f, "e6", "2021-03-01T10:00:00Z", "P4", "closed", NULL, NULL, NULL), 0);
    ow_engine_finish(f->eng, true);

    r = report(f, "2021-Q1");
    assert_string_equal(json_string_value(jget(r, "sec_ref")), "AG 3.2");
    assert_true(json_is_null(jget(r, "due")));
    assert_int_equal(jint(r, "open_at_end/under_investigation"), 2); /* P1, P5 */
    assert_int_equal(jint(r, "open_at_end/pending"), 1);             /* P2 */
    assert_int_equal(jint(r, "open_at_end/completed"), 1);           /* P3 */
    assert_int_equal(jint(r, "open_at_end/total"), 4);
    assert_int_equal(jint(r, "created"), 4);
    assert_int_equal(jint(r, "created_previous_quarter"), 1);
    /* P1: critical, 72 h (the example default) passed under investigation. P3 left in time
     * (medium, 336 h). P2 was never under investigation. P4 is closed. */
    assert_int_equal(jint(r, "rca_breaches/critical"), 1);
    assert_int_equal(jint(r, "rca_breaches/high"), 0);
    assert_int_equal(jint(r, "rca_breaches/medium"), 0);
    assert_int_equal(jint(r, "rca_breaches/low"), 0);
    assert_int_equal(jint(r, "rca_breaches/total"), 1);
    assert_int_equal(jint(r, "significant_open"), 1); /* P1; P3 no longer, P4 closed */

    r = report(f, "2020-Q4");
    assert_int_equal(jint(r, "created"), 1);
    assert_int_equal(jint(r, "created_previous_quarter"), 0);
    assert_int_equal(jint(r, "open_at_end/under_investigation"), 1);
    assert_int_equal(jint(r, "rca_breaches/total"), 0);
}

static void problems__gap_quarter_is_zero_filled(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    created(f, "e1", "2021-01-10T10:00:00Z", "P1", "pending", "low", NULL);
    prob(f, "e2", "2021-02-10T10:00:00Z", "P1", "closed", NULL, NULL, NULL);
    created(f, "e3", "2021-08-10T10:00:00Z", "P2", "pending", "low", NULL);
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-Q2");
    assert_int_equal(jint(r, "open_at_end/total"), 0);
    assert_int_equal(jint(r, "open_at_end/completed"), 0);
    assert_int_equal(jint(r, "created"), 0);
    assert_int_equal(jint(r, "created_previous_quarter"), 1);
    assert_int_equal(jint(r, "rca_breaches/low"), 0);
    assert_int_equal(jint(r, "significant_open"), 0);
}

static void problems__status_at_the_end_instant_counts_by_occurred_at(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    /* Q1 2021 ends at 2021-04-01T00:00+01:00 = 2021-03-31T23:00Z. */
    created(f, "e1", "2021-03-30T10:00:00Z", "P1", "under_investigation", "medium", NULL);
    created(f, "e2", "2021-03-31T22:59:59Z", "P2", "completed", "low", NULL);
    /* At the end instant itself: that is Q2's first instant, so not Q1's status. */
    changed(f, "e3", "2021-03-31T23:00:00Z", "P1", "pending", NULL);
    created(f, "e4", "2021-03-31T23:00:00Z", "P3", "pending", "low", NULL);
    prob(f, "e5", "2021-04-05T10:00:00Z", "P1", "closed", NULL, NULL, NULL);
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(r, "open_at_end/under_investigation"), 1);
    assert_int_equal(jint(r, "open_at_end/pending"), 0);
    assert_int_equal(jint(r, "open_at_end/completed"), 1);
    assert_int_equal(jint(r, "open_at_end/total"), 2);
    assert_int_equal(jint(r, "created"), 2);
    r = report(f, "2021-Q2");
    assert_int_equal(jint(r, "open_at_end/under_investigation"), 0);
    assert_int_equal(jint(r, "open_at_end/pending"), 1);   /* P3 */
    assert_int_equal(jint(r, "open_at_end/completed"), 1); /* P2 */
    assert_int_equal(jint(r, "created"), 1);
    assert_int_equal(jint(r, "created_previous_quarter"), 2);
}

static void problems__rca_change_exactly_at_target_is_in_time_one_second_late_breaches(void **state)
{
    struct fixture *f = *state;
    const char *target = ",\"rca_target_at\":\"2021-01-20T12:00:00Z\"";
    json_t *r;

    created(f, "e1", "2021-01-04T10:00:00Z", "P1", "under_investigation", "critical", target);
    created(f, "e2", "2021-01-04T10:00:00Z", "P2", "under_investigation", "critical", target);
    changed(f, "e3", "2021-01-20T12:00:00Z", "P1", "pending", NULL);
    changed(f, "e4", "2021-01-20T12:00:01Z", "P2", "pending", NULL);
    created(f, "e5", "2021-02-01T10:00:00Z", "P3", "pending", "low", NULL);
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(r, "open_at_end/pending"), 3);
    assert_int_equal(jint(r, "rca_breaches/critical"), 1);
    assert_int_equal(jint(r, "rca_breaches/total"), 1);
    /* The alert: P2 breached (fired at the target, resolved when it left); P1 never. */
    assert_null(
        fake_sink_latest(f->sink, OW_STREAM_ALERTS, "problem_rca_breach/2021-Q1/problem_id=P1"));
    assert_string_equal(json_string_value(jget(fake_sink_latest(f->sink, OW_STREAM_ALERTS,
                                                                "problem_rca_breach/2021-Q1/"
                                                                "problem_id=P2"),
                                               "state")),
                        "resolved");
    assert_int_equal(fake_sink_alerts(f->sink, "problem_rca_breach", "firing"), 1);
}

static void problems__default_target_from_configured_category_hours(void **state)
{
    struct fixture *f = fixture_create(
        "{\"processors\":{\"problems\":{\"rca_target_hours\":{\"high\":24}}}}", false);
    json_t *r;

    (void)state;
    /* high: 24 h (configured) from created; critical keeps its 72 h default. */
    created(f, "e1", "2021-01-04T10:00:00Z", "P1", "under_investigation", "high", NULL);
    created(f, "e2", "2021-01-04T10:00:00Z", "P2", "under_investigation", "high", NULL);
    created(f, "e3", "2021-01-04T10:00:00Z", "P3", "under_investigation", "critical", NULL);
    changed(f, "e4", "2021-01-05T10:00:00Z", "P1", "completed", NULL);
    changed(f, "e5", "2021-01-05T10:00:01Z", "P2", "completed", NULL);
    changed(f, "e6", "2021-01-06T10:00:00Z", "P3", "pending", NULL);
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(r, "rca_breaches/high"), 1);
    assert_int_equal(jint(r, "rca_breaches/critical"), 0);
    assert_int_equal(jint(r, "rca_breaches/total"), 1);
    fixture_destroy(f);
}

static void problems__rca_target_replaced_by_a_later_event(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    /* P1: target 10 Jan, extended on 8 Jan to 30 Jan, left on 20 Jan: in time. */
    created(f, "e1", "2021-01-04T10:00:00Z", "P1", "under_investigation", "high",
            ",\"rca_target_at\":\"2021-01-10T00:00:00Z\"");
    changed(f, "e2", "2021-01-08T10:00:00Z", "P1", "under_investigation",
            ",\"rca_target_at\":\"2021-01-30T00:00:00Z\"");
    changed(f, "e3", "2021-01-20T10:00:00Z", "P1", "pending", NULL);
    /* P2: low (720 h by default: 3 Feb), tightened to 6 Jan, left on 7 Jan: breach. */
    created(f, "e4", "2021-01-04T10:00:00Z", "P2", "under_investigation", "low", NULL);
    changed(f, "e5", "2021-01-05T10:00:00Z", "P2", "under_investigation",
            ",\"rca_target_at\":\"2021-01-06T00:00:00Z\"");
    changed(f, "e6", "2021-01-07T10:00:00Z", "P2", "pending", NULL);
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(r, "rca_breaches/high"), 0);
    assert_int_equal(jint(r, "rca_breaches/low"), 1);
    assert_int_equal(jint(r, "rca_breaches/total"), 1);
}

static void problems__breach_counts_only_once_past_the_target_by_the_end(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    /* Target in Q2: not a breach at Q1's end, a breach at Q2's. */
    created(f, "e1", "2021-03-25T10:00:00Z", "P1", "under_investigation", "medium",
            ",\"rca_target_at\":\"2021-04-02T10:00:00Z\"");
    created(f, "e2", "2021-05-01T10:00:00Z", "P2", "pending", "low", NULL);
    ow_engine_finish(f->eng, true);
    assert_int_equal(jint(report(f, "2021-Q1"), "rca_breaches/total"), 0);
    r = report(f, "2021-Q2");
    assert_int_equal(jint(r, "rca_breaches/medium"), 1);
    assert_int_equal(jint(r, "open_at_end/under_investigation"), 1);
}

static void problems__held_without_created_until_the_hold_passes(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    /* P9 starts without `created`: held for 7 days of event time. P10's created arrives late,
     * within the hold: an ordinary problem. */
    changed(f, "e1", "2021-02-01T10:00:00Z", "P9", "pending", NULL);
    changed(f, "e2", "2021-02-01T10:00:00Z", "P10", "completed", NULL);
    created(f, "e3", "2021-02-03T10:00:00Z", "P11", "pending", "low", NULL);
    created(f, "e4", "2021-01-30T10:00:00Z", "P10", "under_investigation", "low", NULL);
    ow_engine_finish(f->eng, false);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(r, "open_at_end/total"), 2);
    assert_int_equal(jint(r, "open_at_end/pending"), 1);   /* P11; P9 is held */
    assert_int_equal(jint(r, "open_at_end/completed"), 1); /* P10 */
    assert_int_equal(jint(r, "created"), 2);

    /* The watermark (1 h behind) stops short of 8 Feb 10:00: P9 is still held. */
    created(f, "e5", "2021-02-08T10:59:59Z", "P12", "pending", "low", NULL);
    ow_engine_finish(f->eng, false);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(r, "open_at_end/total"), 3);
    assert_int_equal(jint(r, "open_at_end/pending"), 2);
    /* Past it: P9 counts, as one opened before the data began. */
    created(f, "e6", "2021-02-08T11:00:01Z", "P13", "pending", "low", NULL);
    ow_engine_finish(f->eng, false);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(r, "open_at_end/total"), 5);
    assert_int_equal(jint(r, "open_at_end/pending"), 4);
    assert_int_equal(jint(r, "created"), 4); /* P10-P13: a held problem was not created here */
}

/* With --close-all the input has ended: no `created` will come, so a held problem counts. */
static void problems__held_problem_counts_at_the_end_of_input(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    changed(f, "e1", "2021-02-01T10:00:00Z", "P9", "pending", NULL);
    created(f, "e2", "2021-02-03T10:00:00Z", "P11", "pending", "low", NULL);
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(r, "open_at_end/total"), 2);
    assert_int_equal(jint(r, "open_at_end/pending"), 2);
    assert_int_equal(jint(r, "created"), 1); /* P9 was not created in the data */
}

static void problems__late_event_revises_later_closed_quarters(void **state)
{
    struct fixture *f = *state;
    json_t *snap;

    created(f, "e1", "2021-02-01T10:00:00Z", "P1", "under_investigation", "medium", NULL);
    /* Into Q3: Q1 (closes 17 Apr) and Q2 (closes 15 Jul) are closed, Q1 not yet expired. */
    created(f, "e2", "2021-08-01T10:00:00Z", "P2", "pending", "low", NULL);
    snap = latest_snapshot(f, "2021-Q2");
    assert_non_null(snap);
    assert_int_equal(jint(snap, "revision"), 1);
    assert_int_equal(jint(snap, "reports/problems/open_at_end/under_investigation"), 1);
    assert_int_equal(jint(snap, "reports/problems/rca_breaches/medium"), 1);
    assert_int_equal(jint(snap, "reports/problems/created_previous_quarter"), 1);

    /* P1 was closed on 1 March: Q1 and Q2 both change. */
    assert_int_equal(prob(f, "e3", "2021-03-01T10:00:00Z", "P1", "closed", NULL, NULL, NULL), 0);
    ow_engine_finish(f->eng, false);
    snap = latest_snapshot(f, "2021-Q1");
    assert_int_equal(jint(snap, "revision"), 2);
    assert_int_equal(jint(snap, "late_events"), 1);
    assert_int_equal(jint(snap, "reports/problems/open_at_end/total"), 0);
    assert_int_equal(jint(snap, "reports/problems/created"), 1);
    snap = latest_snapshot(f, "2021-Q2");
    assert_int_equal(jint(snap, "revision"), 2);
    assert_int_equal(jint(snap, "late_events"), 1);
    assert_int_equal(jint(snap, "reports/problems/open_at_end/total"), 0);
    assert_int_equal(jint(snap, "reports/problems/rca_breaches/total"), 0);
}

static void problems__rca_breach_alert_fires_at_target_and_resolves(void **state)
{
    struct fixture *f = *state;
    const char *id = "problem_rca_breach/2021-Q1/problem_id=P-1";
    json_t *rec;

    created(f, "e1", "2021-01-04T10:00:00Z", "P-1", "under_investigation", "critical",
            ",\"rca_target_at\":\"2021-01-05T10:00:00Z\"");
    created(f, "e2", "2021-01-05T10:59:59Z", "P-2", "pending", "low", NULL);
    assert_int_equal(fake_sink_alerts(f->sink, "problem_rca_breach", NULL), 0);
    /* The watermark at the target is not past it. */
    ow_engine_advance_watermark(f->eng, ts("2021-01-05T10:00:00Z"), OW_CLOSE_IDLE_CLOCK);
    assert_int_equal(fake_sink_alerts(f->sink, "problem_rca_breach", NULL), 0);
    ow_engine_advance_watermark(f->eng, ts("2021-01-05T10:00:01Z"), OW_CLOSE_IDLE_CLOCK);
    assert_int_equal(fake_sink_alerts(f->sink, "problem_rca_breach", "firing"), 1);
    rec = fake_sink_latest(f->sink, OW_STREAM_ALERTS, id);
    assert_non_null(rec);
    assert_string_equal(json_string_value(jget(rec, "state")), "firing");
    assert_string_equal(json_string_value(jget(rec, "window")), "2021-Q1");
    assert_string_equal(json_string_value(jget(rec, "dims/problem_id")), "P-1");
    assert_string_equal(json_string_value(jget(rec, "event_time")), "2021-01-05T10:00:00Z");
    ow_engine_advance_watermark(f->eng, ts("2021-01-09T00:00:00Z"), OW_CLOSE_IDLE_CLOCK);
    created(f, "e3", "2021-01-09T10:00:00Z", "P-3", "pending", "low", NULL);
    assert_int_equal(fake_sink_alerts(f->sink, "problem_rca_breach", NULL), 1); /* no repeat */
    /* Leaving under_investigation resolves it. */
    changed(f, "e4", "2021-01-09T11:00:00Z", "P-1", "pending", NULL);
    rec = fake_sink_latest(f->sink, OW_STREAM_ALERTS, id);
    assert_string_equal(json_string_value(jget(rec, "state")), "resolved");
    assert_string_equal(json_string_value(jget(rec, "event_time")), "2021-01-09T11:00:00Z");
    ow_engine_advance_watermark(f->eng, ts("2021-01-20T00:00:00Z"), OW_CLOSE_IDLE_CLOCK);
    assert_int_equal(fake_sink_alerts(f->sink, NULL, NULL), 2);
}

static void problems__rca_breach_alert_window_is_the_targets_quarter(void **state)
{
    struct fixture *f = *state;

    created(f, "e1", "2021-03-25T10:00:00Z", "P1", "under_investigation", "medium",
            ",\"rca_target_at\":\"2021-04-02T10:00:00Z\"");
    created(f, "e2", "2021-04-05T10:00:00Z", "P2", "pending", "low", NULL);
    assert_non_null(
        fake_sink_latest(f->sink, OW_STREAM_ALERTS, "problem_rca_breach/2021-Q2/problem_id=P1"));
}

static void problems__rca_alert_resolves_when_the_target_is_extended(void **state)
{
    struct fixture *f = *state;
    const char *id = "problem_rca_breach/2021-Q1/problem_id=P1";

    created(f, "e1", "2021-01-04T10:00:00Z", "P1", "under_investigation", "high",
            ",\"rca_target_at\":\"2021-01-10T00:00:00Z\"");
    created(f, "e2", "2021-01-12T10:00:00Z", "P2", "pending", "low", NULL);
    assert_string_equal(
        json_string_value(jget(fake_sink_latest(f->sink, OW_STREAM_ALERTS, id), "state")),
        "firing");
    /* A late event from 8 Jan moved the target to 30 Jan: no breach after all. */
    changed(f, "e3", "2021-01-08T10:00:00Z", "P1", "under_investigation",
            ",\"rca_target_at\":\"2021-01-30T00:00:00Z\"");
    assert_string_equal(
        json_string_value(jget(fake_sink_latest(f->sink, OW_STREAM_ALERTS, id), "state")),
        "resolved");
    /* ...until 30 Jan passes with it still under investigation: fires again, once. */
    created(f, "e4", "2021-02-01T10:00:00Z", "P3", "pending", "low", NULL);
    assert_string_equal(
        json_string_value(jget(fake_sink_latest(f->sink, OW_STREAM_ALERTS, id), "state")),
        "firing");
    assert_int_equal(fake_sink_alerts(f->sink, "problem_rca_breach", "firing"), 2);
    ow_engine_finish(f->eng, true);
    assert_int_equal(jint(report(f, "2021-Q1"), "rca_breaches/high"), 1);
}

static void problems__redelivery_past_the_dedup_span_counts_once(void **state)
{
    struct fixture *f = *state;

    created(f, "e1", "2021-01-05T10:00:00Z", "P1", "pending", "low", NULL);
    created(f, "e2", "2021-03-01T10:00:00Z", "P2", "pending", "low", NULL);
    /* e1 again, beyond the engine's id memory: the problem's history knows it. */
    assert_int_equal(created(f, "e1", "2021-01-05T10:00:00Z", "P1", "pending", "low", NULL), 0);
    ow_engine_finish(f->eng, true);
    assert_int_equal(jint(report(f, "2021-Q1"), "created"), 2);
    assert_int_equal(jint(report(f, "2021-Q1"), "open_at_end/pending"), 2);
}

static void problems__go_live_problem_from_an_expired_quarter_is_open(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    created(f, "e1", "2021-02-01T10:00:00Z", "P1", "pending", "low", NULL);
    /* Published at go-live with its original time: its quarter is long past retention. It
     * is no dead letter, counts as open, and its RCA target has long passed. */
    assert_int_equal(
        created(f, "e2", "2019-05-01T10:00:00Z", "P0", "under_investigation", "high", NULL), 0);
    assert_int_equal(ow_engine_stats(f->eng)->dead_letters, 0);
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(r, "open_at_end/under_investigation"), 1);
    assert_int_equal(jint(r, "open_at_end/total"), 2);
    assert_int_equal(jint(r, "created"), 1);
    assert_int_equal(jint(r, "rca_breaches/high"), 1);
    assert_string_equal(json_string_value(jget(fake_sink_latest(f->sink, OW_STREAM_ALERTS,
                                                                "problem_rca_breach/2019-Q2/"
                                                                "problem_id=P0"),
                                               "state")),
                        "firing");
}

/* A mixture over two quarters: statuses, closes, targets given and replaced, significance. */
static const char *const mix[][7] = {
    /* id, at, problem, action, status, category, extra */
    {"m01", "2021-01-04T10:00:00Z", "A", "created", "under_investigation", "critical", NULL},
    {"m02", "2021-01-08T10:00:00Z", "A", "status_changed", "pending", NULL, NULL},
    {"m03", "2021-02-04T10:00:00Z", "A", "status_changed", "completed", NULL, NULL},
    {"m04", "2021-01-05T10:00:00Z", "B", "created", "under_investigation", "high",
     ",\"significant\":true"},
    {"m05", "2021-01-06T10:00:00Z", "B", "status_changed", "under_investigation", NULL,
     ",\"rca_target_at\":\"2021-03-01T00:00:00Z\""},
    {"m06", "2021-03-01T00:00:00Z", "B", "status_changed", "pending", NULL, NULL},
    {"m07", "2021-02-10T10:00:00Z", "C", "created", "under_investigation", "medium", NULL},
    {"m08", "2021-03-30T10:00:00Z", "C", "closed", NULL, NULL, NULL},
    {"m09", "2021-03-15T10:00:00Z", "D", "created", "under_investigation", "low",
     ",\"significant\":true"},
    {"m10", "2021-05-15T10:00:00Z", "D", "status_changed", "pending", NULL,
     ",\"significant\":false"},
    {"m11", "2021-04-15T10:00:00Z", "E", "created", "pending", "critical", NULL},
    {"m12", "2021-06-15T10:00:00Z", "E", "closed", NULL, NULL, NULL},
    {"m13", "2021-05-01T10:00:00Z", "F", "created", "under_investigation", "high",
     ",\"rca_target_at\":\"2021-05-02T00:00:00Z\""},
    {"m14", "2021-05-01T12:00:00Z", "F", "status_changed", "under_investigation", "critical",
     ",\"rca_target_at\":\"2021-05-20T00:00:00Z\""},
    {"m15", "2021-05-20T00:00:01Z", "F", "status_changed", "completed", NULL, NULL},
};
#define NMIX (sizeof(mix) / sizeof(mix[0]))

static char *run_mix(const size_t *perm)
{
    struct fixture *f = fixture_create(NULL, false);
    json_t *both = json_object();
    char *text;

    for (size_t i = 0; i < NMIX; i++) {
        const char *const *e = mix[perm[i]];
        char buf[1024];

        prob_text(buf, sizeof(buf), e[0], e[1], e[2], e[3], e[4], e[5], e[6]);
        assert_int_equal(apply_json(f, buf), 0);
    }
    ow_engine_finish(f->eng, true);
    json_object_set(both, "q1", report(f, "2021-Q1"));
    json_object_set(both, "q2", report(f, "2021-Q2"));
    text = json_dumps(both, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(both);
    fixture_destroy(f);
    return text;
}

static void problems__shuffled_arrival_gives_the_same_figures(void **state)
{
    size_t perm[NMIX];
    uint64_t seed = 0x2545f4914f6cdd1du;
    char *expected;
    json_t *q;

    (void)state;
    for (size_t i = 0; i < NMIX; i++) {
        perm[i] = i;
    }
    expected = run_mix(perm);
    q = json_loads(expected, 0, NULL);
    /* By hand. Q1 end: A completed (critical, under investigation at its 72 h target: a
     * breach), B pending (left exactly at its replaced target: in time), C closed, D under
     * investigation (low: 720 h from 15 Mar is 14 April, not passed). */
    assert_int_equal(jint(q, "q1/open_at_end/under_investigation"), 1);
    assert_int_equal(jint(q, "q1/open_at_end/pending"), 1);
    assert_int_equal(jint(q, "q1/open_at_end/completed"), 1);
    assert_int_equal(jint(q, "q1/open_at_end/total"), 3);
    assert_int_equal(jint(q, "q1/created"), 4);
    assert_int_equal(jint(q, "q1/rca_breaches/critical"), 1);
    assert_int_equal(jint(q, "q1/rca_breaches/total"), 1);
    assert_int_equal(jint(q, "q1/significant_open"), 2);
    /* Q2 end: A completed, B pending, D pending (breached its 14 Apr target: low), E closed,
     * F completed (left one second after its replaced target, critical by then: a breach). */
    assert_int_equal(jint(q, "q2/open_at_end/under_investigation"), 0);
    assert_int_equal(jint(q, "q2/open_at_end/pending"), 2);
    assert_int_equal(jint(q, "q2/open_at_end/completed"), 2);
    assert_int_equal(jint(q, "q2/open_at_end/total"), 4);
    assert_int_equal(jint(q, "q2/created"), 2);
    assert_int_equal(jint(q, "q2/created_previous_quarter"), 4);
    assert_int_equal(jint(q, "q2/rca_breaches/low"), 1);
    assert_int_equal(jint(q, "q2/rca_breaches/critical"), 2);
    assert_int_equal(jint(q, "q2/rca_breaches/high"), 0);
    assert_int_equal(jint(q, "q2/rca_breaches/total"), 3);
    assert_int_equal(jint(q, "q2/significant_open"), 1);
    json_decref(q);
    for (int round = 0; round < 40; round++) {
        char *got;

        test_shuffle(perm, NMIX, &seed);
        got = run_mix(perm);
        assert_string_equal(got, expected);
        free(got);
    }
    free(expected);
}

/* ---- checkpoints ---- */

#define EV(id, at, problem, action, extra)                                                         \
    "{\"event_id\":\"" id "\",\"type\":\"problem\",\"schema_version\":1,"                          \
    "\"occurred_at\":\"" at "\",\"problem_id\":\"" problem "\",\"action\":\"" action "\"" extra    \
    "}"
#define UI ",\"status\":\"under_investigation\""

static const char *const restore_conf =
    "{\"processors\": {\"problems\": {\"rca_target_hours\": {\"critical\": 24, \"high\": 48}}}}";

/* A run that puts every piece of the processor's state to work: targets passing together
 * (alerts in key order), a target extended by a late event (the alert resolves, then fires
 * again for the new target), a problem held until its hold passes and another until the end
 * of input, a `created` arriving after the release, closed and reopened, significance, a
 * London quarter end, a late event into a closed quarter, a redelivery, and quarters expiring
 * (a closed problem forgotten). */
static const char *const restore_steps[] = {
    EV("p01", "2021-01-04T10:00:00Z", "P-Z", "created", UI ",\"category\":\"critical\""),
    EV("p02", "2021-01-04T11:00:00Z", "P-Y", "created", UI ",\"category\":\"critical\""),
    EV("p03", "2021-01-04T12:00:00Z", "P-H", "status_changed", UI ",\"category\":\"high\""),
    EV("p04", "2021-01-04T13:00:00Z", "P-C", "created",
       ",\"status\":\"pending\",\"category\":\"low\",\"significant\":true"),
    "@2021-01-06T00:00:00Z",
    EV("p05", "2021-01-06T10:00:00Z", "P-Z", "status_changed", ",\"status\":\"pending\""),
    EV("p06", "2021-01-07T10:00:00Z", "P-Z", "closed", ""),
    EV("p07", "2021-01-05T09:00:00Z", "P-Y", "status_changed",
       UI ",\"rca_target_at\":\"2021-01-20T00:00:00Z\""),
    EV("p08", "2021-01-12T10:00:00Z", "P-X", "created",
       UI ",\"category\":\"medium\",\"rca_target_at\":\"2021-01-13T00:00:00Z\","
          "\"significant\":true"),
    EV("p09", "2021-01-21T10:00:00Z", "P-C", "closed", ""),
    EV("p10", "2021-02-01T10:00:00Z", "P-C", "status_changed", UI),
    EV("p10r", "2021-02-10T10:00:00Z", "P-R", "status_changed", ",\"status\":\"pending\""),
    EV("p11", "2021-01-03T10:00:00Z", "P-H", "created", UI ",\"category\":\"high\""),
    EV("p12", "2021-03-31T23:30:00Z", "P-Q", "created",
       UI ",\"category\":\"critical\",\"significant\":true"),
    "flush",
    "@2021-04-20T00:00:00Z",
    EV("p13", "2021-03-20T10:00:00Z", "P-X", "status_changed",
       ",\"status\":\"completed\",\"significant\":false"),
    EV("p13", "2021-03-20T10:00:00Z", "P-X", "status_changed",
       ",\"status\":\"completed\",\"significant\":false"),
    EV("p14", "2021-05-01T10:00:00Z", "P-Q", "closed", ""),
    EV("p15", "2022-01-31T00:00:00Z", "P-S", "status_changed", ",\"status\":\"pending\""),
    "@2022-02-01T00:00:00Z",
    "flush",
};

static void problems__restore_anywhere_changes_nothing(void **state)
{
    struct fixture *f;
    json_t *r;

    (void)state;
    f = restore_check(restore_conf, true, restore_steps,
                      sizeof(restore_steps) / sizeof(*restore_steps), true);
    /* The run did exercise what it means to. Firing: Y and Z together, X, Y again for its new
     * target, the late-created H, the reopened C, Q; resolved: Z, Y (target moved), X, Q. */
    assert_int_equal(fake_sink_alerts(f->sink, "problem_rca_breach", "firing"), 7);
    assert_int_equal(fake_sink_alerts(f->sink, "problem_rca_breach", "resolved"), 4);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(latest_snapshot(f, "2021-Q1"), "revision"), 2);
    assert_int_equal(jint(r, "created"), 5);
    assert_int_equal(jint(r, "rca_breaches/total"), 4);
    assert_int_equal(jint(r, "open_at_end/pending"), 1); /* R, released by the watermark */
    assert_int_equal(jint(r, "significant_open"), 1);    /* C; X no longer, since the late event */
    r = report(f, "2022-Q1");
    assert_int_equal(jint(r, "open_at_end/pending"), 2); /* and S, by the end of input */
    assert_int_equal(jint(r, "open_at_end/total"), 6);
    fixture_destroy(f);
}

/* A restore refuses a state it cannot trust, and says where it is wrong. */
static void restore_refused(json_t *(*spoil)(json_t *mine), const char *want)
{
    struct fixture *f = fixture_create(restore_conf, true);
    struct fixture *g = fixture_create(restore_conf, true);
    json_t *saved;
    struct ow_err err;

    for (size_t i = 0; i < 12; i++) {
        if (restore_steps[i][0] == '{') {
            apply_json(f, restore_steps[i]);
        }
    }
    saved = restore_check_save(f, NULL);
    spoil(json_object_get(json_object_get(saved, "processors"), "problems"));
    assert_int_equal(ow_engine_restore(g->eng, saved, &err), OW_EINVAL);
    if (strstr(err.where, "problems") == NULL || strstr(err.text, want) == NULL) {
        fprintf(stderr, "got %s: %s\n", err.where, err.text);
        fail();
    }
    json_decref(saved);
    fixture_destroy(f);
    fixture_destroy(g);
}

static json_t *first_problem(json_t *mine)
{
    return json_array_get(json_object_get(mine, "problems"), 0);
}

static json_t *spoil_version(json_t *mine)
{
    json_object_del(mine, "v");
    return mine;
}

static json_t *spoil_status(json_t *mine)
{
    json_array_set_new(json_array_get(json_array_get(first_problem(mine), 5), 0), 3,
                       json_integer(7));
    return mine;
}

static json_t *spoil_action(json_t *mine)
{
    /* "disputed" is an action, but not a problem's */
    json_array_set_new(json_array_get(json_array_get(first_problem(mine), 5), 0), 2,
                       json_integer(OW_ACT_DISPUTED));
    return mine;
}

static json_t *spoil_order(json_t *mine)
{
    json_t *evs = json_array_get(first_problem(mine), 5);

    json_array_insert(evs, 0, json_array_get(evs, json_array_size(evs) - 1));
    return mine;
}

static json_t *spoil_twice(json_t *mine)
{
    json_array_append(json_object_get(mine, "problems"), first_problem(mine));
    return mine;
}

static json_t *spoil_target(json_t *mine)
{
    json_array_set_new(first_problem(mine), 4, json_string("2021-01-05T10:00:00Z"));
    return mine;
}

static void problems__malformed_state_is_refused(void **state)
{
    (void)state;
    restore_refused(spoil_version, "expected version 1");
    restore_refused(spoil_status, "problem 0, event 0: field 3: expected an integer -1..2");
    restore_refused(spoil_action, "problem 0, event 0: not a problem action");
    restore_refused(spoil_order, "out of order or repeated");
    restore_refused(spoil_twice, "is there twice");
    restore_refused(spoil_target, "problem 0: field 4: expected an integer");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(problems__every_figure_of_a_quarter, setup, teardown),
        cmocka_unit_test_setup_teardown(problems__gap_quarter_is_zero_filled, setup, teardown),
        cmocka_unit_test_setup_teardown(problems__status_at_the_end_instant_counts_by_occurred_at,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            problems__rca_change_exactly_at_target_is_in_time_one_second_late_breaches, setup,
            teardown),
        cmocka_unit_test(problems__default_target_from_configured_category_hours),
        cmocka_unit_test_setup_teardown(problems__rca_target_replaced_by_a_later_event, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            problems__breach_counts_only_once_past_the_target_by_the_end, setup, teardown),
        cmocka_unit_test_setup_teardown(problems__held_without_created_until_the_hold_passes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(problems__held_problem_counts_at_the_end_of_input, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(problems__late_event_revises_later_closed_quarters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(problems__rca_breach_alert_fires_at_target_and_resolves,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(problems__rca_breach_alert_window_is_the_targets_quarter,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(problems__rca_alert_resolves_when_the_target_is_extended,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(problems__redelivery_past_the_dedup_span_counts_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(problems__go_live_problem_from_an_expired_quarter_is_open,
                                        setup, teardown),
        cmocka_unit_test(problems__shuffled_arrival_gives_the_same_figures),
        cmocka_unit_test(problems__restore_anywhere_changes_nothing),
        cmocka_unit_test(problems__malformed_state_is_refused),
    };

    return cmocka_run_group_tests_name("problems", tests, NULL, NULL);
}
