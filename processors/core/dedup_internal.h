/* dedup_internal.h: the table's layout, shared by dedup.c (the table) and dedup_load.c (the
 * bulk load of a restore). Not for other users: see dedup.h. */
#ifndef OW_DEDUP_INTERNAL_H
#define OW_DEDUP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dedup.h"

/* A slot holds the whole 128-bit key, the 128-bit content fingerprint and the event time as a
 * 32-bit count of time units since a base (see dedup.h). With uint32_t members the slot is 36
 * bytes with no padding; an int64_t time would make it 40, so 11% fewer ids per bound. A time
 * of 0 marks an empty slot, so every key value stays storable. */
struct slot {
    uint32_t key[4];
    uint32_t content[4];
    uint32_t t;
};

_Static_assert(sizeof(struct slot) == 36, "struct slot must have no padding");

#define T_MAX UINT32_MAX
#define HIST_BUCKETS 4096
#define OCCURRED_LIMIT ((int64_t)1 << 61)

/* A pass walks the table once, a few hundred slots per insert, and removes the ids that are
 * gone (past the span, or forgotten at the bound). */
enum pass_goal {
    PASS_NONE,  /* no pass runs */
    PASS_SWEEP, /* reclaim, nothing after */
    PASS_GROW,  /* reclaim, then grow if still more than half full */
    PASS_COUNT, /* reclaim and count the times kept, to choose the oldest ids to forget */
    PASS_CLEAR, /* rebase, 1 of 2: reclaim, so that every t left is above HALF */
    PASS_SHIFT, /* rebase, 2 of 2: move each t from the old base to the new, HALF above it */
};

struct pass {
    enum pass_goal goal;
    size_t at;      /* next slot to visit */
    size_t visited; /* slots visited since the pass began */
    uint32_t delta; /* subtracted from the t of each id kept (a rebase), else 0 */
    bool by_key;    /* PASS_COUNT: count key bits of the ids at time lo, not times */
    uint64_t lo;    /* PASS_COUNT: times [lo, hi] in buckets of width */
    uint64_t hi;
    uint64_t width;
    uint64_t below; /* PASS_COUNT: ids the passes before counted below lo */
    uint64_t want;  /* PASS_COUNT: ids to forget, set when the first count ends (0: not yet) */
    uint64_t hist[HIST_BUCKETS];
};

struct ow_dedup {
    struct slot *slots;
    size_t cap;        /* slots now */
    size_t cap_max;    /* slots within max_bytes */
    size_t n;          /* ids stored (in both arrays during a migration) */
    size_t act_at;     /* upkeep starts when n reaches this: grow at 3/4, forget below 7/8 */
    size_t full_at;    /* never reached by design: all pending upkeep is done at once */
    size_t upkeep_at;  /* maintain() runs when n reaches this: act_at, or 0 while busy */
    struct slot *next; /* a growth being prepared: the new array, before it takes ids */
    size_t next_cap;
    size_t next_faulted; /* bytes of next faulted in so far */
    struct slot *old;    /* during a migration: the array being moved into slots, else NULL */
    size_t old_cap;
    size_t moved;       /* old[0, moved) are migrated: still readable, no longer consulted */
    uint32_t fresh_low; /* least t kept or stored since the running pass or migration began */
    int64_t span_us;
    int shift;          /* time unit u = 2^shift us */
    bool started;       /* max_us and base_units are set */
    int64_t max_us;     /* greatest occurred_us inserted */
    int64_t base_units; /* stored t = floor(occurred / u) - base_units + 1 */
    uint32_t cut_t;     /* stored ids with t < cut_t are past the span */
    uint32_t top_t;     /* t of max_us */
    uint32_t low_t;     /* no stored id has a smaller t (a lower bound) */
    uint32_t floor_t;   /* at the bound: ids with t < floor_t are forgotten (0: none) */
    uint32_t tie_t;     /* ... and those at tie_t whose key[3] < tie_key (0: none) */
    uint64_t tie_key;
    uint32_t dead_t; /* max(cut_t, floor_t): stored ids below it are gone for lookups */
    uint32_t mix_at; /* during PASS_SHIFT HALF: a stored t >= HALF is in the old base; else T_MAX */
    uint64_t work;   /* slots visited for upkeep by the insert under way */
    uint64_t max_work;
    uint64_t expired;
    uint64_t forgotten_early;
    uint64_t sweeps;
    uint64_t loads_parallel;
    uint64_t loads_placed_again;
    struct pass pass;
};

static inline uint64_t load64(const uint32_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* Multiply-shift range reduction (Lemire): the home slot is monotone in k0 and needs no
 * power-of-two capacity, so the last growth step can fill the bound exactly. */
static inline size_t home_of(uint64_t k0, size_t cap)
{
    return (size_t)(((unsigned __int128)k0 * cap) >> 64);
}

static inline size_t dist_of(size_t i, size_t home, size_t cap)
{
    return i >= home ? i - home : i + cap - home;
}

/* floor(x / 2^shift), also for negative x. */
static inline int64_t floor_units(int64_t x, int shift)
{
    if (x >= 0) {
        return x >> shift;
    }
    return -((-(x + 1)) >> shift) - 1;
}

/* The span edge and the greatest time, in stored units, from max_us and base_units. */
static inline void set_edges(struct ow_dedup *d)
{
    int64_t lo = d->max_us - d->span_us;

    d->cut_t = (uint32_t)(floor_units(lo, d->shift) - d->base_units + 1);
    d->top_t = (uint32_t)(floor_units(d->max_us, d->shift) - d->base_units + 1);
    d->dead_t = d->cut_t > d->floor_t ? d->cut_t : d->floor_t;
}

/* An event time as the table keeps it: clamped to +-OCCURRED_LIMIT (about 73,000 years). */
static inline int64_t clamp_occurred(int64_t occurred_us)
{
    if (occurred_us > OCCURRED_LIMIT) {
        return OCCURRED_LIMIT;
    }
    return occurred_us < -OCCURRED_LIMIT ? -OCCURRED_LIMIT : occurred_us;
}

enum probe_result {
    PROBE_FOUND,   /* *pos is the key's slot */
    PROBE_MISS,    /* not present: Robin Hood insertion starts at *pos, at distance *dist */
    PROBE_STOPPED, /* the probe would have read slot @stop */
};

/* Find @k0/@k1, reading no slot at or past @stop on the way (SIZE_MAX: none). */
static inline enum probe_result probe_before(const struct slot *slots, size_t cap, uint64_t k0,
                                             uint64_t k1, size_t stop, size_t *pos, size_t *dist)
{
    size_t i = home_of(k0, cap);
    size_t dd = 0;

    for (;;) {
        const struct slot *s = &slots[i];
        uint64_t s0;

        if (i == stop) {
            return PROBE_STOPPED;
        }
        if (s->t == 0) {
            break;
        }
        s0 = load64(&s->key[0]);
        if (s0 == k0 && load64(&s->key[2]) == k1) {
            *pos = i;
            return PROBE_FOUND;
        }
        if (dist_of(i, home_of(s0, cap), cap) < dd) {
            break;
        }
        dd++;
        i = i + 1 == cap ? 0 : i + 1;
    }
    *pos = i;
    *dist = dd;
    return PROBE_MISS;
}

/* Robin Hood insertion of @cur (not present) from slot @i at distance @dd: it takes the first
 * slot whose id is nearer its own home, and the ids from there shift on to the next free slot.
 * @returns false, with one id left out, where it would touch slot @stop (SIZE_MAX: none). */
static inline bool place_before(struct slot *slots, size_t cap, struct slot cur, size_t i,
                                size_t dd, size_t stop)
{
    for (;;) {
        struct slot *s = &slots[i];
        size_t sd;

        if (i == stop) {
            return false;
        }
        if (s->t == 0) {
            *s = cur;
            return true;
        }
        sd = dist_of(i, home_of(load64(&s->key[0]), cap), cap);
        if (sd < dd) {
            struct slot tmp = *s;

            *s = cur;
            cur = tmp;
            dd = sd;
        }
        dd++;
        i = i + 1 == cap ? 0 : i + 1;
    }
}

/* A zeroed slot array, in transparent huge pages where the kernel allows (see dedup.c). */
struct slot *ow__dedup_slots_new(size_t cap);

#endif
