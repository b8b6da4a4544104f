/* bench_dedup.c: ids per GiB, ns per lookup+insert at several sizes, and peak RSS of dedup.c.
 *
 * usage: bench_dedup [--no-fill] [--bound-mib N] [size ...]   (sizes default to 1e6 1e7)
 *        bench_dedup --restore N   (only (d): a restore of N saved ids, one by one and batched)
 *        bench_dedup --latency N   (only (e): the time of each insert call, at N ids) */
#include "dedup.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MIB (1024.0 * 1024.0)
#define RESTORE_BLOCK 4096 /* ids per ow_dedup_insert_many call, as in daemon/state.c */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double peak_rss_mib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
}

/* An event id like the engine sees: "evt-" and 16 hex digits, made cheaply. */
static struct ow_dedup_key key_n(uint64_t n)
{
    static const char hex[] = "0123456789abcdef";
    char id[20] = "evt-";

    for (int i = 0; i < 16; i++) {
        id[4 + i] = hex[(n >> (60 - 4 * i)) & 15];
    }
    return ow_dedup_key_of(id, sizeof(id));
}

static void content_n(uint64_t n, uint64_t c[2])
{
    c[0] = n * 0x9e3779b97f4a7c15ULL;
    c[1] = ~n;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dULL;
}

/* The engine's path for a new event: look up, apply, insert. @returns ns per event. */
static double new_ids(struct ow_dedup *d, uint64_t from, uint64_t n, int64_t us_per_id)
{
    double t0 = now_s();
    uint64_t dups = 0;

    for (uint64_t i = from; i < from + n; i++) {
        struct ow_dedup_key k = key_n(i);
        uint64_t c[2];

        content_n(i, c);
        dups += ow_dedup_lookup(d, k, c) != OW_DEDUP_NEW;
        ow_dedup_insert(d, k, c, (int64_t)i * us_per_id);
    }
    if (dups != 0) {
        fprintf(stderr, "bench_dedup: %llu new ids looked like duplicates\n",
                (unsigned long long)dups);
        exit(1);
    }
    return (now_s() - t0) * 1e9 / (double)n;
}

/* The same with ow_dedup_prefetch run 8 events ahead, as the engine can over a Kafka batch. */
static double new_ids_prefetched(struct ow_dedup *d, uint64_t from, uint64_t n, int64_t us_per_id)
{
    struct ow_dedup_key ring[8];
    double t0 = now_s();
    uint64_t dups = 0;

    for (uint64_t i = from; i < from + 8; i++) {
        ring[i & 7] = key_n(i);
        ow_dedup_prefetch(d, ring[i & 7]);
    }
    for (uint64_t i = from; i < from + n; i++) {
        struct ow_dedup_key k = ring[i & 7];
        uint64_t c[2];

        ring[i & 7] = key_n(i + 8);
        ow_dedup_prefetch(d, ring[i & 7]);
        content_n(i, c);
        dups += ow_dedup_lookup(d, k, c) != OW_DEDUP_NEW;
        ow_dedup_insert(d, k, c, (int64_t)i * us_per_id);
    }
    if (dups != 0) {
        fprintf(stderr, "bench_dedup: %llu new ids looked like duplicates\n",
                (unsigned long long)dups);
        exit(1);
    }
    return (now_s() - t0) * 1e9 / (double)n;
}

/* Lookups only: of ids in [lo, hi) (hits), or of ids never inserted (misses). */
static double lookups(const struct ow_dedup *d, uint64_t lo, uint64_t hi, uint64_t n, bool hit)
{
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    uint64_t found = 0;
    double t0 = now_s();

    for (uint64_t i = 0; i < n; i++) {
        uint64_t id = hit ? lo + rng_next(&rng) % (hi - lo) : (1ULL << 62) + i;
        uint64_t c[2];

        content_n(id, c);
        found += ow_dedup_lookup(d, key_n(id), c) == OW_DEDUP_SAME;
    }
    if (found != (hit ? n : 0)) {
        fprintf(stderr, "bench_dedup: %llu of %llu lookups found\n", (unsigned long long)found,
                (unsigned long long)n);
        exit(1);
    }
    return (now_s() - t0) * 1e9 / (double)n;
}

static double key_cost(uint64_t n)
{
    uint64_t x = 0;
    double t0 = now_s();

    for (uint64_t i = 0; i < n; i++) {
        x += key_n(i).h[0];
    }
    if (x == 42) {
        printf(" ");
    }
    return (now_s() - t0) * 1e9 / (double)n;
}

/* (a) Fill a bounded table with a span long enough that nothing expires. */
static void fill_bound(size_t bound)
{
    struct ow_dedup_conf conf = {.span_us = 1000LL * 86400 * 1000000, .max_bytes = bound};
    struct ow_dedup *d = ow_dedup_create(&conf);
    struct ow_dedup_stats st;
    uint64_t i = 0;
    uint64_t at_first = 0;
    uint64_t lo = UINT64_MAX;
    uint64_t hi = 0;
    double sum = 0;
    uint64_t samples = 0;
    uint64_t steady_end;
    double t0 = now_s();

    for (;; i++) {
        uint64_t c[2];

        content_n(i, c);
        ow_dedup_insert(d, key_n(i), c, (int64_t)i * 1000);
        ow_dedup_stats(d, &st);
        if (st.forgotten_early > 0) {
            at_first = st.ids + st.forgotten_early - 1;
            break;
        }
    }
    /* Steady state: the ids remembered over two more tables' worth of inserts. */
    steady_end = i + 2 * st.capacity;
    for (i++; i < steady_end; i++) {
        uint64_t c[2];

        content_n(i, c);
        ow_dedup_insert(d, key_n(i), c, (int64_t)i * 1000);
        ow_dedup_stats(d, &st);
        lo = st.ids < lo ? st.ids : lo;
        hi = st.ids > hi ? st.ids : hi;
        sum += (double)st.ids;
        samples++;
    }
    printf("(a) fill with max_bytes = %.0f MiB, nothing expiring (%.1f s, %llu inserts)\n",
           (double)bound / MIB, now_s() - t0, (unsigned long long)i);
    printf("    slots %llu x 36 B = %.1f MiB\n", (unsigned long long)st.capacity,
           (double)st.bytes / MIB);
    printf("    ids at first early forgetting  %12llu   %6.1f bytes of bound per id\n",
           (unsigned long long)at_first, (double)bound / (double)at_first);
    printf("    steady state: min %llu, mean %.0f, max %llu   %6.1f bytes of bound per id\n",
           (unsigned long long)lo, sum / (double)samples, (unsigned long long)hi,
           (double)bound / (sum / (double)samples));
    printf("    forgotten early %llu in %llu sweeps; peak RSS %.0f MiB\n\n",
           (unsigned long long)st.forgotten_early, (unsigned long long)st.sweeps, peak_rss_mib());
    ow_dedup_destroy(d);
}

/* (b) ns per operation at one size: filling from empty, then steady at that size. */
static void at_size(uint64_t n)
{
    struct ow_dedup_conf big = {.span_us = INT64_MAX / 4, .max_bytes = (size_t)16 << 30};
    struct ow_dedup_conf span = {.span_us = (int64_t)n, .max_bytes = (size_t)16 << 30};
    struct ow_dedup *d = ow_dedup_create(&big);
    struct ow_dedup_stats st;
    uint64_t ops = n < 2000000 ? n : 2000000;
    double fill;
    double hit;
    double miss;
    double steady;
    double steady_pf;

    fill = new_ids(d, 0, n, 1);
    hit = lookups(d, 0, n, ops, true);
    miss = lookups(d, 0, n, ops, false);
    ow_dedup_stats(d, &st);
    ow_dedup_destroy(d);

    /* Steady: a span of n ids, one id per us, so each insert expires one id. */
    d = ow_dedup_create(&span);
    new_ids(d, 0, 2 * n, 1);
    steady = new_ids(d, 2 * n, ops, 1);
    steady_pf = new_ids_prefetched(d, 2 * n + ops, ops, 1);
    printf("%11llu %9.1f %9.1f %11.1f %9.1f %9.1f %9.2f %9.0f\n", (unsigned long long)n, fill,
           steady, steady_pf, hit, miss, (double)st.ids / (double)st.capacity, peak_rss_mib());
    ow_dedup_destroy(d);
}

static size_t read_ids(void *arg, size_t from, size_t count, bool again, struct ow_dedup_entry *out)
{
    (void)again;
    memcpy(out, (const struct ow_dedup_entry *)arg + from, count * sizeof(*out));
    return count;
}

/* (d) A restore of @n saved ids into a reserved table: one ow_dedup_insert per id, then
 * ow_dedup_insert_many in blocks (as daemon/state.c called it before ow_dedup_load), then
 * ow_dedup_load (what the daemon does at start now). The ids come in save order (rising times,
 * as the id log holds them), with some duplicates (same content). Prints ms for each, and
 * checks that the three tables give the same verdicts. Each table is new, so each time
 * includes faulting in its pages. */
static void restore(uint64_t n)
{
    struct ow_dedup_conf conf = {.span_us = 7 * 86400LL * 1000000, .max_bytes = (size_t)1 << 30};
    struct ow_dedup_entry *ids = malloc(n * sizeof(*ids));
    struct ow_dedup *one = ow_dedup_create(&conf);
    struct ow_dedup *many = ow_dedup_create(&conf);
    uint64_t rng = 0x243f6a8885a308d3ULL;
    uint64_t differ = 0;
    double t_one;
    double t_many;
    double t_load;
    double t0;

    if (ids == NULL) {
        fprintf(stderr, "bench_dedup: out of memory\n");
        exit(1);
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t id = rng_next(&rng) % 64 == 0 && i > 0 ? rng_next(&rng) % i : i;

        ids[i].key = key_n(id);
        content_n(id, ids[i].content);
        ids[i].occurred_us = (int64_t)i * 17280; /* n = 1e7 spans 2 days */
    }
    ow_dedup_reserve(one, n);
    ow_dedup_reserve(many, n);
    t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        ow_dedup_insert(one, ids[i].key, ids[i].content, ids[i].occurred_us);
    }
    t_one = now_s() - t0;
    t0 = now_s();
    for (uint64_t i = 0; i < n; i += RESTORE_BLOCK) {
        ow_dedup_insert_many(many, ids + i, n - i < RESTORE_BLOCK ? n - i : RESTORE_BLOCK);
    }
    t_many = now_s() - t0;
    ow_dedup_destroy(one); /* its memory is reused by the load, as a restart's would be */
    one = ow_dedup_create(&conf);
    t0 = now_s();
    if (ow_dedup_load(one, n, read_ids, ids) != n) {
        fprintf(stderr, "bench_dedup: the load stopped early\n");
        exit(1);
    }
    t_load = now_s() - t0;
    for (uint64_t i = 0; i < n; i += 97) {
        differ += ow_dedup_lookup(one, ids[i].key, ids[i].content) !=
                  ow_dedup_lookup(many, ids[i].key, ids[i].content);
    }
    printf("(d) restore of %llu ids into a reserved table: one by one %.0f ms, "
           "insert_many %.0f ms, load %.0f ms (%.1f / %.1f / %.1f ns per id; load/insert_many "
           "%.2f)%s\n",
           (unsigned long long)n, t_one * 1e3, t_many * 1e3, t_load * 1e3, t_one * 1e9 / (double)n,
           t_many * 1e9 / (double)n, t_load * 1e9 / (double)n, t_load / t_many,
           differ != 0 ? "  VERDICTS DIFFER" : "");
    ow_dedup_destroy(one);
    ow_dedup_destroy(many);
    free(ids);
}

/* Per-call times in a log-linear histogram: 16 buckets per power of two, so a percentile is
 * read to within 1/16 of its value, at no cost per call beyond the clock reads. */
#define LAT_SUB 16
#define LAT_BUCKETS (64 * LAT_SUB)

struct lat {
    uint64_t hist[LAT_BUCKETS];
    uint64_t calls;
    uint64_t over_1ms;
    uint64_t worst_ns;
    double sum_ns;
};

/* A call is timed twice: by the wall clock, which also counts the time other processes held
 * the CPU (on a shared 2-core VM, several ms at times), and by the thread's CPU time, which
 * counts the call's own work, page faults included. */
struct lat2 {
    struct lat wall;
    struct lat cpu;
};

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static void lat_add(struct lat *l, uint64_t ns)
{
    size_t b = ns;

    if (ns >= LAT_SUB) {
        int e = 63 - __builtin_clzll(ns); /* 2^e <= ns, e >= 4 */

        b = (size_t)(e - 3) * LAT_SUB + (size_t)((ns >> (e - 4)) & (LAT_SUB - 1));
    }
    l->hist[b]++;
    l->calls++;
    l->sum_ns += (double)ns;
    l->over_1ms += ns >= 1000000;
    l->worst_ns = ns > l->worst_ns ? ns : l->worst_ns;
}

/* The upper edge of the bucket holding quantile @q, in microseconds. */
static double lat_quantile_us(const struct lat *l, double q)
{
    uint64_t want = (uint64_t)((double)l->calls * q);
    uint64_t sum = 0;

    for (size_t b = 0; b < LAT_BUCKETS; b++) {
        sum += l->hist[b];
        if (sum > want) {
            int e = (int)(b / LAT_SUB) + 3;

            if (b < LAT_SUB) {
                return (double)(b + 1) / 1e3;
            }
            return (double)((LAT_SUB + b % LAT_SUB + 1) << (e - 4)) / 1e3;
        }
    }
    return (double)l->worst_ns / 1e3;
}

static void lat_print(const char *what, const struct lat2 *l)
{
    printf("    %-33s %9llu %7.0f %7.2f %7.2f %8.2f %8.3f %5llu | %8.3f %5llu\n", what,
           (unsigned long long)l->cpu.calls, l->cpu.sum_ns / (double)l->cpu.calls,
           lat_quantile_us(&l->cpu, 0.99), lat_quantile_us(&l->cpu, 0.999),
           lat_quantile_us(&l->cpu, 0.9999), (double)l->cpu.worst_ns / 1e6,
           (unsigned long long)l->cpu.over_1ms, (double)l->wall.worst_ns / 1e6,
           (unsigned long long)l->wall.over_1ms);
}

/* The engine's path for a new event, with the insert call timed: ids [from, from + n), id i
 * at @t0_us + i * @us_per_id. @l may be NULL (untimed). */
static void timed_inserts(struct ow_dedup *d, uint64_t from, uint64_t n, int64_t t0_us,
                          int64_t us_per_id, struct lat2 *l)
{
    uint64_t dups = 0;

    for (uint64_t i = from; i < from + n; i++) {
        struct ow_dedup_key k = key_n(i);
        uint64_t c[2];
        uint64_t wall;
        uint64_t cpu;

        content_n(i, c);
        dups += ow_dedup_lookup(d, k, c) != OW_DEDUP_NEW;
        if (l == NULL) {
            ow_dedup_insert(d, k, c, t0_us + (int64_t)i * us_per_id);
            continue;
        }
        wall = now_ns();
        cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        ow_dedup_insert(d, k, c, t0_us + (int64_t)i * us_per_id);
        lat_add(&l->cpu, clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu);
        lat_add(&l->wall, now_ns() - wall);
    }
    if (dups != 0) {
        fprintf(stderr, "bench_dedup: %llu new ids looked like duplicates\n",
                (unsigned long long)dups);
        exit(1);
    }
}

static void insert_at(struct ow_dedup *d, uint64_t id, int64_t occurred_us)
{
    uint64_t c[2];

    content_n(id, c);
    ow_dedup_insert(d, key_n(id), c, occurred_us);
}

/* (e) The time of each ow_dedup_insert call, where the table does its O(table) work: growing
 * from empty to @n ids; steady at @n live ids with a span that expires one id per insert (the
 * sweeps); steady at a memory bound that holds about @n ids (forgetting the oldest); and steady
 * at @n live ids while event time runs through the point where the 32-bit times are rebased. */
static void latency(uint64_t n)
{
    struct ow_dedup_conf grow = {.span_us = INT64_MAX / 4, .max_bytes = (size_t)16 << 30};
    struct ow_dedup_conf span = {.span_us = (int64_t)n, .max_bytes = (size_t)16 << 30};
    struct ow_dedup_conf bound = {.span_us = INT64_MAX / 4,
                                  .max_bytes = (size_t)((double)n * 36 * 8 / 7)};
    struct ow_dedup_conf rebase = {.span_us = (int64_t)1 << 29, .max_bytes = (size_t)16 << 30};
    int64_t rebase_step = ((int64_t)1 << 29) / (int64_t)n;
    int64_t rebase_t0 = ((int64_t)1 << 31) + ((int64_t)1 << 28);
    struct ow_dedup_stats st;
    struct ow_dedup *d;
    struct lat2 *l = calloc(1, sizeof(*l));
    uint64_t i = 0;
    uint64_t t0;
    uint64_t clock_cost = 0;
    double secs;

    if (l == NULL) {
        fprintf(stderr, "bench_dedup: out of memory\n");
        exit(1);
    }
    for (i = 0; i < 100000; i++) {
        t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        clock_cost += clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
    }
    printf("(e) each ow_dedup_insert call timed: its thread CPU time (CLOCK_THREAD_CPUTIME_ID:\n"
           "    the call's own work and page faults, plus %.0f ns of clock read in each figure);\n"
           "    and its wall time (CLOCK_MONOTONIC: also the time other processes held the CPU)\n",
           (double)clock_cost / 1e5);
    printf("    %-33s %9s %7s %7s %7s %8s %8s %5s | %8s %5s\n", "", "", "", "", "", "", "cpu", "",
           "wall", "");
    printf("    %-33s %9s %7s %7s %7s %8s %8s %5s | %8s %5s\n", "", "calls", "mean ns", "p99 us",
           "p99.9us", "p99.99us", "worst ms", ">1ms", "worst ms", ">1ms");

    /* Growth: every doubling of the table happens inside some insert. */
    d = ow_dedup_create(&grow);
    secs = now_s();
    timed_inserts(d, 0, n, 0, 1, l);
    secs = now_s() - secs;
    ow_dedup_stats(d, &st);
    lat_print("grow from empty (no expiry)", l);
    printf("      %.1f s; %llu ids in %llu slots\n", secs, (unsigned long long)st.ids,
           (unsigned long long)st.capacity);
    ow_dedup_destroy(d);

    /* Expiry: a span of n ids, one id per us; warm up over two spans, then time two more. */
    memset(l, 0, sizeof(*l));
    d = ow_dedup_create(&span);
    timed_inserts(d, 0, 2 * n, 0, 1, NULL);
    ow_dedup_stats(d, &st);
    i = st.sweeps;
    timed_inserts(d, 2 * n, 2 * n, 0, 1, l);
    ow_dedup_stats(d, &st);
    lat_print("steady, span expiring", l);
    printf("      %llu sweeps timed; %llu ids in %llu slots\n", (unsigned long long)(st.sweeps - i),
           (unsigned long long)st.ids, (unsigned long long)st.capacity);
    ow_dedup_destroy(d);

    /* The bound: fill until the oldest are first forgotten, then time two tables' worth. */
    memset(l, 0, sizeof(*l));
    d = ow_dedup_create(&bound);
    for (i = 0;; i++) {
        timed_inserts(d, i, 1, 0, 1000, NULL);
        ow_dedup_stats(d, &st);
        if (st.forgotten_early > 0) {
            break;
        }
    }
    timed_inserts(d, i + 1, 2 * st.capacity, 0, 1000, l);
    ow_dedup_stats(d, &st);
    lat_print("steady at the bound (forgetting)", l);
    printf("      bound %.0f MiB; %llu ids in %llu slots, %llu forgotten early\n",
           (double)bound.max_bytes / MIB, (unsigned long long)st.ids,
           (unsigned long long)st.capacity, (unsigned long long)st.forgotten_early);
    ow_dedup_destroy(d);

    /* Rebase: a span of 2^29 us (1 us units) holding n ids. One id at time 0 sets the base at
     * -2^29; n ids fill a span up to 2^28 units below 3 * 2^30 above the base; then 2^30 + 2^28
     * units more are timed, past 2^32 units above the base: the times must have been rebased
     * somewhere in between. */
    memset(l, 0, sizeof(*l));
    d = ow_dedup_create(&rebase);
    insert_at(d, (uint64_t)1 << 50, 0);
    timed_inserts(d, 0, n, rebase_t0, rebase_step, NULL);
    ow_dedup_stats(d, &st);
    i = st.sweeps;
    timed_inserts(d, n, ((uint64_t)5 << 28) / (uint64_t)rebase_step, rebase_t0, rebase_step, l);
    ow_dedup_stats(d, &st);
    lat_print("steady, times rebased", l);
    printf("      %llu sweeps timed; %llu ids in %llu slots\n", (unsigned long long)(st.sweeps - i),
           (unsigned long long)st.ids, (unsigned long long)st.capacity);
    ow_dedup_destroy(d);
    printf("    peak RSS %.0f MiB\n", peak_rss_mib());
    free(l);
}

int main(int argc, char **argv)
{
    bool fill = true;
    size_t bound = (size_t)1 << 30;
    uint64_t sizes[16];
    int nsizes = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--restore") == 0 && i + 1 < argc) {
            restore((uint64_t)strtod(argv[i + 1], NULL));
            return 0;
        }
        if (strcmp(argv[i], "--latency") == 0 && i + 1 < argc) {
            latency((uint64_t)strtod(argv[i + 1], NULL));
            return 0;
        }
        if (strcmp(argv[i], "--no-fill") == 0) {
            fill = false;
        } else if (strcmp(argv[i], "--bound-mib") == 0 && i + 1 < argc) {
            bound = (size_t)strtoull(argv[++i], NULL, 10) << 20;
        } else if (nsizes < 16) {
            sizes[nsizes++] = (uint64_t)strtod(argv[i], NULL);
        }
    }
    if (nsizes == 0) {
        sizes[nsizes++] = 1000000;
        sizes[nsizes++] = 10000000;
    }
    if (fill) {
        fill_bound(bound);
    }
    printf("(b) ns per event; key_of alone (20-byte id, XXH3-128): %.1f ns\n", key_cost(10000000));
    printf("    fill: key_of + lookup + insert of new ids from empty (growth included)\n");
    printf("    steady: the same at a constant size (span of n ids; each insert expires one)\n");
    printf("    steady+pf: steady with ow_dedup_prefetch 8 events ahead\n");
    printf("    hit/miss: key_of + lookup of a present (random) / absent id\n");
    printf("    load: ids / slots after the fill\n");
    printf("%11s %9s %9s %11s %9s %9s %9s %9s\n", "ids", "fill", "steady", "steady+pf", "hit",
           "miss", "load", "RSS MiB");
    for (int i = 0; i < nsizes; i++) {
        at_size(sizes[i]);
    }
    printf("(c) peak RSS %.0f MiB\n", peak_rss_mib());
    return 0;
}
