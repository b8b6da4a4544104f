/* gen_incidents.c: RDP incident lifecycles (opened, updated, resolved, reopened) and the
 * rdp_incidents figures they imply. */
#include "gen_internal.h"

#define MIN_ INT64_C(60)
#define HOUR INT64_C(3600)
#define DAY INT64_C(86400)

struct incident {
    int64_t open_from[2]; /* open intervals [from, to); to = INT64_MAX when never resolved */
    int64_t open_to[2];
    int nint;
    int rdp;
};

/* Entity times never sit exactly on a month boundary: status figures are taken at that
 * instant and the spec does not need to settle an event that lands on it. */
static int64_t off_boundary(const struct ow_gen *g, int64_t t)
{
    for (int mi = 0; mi <= g->opts.months; mi++) {
        int64_t b = mi < g->opts.months ? g->month[mi].start : g->range_end;

        if (t == b) {
            return t + 1;
        }
    }
    return t;
}

static void emit(struct ow_gen *g, struct ow_gen_rng *r, struct ow_gen_event *ev, int dup_permille)
{
    ev->id = ow__gen_id(g);
    ev->dup = g->opts.duplicates && ow__gen_rng_chance(r, dup_permille);
    ev->tstyle = ow__gen_rng_chance(r, 100) ? OW_GEN_TS_LOCAL : OW_GEN_TS_Z;
    ow__gen_sparse_add(g, ev);
}

static void resolve(struct ow_gen *g, struct ow_gen_rng *r, struct ow_gen_event *ev, int64_t t,
                    int64_t opened_at, int sev, int rdp)
{
    struct ow_gen_month *m = &g->month[ow__gen_month_index(g, t)];

    ev->t = t;
    ev->action = OW_GEN_A_RESOLVED;
    ev->sev = 0;
    emit(g, r, ev, 100);
    m->inc_resolved++;
    m->rdp[rdp][1]++;
    ow__gen_dvec_push(&m->ages[sev - 1], (double)(t - opened_at) / 86400.0);
}

static void plan_one(struct ow_gen *g, struct ow_gen_rng *r, int mi, int number,
                     struct incident *inc)
{
    int64_t limit = g->range_end - 2 * HOUR;
    int64_t t0 = off_boundary(g, ow__gen_time_in_month(g, r, mi, 2 * HOUR));
    int64_t t = t0;
    int sev = (int)ow__gen_rng_range(r, 1, 5);
    struct ow_gen_event ev;

    inc->rdp = (int)ow__gen_rng_range(r, 0, OW_GEN_RDPS - 1);
    inc->nint = 1;
    inc->open_from[0] = t0;
    inc->open_to[0] = INT64_MAX;
    ow__gen_event_init(&ev, OW_GEN_K_INCIDENT, t0, 0);
    ev.entity = number;
    ev.party = (int16_t)inc->rdp;
    ev.region = (int8_t)(ow__gen_rng_chance(r, 250) ? -1 : ow__gen_rng_range(r, 0, 2));
    ev.action = OW_GEN_A_OPENED;
    ev.sev = (int8_t)sev;
    emit(g, r, &ev, 50);
    g->month[mi].inc_opened++;
    g->month[mi].rdp[inc->rdp][0]++;
    if (ow__gen_rng_chance(r, 400)) {
        t = off_boundary(g, t + ow__gen_rng_range(r, HOUR, 2 * DAY));
        if (t >= limit) {
            return;
        }
        ev.t = t;
        ev.action = OW_GEN_A_UPDATED;
        ev.sev = 0;
        if (ow__gen_rng_chance(r, 700)) {
            sev = (int)ow__gen_rng_range(r, 1, 5);
            ev.sev = (int8_t)sev;
        }
        emit(g, r, &ev, 50);
    }
    t = off_boundary(g, t + ow__gen_rng_range(r, 30 * MIN_, 25 * DAY));
    if (t >= limit) {
        return;
    }
    resolve(g, r, &ev, t, t0, sev, inc->rdp);
    inc->open_to[0] = t;
    if (!ow__gen_rng_chance(r, 150)) {
        return;
    }
    t = off_boundary(g, t + ow__gen_rng_range(r, HOUR, 3 * DAY));
    if (t >= limit) {
        return;
    }
    ev.t = t;
    ev.action = OW_GEN_A_REOPENED;
    emit(g, r, &ev, 50);
    g->month[ow__gen_month_index(g, t)].inc_reopened++;
    inc->nint = 2;
    inc->open_from[1] = t;
    inc->open_to[1] = INT64_MAX;
    t = off_boundary(g, t + ow__gen_rng_range(r, HOUR, 5 * DAY));
    if (t >= limit) {
        return;
    }
    /* Age runs from the first `opened`, whatever happened since. */
    resolve(g, r, &ev, t, t0, sev, inc->rdp);
    inc->open_to[1] = t;
}

void ow__gen_plan_incidents(struct ow_gen *g)
{
    struct ow_gen_rng r;
    struct incident inc[OW_GEN_MONTHS_MAX * 12];
    int ninc = 0;

    ow__gen_rng_seed(&r, g->opts.seed, 2);
    for (int mi = 0; mi < g->opts.months; mi++) {
        int n = (int)ow__gen_rng_range(&r, 6, 10);

        for (int i = 0; i < n; i++) {
            plan_one(g, &r, mi, ninc + 1, &inc[ninc]);
            ninc++;
        }
    }
    for (int mi = 0; mi < g->opts.months; mi++) {
        struct ow_gen_month *m = &g->month[mi];

        for (int i = 0; i < ninc; i++) {
            for (int k = 0; k < inc[i].nint; k++) {
                if (inc[i].open_from[k] < m->end && inc[i].open_to[k] > m->end) {
                    m->inc_open_at_end++;
                    m->rdp[inc[i].rdp][2]++;
                }
            }
        }
    }
}
