/* gen_quarterly.c: problem records and Communications Hub returns, and the quarterly
 * problems / ch_returns figures they imply. */
#include "gen_internal.h"

#define MIN_ INT64_C(60)
#define HOUR INT64_C(3600)
#define DAY INT64_C(86400)
#define NEVER INT64_MAX

enum pmode { PM_FAST, PM_INTIME, PM_EXACT, PM_LATE, PM_NEVER, PM_REPLACED, PM__COUNT };

struct pchange {
    int64_t t;
    int status; /* 0-2, or 3 for closed */
};

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

/* A target within a day of a quarter end would make "breached by the end" hang on instants
 * the spec leaves to the implementation; keep targets clear of them. */
static bool target_ok(const struct ow_gen *g, int64_t target)
{
    if (target > g->range_end - 2 * DAY) {
        return false;
    }
    for (int i = 0; i < g->nquarters; i++) {
        int64_t e = g->quarter[i].end;

        if (target > e - DAY && target < e + DAY) {
            return false;
        }
    }
    return true;
}

static void emit(struct ow_gen *g, struct ow_gen_rng *r, struct ow_gen_event *ev)
{
    ev->id = ow__gen_id(g);
    ev->dup = g->opts.duplicates && ow__gen_rng_chance(r, 60);
    ev->tstyle = ow__gen_rng_chance(r, 100) ? OW_GEN_TS_LOCAL : OW_GEN_TS_Z;
    ow__gen_sparse_add(g, ev);
}

static void problem_truth(struct ow_gen *g, int64_t t0, int cat, int sig, int64_t target,
                          int64_t left_ui, const struct pchange *ch, int nch)
{
    int qi = ow__gen_quarter_index(g, t0);

    g->quarter[qi].p_created++;
    for (int i = 0; i < g->nquarters; i++) {
        struct ow_gen_quarter *q = &g->quarter[i];
        int status = -1;

        if (t0 >= q->end) {
            continue;
        }
        for (int k = 0; k < nch; k++) {
            status = ch[k].t < q->end ? ch[k].status : status;
        }
        if (status == 3) {
            continue;
        }
        q->p_open[status]++;
        q->p_significant_open += sig == 1;
        if (target != 0 && target < left_ui && target < q->end) {
            q->p_breaches[cat]++;
        }
    }
}

static void plan_problem(struct ow_gen *g, struct ow_gen_rng *r, int mi, int number)
{
    int64_t limit = g->range_end - 2 * HOUR;
    int64_t t0 = off_boundary(g, ow__gen_time_in_month(g, r, mi, 2 * HOUR));
    int cat = (int)ow__gen_rng_range(r, 0, OW_GEN_CATEGORIES - 1);
    int sig = ow__gen_rng_chance(r, 300) ? -1 : ow__gen_rng_chance(r, 300);
    int status = ow__gen_rng_chance(r, 150) ? 1 : 0;
    int mode = (int)ow__gen_rng_range(r, 0, PM__COUNT - 1);
    int64_t target = 0;
    int64_t target2 = 0;
    int64_t left = NEVER;
    struct pchange ch[8];
    int nch = 0;
    struct ow_gen_event ev;
    int64_t t;

    if (status == 0 && mode != PM_FAST) {
        target = t0 + ow__gen_rng_range(r, DAY, 20 * DAY);
        target2 = target + 10 * DAY;
        if (!target_ok(g, target) || (mode == PM_REPLACED && !target_ok(g, target2))) {
            mode = PM_FAST;
            target = 0;
        }
    }
    if (status == 1) {
        mode = PM_FAST; /* never under investigation: cannot breach */
    }
    ow__gen_event_init(&ev, OW_GEN_K_PROBLEM, t0, 0);
    ev.entity = number;
    ev.action = OW_GEN_A_CREATED;
    ev.status = (int8_t)status;
    ev.cat = (int8_t)cat;
    ev.significant = (int8_t)sig;
    ev.rca = mode == PM_FAST ? 0 : target;
    emit(g, r, &ev);
    ch[nch++] = (struct pchange){t0, status};
    ev.cat = -1;
    ev.significant = -1;
    ev.rca = 0;
    ev.action = OW_GEN_A_STATUS_CHANGED;
    switch (mode) {
    case PM_FAST:
        /* No target: leaves investigation within half an hour, before any configured
         * category target (those are in hours). */
        left = status == 0 ? t0 + ow__gen_rng_range(r, 5 * MIN_, 30 * MIN_) : t0;
        break;
    case PM_INTIME:
        left = t0 + ow__gen_rng_range(r, HOUR, target - t0 - HOUR);
        break;
    case PM_EXACT:
        left = target; /* a change exactly at the target is in time */
        break;
    case PM_LATE:
        left = target + ow__gen_rng_range(r, HOUR, 10 * DAY);
        break;
    case PM_NEVER:
        break;
    default:
        /* A later event carries a new target before the first one passes. */
        ev.t = t0 + ow__gen_rng_range(r, 10 * MIN_, HOUR);
        ev.status = 0;
        ev.rca = target2;
        emit(g, r, &ev);
        ev.rca = 0;
        target = target2;
        left = target - 10 * DAY + ow__gen_rng_range(r, HOUR, 10 * DAY - HOUR);
        break;
    }
    if (left != NEVER && left != t0) {
        left = mode == PM_EXACT ? left : off_boundary(g, left);
        if (left >= limit) {
            left = NEVER;
        } else {
            ev.t = left;
            ev.status = (int8_t)(ow__gen_rng_chance(r, 700) ? 1 : 2);
            emit(g, r, &ev);
            ch[nch++] = (struct pchange){left, ev.status};
        }
    }
    t = left == NEVER ? NEVER : left;
    if (t != NEVER && ev.status == 1 && ow__gen_rng_chance(r, 500)) {
        t = off_boundary(g, t + ow__gen_rng_range(r, DAY, 20 * DAY));
        if (t < limit) {
            ev.t = t;
            ev.status = 2;
            emit(g, r, &ev);
            ch[nch++] = (struct pchange){t, 2};
        }
    }
    if (t != NEVER && t < limit && ow__gen_rng_chance(r, 600)) {
        t = off_boundary(g, t + ow__gen_rng_range(r, DAY, 30 * DAY));
        if (t < limit) {
            ev.t = t;
            ev.status = -1;
            ev.action = OW_GEN_A_CLOSED;
            emit(g, r, &ev);
            ch[nch++] = (struct pchange){t, 3};
        }
    }
    problem_truth(g, t0, cat, sig, target, left, ch, nch);
}

static void ch_truth(struct ow_gen *g, int64_t closed_at, int region, int attr, int fault)
{
    int qi = ow__gen_quarter_index(g, closed_at);
    struct ow_gen_quarter *q = &g->quarter[qi];
    int mq = ow__gen_time_month_of(closed_at) - (q->y * 12 + (q->q - 1) * 3);
    int csp = region == 0 ? 0 : 1;

    if (attr == 0) {
        q->ch_su[csp][mq]++;
    } else {
        q->ch_dcc[csp][mq]++;
        q->ch_faults[csp][fault][mq]++;
    }
    q->ch_region[region][attr]++;
}

static void plan_hub(struct ow_gen *g, struct ow_gen_rng *r, int mi, int number)
{
    int64_t limit = g->range_end - 2 * HOUR;
    int64_t t = off_boundary(g, ow__gen_time_in_month(g, r, mi, 2 * HOUR));
    int records = ow__gen_rng_chance(r, 100) ? 2 : 1;
    struct ow_gen_event ev;

    ow__gen_event_init(&ev, OW_GEN_K_CH, t, 0);
    ev.entity = number;
    ev.region = (int8_t)ow__gen_rng_range(r, 0, 2);
    for (int k = 0; k < records && t < limit; k++) {
        int attr = ow__gen_rng_chance(r, 450) ? 1 : 0;
        int fault = attr ? (int)ow__gen_rng_range(r, 0, OW_GEN_FAULTS - 1) : -1;
        int64_t closed_at;
        bool counted = true;

        ev.attr = -1;
        ev.fault = -1;
        ev.stage = -1;
        if (ow__gen_rng_chance(r, 700)) {
            ev.t = t;
            ev.action = OW_GEN_A_RETURNED;
            emit(g, r, &ev);
            t = off_boundary(g, t + ow__gen_rng_range(r, HOUR, 10 * DAY));
        }
        if (t >= limit) {
            break;
        }
        closed_at = t;
        ev.t = t;
        ev.action = OW_GEN_A_CLOSED;
        ev.attr = (int8_t)attr;
        ev.fault = (int8_t)fault;
        ev.stage = (int8_t)(attr && ow__gen_rng_chance(r, 500) ? ow__gen_rng_range(r, 0, 1) : -1);
        emit(g, r, &ev);
        ev.stage = -1;
        if (ow__gen_rng_chance(r, 150)) {
            t = off_boundary(g, t + ow__gen_rng_range(r, HOUR, 5 * DAY));
            if (t < limit) {
                ev.t = t;
                ev.action = OW_GEN_A_DISPUTED;
                ev.attr = -1;
                ev.fault = -1;
                emit(g, r, &ev);
                counted = false;
                t = off_boundary(g, t + ow__gen_rng_range(r, HOUR, 15 * DAY));
                if (t < limit && ow__gen_rng_chance(r, 700)) {
                    /* The resolution's attribution is final; it may differ from the close. */
                    attr = ow__gen_rng_chance(r, 500) ? 1 - attr : attr;
                    fault = attr ? (int)ow__gen_rng_range(r, 0, OW_GEN_FAULTS - 1) : -1;
                    ev.t = t;
                    ev.action = OW_GEN_A_DISPUTE_RESOLVED;
                    ev.attr = (int8_t)attr;
                    ev.fault = (int8_t)fault;
                    emit(g, r, &ev);
                    counted = true;
                }
            }
        }
        if (counted) {
            ch_truth(g, closed_at, ev.region, attr, fault);
        }
        t = off_boundary(g, t + ow__gen_rng_range(r, 2 * DAY, 20 * DAY));
    }
}

void ow__gen_plan_quarterly(struct ow_gen *g)
{
    struct ow_gen_rng r;
    int problems = 0;
    int hubs = 0;

    ow__gen_rng_seed(&r, g->opts.seed, 3);
    for (int mi = 0; mi < g->opts.months; mi++) {
        int np = (int)ow__gen_rng_range(&r, 3, 6);
        int nh = (int)ow__gen_rng_range(&r, 20, 40);

        for (int i = 0; i < np; i++) {
            plan_problem(g, &r, mi, ++problems);
        }
        for (int i = 0; i < nh; i++) {
            plan_hub(g, &r, mi, ++hubs);
        }
    }
}
