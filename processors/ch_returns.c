/* ch_returns.c: Communications Hub returns (SEC F9.15): hubs closed per quarter, attributed to
 * Service Users (No Fault Found) or the DCC (Fault Found), DCC faults per month per CSP region.
 *
 * Each hub keeps its events sorted by occurred_at. A hub's return records and their state are
 * derived from that sorted history alone, so the order in which events arrive never changes
 * the figures. An event recomputes its hub's records and moves the difference into the per
 * quarter counters, so a snapshot costs nothing per hub and a hub event costs its own
 * history, not the quarter's. */
#include <inttypes.h>
#include <math.h>
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

#define NCSP 2 /* csp_n, csp_cs */
#define NMONTH 3

enum { CSP_N, CSP_CS };

struct chr_fault_rule {
    struct ow_rule_conf rule;
    int64_t min_closed;
};

struct chr_conf {
    struct chr_fault_rule fault_share;
};

/* A percent 0..100, or null: the rule's default (the threshold less a tenth of it). */
static void parse_resolve(const json_t *v, void *dst, const char *path, struct ow_conf_errors *errs)
{
    char got[80];

    if (json_is_null(v)) {
        *(double *)dst = NAN;
    } else if (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 100) {
        *(double *)dst = json_number_value(v);
    } else {
        ow_conf_error(errs, path, "expected a number 0..100 or null (the default), got %s",
                      ow_conf_describe(v, got, sizeof(got)));
    }
}

/* Own map rather than the shared ow_rule_conf_map: this rule's threshold default (20%) must
 * hold even when a configuration sets only some of its keys, and it has min_closed. */
static const struct ow_conf_field fault_share_map[] = {
    OW_CONF_BOOL("enabled", struct chr_fault_rule, rule.enabled, "true",
                 "raise ch_fault_share at all"),
    OW_RULE_SEVERITY_FIELD(struct chr_fault_rule, rule.severity, "\"warning\""),
    OW_CONF_DURATION("for", struct chr_fault_rule, rule.for_us, 0, INT64_C(366) * OW_US_PER_DAY,
                     "\"0s\"", "how long (event time) the share must stay over before firing"),
    OW_CONF_DOUBLE("threshold", struct chr_fault_rule, rule.threshold, 0, 100, "20",
                   "fires when a CSP's DCC-attributed share of its closed returns in the quarter "
                   "to date is at or over this percent"),
    OW_CONF_CUSTOM("resolve", struct chr_fault_rule, rule.resolve, parse_resolve, NULL,
                   "number 0..100 or null", "null",
                   "a firing alert resolves when the share falls below this percent "
                   "(hysteresis; at most threshold); null: the threshold less a tenth of it"),
    OW_CONF_INT("min_closed", struct chr_fault_rule, min_closed, 1, INT64_C(1000000000), "50",
                "closed returns a CSP needs in the quarter before the share may fire"),
    {0},
};

static const struct ow_conf_field chr_conf_map[] = {
    OW_CONF_SUB("ch_fault_share", struct chr_conf, fault_share, fault_share_map, "{}",
                "the ch_fault_share alert rule"),
    {0},
};

/* One stored event of a hub. `returned` is informational and not kept. */
struct chr_ev {
    int64_t us;
    char *event_id; /* the tie-break between events of one instant */
    int month;      /* ow_tz_month_of(us) */
    int8_t action;
    int8_t attribution;
    int8_t fault;
    int8_t region;
};

struct chr_hub {
    struct chr_ev *evs; /* sorted: see ev_before() */
    size_t n;
    size_t cap;
};

/* What one return record adds to the counters of its quarter. */
struct chr_rec {
    int month; /* of its `closed` */
    int8_t region;
    bool disputed; /* unresolved: left out of every count but disputed_open */
    int8_t attribution;
    int8_t fault;
};

struct chr_quarter {
    int64_t closed[OW_REGION__COUNT];
    int64_t service_user[OW_REGION__COUNT];
    int64_t dcc[OW_REGION__COUNT];
    int64_t faults[NCSP][OW_FAULT__COUNT][NMONTH];
    int64_t disputed_open;
};

struct chr_ctx {
    struct ow_proc_env env;
    struct chr_conf conf;
    struct ow_strmap *hubs;     /* ch_id -> struct chr_hub */
    struct ow_strmap *quarters; /* int quarter -> struct chr_quarter */
};

static const char *const chr_types[] = {"ch_return", NULL};
static const char *const fault_names[OW_FAULT__COUNT] = {
    "aerial", "led", "manufacturing_defect", "sm_han_interface", "sm_wan",
};
static const char *const csp_names[NCSP] = {"csp_n", "csp_cs"};
static const char *const csp_labels[NCSP] = {"CSP N", "CSP C&S"};

static int csp_of(int region)
{
    return region == OW_REGION_NORTH ? CSP_N : CSP_CS;
}

static int quarter_of_month(int month)
{
    return month / 3;
}

static int chr_init(void **ctx, const struct ow_proc_env *env, const void *conf, struct ow_err *err)
{
    const struct chr_conf *cf = conf;
    struct chr_ctx *c;

    if (cf->fault_share.rule.resolve > cf->fault_share.rule.threshold) {
        return ow_err_set(err, OW_EINVAL, "processors.ch_returns.ch_fault_share.resolve",
                          "expected at most the threshold (%g), got %g",
                          cf->fault_share.rule.threshold, cf->fault_share.rule.resolve);
    }
    c = ow_xcalloc(1, sizeof(*c));
    c->env = *env;
    c->conf = *cf;
    if (isnan(c->conf.fault_share.rule.resolve)) {
        c->conf.fault_share.rule.resolve =
            c->conf.fault_share.rule.threshold - c->conf.fault_share.rule.threshold / 10;
    }
    c->hubs = ow_strmap_create(sizeof(struct chr_hub));
    c->quarters = ow_strmap_create(sizeof(struct chr_quarter));
    *ctx = c;
    return OW_OK;
}

static void free_hub(void *v)
{
    struct chr_hub *h = v;

    for (size_t i = 0; i < h->n; i++) {
        free(h->evs[i].event_id);
    }
    free(h->evs);
}

static void chr_destroy(void *ctx)
{
    struct chr_ctx *c = ctx;

    if (c == NULL) {
        return;
    }
    ow_strmap_destroy(c->hubs, free_hub);
    ow_strmap_destroy(c->quarters, NULL);
    free(c);
}

/* Within one instant a `closed` comes first, so that a dispute at the same instant applies
 * to it ("at or before"), and a resolution after a dispute; then the event id decides, so
 * that the order is the same whatever the arrival order. */
static int action_rank(int action)
{
    switch (action) {
    case OW_ACT_CLOSED:
        return 0;
    case OW_ACT_DISPUTED:
        return 1;
    default:
        return 2;
    }
}

static bool ev_before(const struct chr_ev *a, const struct chr_ev *b)
{
    if (a->us != b->us) {
        return a->us < b->us;
    }
    if (action_rank(a->action) != action_rank(b->action)) {
        return action_rank(a->action) < action_rank(b->action);
    }
    return strcmp(a->event_id, b->event_id) < 0;
}

static bool hub_has(const struct chr_hub *h, const struct ow_str *event_id)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strlen(h->evs[i].event_id) == event_id->len &&
            memcmp(h->evs[i].event_id, event_id->p, event_id->len) == 0) {
            return true;
        }
    }
    return false;
}

static void hub_insert(struct chr_hub *h, const struct chr_ev *e)
{
    size_t i = h->n;

    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 4;
        h->evs = ow_xrealloc(h->evs, h->cap * sizeof(*h->evs));
    }
    /* Mostly in order: walk back from the end. */
    while (i > 0 && ev_before(e, &h->evs[i - 1])) {
        i--;
    }
    memmove(&h->evs[i + 1], &h->evs[i], (h->n - i) * sizeof(*h->evs));
    h->evs[i] = *e;
    h->n++;
}

/* The hub's return records, from its sorted history: each `closed` starts one; a dispute or
 * resolution applies to the latest `closed` at or before it (none: it applies to nothing).
 * The last of them decides: disputed (left out) or resolved with its attribution and fault.
 * @out has room for h->n records. @returns how many. */
static size_t hub_records(const struct chr_hub *h, struct chr_rec *out)
{
    size_t n = 0;

    for (size_t i = 0; i < h->n; i++) {
        const struct chr_ev *e = &h->evs[i];
        struct chr_rec *r = n > 0 ? &out[n - 1] : NULL;

        if (e->action == OW_ACT_CLOSED) {
            r = &out[n++];
            r->month = e->month;
            r->region = e->region;
            r->disputed = false;
            r->attribution = e->attribution;
            r->fault = e->fault;
        } else if (r != NULL && e->action == OW_ACT_DISPUTED) {
            r->disputed = true;
        } else if (r != NULL && e->action == OW_ACT_DISPUTE_RESOLVED) {
            r->disputed = false;
            r->attribution = e->attribution;
            r->fault = e->fault;
        }
    }
    return n;
}

static bool rec_equal(const struct chr_rec *a, const struct chr_rec *b)
{
    return a->month == b->month && a->region == b->region && a->disputed == b->disputed &&
           (a->disputed || (a->attribution == b->attribution && a->fault == b->fault));
}

static struct chr_quarter *quarter_get(const struct chr_ctx *c, int q)
{
    return ow_strmap_get(c->quarters, (const char *)&q, sizeof(q));
}

/* Add (@sign 1) or remove (-1) one record's contribution to its quarter. */
static void rec_count(struct chr_ctx *c, const struct chr_rec *r, int sign)
{
    int q = quarter_of_month(r->month);
    struct chr_quarter *x = ow_strmap_upsert(c->quarters, (const char *)&q, sizeof(q), NULL);

    if (r->disputed) {
        x->disputed_open += sign;
        return;
    }
    x->closed[r->region] += sign;
    if (r->attribution == OW_ATTR_DCC) {
        x->dcc[r->region] += sign;
        if (r->fault != OW_FAULT_NONE) {
            x->faults[csp_of(r->region)][r->fault][r->month - 3 * q] += sign;
        }
    } else {
        x->service_user[r->region] += sign;
    }
}

static void csp_totals(const struct chr_quarter *x, int csp, int64_t *closed, int64_t *dcc)
{
    *closed = 0;
    *dcc = 0;
    for (int r = 0; r < OW_REGION__COUNT; r++) {
        if (csp_of(r) == csp) {
            *closed += x->closed[r];
            *dcc += x->dcc[r];
        }
    }
}

/* ch_fault_share for one CSP in quarter @q, as the counters stand now. */
static void observe_share(struct chr_ctx *c, int q, int csp, int64_t event_us)
{
    const struct chr_fault_rule *fr = &c->conf.fault_share;
    const struct chr_quarter *x = quarter_get(c, q);
    struct ow_window_id w = {OW_WIN_QUARTER, q};
    struct ow_alert_dim dim = {"csp", csp_names[csp]};
    struct ow_alert_obs obs;
    char name[16];
    char msg[256];
    int64_t closed = 0;
    int64_t dcc = 0;
    double share;

    if (!fr->rule.enabled) {
        return;
    }
    if (x != NULL) {
        csp_totals(x, csp, &closed, &dcc);
    }
    share = closed > 0 ? 100.0 * (double)dcc / (double)closed : 0.0;
    ow_window_name(w, name, sizeof(name));
    snprintf(msg, sizeof(msg),
             "%s: %.1f%% of its %" PRId64 " closed Communications Hub returns in %s were "
             "attributed to the DCC (threshold %.1f%%)",
             csp_labels[csp], share, closed, name, fr->rule.threshold);
    memset(&obs, 0, sizeof(obs));
    obs.rule = "ch_fault_share";
    obs.conf = &fr->rule;
    obs.window = w;
    obs.dims = &dim;
    obs.ndims = 1;
    obs.breach = closed >= fr->min_closed && share >= fr->rule.threshold;
    obs.recovered = share < fr->rule.resolve;
    obs.value = share;
    obs.threshold = fr->rule.threshold;
    obs.unit = "percent";
    obs.message = msg;
    obs.event_us = event_us;
    ow_alerts_observe(c->env.alerts, &obs);
}

static bool contains(const int *v, size_t n, int x)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] == x) {
            return true;
        }
    }
    return false;
}

/* Move the difference between a hub's records before and after an event into the counters,
 * touch the quarters it changed other than the event's own, and re-check the fault share of
 * the CSPs it changed. Records of expired quarters count nowhere. */
static void apply_delta(struct chr_ctx *c, const struct chr_rec *before, size_t nb,
                        const struct chr_rec *after, size_t na, const struct ow_event *ev)
{
    const struct chr_rec *side[2] = {before, after};
    size_t nside[2] = {nb, na};
    bool *matched[2];
    int *pairs = ow_xcalloc(nb + na + 1, sizeof(*pairs));
    size_t npairs = 0;
    int own = quarter_of_month(ow_tz_month_of(c->env.tz, ev->occurred_us));
    int *touched = ow_xcalloc(nb + na + 1, sizeof(*touched));
    size_t ntouched = 0;

    matched[0] = ow_xcalloc(nb + 1, sizeof(bool));
    matched[1] = ow_xcalloc(na + 1, sizeof(bool));
    /* Records are few per hub: pair the unchanged ones naively. */
    for (size_t i = 0; i < nb; i++) {
        for (size_t j = 0; j < na; j++) {
            if (!matched[1][j] && rec_equal(&before[i], &after[j])) {
                matched[0][i] = true;
                matched[1][j] = true;
                break;
            }
        }
    }
    for (int s = 0; s < 2; s++) {
        for (size_t i = 0; i < nside[s]; i++) {
            const struct chr_rec *r = &side[s][i];
            int q = quarter_of_month(r->month);
            struct ow_window_id w = {OW_WIN_QUARTER, q};

            if (matched[s][i] || ow_engine_window_expired(c->env.eng, w)) {
                continue;
            }
            rec_count(c, r, s == 0 ? -1 : 1);
            if (q != own && !contains(touched, ntouched, q)) {
                ow_engine_window_touched(c->env.eng, w); /* once per event and quarter */
                touched[ntouched++] = q;
            }
        }
    }
    /* The fault share, once per changed (quarter, CSP), after every count has moved. */
    for (int s = 0; s < 2; s++) {
        for (size_t i = 0; i < nside[s]; i++) {
            const struct chr_rec *r = &side[s][i];
            struct ow_window_id w = {OW_WIN_QUARTER, quarter_of_month(r->month)};
            int pair = 2 * w.index + csp_of(r->region);

            if (matched[s][i] || ow_engine_window_expired(c->env.eng, w)) {
                continue;
            }
            if (!contains(pairs, npairs, pair)) {
                pairs[npairs++] = pair;
                observe_share(c, w.index, csp_of(r->region), ev->occurred_us);
            }
        }
    }
    free(pairs);
    free(touched);
    free(matched[0]);
    free(matched[1]);
}

static int chr_apply(void *ctx, const struct ow_event *ev, struct ow_sink *out, struct ow_err *err)
{
    struct chr_ctx *c = ctx;
    struct chr_hub *h;
    struct chr_rec *before;
    struct chr_rec *after;
    struct chr_ev e;
    size_t nb;
    size_t na;

    (void)out;
    if (ev->region == OW_REGION_NONE) {
        /* The decoder requires it; never index the counters with it. */
        return ow_err_set(err, OW_ESCHEMA, "ch_return: field 'region'", "required");
    }
    if (ev->action == OW_ACT_RETURNED) {
        return OW_OK; /* informational; the engine has counted its window */
    }
    h = ow_strmap_upsert(c->hubs, ev->entity_id.p, ev->entity_id.len, NULL);
    if (hub_has(h, &ev->event_id)) {
        /* A redelivery the engine's bounded id memory no longer knew (an old event arriving
         * after the watermark moved on): the hub's own history still knows it. */
        return OW_OK;
    }
    memset(&e, 0, sizeof(e));
    e.us = ev->occurred_us;
    e.event_id = ow_xstrndup(ev->event_id.p, ev->event_id.len);
    e.month = ow_tz_month_of(c->env.tz, ev->occurred_us);
    e.action = (int8_t)ev->action;
    e.attribution = (int8_t)ev->attribution;
    e.fault = (int8_t)(ev->attribution == OW_ATTR_DCC ? ev->fault : OW_FAULT_NONE);
    e.region = (int8_t)ev->region;
    before = ow_xcalloc(h->n + 2, sizeof(*before));
    after = ow_xcalloc(h->n + 2, sizeof(*after));
    nb = hub_records(h, before);
    hub_insert(h, &e);
    na = hub_records(h, after);
    apply_delta(c, before, nb, after, na, ev);
    free(before);
    free(after);
    return OW_OK;
}

static json_t *month_row(int q, const int64_t cells[NMONTH])
{
    json_t *row = json_object();
    int64_t total = 0;
    char key[16];

    for (int m = 0; m < NMONTH; m++) {
        int month = 3 * q + m;

        snprintf(key, sizeof(key), "%04d-%02d", month / 12, month % 12 + 1);
        json_object_set_new(row, key, json_integer((json_int_t)cells[m]));
        total += cells[m];
    }
    json_object_set_new(row, "total", json_integer((json_int_t)total));
    return row;
}

static json_t *percent(int64_t a, int64_t b)
{
    return b == 0 ? json_null() : json_real(100.0 * (double)a / (double)b);
}

static json_t *csp_report(const struct chr_quarter *x, int q, int csp, int64_t all_closed)
{
    json_t *faults = json_object();
    int64_t sum[NMONTH] = {0};
    int64_t closed = 0;
    int64_t su = 0;
    int64_t dcc = 0;

    for (int r = 0; r < OW_REGION__COUNT; r++) {
        if (csp_of(r) == csp) {
            closed += x->closed[r];
            su += x->service_user[r];
            dcc += x->dcc[r];
        }
    }
    for (int f = 0; f < OW_FAULT__COUNT; f++) {
        json_object_set_new(faults, fault_names[f], month_row(q, x->faults[csp][f]));
        for (int m = 0; m < NMONTH; m++) {
            sum[m] += x->faults[csp][f][m];
        }
    }
    json_object_set_new(faults, "total", month_row(q, sum));
    return json_pack("{s:I, s:o, s:I, s:I, s:o}", "closed", (json_int_t)closed, "share_percent",
                     percent(closed, all_closed), "service_user", (json_int_t)su, "dcc",
                     (json_int_t)dcc, "dcc_faults", faults);
}

static json_t *chr_snapshot(void *ctx, struct ow_window_id w)
{
    struct chr_ctx *c = ctx;
    static const struct chr_quarter empty;
    const struct chr_quarter *x = quarter_get(c, w.index);
    json_t *by_csp = json_object();
    json_t *by_region = json_object();
    int64_t closed = 0;
    int64_t su = 0;
    int64_t dcc = 0;

    if (x == NULL) {
        x = &empty;
    }
    for (int r = 0; r < OW_REGION__COUNT; r++) {
        closed += x->closed[r];
        su += x->service_user[r];
        dcc += x->dcc[r];
        json_object_set_new(by_region, ow_region_name(r),
                            json_pack("{s:I, s:I, s:I}", "closed", (json_int_t)x->closed[r],
                                      "service_user", (json_int_t)x->service_user[r], "dcc",
                                      (json_int_t)x->dcc[r]));
    }
    for (int csp = 0; csp < NCSP; csp++) {
        json_object_set_new(by_csp, csp_names[csp], csp_report(x, w.index, csp, closed));
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:o, s:o}", "closed", (json_int_t)closed, "service_user",
                     (json_int_t)su, "dcc", (json_int_t)dcc, "disputed_open",
                     (json_int_t)x->disputed_open, "by_csp", by_csp, "by_region", by_region);
}

struct prune_arg {
    int quarter;
    char **keys;
    size_t n;
};

static void collect_old_hub(const struct ow_strmap_entry *en, void *arg)
{
    struct prune_arg *pa = arg;
    const struct chr_hub *h = en->value;

    if (h->n == 0 || quarter_of_month(h->evs[h->n - 1].month) <= pa->quarter) {
        pa->keys[pa->n++] = (char *)en->key;
    }
}

/* Quarter @w is past retention: drop its counters, and the hubs whose whole history lies in
 * expired quarters. A later dispute of such a hub would apply to a record in an expired
 * quarter, which counts nowhere, so forgetting the hub changes no figure. */
static void chr_expire(void *ctx, struct ow_window_id w)
{
    struct chr_ctx *c = ctx;
    struct prune_arg pa = {w.index, NULL, 0};

    ow_strmap_remove(c->quarters, (const char *)&w.index, sizeof(w.index), NULL);
    pa.keys = ow_xcalloc(ow_strmap_count(c->hubs) + 1, sizeof(*pa.keys));
    ow_strmap_foreach(c->hubs, collect_old_hub, &pa);
    for (size_t i = 0; i < pa.n; i++) {
        char *key = ow_xstrdup(pa.keys[i]);

        ow_strmap_remove(c->hubs, key, strlen(key), free_hub);
        free(key);
    }
    free(pa.keys);
}

/* ---- checkpoints ----
 * {"v":1, "hubs": [[ch_id, [[us, event_id, action, attribution, fault, region], ...]], ...]}
 * Hubs in key order. The per-quarter counters are not saved: restore adds up the records of
 * the restored histories into every quarter not expired. That is what the counters hold,
 * because a counter moves with every change of a record in its quarter until the quarter
 * expires (then it is dropped), and the hubs forgotten at expiry have records in expired
 * quarters only. A checkpoint then cannot carry counters that disagree with its histories. */

#define STATE_VERSION 1

static json_t *hub_row(const char *id, const struct chr_hub *h)
{
    json_t *evs = json_array();

    for (size_t i = 0; i < h->n; i++) {
        const struct chr_ev *e = &h->evs[i];

        json_array_append_new(evs, json_pack("[I, s, i, i, i, i]", (json_int_t)e->us, e->event_id,
                                             e->action, e->attribution, e->fault, e->region));
    }
    return json_pack("[s, o]", id, evs);
}

static json_t *chr_save(void *ctx)
{
    struct chr_ctx *c = ctx;
    struct ow_strmap_entry *e = ow_strmap_sorted(c->hubs);
    json_t *rows = json_array();

    for (size_t i = 0; e != NULL && i < ow_strmap_count(c->hubs); i++) {
        json_array_append_new(rows, hub_row(e[i].key, e[i].value));
    }
    free(e);
    return json_pack("{s:i, s:o}", "v", STATE_VERSION, "hubs", rows);
}

static int restore_hub(struct chr_ctx *c, const json_t *row, size_t at, struct ow_err *err)
{
    struct chr_hub *h;
    const json_t *evs;
    const char *id;
    bool created;
    struct ow_row r;

    ow_row_open(&r, row, 2);
    id = ow_row_str(&r, false);
    evs = ow_row_array(&r);
    if (!ow_row_ok(&r)) {
        return ow_err_set(err, OW_EINVAL, "state: ch_returns.hubs", "hub %zu: %s", at,
                          ow_row_error(&r));
    }
    h = ow_strmap_upsert(c->hubs, id, strlen(id), &created);
    if (!created) {
        return ow_err_set(err, OW_EINVAL, "state: ch_returns.hubs",
                          "hub %zu: '%.100s' is there twice", at, id);
    }
    for (size_t i = 0; i < json_array_size(evs); i++) {
        struct chr_ev e;
        const char *eid;

        memset(&e, 0, sizeof(e));
        ow_row_open(&r, json_array_get(evs, i), 6);
        e.us = ow_row_int(&r, INT64_MIN, INT64_MAX);
        eid = ow_row_str(&r, false);
        e.action = (int8_t)ow_row_int(&r, OW_ACT_CLOSED, OW_ACT_DISPUTE_RESOLVED);
        e.attribution = (int8_t)ow_row_int(&r, OW_ATTR_NONE, OW_ATTR_DCC);
        e.fault = (int8_t)ow_row_int(&r, OW_FAULT_NONE, OW_FAULT__COUNT - 1);
        e.region = (int8_t)ow_row_int(&r, 0, OW_REGION__COUNT - 1);
        if (!ow_row_ok(&r)) {
            return ow_err_set(err, OW_EINVAL, "state: ch_returns.hubs", "hub %zu, event %zu: %s",
                              at, i, ow_row_error(&r));
        }
        e.event_id = (char *)eid;
        if (h->n > 0 && !ev_before(&h->evs[h->n - 1], &e)) {
            return ow_err_set(err, OW_EINVAL, "state: ch_returns.hubs",
                              "hub %zu, event %zu: out of order or repeated", at, i);
        }
        e.event_id = ow_xstrdup(eid);
        e.month = ow_tz_month_of(c->env.tz, e.us);
        hub_insert(h, &e);
    }
    return OW_OK;
}

/* Add @h's records to the counters of the quarters not expired. */
static void count_hub(const struct ow_strmap_entry *en, void *arg)
{
    struct chr_ctx *c = arg;
    const struct chr_hub *h = en->value;
    struct chr_rec *recs = ow_xcalloc(h->n + 1, sizeof(*recs));
    size_t n = hub_records(h, recs);

    for (size_t i = 0; i < n; i++) {
        struct ow_window_id w = {OW_WIN_QUARTER, quarter_of_month(recs[i].month)};

        if (!ow_engine_window_expired(c->env.eng, w)) {
            rec_count(c, &recs[i], 1);
        }
    }
    free(recs);
}

static int chr_restore(void *ctx, const json_t *state, struct ow_err *err)
{
    struct chr_ctx *c = ctx;
    const json_t *rows = json_object_get(state, "hubs");
    int64_t v = 0;
    int rc;

    if (!ow_state_int(state, "v", STATE_VERSION, STATE_VERSION, &v)) {
        return ow_err_set(err, OW_EINVAL, "state: ch_returns", "expected version %d",
                          STATE_VERSION);
    }
    if (!json_is_array(rows)) {
        return ow_err_set(err, OW_EINVAL, "state: ch_returns", "expected an array hubs");
    }
    for (size_t i = 0; i < json_array_size(rows); i++) {
        rc = restore_hub(c, json_array_get(rows, i), i, err);
        if (rc != OW_OK) {
            return rc;
        }
    }
    ow_strmap_foreach(c->hubs, count_hub, c);
    return OW_OK;
}

const struct ow_processor ow_ch_returns_processor = {
    .abi = OW_PROCESSOR_ABI,
    .name = "ch_returns",
    .report = "ch_returns",
    .kind = OW_WIN_QUARTER,
    .sec_ref = "F9.15",
    .due_working_days = 0,
    .event_types = chr_types,
    .conf = chr_conf_map,
    .conf_size = sizeof(struct chr_conf),
    .init = chr_init,
    .apply = chr_apply,
    .snapshot = chr_snapshot,
    .expire = chr_expire,
    .save = chr_save,
    .restore = chr_restore,
    .destroy = chr_destroy,
};
