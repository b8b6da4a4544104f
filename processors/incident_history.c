/* incident_history.c: see incident_history.h. */
#include "incident_history.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "window.h"

static int action_rank(int action)
{
    switch (action) {
    case OW_ACT_OPENED:
        return 0;
    case OW_ACT_UPDATED:
        return 1;
    case OW_ACT_REOPENED:
        return 2;
    default:
        return 3;
    }
}

/* Events of one instant sort in lifecycle order, then by id, so that they sort the same
 * whatever their arrival. */
static int ev_cmp(const struct ow_inc_ev *a, const struct ow_inc_ev *b)
{
    if (a->us != b->us) {
        return a->us < b->us ? -1 : 1;
    }
    if (action_rank(a->action) != action_rank(b->action)) {
        return action_rank(a->action) - action_rank(b->action);
    }
    return strcmp(a->event_id, b->event_id);
}

long ow__inc_first_opened(const struct ow_incident *inc)
{
    for (size_t i = 0; i < inc->n; i++) {
        if (inc->evs[i].action == OW_ACT_OPENED) {
            return (long)i;
        }
    }
    return -1;
}

bool ow__inc_held(const struct ow_incident *inc)
{
    return inc->n == 0 || (ow__inc_first_opened(inc) < 0 && !inc->hold_expired);
}

const char *ow__inc_rdp(const struct ow_incident *inc)
{
    long fo = ow__inc_first_opened(inc);

    return fo < 0 ? NULL : inc->evs[fo].rdp_id;
}

bool ow__inc_has_event(const struct ow_incident *inc, const char *id, size_t len)
{
    for (size_t i = 0; i < inc->n; i++) {
        if (strlen(inc->evs[i].event_id) == len && memcmp(inc->evs[i].event_id, id, len) == 0) {
            return true;
        }
    }
    return false;
}

void ow__inc_insert(struct ow_incident *inc, const struct ow_event *ev)
{
    struct ow_inc_ev e;
    size_t lo = 0;
    size_t hi = inc->n;

    e.us = ev->occurred_us;
    e.event_id = ow_xstrndup(ev->event_id.p, ev->event_id.len);
    e.rdp_id = ev->action == OW_ACT_OPENED && ev->rdp_id.p != NULL
                   ? ow_xstrndup(ev->rdp_id.p, ev->rdp_id.len)
                   : NULL;
    e.action = (int8_t)ev->action;
    e.severity = (int8_t)ev->severity;
    e.region = (int8_t)ev->region;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (ev_cmp(&inc->evs[mid], &e) <= 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (inc->n == inc->cap) {
        inc->cap = inc->cap ? 2 * inc->cap : 4;
        inc->evs = ow_xrealloc(inc->evs, inc->cap * sizeof(*inc->evs));
    }
    memmove(&inc->evs[lo + 1], &inc->evs[lo], (inc->n - lo) * sizeof(*inc->evs));
    inc->evs[lo] = e;
    inc->n++;
}

bool ow__inc_append(struct ow_incident *inc, const struct ow_inc_ev *e)
{
    struct ow_inc_ev *x;

    if (inc->n > 0 && ev_cmp(&inc->evs[inc->n - 1], e) >= 0) {
        return false;
    }
    if (inc->n == inc->cap) {
        inc->cap = inc->cap ? 2 * inc->cap : 4;
        inc->evs = ow_xrealloc(inc->evs, inc->cap * sizeof(*inc->evs));
    }
    x = &inc->evs[inc->n++];
    *x = *e;
    x->event_id = ow_xstrdup(e->event_id);
    x->rdp_id = e->rdp_id != NULL ? ow_xstrdup(e->rdp_id) : NULL;
    return true;
}

static int8_t first_region(const struct ow_incident *inc)
{
    for (size_t i = 0; i < inc->n; i++) {
        if (inc->evs[i].region != OW_REGION_NONE) {
            return inc->evs[i].region;
        }
    }
    return OW_REGION_NONE;
}

static void walk_init(struct ow_inc_walk *k, const struct ow_incident *inc)
{
    k->fo = ow__inc_first_opened(inc);
    k->st = OW_INC_NONE;
    k->sev = 0;
    k->region = OW_REGION_NONE;
}

/* Apply event @i to the walk. @returns the fact kind it makes, or -1. */
static int walk_step(struct ow_inc_walk *k, const struct ow_inc_ev *e, size_t i)
{
    if (e->region != OW_REGION_NONE) {
        k->region = e->region;
    }
    if (k->fo >= 0 && (long)i < k->fo) {
        return -1; /* before its first `opened`: lends its region only */
    }
    switch (e->action) {
    case OW_ACT_OPENED:
        if (e->severity > 0) {
            k->sev = e->severity;
        }
        if ((long)i == k->fo) {
            k->st = OW_INC_OPEN;
            return OW_INC_F_OPENED;
        }
        return -1;
    case OW_ACT_UPDATED:
        if (e->severity > 0) {
            k->sev = e->severity;
        }
        if (k->st == OW_INC_NONE) {
            k->st = OW_INC_OPEN; /* unmatched: open since before the data began */
        }
        return -1;
    case OW_ACT_RESOLVED:
        k->st = OW_INC_RESOLVED;
        return OW_INC_F_RESOLVED;
    case OW_ACT_REOPENED:
        k->st = OW_INC_OPEN;
        return OW_INC_F_REOPENED;
    default:
        return -1;
    }
}

void ow__inc_walk_until(const struct ow_incident *inc, int64_t until, struct ow_inc_walk *k)
{
    walk_init(k, inc);
    if (ow__inc_held(inc)) {
        return;
    }
    for (size_t i = 0; i < inc->n && inc->evs[i].us <= until; i++) {
        walk_step(k, &inc->evs[i], i);
    }
}

static int region_index(const struct ow_inc_walk *k, int8_t first)
{
    int8_t r = k->region != OW_REGION_NONE ? k->region : first;

    return r == OW_REGION_NONE ? OW_INC_REG_UNKNOWN : r;
}

static struct ow_inc_fact *fact_push(struct ow_inc_facts *fs, int month, int kind, int region)
{
    struct ow_inc_fact *f;

    if (fs->n == fs->cap) {
        fs->cap = fs->cap ? 2 * fs->cap : 32;
        fs->v = ow_xrealloc(fs->v, fs->cap * sizeof(*fs->v));
    }
    f = &fs->v[fs->n++];
    memset(f, 0, sizeof(*f));
    f->month = month;
    f->kind = (int8_t)kind;
    f->region = (int8_t)region;
    return f;
}

static int64_t month_end(const struct ow_tz *tz, int m)
{
    return ow_window_end(tz, (struct ow_window_id){OW_WIN_MONTH, m});
}

void ow__inc_collect(const struct ow_tz *tz, const struct ow_incident *inc, int lo, int hi,
                     struct ow_inc_facts *out)
{
    struct ow_inc_walk k;
    int8_t first = first_region(inc);
    int64_t m_end;
    int m;

    out->n = 0;
    if (ow__inc_held(inc) || lo > hi) {
        return;
    }
    walk_init(&k, inc);
    m = ow_tz_month_of(tz, inc->evs[0].us);
    m = m < lo ? lo : m;
    m_end = month_end(tz, m);
    for (size_t i = 0; i < inc->n; i++) {
        const struct ow_inc_ev *e = &inc->evs[i];
        struct ow_inc_fact *f;
        int em = ow_tz_month_of(tz, e->us);
        int kind;

        if (k.st != OW_INC_OPEN && m < em) {
            m = em; /* nothing open to report in the months skipped */
            m_end = month_end(tz, m);
        }
        while (m <= hi && m_end <= e->us) {
            if (k.st == OW_INC_OPEN) {
                fact_push(out, m, OW_INC_F_OPEN, region_index(&k, first));
            }
            m_end = month_end(tz, ++m);
        }
        kind = walk_step(&k, e, i);
        if (kind < 0 || em < lo || em > hi) {
            continue;
        }
        f = fact_push(out, em, kind, region_index(&k, first));
        if (kind == OW_INC_F_RESOLVED && k.fo >= 0) {
            f->severity = (int8_t)k.sev;
            f->age_us = e->us - inc->evs[k.fo].us;
        }
    }
    for (; k.st == OW_INC_OPEN && m <= hi; m++) {
        fact_push(out, m, OW_INC_F_OPEN, region_index(&k, first));
    }
}

bool ow__inc_fact_eq(const struct ow_inc_fact *a, const struct ow_inc_fact *b)
{
    return a->month == b->month && a->kind == b->kind && a->region == b->region &&
           a->severity == b->severity && a->age_us == b->age_us;
}

void ow__inc_free(void *v)
{
    struct ow_incident *inc = v;

    for (size_t i = 0; i < inc->n; i++) {
        free(inc->evs[i].event_id);
        free(inc->evs[i].rdp_id);
    }
    free(inc->evs);
    free(inc->id);
}
