/* dedup.c: remembered event ids in one Robin Hood table with linear probing, kept up in small
 * steps so that no insert does O(table) work. */
#include "dedup.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Inline XXH3: ids are short, and the library call cost more than the hash. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "alloc.h"
#include "dedup_internal.h"

#define MIN_SLOTS 64
#define START_SLOTS 1024
#define PREFETCH_AHEAD 16 /* ow_dedup_insert_many's prefetch distance, in ids */
/* The upkeep one insert does (see upkeep()): a migration moves MIGRATE_STEP old slots into the
 * new array (a probe and a write each); a pass visits PASS_STEP slots in order, cheaper per
 * slot. A migration ends within old/64 inserts, a pass within cap/256 + 2: long before the next
 * upkeep is due (cap/10 inserts after one ends, at least), and a few microseconds per insert. */
#define MIGRATE_STEP 64
#define PASS_STEP 256
/* The most passes before a forgetting ends: a rebase's 2, up to 4 that count, 1 that drops. */
#define UPKEEP_PASSES 7
/* Times are rebased by HALF units, in two passes that start when the greatest time reaches
 * REBASE_AT: then every id with t <= HALF is past the span (span < 2^30 units). */
#define HALF ((uint32_t)1 << 31)
#define REBASE_AT (((uint32_t)3 << 30) + 2)

/* The table can still grow by at least 1/8 within the bound. */
static bool can_grow(size_t cap, size_t cap_max)
{
    size_t next = cap * 2 < cap_max ? cap * 2 : cap_max;

    return next >= cap + cap / 8;
}

/* Below the bound the table is kept at most 3/4 full: a Robin Hood insertion shifts the run
 * after its home slot, and runs lengthen like 1 / (1 - load)^2, so between 3/4 and 7/8 the
 * shifting cost several times the lookup (measured: the largest dedup cost in a replay). At
 * the bound memory wins: it fills to 7/8 before the oldest ids are forgotten. Forgetting takes
 * up to UPKEEP_PASSES passes while inserts go on, so it starts early enough to end by 7/8. */
static size_t act_at_of(size_t cap, size_t cap_max)
{
    size_t per_pass = cap / PASS_STEP + (cap > PASS_STEP ? 2 : 1); /* inserts, at most */

    if (can_grow(cap, cap_max)) {
        return cap - cap / 4;
    }
    return cap - cap / 8 - UPKEEP_PASSES * per_pass;
}

static void set_sizes(struct ow_dedup *d)
{
    d->act_at = act_at_of(d->cap, d->cap_max);
    d->full_at = d->cap - d->cap / 32 - 1;
}

/* No pass or migration runs: the next upkeep is due at act_at. Until then an insert only
 * compares n with upkeep_at. */
static void go_idle(struct ow_dedup *d)
{
    d->upkeep_at = d->act_at;
}

/* The time of @s in the current base: while a rebase shifts the times, those not shifted yet
 * are told apart by being above HALF (see pass_step). */
static inline uint32_t t_of(const struct ow_dedup *d, const struct slot *s)
{
    return s->t >= d->mix_at ? s->t - HALF : s->t;
}

/* Is @s gone for lookups: past the span, or forgotten at the bound? */
static inline bool dead_at(const struct ow_dedup *d, const struct slot *s, uint32_t t)
{
    return t < d->dead_t || (t == d->tie_t && s->key[3] < d->tie_key);
}

static inline bool is_dead(const struct ow_dedup *d, const struct slot *s)
{
    return dead_at(d, s, t_of(d, s));
}

/* Count a dead id as it leaves the table. */
static void count_gone(struct ow_dedup *d, uint32_t t)
{
    if (t < d->cut_t) {
        d->expired++;
    } else {
        d->forgotten_early++;
    }
}

/* Find @k0/@k1. On a miss, *pos and *dist are where Robin Hood insertion starts. */
static inline bool probe(const struct slot *slots, size_t cap, uint64_t k0, uint64_t k1,
                         size_t *pos, size_t *dist)
{
    return probe_before(slots, cap, k0, k1, SIZE_MAX, pos, dist) == PROBE_FOUND;
}

/* During a migration, an id not in the new array may still be in the old one: there it counts
 * only if not migrated yet (a migrated slot stays readable, and its id is in the new array or
 * was gone). The old array is never written but for an id taking its own dead copy's place,
 * so its probe runs stay intact. */
static inline struct slot *probe_old(const struct ow_dedup *d, uint64_t k0, uint64_t k1)
{
    size_t pos;
    size_t dist;

    if (d->old != NULL && probe(d->old, d->old_cap, k0, k1, &pos, &dist) && pos >= d->moved) {
        return &d->old[pos];
    }
    return NULL;
}

/* Robin Hood insertion of @cur (not present) from slot @i at distance @dd. */
static void place(struct slot *slots, size_t cap, struct slot cur, size_t i, size_t dd)
{
    (void)place_before(slots, cap, cur, i, dd, SIZE_MAX);
}

/* A zeroed slot array. Each lookup costs about one cache miss at a random place; with 4 KiB
 * pages it is also a TLB miss, so ask for transparent huge pages (advice only: large calloc
 * blocks are fresh mappings, untouched until the first probe). */
struct slot *ow__dedup_slots_new(size_t cap)
{
    struct slot *slots = ow_xcalloc(cap, sizeof(*slots));
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)slots + huge - 1) & ~(huge - 1);
    uintptr_t hi = ((uintptr_t)slots + cap * sizeof(*slots)) & ~(huge - 1);

    if (hi > lo) {
        (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
    }
#endif
    return slots;
}

/* A growth starts with a new array that takes no ids yet: each insert faults in one more of its
 * (huge) pages, so that the migration after it meets no page fault, and no insert takes more
 * than one (a 2 MiB transparent huge page is zeroed then: 0.1 to 0.5 ms, and several ms on a
 * VM whose host backs memory only as it is touched). */
static void start_growth(struct ow_dedup *d, size_t cap)
{
    d->next = ow__dedup_slots_new(cap);
    d->next_cap = cap;
    d->next_faulted = 0;
    d->upkeep_at = 0;
}

/* Then the old array stays, and moves into the new one MIGRATE_STEP slots per insert, in index
 * order; new ids go to the new array meanwhile. The old array is freed when empty. */
static void start_migration(struct ow_dedup *d)
{
    d->old = d->slots;
    d->old_cap = d->cap;
    d->moved = 0;
    d->slots = d->next;
    d->cap = d->next_cap;
    d->next = NULL;
    d->next_cap = 0;
    d->fresh_low = T_MAX;
    d->upkeep_at = 0;
    set_sizes(d);
}

static void prepare_step(struct ow_dedup *d)
{
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t at = (uintptr_t)d->next + d->next_faulted;

    *(volatile char *)at = 0; /* a write: a read would map the zero page */
    d->next_faulted = ((at + huge) & ~(huge - 1)) - (uintptr_t)d->next;
    if (d->next_faulted >= d->next_cap * sizeof(struct slot)) {
        start_migration(d);
    }
}

static void migrate_step(struct ow_dedup *d, size_t budget)
{
    const struct slot *old = d->old;
    struct slot *slots = d->slots;
    size_t cap = d->cap;
    size_t end = d->old_cap - d->moved > budget ? d->moved + budget : d->old_cap;
    uint32_t low = d->fresh_low;

    /* Old index order is home order (home_of is monotone in the key), so the writes into the
     * new array go forward too, which the hardware prefetches. */
    for (size_t i = d->moved; i < end; i++) {
        const struct slot *s = &old[i];
        struct slot cur;

        if (s->t == 0) {
            continue;
        }
        cur = *s;
        cur.t = t_of(d, s);
        if (dead_at(d, s, cur.t)) {
            count_gone(d, cur.t);
            d->n--;
            continue;
        }
        low = cur.t < low ? cur.t : low;
        place(slots, cap, cur, home_of(load64(&s->key[0]), cap), 0);
    }
    d->fresh_low = low;
    d->work += end - d->moved;
    d->moved = end;
    if (end == d->old_cap) {
        free(d->old);
        d->old = NULL;
        d->old_cap = 0;
        d->moved = 0;
        d->low_t = low;
        go_idle(d);
    }
}

static void start_pass(struct ow_dedup *d, enum pass_goal goal)
{
    struct pass *p = &d->pass;

    p->goal = goal;
    p->visited = 0;
    if (p->at >= d->cap) {
        p->at = 0;
    }
    if (goal == PASS_COUNT) {
        memset(p->hist, 0, sizeof(p->hist));
    }
    d->fresh_low = T_MAX;
    d->upkeep_at = 0;
}

/* The first count of a forgetting: the times of all ids that are not gone, in 4096 buckets. */
static void start_count(struct ow_dedup *d)
{
    struct pass *p = &d->pass;

    p->by_key = false;
    p->lo = d->dead_t;
    p->hi = d->top_t > p->lo ? d->top_t : p->lo;
    p->width = (p->hi - p->lo) / HIST_BUCKETS + 1;
    p->below = 0;
    p->want = 0;
    start_pass(d, PASS_COUNT);
}

static void count_kept(struct pass *p, const struct slot *s)
{
    if (p->by_key) {
        if (s->t == p->lo) {
            p->hist[s->key[3] >> 20]++;
        }
    } else if (s->t >= p->lo && s->t <= p->hi) {
        p->hist[(s->t - p->lo) / p->width]++;
    }
}

/* Forget ids below @floor_t, and those at @tie_t whose key[3] < @tie_key (a deterministic
 * pseudo-random share of one time unit): lookups treat them as gone at once, and passes and
 * migrations reclaim them. The floor only rises. */
static void raise_floor(struct ow_dedup *d, uint32_t floor_t, uint32_t tie_t, uint64_t tie_key)
{
    if (floor_t > d->floor_t) {
        d->floor_t = floor_t;
    }
    if (tie_t != d->tie_t) {
        d->tie_t = tie_t;
        d->tie_key = tie_key;
    } else if (tie_key > d->tie_key) {
        d->tie_key = tie_key;
    }
    d->dead_t = d->cut_t > d->floor_t ? d->cut_t : d->floor_t;
}

/* A count ended: forget at least the wanted number of the oldest ids, or count again more
 * finely. Histograms of t narrow the cut-off, one pass each (one is enough unless times bunch
 * up); the ids of a single unit holding too many are split by key bits, so some id is always
 * dropped. */
static void forget_oldest(struct ow_dedup *d)
{
    struct pass *p = &d->pass;
    uint64_t keep = d->cap - d->cap / 4;
    uint64_t slack = d->cap / 64;
    uint64_t sum = p->below;
    uint64_t b_lo;
    uint64_t b_hi;
    size_t b = 0;

    if (p->want == 0) {
        if (d->n <= keep) {
            return;
        }
        p->want = d->n - keep;
    }
    while (b + 1 < HIST_BUCKETS && sum + p->hist[b] < p->want) {
        sum += p->hist[b];
        b++;
    }
    if (p->by_key) {
        raise_floor(d, (uint32_t)p->lo, (uint32_t)p->lo, (uint64_t)(b + 1) << 20);
        start_pass(d, PASS_SWEEP);
        return;
    }
    b_lo = p->lo + b * p->width;
    b_hi = b_lo + p->width - 1 < p->hi ? b_lo + p->width - 1 : p->hi;
    if (sum + p->hist[b] <= p->want + slack) {
        raise_floor(d, (uint32_t)(b_hi + 1), d->tie_t, d->tie_key);
        start_pass(d, PASS_SWEEP);
        return;
    }
    /* Too many in bucket b: count it finely (by key bits if it is one unit). */
    p->below = sum;
    p->lo = b_lo;
    if (p->width == 1) {
        p->by_key = true;
    } else {
        p->hi = b_hi;
        p->width = (p->hi - p->lo) / HIST_BUCKETS + 1;
    }
    start_pass(d, PASS_COUNT);
}

/* The first rebase pass ended: every stored t is above HALF (all below were past the span and
 * are gone). Move the base HALF units up; stored times are now read as t - HALF, until the
 * second pass has rewritten them all; new ids are stored in the new base, below HALF. */
static void shift_base(struct ow_dedup *d)
{
    d->base_units += HALF;
    d->mix_at = HALF;
    d->low_t = d->low_t == T_MAX ? T_MAX : d->low_t - HALF;
    d->floor_t = d->floor_t > HALF ? d->floor_t - HALF : 0;
    d->tie_t = d->tie_t > HALF ? d->tie_t - HALF : 0;
    set_edges(d);
}

static void end_pass(struct ow_dedup *d)
{
    enum pass_goal goal = d->pass.goal;

    d->pass.goal = PASS_NONE;
    d->low_t = d->fresh_low;
    d->sweeps++;
    if (goal == PASS_GROW && d->n > d->cap / 2) {
        start_growth(d, d->cap * 2 < d->cap_max ? d->cap * 2 : d->cap_max);
    } else if (goal == PASS_COUNT) {
        forget_oldest(d);
    } else if (goal == PASS_CLEAR) {
        shift_base(d);
        start_pass(d, PASS_SHIFT);
    } else if (goal == PASS_SHIFT) {
        d->mix_at = T_MAX;
    }
    if (d->next == NULL && d->old == NULL && d->pass.goal == PASS_NONE) {
        go_idle(d);
    }
}

/* Visit @budget slots from pass.at on, removing the ids that are gone: each kept id moves back
 * over the free slots just before it, as far as its home allows, as one backward-shift deletion
 * per removed id would, in one sweep. Between two calls the table must be whole, so a call
 * stops only where no probe run crosses the free slots it made: at an empty slot, or at an id
 * in its home slot; past the budget it finishes the displaced run it is in (tens of slots).
 * Inserts between calls shift ids forward: one crossing pass.at is visited twice, which is
 * harmless but for a rebase, which runs with no insert between; one crossing the pass's start
 * would be missed, so after a whole table's worth the pass goes on until no run crosses into
 * the next slot (at once if the slot before the start is still empty). */
static void pass_step(struct ow_dedup *d, size_t budget)
{
    struct pass *p = &d->pass;
    struct slot *slots = d->slots;
    size_t cap = d->cap;
    size_t i = p->at;
    size_t gap = 0; /* free slots just before i, made by this call */
    size_t done = 0;
    bool finished = false;
    bool rewrite = p->delta != 0 || d->mix_at != T_MAX; /* a rebase: write every t kept */

    for (;;) {
        struct slot *s = &slots[i];

        if (p->visited >= cap &&
            (s->t == 0 || (gap == 0 && slots[i == 0 ? cap - 1 : i - 1].t == 0))) {
            finished = true; /* no run crosses into slot i: no id was missed */
            break;
        }
        if (s->t == 0) {
            if (done >= budget) {
                break;
            }
            gap = 0;
        } else {
            uint32_t t = t_of(d, s);
            size_t dist = 0; /* needed only to stop, or to move back */

            if (gap > 0 || done >= budget) {
                dist = dist_of(i, home_of(load64(&s->key[0]), cap), cap);
            }
            if (done >= budget && (gap == 0 || dist == 0)) {
                break;
            }
            if (dead_at(d, s, t)) {
                count_gone(d, t);
                d->n--;
                s->t = 0;
                gap++;
            } else {
                size_t back = dist < gap ? dist : gap;

                if (rewrite) {
                    s->t = t - p->delta; /* else the slot stays clean in the cache */
                }
                if (p->goal == PASS_COUNT) {
                    count_kept(p, s);
                }
                d->fresh_low = s->t < d->fresh_low ? s->t : d->fresh_low;
                if (back > 0) {
                    slots[i >= back ? i - back : i + cap - back] = *s;
                    s->t = 0;
                }
                gap = back;
            }
        }
        i = i + 1 == cap ? 0 : i + 1;
        p->visited++;
        done++;
    }
    p->at = i;
    d->work += done;
    if (finished) {
        end_pass(d);
    }
}

/* Do all pending upkeep now: the growth, and the pass with what it leads to. */
static void finish_all(struct ow_dedup *d)
{
    while (d->next != NULL || d->old != NULL || d->pass.goal != PASS_NONE) {
        if (d->next != NULL) {
            start_migration(d); /* its pages fault as the migration writes them */
        } else if (d->old != NULL) {
            migrate_step(d, SIZE_MAX);
        } else {
            pass_step(d, SIZE_MAX);
        }
    }
}

/* The upkeep step of an insert that stored an id. Growth: at 3/4 full, a pass first if some
 * ids may be gone (then grow only if more than half full is left, as the pass ends), then the
 * migration. At the bound: passes that count, then one that drops the oldest down to 3/4. */
static void upkeep(struct ow_dedup *d)
{
    bool growable = can_grow(d->cap, d->cap_max);

    if (d->n >= d->full_at) {
        /* Never reached by the sizes above: a full table would loop forever, so do it all now. */
        finish_all(d);
        if (d->n >= d->full_at && can_grow(d->cap, d->cap_max)) {
            start_growth(d, d->cap * 2 < d->cap_max ? d->cap * 2 : d->cap_max);
        } else if (d->n >= d->full_at) {
            start_count(d);
        }
        finish_all(d);
        return;
    }
    if (d->next != NULL) {
        prepare_step(d);
        return;
    }
    if (d->old != NULL) {
        migrate_step(d, MIGRATE_STEP);
        return;
    }
    if (d->pass.goal == PASS_NONE) {
        if (growable && d->low_t >= d->dead_t) { /* nothing is gone: no pass first */
            start_growth(d, d->cap * 2 < d->cap_max ? d->cap * 2 : d->cap_max);
            prepare_step(d);
            return;
        }
        if (growable) {
            start_pass(d, PASS_GROW);
        } else {
            start_count(d);
        }
    }
    pass_step(d, PASS_STEP);
}

static void maintain(struct ow_dedup *d)
{
    d->work = 0;
    upkeep(d);
    d->max_work = d->work > d->max_work ? d->work : d->max_work;
}

/* Move every stored time @delta units down at once, dropping those that would reach 0 (all
 * when @delta is T_MAX): they are past the new span edge, so count as expired. One whole pass,
 * from just after an empty slot so that it visits each id once: O(table), for a jump of event
 * time only (see advance()). No other upkeep may be pending. */
static void rebase_now(struct ow_dedup *d, uint32_t delta)
{
    uint32_t cut = delta == T_MAX ? T_MAX : delta + 1;
    size_t i = 0;

    if (cut > d->cut_t) {
        d->cut_t = cut;
        d->dead_t = d->cut_t > d->floor_t ? d->cut_t : d->floor_t;
    }
    while (d->slots[i].t != 0) {
        i++;
    }
    d->pass.at = i + 1 == d->cap ? 0 : i + 1;
    d->pass.delta = delta == T_MAX ? 0 : delta;
    start_pass(d, PASS_SWEEP);
    finish_all(d);
    d->pass.delta = 0;
    d->floor_t = d->floor_t > delta ? d->floor_t - delta : 0;
    d->tie_t = d->tie_t > delta ? d->tie_t - delta : 0;
}

/* A new greatest time. The 32-bit times are rebased in steps, by two passes (see shift_base())
 * that start when the greatest t reaches REBASE_AT: then 2^30 units (at least a span) of event
 * time remain before a t would not fit. Event time that jumps past that margin, or past HALF
 * in the new base while the second pass runs, is caught up at once: the pending work is
 * finished and, if still needed, the times are rebased in one pass. */
static void advance(struct ow_dedup *d, int64_t occurred_us)
{
    int64_t top;

    if (!d->started) {
        d->started = true;
        d->max_us = occurred_us;
        d->base_units = floor_units(occurred_us - d->span_us, d->shift);
        set_edges(d);
        return;
    }
    top = floor_units(occurred_us, d->shift) - d->base_units + 1;
    if (top >= (int64_t)T_MAX || (d->mix_at != T_MAX && top >= (int64_t)HALF)) {
        d->work = 0;
        finish_all(d); /* a rebase under way ends, and may move the base */
        top = floor_units(occurred_us, d->shift) - d->base_units + 1;
        if (top >= (int64_t)T_MAX) {
            int64_t base = floor_units(occurred_us - d->span_us, d->shift);
            int64_t delta = base - d->base_units;

            rebase_now(d, delta >= (int64_t)T_MAX ? T_MAX : (uint32_t)delta);
            d->base_units = base;
        }
        d->max_work = d->work > d->max_work ? d->work : d->max_work;
    }
    d->max_us = occurred_us;
    set_edges(d);
    if (d->top_t >= REBASE_AT && d->cut_t > HALF && d->mix_at == T_MAX && d->next == NULL &&
        d->old == NULL && d->pass.goal == PASS_NONE) {
        start_pass(d, PASS_CLEAR);
    }
}

struct ow_dedup *ow_dedup_create(const struct ow_dedup_conf *conf)
{
    struct ow_dedup *d = ow_xcalloc(1, sizeof(*d));
    int64_t span = conf->span_us;

    if (span < 0) {
        span = 0;
    }
    if (span > OCCURRED_LIMIT) {
        span = OCCURRED_LIMIT;
    }
    d->span_us = span;
    while ((span >> d->shift) >= ((int64_t)1 << 30)) {
        d->shift++;
    }
    d->cap_max = conf->max_bytes / sizeof(struct slot);
    if (d->cap_max < MIN_SLOTS) {
        d->cap_max = MIN_SLOTS;
    }
    d->cap = d->cap_max < START_SLOTS ? d->cap_max : START_SLOTS;
    set_sizes(d);
    go_idle(d);
    d->slots = ow__dedup_slots_new(d->cap);
    d->low_t = T_MAX;
    d->mix_at = T_MAX;
    return d;
}

/* At a restore, before any insert: the one growth is done at once. */
void ow_dedup_reserve(struct ow_dedup *d, size_t n)
{
    size_t cap = d->cap;

    finish_all(d);
    while (cap - cap / 4 <= n && can_grow(cap, d->cap_max)) {
        cap = cap * 2 < d->cap_max ? cap * 2 : d->cap_max;
    }
    if (cap != d->cap) {
        start_growth(d, cap);
        finish_all(d);
    }
}

void ow_dedup_destroy(struct ow_dedup *d)
{
    if (d == NULL) {
        return;
    }
    free(d->next);
    free(d->old);
    free(d->slots);
    free(d);
}

struct ow_dedup_key ow_dedup_key_of(const char *id, size_t len)
{
    XXH128_hash_t h = XXH3_128bits(id, len);
    struct ow_dedup_key key;

    key.h[0] = h.low64;
    key.h[1] = h.high64;
    return key;
}

static bool same_content(const struct slot *s, const uint64_t content[2])
{
    return load64(&s->content[0]) == content[0] && load64(&s->content[2]) == content[1];
}

enum ow_dedup_verdict ow_dedup_lookup(const struct ow_dedup *d, struct ow_dedup_key key,
                                      const uint64_t content[2])
{
    size_t pos;
    size_t dist;
    const struct slot *s;

    if (probe(d->slots, d->cap, key.h[0], key.h[1], &pos, &dist)) {
        s = &d->slots[pos];
    } else {
        s = probe_old(d, key.h[0], key.h[1]);
    }
    if (s == NULL || is_dead(d, s)) {
        return OW_DEDUP_NEW;
    }
    return same_content(s, content) ? OW_DEDUP_SAME : OW_DEDUP_CONFLICT;
}

/* ow_dedup_insert, and ow_dedup_insert_many for each id: one body, so both have the same
 * effect by construction. The key comes as two integers: passed as the struct, GCC stored it
 * as two halves and read it back as one vector (a failed store forwarding): 20% of an insert
 * in cache, and the restore of 10M ids took 1.7 s instead of 1.2 s. */
static inline void insert(struct ow_dedup *d, uint64_t k0, uint64_t k1, const uint64_t content[2],
                          int64_t occurred_us)
{
    struct slot cur;
    struct slot *s = NULL;
    int64_t t;
    size_t pos;
    size_t dist = 0;

    occurred_us = clamp_occurred(occurred_us);
    if (!d->started || occurred_us > d->max_us) {
        advance(d, occurred_us);
    }
    t = floor_units(occurred_us, d->shift) - d->base_units + 1;
    if (probe(d->slots, d->cap, k0, k1, &pos, &dist)) {
        s = &d->slots[pos];
    } else {
        s = probe_old(d, k0, k1);
    }
    if (s != NULL && !is_dead(d, s)) {
        return; /* the first copy wins */
    }
    if (t < (int64_t)d->dead_t || (t == d->tie_t && (k1 >> 32) < d->tie_key)) {
        /* Too old to remember: past the span, or older than ids the bound made us forget. */
        if (t < (int64_t)d->cut_t) {
            d->expired++;
        } else {
            d->forgotten_early++;
        }
        return;
    }
    memcpy(&cur.key[0], &k0, 8);
    memcpy(&cur.key[2], &k1, 8);
    memcpy(&cur.content[0], &content[0], 8);
    memcpy(&cur.content[2], &content[1], 8);
    cur.t = (uint32_t)t;
    d->low_t = cur.t < d->low_t ? cur.t : d->low_t;
    d->fresh_low = cur.t < d->fresh_low ? cur.t : d->fresh_low;
    if (s != NULL) {
        /* Gone but not reclaimed yet: the new copy takes its place (in either array). */
        count_gone(d, t_of(d, s));
        *s = cur;
        return;
    }
    place(d->slots, d->cap, cur, pos, dist);
    if (++d->n >= d->upkeep_at) {
        maintain(d);
    }
}

void ow_dedup_insert(struct ow_dedup *d, struct ow_dedup_key key, const uint64_t content[2],
                     int64_t occurred_us)
{
    insert(d, key.h[0], key.h[1], content, occurred_us);
}

/* Two lines, as a slot straddles two half the time (see ow_dedup_insert_many); during a
 * migration the id may be in either array. Always inlined: GCC takes a prefetch for a function
 * without side effects, and deleted the calls to this helper when it was not. */
static inline __attribute__((always_inline)) void prefetch_homes(const struct ow_dedup *d,
                                                                 uint64_t k0)
{
    const char *s = (const char *)&d->slots[home_of(k0, d->cap)];

    __builtin_prefetch(s);
    __builtin_prefetch(s + 63);
    if (d->old != NULL) {
        s = (const char *)&d->old[home_of(k0, d->old_cap)];
        __builtin_prefetch(s);
        __builtin_prefetch(s + 63);
    }
}

void ow_dedup_prefetch(const struct ow_dedup *d, struct ow_dedup_key key)
{
    prefetch_homes(d, key.h[0]);
}

/* Each insert starts with a miss at a random slot; asking for the slots of the id
 * PREFETCH_AHEAD places later lets that many misses overlap. Measured on the whole load of 10M
 * saved ids (daemon/state.c): 2.1 s without the prefetch, 1.1 s with it; 8 to 64 places
 * measured alike. Two lines, as a slot straddles two half the time and a probe reads 1.7 slots
 * on average at a restore's load; one line was slower.
 * The home slot is computed with the capacity of the moment: if maintenance grows the table
 * meanwhile, a few prefetches are wasted, never wrong (they change nothing). */
void ow_dedup_insert_many(struct ow_dedup *d, const struct ow_dedup_entry *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n) {
            uint64_t k0 = ids[i + PREFETCH_AHEAD].key.h[0];
            const char *s = (const char *)&d->slots[home_of(k0, d->cap)];

            __builtin_prefetch(s, 1);
            __builtin_prefetch(s + 64, 1);
            if (d->old != NULL) {
                prefetch_homes(d, k0);
            }
        }
        insert(d, ids[i].key.h[0], ids[i].key.h[1], ids[i].content, ids[i].occurred_us);
    }
}

uint64_t ow_dedup_sweep(struct ow_dedup *d)
{
    uint64_t expired = d->expired;

    finish_all(d);
    if (d->low_t < d->dead_t) {
        start_pass(d, PASS_SWEEP);
        finish_all(d);
    }
    return d->expired - expired;
}

static int walk(const struct ow_dedup *d, const struct slot *slots, size_t from, size_t to,
                int (*fn)(void *arg, struct ow_dedup_key key, const uint64_t content[2],
                          int64_t occurred_us),
                void *arg)
{
    for (size_t i = from; i < to; i++) {
        const struct slot *s = &slots[i];
        struct ow_dedup_key key;
        uint64_t content[2];
        int64_t occurred_us;
        int rc;

        if (s->t == 0 || is_dead(d, s)) {
            continue;
        }
        key.h[0] = load64(&s->key[0]);
        key.h[1] = load64(&s->key[2]);
        content[0] = load64(&s->content[0]);
        content[1] = load64(&s->content[2]);
        occurred_us = (d->base_units + (int64_t)t_of(d, s) - 1) * ((int64_t)1 << d->shift);
        rc = fn(arg, key, content, occurred_us);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* During a migration every id is in exactly one place: the old array past the migrated
 * slots, or the new array. */
int ow_dedup_foreach(const struct ow_dedup *d,
                     int (*fn)(void *arg, struct ow_dedup_key key, const uint64_t content[2],
                               int64_t occurred_us),
                     void *arg)
{
    int rc = 0;

    if (d->old != NULL) {
        rc = walk(d, d->old, d->moved, d->old_cap, fn, arg);
    }
    if (rc == 0) {
        rc = walk(d, d->slots, 0, d->cap, fn, arg);
    }
    return rc;
}

/* From cut_t itself, the time lookups compare with, converted back as walk() does. */
int64_t ow_dedup_edge_us(const struct ow_dedup *d)
{
    if (!d->started) {
        return INT64_MIN;
    }
    return (d->base_units + (int64_t)d->cut_t - 1) * ((int64_t)1 << d->shift);
}

void ow_dedup_stats(const struct ow_dedup *d, struct ow_dedup_stats *st)
{
    st->ids = d->n;
    st->bytes = (uint64_t)(d->cap + d->old_cap + d->next_cap) * sizeof(struct slot);
    st->expired = d->expired;
    st->forgotten_early = d->forgotten_early;
    st->capacity = d->next != NULL ? d->next_cap : d->cap;
    st->sweeps = d->sweeps;
    st->migration_left = d->old != NULL ? d->old_cap - d->moved : 0;
    if (d->next != NULL) {
        st->migration_left = d->cap; /* the growth is being prepared: all of it is left */
    }
    st->sweep_left = 0;
    if (d->pass.goal != PASS_NONE) {
        st->sweep_left = d->pass.visited < d->cap ? d->cap - d->pass.visited : 1;
    }
    st->max_slots_per_insert = d->max_work;
    st->loads_parallel = d->loads_parallel;
    st->loads_placed_again = d->loads_placed_again;
}
