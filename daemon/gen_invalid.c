/* gen_invalid.c: lines that break the contract, one of each kind per month; each must become
 * a dead letter and change no figure. */
#include "gen_internal.h"

#define HOUR INT64_C(3600)

static int base_of(enum ow_gen_bad bad)
{
    switch (bad) {
    case OW_GEN_BAD_PERIOD:
        return OW_GEN_K_FORECAST;
    case OW_GEN_BAD_FAULT_SERVICE_USER:
        return OW_GEN_K_CH;
    case OW_GEN_BAD_MET_OVER_TOTAL:
        return OW_GEN_K_MEASURE;
    case OW_GEN_BAD_SEVERITY:
        return OW_GEN_K_INCIDENT;
    case OW_GEN_BAD_SERVICE_REF:
    case OW_GEN_BAD_REGION:
    case OW_GEN_BAD_COUNT_FLOAT:
        return OW_GEN_K_SR;
    default:
        return OW_GEN_K_CSR;
    }
}

static void plan_bad(struct ow_gen *g, struct ow_gen_rng *r, int mi, enum ow_gen_bad bad)
{
    struct ow_gen_event ev;
    int base = base_of(bad);

    ow__gen_event_init(&ev, OW_GEN_K_BAD, ow__gen_time_in_month(g, r, mi, 2 * HOUR), ow__gen_id(g));
    ev.bad = (uint8_t)bad;
    ev.base = (int8_t)base;
    ev.n = ow__gen_rng_range(r, 1, 50);
    ev.region = (int8_t)ow__gen_rng_range(r, 0, 2);
    switch (base) {
    case OW_GEN_K_FORECAST:
        ev.party = (int16_t)ow__gen_rng_range(r, 0, OW_GEN_SR_PARTIES - 1);
        ev.period = g->month[mi].ym;
        ev.region = -1;
        break;
    case OW_GEN_K_CH:
        ev.entity = 9000000 + mi; /* no real hub */
        ev.action = OW_GEN_A_CLOSED;
        ev.attr = 0;
        ev.fault = (int8_t)ow__gen_rng_range(r, 0, OW_GEN_FAULTS - 1);
        break;
    case OW_GEN_K_MEASURE:
        ev.party = (int16_t)ow__gen_rng_range(r, 0, OW_GEN_MEASURES - 1);
        ev.total = 1000;
        break;
    case OW_GEN_K_INCIDENT:
        ev.entity = 90000 + mi; /* no real incident */
        ev.action = OW_GEN_A_OPENED;
        ev.sev = 3;
        break;
    case OW_GEN_K_SR:
        ev.party = (int16_t)ow__gen_rng_range(r, 0, OW_GEN_SR_PARTIES - 1);
        ev.service = (int16_t)ow__gen_rng_range(r, 0, OW_GEN_SERVICES - 1);
        break;
    default:
        ev.party = (int16_t)ow__gen_rng_range(r, 0, OW_GEN_CSR_PARTIES - 1);
        ev.batched = (int8_t)ow__gen_rng_range(r, 0, 1);
        break;
    }
    ow__gen_sparse_add(g, &ev);
}

void ow__gen_plan_invalid(struct ow_gen *g)
{
    struct ow_gen_rng r;

    if (!g->opts.invalid) {
        return;
    }
    ow__gen_rng_seed(&r, g->opts.seed, 5);
    for (int mi = 0; mi < g->opts.months; mi++) {
        for (int bad = OW_GEN_BAD_NOT_JSON; bad < OW_GEN_BAD_CONFLICT; bad++) {
            plan_bad(g, &r, mi, (enum ow_gen_bad)bad);
        }
    }
}
