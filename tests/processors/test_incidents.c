/* test_incidents.c: the RDP Incidents report (AG 2.5.10) and its alerts through the engine, on a
 * fake sink. */
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

/* One incident event; @extra is appended inside the object (",\"severity\":3"). */
static int inc(struct fixture *f, const char *id, const char *at, const char *incident,
               const char *action, const char *extra)
{
    return apply_fmt(f,
                     "{\"event_id\":\"%s\",\"type\":\"incident\",\"schema_version\":1,"
                     "\"occurred_at\":\"%s\",\"incident_id\":\"%s\",\"action\":\"%s\"%s}",
                     id, at, incident, action, extra ? extra : "");
}

static json_t *report(struct fixture *f, const char *window)
{
    json_t *snap = latest_snapshot(f, window);

    assert_non_null(snap);
    return jget(snap, "reports/rdp_incidents");
}

static double jreal(const json_t *root, const char *path)
{
    json_t *v = jget(root, path);

    assert_true(json_is_real(v));
    return json_real_value(v);
}

static void assert_no_ages(const json_t *r, int sev)
{
    char path[64];

    snprintf(path, sizeof(path), "resolved_by_severity/%d/count", sev);
    assert_int_equal(jint(r, path), 0);
    snprintf(path, sizeof(path), "resolved_by_severity/%d/age_days/min", sev);
    assert_true(json_is_null(jget(r, path)));
    snprintf(path, sizeof(path), "resolved_by_severity/%d/age_days/median", sev);
    assert_true(json_is_null(jget(r, path)));
    snprintf(path, sizeof(path), "resolved_by_severity/%d/age_days/max", sev);
    assert_true(json_is_null(jget(r, path)));
}

static void assert_counts3(const json_t *r, const char *path, int opened, int resolved, int open)
{
    char p[128];

    snprintf(p, sizeof(p), "%s/opened", path);
    assert_int_equal(jint(r, p), opened);
    snprintf(p, sizeof(p), "%s/resolved", path);
    assert_int_equal(jint(r, p), resolved);
    snprintf(p, sizeof(p), "%s/open_at_end", path);
    assert_int_equal(jint(r, p), open);
}

static void rdp_incidents__counts_each_rule(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    /* INC-1: opened, resolved (2.5 days), reopened, resolved again in May (31 days). */
    assert_int_equal(inc(f, "e1", "2021-04-01T10:00:00Z", "INC-1", "opened",
                         ",\"severity\":3,\"rdp_id\":\"RDP-A\",\"region\":\"north\""),
                     0);
    assert_int_equal(inc(f, "e2", "2021-04-03T22:00:00Z", "INC-1", "resolved", NULL), 0);
    assert_int_equal(inc(f, "e3", "2021-04-05T09:00:00Z", "INC-1", "reopened", NULL), 0);
    /* INC-2: no region; a second `opened` (another id, another RDP) counts nothing. */
    assert_int_equal(inc(f, "e5", "2021-04-10T08:00:00Z", "INC-2", "opened",
                         ",\"severity\":1,\"rdp_id\":\"RDP-B\""),
                     0);
    assert_int_equal(inc(f, "e6", "2021-04-10T08:05:00Z", "INC-2", "opened",
                         ",\"severity\":1,\"rdp_id\":\"RDP-C\""),
                     0);
    /* INC-3: its region comes from a later `updated` (the first region it was given). */
    assert_int_equal(inc(f, "e7", "2021-04-12T12:00:00Z", "INC-3", "opened",
                         ",\"severity\":4,\"rdp_id\":\"RDP-A\""),
                     0);
    assert_int_equal(
        inc(f, "e8", "2021-04-14T12:00:00Z", "INC-3", "updated", ",\"region\":\"south\""), 0);
    assert_int_equal(inc(f, "e9", "2021-04-20T12:00:00Z", "INC-3", "resolved", NULL), 0);
    assert_int_equal(inc(f, "e4", "2021-05-02T10:00:00Z", "INC-1", "resolved", NULL), 0);
    assert_int_equal(inc(f, "e10", "2021-05-20T08:00:00Z", "INC-2", "resolved", NULL), 0);
    ow_engine_finish(f->eng, true);

    r = report(f, "2021-04");
    assert_string_equal(json_string_value(jget(r, "sec_ref")), "AG 2.5.10");
    assert_true(json_is_null(jget(r, "due")));
    assert_int_equal(jint(r, "opened"), 3);
    assert_int_equal(jint(r, "reopened"), 1);
    assert_int_equal(jint(r, "resolved"), 2);
    assert_int_equal(jint(r, "open_at_end"), 2);
    assert_int_equal(jint(r, "unmatched"), 0);
    assert_int_equal(jint(r, "resolved_by_severity/3/count"), 1);
    assert_true(jreal(r, "resolved_by_severity/3/age_days/median") == 2.5);
    assert_int_equal(jint(r, "resolved_by_severity/4/count"), 1);
    assert_true(jreal(r, "resolved_by_severity/4/age_days/max") == 8.0);
    assert_no_ages(r, 1);
    assert_no_ages(r, 2);
    assert_no_ages(r, 5);
    assert_counts3(r, "by_rdp/RDP-A", 2, 2, 1);
    assert_counts3(r, "by_rdp/RDP-B", 1, 0, 1);
    assert_null(jget(r, "by_rdp/RDP-C"));
    assert_counts3(r, "by_region/north", 1, 1, 1);
    assert_counts3(r, "by_region/central", 0, 0, 0);
    assert_counts3(r, "by_region/south", 1, 1, 0);
    assert_counts3(r, "by_region/unknown", 1, 0, 1);

    r = report(f, "2021-05");
    assert_int_equal(jint(r, "opened"), 0);
    assert_int_equal(jint(r, "reopened"), 0);
    assert_int_equal(jint(r, "resolved"), 2);
    assert_int_equal(jint(r, "open_at_end"), 0);
    /* Age runs from the first opened, whatever happened since. */
    assert_int_equal(jint(r, "resolved_by_severity/3/count"), 1);
    assert_true(jreal(r, "resolved_by_severity/3/age_days/min") == 31.0);
    assert_int_equal(jint(r, "resolved_by_severity/1/count"), 1);
    assert_true(jreal(r, "resolved_by_severity/1/age_days/min") == 40.0);
    assert_counts3(r, "by_rdp/RDP-A", 0, 1, 0);
    assert_counts3(r, "by_rdp/RDP-B", 0, 1, 0);
    assert_counts3(r, "by_region/north", 0, 1, 0);
    assert_counts3(r, "by_region/unknown", 0, 1, 0);
}

static void rdp_incidents__age_stats_odd_and_even_counts(void **state)
{
    struct fixture *f = *state;
    const char *sev2[] = {"2021-04-02T00:00:00Z", "2021-04-05T00:00:00Z", "2021-04-03T00:00:00Z"};
    const char *sev4[] = {"2021-04-06T00:00:00Z", "2021-04-02T00:00:00Z", "2021-04-04T00:00:00Z",
                          "2021-04-03T00:00:00Z"};
    char id[32];
    char ev[32];
    json_t *r;

    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "S2-%d", i);
        snprintf(ev, sizeof(ev), "o2-%d", i);
        inc(f, ev, "2021-04-01T00:00:00Z", id, "opened", ",\"severity\":2,\"rdp_id\":\"R\"");
        snprintf(ev, sizeof(ev), "r2-%d", i);
        inc(f, ev, sev2[i], id, "resolved", NULL);
    }
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof(id), "S4-%d", i);
        snprintf(ev, sizeof(ev), "o4-%d", i);
        inc(f, ev, "2021-04-01T12:00:00Z", id, "opened", ",\"severity\":4,\"rdp_id\":\"R\"");
        snprintf(ev, sizeof(ev), "r4-%d", i);
        inc(f, ev, sev4[i], id, "resolved", NULL);
    }
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-04");
    /* 1, 4, 2 days: the middle one. */
    assert_int_equal(jint(r, "resolved_by_severity/2/count"), 3);
    assert_true(jreal(r, "resolved_by_severity/2/age_days/min") == 1.0);
    assert_true(jreal(r, "resolved_by_severity/2/age_days/median") == 2.0);
    assert_true(jreal(r, "resolved_by_severity/2/age_days/max") == 4.0);
    /* 4.5, 0.5, 2.5, 1.5 days: the mean of the middle two (1.5 and 2.5). */
    assert_int_equal(jint(r, "resolved_by_severity/4/count"), 4);
    assert_true(jreal(r, "resolved_by_severity/4/age_days/min") == 0.5);
    assert_true(jreal(r, "resolved_by_severity/4/age_days/median") == 2.0);
    assert_true(jreal(r, "resolved_by_severity/4/age_days/max") == 4.5);
    assert_int_equal(jint(r, "resolved"), 7);
    assert_int_equal(jint(r, "open_at_end"), 0);
}

static void rdp_incidents__severity_is_the_latest_before_the_resolution(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    inc(f, "a1", "2021-04-01T00:00:00Z", "INC-9", "opened", ",\"severity\":5,\"rdp_id\":\"R\"");
    inc(f, "a2", "2021-04-02T00:00:00Z", "INC-9", "updated", ",\"severity\":2");
    inc(f, "a3", "2021-04-02T12:00:00Z", "INC-9", "updated", NULL); /* no severity: no change */
    inc(f, "a5", "2021-04-04T00:00:00Z", "INC-9", "updated", ",\"severity\":1"); /* after it */
    inc(f, "a4", "2021-04-03T00:00:00Z", "INC-9", "resolved", NULL);
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-04");
    assert_int_equal(jint(r, "resolved_by_severity/2/count"), 1);
    assert_true(jreal(r, "resolved_by_severity/2/age_days/median") == 2.0);
    assert_no_ages(r, 1);
    assert_no_ages(r, 5);
}

static void rdp_incidents__reopen_counts_as_reopened_not_opened(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    inc(f, "b1", "2021-04-10T00:00:00Z", "INC-5", "opened", ",\"severity\":3,\"rdp_id\":\"R\"");
    inc(f, "b2", "2021-04-11T00:00:00Z", "INC-5", "resolved", NULL);
    inc(f, "b3", "2021-05-03T00:00:00Z", "INC-5", "reopened", NULL);
    inc(f, "b4", "2021-05-10T00:00:00Z", "INC-5", "resolved", NULL);
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-04");
    assert_int_equal(jint(r, "opened"), 1);
    assert_int_equal(jint(r, "resolved"), 1);
    assert_int_equal(jint(r, "open_at_end"), 0);
    r = report(f, "2021-05");
    assert_int_equal(jint(r, "opened"), 0);
    assert_int_equal(jint(r, "reopened"), 1);
    assert_int_equal(jint(r, "resolved"), 1);
    assert_true(jreal(r, "resolved_by_severity/3/age_days/max") == 30.0);
    assert_counts3(r, "by_rdp/R", 0, 1, 0);
}

/* The same events in order and with the resolution first: the same report. */
static void rdp_incidents__resolved_before_opened_waits_and_matches(void **state)
{
    struct fixture *f = *state;
    struct fixture *g = fixture_create(NULL, false);
    json_t *r;

    inc(f, "c1", "2021-04-01T10:00:00Z", "INC-1", "opened", ",\"severity\":3,\"rdp_id\":\"A\"");
    inc(f, "c2", "2021-04-03T22:00:00Z", "INC-1", "resolved", ",\"region\":\"central\"");
    ow_engine_finish(f->eng, true);

    inc(g, "c2", "2021-04-03T22:00:00Z", "INC-1", "resolved", ",\"region\":\"central\"");
    inc(g, "c1", "2021-04-01T10:00:00Z", "INC-1", "opened", ",\"severity\":3,\"rdp_id\":\"A\"");
    ow_engine_finish(g->eng, true);

    r = report(g, "2021-04");
    assert_true(json_equal(report(f, "2021-04"), r));
    assert_int_equal(jint(r, "opened"), 1);
    assert_int_equal(jint(r, "resolved"), 1);
    assert_int_equal(jint(r, "unmatched"), 0);
    assert_true(jreal(r, "resolved_by_severity/3/age_days/min") == 2.5);
    assert_counts3(r, "by_region/central", 1, 1, 0);
    fixture_destroy(g);
}

/* A resolution whose opened does not come within the hold (7 days of event time). */
static void rdp_incidents__held_past_the_hold_is_unmatched(void **state)
{
    struct fixture *f = *state;
    struct fixture *g = fixture_create(NULL, false);
    json_t *r;

    /* Still held when the input ends: without --close-all it is counted nowhere yet; with it,
     * no opened can come any more, so the hold is over: unmatched, as after the hold. */
    inc(g, "d1", "2021-04-05T10:00:00Z", "INC-7", "resolved", ",\"region\":\"north\"");
    inc(g, "d2", "2021-04-12T10:59:59Z", "INC-8", "opened", ",\"severity\":2,\"rdp_id\":\"B\"");
    ow_engine_finish(g->eng, false);
    r = report(g, "2021-04");
    assert_int_equal(jint(r, "resolved"), 0);
    assert_int_equal(jint(r, "unmatched"), 0);
    ow_engine_finish(g->eng, true);
    r = report(g, "2021-04");
    assert_int_equal(jint(r, "resolved"), 1);
    assert_int_equal(jint(r, "unmatched"), 1);
    assert_counts3(r, "by_region/north", 0, 1, 0);

    /* The watermark (greatest occurred_at - 1 h) reaches 2021-04-12T10:00Z: the hold is over. */
    inc(f, "d1", "2021-04-05T10:00:00Z", "INC-7", "resolved", ",\"region\":\"north\"");
    inc(f, "d2", "2021-04-12T11:00:00Z", "INC-8", "opened", ",\"severity\":2,\"rdp_id\":\"B\"");
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-04");
    assert_int_equal(jint(r, "opened"), 1);
    assert_int_equal(jint(r, "resolved"), 1);
    assert_int_equal(jint(r, "unmatched"), 1);
    for (int s = 1; s <= 5; s++) {
        assert_no_ages(r, s);
    }
    assert_counts3(r, "by_region/north", 0, 1, 0);
    assert_int_equal(json_object_size(jget(r, "by_rdp")), 1); /* B only: INC-7 has no RDP */
    assert_counts3(r, "by_rdp/B", 1, 0, 1);

    /* Its opened turns up after all: the figures become those of the sorted events (a new
     * revision of the closed April). */
    inc(f, "d0", "2021-04-01T10:00:00Z", "INC-7", "opened", ",\"severity\":3,\"rdp_id\":\"A\"");
    ow_engine_finish(f->eng, false);
    r = report(f, "2021-04");
    assert_int_equal(jint(latest_snapshot(f, "2021-04"), "revision"), 2);
    assert_int_equal(jint(r, "opened"), 2);
    assert_int_equal(jint(r, "resolved"), 1);
    assert_int_equal(jint(r, "unmatched"), 0);
    assert_true(jreal(r, "resolved_by_severity/3/age_days/median") == 4.0);
    fixture_destroy(g);
}

/* A held incident that starts with `updated` is open (since before the data began). */
static void rdp_incidents__unmatched_update_is_open(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    inc(f, "u1", "2021-04-05T10:00:00Z", "INC-U", "updated", ",\"severity\":2");
    inc(f, "u2", "2021-04-20T10:00:00Z", "INC-V", "opened", ",\"severity\":2,\"rdp_id\":\"B\"");
    inc(f, "u3", "2021-05-04T10:00:00Z", "INC-U", "resolved", NULL);
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-04");
    assert_int_equal(jint(r, "opened"), 1);
    assert_int_equal(jint(r, "open_at_end"), 2);
    assert_int_equal(jint(r, "unmatched"), 0);
    r = report(f, "2021-05");
    assert_int_equal(jint(r, "resolved"), 1);
    assert_int_equal(jint(r, "unmatched"), 1);
    assert_int_equal(jint(r, "open_at_end"), 1);
    assert_int_equal(jint(r, "resolved_by_severity/2/count"), 0);
}

/* open_at_end is the state at the window's end instant: a resolution that occurs later, even if
 * it arrives before the window closes, does not change it; one at the end instant itself
 * belongs to the next month. */
static void rdp_incidents__open_at_end_is_as_of_the_end_instant(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    inc(f, "o1", "2021-04-20T10:00:00Z", "INC-1", "opened", ",\"severity\":3,\"rdp_id\":\"A\"");
    inc(f, "o2", "2021-04-21T10:00:00Z", "INC-2", "opened", ",\"severity\":3,\"rdp_id\":\"A\"");
    inc(f, "o3", "2021-05-03T10:00:00Z", "INC-1", "resolved", NULL);
    /* 2021-05-01T00:00:00+01:00, the end of April in London. */
    inc(f, "o4", "2021-04-30T23:00:00Z", "INC-2", "resolved", NULL);
    ow_engine_finish(f->eng, false); /* April still open: revision 0 */
    assert_int_equal(jint(latest_snapshot(f, "2021-04"), "revision"), 0);
    r = report(f, "2021-04");
    assert_int_equal(jint(r, "open_at_end"), 2);
    assert_int_equal(jint(r, "resolved"), 0);
    assert_counts3(r, "by_rdp/A", 2, 0, 2);
    r = report(f, "2021-05");
    assert_int_equal(jint(r, "resolved"), 2);
    assert_int_equal(jint(r, "open_at_end"), 0);
}

/* An event changes the windows whose figures it changes, and only those: an update of a long
 * open incident leaves closed months alone; a late opened changes its own month and the
 * open_at_end of the months after it. */
static void rdp_incidents__late_events_touch_only_changed_windows(void **state)
{
    struct fixture *f = *state;
    json_t *s;

    inc(f, "t1", "2021-03-10T10:00:00Z", "INC-1", "opened", ",\"severity\":5,\"rdp_id\":\"A\"");
    inc(f, "t2", "2021-05-20T10:00:00Z", "INC-2", "opened", ",\"severity\":5,\"rdp_id\":\"A\"");
    /* March (closes 2021-04-15) and April (2021-05-18) are closed now. */
    assert_int_equal(jint(latest_snapshot(f, "2021-04"), "revision"), 1);
    inc(f, "t3", "2021-05-21T10:00:00Z", "INC-1", "updated", ",\"region\":\"north\"");
    inc(f, "t4", "2021-05-22T10:00:00Z", "INC-1", "updated", ",\"severity\":4");
    inc(f, "t5", "2021-05-23T10:00:00Z", "INC-1", "resolved", NULL);
    ow_engine_finish(f->eng, false);
    /* The region of INC-1 was unknown in March and April and is north now (the first region
     * it was ever given): both months changed. */
    assert_int_equal(jint(latest_snapshot(f, "2021-03"), "revision"), 2);
    assert_int_equal(jint(report(f, "2021-03"), "by_region/north/opened"), 1);
    assert_int_equal(jint(report(f, "2021-04"), "by_region/north/open_at_end"), 1);
    s = latest_snapshot(f, "2021-04");
    assert_int_equal(jint(s, "revision"), 2);

    /* A new severity or a later resolution changes nothing in them. */
    inc(f, "t6", "2021-05-24T10:00:00Z", "INC-1", "updated", ",\"severity\":2");
    inc(f, "t7", "2021-05-25T10:00:00Z", "INC-1", "reopened", NULL);
    ow_engine_finish(f->eng, false);
    assert_int_equal(jint(latest_snapshot(f, "2021-03"), "revision"), 2);
    assert_int_equal(jint(latest_snapshot(f, "2021-04"), "revision"), 2);

    /* A late opened in March: March (its own window) and April (open at its end) change. */
    inc(f, "t8", "2021-03-15T10:00:00Z", "INC-3", "opened", ",\"severity\":5,\"rdp_id\":\"B\"");
    ow_engine_finish(f->eng, false);
    s = latest_snapshot(f, "2021-03");
    assert_int_equal(jint(s, "revision"), 3);
    assert_int_equal(jint(s, "reports/rdp_incidents/opened"), 2);
    s = latest_snapshot(f, "2021-04");
    assert_int_equal(jint(s, "revision"), 3);
    assert_int_equal(jint(s, "reports/rdp_incidents/open_at_end"), 2);
    assert_int_equal(jint(report(f, "2021-05"), "open_at_end"), 3);
}

/* A small PRNG, so that the permutations are the same on every run. */
struct tev {
    const char *id;
    const char *at;
    const char *incident;
    const char *action;
    const char *extra;
};

static const struct tev mix[] = {
    {"m1", "2021-04-02T08:00:00Z", "INC-A", "opened",
     ",\"severity\":2,\"rdp_id\":\"RDP-A\",\"region\":\"north\""},
    {"m2", "2021-04-03T08:00:00Z", "INC-A", "updated", ",\"severity\":1"},
    {"m3", "2021-04-04T20:00:00Z", "INC-A", "resolved", NULL},
    {"m4", "2021-04-10T08:00:00Z", "INC-A", "reopened", NULL},
    {"m5", "2021-05-05T08:00:00Z", "INC-A", "resolved", NULL},
    {"m6", "2021-04-15T06:00:00Z", "INC-B", "opened", ",\"severity\":4,\"rdp_id\":\"RDP-B\""},
    {"m7", "2021-04-30T23:30:00Z", "INC-B", "resolved", NULL},
    {"m8", "2021-04-20T12:00:00Z", "INC-C", "resolved", ",\"region\":\"south\""},
    {"m9", "2021-04-28T09:00:00Z", "INC-D", "opened",
     ",\"severity\":5,\"rdp_id\":\"RDP-A\",\"region\":\"central\""},
    {"m10", "2021-05-02T09:00:00Z", "INC-D", "updated", ",\"region\":\"south\""},
    {"m11", "2021-05-10T09:00:00Z", "INC-E", "opened", ",\"severity\":3,\"rdp_id\":\"RDP-C\""},
    {"m12", "2021-05-10T09:01:00Z", "INC-E", "opened", ",\"severity\":3,\"rdp_id\":\"RDP-C\""},
    {"m13", "2021-05-12T21:00:00Z", "INC-E", "resolved", NULL},
    {"m14", "2021-04-25T10:00:00Z", "INC-F", "updated", ",\"severity\":3"},
    {"m15", "2021-05-04T10:00:00Z", "INC-F", "resolved", NULL},
};
#define NMIX (sizeof(mix) / sizeof(mix[0]))

static void replay_mix(struct fixture *f, const size_t *order)
{
    for (size_t i = 0; i < NMIX; i++) {
        const struct tev *e = &mix[order[i]];

        assert_int_equal(inc(f, e->id, e->at, e->incident, e->action, e->extra), 0);
    }
    ow_engine_finish(f->eng, true);
}

static void rdp_incidents__arrival_order_never_changes_the_figures(void **state)
{
    struct fixture *f = *state;
    size_t order[NMIX];
    uint64_t seed = 0x9e3779b97f4a7c15u;
    json_t *april;
    json_t *may;

    for (size_t i = 0; i < NMIX; i++) {
        order[i] = i;
    }
    replay_mix(f, order);
    april = report(f, "2021-04");
    may = report(f, "2021-05");
    assert_int_equal(jint(april, "opened"), 3);
    assert_int_equal(jint(april, "reopened"), 1);
    assert_int_equal(jint(april, "resolved"), 2);
    assert_int_equal(jint(april, "unmatched"), 1);
    assert_int_equal(jint(april, "open_at_end"), 4); /* A (reopened), B, D, F (unmatched) */
    assert_true(jreal(april, "resolved_by_severity/1/age_days/min") == 2.5);
    assert_int_equal(jint(may, "opened"), 1);
    assert_int_equal(jint(may, "resolved"), 4);
    assert_int_equal(jint(may, "unmatched"), 1);
    assert_int_equal(jint(may, "open_at_end"), 1);
    assert_counts3(may, "by_region/south", 0, 0, 1);
    assert_counts3(may, "by_rdp/RDP-A", 0, 1, 1);

    for (int p = 0; p < 12; p++) {
        struct fixture *g = fixture_create(NULL, false);

        for (size_t i = 0; i < NMIX; i++) {
            order[i] = p == 0 ? NMIX - 1 - i : i;
        }
        if (p > 0) {
            test_shuffle(order, NMIX, &seed);
        }
        replay_mix(g, order);
        assert_true(json_equal(april, report(g, "2021-04")));
        assert_true(json_equal(may, report(g, "2021-05")));
        fixture_destroy(g);
    }
}

static const json_t *find_alert(struct fixture *f, const char *alert_id, const char *state)
{
    for (size_t i = 0; i < fake_sink_count(f->sink, OW_STREAM_ALERTS); i++) {
        const json_t *a = fake_sink_get(f->sink, OW_STREAM_ALERTS, i, NULL);

        if (strcmp(json_string_value(jget(a, "alert_id")), alert_id) == 0 &&
            strcmp(json_string_value(jget(a, "state")), state) == 0) {
            return a;
        }
    }
    return NULL;
}

/* An incident is kept after its windows expire: a `reopened` months later still knows its first
 * opened (age, RDP, severity). */
static void rdp_incidents__reopen_months_later_keeps_its_history(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    inc(f, "k1", "2021-01-05T00:00:00Z", "INC-K", "opened", ",\"severity\":2,\"rdp_id\":\"R\"");
    inc(f, "k2", "2021-01-06T00:00:00Z", "INC-K", "resolved", NULL);
    inc(f, "k3", "2021-06-01T00:00:00Z", "INC-L", "opened", ",\"severity\":2,\"rdp_id\":\"S\"");
    assert_int_equal(jint(latest_snapshot(f, "2021-01"), "revision"), 1); /* closed, expired */
    inc(f, "k4", "2021-06-01T12:00:00Z", "INC-K", "reopened", NULL);
    inc(f, "k5", "2021-06-03T00:00:00Z", "INC-K", "resolved", NULL);
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-06");
    assert_int_equal(jint(r, "reopened"), 1);
    assert_int_equal(jint(r, "resolved"), 1);
    assert_int_equal(jint(r, "unmatched"), 0);
    assert_int_equal(jint(r, "resolved_by_severity/2/count"), 1);
    assert_true(jreal(r, "resolved_by_severity/2/age_days/max") == 149.0);
    assert_counts3(r, "by_rdp/R", 0, 1, 0);
    assert_int_equal(jint(r, "open_at_end"), 1); /* INC-L */
}

/* An entity event for an expired window still updates the entity (go-live) but adds to no
 * expired window's counts. */
static void rdp_incidents__go_live_event_for_an_expired_window(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    inc(f, "g1", "2021-09-01T10:00:00Z", "INC-X", "opened", ",\"severity\":3,\"rdp_id\":\"A\"");
    assert_int_equal(
        inc(f, "g2", "2021-01-05T10:00:00Z", "INC-G", "opened", ",\"severity\":3,\"rdp_id\":\"A\""),
        0);
    inc(f, "g3", "2021-09-10T10:00:00Z", "INC-G", "resolved", NULL);
    ow_engine_finish(f->eng, true);
    assert_int_equal(fake_sink_count(f->sink, OW_STREAM_DEADLETTER), 0);
    assert_null(latest_snapshot(f, "2021-01"));
    r = report(f, "2021-09");
    assert_int_equal(jint(r, "opened"), 1);
    assert_int_equal(jint(r, "resolved"), 1);
    assert_int_equal(jint(r, "open_at_end"), 1);
    assert_true(jreal(r, "resolved_by_severity/3/age_days/min") == 248.0);
    /* Its deadline (24 h) fell in January: the alert carries that window. */
    assert_non_null(find_alert(f, "incident_overdue/2021-01/incident_id=INC-G", "firing"));
    assert_non_null(find_alert(f, "incident_overdue/2021-01/incident_id=INC-G", "resolved"));
}

static void rdp_incidents__overdue_fires_once_at_the_deadline(void **state)
{
    struct fixture *f = *state;
    const char *id = "incident_overdue/2021-04/incident_id=INC-1";
    const json_t *a;

    /* Severity 2: 8 hours (the shipped example values). */
    inc(f, "v1", "2021-04-01T10:00:00Z", "INC-1", "opened", ",\"severity\":2,\"rdp_id\":\"A\"");
    ow_engine_advance_watermark(f->eng, ts("2021-04-01T17:59:59Z"), OW_CLOSE_IDLE_CLOCK);
    assert_int_equal(fake_sink_alerts(f->sink, "incident_overdue", NULL), 0);
    ow_engine_advance_watermark(f->eng, ts("2021-04-01T18:00:00Z"), OW_CLOSE_IDLE_CLOCK);
    assert_int_equal(fake_sink_alerts(f->sink, "incident_overdue", "firing"), 1);
    ow_engine_advance_watermark(f->eng, ts("2021-04-02T09:00:00Z"), OW_CLOSE_IDLE_CLOCK);
    ow_engine_advance_watermark(f->eng, ts("2021-04-03T09:00:00Z"), OW_CLOSE_IDLE_CLOCK);
    assert_int_equal(fake_sink_alerts(f->sink, "incident_overdue", NULL), 1);
    a = find_alert(f, id, "firing");
    assert_non_null(a);
    assert_string_equal(json_string_value(jget(a, "event_time")), "2021-04-01T18:00:00Z");
    assert_string_equal(json_string_value(jget(a, "window")), "2021-04");
    assert_string_equal(json_string_value(jget(a, "dims/incident_id")), "INC-1");
    assert_string_equal(json_string_value(jget(a, "severity")), "critical");
    assert_true(json_real_value(jget(a, "threshold")) == 8.0);
    /* Resolved: the alert resolves, once. */
    inc(f, "v2", "2021-04-03T10:00:00Z", "INC-1", "resolved", NULL);
    assert_non_null(find_alert(f, id, "resolved"));
    inc(f, "v3", "2021-04-03T11:00:00Z", "INC-1", "updated", NULL);
    assert_int_equal(fake_sink_alerts(f->sink, "incident_overdue", NULL), 2);

    /* A severity raised after the fact moves the deadline earlier: overdue at once, with the
     * deadline as its event time. */
    inc(f, "w1", "2021-04-10T10:00:00Z", "INC-2", "opened", ",\"severity\":5,\"rdp_id\":\"A\"");
    inc(f, "w2", "2021-04-10T16:00:00Z", "INC-2", "updated", ",\"severity\":1");
    a = find_alert(f, "incident_overdue/2021-04/incident_id=INC-2", "firing");
    assert_non_null(a);
    assert_string_equal(json_string_value(jget(a, "event_time")), "2021-04-10T14:00:00Z");

    /* A deadline in the next month names that month. */
    inc(f, "x1", "2021-04-30T20:00:00Z", "INC-3", "opened", ",\"severity\":3,\"rdp_id\":\"A\"");
    ow_engine_advance_watermark(f->eng, ts("2021-05-01T20:00:00Z"), OW_CLOSE_IDLE_CLOCK);
    assert_non_null(find_alert(f, "incident_overdue/2021-05/incident_id=INC-3", "firing"));
    /* Resolved in time: never overdue. */
    inc(f, "y1", "2021-05-02T10:00:00Z", "INC-4", "opened", ",\"severity\":1,\"rdp_id\":\"A\"");
    inc(f, "y2", "2021-05-02T14:00:00Z", "INC-4", "resolved", NULL);
    ow_engine_advance_watermark(f->eng, ts("2021-05-03T00:00:00Z"), OW_CLOSE_IDLE_CLOCK);
    assert_null(find_alert(f, "incident_overdue/2021-05/incident_id=INC-4", "firing"));
}

static void open_n(struct fixture *f, int first, int n, const char *at)
{
    char ev[32];
    char id[32];

    for (int i = first; i < first + n; i++) {
        snprintf(ev, sizeof(ev), "bo%d", i);
        snprintf(id, sizeof(id), "B-%d", i);
        assert_int_equal(inc(f, ev, at, id, "opened", ",\"severity\":5,\"rdp_id\":\"A\""), 0);
    }
}

static void resolve_one(struct fixture *f, int i, const char *at)
{
    char ev[32];
    char id[32];

    snprintf(ev, sizeof(ev), "br%d", i);
    snprintf(id, sizeof(id), "B-%d", i);
    assert_int_equal(inc(f, ev, at, id, "resolved", NULL), 0);
}

static void rdp_incidents__backlog_fires_over_the_limit_with_hysteresis(void **state)
{
    struct fixture *f = fixture_create("{\"processors\": {\"rdp_incidents\": "
                                       "{\"backlog_max\": 10}}}",
                                       false);
    const char *id = "incident_backlog/2021-04/";
    const json_t *a;

    (void)state;
    open_n(f, 0, 10, "2021-04-05T10:00:00Z");
    assert_int_equal(fake_sink_alerts(f->sink, "incident_backlog", NULL), 0);
    open_n(f, 10, 1, "2021-04-06T10:00:00Z"); /* 11 > 10 */
    a = find_alert(f, id, "firing");
    assert_non_null(a);
    assert_true(json_real_value(jget(a, "value")) == 11.0);
    assert_true(json_real_value(jget(a, "threshold")) == 10.0);
    assert_int_equal(json_object_size(jget(a, "dims")), 0);
    /* Back at 10: still firing (resolves at 9, a tenth below the limit). */
    resolve_one(f, 0, "2021-04-07T10:00:00Z");
    assert_null(find_alert(f, id, "resolved"));
    open_n(f, 11, 1, "2021-04-08T10:00:00Z"); /* 11 again: no second record */
    assert_int_equal(fake_sink_alerts(f->sink, "incident_backlog", "firing"), 1);
    resolve_one(f, 1, "2021-05-02T10:00:00Z");
    resolve_one(f, 2, "2021-05-03T10:00:00Z"); /* 9: resolves, under April's id */
    assert_non_null(find_alert(f, id, "resolved"));
    assert_int_equal(fake_sink_alerts(f->sink, "incident_backlog", NULL), 2);
    fixture_destroy(f);
}

/* The configuration names the place of every mistake; the shipped defaults are the
 * documented ones. */
static void config_error(const char *json, const char *want)
{
    struct ow_conf_errors *errs = ow_conf_errors_create("site.json");
    json_t *doc = json_loads(json, 0, NULL);
    struct ow_config *cfg;
    struct ow_err err;
    struct fake_sink *sink = fake_sink_create();
    struct ow_engine *eng = NULL;
    char msg[600];
    bool found = false;

    assert_non_null(doc);
    cfg = ow_config_from_json(doc, "site.json", ".", "x", errs);
    if (cfg != NULL) {
        eng = ow_engine_create(cfg, fake_sink_sink(sink), false, &err);
        assert_null(eng);
        found = strstr(ow_err_str(&err, msg, sizeof(msg)), want) != NULL;
    }
    for (size_t i = 0; i < ow_conf_errors_count(errs); i++) {
        found = found || strstr(ow_conf_errors_get(errs, i), want) != NULL;
    }
    if (!found) {
        fprintf(stderr, "no error mentions %s\n", want);
    }
    assert_true(found);
    ow_config_destroy(cfg);
    ow_conf_errors_destroy(errs);
    fake_sink_destroy(sink);
    json_decref(doc);
}

static void rdp_incidents__config_errors_and_defaults(void **state)
{
    struct fixture *f = *state;
    char msg[200];

    config_error("{\"processors\": {\"rdp_incidents\": {\"trt_hours\": [4, 8, 24, 72]}}}",
                 "$.processors.rdp_incidents.trt_hours: expected an array of 5 integers");
    config_error("{\"processors\": {\"rdp_incidents\": {\"trt_hours\": [4, 8, 0, 72, 9]}}}",
                 "$.processors.rdp_incidents.trt_hours[2]");
    config_error("{\"processors\": {\"rdp_incidents\": {\"incident_overdue\": "
                 "{\"severity\": \"urgent\"}}}}",
                 "$.processors.rdp_incidents.incident_overdue.severity: expected \"info\"");
    config_error("{\"processors\": {\"rdp_incidents\": {\"incident_overdue\": "
                 "{\"threshold\": 3}}}}",
                 "$.processors.rdp_incidents.incident_overdue.threshold: unknown key");
    config_error("{\"processors\": {\"rdp_incidents\": {\"backlog_max\": 10, "
                 "\"incident_backlog\": {\"resolve\": 11}}}}",
                 "incident_backlog.resolve: expected at most backlog_max (10), got 11");
    /* The shipped file and the built-in defaults agree: a partial object keeps the rule's own
     * severity. */
    fixture_destroy(f);
    f = fixture_create("{\"processors\": {\"rdp_incidents\": {\"incident_overdue\": "
                       "{\"for\": \"0s\"}}}}",
                       false);
    *state = f;
    inc(f, "c1", "2021-04-01T10:00:00Z", "INC-1", "opened", ",\"severity\":1,\"rdp_id\":\"A\"");
    ow_engine_advance_watermark(f->eng, ts("2021-04-01T14:00:00Z"), OW_CLOSE_IDLE_CLOCK);
    snprintf(
        msg, sizeof(msg), "%s",
        json_string_value(jget(fake_sink_get(f->sink, OW_STREAM_ALERTS, 0, NULL), "severity")));
    assert_string_equal(msg, "critical");
}

/* ---- checkpoints ---- */

#define EV(id, at, incident, action, extra)                                                        \
    "{\"event_id\":\"" id "\",\"type\":\"incident\",\"schema_version\":1,"                         \
    "\"occurred_at\":\"" at "\",\"incident_id\":\"" incident "\",\"action\":\"" action "\"" extra  \
    "}"

static const char *const restore_conf =
    "{\"processors\": {\"rdp_incidents\": {\"trt_hours\": [2, 4, 8, 24, 48], \"backlog_max\": 2,"
    " \"incident_backlog\": {\"resolve\": 1}}}}";

/* A run that puts every piece of the processor's state to work: held incidents (one whose
 * opening comes after its hold, one released only by the end of input), deadlines ahead
 * that pass together (the watch list's order, not the ids', orders their alerts), a deadline
 * moved by a new severity, resolve / reopen / overdue again, the backlog episode with its
 * hysteresis, a London month end, a late event into a closed month, a redelivery. */
static const char *const restore_steps[] = {
    EV("e01", "2021-03-01T10:00:00Z", "INC-B", "opened",
       ",\"severity\":2,\"rdp_id\":\"RDP-1\",\"region\":\"north\""),
    EV("e02", "2021-03-01T10:30:00Z", "INC-A", "opened", ",\"severity\":2,\"rdp_id\":\"RDP-2\""),
    EV("e03", "2021-03-01T11:00:00Z", "INC-H", "resolved", ",\"region\":\"south\""),
    EV("e04", "2021-03-01T12:00:00Z", "INC-U", "updated", ",\"severity\":3"),
    EV("e05", "2021-03-01T13:00:00Z", "INC-C", "opened", ",\"severity\":1,\"rdp_id\":\"RDP-1\""),
    "@2021-03-01T16:00:00Z",
    EV("e06", "2021-03-01T17:00:00Z", "INC-C", "updated", ",\"severity\":4"),
    EV("e07", "2021-03-02T09:00:00Z", "INC-B", "resolved", ""),
    EV("e08", "2021-03-03T09:00:00Z", "INC-B", "reopened", ""),
    EV("e09", "2021-03-05T09:00:00Z", "INC-A", "resolved", ""),
    EV("e10", "2021-03-05T10:00:00Z", "INC-C", "resolved", ""),
    EV("e11", "2021-03-09T12:00:00Z", "INC-X", "opened", ",\"severity\":5,\"rdp_id\":\"RDP-3\""),
    EV("e12", "2021-03-01T09:00:00Z", "INC-H", "opened", ",\"severity\":3,\"rdp_id\":\"RDP-2\""),
    EV("e13", "2021-03-31T23:30:00Z", "INC-M", "opened",
       ",\"severity\":5,\"rdp_id\":\"RDP-3\",\"region\":\"central\""),
    EV("e14", "2021-04-02T10:00:00Z", "INC-X", "resolved", ""),
    "flush",
    "@2021-04-20T00:00:00Z",
    EV("e15", "2021-03-20T10:00:00Z", "INC-B", "resolved", ""),
    EV("e15", "2021-03-20T10:00:00Z", "INC-B", "resolved", ""),
    EV("e16", "2021-05-03T10:00:00Z", "INC-M", "resolved", ""),
    EV("e17", "2021-05-04T10:00:00Z", "INC-N", "updated", ",\"severity\":2"),
    "flush",
};

static void rdp_incidents__restore_anywhere_changes_nothing(void **state)
{
    struct fixture *f;
    json_t *r;

    (void)state;
    f = restore_check(restore_conf, true, restore_steps,
                      sizeof(restore_steps) / sizeof(*restore_steps), true);
    /* The run did exercise what it means to. */
    assert_int_equal(fake_sink_alerts(f->sink, "incident_overdue", "firing"), 7);
    assert_int_equal(fake_sink_alerts(f->sink, "incident_overdue", "resolved"), 7);
    /* Two backlog episodes: B, A, C open; then B, X and the released U. */
    assert_int_equal(fake_sink_alerts(f->sink, "incident_backlog", "firing"), 2);
    assert_int_equal(fake_sink_alerts(f->sink, "incident_backlog", "resolved"), 2);
    r = report(f, "2021-03");
    assert_true(jint(latest_snapshot(f, "2021-03"), "revision") >= 2);
    assert_int_equal(jint(r, "opened"), 5);    /* B, A, C, X, H (its late opening) */
    assert_int_equal(jint(r, "unmatched"), 0); /* H matched after all */
    r = report(f, "2021-05");
    assert_int_equal(jint(r, "unmatched"), 0);
    assert_int_equal(jint(r, "open_at_end"), 2); /* U (unmatched update) and N (end of input) */
    fixture_destroy(f);
}

/* A restore refuses a state it cannot trust, and says where it is wrong. */
static void restore_refused(const char *path_key, json_t *(*spoil)(json_t *mine), const char *want)
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
    spoil(json_object_get(json_object_get(saved, "processors"), path_key));
    assert_int_equal(ow_engine_restore(g->eng, saved, &err), OW_EINVAL);
    if (strstr(err.where, "rdp_incidents") == NULL || strstr(err.text, want) == NULL) {
        fprintf(stderr, "got %s: %s\n", err.where, err.text);
        fail();
    }
    json_decref(saved);
    fixture_destroy(f);
    fixture_destroy(g);
}

static json_t *first_event(json_t *mine)
{
    return json_array_get(json_array_get(json_array_get(json_object_get(mine, "incidents"), 0), 6),
                          0);
}

static json_t *spoil_version(json_t *mine)
{
    json_object_set_new(mine, "v", json_integer(2));
    return mine;
}

static json_t *spoil_action(json_t *mine)
{
    json_array_set_new(first_event(mine), 3, json_integer(42));
    return mine;
}

static json_t *spoil_order(json_t *mine)
{
    json_t *evs = json_array_get(json_array_get(json_object_get(mine, "incidents"), 0), 6);

    json_array_append(evs, json_array_get(evs, 0)); /* its first event again, last */
    return mine;
}

static json_t *spoil_watch(json_t *mine)
{
    json_array_append_new(json_object_get(mine, "watch"), json_string("INC-NOBODY"));
    return mine;
}

static json_t *spoil_flag(json_t *mine)
{
    json_array_set_new(json_array_get(json_object_get(mine, "incidents"), 0), 1, json_integer(1));
    return mine;
}

static json_t *spoil_missing(json_t *mine)
{
    json_object_del(mine, "next_check");
    return mine;
}

static void rdp_incidents__malformed_state_is_refused(void **state)
{
    (void)state;
    restore_refused("rdp_incidents", spoil_version, "expected version 1");
    restore_refused("rdp_incidents", spoil_action, "incident 0, event 0: field 3");
    restore_refused("rdp_incidents", spoil_order, "out of order or repeated");
    restore_refused("rdp_incidents", spoil_watch, "not a saved incident");
    restore_refused("rdp_incidents", spoil_flag, "incident 0: field 1: expected true or false");
    restore_refused("rdp_incidents", spoil_missing, "next_check");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rdp_incidents__counts_each_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(rdp_incidents__age_stats_odd_and_even_counts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rdp_incidents__severity_is_the_latest_before_the_resolution,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(rdp_incidents__reopen_counts_as_reopened_not_opened, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rdp_incidents__resolved_before_opened_waits_and_matches,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(rdp_incidents__held_past_the_hold_is_unmatched, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rdp_incidents__unmatched_update_is_open, setup, teardown),
        cmocka_unit_test_setup_teardown(rdp_incidents__open_at_end_is_as_of_the_end_instant, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rdp_incidents__late_events_touch_only_changed_windows,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(rdp_incidents__arrival_order_never_changes_the_figures,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(rdp_incidents__reopen_months_later_keeps_its_history, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rdp_incidents__go_live_event_for_an_expired_window, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rdp_incidents__overdue_fires_once_at_the_deadline, setup,
                                        teardown),
        cmocka_unit_test(rdp_incidents__backlog_fires_over_the_limit_with_hysteresis),
        cmocka_unit_test(rdp_incidents__restore_anywhere_changes_nothing),
        cmocka_unit_test(rdp_incidents__malformed_state_is_refused),
        cmocka_unit_test_setup_teardown(rdp_incidents__config_errors_and_defaults, setup, teardown),
    };

    return cmocka_run_group_tests_name("rdp_incidents", tests, NULL, NULL);
}
