/* gen_plan.c: SR and CSR parties of each month: kinds, forecasts, volume cells, edge events. */
#include "gen_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define DAY INT64_C(86400)
#define HOUR INT64_C(3600)

/* What a party does in a month. Every kind appears every month, on a party chosen at random. */
enum party_kind {
    PK_NORMAL,  /* 96-104% of its forecast (edge events only ever go to these) */
    PK_OVER,    /* 120-170%: at_or_over_110 */
    PK_UNDER,   /* 45-80%: at_or_under_90 */
    PK_NOFC,    /* actuals, no forecast */
    PK_ZERO,    /* a forecast, no actuals: 0% */
    PK_PERSVC,  /* SR: per-service forecasts only, ~100% */
    PK_BOTH,    /* SR: all-services forecast (over) that wins over its per-service ones */
    PK_REVISED, /* a forecast replaced by a later one before the month */
    PK_EDGE110, /* exactly 110% */
    PK_EDGE90,  /* exactly 90% */
    PK_ABSENT,  /* nothing at all */
};

static const int sr_kinds[OW_GEN_SR_PARTIES] = {
    PK_NORMAL, PK_NORMAL, PK_NORMAL, PK_OVER,    PK_UNDER,   PK_NOFC,   PK_NOFC,
    PK_ZERO,   PK_PERSVC, PK_BOTH,   PK_REVISED, PK_EDGE110, PK_EDGE90, PK_ABSENT,
};

static const int csr_kinds[OW_GEN_CSR_PARTIES] = {
    PK_NORMAL, PK_NORMAL, PK_OVER, PK_UNDER, PK_NOFC, PK_ZERO, PK_REVISED, PK_EDGE110,
};

struct planner {
    struct ow_gen *g;
    struct ow_gen_rng r;
    int mi;
    int ncells_cap;
};

static void add_volume(struct ow_gen_month *m, int kind, int party, int service, int batched,
                       int region, int64_t count)
{
    if (kind == OW_GEN_K_SR) {
        m->sr[party].actual += count;
        m->sr_service[service] += count;
        m->sr_region[region] += count;
    } else {
        m->csr[party].actual += count;
        if (batched) {
            m->csr[party].batched += count;
        } else {
            m->csr[party].single += count;
        }
        m->csr_region[region < 0 ? 3 : region] += count;
    }
}

static struct ow_gen_cell *new_cell(struct planner *pl)
{
    struct ow_gen_month *m = &pl->g->month[pl->mi];

    if (m->ncells == pl->ncells_cap) {
        pl->ncells_cap = pl->ncells_cap ? pl->ncells_cap * 2 : 64;
        m->cells = ow_xrealloc(m->cells, (size_t)pl->ncells_cap * sizeof(*m->cells));
    }
    memset(&m->cells[m->ncells], 0, sizeof(m->cells[0]));
    return &m->cells[m->ncells++];
}

static void pick_distinct(struct ow_gen_rng *r, int *out, int k, int from)
{
    int all[16];

    for (int i = 0; i < from; i++) {
        all[i] = i;
    }
    ow__gen_rng_shuffle_int(r, all, from);
    memcpy(out, all, (size_t)k * sizeof(int));
}

/* Split @actual units over @n events into the cells [first, last) by random weights. */
static void fill_cells(struct planner *pl, int first, int64_t n, int64_t actual)
{
    struct ow_gen_month *m = &pl->g->month[pl->mi];
    int nc = m->ncells - first;
    int64_t w[64];
    int64_t wsum = 0;
    int64_t ev_left = n - nc;
    int64_t extra_left = actual - n;
    int64_t ev_extra = ev_left;
    int64_t un_extra = extra_left;

    for (int i = 0; i < nc; i++) {
        w[i] = ow__gen_rng_range(&pl->r, 1, 8);
        wsum += w[i];
    }
    for (int i = 0; i < nc; i++) {
        struct ow_gen_cell *c = &m->cells[first + i];
        int64_t e = i == nc - 1 ? ev_left : ev_extra * w[i] / wsum;
        int64_t u = i == nc - 1 ? extra_left : un_extra * w[i] / wsum;

        ev_left -= e;
        extra_left -= u;
        c->events = 1 + e;
        c->count = c->events + u;
        add_volume(m, c->kind, c->party, c->service, c->batched, c->region, c->count);
    }
}

static int64_t scaled(struct ow_gen *g, int64_t base)
{
    double v = floor((double)base * g->opts.scale + 0.5);

    return v < 1 ? 1 : (int64_t)v;
}

static void add_forecast(struct planner *pl, int report, int party, int service, int64_t qty,
                         int64_t t, bool dup)
{
    struct ow_gen_event ev;

    ow__gen_event_init(&ev, OW_GEN_K_FORECAST, t, ow__gen_id(pl->g));
    ev.report = (int8_t)report;
    ev.party = (int16_t)party;
    ev.service = (int16_t)service;
    ev.period = pl->g->month[pl->mi].ym;
    ev.n = qty;
    ev.dup = dup && pl->g->opts.duplicates;
    ow__gen_sparse_add(pl->g, &ev);
}

/* The forecast in force for a month is sent in the month before it, so it is there before
 * the first actual of its month: no alert depends on arrival order. */
static int64_t forecast_time(struct planner *pl, int64_t lo_days, int64_t hi_days)
{
    int64_t start = pl->g->month[pl->mi].start;

    return start - ow__gen_rng_range(&pl->r, lo_days * DAY, hi_days * DAY);
}

static int64_t ratio_forecast(struct planner *pl, int64_t actual, int lo, int hi)
{
    return actual * 100 / ow__gen_rng_range(&pl->r, lo, hi);
}

static void plan_sr_party(struct planner *pl, int p, int kind)
{
    struct ow_gen *g = pl->g;
    struct ow_gen_month *m = &g->month[pl->mi];
    struct ow_gen_party *pt = &m->sr[p];
    int svc[OW_GEN_SERVICES];
    int reg[3];
    int nsvc = (int)ow__gen_rng_range(&pl->r, 2, 5);
    int nreg = (int)ow__gen_rng_range(&pl->r, 1, 3);
    int first = m->ncells;
    int64_t n;
    int64_t actual;

    if (kind == PK_ABSENT) {
        return;
    }
    if (kind == PK_ZERO) {
        pt->fc_all = scaled(g, ow__gen_rng_range(&pl->r, 20000, 90000));
        add_forecast(pl, 0, p, -1, pt->fc_all, forecast_time(pl, 2, 20), false);
        return;
    }
    pick_distinct(&pl->r, svc, nsvc, OW_GEN_SERVICES);
    pick_distinct(&pl->r, reg, nreg, 3);
    n = scaled(g, ow__gen_rng_range(&pl->r, 250, 900));
    if (n < nsvc * nreg) {
        n = nsvc * nreg;
    }
    actual = n * ow__gen_rng_range(&pl->r, 2, 300) + ow__gen_rng_range(&pl->r, 0, n);
    if (kind == PK_EDGE110) {
        actual = (actual + 10) / 11 * 11;
    } else if (kind == PK_EDGE90) {
        actual = (actual + 8) / 9 * 9;
    }
    for (int s = 0; s < nsvc; s++) {
        for (int r = 0; r < nreg; r++) {
            struct ow_gen_cell *c = new_cell(pl);

            c->kind = OW_GEN_K_SR;
            c->party = (int16_t)p;
            c->service = (int16_t)svc[s];
            c->region = (int8_t)reg[r];
        }
    }
    fill_cells(pl, first, n, actual);
    switch (kind) {
    case PK_NORMAL:
        pt->fc_all = ratio_forecast(pl, actual, 96, 104);
        break;
    case PK_OVER:
    case PK_BOTH:
        pt->fc_all = ratio_forecast(pl, actual, 120, 170);
        break;
    case PK_UNDER:
        pt->fc_all = ratio_forecast(pl, actual, 45, 80);
        break;
    case PK_REVISED:
        /* First a forecast that would make it a shortfall, then the one in force. */
        add_forecast(pl, 0, p, -1, actual * 2, forecast_time(pl, 15, 20), false);
        pt->fc_all = ratio_forecast(pl, actual, 96, 104);
        break;
    case PK_EDGE110:
        pt->fc_all = actual / 11 * 10;
        break;
    case PK_EDGE90:
        pt->fc_all = actual / 9 * 10;
        break;
    default:
        break;
    }
    if (pt->fc_all >= 0) {
        add_forecast(pl, 0, p, -1, pt->fc_all, forecast_time(pl, 2, 10), kind == PK_NORMAL);
    }
    if (kind == PK_PERSVC || kind == PK_BOTH) {
        for (int s = 0; s < nsvc; s++) {
            int64_t a = 0;

            for (int i = first; i < m->ncells; i++) {
                a += m->cells[i].service == svc[s] ? m->cells[i].count : 0;
            }
            pt->fc_svc[svc[s]] = ratio_forecast(pl, a, 96, 104);
            add_forecast(pl, 0, p, svc[s], pt->fc_svc[svc[s]], forecast_time(pl, 2, 20), false);
        }
    }
}

static void plan_csr_party(struct planner *pl, int p, int kind)
{
    struct ow_gen *g = pl->g;
    struct ow_gen_month *m = &g->month[pl->mi];
    struct ow_gen_party *pt = &m->csr[p];
    int reg[4];
    int nreg = (int)ow__gen_rng_range(&pl->r, 1, 3);
    int mode = (int)ow__gen_rng_range(&pl->r, 0, 2); /* 0 single, 1 batched, 2 both */
    int first = m->ncells;
    int64_t n;
    int64_t actual;

    if (kind == PK_ZERO) {
        pt->fc_all = scaled(g, ow__gen_rng_range(&pl->r, 3000, 9000));
        add_forecast(pl, 1, p, -1, pt->fc_all, forecast_time(pl, 2, 20), false);
        return;
    }
    pick_distinct(&pl->r, reg, nreg, 4);
    n = scaled(g, ow__gen_rng_range(&pl->r, 150, 450));
    if (n < 2 * nreg) {
        n = 2 * nreg;
    }
    actual = n * ow__gen_rng_range(&pl->r, 1, 40) + ow__gen_rng_range(&pl->r, 0, n);
    if (kind == PK_EDGE110) {
        actual = (actual + 10) / 11 * 11;
    }
    for (int b = 0; b < 2; b++) {
        if (mode != 2 && mode != b) {
            continue;
        }
        for (int r = 0; r < nreg; r++) {
            struct ow_gen_cell *c = new_cell(pl);

            c->kind = OW_GEN_K_CSR;
            c->party = (int16_t)p;
            c->service = -1;
            c->batched = (int8_t)b;
            c->region = (int8_t)(reg[r] == 3 ? -1 : reg[r]);
        }
    }
    fill_cells(pl, first, n, actual);
    switch (kind) {
    case PK_NORMAL:
        pt->fc_all = ratio_forecast(pl, actual, 96, 104);
        break;
    case PK_OVER:
        pt->fc_all = ratio_forecast(pl, actual, 120, 170);
        break;
    case PK_UNDER:
        pt->fc_all = ratio_forecast(pl, actual, 45, 80);
        break;
    case PK_REVISED:
        add_forecast(pl, 1, p, -1, actual / 3 + 1, forecast_time(pl, 15, 20), false);
        pt->fc_all = ratio_forecast(pl, actual, 96, 104);
        break;
    case PK_EDGE110:
        pt->fc_all = actual / 11 * 10;
        break;
    default:
        break;
    }
    if (pt->fc_all >= 0) {
        add_forecast(pl, 1, p, -1, pt->fc_all, forecast_time(pl, 2, 10), kind == PK_NORMAL);
    }
}

/* A sparse SR/CSR event of a NORMAL party: the few units it adds cannot move that party
 * across 90% or 110%. */
static void add_edge_volume(struct planner *pl, int kind, int party, int64_t t, int ms, int tstyle,
                            uint64_t id)
{
    struct ow_gen_month *m = &pl->g->month[pl->mi];
    struct ow_gen_event ev;
    const struct ow_gen_cell *c = NULL;

    for (int i = 0; i < m->ncells; i++) {
        if (m->cells[i].kind == kind && m->cells[i].party == party) {
            c = &m->cells[i];
            break;
        }
    }
    ow__gen_event_init(&ev, kind, t, id);
    ev.party = (int16_t)party;
    ev.service = c->service;
    ev.batched = c->batched;
    ev.region = c->region;
    ev.n = ow__gen_rng_range(&pl->r, 1, 5);
    ev.ms = (uint16_t)ms;
    ev.tstyle = (uint8_t)tstyle;
    add_volume(m, kind, party, ev.service, ev.batched, ev.region, ev.n);
    ow__gen_sparse_add(pl->g, &ev);
}

static void plan_edges(struct planner *pl, const int *sr_of, const int *csr_of)
{
    struct ow_gen *g = pl->g;
    struct ow_gen_month *m = &g->month[pl->mi];
    int sr_normal = -1;
    int csr_normal = -1;
    struct ow_gen_event bad;
    int64_t t;
    uint64_t id;

    for (int p = 0; p < OW_GEN_SR_PARTIES; p++) {
        sr_normal = sr_of[p] == PK_NORMAL ? p : sr_normal;
    }
    for (int p = 0; p < OW_GEN_CSR_PARTIES; p++) {
        csr_normal = csr_of[p] == PK_NORMAL ? p : csr_normal;
    }
    for (int k = 0; k < 2; k++) {
        int kind = k == 0 ? OW_GEN_K_SR : OW_GEN_K_CSR;
        int party = k == 0 ? sr_normal : csr_normal;

        /* The first instant, local 00:30 (23:30Z the day before in summer), the last half
         * hour and the last millisecond of the month, in UTC and local notation. */
        add_edge_volume(pl, kind, party, m->start, 0, OW_GEN_TS_Z, ow__gen_id(g));
        add_edge_volume(pl, kind, party, m->start, 0, OW_GEN_TS_LOCAL, ow__gen_id(g));
        add_edge_volume(pl, kind, party, m->start + 1800, 0, OW_GEN_TS_Z, ow__gen_id(g));
        add_edge_volume(pl, kind, party, m->end - 1800, 0, OW_GEN_TS_Z, ow__gen_id(g));
        add_edge_volume(pl, kind, party, m->end - 1, 999, OW_GEN_TS_Z, ow__gen_id(g));
        add_edge_volume(pl, kind, party, m->end - 1, 999, OW_GEN_TS_LOCAL, ow__gen_id(g));
    }
    if (!g->opts.invalid) {
        return;
    }
    /* A valid CSR, then a copy of its id with other content: the copy is the dead letter. */
    t = ow__gen_time_in_month(g, &pl->r, pl->mi, 2 * DAY);
    id = ow__gen_id(g);
    add_edge_volume(pl, OW_GEN_K_CSR, csr_normal, t, 0, OW_GEN_TS_Z, id);
    bad = g->sparse[g->nsparse - 1];
    bad.kind = OW_GEN_K_BAD;
    bad.base = OW_GEN_K_CSR;
    bad.bad = OW_GEN_BAD_CONFLICT;
    bad.n += 7;
    bad.t += 2 * HOUR;
    ow__gen_sparse_add(g, &bad);
    /* An invalid line first, then a valid event with its id: an id whose first copy was
     * invalid is not remembered, so the valid one counts. */
    t = ow__gen_time_in_month(g, &pl->r, pl->mi, 2 * DAY);
    id = ow__gen_id(g);
    add_edge_volume(pl, OW_GEN_K_CSR, csr_normal, t, 0, OW_GEN_TS_Z, id);
    bad = g->sparse[g->nsparse - 1];
    bad.kind = OW_GEN_K_BAD;
    bad.base = OW_GEN_K_CSR;
    bad.bad = OW_GEN_BAD_COUNT_ZERO;
    bad.t -= 2 * HOUR;
    ow__gen_sparse_add(g, &bad);
}

void ow__gen_plan_volumes(struct ow_gen *g)
{
    for (int mi = 0; mi < g->opts.months; mi++) {
        struct planner pl = {.g = g, .mi = mi};
        struct ow_gen_month *m = &g->month[mi];
        int sr_of[OW_GEN_SR_PARTIES];
        int csr_of[OW_GEN_CSR_PARTIES];

        ow__gen_rng_seed(&pl.r, g->opts.seed, 100 + (uint64_t)mi);
        memcpy(sr_of, sr_kinds, sizeof(sr_of));
        memcpy(csr_of, csr_kinds, sizeof(csr_of));
        ow__gen_rng_shuffle_int(&pl.r, sr_of, OW_GEN_SR_PARTIES);
        ow__gen_rng_shuffle_int(&pl.r, csr_of, OW_GEN_CSR_PARTIES);
        for (int p = 0; p < OW_GEN_SR_PARTIES; p++) {
            m->sr[p].fc_all = -1;
            for (int s = 0; s < OW_GEN_SERVICES; s++) {
                m->sr[p].fc_svc[s] = -1;
            }
            plan_sr_party(&pl, p, sr_of[p]);
        }
        for (int p = 0; p < OW_GEN_CSR_PARTIES; p++) {
            m->csr[p].fc_all = -1;
            for (int s = 0; s < OW_GEN_SERVICES; s++) {
                m->csr[p].fc_svc[s] = -1;
            }
            plan_csr_party(&pl, p, csr_of[p]);
        }
        for (int i = 0; i < m->ncells; i++) {
            m->vol_events += m->cells[i].events;
        }
        plan_edges(&pl, sr_of, csr_of);
    }
}
