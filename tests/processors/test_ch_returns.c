/* test_ch_returns.c: the Communications Hub returns report (F9.15) and the ch_fault_share
 * alert through the engine, on a fake sink. */
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

/* Format one ch_return event into @buf. @attr and @fault may be NULL. */
static void ret_text(char *buf, size_t len, const char *id, const char *at, const char *ch,
                     const char *action, const char *attr, const char *fault, const char *region)
{
    char extra[160] = "";

    if (attr != NULL && fault != NULL) {
        snprintf(extra, sizeof(extra), ",\"attribution\":\"%s\",\"fault\":\"%s\"", attr, fault);
    } else if (attr != NULL) {
        snprintf(extra, sizeof(extra), ",\"attribution\":\"%s\"", attr);
    }
    snprintf(buf, len,
             "{\"event_id\":\"%s\",\"type\":\"ch_return\",\"schema_version\":1,"
             "\"occurred_at\":\"%s\",\"ch_id\":\"%s\",\"action\":\"%s\",\"region\":\"%s\"%s}",
             id, at, ch, action, region, extra);
}

static int ret(struct fixture *f, const char *id, const char *at, const char *ch,
               const char *action, const char *attr, const char *fault, const char *region)
{
    char buf[1024];

    ret_text(buf, sizeof(buf), id, at, ch, action, attr, fault, region);
    return apply_json(f, buf);
}

static int closed_dcc(struct fixture *f, const char *id, const char *at, const char *ch,
                      const char *fault, const char *region)
{
    return ret(f, id, at, ch, "closed", "dcc", fault, region);
}

static int closed_su(struct fixture *f, const char *id, const char *at, const char *ch,
                     const char *region)
{
    return ret(f, id, at, ch, "closed", "service_user", NULL, region);
}

static json_t *report(struct fixture *f, const char *window)
{
    json_t *snap = latest_snapshot(f, window);

    assert_non_null(snap);
    return jget(snap, "reports/ch_returns");
}

static double real_at(const json_t *r, const char *path)
{
    json_t *v = jget(r, path);

    assert_true(json_is_real(v));
    return json_real_value(v);
}

static void ch_returns__every_figure_by_csp_region_fault_and_month(void **state)
{
    struct fixture *f = *state;
    const char *faults[] = {"aerial",           "led",    "manufacturing_defect",
                            "sm_han_interface", "sm_wan", "total"};
    const char *months[] = {"2021-01", "2021-02", "2021-03", "total"};
    json_t *r;

    /* CSP N: 1 SU, 2 DCC (aerial Jan, sm_wan Mar); CSP C&S: central 1 DCC led Feb, 1 SU;
     * south 1 DCC aerial Feb (local time: 2021-03-31T23:30Z is April, so not here). */
    assert_int_equal(closed_su(f, "e1", "2021-01-05T10:00:00Z", "CH-1", "north"), 0);
    assert_int_equal(closed_dcc(f, "e2", "2021-01-06T10:00:00Z", "CH-2", "aerial", "north"), 0);
    assert_int_equal(closed_dcc(f, "e3", "2021-03-31T22:59:59Z", "CH-3", "sm_wan", "north"), 0);
    assert_int_equal(closed_dcc(f, "e4", "2021-02-01T00:00:00Z", "CH-4", "led", "central"), 0);
    assert_int_equal(closed_su(f, "e5", "2021-02-02T10:00:00Z", "CH-5", "central"), 0);
    assert_int_equal(closed_dcc(f, "e6", "2021-02-03T10:00:00Z", "CH-6", "aerial", "south"), 0);
    assert_int_equal(closed_dcc(f, "e7", "2021-03-31T23:30:00Z", "CH-7", "aerial", "south"), 0);
    /* A return that is not closed is informational. */
    assert_int_equal(ret(f, "e8", "2021-01-07T10:00:00Z", "CH-8", "returned", NULL, NULL, "north"),
                     0);
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(r, "closed"), 6);
    assert_int_equal(jint(r, "service_user"), 2);
    assert_int_equal(jint(r, "dcc"), 4);
    assert_int_equal(jint(r, "disputed_open"), 0);
    assert_string_equal(json_string_value(jget(r, "sec_ref")), "F9.15");
    assert_true(json_is_null(jget(r, "due")));

    assert_int_equal(jint(r, "by_csp/csp_n/closed"), 3);
    assert_int_equal(jint(r, "by_csp/csp_n/service_user"), 1);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc"), 2);
    assert_true(real_at(r, "by_csp/csp_n/share_percent") == 100.0 * 3 / 6);
    assert_int_equal(jint(r, "by_csp/csp_cs/closed"), 3);
    assert_int_equal(jint(r, "by_csp/csp_cs/service_user"), 1);
    assert_int_equal(jint(r, "by_csp/csp_cs/dcc"), 2);
    assert_true(real_at(r, "by_csp/csp_cs/share_percent") == 50.0);

    /* Every fault and month present, zeros included; totals add up both ways. */
    for (size_t i = 0; i < 6; i++) {
        for (size_t m = 0; m < 4; m++) {
            char path[128];

            snprintf(path, sizeof(path), "by_csp/csp_n/dcc_faults/%s/%s", faults[i], months[m]);
            (void)jint(r, path);
            snprintf(path, sizeof(path), "by_csp/csp_cs/dcc_faults/%s/%s", faults[i], months[m]);
            (void)jint(r, path);
        }
        assert_int_equal(json_object_size(jget(r, "by_csp/csp_n/dcc_faults/total")), 4);
    }
    assert_int_equal(json_object_size(jget(r, "by_csp/csp_n/dcc_faults")), 6);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/aerial/2021-01"), 1);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/aerial/total"), 1);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/sm_wan/2021-03"), 1);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/led/2021-02"), 0);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/total/2021-01"), 1);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/total/2021-02"), 0);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/total/2021-03"), 1);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/total/total"), 2);
    assert_int_equal(jint(r, "by_csp/csp_cs/dcc_faults/led/2021-02"), 1);
    assert_int_equal(jint(r, "by_csp/csp_cs/dcc_faults/aerial/2021-02"), 1);
    assert_int_equal(jint(r, "by_csp/csp_cs/dcc_faults/aerial/2021-03"), 0);
    assert_int_equal(jint(r, "by_csp/csp_cs/dcc_faults/total/2021-02"), 2);
    assert_int_equal(jint(r, "by_csp/csp_cs/dcc_faults/total/total"), 2);

    assert_int_equal(jint(r, "by_region/north/closed"), 3);
    assert_int_equal(jint(r, "by_region/north/service_user"), 1);
    assert_int_equal(jint(r, "by_region/north/dcc"), 2);
    assert_int_equal(jint(r, "by_region/central/closed"), 2);
    assert_int_equal(jint(r, "by_region/central/service_user"), 1);
    assert_int_equal(jint(r, "by_region/central/dcc"), 1);
    assert_int_equal(jint(r, "by_region/south/closed"), 1);
    assert_int_equal(jint(r, "by_region/south/service_user"), 0);
    assert_int_equal(jint(r, "by_region/south/dcc"), 1);

    /* The BST boundary: 23:30Z on 31 March is April, so Q2 and its months. */
    r = report(f, "2021-Q2");
    assert_int_equal(jint(r, "closed"), 1);
    assert_int_equal(jint(r, "by_csp/csp_cs/dcc_faults/aerial/2021-04"), 1);
    assert_int_equal(jint(r, "by_csp/csp_cs/dcc_faults/total/total"), 1);
    assert_true(json_is_null(jget(r, "by_csp/csp_n/share_percent")) == false);
    assert_true(real_at(r, "by_csp/csp_n/share_percent") == 0.0);
}

static void ch_returns__gap_quarter_is_zero_filled(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    closed_su(f, "e1", "2021-02-05T10:00:00Z", "CH-1", "north");
    closed_su(f, "e2", "2021-08-05T10:00:00Z", "CH-2", "north");
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-Q2");
    assert_int_equal(jint(r, "closed"), 0);
    assert_int_equal(jint(r, "disputed_open"), 0);
    assert_true(json_is_null(jget(r, "by_csp/csp_n/share_percent")));
    assert_true(json_is_null(jget(r, "by_csp/csp_cs/share_percent")));
    assert_int_equal(jint(r, "by_csp/csp_cs/dcc_faults/sm_han_interface/2021-05"), 0);
    assert_int_equal(jint(r, "by_csp/csp_cs/dcc_faults/total/total"), 0);
    assert_int_equal(jint(r, "by_region/south/closed"), 0);
}

static void ch_returns__disputed_left_out_until_resolved(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    closed_dcc(f, "e1", "2021-01-05T10:00:00Z", "CH-1", "aerial", "north");
    closed_su(f, "e2", "2021-01-06T10:00:00Z", "CH-2", "north");
    ret(f, "e3", "2021-01-07T10:00:00Z", "CH-1", "disputed", NULL, NULL, "north");
    ret(f, "e4", "2021-01-08T10:00:00Z", "CH-2", "disputed", NULL, NULL, "north");
    ow_engine_finish(f->eng, false);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(r, "closed"), 0);
    assert_int_equal(jint(r, "dcc"), 0);
    assert_int_equal(jint(r, "service_user"), 0);
    assert_int_equal(jint(r, "disputed_open"), 2);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/aerial/total"), 0);
    assert_int_equal(jint(r, "by_region/north/closed"), 0);

    /* The resolution's attribution and fault are final: CH-1 becomes No Fault Found, CH-2
     * a DCC sm_wan fault, in January (the month of the original closed). */
    ret(f, "e5", "2021-02-10T10:00:00Z", "CH-1", "dispute_resolved", "service_user", NULL, "north");
    ret(f, "e6", "2021-03-10T10:00:00Z", "CH-2", "dispute_resolved", "dcc", "sm_wan", "north");
    ow_engine_finish(f->eng, false);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(r, "closed"), 2);
    assert_int_equal(jint(r, "service_user"), 1);
    assert_int_equal(jint(r, "dcc"), 1);
    assert_int_equal(jint(r, "disputed_open"), 0);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/aerial/total"), 0);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/sm_wan/2021-01"), 1);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/sm_wan/2021-03"), 0);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/total/total"), 1);
}

static void ch_returns__dispute_resolved_late_revises_the_original_closed_window(void **state)
{
    struct fixture *f = *state;
    json_t *snap;

    closed_dcc(f, "e1", "2021-02-10T10:00:00Z", "CH-1", "aerial", "north");
    closed_su(f, "e2", "2021-02-11T10:00:00Z", "CH-2", "central");
    ret(f, "e3", "2021-03-20T10:00:00Z", "CH-1", "disputed", NULL, NULL, "north");
    /* Q1 closes at 2021-04-17T00:00+01:00 (10 Working Days, Easter included). */
    closed_su(f, "e4", "2021-04-20T10:00:00Z", "CH-3", "south");
    snap = latest_snapshot(f, "2021-Q1");
    assert_non_null(snap);
    assert_int_equal(jint(snap, "revision"), 1);
    assert_true(json_is_true(jget(snap, "final")));
    assert_int_equal(jint(snap, "reports/ch_returns/closed"), 1);
    assert_int_equal(jint(snap, "reports/ch_returns/disputed_open"), 1);

    /* Resolved in Q2: counts in Q1, the window of the original closed; a new revision. */
    ret(f, "e5", "2021-04-25T10:00:00Z", "CH-1", "dispute_resolved", "dcc", "led", "north");
    ow_engine_finish(f->eng, false);
    snap = latest_snapshot(f, "2021-Q1");
    assert_int_equal(jint(snap, "revision"), 2);
    assert_int_equal(jint(snap, "late_events"), 1);
    assert_int_equal(jint(snap, "reports/ch_returns/closed"), 2);
    assert_int_equal(jint(snap, "reports/ch_returns/dcc"), 1);
    assert_int_equal(jint(snap, "reports/ch_returns/disputed_open"), 0);
    assert_int_equal(jint(snap, "reports/ch_returns/by_csp/csp_n/dcc_faults/led/2021-02"), 1);
    assert_int_equal(jint(snap, "reports/ch_returns/by_csp/csp_n/dcc_faults/aerial/2021-02"), 0);
    snap = latest_snapshot(f, "2021-Q2");
    assert_int_equal(jint(snap, "reports/ch_returns/closed"), 1);
    assert_int_equal(jint(snap, "reports/ch_returns/dcc"), 0);
}

static void ch_returns__late_dispute_revises_a_closed_window(void **state)
{
    struct fixture *f = *state;
    json_t *snap;

    closed_dcc(f, "e1", "2021-02-10T10:00:00Z", "CH-1", "aerial", "north");
    closed_su(f, "e2", "2021-04-20T10:00:00Z", "CH-2", "south");
    assert_int_equal(jint(latest_snapshot(f, "2021-Q1"), "reports/ch_returns/closed"), 1);
    /* Disputed in Q2: the Q1 record is left out from now on. */
    ret(f, "e3", "2021-04-21T10:00:00Z", "CH-1", "disputed", NULL, NULL, "north");
    ow_engine_finish(f->eng, false);
    snap = latest_snapshot(f, "2021-Q1");
    assert_int_equal(jint(snap, "revision"), 2);
    assert_int_equal(jint(snap, "reports/ch_returns/closed"), 0);
    assert_int_equal(jint(snap, "reports/ch_returns/disputed_open"), 1);
    assert_int_equal(jint(latest_snapshot(f, "2021-Q2"), "reports/ch_returns/disputed_open"), 0);
}

static void ch_returns__hub_returned_twice(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    /* Two return records of one hub; the dispute after the second closed applies to the
     * second (the latest closed at or before it), at the same instant included. */
    closed_dcc(f, "e1", "2021-01-10T10:00:00Z", "CH-1", "aerial", "north");
    ret(f, "e2", "2021-01-20T10:00:00Z", "CH-1", "returned", NULL, NULL, "north");
    ret(f, "e3", "2021-02-20T10:00:00Z", "CH-1", "disputed", NULL, NULL, "north");
    closed_dcc(f, "e4", "2021-02-20T10:00:00Z", "CH-1", "sm_wan", "north");
    ow_engine_finish(f->eng, false);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(r, "closed"), 1);
    assert_int_equal(jint(r, "disputed_open"), 1);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/aerial/2021-01"), 1);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/sm_wan/2021-02"), 0);

    ret(f, "e5", "2021-03-01T10:00:00Z", "CH-1", "dispute_resolved", "service_user", NULL, "north");
    /* Returned a third time, in Q2: a record of its own. */
    closed_dcc(f, "e6", "2021-05-01T10:00:00Z", "CH-1", "manufacturing_defect", "north");
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(r, "closed"), 2);
    assert_int_equal(jint(r, "service_user"), 1);
    assert_int_equal(jint(r, "dcc"), 1);
    assert_int_equal(jint(r, "disputed_open"), 0);
    r = report(f, "2021-Q2");
    assert_int_equal(jint(r, "closed"), 1);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/manufacturing_defect/2021-05"), 1);
}

static void ch_returns__dispute_before_any_closed_applies_to_nothing(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    ret(f, "e1", "2021-01-05T10:00:00Z", "CH-1", "disputed", NULL, NULL, "north");
    closed_su(f, "e2", "2021-01-06T10:00:00Z", "CH-1", "north");
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(r, "closed"), 1);
    assert_int_equal(jint(r, "disputed_open"), 0);
}

/* A fixed mixture of hubs over two quarters: closes, disputes, resolutions, returns. */
static const char *const mix[][7] = {
    /* id, at, ch, action, attribution, fault, region */
    {"m01", "2021-01-03T09:00:00Z", "H1", "closed", "dcc", "aerial", "north"},
    {"m02", "2021-01-04T09:00:00Z", "H1", "disputed", NULL, NULL, "north"},
    {"m03", "2021-02-04T09:00:00Z", "H1", "dispute_resolved", "dcc", "led", "north"},
    {"m04", "2021-01-05T09:00:00Z", "H2", "closed", "service_user", NULL, "central"},
    {"m05", "2021-03-05T09:00:00Z", "H2", "closed", "dcc", "sm_han_interface", "central"},
    {"m06", "2021-03-06T09:00:00Z", "H2", "disputed", NULL, NULL, "central"},
    {"m07", "2021-02-07T09:00:00Z", "H3", "returned", NULL, NULL, "south"},
    {"m08", "2021-02-08T09:00:00Z", "H3", "closed", "dcc", "sm_wan", "south"},
    {"m09", "2021-04-08T09:00:00Z", "H3", "disputed", NULL, NULL, "south"},
    {"m10", "2021-04-28T09:00:00Z", "H3", "dispute_resolved", "service_user", NULL, "south"},
    {"m11", "2021-04-09T09:00:00Z", "H4", "closed", "dcc", "manufacturing_defect", "north"},
    {"m12", "2021-05-09T09:00:00Z", "H4", "closed", "dcc", "aerial", "north"},
    {"m13", "2021-05-09T09:00:00Z", "H4", "disputed", NULL, NULL, "north"},
    {"m14", "2021-03-31T23:30:00Z", "H5", "closed", "dcc", "sm_wan", "south"},
    {"m15", "2021-01-15T09:00:00Z", "H6", "closed", "service_user", NULL, "north"},
    {"m16", "2021-02-15T09:00:00Z", "H6", "closed", "dcc", "led", "north"},
    {"m17", "2021-02-16T09:00:00Z", "H6", "dispute_resolved", "dcc", "aerial", "north"},
    {"m18", "2021-06-16T09:00:00Z", "H7", "closed", "service_user", NULL, "central"},
};
#define NMIX (sizeof(mix) / sizeof(mix[0]))

/* Apply the mixture in the order @perm, finish, and return both quarters' reports as one
 * canonical JSON text (caller frees). */
static char *run_mix(const size_t *perm)
{
    struct fixture *f = fixture_create(NULL, false);
    json_t *both = json_object();
    char *text;

    for (size_t i = 0; i < NMIX; i++) {
        const char *const *e = mix[perm[i]];
        char buf[1024];

        ret_text(buf, sizeof(buf), e[0], e[1], e[2], e[3], e[4], e[5], e[6]);
        assert_int_equal(apply_json(f, buf), 0);
    }
    ow_engine_finish(f->eng, true);
    json_object_set(both, "q1", report(f, "2021-Q1"));
    json_object_set(both, "q2", report(f, "2021-Q2"));
    text = json_dumps(both, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(both);
    fixture_destroy(f);
    return text;
}

static void ch_returns__shuffled_arrival_gives_the_same_figures(void **state)
{
    size_t perm[NMIX];
    uint64_t seed = 0x9e3779b97f4a7c15u;
    char *expected;
    json_t *q;

    (void)state;
    for (size_t i = 0; i < NMIX; i++) {
        perm[i] = i;
    }
    expected = run_mix(perm);
    q = json_loads(expected, 0, NULL);
    /* The figures of the in-order run, by hand: Q1 records H1 (led after resolution, in the
     * month of its closed), H2 x2
     * (su; disputed), H3 (disputed in Q2 then resolved su), H6 x2 (su; aerial after
     * resolution). */
    assert_int_equal(jint(q, "q1/closed"), 5);
    assert_int_equal(jint(q, "q1/service_user"), 3);
    assert_int_equal(jint(q, "q1/dcc"), 2);
    assert_int_equal(jint(q, "q1/disputed_open"), 1);
    assert_int_equal(jint(q, "q1/by_csp/csp_n/dcc_faults/led/2021-01"), 1);
    assert_int_equal(jint(q, "q1/by_csp/csp_n/dcc_faults/aerial/2021-02"), 1);
    assert_int_equal(jint(q, "q1/by_csp/csp_n/dcc_faults/aerial/2021-01"), 0);
    assert_int_equal(jint(q, "q2/closed"), 3);
    assert_int_equal(jint(q, "q2/dcc"), 2);
    assert_int_equal(jint(q, "q2/disputed_open"), 1);
    assert_int_equal(jint(q, "q2/by_csp/csp_cs/dcc_faults/sm_wan/2021-04"), 1);
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

static void ch_returns__fault_share_fires_after_min_closed_with_hysteresis(void **state)
{
    struct fixture *f = *state;
    const char *id = "ch_fault_share/2021-Q1/csp=csp_n";
    char eid[32];
    char ch[32];
    char at[40];
    int k = 0;
    json_t *rec;

    /* 49 closed returns, 20 of them DCC: under the minimum of 50, nothing fires. */
    for (int i = 0; i < 49; i++, k++) {
        snprintf(eid, sizeof(eid), "n%d", k);
        snprintf(ch, sizeof(ch), "CH-%d", k);
        snprintf(at, sizeof(at), "2021-01-10T10:%02d:%02dZ", k / 60, k % 60);
        if (i % 5 < 2) {
            closed_dcc(f, eid, at, ch, "aerial", "north");
        } else {
            closed_su(f, eid, at, ch, "north");
        }
    }
    assert_int_equal(fake_sink_alerts(f->sink, "ch_fault_share", NULL), 0);
    /* The 50th (SU): 20/50 = 40% >= 20%: fires now, for CSP N only. */
    snprintf(at, sizeof(at), "2021-01-10T10:%02d:%02dZ", k / 60, k % 60);
    closed_su(f, "n49", at, "CH-49", "north");
    k++;
    assert_int_equal(fake_sink_alerts(f->sink, "ch_fault_share", "firing"), 1);
    rec = fake_sink_latest(f->sink, OW_STREAM_ALERTS, id);
    assert_non_null(rec);
    assert_string_equal(json_string_value(jget(rec, "state")), "firing");
    assert_string_equal(json_string_value(jget(rec, "dims/csp")), "csp_n");
    assert_string_equal(json_string_value(jget(rec, "window")), "2021-Q1");
    assert_true(json_real_value(jget(rec, "value")) == 40.0);
    assert_true(json_real_value(jget(rec, "threshold")) == 20.0);
    assert_string_equal(json_string_value(jget(rec, "event_time")), at);

    /* Dilute to 20/101 = 19.8%: below 20 but not below the resolve line (18): still firing. */
    for (int i = 0; i < 51; i++, k++) {
        snprintf(eid, sizeof(eid), "n%d", k);
        snprintf(ch, sizeof(ch), "CH-%d", k);
        snprintf(at, sizeof(at), "2021-01-11T10:%02d:%02dZ", k / 60, k % 60);
        closed_su(f, eid, at, ch, "north");
    }
    assert_int_equal(fake_sink_alerts(f->sink, "ch_fault_share", "resolved"), 0);
    /* 20/112 = 17.9%: resolved, once. */
    for (int i = 0; i < 11; i++, k++) {
        snprintf(eid, sizeof(eid), "n%d", k);
        snprintf(ch, sizeof(ch), "CH-%d", k);
        snprintf(at, sizeof(at), "2021-01-12T10:%02d:%02dZ", k / 60, k % 60);
        closed_su(f, eid, at, ch, "north");
    }
    assert_int_equal(fake_sink_alerts(f->sink, "ch_fault_share", "resolved"), 1);
    assert_string_equal(
        json_string_value(jget(fake_sink_latest(f->sink, OW_STREAM_ALERTS, id), "state")),
        "resolved");
    assert_int_equal(fake_sink_alerts(f->sink, "ch_fault_share", "firing"), 1);
    /* CSP C&S never had returns: no alert of its own. */
    assert_null(fake_sink_latest(f->sink, OW_STREAM_ALERTS, "ch_fault_share/2021-Q1/csp=csp_cs"));
}

static void ch_returns__fault_share_threshold_is_configurable(void **state)
{
    struct fixture *f = fixture_create("{\"processors\":{\"ch_returns\":{\"ch_fault_share\":"
                                       "{\"threshold\":50,\"resolve\":40,\"min_closed\":2}}}}",
                                       false);

    (void)state;
    closed_dcc(f, "e1", "2021-01-10T10:00:00Z", "CH-1", "aerial", "south");
    closed_su(f, "e2", "2021-01-10T11:00:00Z", "CH-2", "central");
    /* 1/2 = 50%: at the threshold fires. */
    assert_int_equal(fake_sink_alerts(f->sink, "ch_fault_share", "firing"), 1);
    assert_non_null(
        fake_sink_latest(f->sink, OW_STREAM_ALERTS, "ch_fault_share/2021-Q1/csp=csp_cs"));
    /* A dispute takes the DCC return out: 0/1 resolves it. */
    ret(f, "e3", "2021-01-11T10:00:00Z", "CH-1", "disputed", NULL, NULL, "south");
    assert_int_equal(fake_sink_alerts(f->sink, "ch_fault_share", "resolved"), 1);
    fixture_destroy(f);
}

static void ch_returns__expired_window_counts_nowhere_and_is_no_dead_letter(void **state)
{
    struct fixture *f = *state;
    const struct ow_engine_stats *st = ow_engine_stats(f->eng);

    ret(f, "e1", "2021-01-10T10:00:00Z", "CH-1", "disputed", NULL, NULL, "north");
    closed_su(f, "e2", "2021-12-10T10:00:00Z", "CH-2", "north");
    /* Q1 2021 is past its retention (2 quarters past its close): the event still applies to
     * the hub but adds to no count, and it is not a dead letter. */
    assert_int_equal(closed_dcc(f, "e3", "2021-01-05T10:00:00Z", "CH-1", "aerial", "north"), 0);
    assert_int_equal(
        ret(f, "e4", "2021-12-11T10:00:00Z", "CH-1", "dispute_resolved", "dcc", "aerial", "north"),
        0);
    assert_int_equal(st->dead_letters, 0);
    ow_engine_finish(f->eng, true);
    assert_int_equal(jint(report(f, "2021-Q4"), "closed"), 1);
    assert_int_equal(jint(report(f, "2021-Q4"), "dcc"), 0);
}

static void ch_returns__redelivery_past_the_dedup_span_counts_once(void **state)
{
    struct fixture *f = *state;
    json_t *r;

    closed_dcc(f, "e1", "2021-01-05T10:00:00Z", "CH-1", "aerial", "north");
    closed_su(f, "e2", "2021-03-01T10:00:00Z", "CH-2", "north");
    /* e1 again, weeks of event time later: beyond the engine's id memory (7 days), but the
     * hub's history knows it. */
    assert_int_equal(closed_dcc(f, "e1", "2021-01-05T10:00:00Z", "CH-1", "aerial", "north"), 0);
    ow_engine_finish(f->eng, true);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(r, "closed"), 2);
    assert_int_equal(jint(r, "dcc"), 1);
}

/* ---- checkpoints ---- */

#define EV(id, at, ch, action, region, extra)                                                      \
    "{\"event_id\":\"" id "\",\"type\":\"ch_return\",\"schema_version\":1,"                        \
    "\"occurred_at\":\"" at "\",\"ch_id\":\"" ch "\",\"action\":\"" action                         \
    "\",\"region\":\"" region "\"" extra "}"
#define DCC(fault) ",\"attribution\":\"dcc\",\"fault\":\"" fault "\""
#define SU ",\"attribution\":\"service_user\""

static const char *const restore_conf =
    "{\"processors\": {\"ch_returns\": {\"ch_fault_share\": {\"threshold\": 50, "
    "\"min_closed\": 2}}}}";

/* A run that puts the hubs' histories to work: the fault share firing, resolving and firing
 * again, a dispute and its resolution after the quarter closed, a second return of one hub
 * arriving late with a dispute after it, a London quarter end, an informational `returned`, a
 * redelivery, a quarter expiring (its hubs forgotten, or kept for a later quarter's events,
 * one of them resolving a dispute of the expired quarter), and hubs seen again after it. */
static const char *const restore_steps[] = {
    EV("c01", "2021-01-04T10:00:00Z", "CH-1", "closed", "north", DCC("aerial")),
    EV("c02", "2021-01-04T11:00:00Z", "CH-2", "closed", "north", SU),
    EV("c03", "2021-01-05T10:00:00Z", "CH-3", "closed", "south", DCC("sm_wan")),
    EV("c04", "2021-01-06T10:00:00Z", "CH-1", "disputed", "north", ""),
    EV("c05", "2021-01-07T10:00:00Z", "CH-4", "returned", "central", ""),
    EV("c06", "2021-02-15T10:00:00Z", "CH-4", "closed", "central", SU),
    EV("c07", "2021-03-31T23:30:00Z", "CH-5", "closed", "north", DCC("led")),
    "flush",
    "@2021-04-20T00:00:00Z",
    EV("c08", "2021-04-21T10:00:00Z", "CH-1", "dispute_resolved", "north",
       DCC("manufacturing_defect")),
    EV("c08", "2021-04-21T10:00:00Z", "CH-1", "dispute_resolved", "north",
       DCC("manufacturing_defect")),
    EV("c09", "2021-01-20T10:00:00Z", "CH-3", "closed", "south", SU),
    EV("c10", "2021-05-01T10:00:00Z", "CH-3", "disputed", "south", ""),
    EV("c11", "2021-04-02T10:00:00Z", "CH-6", "closed", "north", DCC("sm_han_interface")),
    "flush",
    "@2021-11-01T00:00:00Z",
    EV("c12", "2021-11-02T10:00:00Z", "CH-3", "dispute_resolved", "south", DCC("aerial")),
    EV("c13", "2021-11-03T10:00:00Z", "CH-1", "closed", "north", DCC("aerial")),
    EV("c14", "2021-11-04T10:00:00Z", "CH-2", "closed", "north", SU),
    EV("c15", "2021-11-05T10:00:00Z", "CH-7", "closed", "central", DCC("sm_wan")),
    EV("c16", "2021-11-05T10:00:00Z", "CH-7", "disputed", "central", ""),
};

static void ch_returns__restore_anywhere_changes_nothing(void **state)
{
    struct fixture *f;
    json_t *r;

    (void)state;
    f = restore_check(restore_conf, true, restore_steps,
                      sizeof(restore_steps) / sizeof(*restore_steps), true);
    /* The run did exercise what it means to: CSP N and CSP C&S over the line in Q1, back
     * under it (a dispute; a late service-user return), over it again (the dispute resolved
     * as DCC; the late return disputed); CSP N in Q2 and Q4. */
    assert_int_equal(fake_sink_alerts(f->sink, "ch_fault_share", "firing"), 6);
    assert_int_equal(fake_sink_alerts(f->sink, "ch_fault_share", "resolved"), 2);
    r = report(f, "2021-Q1");
    assert_int_equal(jint(latest_snapshot(f, "2021-Q1"), "revision"), 2);
    assert_int_equal(jint(r, "closed"), 4);
    assert_int_equal(jint(r, "disputed_open"), 1);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/manufacturing_defect/2021-01"), 1);
    r = report(f, "2021-Q4");
    assert_int_equal(jint(r, "closed"), 2);
    assert_int_equal(jint(r, "disputed_open"), 1);
    assert_int_equal(jint(r, "by_csp/csp_n/dcc_faults/aerial/2021-11"), 1);
    fixture_destroy(f);
}

/* A restore refuses a state it cannot trust, and says where it is wrong. */
static void restore_refused(json_t *(*spoil)(json_t *mine), const char *want)
{
    struct fixture *f = fixture_create(restore_conf, true);
    struct fixture *g = fixture_create(restore_conf, true);
    json_t *saved;
    struct ow_err err;

    for (size_t i = 0; i < 7; i++) {
        apply_json(f, restore_steps[i]);
    }
    saved = restore_check_save(f, NULL);
    spoil(json_object_get(json_object_get(saved, "processors"), "ch_returns"));
    assert_int_equal(ow_engine_restore(g->eng, saved, &err), OW_EINVAL);
    if (strstr(err.where, "ch_returns") == NULL || strstr(err.text, want) == NULL) {
        fprintf(stderr, "got %s: %s\n", err.where, err.text);
        fail();
    }
    json_decref(saved);
    fixture_destroy(f);
    fixture_destroy(g);
}

static json_t *first_hub(json_t *mine)
{
    return json_array_get(json_object_get(mine, "hubs"), 0);
}

static json_t *spoil_version(json_t *mine)
{
    json_object_set_new(mine, "v", json_string("1"));
    return mine;
}

static json_t *spoil_hubs(json_t *mine)
{
    json_object_set_new(mine, "hubs", json_object());
    return mine;
}

static json_t *spoil_region(json_t *mine)
{
    /* a return always has a region: the counters are indexed by it */
    json_array_set_new(json_array_get(json_array_get(first_hub(mine), 1), 0), 5,
                       json_integer(OW_REGION_NONE));
    return mine;
}

static json_t *spoil_fault(json_t *mine)
{
    json_array_set_new(json_array_get(json_array_get(first_hub(mine), 1), 0), 4,
                       json_integer(OW_FAULT__COUNT));
    return mine;
}

static json_t *spoil_row(json_t *mine)
{
    json_array_remove(json_array_get(json_array_get(first_hub(mine), 1), 0), 1);
    return mine;
}

static json_t *spoil_order(json_t *mine)
{
    json_t *evs = json_array_get(first_hub(mine), 1);

    json_array_append(evs, json_array_get(evs, 0));
    return mine;
}

static void ch_returns__malformed_state_is_refused(void **state)
{
    (void)state;
    restore_refused(spoil_version, "expected version 1");
    restore_refused(spoil_hubs, "expected an array hubs");
    restore_refused(spoil_region, "hub 0, event 0: field 5: expected an integer 0..2");
    restore_refused(spoil_fault, "hub 0, event 0: field 4: expected an integer -1..4");
    restore_refused(spoil_row, "hub 0, event 0: expected an array of 6 fields");
    restore_refused(spoil_order, "hub 0, event 2: out of order or repeated");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ch_returns__every_figure_by_csp_region_fault_and_month,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(ch_returns__gap_quarter_is_zero_filled, setup, teardown),
        cmocka_unit_test_setup_teardown(ch_returns__disputed_left_out_until_resolved, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            ch_returns__dispute_resolved_late_revises_the_original_closed_window, setup, teardown),
        cmocka_unit_test_setup_teardown(ch_returns__late_dispute_revises_a_closed_window, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(ch_returns__hub_returned_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(ch_returns__dispute_before_any_closed_applies_to_nothing,
                                        setup, teardown),
        cmocka_unit_test(ch_returns__shuffled_arrival_gives_the_same_figures),
        cmocka_unit_test_setup_teardown(
            ch_returns__fault_share_fires_after_min_closed_with_hysteresis, setup, teardown),
        cmocka_unit_test(ch_returns__fault_share_threshold_is_configurable),
        cmocka_unit_test_setup_teardown(
            ch_returns__expired_window_counts_nowhere_and_is_no_dead_letter, setup, teardown),
        cmocka_unit_test_setup_teardown(ch_returns__redelivery_past_the_dedup_span_counts_once,
                                        setup, teardown),
        cmocka_unit_test(ch_returns__restore_anywhere_changes_nothing),
        cmocka_unit_test(ch_returns__malformed_state_is_refused),
    };

    return cmocka_run_group_tests_name("ch_returns", tests, NULL, NULL);
}
