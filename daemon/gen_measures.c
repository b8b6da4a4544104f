/* gen_measures.c: monthly measurement events per (measure, provider), planned to land met,
 * exactly on target, below target or below minimum. */
#include "gen_internal.h"

#define HOUR INT64_C(3600)
#define PARTS 4

static int64_t plan_met(struct ow_gen_rng *r, const struct ow_gen_measure *m, int64_t total)
{
    int64_t k = total / 1000; /* total is a multiple of 1000: the levels are exact */
    int64_t need_t = m->target_x10 * k;
    int64_t need_m = m->minimum_x10 * k;
    int64_t roll = ow__gen_rng_range(r, 0, 99);

    if (m->target_x10 < 0) {
        return ow__gen_rng_range(r, total * 90 / 100, total);
    }
    if (roll < 45) {
        return ow__gen_rng_range(r, need_t, total);
    }
    if (roll < 55) {
        return need_t; /* a value equal to the level meets it */
    }
    if (roll < 80) {
        return ow__gen_rng_range(r, need_m, need_t - 1);
    }
    return ow__gen_rng_range(r, need_m - total / 20 > 0 ? need_m - total / 20 : 0, need_m - 1);
}

static void plan_measure(struct ow_gen *g, struct ow_gen_rng *r, int mi, int k)
{
    const struct ow_gen_measure *m = &ow__gen_measures[k];
    int64_t total = ow__gen_rng_range(r, 40, 400) * 1000;
    int64_t met = plan_met(r, m, total);
    int64_t tot[PARTS];
    int64_t mt[PARTS];
    int64_t left_t = total;
    int64_t left_m = met;
    int conflict = g->opts.invalid && k == (int)ow__gen_rng_range(r, 0, OW_GEN_MEASURES - 1);

    g->month[mi].met[k] = met;
    g->month[mi].total[k] = total;
    for (int i = 0; i < PARTS; i++) {
        int64_t jitter = ow__gen_rng_range(r, -total / 10, total / 10);

        tot[i] = i == PARTS - 1 ? left_t : total / PARTS + jitter;
        mt[i] = i == PARTS - 1 ? left_m : met * tot[i] / total;
        left_t -= tot[i];
        left_m -= mt[i];
    }
    /* Flooring leaves the last part a few units too many met; hand them back. */
    for (int i = 0; i < PARTS - 1 && mt[PARTS - 1] > tot[PARTS - 1]; i++) {
        int64_t room = tot[i] - mt[i];
        int64_t over = mt[PARTS - 1] - tot[PARTS - 1];
        int64_t move = room < over ? room : over;

        mt[i] += move;
        mt[PARTS - 1] -= move;
    }
    for (int i = 0; i < PARTS; i++) {
        struct ow_gen_event ev;

        ow__gen_event_init(&ev, OW_GEN_K_MEASURE, ow__gen_time_in_month(g, r, mi, 2 * HOUR),
                           ow__gen_id(g));
        ev.party = (int16_t)k;
        ev.n = mt[i];
        ev.total = tot[i];
        ev.dup = g->opts.duplicates && ow__gen_rng_chance(r, 50);
        ow__gen_sparse_add(g, &ev);
        if (conflict && i == 0) {
            ev.kind = OW_GEN_K_BAD;
            ev.base = OW_GEN_K_MEASURE;
            ev.bad = OW_GEN_BAD_CONFLICT;
            ev.dup = 0;
            ev.n = ev.n > 0 ? ev.n - 1 : ev.n + 1;
            ev.t += 2 * HOUR;
            ow__gen_sparse_add(g, &ev);
        }
    }
}

void ow__gen_plan_measures(struct ow_gen *g)
{
    struct ow_gen_rng r;

    ow__gen_rng_seed(&r, g->opts.seed, 4);
    for (int mi = 0; mi < g->opts.months; mi++) {
        for (int k = 0; k < OW_GEN_MEASURES; k++) {
            plan_measure(g, &r, mi, k);
        }
    }
}
