/* dedup.c: remembered event ids in one Robin Hood table with linear probing. */
#include "dedup.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Inline XXH3: ids are short, and the library call cost more than the hash. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "alloc.h"

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

#define MIN_SLOTS 64
#define START_SLOTS 1024
#define T_MAX UINT32_MAX
#define HIST_BUCKETS 4096
#define OCCURRED_LIMIT ((int64_t)1 << 61)
#define PREFETCH_AHEAD 16 /* ow_dedup_insert_many's prefetch distance, in ids */

struct ow_dedup {
    struct slot *slots;
    size_t cap;         /* slots now */
    size_t cap_max;     /* slots within max_bytes */
    size_t n;           /* ids stored */
    size_t grow_at;     /* maintenance when n reaches this: 3/4 of cap, 7/8 at the bound */
    size_t since_sweep; /* inserts since the last sweep */
    int64_t span_us;
    int shift;          /* time unit u = 2^shift us */
    bool started;       /* max_us and base_units are set */
    int64_t max_us;     /* greatest occurred_us inserted */
    int64_t base_units; /* stored t = floor(occurred / u) - base_units + 1 */
    uint32_t cut_t;     /* stored ids with t < cut_t are past the span */
    uint32_t top_t;     /* t of max_us */
    uint32_t low_t;     /* no stored id has a smaller t (a lower bound) */
    uint64_t expired;
    uint64_t forgotten_early;
    uint64_t sweeps;
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

/* The table can still grow by at least 1/8 within the bound. */
static bool can_grow(size_t cap, size_t cap_max)
{
    size_t next = cap * 2 < cap_max ? cap * 2 : cap_max;

    return next >= cap + cap / 8;
}

/* Below the bound the table is kept at most 3/4 full: a Robin Hood insertion shifts the run
 * after its home slot, and runs lengthen like 1 / (1 - load)^2, so between 3/4 and 7/8 the
 * shifting cost several times the lookup (measured: the largest dedup cost in a replay). At
 * the bound memory wins: it fills to 7/8 before the oldest ids are forgotten. */
static size_t grow_at_of(size_t cap, size_t cap_max)
{
    return can_grow(cap, cap_max) ? cap - cap / 4 : cap - cap / 8;
}

/* Find @k0/@k1. On a miss, *pos and *dist are where Robin Hood insertion starts. */
static inline bool probe(const struct slot *slots, size_t cap, uint64_t k0, uint64_t k1,
                         size_t *pos, size_t *dist)
{
    size_t i = home_of(k0, cap);
    size_t dd = 0;

    for (;;) {
        const struct slot *s = &slots[i];
        uint64_t s0;

        if (s->t == 0) {
            break;
        }
        s0 = load64(&s->key[0]);
        if (s0 == k0 && load64(&s->key[2]) == k1) {
            *pos = i;
            return true;
        }
        if (dist_of(i, home_of(s0, cap), cap) < dd) {
            break;
        }
        dd++;
        i++;
        if (i == cap) {
            i = 0;
        }
    }
    *pos = i;
    *dist = dd;
    return false;
}

/* Robin Hood insertion of @cur (not present) from slot @i at distance @dd. */
static void place(struct slot *slots, size_t cap, struct slot cur, size_t i, size_t dd)
{
    for (;;) {
        struct slot *s = &slots[i];
        size_t sd;

        if (s->t == 0) {
            *s = cur;
            return;
        }
        sd = dist_of(i, home_of(load64(&s->key[0]), cap), cap);
        if (sd < dd) {
            struct slot tmp = *s;

            *s = cur;
            cur = tmp;
            dd = sd;
        }
        dd++;
        i++;
        if (i == cap) {
            i = 0;
        }
    }
}

/* Remove every id with t < drop_lt, or t == tie_t and key bits below tie_thr (a deterministic
 * pseudo-random share of one time unit), and subtract @delta from the t of the others. One
 * pass, no rehash: start after an empty slot, where no probe run crosses, and move each kept
 * id back to max(its home, the first free slot), which keeps the Robin Hood order.
 * @returns the number removed. */
static uint64_t compact(struct ow_dedup *d, uint64_t drop_lt, uint32_t tie_t, uint64_t tie_thr,
                        uint32_t delta)
{
    size_t cap = d->cap;
    size_t start = 0;
    size_t w = 0;
    uint64_t dropped = 0;
    uint32_t low = T_MAX;

    while (d->slots[start].t != 0) {
        start++;
    }
    start = start + 1 == cap ? 0 : start + 1;
    for (size_t r = 0; r < cap; r++) {
        size_t ri = start + r >= cap ? start + r - cap : start + r;
        struct slot *s = &d->slots[ri];
        size_t h;
        size_t to;

        if (s->t == 0) {
            continue;
        }
        if (s->t < drop_lt || (s->t == tie_t && s->key[3] < tie_thr)) {
            s->t = 0;
            dropped++;
            continue;
        }
        s->t -= delta;
        low = s->t < low ? s->t : low;
        if (w == r) {
            w++;
            continue;
        }
        h = home_of(load64(&s->key[0]), cap);
        h = h >= start ? h - start : h + cap - start;
        to = h > w ? h : w;
        if (to != r) {
            size_t ti = start + to >= cap ? start + to - cap : start + to;

            d->slots[ti] = *s;
            s->t = 0;
        }
        w = to + 1;
    }
    d->n -= dropped;
    d->low_t = low;
    d->since_sweep = 0;
    d->sweeps++;
    return dropped;
}

static void set_edges(struct ow_dedup *d)
{
    int64_t lo = d->max_us - d->span_us;

    d->cut_t = (uint32_t)(floor_units(lo, d->shift) - d->base_units + 1);
    d->top_t = (uint32_t)(floor_units(d->max_us, d->shift) - d->base_units + 1);
}

/* A new greatest time. Rebase when its t would not fit in 32 bits: every id below the new
 * base is past the span anyway. With span < 2^30 units this happens once per ~3 spans. */
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
    d->max_us = occurred_us;
    top = floor_units(occurred_us, d->shift) - d->base_units + 1;
    if (top >= (int64_t)T_MAX) {
        int64_t base = floor_units(occurred_us - d->span_us, d->shift);
        int64_t delta = base - d->base_units;

        if (delta >= (int64_t)T_MAX) {
            d->expired += compact(d, (uint64_t)T_MAX + 1, 0, 0, 0);
        } else {
            d->expired += compact(d, (uint64_t)delta + 1, 0, 0, (uint32_t)delta);
        }
        d->base_units = base;
    }
    set_edges(d);
}

static uint64_t sweep_expired(struct ow_dedup *d)
{
    uint64_t n;

    if (d->low_t >= d->cut_t) {
        d->since_sweep = 0;
        return 0; /* nothing is past the span: skip the pass */
    }
    n = compact(d, d->cut_t, 0, 0, 0);

    d->expired += n;
    return n;
}

/* A zeroed slot array. Each lookup costs about one cache miss at a random place; with 4 KiB
 * pages it is also a TLB miss, so ask for transparent huge pages (advice only: large calloc
 * blocks are fresh mappings, untouched until the first probe). */
static struct slot *slots_new(size_t cap)
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

static void grow(struct ow_dedup *d, size_t cap)
{
    struct slot *slots = slots_new(cap);

    for (size_t i = 0; i < d->cap; i++) {
        const struct slot *s = &d->slots[i];

        if (s->t != 0) {
            place(slots, cap, *s, home_of(load64(&s->key[0]), cap), 0);
        }
    }
    free(d->slots);
    d->slots = slots;
    d->cap = cap;
    d->grow_at = grow_at_of(cap, d->cap_max);
}

/* Forget at least @want of the oldest ids (all ids have cut_t <= t <= top_t here). Histograms
 * of t narrow the cut-off, one pass each (one is enough unless times bunch up); the ids of a
 * single unit holding too many are split by key bits, so some id is always dropped. */
static void forget_oldest(struct ow_dedup *d, uint64_t want)
{
    uint64_t hist[HIST_BUCKETS];
    uint64_t lo = d->cut_t;
    uint64_t hi = d->top_t;
    uint64_t below = 0;
    uint64_t slack = d->cap / 64;
    size_t b;
    uint64_t sum;

    for (;;) {
        uint64_t width = (hi - lo) / HIST_BUCKETS + 1;
        uint64_t b_lo;
        uint64_t b_hi;

        memset(hist, 0, sizeof(hist));
        for (size_t i = 0; i < d->cap; i++) {
            uint32_t t = d->slots[i].t;

            if (t >= lo && t <= hi) {
                hist[(t - lo) / width]++;
            }
        }
        sum = below;
        b = 0;
        while (b + 1 < HIST_BUCKETS && sum + hist[b] < want) {
            sum += hist[b];
            b++;
        }
        b_lo = lo + b * width;
        b_hi = b_lo + width - 1 < hi ? b_lo + width - 1 : hi;
        if (sum + hist[b] <= want + slack) {
            d->forgotten_early += compact(d, b_hi + 1, 0, 0, 0);
            return;
        }
        if (width == 1) {
            lo = b_lo;
            break;
        }
        lo = b_lo;
        hi = b_hi;
        below = sum;
    }
    /* One unit (lo) holds too many: drop those whose top key bits fall below a cut-off. */
    memset(hist, 0, sizeof(hist));
    for (size_t i = 0; i < d->cap; i++) {
        if (d->slots[i].t == lo) {
            hist[d->slots[i].key[3] >> 20]++;
        }
    }
    b = 0;
    while (b + 1 < HIST_BUCKETS && sum + hist[b] < want) {
        sum += hist[b];
        b++;
    }
    d->forgotten_early += compact(d, lo, (uint32_t)lo, (uint64_t)(b + 1) << 20, 0);
}

/* The table reached grow_at: reclaim expired ids; then, if it can still grow, grow unless
 * that left it at most 1/2 full; at the bound, forget the oldest down to 3/4 if more are left.
 * Either way the next call is at least cap/8 inserts away, so the O(cap) passes cost O(1) per
 * insert. */
static void maintain(struct ow_dedup *d)
{
    bool growable = can_grow(d->cap, d->cap_max);
    size_t keep = growable ? d->cap / 2 : d->cap - d->cap / 4;
    size_t next = d->cap * 2 < d->cap_max ? d->cap * 2 : d->cap_max;

    sweep_expired(d);
    if (d->n <= keep) {
        return;
    }
    if (growable) {
        grow(d, next);
        return;
    }
    forget_oldest(d, d->n - keep);
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
    d->grow_at = grow_at_of(d->cap, d->cap_max);
    d->slots = slots_new(d->cap);
    d->low_t = T_MAX;
    return d;
}

void ow_dedup_reserve(struct ow_dedup *d, size_t n)
{
    size_t cap = d->cap;

    while (grow_at_of(cap, d->cap_max) <= n && can_grow(cap, d->cap_max)) {
        cap = cap * 2 < d->cap_max ? cap * 2 : d->cap_max;
    }
    if (cap != d->cap) {
        grow(d, cap);
    }
}

void ow_dedup_destroy(struct ow_dedup *d)
{
    if (d == NULL) {
        return;
    }
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

    if (!probe(d->slots, d->cap, key.h[0], key.h[1], &pos, &dist)) {
        return OW_DEDUP_NEW;
    }
    s = &d->slots[pos];
    if (s->t < d->cut_t) {
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
    int64_t t;
    size_t pos;
    size_t dist;
    bool found;

    if (occurred_us > OCCURRED_LIMIT) {
        occurred_us = OCCURRED_LIMIT;
    } else if (occurred_us < -OCCURRED_LIMIT) {
        occurred_us = -OCCURRED_LIMIT;
    }
    if (!d->started || occurred_us > d->max_us) {
        advance(d, occurred_us);
    }
    t = floor_units(occurred_us, d->shift) - d->base_units + 1;
    found = probe(d->slots, d->cap, k0, k1, &pos, &dist);
    if (found && d->slots[pos].t >= d->cut_t) {
        return; /* the first copy wins */
    }
    if (t < (int64_t)d->cut_t) {
        d->expired++; /* too old to remember */
        return;
    }
    memcpy(&cur.key[0], &k0, 8);
    memcpy(&cur.key[2], &k1, 8);
    memcpy(&cur.content[0], &content[0], 8);
    memcpy(&cur.content[2], &content[1], 8);
    cur.t = (uint32_t)t;
    if (found) {
        /* Past the span but not swept yet: the new copy takes its place. */
        d->slots[pos] = cur;
        d->low_t = cur.t < d->low_t ? cur.t : d->low_t;
        d->expired++;
        return;
    }
    /* Maintenance moves ids, so probe again after it. */
    if (d->n >= d->grow_at) {
        maintain(d);
        probe(d->slots, d->cap, k0, k1, &pos, &dist);
    } else if (++d->since_sweep >= d->cap) {
        sweep_expired(d);
        probe(d->slots, d->cap, k0, k1, &pos, &dist);
    }
    place(d->slots, d->cap, cur, pos, dist);
    d->n++;
    d->low_t = cur.t < d->low_t ? cur.t : d->low_t;
}

void ow_dedup_insert(struct ow_dedup *d, struct ow_dedup_key key, const uint64_t content[2],
                     int64_t occurred_us)
{
    insert(d, key.h[0], key.h[1], content, occurred_us);
}

void ow_dedup_prefetch(const struct ow_dedup *d, struct ow_dedup_key key)
{
    const struct slot *s = &d->slots[home_of(key.h[0], d->cap)];

    __builtin_prefetch(s);
    __builtin_prefetch((const char *)s + 63);
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
            const struct slot *s = &d->slots[home_of(ids[i + PREFETCH_AHEAD].key.h[0], d->cap)];

            __builtin_prefetch(s, 1);
            __builtin_prefetch((const char *)s + 64, 1);
        }
        insert(d, ids[i].key.h[0], ids[i].key.h[1], ids[i].content, ids[i].occurred_us);
    }
}

uint64_t ow_dedup_sweep(struct ow_dedup *d)
{
    return sweep_expired(d);
}

int ow_dedup_foreach(const struct ow_dedup *d,
                     int (*fn)(void *arg, struct ow_dedup_key key, const uint64_t content[2],
                               int64_t occurred_us),
                     void *arg)
{
    for (size_t i = 0; i < d->cap; i++) {
        const struct slot *s = &d->slots[i];
        struct ow_dedup_key key;
        uint64_t content[2];
        int64_t occurred_us;
        int rc;

        if (s->t == 0 || s->t < d->cut_t) {
            continue;
        }
        key.h[0] = load64(&s->key[0]);
        key.h[1] = load64(&s->key[2]);
        content[0] = load64(&s->content[0]);
        content[1] = load64(&s->content[2]);
        occurred_us = (d->base_units + (int64_t)s->t - 1) * ((int64_t)1 << d->shift);
        rc = fn(arg, key, content, occurred_us);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

void ow_dedup_stats(const struct ow_dedup *d, struct ow_dedup_stats *st)
{
    st->ids = d->n;
    st->bytes = (uint64_t)d->cap * sizeof(struct slot);
    st->expired = d->expired;
    st->forgotten_early = d->forgotten_early;
    st->capacity = d->cap;
    st->sweeps = d->sweeps;
}
