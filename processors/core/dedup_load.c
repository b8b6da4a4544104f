/* dedup_load.c: a restore's bulk load of saved ids (ow_dedup_load).
 *
 * Inserting 10M saved ids one by one costs a cache miss at a random slot each, and the table's
 * pages are faulted in by one thread: 1.3 to 2.9 s on the bench VM, most of a restart. Here
 * the ids are first sorted into buckets by the top bits of their key (a counting sort: one pass
 * counts, one scatters), then placed bucket by bucket. The home slot is monotone in the key,
 * so one bucket's ids all land in one region of the table, REGION_SLOTS slots that stay in the
 * cache while they fill.
 *
 * Two threads share each pass. The counts and the scatter split the entries in two halves. The
 * placement splits the table: the first thread takes buckets 1 to B/2 - 1, the second B/2 + 1
 * to B - 1. A probe run may pass the end of its bucket's region, so buckets 0 and B/2 are kept
 * empty meanwhile, as the slack each thread may spill into, and are placed by the calling
 * thread after both have ended. Neither thread may touch the other's regions: a run that would
 * reach them (thousands of slots past a region's end, not seen in practice) stops the parallel
 * placement, and the table is cleared and placed again by one thread. */
#include <pthread.h>
#include <stdlib.h>

#include "alloc.h"
#include "dedup_internal.h"

#define LOAD_BLOCK 4096    /* entries per read call */
#define REGION_SLOTS 8192  /* table slots per bucket at least: 288 KiB, an L2 cache's worth */
#define MAX_BUCKET_BITS 16 /* at most 65536 buckets: the counts stay small */
#define PARALLEL_BITS 3    /* two threads from 8 buckets (64K slots) on */
#define PLACE_AHEAD 16     /* prefetch distance of the placement, in ids */

enum place_result {
    PLACED_NEW,
    PLACED_OVER, /* the same key was there: this later copy replaced it */
    PLACE_STOPPED,
};

/* What both threads read. */
struct load {
    struct ow_dedup *d;
    ow_dedup_read_fn read;
    void *arg;
    int bits;      /* buckets = 2^bits, by the top bits of a key's k0 */
    size_t *start; /* bucket b is staged[start[b], start[b + 1]) */
    struct slot *staged;
};

/* One thread's share of a pass. */
struct part {
    struct load *ld;
    size_t from; /* entries [from, to) */
    size_t to;
    size_t good; /* entries read from `from` before one was refused */
    int64_t max_us;
    size_t *next;  /* counting: ids per bucket; scattering: the next staged index per bucket */
    size_t b_from; /* placing: buckets [b_from, b_to) */
    size_t b_to;
    size_t stop;    /* placing: the first slot this part must not touch (SIZE_MAX: none) */
    bool stopped;   /* placing: a run reached `stop` */
    size_t stored;  /* placing: ids that took a free slot */
    size_t expired; /* placing: ids past the span, not stored */
    uint32_t low_t; /* placing: least t stored */
    struct ow_dedup_entry *buf;
};

static inline size_t bucket_of(uint64_t k0, int bits)
{
    return bits == 0 ? 0 : (size_t)(k0 >> (64 - bits));
}

/* The first home slot of bucket @b (the table's end for b = 2^bits). */
static size_t region_of(const struct ow_dedup *d, int bits, size_t b)
{
    if (b >= (size_t)1 << bits) {
        return d->cap;
    }
    return bits == 0 ? 0 : home_of((uint64_t)b << (64 - bits), d->cap);
}

/* Run @fn on both parts, the second on a helper thread when one can be started. */
static void run_parts(void *(*fn)(void *), struct part parts[2], bool two)
{
    pthread_t helper;
    bool helped = two && pthread_create(&helper, NULL, fn, &parts[1]) == 0;

    fn(&parts[0]);
    if (helped) {
        pthread_join(helper, NULL);
    } else if (two) {
        fn(&parts[1]);
    }
}

/* Read the part's entries block by block into p->buf, handing each block to @each, up to the
 * first refused entry; p->good says how many were read. */
static void read_part(struct part *p, bool again, void (*each)(struct part *p, size_t got))
{
    const struct load *ld = p->ld;
    size_t at = p->from;

    while (at < p->to) {
        size_t len = p->to - at < LOAD_BLOCK ? p->to - at : LOAD_BLOCK;
        size_t got = ld->read(ld->arg, at, len, again, p->buf);

        each(p, got);
        at += got;
        if (got < len) {
            break;
        }
    }
    p->good = at - p->from;
}

/* Pass 1: count the ids per bucket and find the greatest time. */
static void count_block(struct part *p, size_t got)
{
    int bits = p->ld->bits;

    for (size_t i = 0; i < got; i++) {
        int64_t occurred_us = clamp_occurred(p->buf[i].occurred_us);

        p->max_us = occurred_us > p->max_us ? occurred_us : p->max_us;
        p->next[bucket_of(p->buf[i].key.h[0], bits)]++;
    }
}

static void *count_part(void *arg)
{
    read_part(arg, false, count_block);
    return NULL;
}

/* Pass 2: stage each id as a slot in its bucket, in read order; an id past the span gets
 * t = 0 (not stored). The entries are read again, and the reader need not check them again
 * (if it refuses one now, it broke its promise: see dedup.h). */
static void scatter_block(struct part *p, size_t got)
{
    const struct load *ld = p->ld;
    const struct ow_dedup *d = ld->d;

    for (size_t i = 0; i < got; i++) {
        const struct ow_dedup_entry *e = &p->buf[i];
        struct slot *s = &ld->staged[p->next[bucket_of(e->key.h[0], ld->bits)]++];
        int64_t t = floor_units(clamp_occurred(e->occurred_us), d->shift) - d->base_units + 1;

        memcpy(&s->key[0], &e->key.h[0], 8);
        memcpy(&s->key[2], &e->key.h[1], 8);
        memcpy(&s->content[0], &e->content[0], 8);
        memcpy(&s->content[2], &e->content[1], 8);
        s->t = t >= 1 ? (uint32_t)t : 0;
    }
}

static void *scatter_part(void *arg)
{
    read_part(arg, true, scatter_block);
    return NULL;
}

/* Store @cur, the later copy replacing the same key; Robin Hood placement with linear probing
 * that never touches slot @stop. A stopped placement may leave an id out: the caller clears
 * the table. */
static enum place_result place_last_wins(struct slot *slots, size_t cap, struct slot cur,
                                         size_t stop)
{
    size_t pos;
    size_t dist;

    switch (probe_before(slots, cap, load64(&cur.key[0]), load64(&cur.key[2]), stop, &pos, &dist)) {
    case PROBE_FOUND:
        slots[pos] = cur;
        return PLACED_OVER;
    case PROBE_MISS:
        return place_before(slots, cap, cur, pos, dist, stop) ? PLACED_NEW : PLACE_STOPPED;
    default:
        return PLACE_STOPPED;
    }
}

/* Pass 3: place the part's buckets in order. The ids of a bucket are read in order; their
 * slots are asked for PLACE_AHEAD ids ahead, as the first touch of each line is a miss. */
static void *place_part(void *arg)
{
    struct part *p = arg;
    const struct load *ld = p->ld;
    struct slot *slots = ld->d->slots;
    size_t cap = ld->d->cap;
    size_t end = ld->start[p->b_to];

    for (size_t i = ld->start[p->b_from]; i < end; i++) {
        const struct slot *s = &ld->staged[i];
        enum place_result r;

        if (i + PLACE_AHEAD < end) {
            const char *ahead =
                (const char *)&slots[home_of(load64(&ld->staged[i + PLACE_AHEAD].key[0]), cap)];

            __builtin_prefetch(ahead, 1);
            __builtin_prefetch(ahead + 64, 1);
        }
        if (s->t == 0) {
            p->expired++;
            continue;
        }
        r = place_last_wins(slots, cap, *s, p->stop);
        if (r == PLACE_STOPPED) {
            p->stopped = true;
            return NULL;
        }
        p->stored += r == PLACED_NEW;
        p->low_t = s->t < p->low_t ? s->t : p->low_t;
    }
    return NULL;
}

static void set_placing(struct part *p, size_t b_from, size_t b_to, size_t stop)
{
    p->b_from = b_from;
    p->b_to = b_to;
    p->stop = stop;
    p->stopped = false;
}

static void clear_counts(struct part parts[2])
{
    for (int k = 0; k < 2; k++) {
        parts[k].stored = 0;
        parts[k].expired = 0;
        parts[k].low_t = T_MAX;
    }
}

/* Pass 3 in full: the parallel placement, then buckets 0 and B/2 on this thread; or, with one
 * part or after a stop, every bucket in order on this thread. The parts count what they place,
 * across both steps. */
static void place_all(struct load *ld, struct part parts[2], bool two)
{
    struct ow_dedup *d = ld->d;
    size_t buckets = (size_t)1 << ld->bits;
    size_t half = buckets / 2;

    clear_counts(parts);
    if (two) {
        set_placing(&parts[0], 1, half, region_of(d, ld->bits, half + 1));
        set_placing(&parts[1], half + 1, buckets, region_of(d, ld->bits, 1));
        run_parts(place_part, parts, true);
        d->loads_parallel++;
        if (parts[0].stopped || parts[1].stopped) {
            memset(d->slots, 0, d->cap * sizeof(*d->slots));
            d->loads_placed_again++;
            clear_counts(parts);
            two = false;
        }
    }
    if (two) {
        set_placing(&parts[0], 0, 1, SIZE_MAX);
        place_part(&parts[0]);
        set_placing(&parts[1], half, half + 1, SIZE_MAX);
        place_part(&parts[1]);
    } else {
        set_placing(&parts[0], 0, buckets, SIZE_MAX);
        place_part(&parts[0]);
    }
    d->n = parts[0].stored + parts[1].stored;
    d->expired += parts[0].expired + parts[1].expired;
    d->low_t = parts[0].low_t < parts[1].low_t ? parts[0].low_t : parts[1].low_t;
}

/* The fallback: ow_dedup_insert_many, block by block. */
static void insert_block(struct part *p, size_t got)
{
    ow_dedup_insert_many(p->ld->d, p->buf, got);
}

static size_t insert_blocks(struct load *ld, size_t n)
{
    struct part p = {.ld = ld, .to = n};

    p.buf = ow_xmalloc(LOAD_BLOCK * sizeof(*p.buf));
    read_part(&p, false, insert_block);
    free(p.buf);
    return p.good;
}

/* Buckets of REGION_SLOTS slots at least, a power of two. */
static int bucket_bits(size_t cap)
{
    int bits = 0;

    while (bits < MAX_BUCKET_BITS && cap >> (bits + 1) >= REGION_SLOTS) {
        bits++;
    }
    return bits;
}

size_t ow_dedup_load(struct ow_dedup *d, size_t n, ow_dedup_read_fn read, void *arg)
{
    struct load ld = {.d = d, .read = read, .arg = arg};
    struct part parts[2];
    size_t buckets;
    size_t loaded;
    bool two;

    if (d->started || d->n != 0 || d->next != NULL || d->old != NULL || d->pass.goal != PASS_NONE) {
        return insert_blocks(&ld, n); /* not empty: only inserts keep it right */
    }
    ow_dedup_reserve(d, n);
    if (n == 0 || n >= d->act_at) {
        return insert_blocks(&ld, n); /* the bound forgets some as they come */
    }
    ld.bits = bucket_bits(d->cap);
    buckets = (size_t)1 << ld.bits;
    two = ld.bits >= PARALLEL_BITS;
    for (int k = 0; k < 2; k++) {
        parts[k] = (struct part){.ld = &ld, .max_us = INT64_MIN};
        parts[k].next = ow_xcalloc(buckets, sizeof(size_t));
        parts[k].buf = ow_xmalloc(LOAD_BLOCK * sizeof(struct ow_dedup_entry));
    }
    parts[0].to = two ? n / 2 : n;
    parts[1].from = parts[0].to;
    parts[1].to = n;

    run_parts(count_part, parts, two);
    if (parts[0].good < parts[0].to - parts[0].from) {
        parts[1].to = parts[1].from; /* refused in the first half: nothing after it counts */
        parts[1].max_us = INT64_MIN;
        memset(parts[1].next, 0, buckets * sizeof(size_t));
    } else {
        parts[1].to = parts[1].from + parts[1].good;
    }
    parts[0].to = parts[0].from + parts[0].good;
    loaded = parts[0].good + (parts[1].to - parts[1].from);
    if (loaded == 0) {
        goto out;
    }

    /* The greatest time first, as if the newest id had come first: ids past the span by it
     * are never stored, and every stored t is within [1, span units + 1]. */
    d->started = true;
    d->max_us = parts[0].max_us > parts[1].max_us ? parts[0].max_us : parts[1].max_us;
    d->base_units = floor_units(d->max_us - d->span_us, d->shift);
    set_edges(d);

    /* Bucket starts; then each part's next index per bucket, the first part's ids first. */
    ld.start = ow_xmalloc((buckets + 1) * sizeof(size_t));
    ld.start[0] = 0;
    for (size_t b = 0; b < buckets; b++) {
        size_t first = parts[0].next[b];

        ld.start[b + 1] = ld.start[b] + first + parts[1].next[b];
        parts[0].next[b] = ld.start[b];
        parts[1].next[b] = ld.start[b] + first;
    }
    ld.staged = ow__dedup_slots_new(loaded);
    run_parts(scatter_part, parts, two && parts[1].to > parts[1].from);
    if (parts[0].good < parts[0].to - parts[0].from) {
        loaded = parts[0].from + parts[0].good;
    } else if (parts[1].good < parts[1].to - parts[1].from) {
        loaded = parts[1].from + parts[1].good;
    }
    place_all(&ld, parts, two);
    free(ld.staged);
    free(ld.start);
out:
    for (int k = 0; k < 2; k++) {
        free(parts[k].next);
        free(parts[k].buf);
    }
    return loaded;
}
