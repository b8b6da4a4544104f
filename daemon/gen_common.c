/* gen_common.c: the generator's fixed vocabularies and the helpers every planner uses. */
#include "gen_internal.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

const char *const ow__gen_services[OW_GEN_SERVICES] = {
    "1.1.1", "1.2.1", "1.5",   "2.1",    "3.1",  "4.1.1",
    "4.4.2", "6.2.1", "8.1.1", "8.14.2", "11.1", "17.2",
};

const char *const ow__gen_regions[3] = {"north", "central", "south"};

const char *const ow__gen_faults[OW_GEN_FAULTS] = {
    "aerial", "led", "manufacturing_defect", "sm_han_interface", "sm_wan",
};

const char *const ow__gen_categories[OW_GEN_CATEGORIES] = {"critical", "high", "medium", "low"};

const char *const ow__gen_pstatuses[OW_GEN_PSTATUSES] = {
    "under_investigation",
    "pending",
    "completed",
};

/* Sorted by (measure, provider) as the snapshot sorts them. The Code Performance Measures carry
 * the domain defaults; PM2's levels are whatever the configuration says, unknown here. */
const struct ow_gen_measure ow__gen_measures[OW_GEN_MEASURES] = {
    {"CPM1", "DCC", 990, 960},  {"CPM2", "DCC", 990, 960}, {"CPM3", "DCC", 990, 960},
    {"CPM4", "DCC", 1000, 850}, {"CPM5", "DCC", 900, 800}, {"CPM6", "DCC", 995, 980},
    {"CPM7", "DCC", 990, 960},  {"CPM8", "DCC", 990, 960}, {"PM2", "CSP_CS", -1, -1},
    {"PM2", "CSP_N", -1, -1},
};

void ow__gen_event_init(struct ow_gen_event *ev, enum ow_gen_kind kind, int64_t t, uint64_t id)
{
    memset(ev, 0, sizeof(*ev));
    ev->kind = (uint8_t)kind;
    ev->t = t;
    ev->id = id;
    ev->service = -1;
    ev->region = -1;
    ev->action = -1;
    ev->cat = -1;
    ev->status = -1;
    ev->attr = -1;
    ev->fault = -1;
    ev->stage = -1;
    ev->significant = -1;
    ev->base = -1;
}

void ow__gen_sparse_add(struct ow_gen *g, const struct ow_gen_event *ev)
{
    if (g->nsparse == g->capsparse) {
        g->capsparse = g->capsparse ? g->capsparse * 2 : 1024;
        g->sparse = ow_xrealloc(g->sparse, g->capsparse * sizeof(*g->sparse));
    }
    g->sparse[g->nsparse++] = *ev;
}

uint64_t ow__gen_id(struct ow_gen *g)
{
    return g->next_id++;
}

int ow__gen_month_index(const struct ow_gen *g, int64_t t)
{
    int ym;

    if (t < g->range_start || t >= g->range_end) {
        return -1;
    }
    ym = ow__gen_time_month_of(t);
    return ym - g->opts.start_ym;
}

int ow__gen_quarter_index(const struct ow_gen *g, int64_t t)
{
    for (int i = 0; i < g->nquarters; i++) {
        if (t >= g->quarter[i].start && t < g->quarter[i].end) {
            return i;
        }
    }
    return -1;
}

int64_t ow__gen_time_in_month(const struct ow_gen *g, struct ow_gen_rng *r, int mi, int64_t margin)
{
    const struct ow_gen_month *m = &g->month[mi];

    return ow__gen_rng_range(r, m->start + margin, m->end - margin - 1);
}

void ow__gen_dvec_push(struct ow_gen_dvec *v, double value)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->v = ow_xrealloc(v->v, v->cap * sizeof(*v->v));
    }
    v->v[v->n++] = value;
}
