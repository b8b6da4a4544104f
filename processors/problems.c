/* problems.c: Problem records (SEC Appendix AG 3.2), per quarter: open problems by status at
 * the quarter's end, problems created this quarter and the last, RCA target breaches by
 * category, significant open problems; and the problem_rca_breach alert.
 *
 * Each problem keeps its events sorted by occurred_at and every figure is derived from that
 * sorted history ("as of the end instant" for status figures), so arrival order never
 * changes a figure. Problems are few (hundreds), so a snapshot simply folds every problem's
 * history; an event recomputes only its own problem's view of the later quarters, to know
 * which of them it changed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "alloc.h"
#include "civil.h"
#include "processor.h"
#include "state_row.h"
#include "strmap.h"
#include "tz.h"

#define NO_TIME INT64_MIN

struct prb_hours {
    int64_t by_cat[OW_CAT__COUNT];
};

struct prb_conf {
    struct prb_hours rca_target_hours;
    struct ow_rule_conf rca_breach;
};

static const struct ow_conf_field hours_map[] = {
    OW_CONF_INT("critical", struct prb_hours, by_cat[OW_CAT_CRITICAL], 1, 87600, "72",
                "RCA target of a critical problem, calendar hours after created (example)"),
    OW_CONF_INT("high", struct prb_hours, by_cat[OW_CAT_HIGH], 1, 87600, "168",
                "RCA target of a high problem, calendar hours after created (example)"),
    OW_CONF_INT("medium", struct prb_hours, by_cat[OW_CAT_MEDIUM], 1, 87600, "336",
                "RCA target of a medium problem, calendar hours after created (example)"),
    OW_CONF_INT("low", struct prb_hours, by_cat[OW_CAT_LOW], 1, 87600, "720",
                "RCA target of a low problem, calendar hours after created (example)"),
    {0},
};

static const struct ow_conf_field prb_conf_map[] = {
    OW_CONF_SUB("rca_target_hours", struct prb_conf, rca_target_hours, hours_map, "{}",
                "RCA target per category when an event gives no rca_target_at"),
    OW_CONF_SUB("problem_rca_breach", struct prb_conf, rca_breach, ow_rule_conf_map, "{}",
                "the problem_rca_breach alert rule (threshold and resolve are not used: the "
                "RCA target is the line)"),
    {0},
};

struct prb_ev {
    int64_t us;
    int64_t rca_us;
    char *event_id; /* the tie-break between events of one instant */
    bool has_rca;
    int8_t action;
    int8_t status;
    int8_t category;
    int8_t significant; /* -1 absent */
};

struct prb {
    char *id;
    struct prb_ev *evs; /* sorted: see ev_before() */
    size_t n;
    size_t cap;
    bool released; /* no `created`, but held past the hold: treated as existing */
    bool alerted;  /* problem_rca_breach firing for alert_target */
    int64_t alert_target;
    int64_t fired_target; /* the last target an alert fired for (NO_TIME: none) */
};

/* A problem's state after folding its events up to some instant. */
struct prb_state {
    bool seen; /* some event folded */
    bool open;
    int status;
    int category;
    bool significant;
    int64_t rca_us; /* NO_TIME: none given */
};

/* What one problem adds to one quarter's report. */
struct prb_view {
    bool created_here;
    bool created_prev;
    bool open;
    int status;
    bool significant;
    int breach_cat; /* -1: no breach counted */
};

struct prb_ctx {
    struct ow_proc_env env;
    struct prb_conf conf;
    struct ow_strmap *problems; /* problem_id -> struct prb */
    int64_t wm;                 /* the watermark (NO_TIME before the first) */
    int64_t next_wake;          /* on_watermark does nothing until the watermark passes it */
    int max_quarter;            /* of any problem event seen */
    bool input_ended;           /* replay input ended: holds are over */
};

static const char *const prb_types[] = {"problem", NULL};
static const char *const status_names[OW_PSTATUS__COUNT] = {"under_investigation", "pending",
                                                            "completed"};
static const char *const category_names[OW_CAT__COUNT] = {"critical", "high", "medium", "low"};

static int prb_init(void **ctx, const struct ow_proc_env *env, const void *conf, struct ow_err *err)
{
    const struct prb_conf *cf = conf;
    struct prb_ctx *c = ow_xcalloc(1, sizeof(*c));

    (void)err;
    c->env = *env;
    c->conf = *cf;
    c->problems = ow_strmap_create(sizeof(struct prb));
    c->wm = NO_TIME;
    c->next_wake = INT64_MAX;
    c->max_quarter = INT32_MIN;
    *ctx = c;
    return OW_OK;
}

static void free_problem(void *v)
{
    struct prb *p = v;

    for (size_t i = 0; i < p->n; i++) {
        free(p->evs[i].event_id);
    }
    free(p->evs);
    free(p->id);
}

static void prb_destroy(void *ctx)
{
    struct prb_ctx *c = ctx;

    if (c == NULL) {
        return;
    }
    ow_strmap_destroy(c->problems, free_problem);
    free(c);
}

/* ---- history ---- */

/* Within one instant: created, then status changes, then closed; then the event id, so that
 * the order is the same whatever the arrival order. */
static int action_rank(int action)
{
    switch (action) {
    case OW_ACT_CREATED:
        return 0;
    case OW_ACT_STATUS_CHANGED:
        return 1;
    default:
        return 2;
    }
}

static bool ev_before(const struct prb_ev *a, const struct prb_ev *b)
{
    if (a->us != b->us) {
        return a->us < b->us;
    }
    if (action_rank(a->action) != action_rank(b->action)) {
        return action_rank(a->action) < action_rank(b->action);
    }
    return strcmp(a->event_id, b->event_id) < 0;
}

static bool problem_has(const struct prb *p, const struct ow_str *event_id)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strlen(p->evs[i].event_id) == event_id->len &&
            memcmp(p->evs[i].event_id, event_id->p, event_id->len) == 0) {
            return true;
        }
    }
    return false;
}

static void problem_insert(struct prb *p, const struct prb_ev *e)
{
    size_t i = p->n;

    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 4;
        p->evs = ow_xrealloc(p->evs, p->cap * sizeof(*p->evs));
    }
    while (i > 0 && ev_before(e, &p->evs[i - 1])) {
        i--;
    }
    memmove(&p->evs[i + 1], &p->evs[i], (p->n - i) * sizeof(*p->evs));
    p->evs[i] = *e;
    p->n++;
}

/* The first `created`, or NULL. */
static const struct prb_ev *first_created(const struct prb *p)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->evs[i].action == OW_ACT_CREATED) {
            return &p->evs[i];
        }
    }
    return NULL;
}

/* A problem takes part in the figures once it has a `created`, or once its hold has passed
 * without one (then it exists from its first event on, as one opened before the data
 * began). */
static bool exists(const struct prb *p)
{
    return p->released || first_created(p) != NULL;
}

/* Fold the events that occurred before @until (@inclusive: at or before). A `status_changed`
 * after `closed` opens the problem again: it says the problem has that status now. */
static struct prb_state fold(const struct prb *p, int64_t until, bool inclusive)
{
    struct prb_state st = {false, false, OW_PSTATUS_NONE, OW_CAT_NONE, false, NO_TIME};

    for (size_t i = 0; i < p->n; i++) {
        const struct prb_ev *e = &p->evs[i];

        if (e->us > until || (!inclusive && e->us == until)) {
            break;
        }
        st.seen = true;
        if (e->action == OW_ACT_CLOSED) {
            st.open = false;
        } else {
            st.open = true;
            st.status = e->status;
        }
        if (e->category != OW_CAT_NONE) {
            st.category = e->category;
        }
        if (e->significant >= 0) {
            st.significant = e->significant == 1;
        }
        if (e->has_rca) {
            st.rca_us = e->rca_us;
        }
    }
    return st;
}

/* The RCA target as of @st: the latest rca_target_at given, else created plus the configured
 * hours of the category. NO_TIME when there is neither. */
static int64_t target_of(const struct prb_ctx *c, const struct prb *p, const struct prb_state *st)
{
    const struct prb_ev *cr;

    if (st->rca_us != NO_TIME) {
        return st->rca_us;
    }
    cr = first_created(p);
    if (cr == NULL || st->category == OW_CAT_NONE) {
        return NO_TIME;
    }
    return cr->us + c->conf.rca_target_hours.by_cat[st->category] * OW_US_PER_HOUR;
}

/* Was the problem under investigation at its target @t? A change exactly at @t is in time,
 * so the events at @t count. A target before the problem's first event is judged by its
 * state on that first event (it was already past its target then). */
static bool under_investigation_at(const struct prb *p, int64_t t)
{
    struct prb_state st;

    if (p->n > 0 && t < p->evs[0].us) {
        t = p->evs[0].us;
    }
    st = fold(p, t, true);
    return st.open && st.status == OW_PSTATUS_UNDER_INVESTIGATION;
}

static int quarter_of(const struct prb_ctx *c, int64_t us)
{
    return ow_window_of(c->env.tz, OW_WIN_QUARTER, us).index;
}

/* ---- figures ---- */

static struct prb_view view_of(const struct prb_ctx *c, const struct prb *p, int q)
{
    struct prb_view v = {false, false, false, OW_PSTATUS_NONE, false, -1};
    const struct prb_ev *cr = first_created(p);
    int64_t end = ow_window_end(c->env.tz, (struct ow_window_id){OW_WIN_QUARTER, q});
    struct prb_state st;
    int64_t target;

    if (cr != NULL) {
        int cq = quarter_of(c, cr->us);

        v.created_here = cq == q;
        v.created_prev = cq == q - 1;
    }
    if (!exists(p)) {
        return v;
    }
    st = fold(p, end, false);
    if (!st.seen || !st.open) {
        return v;
    }
    v.open = true;
    v.status = st.status;
    v.significant = st.significant;
    target = target_of(c, p, &st);
    if (target != NO_TIME && target < end && st.category != OW_CAT_NONE &&
        under_investigation_at(p, target)) {
        v.breach_cat = st.category;
    }
    return v;
}

static bool view_equal(const struct prb_view *a, const struct prb_view *b)
{
    return a->created_here == b->created_here && a->created_prev == b->created_prev &&
           a->open == b->open && a->status == b->status && a->significant == b->significant &&
           a->breach_cat == b->breach_cat;
}

struct report_acc {
    const struct prb_ctx *c;
    int quarter;
    int64_t open[OW_PSTATUS__COUNT];
    int64_t created;
    int64_t created_prev;
    int64_t breaches[OW_CAT__COUNT];
    int64_t significant_open;
};

static void add_problem(const struct ow_strmap_entry *e, void *arg)
{
    struct report_acc *acc = arg;
    struct prb_view v = view_of(acc->c, e->value, acc->quarter);

    acc->created += v.created_here;
    acc->created_prev += v.created_prev;
    if (v.open) {
        acc->open[v.status]++;
        acc->significant_open += v.significant;
        if (v.breach_cat >= 0) {
            acc->breaches[v.breach_cat]++;
        }
    }
}

static json_t *prb_snapshot(void *ctx, struct ow_window_id w)
{
    struct prb_ctx *c = ctx;
    struct report_acc acc;
    json_t *open = json_object();
    json_t *breaches = json_object();
    int64_t total = 0;

    memset(&acc, 0, sizeof(acc));
    acc.c = c;
    acc.quarter = w.index;
    ow_strmap_foreach(c->problems, add_problem, &acc);
    for (int s = 0; s < OW_PSTATUS__COUNT; s++) {
        json_object_set_new(open, status_names[s], json_integer((json_int_t)acc.open[s]));
        total += acc.open[s];
    }
    json_object_set_new(open, "total", json_integer((json_int_t)total));
    total = 0;
    for (int k = 0; k < OW_CAT__COUNT; k++) {
        json_object_set_new(breaches, category_names[k], json_integer((json_int_t)acc.breaches[k]));
        total += acc.breaches[k];
    }
    json_object_set_new(breaches, "total", json_integer((json_int_t)total));
    return json_pack("{s:o, s:I, s:I, s:o, s:I}", "open_at_end", open, "created",
                     (json_int_t)acc.created, "created_previous_quarter",
                     (json_int_t)acc.created_prev, "rca_breaches", breaches, "significant_open",
                     (json_int_t)acc.significant_open);
}

/* The last quarter that may hold a snapshot: of any problem event, or of the newest event
 * the engine has seen (the watermark plus the allowed disorder). */
static int last_quarter(const struct prb_ctx *c)
{
    int q = c->max_quarter;

    if (c->wm != NO_TIME) {
        int wq = quarter_of(c, c->wm + c->env.cfg->windows.allowed_disorder_us);

        q = wq > q ? wq : q;
    }
    return q;
}

/* Views of @p in quarters @from..@from+@n-1, into @out. */
static void views(const struct prb_ctx *c, const struct prb *p, int from, int n,
                  struct prb_view *out)
{
    for (int i = 0; i < n; i++) {
        out[i] = view_of(c, p, from + i);
    }
}

/* Tell the engine about quarters whose figures changed although the event did not occur in
 * them (a late event changes the status at the end of later quarters too). */
static void touch_changed(struct prb_ctx *c, int from, int n, const struct prb_view *before,
                          const struct prb_view *after)
{
    for (int i = 0; i < n; i++) {
        if (!view_equal(&before[i], &after[i])) {
            ow_engine_window_touched(c->env.eng, (struct ow_window_id){OW_WIN_QUARTER, from + i});
        }
    }
}

/* ---- problem_rca_breach ---- */

/* The instant the problem last left under_investigation after @t (NO_TIME: it has not). */
static int64_t left_at(const struct prb *p, int64_t t)
{
    bool ui = true;
    int64_t left = NO_TIME;

    for (size_t i = 0; i < p->n; i++) {
        const struct prb_ev *e = &p->evs[i];
        bool now_ui = e->action != OW_ACT_CLOSED && e->status == OW_PSTATUS_UNDER_INVESTIGATION;

        if (e->us <= t) {
            continue;
        }
        if (ui && !now_ui) {
            left = e->us;
        } else if (now_ui) {
            left = NO_TIME;
        }
        ui = now_ui;
    }
    return left;
}

static void observe(struct prb_ctx *c, const struct prb *p, int64_t target, bool fire,
                    int64_t event_us)
{
    struct ow_alert_dim dim = {"problem_id", p->id};
    struct ow_alert_obs obs;
    char when[48];
    char msg[512];

    ow_tz_format(c->env.tz, target, when, sizeof(when));
    if (fire) {
        snprintf(msg, sizeof(msg),
                 "problem %.200s is still under investigation at its RCA target %s", p->id, when);
    } else {
        snprintf(msg, sizeof(msg),
                 "problem %.200s is no longer under investigation past its RCA target %s", p->id,
                 when);
    }
    memset(&obs, 0, sizeof(obs));
    obs.rule = "problem_rca_breach";
    obs.conf = &c->conf.rca_breach;
    obs.window = ow_window_of(c->env.tz, OW_WIN_QUARTER, target);
    obs.dims = &dim;
    obs.ndims = 1;
    obs.breach = fire;
    obs.recovered = !fire;
    obs.value = c->wm > target ? (double)(c->wm - target) / (double)OW_US_PER_HOUR : 0.0;
    obs.threshold = 0.0;
    obs.unit = "hours";
    obs.message = msg;
    obs.event_us = event_us;
    ow_alerts_observe(c->env.alerts, &obs);
}

/* Bring @p's alert up to date with the watermark and its history. A breach (under
 * investigation at a target the watermark has passed) fires once per target, with the target
 * as its event time; the alert resolves when the problem leaves under_investigation, or when
 * the breach is gone (a later target, or a late event showing it left in time). @now_us is
 * the event time of what made us look. */
static void update_alert(struct prb_ctx *c, struct prb *p, int64_t now_us)
{
    struct prb_state st = fold(p, INT64_MAX, true);
    int64_t target = exists(p) ? target_of(c, p, &st) : NO_TIME;
    bool breached = target != NO_TIME && c->wm != NO_TIME && c->wm > target &&
                    under_investigation_at(p, target);
    int64_t left;

    if (!c->conf.rca_breach.enabled) {
        return;
    }
    if (p->alerted && (!breached || p->alert_target != target)) {
        observe(c, p, p->alert_target, false, now_us);
        p->alerted = false;
    }
    if (breached && !p->alerted && p->fired_target != target) {
        observe(c, p, target, true, target);
        p->alerted = true;
        p->alert_target = target;
        p->fired_target = target;
    }
    if (p->alerted && (left = left_at(p, target)) != NO_TIME) {
        observe(c, p, target, false, left);
        p->alerted = false;
    }
}

/* When the watermark next needs to look at @p: its hold ending, or its target passing. */
static int64_t wake_of(const struct prb_ctx *c, const struct prb *p)
{
    int64_t wake = INT64_MAX;

    if (!exists(p) && p->n > 0) {
        /* on_watermark acts once the watermark is past the wake instant */
        wake = p->evs[0].us + c->env.cfg->entities.hold_us - 1;
    } else if (p->n > 0) {
        struct prb_state st = fold(p, INT64_MAX, true);
        int64_t target = target_of(c, p, &st);

        if (target != NO_TIME && target != p->fired_target &&
            (c->wm == NO_TIME || target >= c->wm)) {
            wake = target;
        }
    }
    return wake;
}

/* A problem without `created` whose hold has passed takes part from now on. @returns true if
 * it was released. */
static bool release_if_due(struct prb_ctx *c, struct prb *p)
{
    if (p->released || p->n == 0 || first_created(p) != NULL ||
        (!c->input_ended &&
         (c->wm == NO_TIME || c->wm < p->evs[0].us + c->env.cfg->entities.hold_us))) {
        return false;
    }
    p->released = true;
    return true;
}

/* ---- events and time ---- */

static int prb_apply(void *ctx, const struct ow_event *ev, struct ow_sink *out, struct ow_err *err)
{
    struct prb_ctx *c = ctx;
    int own = quarter_of(c, ev->occurred_us);
    bool created;
    struct prb *p = ow_strmap_upsert(c->problems, ev->entity_id.p, ev->entity_id.len, &created);
    struct prb_view *before;
    struct prb_view *after;
    struct prb_ev e;
    int from;
    int n;

    (void)out;
    (void)err;
    if (created) {
        p->id = ow_xstrndup(ev->entity_id.p, ev->entity_id.len);
        p->fired_target = NO_TIME;
    }
    if (problem_has(p, &ev->event_id)) {
        /* A redelivery the engine's bounded id memory no longer knew (an old event arriving
         * after the watermark moved on): the problem's own history still knows it. */
        return OW_OK;
    }
    if (own > c->max_quarter) {
        c->max_quarter = own;
    }
    /* The later quarters whose status figures this event may change. An event never changes
     * an earlier quarter: it occurred after that quarter's end. */
    from = own + 1;
    n = last_quarter(c) - own;
    before = ow_xcalloc((size_t)n + 1, sizeof(*before));
    after = ow_xcalloc((size_t)n + 1, sizeof(*after));
    views(c, p, from, n, before);

    memset(&e, 0, sizeof(e));
    e.us = ev->occurred_us;
    e.event_id = ow_xstrndup(ev->event_id.p, ev->event_id.len);
    e.has_rca = ev->has_rca_target;
    e.rca_us = ev->rca_target_us;
    e.action = (int8_t)ev->action;
    e.status = (int8_t)(ev->action == OW_ACT_CLOSED ? OW_PSTATUS_NONE : ev->status);
    e.category = (int8_t)ev->category;
    e.significant = ev->significant;
    problem_insert(p, &e);
    release_if_due(c, p);

    views(c, p, from, n, after);
    touch_changed(c, from, n, before, after);
    free(before);
    free(after);
    update_alert(c, p, ev->occurred_us);
    {
        int64_t wake = wake_of(c, p);

        if (wake < c->next_wake) {
            c->next_wake = wake;
        }
    }
    return OW_OK;
}

struct wake_arg {
    struct prb_ctx *c;
    int64_t next;
};

static void wake_problem(const struct ow_strmap_entry *en, void *arg)
{
    struct wake_arg *wa = arg;
    struct prb_ctx *c = wa->c;
    struct prb *p = en->value;
    int64_t wake;

    if (!exists(p) && p->n > 0) {
        int from = quarter_of(c, p->evs[0].us);
        int n = last_quarter(c) - from + 1;
        struct prb_view *before = ow_xcalloc((size_t)(n > 0 ? n : 0) + 1, sizeof(*before));
        struct prb_view *after = ow_xcalloc((size_t)(n > 0 ? n : 0) + 1, sizeof(*after));

        views(c, p, from, n, before);
        if (release_if_due(c, p)) {
            views(c, p, from, n, after);
            touch_changed(c, from, n, before, after);
        }
        free(before);
        free(after);
    }
    update_alert(c, p, c->wm);
    wake = wake_of(c, p);
    if (wake < wa->next) {
        wa->next = wake;
    }
}

/* Every problem in key order: the alerts they raise come out in that order, which must not
 * depend on the hash map's layout (a map restored from a checkpoint is laid out anew). */
static void wake_all(struct prb_ctx *c)
{
    struct wake_arg wa = {c, INT64_MAX};
    struct ow_strmap_entry *e = ow_strmap_sorted(c->problems);

    for (size_t i = 0; e != NULL && i < ow_strmap_count(c->problems); i++) {
        wake_problem(&e[i], &wa);
    }
    free(e);
    c->next_wake = wa.next;
}

/* The watermark passed a hold's end or an RCA target: look at every problem (they are few,
 * and this happens once per such instant, not once per event). */
static void prb_on_watermark(void *ctx, int64_t watermark_us, struct ow_sink *out)
{
    struct prb_ctx *c = ctx;

    (void)out;
    c->wm = watermark_us;
    if (watermark_us <= c->next_wake) {
        return;
    }
    wake_all(c);
}

/* The end of replay input: no `created` will come, so every hold is over. */
static void prb_end_of_input(void *ctx, struct ow_sink *out)
{
    struct prb_ctx *c = ctx;

    (void)out;
    c->input_ended = true;
    wake_all(c);
}

struct prune_arg {
    const struct prb_ctx *c;
    int quarter;
    char **keys;
    size_t n;
};

static void collect_old_problem(const struct ow_strmap_entry *en, void *arg)
{
    struct prune_arg *pa = arg;
    const struct prb *p = en->value;
    struct prb_state st = fold(p, INT64_MAX, true);

    if (!p->alerted &&
        (p->n == 0 || (!st.open && quarter_of(pa->c, p->evs[p->n - 1].us) + 1 <= pa->quarter))) {
        pa->keys[pa->n++] = (char *)en->key;
    }
}

/* Quarter @w is past retention. A closed problem whose last event lies before it no longer
 * changes any quarter that can still be published (it adds to no later status figure, and
 * its created counts only in its own quarter and the next), so it is forgotten. Open
 * problems are kept, however old. */
static void prb_expire(void *ctx, struct ow_window_id w)
{
    struct prb_ctx *c = ctx;
    struct prune_arg pa = {c, w.index, NULL, 0};

    pa.keys = ow_xcalloc(ow_strmap_count(c->problems) + 1, sizeof(*pa.keys));
    ow_strmap_foreach(c->problems, collect_old_problem, &pa);
    for (size_t i = 0; i < pa.n; i++) {
        char *key = ow_xstrdup(pa.keys[i]);

        ow_strmap_remove(c->problems, key, strlen(key), free_problem);
        free(key);
    }
    free(pa.keys);
}

/* ---- checkpoints ----
 * {"v":1, "wm", "next_wake", "max_quarter", "input_ended",
 *  "problems": [[id, released, alerted, alert_target, fired_target,
 *                [[us, event_id, action, status, category, significant, rca_us|null], ...]],
 *               ...]}
 * Problems in key order; NO_TIME is saved as itself (the least integer). */

#define STATE_VERSION 1

static json_t *problem_row(const struct prb *p)
{
    json_t *evs = json_array();

    for (size_t i = 0; i < p->n; i++) {
        const struct prb_ev *e = &p->evs[i];

        json_array_append_new(
            evs, json_pack("[I, s, i, i, i, i, o]", (json_int_t)e->us, e->event_id, e->action,
                           e->status, e->category, e->significant,
                           e->has_rca ? json_integer((json_int_t)e->rca_us) : json_null()));
    }
    return json_pack("[s, b, b, I, I, o]", p->id, p->released, p->alerted,
                     (json_int_t)p->alert_target, (json_int_t)p->fired_target, evs);
}

static json_t *prb_save(void *ctx)
{
    struct prb_ctx *c = ctx;
    struct ow_strmap_entry *e = ow_strmap_sorted(c->problems);
    json_t *rows = json_array();

    for (size_t i = 0; e != NULL && i < ow_strmap_count(c->problems); i++) {
        json_array_append_new(rows, problem_row(e[i].value));
    }
    free(e);
    return json_pack("{s:i, s:I, s:I, s:i, s:b, s:o}", "v", STATE_VERSION, "wm", (json_int_t)c->wm,
                     "next_wake", (json_int_t)c->next_wake, "max_quarter", c->max_quarter,
                     "input_ended", c->input_ended, "problems", rows);
}

static int restore_events(struct prb *p, const json_t *evs, size_t at, struct ow_err *err)
{
    for (size_t i = 0; i < json_array_size(evs); i++) {
        struct prb_ev e;
        struct ow_row r;
        const char *id;

        memset(&e, 0, sizeof(e));
        ow_row_open(&r, json_array_get(evs, i), 7);
        e.us = ow_row_int(&r, INT64_MIN, INT64_MAX);
        id = ow_row_str(&r, false);
        e.action = (int8_t)ow_row_int(&r, OW_ACT_CLOSED, OW_ACT_STATUS_CHANGED);
        e.status = (int8_t)ow_row_int(&r, OW_PSTATUS_NONE, OW_PSTATUS__COUNT - 1);
        e.category = (int8_t)ow_row_int(&r, OW_CAT_NONE, OW_CAT__COUNT - 1);
        e.significant = (int8_t)ow_row_int(&r, -1, 1);
        e.rca_us = ow_row_int_or_null(&r, INT64_MIN, INT64_MAX, NO_TIME);
        e.has_rca = json_is_integer(json_array_get(json_array_get(evs, i), 6));
        if (!ow_row_ok(&r) || e.action == OW_ACT_DISPUTED || e.action == OW_ACT_DISPUTE_RESOLVED) {
            return ow_err_set(err, OW_EINVAL, "state: problems.problems",
                              "problem %zu, event %zu: %s", at, i,
                              ow_row_ok(&r) ? "not a problem action" : ow_row_error(&r));
        }
        e.event_id = (char *)id;
        if (p->n > 0 && !ev_before(&p->evs[p->n - 1], &e)) {
            return ow_err_set(err, OW_EINVAL, "state: problems.problems",
                              "problem %zu, event %zu: out of order or repeated", at, i);
        }
        e.event_id = ow_xstrdup(id);
        problem_insert(p, &e);
    }
    return OW_OK;
}

static int restore_problem(struct prb_ctx *c, const json_t *row, size_t at, struct ow_err *err)
{
    struct prb *p;
    const json_t *evs;
    const char *id;
    bool created;
    struct ow_row r;
    bool released;
    bool alerted;
    int64_t alert_target;
    int64_t fired_target;

    ow_row_open(&r, row, 6);
    id = ow_row_str(&r, false);
    released = ow_row_bool(&r);
    alerted = ow_row_bool(&r);
    alert_target = ow_row_int(&r, INT64_MIN, INT64_MAX);
    fired_target = ow_row_int(&r, INT64_MIN, INT64_MAX);
    evs = ow_row_array(&r);
    if (!ow_row_ok(&r)) {
        return ow_err_set(err, OW_EINVAL, "state: problems.problems", "problem %zu: %s", at,
                          ow_row_error(&r));
    }
    p = ow_strmap_upsert(c->problems, id, strlen(id), &created);
    if (!created) {
        return ow_err_set(err, OW_EINVAL, "state: problems.problems",
                          "problem %zu: '%.100s' is there twice", at, id);
    }
    p->id = ow_xstrdup(id);
    p->released = released;
    p->alerted = alerted;
    p->alert_target = alert_target;
    p->fired_target = fired_target;
    return restore_events(p, evs, at, err);
}

/* A restored problem under the configuration restored into. The RCA targets follow from
 * rca_target_hours, which a reload (ow_engine_reconfigure) may change: a target that moved
 * before the saved wake must wake the watermark then, and an alert that is now wrong (firing
 * for a target that is no longer the problem's, or a breach that never fired) is put right at
 * the next watermark step (wake_all). With the same settings neither happens: the saved wake
 * is never after a problem's, and update_alert left every alert right. */
static void settle_wake(const struct ow_strmap_entry *en, void *arg)
{
    struct prb_ctx *c = arg;
    const struct prb *p = en->value;
    struct prb_state st = fold(p, INT64_MAX, true);
    int64_t target = exists(p) ? target_of(c, p, &st) : NO_TIME;
    int64_t wake = wake_of(c, p);
    bool wrong;

    if (wake < c->next_wake) {
        c->next_wake = wake;
    }
    if (!c->conf.rca_breach.enabled || c->wm == NO_TIME) {
        return;
    }
    wrong = p->alerted ? p->alert_target != target
                       : target != NO_TIME && c->wm > target && p->fired_target != target &&
                             under_investigation_at(p, target);
    if (wrong && c->wm - 1 < c->next_wake) {
        c->next_wake = c->wm - 1; /* on_watermark wakes once the watermark is past it */
    }
}

static int prb_restore(void *ctx, const json_t *state, struct ow_err *err)
{
    struct prb_ctx *c = ctx;
    const json_t *rows = json_object_get(state, "problems");
    int64_t v = 0;
    int64_t max_quarter = 0;
    int rc;

    if (!ow_state_int(state, "v", STATE_VERSION, STATE_VERSION, &v)) {
        return ow_err_set(err, OW_EINVAL, "state: problems", "expected version %d", STATE_VERSION);
    }
    if (!ow_state_int(state, "wm", INT64_MIN, INT64_MAX, &c->wm) ||
        !ow_state_int(state, "next_wake", INT64_MIN, INT64_MAX, &c->next_wake) ||
        !ow_state_int(state, "max_quarter", INT32_MIN, INT32_MAX, &max_quarter) ||
        !ow_state_bool(state, "input_ended", &c->input_ended) || !json_is_array(rows)) {
        return ow_err_set(err, OW_EINVAL, "state: problems",
                          "expected integers wm, next_wake, max_quarter, boolean input_ended, "
                          "array problems");
    }
    c->max_quarter = (int)max_quarter;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        rc = restore_problem(c, json_array_get(rows, i), i, err);
        if (rc != OW_OK) {
            return rc;
        }
    }
    ow_strmap_foreach(c->problems, settle_wake, c);
    return OW_OK;
}

const struct ow_processor ow_problems_processor = {
    .abi = OW_PROCESSOR_ABI,
    .name = "problems",
    .report = "problems",
    .kind = OW_WIN_QUARTER,
    .sec_ref = "AG 3.2",
    .due_working_days = 0,
    .event_types = prb_types,
    .conf = prb_conf_map,
    .conf_size = sizeof(struct prb_conf),
    .init = prb_init,
    .apply = prb_apply,
    .on_watermark = prb_on_watermark,
    .end_of_input = prb_end_of_input,
    .snapshot = prb_snapshot,
    .expire = prb_expire,
    .save = prb_save,
    .restore = prb_restore,
    .destroy = prb_destroy,
};
