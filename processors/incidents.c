/* incidents.c: RDP Incidents (SEC Appendix AG 2.5.10): incidents opened, reopened and resolved
 * per calendar month, open at the month's end, resolutions by severity with their age in days,
 * per RDP and per region; alerts incident_overdue and incident_backlog.
 *
 * Every figure comes from each incident's sorted history (incident_history.h states the rules
 * as they are read), so arrival order never changes a figure. A window's report is computed
 * when it is asked for, by walking each kept incident's history (tens of incidents a month).
 * An event recomputes the facts its incident adds to each month before and after it is
 * inserted, and touches the windows whose facts changed, other than its own (which the engine
 * marks): a closed month gets a new revision only when its figures moved.
 *
 * Settled readings of the spec (also in config/default.json):
 * - A held incident (no `opened`) counts nowhere until the watermark reaches its earliest event
 *   + entities.hold. It is then taken as opened before the data began: its resolutions count in
 *   `resolved` and in `unmatched` (their own month), never in resolved_by_severity (no age, no
 *   known severity), so resolved = sum of resolved_by_severity counts + unmatched, in every
 *   window. It has no RDP (by_rdp leaves it out). An `opened` that arrives later still matches
 *   it: the figures become those of the sorted events, and the windows that changed get new
 *   revisions.
 * - by_region holds opened, resolved and open_at_end per region (the same three counts as
 *   by_rdp); by_rdp lists an RDP in a month when one of its three figures there is not zero.
 * - Incidents are never forgotten, resolved ones included (a few hundred bytes each, tens a
 *   month): a `reopened` months later must still find the first `opened` (its age, its RDP),
 *   and a late straggler for a forgotten incident would start a held history that ends up as a
 *   phantom incident open forever. A report skips in O(1) the incidents that cannot touch its
 *   month. */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "alloc.h"
#include "civil.h"
#include "incident_history.h"
#include "processor.h"
#include "rfc3339.h"
#include "state_row.h"
#include "strmap.h"
#include "tz.h"

/* ---- configuration ----
 * The two rules have maps of their own rather than ow_rule_conf_map: neither takes a threshold
 * (trt_hours and backlog_max set the lines, and a key that does nothing should be refused), and a
 * partly given object must keep this rule's defaults (incident_overdue is "critical"), which a
 * default text laid over the shared map would not. */

struct incidents_conf {
    int64_t trt_hours[OW_INC_NSEV];
    int64_t backlog_max;
    struct ow_rule_conf overdue;
    struct ow_rule_conf backlog;
};

static void parse_level(const json_t *v, void *dst, const char *path, struct ow_conf_errors *errs)
{
    char got[80];

    if (json_is_null(v)) {
        *(double *)dst = NAN;
    } else if (json_is_integer(v) && json_integer_value(v) >= 0 &&
               json_integer_value(v) <= 1000000) {
        *(double *)dst = (double)json_integer_value(v);
    } else {
        ow_conf_error(errs, path, "expected an integer 0..1000000 or null, got %s",
                      ow_conf_describe(v, got, sizeof(got)));
    }
}

#define RULE_COMMON(sev)                                                                           \
    OW_CONF_BOOL("enabled", struct ow_rule_conf, enabled, "true", "whether the rule runs"),        \
        OW_RULE_SEVERITY_FIELD(struct ow_rule_conf, severity, sev),                                \
        OW_CONF_DURATION("for", struct ow_rule_conf, for_us, 0, INT64_C(366) * OW_US_PER_DAY,      \
                         "\"0s\"", "the condition must hold this long (event time) before firing")

static const struct ow_conf_field overdue_map[] = {
    RULE_COMMON("\"critical\""),
    {0},
};

static const struct ow_conf_field backlog_map[] = {
    RULE_COMMON("\"warning\""),
    OW_CONF_CUSTOM("resolve", struct ow_rule_conf, resolve, parse_level, NULL, "integer or null",
                   "null",
                   "a firing alert resolves when open incidents are at or below this count; "
                   "null: backlog_max minus a tenth of it, rounded down (50 -> 45)"),
    {0},
};

static const struct ow_conf_field incidents_conf_map[] = {
    OW_CONF_INTV("trt_hours", struct incidents_conf, trt_hours, OW_INC_NSEV, 1, 8760,
                 "[4, 8, 24, 72, 120]",
                 "Target Resolution Time in calendar hours from the first opened, for severities "
                 "1..5 (EXAMPLE values: the SEC publishes none; set your own)"),
    OW_CONF_INT("backlog_max", struct incidents_conf, backlog_max, 0, 1000000, "50",
                "incident_backlog fires when more incidents than this are open"),
    OW_CONF_SUB("incident_overdue", struct incidents_conf, overdue, overdue_map, "{}",
                "alert: an open incident passed its target resolution time"),
    OW_CONF_SUB("incident_backlog", struct incidents_conf, backlog, backlog_map, "{}",
                "alert: more than backlog_max incidents are open"),
    {0},
};

/* ---- state ---- */

struct incidents_ctx {
    struct ow_proc_env env;
    struct incidents_conf conf;
    double backlog_resolve;
    struct ow_strmap *incidents; /* incident_id -> struct ow_incident */
    int64_t wm;                  /* INT64_MIN before the first watermark */
    int64_t max_us;              /* greatest occurred_at of an incident event */
    int64_t next_check;          /* the watermark at which on_watermark has work again */
    struct ow_incident **watch;  /* held, or with a deadline still ahead (values never move) */
    size_t nwatch;
    size_t cap_watch;
    int64_t open_count;
    bool input_ended;    /* replay input ended: holds are over */
    bool backlog_active; /* incident_backlog is pending or firing */
    int backlog_window;
    struct ow_inc_facts before; /* scratch */
    struct ow_inc_facts after;
};

static const char *const incidents_types[] = {"incident", NULL};

static int month_of(const struct incidents_ctx *c, int64_t us)
{
    return ow_tz_month_of(c->env.tz, us);
}

/* A cheap test that rules most incidents out before ow__inc_held() walks the history: a held
 * incident has no `opened`, hence no deadline. */
static bool maybe_held(const struct ow_incident *inc)
{
    return inc->deadline == INT64_MAX && !inc->hold_expired;
}

/* Has the watermark @wm reached the end of the hold of @inc's earliest event? */
static bool hold_over(const struct incidents_ctx *c, const struct ow_incident *inc, int64_t wm)
{
    if (inc->n == 0) {
        return false;
    }
    return c->input_ended ||
           (wm != INT64_MIN && wm - c->env.cfg->entities.hold_us >= inc->evs[0].us);
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Touch the months of @lo..@hi whose facts differ between @a and @b, except @skip (the
 * event's own month, which the engine marks itself). */
static void touch_changes(struct incidents_ctx *c, const struct ow_inc_facts *a, const char *rdp_a,
                          const struct ow_inc_facts *b, const char *rdp_b, int lo, int hi, int skip)
{
    bool rdp_changed = !same_str(rdp_a, rdp_b);
    size_t i = 0;
    size_t j = 0;

    for (int m = lo; m <= hi; m++) {
        size_t i0 = i;
        size_t j0 = j;
        bool differ;

        while (i < a->n && a->v[i].month == m) {
            i++;
        }
        while (j < b->n && b->v[j].month == m) {
            j++;
        }
        differ = i - i0 != j - j0 || (rdp_changed && (i > i0 || j > j0));
        for (size_t x = 0; !differ && x < i - i0; x++) {
            differ = !ow__inc_fact_eq(&a->v[i0 + x], &b->v[j0 + x]);
        }
        if (differ && m != skip) {
            ow_engine_window_touched(c->env.eng, (struct ow_window_id){OW_WIN_MONTH, m});
        }
    }
}

/* The last month whose window may exist: that of the greatest event time seen, plus one. */
static int horizon(const struct incidents_ctx *c)
{
    int64_t t = c->max_us;

    if (c->wm != INT64_MIN && c->wm + c->env.cfg->windows.allowed_disorder_us > t) {
        t = c->wm + c->env.cfg->windows.allowed_disorder_us;
    }
    return month_of(c, t) + 1;
}

/* ---- alerts ---- */

static void observe_overdue(struct incidents_ctx *c, const struct ow_incident *inc, int window,
                            bool breach, int sev, int64_t event_us)
{
    struct ow_alert_dim dim = {"incident_id", inc->id};
    struct ow_alert_obs obs;
    double hours = sev > 0 ? (double)c->conf.trt_hours[sev - 1] : 0.0;
    char when[40];
    char msg[512];

    ow_rfc3339_format_utc(inc->deadline == INT64_MAX ? event_us : inc->deadline, when,
                          sizeof(when));
    if (breach) {
        snprintf(msg, sizeof(msg),
                 "RDP incident %.200s (severity %d) passed its target resolution time of %.0f h "
                 "at %s",
                 inc->id, sev, hours, when);
    } else {
        snprintf(msg, sizeof(msg), "RDP incident %.200s is no longer overdue (%s)", inc->id,
                 inc->open_now ? "its target moved" : "resolved");
    }
    memset(&obs, 0, sizeof(obs));
    obs.rule = "incident_overdue";
    obs.conf = &c->conf.overdue;
    obs.window = (struct ow_window_id){OW_WIN_MONTH, window};
    obs.dims = &dim;
    obs.ndims = 1;
    obs.breach = breach;
    obs.recovered = !breach;
    obs.value = hours;
    obs.threshold = hours;
    obs.unit = "hours";
    obs.message = msg;
    obs.event_us = event_us;
    ow_alerts_observe(c->env.alerts, &obs);
}

/* The latest `resolved` or `reopened` of @inc (event time), for the alert records. */
static int64_t last_of(const struct ow_incident *inc, int action, int64_t fallback)
{
    for (size_t i = inc->n; i-- > 0;) {
        if (inc->evs[i].action == action) {
            return inc->evs[i].us;
        }
    }
    return fallback;
}

/* incident_overdue for one incident: it fires once the watermark reaches the deadline (first
 * opened + TRT of the latest severity) if the incident was open at the deadline or is open now,
 * under the id of the deadline's month; it resolves when the incident is resolved, or when a
 * new severity moves the deadline (then the new deadline is judged afresh). */
static int64_t deadline_of(const struct incidents_ctx *c, const struct ow_incident *inc,
                           const struct ow_inc_walk *k)
{
    if (k->fo >= 0 && k->sev >= 1 && k->sev <= OW_INC_NSEV) {
        return inc->evs[k->fo].us + c->conf.trt_hours[k->sev - 1] * OW_US_PER_HOUR;
    }
    return INT64_MAX;
}

static void eval_overdue(struct incidents_ctx *c, struct ow_incident *inc, int64_t now_us)
{
    struct ow_inc_walk k;
    struct ow_inc_walk at;
    bool breach;
    int window;

    ow__inc_walk_until(inc, INT64_MAX, &k);
    inc->deadline = deadline_of(c, inc, &k);
    inc->rejudge = false;
    if (!c->conf.overdue.enabled) {
        return;
    }
    breach = false;
    window = 0;
    if (inc->deadline != INT64_MAX) {
        ow__inc_walk_until(inc, inc->deadline, &at);
        window = month_of(c, inc->deadline);
        breach =
            c->wm != INT64_MIN && c->wm >= inc->deadline && (at.st == OW_INC_OPEN || inc->open_now);
    }
    if (inc->overdue != OW_INC_OVERDUE_NONE && (!breach || inc->overdue_window != window)) {
        if (inc->overdue == OW_INC_OVERDUE_ACTIVE) {
            observe_overdue(c, inc, inc->overdue_window, false, k.sev, now_us);
        }
        inc->overdue = OW_INC_OVERDUE_NONE;
    }
    if (!breach) {
        return;
    }
    if (inc->overdue == OW_INC_OVERDUE_NONE ||
        (inc->overdue == OW_INC_OVERDUE_DONE && inc->open_now)) {
        int64_t at_us = inc->deadline;

        if (inc->overdue == OW_INC_OVERDUE_DONE) {
            int64_t re = last_of(inc, OW_ACT_REOPENED, at_us);

            at_us = re > at_us ? re : at_us;
        }
        observe_overdue(c, inc, window, true, k.sev, at_us);
        inc->overdue = OW_INC_OVERDUE_ACTIVE;
        inc->overdue_window = window;
    }
    if (inc->overdue == OW_INC_OVERDUE_ACTIVE && !inc->open_now) {
        observe_overdue(c, inc, window, false, k.sev, last_of(inc, OW_ACT_RESOLVED, now_us));
        inc->overdue = OW_INC_OVERDUE_DONE;
    }
}

/* incident_backlog: open incidents (now, after every event known) over backlog_max. The alert
 * keeps the month in which the episode began until it resolves. */
static void eval_backlog(struct incidents_ctx *c, int64_t now_us)
{
    struct ow_alert_obs obs;
    enum ow_alert_state st;
    bool breach = c->open_count > c->conf.backlog_max;
    char msg[256];

    if (!c->conf.backlog.enabled || (!breach && !c->backlog_active)) {
        return;
    }
    if (!c->backlog_active) {
        c->backlog_window = month_of(c, now_us);
    }
    snprintf(msg, sizeof(msg),
             "%" PRId64 " RDP incidents are open (backlog limit %" PRId64 ", resolves at %.0f "
             "or fewer)",
             c->open_count, c->conf.backlog_max, c->backlog_resolve);
    memset(&obs, 0, sizeof(obs));
    obs.rule = "incident_backlog";
    obs.conf = &c->conf.backlog;
    obs.window = (struct ow_window_id){OW_WIN_MONTH, c->backlog_window};
    obs.breach = breach;
    obs.recovered = (double)c->open_count <= c->backlog_resolve;
    obs.value = (double)c->open_count;
    obs.threshold = (double)c->conf.backlog_max;
    obs.unit = "count";
    obs.message = msg;
    obs.event_us = now_us;
    st = ow_alerts_observe(c->env.alerts, &obs);
    c->backlog_active = st == OW_ALERT_PENDING || st == OW_ALERT_FIRING;
}

/* After @inc changed: its open state, its overdue alert and the backlog. */
static void refresh(struct incidents_ctx *c, struct ow_incident *inc, int64_t now_us)
{
    struct ow_inc_walk k;
    bool open;

    ow__inc_walk_until(inc, INT64_MAX, &k);
    open = k.st == OW_INC_OPEN;
    if (open != inc->open_now) {
        c->open_count += open ? 1 : -1;
        inc->open_now = open;
    }
    eval_overdue(c, inc, now_us);
    eval_backlog(c, now_us);
}

/* The watermark at which @inc next needs a look: the end of its hold, or its deadline. */
static int64_t next_check_of(const struct incidents_ctx *c, const struct ow_incident *inc)
{
    if (inc->rejudge) {
        return INT64_MIN;
    }
    if (maybe_held(inc) && ow__inc_held(inc)) {
        return inc->n > 0 ? inc->evs[0].us + c->env.cfg->entities.hold_us : INT64_MAX;
    }
    if (inc->overdue == OW_INC_OVERDUE_NONE && inc->deadline > c->wm) {
        return inc->deadline;
    }
    return INT64_MAX;
}

/* Put @inc on the watch list if the watermark has something to do for it, and lower
 * next_check to it. A deadline that moved later leaves next_check early: one scan too many,
 * which recomputes it. */
static void watch(struct incidents_ctx *c, struct ow_incident *inc)
{
    int64_t t = next_check_of(c, inc);

    if (t < c->next_check) {
        c->next_check = t;
    }
    if (t == INT64_MAX || inc->watched) {
        return;
    }
    if (c->nwatch == c->cap_watch) {
        c->cap_watch = c->cap_watch ? 2 * c->cap_watch : 16;
        c->watch = ow_xrealloc(c->watch, c->cap_watch * sizeof(*c->watch));
    }
    c->watch[c->nwatch++] = inc;
    inc->watched = true;
}

/* ---- life cycle ---- */

static int incidents_init(void **ctx, const struct ow_proc_env *env, const void *conf,
                          struct ow_err *err)
{
    struct incidents_ctx *c;
    const struct incidents_conf *cf = conf;
    double resolve = cf->backlog.resolve;

    if (!isnan(resolve) && resolve > (double)cf->backlog_max) {
        return ow_err_set(err, OW_EINVAL, "$.processors.rdp_incidents.incident_backlog.resolve",
                          "expected at most backlog_max (%" PRId64 "), got %.0f", cf->backlog_max,
                          resolve);
    }
    c = ow_xcalloc(1, sizeof(*c));
    c->env = *env;
    c->conf = *cf;
    c->backlog_resolve =
        isnan(resolve) ? (double)(cf->backlog_max - cf->backlog_max / 10) : resolve;
    c->incidents = ow_strmap_create(sizeof(struct ow_incident));
    c->wm = INT64_MIN;
    c->max_us = INT64_MIN;
    c->next_check = INT64_MAX;
    *ctx = c;
    return OW_OK;
}

static void incidents_destroy(void *ctx)
{
    struct incidents_ctx *c = ctx;

    if (c == NULL) {
        return;
    }
    ow_strmap_destroy(c->incidents, ow__inc_free);
    free(c->watch);
    free(c->before.v);
    free(c->after.v);
    free(c);
}

/* ---- events ---- */

static int incidents_apply(void *ctx, const struct ow_event *ev, struct ow_sink *out,
                           struct ow_err *err)
{
    struct incidents_ctx *c = ctx;
    struct ow_incident *inc;
    const char *rdp_before;
    bool created;
    int64_t t = ev->occurred_us;
    int lo;
    int hi;

    (void)out;
    (void)err;
    if (ev->entity_id.p == NULL) {
        return OW_OK; /* the decoder requires incident_id; nothing to attach this to */
    }
    inc = ow_strmap_upsert(c->incidents, ev->entity_id.p, ev->entity_id.len, &created);
    if (created) {
        inc->id = ow_xstrndup(ev->entity_id.p, ev->entity_id.len);
        inc->deadline = INT64_MAX;
    }
    if (ow__inc_has_event(inc, ev->event_id.p, ev->event_id.len)) {
        return OW_OK; /* redelivered after the engine forgot its id: the same event */
    }
    if (t > c->max_us) {
        c->max_us = t;
    }
    lo = month_of(c, inc->n > 0 && inc->evs[0].us < t ? inc->evs[0].us : t);
    hi = horizon(c);
    ow__inc_collect(c->env.tz, inc, lo, hi, &c->before);
    rdp_before = ow__inc_rdp(inc);
    ow__inc_insert(inc, ev);
    if (ow__inc_held(inc) && hold_over(c, inc, c->wm)) {
        inc->hold_expired = true; /* it arrived after its hold had run out */
    }
    ow__inc_collect(c->env.tz, inc, lo, hi, &c->after);
    touch_changes(c, &c->before, rdp_before, &c->after, ow__inc_rdp(inc), lo, hi, month_of(c, t));
    refresh(c, inc, c->wm > t ? c->wm : t);
    watch(c, inc);
    return OW_OK;
}

/* One incident on the watch list, the watermark having moved from @prev to c->wm. */
static void watermark_one(struct incidents_ctx *c, struct ow_incident *inc, int64_t prev)
{
    if (maybe_held(inc) && ow__inc_held(inc) && hold_over(c, inc, c->wm)) {
        int lo = month_of(c, inc->evs[0].us);
        int hi = horizon(c);

        inc->hold_expired = true; /* before: nothing (held); after: its unmatched facts */
        ow__inc_collect(c->env.tz, inc, lo, hi, &c->after);
        c->before.n = 0;
        touch_changes(c, &c->before, NULL, &c->after, NULL, lo, hi, INT_MIN);
        refresh(c, inc, c->wm);
    } else if (inc->rejudge || (inc->overdue == OW_INC_OVERDUE_NONE && inc->deadline > prev &&
                                inc->deadline <= c->wm)) {
        eval_overdue(c, inc, c->wm);
    }
}

static void incidents_on_watermark(void *ctx, int64_t watermark_us, struct ow_sink *out)
{
    struct incidents_ctx *c = ctx;
    int64_t prev = c->wm;
    size_t kept = 0;

    (void)out;
    if (watermark_us <= c->wm) {
        return;
    }
    /* Every deadline up to the previous watermark has been judged (here, or by apply when it
     * was set), and next_check is the first one after it. */
    c->wm = watermark_us;
    if (c->wm < c->next_check) {
        return;
    }
    c->next_check = INT64_MAX;
    for (size_t i = 0; i < c->nwatch; i++) {
        struct ow_incident *inc = c->watch[i];
        int64_t t;

        watermark_one(c, inc, prev);
        t = next_check_of(c, inc);
        inc->watched = t != INT64_MAX;
        if (inc->watched) {
            c->watch[kept++] = inc;
            c->next_check = t < c->next_check ? t : c->next_check;
        }
    }
    c->nwatch = kept;
}

/* The end of replay input: no opening event will come, so every hold is over. The watermark
 * stays where it is, so no deadline is judged early. */
static void incidents_end_of_input(void *ctx, struct ow_sink *out)
{
    struct incidents_ctx *c = ctx;

    (void)out;
    c->input_ended = true;
    for (size_t i = 0; i < c->nwatch; i++) {
        watermark_one(c, c->watch[i], c->wm);
    }
}

/* ---- reports ---- */

struct ages {
    int64_t *v;
    size_t n;
    size_t cap;
};

struct month_sum {
    int64_t opened, resolved, reopened, open_at_end, unmatched;
    int64_t region[OW_INC_NREG][3]; /* opened, resolved, open_at_end */
    struct ages ages[OW_INC_NSEV];
    struct ow_strmap *rdp; /* rdp_id -> int64_t[3] */
};

struct sum_pass {
    struct incidents_ctx *c;
    int month;
    int64_t start; /* the month's first instant */
    int64_t end;   /* the next month's */
    struct month_sum *s;
};

static void add_facts(const struct ow_strmap_entry *e, void *arg)
{
    struct sum_pass *p = arg;
    const struct ow_incident *inc = e->value;
    const char *rdp;
    struct month_sum *s = p->s;

    /* Nothing before its first event; nothing after its last one unless it is open. */
    if (inc->n == 0 || inc->evs[0].us >= p->end ||
        (inc->evs[inc->n - 1].us < p->start && !inc->open_now)) {
        return;
    }
    rdp = ow__inc_rdp(inc);
    ow__inc_collect(p->c->env.tz, inc, p->month, p->month, &p->c->after);
    for (size_t i = 0; i < p->c->after.n; i++) {
        const struct ow_inc_fact *f = &p->c->after.v[i];
        int col = f->kind == OW_INC_F_OPENED ? 0 : f->kind == OW_INC_F_RESOLVED ? 1 : 2;
        int64_t *r = NULL;

        switch (f->kind) {
        case OW_INC_F_OPENED:
            s->opened++;
            break;
        case OW_INC_F_RESOLVED:
            s->resolved++;
            if (f->severity == 0) {
                s->unmatched++;
            } else {
                struct ages *a = &s->ages[f->severity - 1];

                if (a->n == a->cap) {
                    a->cap = a->cap ? 2 * a->cap : 8;
                    a->v = ow_xrealloc(a->v, a->cap * sizeof(*a->v));
                }
                a->v[a->n++] = f->age_us;
            }
            break;
        case OW_INC_F_REOPENED:
            s->reopened++;
            continue; /* by_region and by_rdp carry the three counts only */
        default:
            s->open_at_end++;
            break;
        }
        s->region[f->region][col]++;
        if (rdp != NULL) {
            r = ow_strmap_upsert(s->rdp, rdp, strlen(rdp), NULL);
            r[col]++;
        }
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static json_t *days(double us)
{
    return json_real(us / (double)OW_US_PER_DAY);
}

static json_t *age_stats(struct ages *a)
{
    size_t n = a->n;

    if (n == 0) {
        return json_pack("{s:n, s:n, s:n}", "min", "median", "max");
    }
    qsort(a->v, n, sizeof(*a->v), cmp_i64);
    return json_pack("{s:o, s:o, s:o}", "min", days((double)a->v[0]), "median",
                     n % 2 ? days((double)a->v[n / 2])
                           : days(((double)a->v[n / 2 - 1] + (double)a->v[n / 2]) / 2.0),
                     "max", days((double)a->v[n - 1]));
}

static json_t *counts3(const int64_t v[3])
{
    return json_pack("{s:I, s:I, s:I}", "opened", (json_int_t)v[0], "resolved", (json_int_t)v[1],
                     "open_at_end", (json_int_t)v[2]);
}

static json_t *incidents_snapshot(void *ctx, struct ow_window_id w)
{
    struct incidents_ctx *c = ctx;
    struct month_sum s;
    struct sum_pass p = {c, w.index, ow_window_start(c->env.tz, w), ow_window_end(c->env.tz, w),
                         &s};
    struct ow_strmap_entry *e;
    json_t *sev = json_object();
    json_t *rdp = json_object();
    json_t *reg = json_object();
    json_t *out;

    if (w.kind != OW_WIN_MONTH) {
        json_decref(sev);
        json_decref(rdp);
        json_decref(reg);
        return NULL;
    }
    memset(&s, 0, sizeof(s));
    s.rdp = ow_strmap_create(3 * sizeof(int64_t));
    ow_strmap_foreach(c->incidents, add_facts, &p);
    for (int i = 0; i < OW_INC_NSEV; i++) {
        char key[4] = {(char)('1' + i), '\0'};

        json_object_set_new(sev, key,
                            json_pack("{s:I, s:o}", "count", (json_int_t)s.ages[i].n, "age_days",
                                      age_stats(&s.ages[i])));
        free(s.ages[i].v);
    }
    e = ow_strmap_sorted(s.rdp);
    for (size_t i = 0; e != NULL && i < ow_strmap_count(s.rdp); i++) {
        json_object_set_new(rdp, e[i].key, counts3(e[i].value));
    }
    free(e);
    ow_strmap_destroy(s.rdp, NULL);
    for (int r = 0; r < OW_INC_NREG; r++) {
        json_object_set_new(reg, ow_region_name(r == OW_INC_REG_UNKNOWN ? OW_REGION_NONE : r),
                            counts3(s.region[r]));
    }
    out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "opened", (json_int_t)s.opened,
                    "reopened", (json_int_t)s.reopened, "resolved", (json_int_t)s.resolved,
                    "open_at_end", (json_int_t)s.open_at_end, "unmatched", (json_int_t)s.unmatched,
                    "resolved_by_severity", sev, "by_rdp", rdp, "by_region", reg);
    return out;
}

/* ---- checkpoints ----
 * {"v":1, "wm", "max_us", "next_check", "input_ended", "backlog_active", "backlog_window",
 *  "incidents": [[id, hold_expired, open_now, overdue, overdue_window, deadline,
 *                 [[us, event_id, rdp_id|null, action, severity, region], ...]], ...],
 *  "watch": [id, ...]}
 * Incidents in key order (the same state saves the same text). The watch list keeps its
 * order: on_watermark raises alerts in that order. open_count is the number of open_now. */

#define STATE_VERSION 1

static json_t *incident_row(const struct ow_incident *inc)
{
    json_t *evs = json_array();

    for (size_t i = 0; i < inc->n; i++) {
        const struct ow_inc_ev *e = &inc->evs[i];

        json_array_append_new(evs, json_pack("[I, s, s?, i, i, i]", (json_int_t)e->us, e->event_id,
                                             e->rdp_id, e->action, e->severity, e->region));
    }
    return json_pack("[s, b, b, i, i, I, o]", inc->id, inc->hold_expired, inc->open_now,
                     inc->overdue, inc->overdue_window, (json_int_t)inc->deadline, evs);
}

static json_t *incidents_save(void *ctx)
{
    struct incidents_ctx *c = ctx;
    struct ow_strmap_entry *e = ow_strmap_sorted(c->incidents);
    json_t *incs = json_array();
    json_t *watched = json_array();

    for (size_t i = 0; e != NULL && i < ow_strmap_count(c->incidents); i++) {
        json_array_append_new(incs, incident_row(e[i].value));
    }
    free(e);
    for (size_t i = 0; i < c->nwatch; i++) {
        json_array_append_new(watched, json_string(c->watch[i]->id));
    }
    return json_pack("{s:i, s:I, s:I, s:I, s:b, s:b, s:i, s:o, s:o}", "v", STATE_VERSION, "wm",
                     (json_int_t)c->wm, "max_us", (json_int_t)c->max_us, "next_check",
                     (json_int_t)c->next_check, "input_ended", c->input_ended, "backlog_active",
                     c->backlog_active, "backlog_window", c->backlog_window, "incidents", incs,
                     "watch", watched);
}

static int restore_events(struct ow_incident *inc, const json_t *evs, size_t at, struct ow_err *err)
{
    for (size_t i = 0; i < json_array_size(evs); i++) {
        struct ow_inc_ev e;
        struct ow_row r;

        ow_row_open(&r, json_array_get(evs, i), 6);
        e.us = ow_row_int(&r, INT64_MIN, INT64_MAX);
        e.event_id = (char *)ow_row_str(&r, false);
        e.rdp_id = (char *)ow_row_str(&r, true);
        e.action = (int8_t)ow_row_int(&r, OW_ACT_OPENED, OW_ACT_REOPENED);
        e.severity = (int8_t)ow_row_int(&r, 0, OW_INC_NSEV);
        e.region = (int8_t)ow_row_int(&r, OW_REGION_NONE, OW_REGION__COUNT - 1);
        if (!ow_row_ok(&r)) {
            return ow_err_set(err, OW_EINVAL, "state: rdp_incidents.incidents",
                              "incident %zu, event %zu: %s", at, i, ow_row_error(&r));
        }
        if (!ow__inc_append(inc, &e)) {
            return ow_err_set(err, OW_EINVAL, "state: rdp_incidents.incidents",
                              "incident %zu, event %zu: out of order or repeated", at, i);
        }
    }
    return OW_OK;
}

static int restore_incident(struct incidents_ctx *c, const json_t *row, size_t at,
                            struct ow_err *err)
{
    struct ow_incident *inc;
    const json_t *evs;
    const char *id;
    bool created;
    struct ow_row r;
    bool hold_expired;
    bool open_now;
    int overdue;
    int overdue_window;
    int64_t deadline;

    ow_row_open(&r, row, 7);
    id = ow_row_str(&r, false);
    hold_expired = ow_row_bool(&r);
    open_now = ow_row_bool(&r);
    overdue = (int)ow_row_int(&r, OW_INC_OVERDUE_NONE, OW_INC_OVERDUE_DONE);
    overdue_window = (int)ow_row_int(&r, INT32_MIN, INT32_MAX);
    deadline = ow_row_int(&r, INT64_MIN, INT64_MAX);
    evs = ow_row_array(&r);
    if (!ow_row_ok(&r)) {
        return ow_err_set(err, OW_EINVAL, "state: rdp_incidents.incidents", "incident %zu: %s", at,
                          ow_row_error(&r));
    }
    inc = ow_strmap_upsert(c->incidents, id, strlen(id), &created);
    if (!created) {
        return ow_err_set(err, OW_EINVAL, "state: rdp_incidents.incidents",
                          "incident %zu: '%.100s' is there twice", at, id);
    }
    inc->id = ow_xstrdup(id);
    inc->hold_expired = hold_expired;
    inc->open_now = open_now;
    inc->overdue = (int8_t)overdue;
    inc->overdue_window = overdue_window;
    inc->deadline = deadline;
    c->open_count += open_now;
    return restore_events(inc, evs, at, err);
}

/* The deadlines follow from trt_hours, which a reload (ow_engine_reconfigure) may change: an
 * incident whose deadline moved is watched and judged afresh at the next watermark step (an
 * alert for the old deadline resolves, a passed new one fires). With the same settings every
 * saved deadline is the recomputed one, and nothing changes. */
static void settle_deadlines(struct incidents_ctx *c)
{
    struct ow_strmap_entry *e = ow_strmap_sorted(c->incidents);

    for (size_t i = 0; e != NULL && i < ow_strmap_count(c->incidents); i++) {
        struct ow_incident *inc = e[i].value;
        struct ow_inc_walk k;
        int64_t d;

        ow__inc_walk_until(inc, INT64_MAX, &k);
        d = deadline_of(c, inc, &k);
        if (d != inc->deadline) {
            inc->deadline = d;
            inc->rejudge = true;
            watch(c, inc);
        }
    }
    free(e);
}

static int incidents_restore(void *ctx, const json_t *state, struct ow_err *err)
{
    struct incidents_ctx *c = ctx;
    const json_t *incs = json_object_get(state, "incidents");
    const json_t *watched = json_object_get(state, "watch");
    int64_t v = 0;
    int64_t window = 0;
    int rc;

    if (!ow_state_int(state, "v", STATE_VERSION, STATE_VERSION, &v)) {
        return ow_err_set(err, OW_EINVAL, "state: rdp_incidents", "expected version %d",
                          STATE_VERSION);
    }
    if (!ow_state_int(state, "wm", INT64_MIN, INT64_MAX, &c->wm) ||
        !ow_state_int(state, "max_us", INT64_MIN, INT64_MAX, &c->max_us) ||
        !ow_state_int(state, "next_check", INT64_MIN, INT64_MAX, &c->next_check) ||
        !ow_state_bool(state, "input_ended", &c->input_ended) ||
        !ow_state_bool(state, "backlog_active", &c->backlog_active) ||
        !ow_state_int(state, "backlog_window", INT32_MIN, INT32_MAX, &window) ||
        !json_is_array(incs) || !json_is_array(watched)) {
        return ow_err_set(err, OW_EINVAL, "state: rdp_incidents",
                          "expected integers wm, max_us, next_check, backlog_window, booleans "
                          "input_ended, backlog_active, arrays incidents, watch");
    }
    c->backlog_window = (int)window;
    for (size_t i = 0; i < json_array_size(incs); i++) {
        rc = restore_incident(c, json_array_get(incs, i), i, err);
        if (rc != OW_OK) {
            return rc;
        }
    }
    for (size_t i = 0; i < json_array_size(watched); i++) {
        const char *id = json_string_value(json_array_get(watched, i));
        struct ow_incident *inc = id != NULL ? ow_strmap_get(c->incidents, id, strlen(id)) : NULL;

        if (inc == NULL || inc->watched) {
            return ow_err_set(err, OW_EINVAL, "state: rdp_incidents.watch",
                              "entry %zu: not a saved incident, or there twice", i);
        }
        if (c->nwatch == c->cap_watch) {
            c->cap_watch = c->cap_watch ? 2 * c->cap_watch : 16;
            c->watch = ow_xrealloc(c->watch, c->cap_watch * sizeof(*c->watch));
        }
        c->watch[c->nwatch++] = inc;
        inc->watched = true;
    }
    settle_deadlines(c);
    return OW_OK;
}

const struct ow_processor ow_rdp_incidents_processor = {
    .abi = OW_PROCESSOR_ABI,
    .name = "rdp_incidents",
    .report = "rdp_incidents",
    .kind = OW_WIN_MONTH,
    .sec_ref = "AG 2.5.10",
    .due_working_days = 0,
    .event_types = incidents_types,
    .conf = incidents_conf_map,
    .conf_size = sizeof(struct incidents_conf),
    .init = incidents_init,
    .apply = incidents_apply,
    .on_watermark = incidents_on_watermark,
    .end_of_input = incidents_end_of_input,
    .snapshot = incidents_snapshot,
    .save = incidents_save,
    .restore = incidents_restore,
    .destroy = incidents_destroy,
};
