/* gen_stream.c: draws a month's volume events from its cells in time order (a Fenwick tree
 * over the events left per cell) and merges the planned sparse events in. */
#include "gen_internal.h"

#include <stdlib.h>

#include "alloc.h"

#define HOUR INT64_C(3600)

struct fenwick {
    int64_t *t;
    int n;
};

static void fw_add(struct fenwick *f, int i, int64_t v)
{
    for (i++; i <= f->n; i += i & -i) {
        f->t[i] += v;
    }
}

/* The cell holding the @r-th remaining event (0-based). */
static int fw_find(const struct fenwick *f, int64_t r)
{
    int pos = 0;
    int step = 1;

    while (step * 2 <= f->n) {
        step *= 2;
    }
    for (; step > 0; step /= 2) {
        if (pos + step <= f->n && f->t[pos + step] <= r) {
            pos += step;
            r -= f->t[pos];
        }
    }
    return pos;
}

static int64_t draw_count(struct ow_gen_rng *r, const struct ow_gen_cell *c)
{
    int64_t avg;
    int64_t lo;
    int64_t hi;

    if (c->events == 1) {
        return c->count;
    }
    avg = c->count / c->events;
    lo = avg / 2 > 1 ? avg / 2 : 1;
    hi = avg + avg / 2 + 1;
    if (hi > c->count - (c->events - 1)) {
        hi = c->count - (c->events - 1);
    }
    if (lo > hi) {
        lo = hi;
    }
    return ow__gen_rng_range(r, lo, hi);
}

static void push_sparse_until(struct ow_gen *g, size_t *next, int64_t t)
{
    while (*next < g->nsparse && g->sparse[*next].t <= t) {
        ow__gen_out_push(g->out, &g->sparse[(*next)++]);
    }
}

void ow__gen_stream_month(struct ow_gen *g, int mi, size_t *next)
{
    struct ow_gen_month *m = &g->month[mi];
    struct ow_gen_cell *cells = m->cells;
    struct fenwick fw = {.n = m->ncells};
    struct ow_gen_rng r;
    int64_t lo = m->start + HOUR;
    int64_t span = m->end - m->start - 2 * HOUR;
    int64_t e = m->vol_events;

    ow__gen_rng_seed(&r, g->opts.seed, 1000 + (uint64_t)mi);
    fw.t = ow_xcalloc((size_t)fw.n + 1, sizeof(*fw.t));
    for (int i = 0; i < m->ncells; i++) {
        fw_add(&fw, i, cells[i].events);
    }
    for (int64_t j = 0; j < e; j++) {
        struct ow_gen_event ev;
        int ci = fw_find(&fw, ow__gen_rng_range(&r, 0, e - j - 1));
        struct ow_gen_cell *c = &cells[ci];
        int64_t t = lo + span * j / e;
        int64_t roll = ow__gen_rng_range(&r, 0, 999);

        push_sparse_until(g, next, t);
        ow__gen_event_init(&ev, c->kind, t, ow__gen_id(g));
        ev.party = c->party;
        ev.service = c->service;
        ev.batched = c->batched;
        ev.region = c->region;
        ev.n = draw_count(&r, c);
        c->count -= ev.n;
        c->events--;
        fw_add(&fw, ci, -1);
        /* Variety the decoder must take: fractions, offsets, lower case, unknown fields, an
         * omitted count of 1, and exact duplicates. */
        ev.ms = (uint16_t)(roll < 250 ? roll * 3 + 1 : 0);
        ev.tstyle = roll >= 970 ? OW_GEN_TS_LOCAL : roll >= 965 ? OW_GEN_TS_LOWER : OW_GEN_TS_Z;
        ev.extra = roll >= 950 && roll < 955 ? 1 : (ev.n == 1 && roll % 3 == 0) ? 2 : 0;
        ev.dup = g->opts.duplicates && roll >= 900 && roll < 904;
        ow__gen_out_push(g->out, &ev);
    }
    free(fw.t);
    push_sparse_until(g, next, m->end - 1);
}
