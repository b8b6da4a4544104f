/* test_dedup.c: remembered event ids: verdicts, growth, expiry edge, memory bound, a model. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"

#define SLOT_BYTES 36
#define DAY_US (86400LL * 1000000LL)

static struct ow_dedup_key key_n(uint64_t n)
{
    char id[32];
    int len = snprintf(id, sizeof(id), "evt-%llu", (unsigned long long)n);

    return ow_dedup_key_of(id, (size_t)len);
}

static void content_n(uint64_t n, uint64_t c[2])
{
    c[0] = n * 0x9e3779b97f4a7c15ULL + 1;
    c[1] = n ^ 0x5555aaaa5555aaaaULL;
}

static enum ow_dedup_verdict lookup_n(const struct ow_dedup *d, uint64_t n)
{
    uint64_t c[2];

    content_n(n, c);
    return ow_dedup_lookup(d, key_n(n), c);
}

static void insert_n(struct ow_dedup *d, uint64_t n, int64_t occurred_us)
{
    uint64_t c[2];

    content_n(n, c);
    ow_dedup_insert(d, key_n(n), c, occurred_us);
}

static struct ow_dedup_stats stats_of(const struct ow_dedup *d)
{
    struct ow_dedup_stats st;

    ow_dedup_stats(d, &st);
    return st;
}

static void dedup__new_same_conflict(void **state)
{
    struct ow_dedup_conf conf = {.span_us = 7 * DAY_US, .max_bytes = 1 << 20};
    struct ow_dedup *d = ow_dedup_create(&conf);
    struct ow_dedup_key k = ow_dedup_key_of("a-1", 3);
    uint64_t c1[2] = {1, 2};
    uint64_t c2[2] = {1, 3};

    (void)state;
    assert_int_equal(ow_dedup_lookup(d, k, c1), OW_DEDUP_NEW);
    ow_dedup_insert(d, k, c1, 1000);
    assert_int_equal(ow_dedup_lookup(d, k, c1), OW_DEDUP_SAME);
    assert_int_equal(ow_dedup_lookup(d, k, c2), OW_DEDUP_CONFLICT);
    /* The first copy wins: inserting other content changes nothing. */
    ow_dedup_insert(d, k, c2, 2000);
    assert_int_equal(ow_dedup_lookup(d, k, c1), OW_DEDUP_SAME);
    assert_int_equal(ow_dedup_lookup(d, k, c2), OW_DEDUP_CONFLICT);
    assert_int_equal(stats_of(d).ids, 1);
    ow_dedup_destroy(d);
}

static void dedup__ids_one_byte_apart_are_distinct(void **state)
{
    struct ow_dedup_conf conf = {.span_us = DAY_US, .max_bytes = 1 << 20};
    struct ow_dedup *d = ow_dedup_create(&conf);
    char id[] = "incident-000000000000-0042";
    uint64_t c[2] = {7, 7};
    size_t len = strlen(id);

    (void)state;
    ow_dedup_insert(d, ow_dedup_key_of(id, len), c, 0);
    for (size_t i = 0; i < len; i++) {
        char save = id[i];

        id[i] ^= 1;
        assert_int_equal(ow_dedup_lookup(d, ow_dedup_key_of(id, len), c), OW_DEDUP_NEW);
        id[i] = save;
    }
    assert_int_equal(ow_dedup_lookup(d, ow_dedup_key_of(id, len - 1), c), OW_DEDUP_NEW);
    assert_int_equal(ow_dedup_lookup(d, ow_dedup_key_of(id, len), c), OW_DEDUP_SAME);
    ow_dedup_destroy(d);
}

/* A reserve sizes the table once for a saved set: loading it then never grows the table, and
 * the bound still holds. */
static void dedup__reserve_sizes_the_table_once(void **state)
{
    struct ow_dedup_conf conf = {.span_us = 7 * DAY_US, .max_bytes = 64 << 20};
    struct ow_dedup *d = ow_dedup_create(&conf);
    size_t cap;

    (void)state;
    ow_dedup_reserve(d, 100000);
    cap = stats_of(d).capacity;
    assert_true(cap * 3 / 4 > 100000);
    assert_int_equal(stats_of(d).migration_left, 0); /* grown at once: no migration left */
    for (uint64_t n = 0; n < 100000; n++) {
        insert_n(d, n, 1000);
    }
    assert_int_equal(stats_of(d).capacity, cap);
    assert_int_equal(stats_of(d).ids, 100000);
    for (uint64_t n = 0; n < 100000; n++) {
        assert_int_equal(lookup_n(d, n), OW_DEDUP_SAME);
    }
    /* More than the bound can hold: the table stops at the bound. */
    ow_dedup_reserve(d, 100000000);
    assert_true(stats_of(d).bytes <= conf.max_bytes);
    assert_int_equal(lookup_n(d, 99999), OW_DEDUP_SAME);
    ow_dedup_destroy(d);
}

static void dedup__growth_keeps_all_ids(void **state)
{
    struct ow_dedup_conf conf = {.span_us = DAY_US, .max_bytes = 64u << 20};
    struct ow_dedup *d = ow_dedup_create(&conf);
    uint64_t cap0 = stats_of(d).capacity;
    const uint64_t n = 200000;
    struct ow_dedup_stats st;

    (void)state;
    for (uint64_t i = 0; i < n; i++) {
        assert_int_equal(lookup_n(d, i), OW_DEDUP_NEW);
        insert_n(d, i, (int64_t)i);
        st = stats_of(d);
        /* Below the bound the table doubles: while it migrates, the old half-size array is
         * still there, so memory is 1.5 tables at most. */
        if (st.migration_left > 0) {
            assert_int_equal(st.bytes, st.capacity * SLOT_BYTES * 3 / 2);
        } else {
            assert_int_equal(st.bytes, st.capacity * SLOT_BYTES);
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        assert_int_equal(lookup_n(d, i), OW_DEDUP_SAME);
    }
    st = stats_of(d);
    assert_true(st.capacity > cap0);
    assert_int_equal(st.ids, n);
    assert_int_equal(st.expired, 0);
    assert_int_equal(st.forgotten_early, 0);
    ow_dedup_destroy(d);
}

/* The edge is inclusive: an id exactly span_us older than the greatest time is remembered,
 * one microsecond more and it is forgotten (the unit is 1 us for this span). */
static void dedup__expiry_edge_is_inclusive(void **state)
{
    struct ow_dedup_conf conf = {.span_us = 1000, .max_bytes = 1 << 20};
    struct ow_dedup *d = ow_dedup_create(&conf);

    (void)state;
    insert_n(d, 1, 5000);
    insert_n(d, 2, 6000); /* greatest - span == 5000: id 1 sits on the edge */
    assert_int_equal(lookup_n(d, 1), OW_DEDUP_SAME);
    assert_int_equal(ow_dedup_sweep(d), 0);
    assert_int_equal(lookup_n(d, 1), OW_DEDUP_SAME);
    insert_n(d, 3, 6001);
    assert_int_equal(lookup_n(d, 1), OW_DEDUP_NEW); /* at once, before any sweep */
    assert_int_equal(lookup_n(d, 2), OW_DEDUP_SAME);
    assert_int_equal(stats_of(d).ids, 3);
    assert_int_equal(ow_dedup_sweep(d), 1);
    assert_int_equal(stats_of(d).ids, 2);
    assert_int_equal(stats_of(d).expired, 1);
    ow_dedup_destroy(d);
}

/* With the default 7 days the unit is 1.024 ms: never forgotten before the span, and
 * forgotten once the span is passed by a unit. */
static void dedup__expiry_never_early_with_coarse_unit(void **state)
{
    struct ow_dedup_conf conf = {.span_us = 7 * DAY_US, .max_bytes = 1 << 20};
    struct ow_dedup *d = ow_dedup_create(&conf);
    const int64_t t0 = 1617235200123456LL; /* 2021-04-01T00:00:00.123456Z */

    (void)state;
    for (int64_t k = 0; k < 2000; k++) {
        insert_n(d, (uint64_t)k, t0 + k); /* 2000 ids across one or two units */
    }
    insert_n(d, 100000, t0 + 7 * DAY_US); /* id 0 on the edge */
    for (uint64_t k = 0; k < 2000; k++) {
        assert_int_equal(lookup_n(d, k), OW_DEDUP_SAME);
    }
    insert_n(d, 100001, t0 + 7 * DAY_US + 2048 + 2000);
    for (uint64_t k = 0; k < 2000; k++) {
        assert_int_equal(lookup_n(d, k), OW_DEDUP_NEW);
    }
    assert_int_equal(ow_dedup_sweep(d), 2000);
    assert_int_equal(stats_of(d).expired, 2000);
    ow_dedup_destroy(d);
}

/* floor(x / u), also for negative x. */
static int64_t floor_div(int64_t x, int64_t u)
{
    return x / u - (x % u < 0 ? 1 : 0);
}

/* Ids at @edge - 1 and @edge, inserted while both are inside the span, then the greatest time
 * @m: ow_dedup_edge_us gives @edge, and the table forgets the id before it and remembers the
 * one on it, so a compaction keeping the records at or after the edge keeps exactly the ids
 * the table remembers. */
static void check_edge(struct ow_dedup *d, uint64_t n, int64_t m, int64_t edge)
{
    insert_n(d, n, edge - 1);
    insert_n(d, n + 1, edge);
    insert_n(d, n + 2, m);
    assert_int_equal(ow_dedup_edge_us(d), edge);
    assert_int_equal(lookup_n(d, n), OW_DEDUP_NEW);
    assert_int_equal(lookup_n(d, n + 1), OW_DEDUP_SAME);
}

/* The accessor's edge is the one lookups apply: floor((M - span) / u) * u, in 1 us units and
 * in coarse ones (M not on a unit, before 1970 too), through the rebases of the 32-bit times
 * (in steps, and at once for a jump). */
static void dedup__edge_is_where_the_table_forgets(void **state)
{
    struct ow_dedup_conf fine = {.span_us = 1000, .max_bytes = 1 << 20};
    struct ow_dedup_conf coarse = {.span_us = 7 * DAY_US, .max_bytes = 1 << 20};
    struct ow_dedup *d = ow_dedup_create(&fine);
    const int64_t t0 = 1617235200123456LL; /* 2021-04-01T00:00:00.123456Z */
    int64_t m = 0;
    uint64_t n = 0;

    (void)state;
    assert_int_equal(ow_dedup_edge_us(d), INT64_MIN); /* nothing inserted yet */
    /* 1 us units; steps of about 1 s, for 2.8 times the 32-bit range: several rebases. */
    for (int i = 0; i < 12000; i++, n += 3) {
        m += 1000003;
        check_edge(d, n, m, m - 1000);
    }
    m += (int64_t)1 << 50; /* a leap: the times are rebased at once */
    insert_n(d, n, m);
    n++;
    for (int i = 0; i < 3; i++, n += 3) {
        m += 1000003;
        check_edge(d, n, m, m - 1000);
    }
    ow_dedup_destroy(d);

    /* 1.024 ms units: the edge is the start of the unit that holds M - span. */
    d = ow_dedup_create(&coarse);
    for (int64_t base = -t0; base <= t0; base += t0) {
        for (int i = 0; i < 2000; i++, n += 3) {
            m = base + 7 * DAY_US + i * 777;
            check_edge(d, n, m, floor_div(m - 7 * DAY_US, 1024) * 1024);
        }
        assert_true(ow_dedup_edge_us(d) % 1024 == 0);
        assert_true(ow_dedup_edge_us(d) <= m - 7 * DAY_US);
        assert_true(ow_dedup_edge_us(d) > m - 7 * DAY_US - 1024);
    }
    ow_dedup_destroy(d);
}

static void dedup__too_old_insert_is_not_remembered(void **state)
{
    struct ow_dedup_conf conf = {.span_us = 1000, .max_bytes = 1 << 20};
    struct ow_dedup *d = ow_dedup_create(&conf);

    (void)state;
    insert_n(d, 1, 10000);
    insert_n(d, 2, 8999); /* greatest - span == 9000 */
    assert_int_equal(lookup_n(d, 2), OW_DEDUP_NEW);
    insert_n(d, 3, 9000);
    assert_int_equal(lookup_n(d, 3), OW_DEDUP_SAME);
    assert_int_equal(stats_of(d).ids, 2);
    assert_int_equal(stats_of(d).expired, 1);
    ow_dedup_destroy(d);
}

/* Streaming with a span: the table stays near the live set, through the amortised sweeps. */
static void dedup__sweeps_keep_the_table_to_the_span(void **state)
{
    struct ow_dedup_conf conf = {.span_us = 10000, .max_bytes = 64u << 20};
    struct ow_dedup *d = ow_dedup_create(&conf);
    const uint64_t n = 500000;
    struct ow_dedup_stats st;

    (void)state;
    for (uint64_t i = 0; i < n; i++) {
        insert_n(d, i, (int64_t)i); /* one id per us: 10001 live at any time */
    }
    st = stats_of(d);
    assert_true(st.capacity <= 32768);
    assert_true(st.ids <= st.capacity);
    assert_true(st.sweeps > 0);
    assert_int_equal(st.forgotten_early, 0);
    assert_int_equal(st.ids + st.expired, n);
    ow_dedup_sweep(d);
    st = stats_of(d);
    assert_int_equal(st.ids, 10001);
    assert_int_equal(st.ids + st.expired, n);
    assert_int_equal(lookup_n(d, n - 10002), OW_DEDUP_NEW);
    assert_int_equal(lookup_n(d, n - 10001), OW_DEDUP_SAME);
    ow_dedup_destroy(d);
}

/* A long jump in time rebases the 32-bit times; ids within the span survive it. */
static void dedup__time_jumps_keep_live_ids(void **state)
{
    struct ow_dedup_conf conf = {.span_us = 1000, .max_bytes = 1 << 20};
    struct ow_dedup *d = ow_dedup_create(&conf);
    int64_t t = 0;

    (void)state;
    for (uint64_t round = 0; round < 6; round++) {
        t += (int64_t)3000000000LL; /* about 0.7 of the 32-bit range, in 1 us units */
        insert_n(d, round * 10, t - 1000);
        insert_n(d, round * 10 + 1, t - 999);
        insert_n(d, round * 10 + 2, t);
        assert_int_equal(lookup_n(d, round * 10), OW_DEDUP_SAME);
        assert_int_equal(lookup_n(d, round * 10 + 1), OW_DEDUP_SAME);
        assert_int_equal(lookup_n(d, round * 10 + 2), OW_DEDUP_SAME);
        if (round > 0) {
            assert_int_equal(lookup_n(d, round * 10 - 8), OW_DEDUP_NEW);
        }
    }
    insert_n(d, 999, INT64_MAX);
    assert_int_equal(lookup_n(d, 999), OW_DEDUP_SAME);
    assert_int_equal(lookup_n(d, 52), OW_DEDUP_NEW);
    ow_dedup_sweep(d);
    assert_int_equal(stats_of(d).ids, 1);
    assert_int_equal(stats_of(d).expired, 18);
    ow_dedup_destroy(d);
}

/* At the bound the OLDEST ids go first, about an eighth at a time, and are counted. */
static void dedup__bound_forgets_oldest_first(void **state)
{
    const size_t max_bytes = 4096 * SLOT_BYTES + 100;
    struct ow_dedup_conf conf = {.span_us = 100 * DAY_US, .max_bytes = max_bytes};
    struct ow_dedup *d = ow_dedup_create(&conf);
    const uint64_t n = 50000;
    uint64_t first_kept = 0;
    struct ow_dedup_stats st;

    (void)state;
    for (uint64_t i = 0; i < n; i++) {
        /* Arrival order is scrambled a little within blocks of 16 ids. */
        uint64_t j = (i & ~15ULL) | ((i * 7) & 15);

        insert_n(d, j, (int64_t)j * 1000000);
        st = stats_of(d);
        /* The table stays within the bound; during the last growth (2048 to 4096 slots) the
         * old array is there too. */
        assert_true(st.capacity * SLOT_BYTES <= max_bytes);
        assert_true(st.bytes <= (st.migration_left > 0 ? 6144 : 4096) * SLOT_BYTES);
        assert_true(st.ids <= st.capacity * 7 / 8);
        assert_int_equal(st.ids + st.forgotten_early, i + 1);
    }
    ow_dedup_sweep(d); /* the forgetting under way ends (lookups already see it) */
    st = stats_of(d);
    assert_int_equal(st.capacity, 4096);
    assert_true(st.forgotten_early > 0);
    assert_int_equal(st.expired, 0);
    assert_true(st.ids >= 4096 * 3 / 4 - 64);
    assert_true(st.ids <= 4096 * 7 / 8);
    /* What is remembered is exactly the newest ids. */
    while (lookup_n(d, first_kept) == OW_DEDUP_NEW) {
        first_kept++;
    }
    for (uint64_t i = first_kept; i < n; i++) {
        assert_int_equal(lookup_n(d, i), OW_DEDUP_SAME);
    }
    assert_int_equal(n - first_kept, st.ids);
    ow_dedup_destroy(d);
}

/* Ids that all share one time are forgotten a share at a time, never all at once: the table
 * never holds more than 7/8 of its slots, and forgetting leaves about 3/4. */
static void dedup__bound_with_one_time_forgets_a_share(void **state)
{
    const size_t max_bytes = 2048 * SLOT_BYTES;
    struct ow_dedup_conf conf = {.span_us = DAY_US, .max_bytes = max_bytes};
    struct ow_dedup *d = ow_dedup_create(&conf);
    struct ow_dedup_stats st = {0};
    uint64_t inserted = 0;
    uint64_t kept = 0;

    (void)state;
    while (st.forgotten_early == 0) {
        insert_n(d, inserted++, 42);
        st = stats_of(d);
        assert_true(st.ids <= 1792); /* 7/8 of 2048 */
    }
    assert_true(inserted > 1536);
    ow_dedup_sweep(d); /* the forgetting under way ends (lookups already see it) */
    st = stats_of(d);
    assert_true(st.ids >= 1536 - 64);
    assert_true(st.ids <= 1536 + 64);
    for (uint64_t i = 0; i < inserted; i++) {
        kept += lookup_n(d, i) == OW_DEDUP_SAME;
    }
    assert_int_equal(kept, st.ids);
    assert_int_equal(st.ids + st.forgotten_early, inserted);
    ow_dedup_destroy(d);
}

static void dedup__tiny_bound_is_raised_to_64_slots(void **state)
{
    struct ow_dedup_conf conf = {.span_us = DAY_US, .max_bytes = 10};
    struct ow_dedup *d = ow_dedup_create(&conf);

    (void)state;
    for (uint64_t i = 0; i < 1000; i++) {
        insert_n(d, i, (int64_t)i);
    }
    assert_int_equal(stats_of(d).capacity, 64);
    assert_int_equal(lookup_n(d, 999), OW_DEDUP_SAME);
    ow_dedup_destroy(d);
}

struct walk {
    uint64_t count;
    int64_t min_us;
    int64_t max_us;
};

static int walk_cb(void *arg, struct ow_dedup_key key, const uint64_t content[2],
                   int64_t occurred_us)
{
    struct walk *w = arg;

    (void)key;
    (void)content;
    w->count++;
    if (occurred_us < w->min_us) {
        w->min_us = occurred_us;
    }
    if (occurred_us > w->max_us) {
        w->max_us = occurred_us;
    }
    return w->count == 1000000 ? 7 : 0;
}

struct copy {
    struct ow_dedup *to;
};

static int copy_cb(void *arg, struct ow_dedup_key key, const uint64_t content[2],
                   int64_t occurred_us)
{
    struct copy *c = arg;

    ow_dedup_insert(c->to, key, content, occurred_us);
    return 0;
}

static void dedup__foreach_walks_live_ids_for_a_save(void **state)
{
    struct ow_dedup_conf conf = {.span_us = 500, .max_bytes = 1 << 20};
    struct ow_dedup *d = ow_dedup_create(&conf);
    struct ow_dedup *e = ow_dedup_create(&conf);
    struct walk w = {0, INT64_MAX, INT64_MIN};
    struct copy c = {e};

    (void)state;
    for (uint64_t i = 0; i < 2000; i++) {
        insert_n(d, i, (int64_t)i);
    }
    assert_int_equal(ow_dedup_foreach(d, walk_cb, &w), 0);
    assert_int_equal(w.count, 501);
    assert_int_equal(w.min_us, 1499);
    assert_int_equal(w.max_us, 1999);
    assert_int_equal(ow_dedup_foreach(d, copy_cb, &c), 0);
    for (uint64_t i = 0; i < 2000; i++) {
        assert_int_equal(lookup_n(e, i), lookup_n(d, i));
    }
    ow_dedup_destroy(e);
    ow_dedup_destroy(d);
}

static void dedup__destroy_null_is_a_no_op(void **state)
{
    (void)state;
    ow_dedup_destroy(NULL);
}

/* A model: one entry per id of a small universe (the id number is the index). */
struct model_entry {
    bool present;
    uint64_t content[2];
    int64_t occurred_us;
};

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dULL;
}

static void run_model(size_t max_bytes, bool bounded)
{
    const uint64_t universe = 60000;
    const int64_t span = 200000;
    struct ow_dedup_conf conf = {.span_us = span, .max_bytes = max_bytes};
    struct ow_dedup *d = ow_dedup_create(&conf);
    struct model_entry *m = calloc(universe, sizeof(*m));
    uint64_t rng = 0x1234567887654321ULL;
    int64_t now = 1000000;
    int64_t max_us = INT64_MIN;
    uint64_t accepted = 0;
    struct ow_dedup_stats st;

    assert_non_null(m);
    for (int op = 0; op < 300000; op++) {
        uint64_t r = rng_next(&rng);
        uint64_t id = (r >> 8) % universe;
        struct model_entry *me = &m[id];
        bool live = me->present && me->occurred_us >= max_us - span;
        uint64_t c[2];
        enum ow_dedup_verdict v;
        int64_t occurred_us;

        now += (int64_t)(r & 63);
        occurred_us = now - ((r >> 40) % 16 == 0 ? (int64_t)((r >> 20) % (span * 5 / 4)) : 0);
        content_n(id, c);
        if ((r >> 60) == 0) {
            c[1]++; /* the same id with other content */
        }
        v = ow_dedup_lookup(d, key_n(id), c);
        if (!live) {
            assert_int_equal(v, OW_DEDUP_NEW);
        } else if (me->content[0] == c[0] && me->content[1] == c[1]) {
            assert_true(v == OW_DEDUP_SAME || (bounded && v == OW_DEDUP_NEW));
        } else {
            assert_true(v == OW_DEDUP_CONFLICT || (bounded && v == OW_DEDUP_NEW));
        }
        if (v != OW_DEDUP_NEW && (r >> 56) % 4 != 0) {
            continue; /* the engine inserts new ids only; now and then insert anyway */
        }
        ow_dedup_insert(d, key_n(id), c, occurred_us);
        if (occurred_us > max_us) {
            max_us = occurred_us;
        }
        /* Does the table hold a live copy now? Then the insert changes nothing. If it did not
         * say NEW, its copy is the model's (both keep the first copy). */
        live = v != OW_DEDUP_NEW && me->present && me->occurred_us >= max_us - span;
        if (!live) {
            accepted++; /* stored, or counted as expired at once when too old */
            me->present = occurred_us >= max_us - span;
            me->content[0] = c[0];
            me->content[1] = c[1];
            me->occurred_us = occurred_us;
        }
        if (op % 50000 == 0) {
            uint64_t model_live = 0;

            ow_dedup_sweep(d);
            st = stats_of(d);
            for (uint64_t i = 0; i < universe; i++) {
                model_live += m[i].present && m[i].occurred_us >= max_us - span;
            }
            if (bounded) {
                assert_true(st.ids <= model_live);
            } else {
                assert_int_equal(st.ids, model_live);
            }
        }
        st = stats_of(d);
        assert_true(st.bytes <= (max_bytes > 64 * SLOT_BYTES ? max_bytes : 64 * SLOT_BYTES));
        assert_int_equal(st.ids + st.expired + st.forgotten_early, accepted);
    }
    st = stats_of(d);
    assert_true(st.expired > 0);
    if (bounded) {
        assert_true(st.forgotten_early > 0);
    } else {
        assert_int_equal(st.forgotten_early, 0);
    }
    free(m);
    ow_dedup_destroy(d);
}

static void dedup__matches_a_model(void **state)
{
    (void)state;
    run_model(64u << 20, false);
}

static void dedup__bounded_never_invents_a_duplicate(void **state)
{
    (void)state;
    run_model(1024 * SLOT_BYTES, true);
}

/* The table's contents in table order, for comparing two tables slot by slot. */
struct dump {
    struct ow_dedup_entry *ids;
    size_t n;
    size_t cap;
};

static int dump_cb(void *arg, struct ow_dedup_key key, const uint64_t content[2],
                   int64_t occurred_us)
{
    struct dump *dp = arg;

    assert_true(dp->n < dp->cap);
    dp->ids[dp->n].key = key;
    dp->ids[dp->n].content[0] = content[0];
    dp->ids[dp->n].content[1] = content[1];
    dp->ids[dp->n].occurred_us = occurred_us;
    dp->n++;
    return 0;
}

/* Batched and one-by-one inserts of the same stream into two tables of @conf, with batches of
 * every size from 1 to well past the prefetch distance: the tables must hold the same ids in
 * the same slots, with the same counters, and give the same verdicts. */
static struct ow_dedup_stats check_batched_matches_one_by_one(const struct ow_dedup_conf *conf,
                                                              size_t reserve,
                                                              const struct ow_dedup_entry *ids,
                                                              size_t n, uint64_t universe)
{
    struct ow_dedup *one = ow_dedup_create(conf);
    struct ow_dedup *many = ow_dedup_create(conf);
    struct dump a = {calloc(n, sizeof(struct ow_dedup_entry)), 0, n};
    struct dump b = {calloc(n, sizeof(struct ow_dedup_entry)), 0, n};
    struct ow_dedup_stats sa;
    struct ow_dedup_stats sb;
    uint64_t rng = 0x0123456789abcdefULL;
    size_t batch = 1;

    assert_non_null(a.ids);
    assert_non_null(b.ids);
    ow_dedup_reserve(one, reserve);
    ow_dedup_reserve(many, reserve);
    for (size_t i = 0; i < n; i++) {
        ow_dedup_insert(one, ids[i].key, ids[i].content, ids[i].occurred_us);
    }
    for (size_t i = 0; i < n; i += batch) {
        batch = rng_next(&rng) % 8 == 0 ? 1 + rng_next(&rng) % 5000 : 1 + rng_next(&rng) % 40;
        batch = batch < n - i ? batch : n - i;
        ow_dedup_insert_many(many, ids + i, batch);
    }
    ow_dedup_insert_many(many, ids, 0); /* an empty batch changes nothing */
    ow_dedup_stats(one, &sa);
    ow_dedup_stats(many, &sb);
    assert_int_equal(sa.ids, sb.ids);
    assert_int_equal(sa.expired, sb.expired);
    assert_int_equal(sa.forgotten_early, sb.forgotten_early);
    assert_int_equal(sa.capacity, sb.capacity);
    assert_int_equal(sa.sweeps, sb.sweeps);
    assert_int_equal(ow_dedup_foreach(one, dump_cb, &a), 0);
    assert_int_equal(ow_dedup_foreach(many, dump_cb, &b), 0);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.ids, b.ids, a.n * sizeof(struct ow_dedup_entry));
    for (uint64_t id = 0; id < universe; id++) {
        uint64_t c[2];

        content_n(id, c);
        assert_int_equal(ow_dedup_lookup(one, key_n(id), c), ow_dedup_lookup(many, key_n(id), c));
        c[1]++;
        assert_int_equal(ow_dedup_lookup(one, key_n(id), c), ow_dedup_lookup(many, key_n(id), c));
    }
    free(a.ids);
    free(b.ids);
    ow_dedup_destroy(one);
    ow_dedup_destroy(many);
    return sa;
}

/* ow_dedup_insert_many is ow_dedup_insert in a loop: on a random stream with duplicates (same
 * and other content), ids already past the span, an expired id inserted again, times that
 * jump far enough to rebase, growth from the smallest table, a reserved table (a restore) and
 * a table at its memory bound forgetting early. */
static void dedup__insert_many_matches_one_by_one(void **state)
{
    const size_t n = 60000;
    const uint64_t universe = 40000;
    const int64_t span = 200000;
    struct ow_dedup_entry *ids = calloc(n, sizeof(*ids));
    struct ow_dedup_conf grows = {.span_us = span, .max_bytes = 64u << 20};
    struct ow_dedup_conf bounded = {.span_us = span, .max_bytes = 2048 * SLOT_BYTES};
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    int64_t now = 0;
    struct ow_dedup_stats st;

    (void)state;
    assert_non_null(ids);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng_next(&rng);
        uint64_t id = (r >> 8) % universe; /* about a third are repeats */

        now += (int64_t)(r & 15);
        if ((r >> 32) % 5000 == 0) {
            now += (int64_t)3000000000LL; /* a jump: rebases the 32-bit times */
        }
        ids[i].key = key_n(id);
        content_n(id, ids[i].content);
        if ((r >> 40) % 16 == 0) {
            ids[i].content[1]++; /* the same id with other content */
        }
        /* One in eight is late, up to 1.25 spans: some are past the edge when inserted. */
        ids[i].occurred_us = now - ((r >> 44) % 8 == 0 ? (int64_t)((r >> 20) % (span * 5 / 4)) : 0);
    }
    st = check_batched_matches_one_by_one(&grows, 0, ids, n, universe);
    assert_true(st.expired > 0 && st.sweeps > 0 && st.capacity > 1024); /* it grew */
    st = check_batched_matches_one_by_one(&grows, n, ids, n, universe);
    assert_true(st.expired > 0);
    st = check_batched_matches_one_by_one(&bounded, n, ids, n, universe);
    assert_true(st.forgotten_early > 0);
    free(ids);
}

/* Upkeep in steps: growth moves the old array into the new one a few slots per insert, and
 * sweeps walk the table a few hundred slots per insert. The tests below look at the table
 * between any two inserts while that work is under way. */

/* The ids of a universe by key, to name the ids a walk reports. */
struct keyed {
    uint64_t h0;
    uint64_t h1;
    uint64_t id;
};

static int keyed_cmp(const void *a, const void *b)
{
    const struct keyed *x = a;
    const struct keyed *y = b;

    return x->h0 < y->h0 ? -1 : x->h0 > y->h0;
}

struct upkeep_model {
    struct ow_dedup *d;
    bool bounded;
    uint64_t universe;
    int64_t span;
    int64_t max_us;
    uint64_t accepted;
    struct ow_dedup_key *keys; /* by id */
    struct keyed *by_key;      /* sorted by h0 */
    struct model_entry *m;     /* by id */
    uint8_t *seen;             /* by id: reported by the walk under way */
    uint64_t walked;
    int64_t walked_min_us;
};

static bool model_live(const struct upkeep_model *um, uint64_t id)
{
    return um->m[id].present && um->m[id].occurred_us >= um->max_us - um->span;
}

static int model_walk_cb(void *arg, struct ow_dedup_key key, const uint64_t content[2],
                         int64_t occurred_us)
{
    struct upkeep_model *um = arg;
    struct keyed want = {key.h[0], 0, 0};
    const struct keyed *k = bsearch(&want, um->by_key, um->universe, sizeof(*k), keyed_cmp);
    const struct model_entry *me;

    assert_non_null(k);
    assert_true(k->h1 == key.h[1]);
    assert_false(um->seen[k->id]); /* each id once, also during a migration */
    um->seen[k->id] = 1;
    me = &um->m[k->id];
    assert_true(model_live(um, k->id)); /* nothing the model lacks or has past the span */
    assert_true(content[0] == me->content[0] && content[1] == me->content[1]);
    assert_true(occurred_us == me->occurred_us); /* the unit is 1 us: exact */
    um->walked++;
    um->walked_min_us = occurred_us < um->walked_min_us ? occurred_us : um->walked_min_us;
    return 0;
}

/* The whole table against the model: every remembered id walked once, lookups agreeing with
 * the walk for every id, the counters. Unbounded, the table remembers exactly the live ids;
 * at a bound, a subset, and every id it forgot is at least as old as every id it kept. */
static void model_check_all(struct upkeep_model *um, size_t max_bytes)
{
    struct ow_dedup_stats st = stats_of(um->d);
    int64_t forgotten_max_us = INT64_MIN;
    uint64_t live = 0;

    memset(um->seen, 0, um->universe);
    um->walked = 0;
    um->walked_min_us = INT64_MAX;
    assert_int_equal(ow_dedup_foreach(um->d, model_walk_cb, um), 0);
    for (uint64_t id = 0; id < um->universe; id++) {
        enum ow_dedup_verdict v = ow_dedup_lookup(um->d, um->keys[id], um->m[id].content);

        assert_int_equal(v, um->seen[id] ? OW_DEDUP_SAME : OW_DEDUP_NEW);
        if (model_live(um, id)) {
            live++;
            if (!um->seen[id] && um->m[id].occurred_us > forgotten_max_us) {
                forgotten_max_us = um->m[id].occurred_us;
            }
        }
    }
    assert_true(st.ids >= um->walked); /* ids counts the gone ones not yet reclaimed */
    assert_int_equal(st.ids + st.expired + st.forgotten_early, um->accepted);
    assert_true(st.bytes >= st.capacity * SLOT_BYTES);
    if (st.migration_left == 0) {
        assert_int_equal(st.bytes, st.capacity * SLOT_BYTES);
    }
    if (!um->bounded) {
        assert_int_equal(um->walked, live);
        return;
    }
    assert_true(st.capacity * SLOT_BYTES <= max_bytes);
    assert_true(st.ids <= st.capacity * 7 / 8);
    assert_true(forgotten_max_us <= um->walked_min_us); /* the oldest are forgotten first */
}

/* Each step of time per event: fast (the live set grows and the table with it), slow (most
 * ids expire and sweeps reclaim them), fast again, then a jump past the span (all expire). */
static int64_t model_step(int op, uint64_t r, int64_t span)
{
    if (op == 300000) {
        return 3 * span;
    }
    if (op < 100000 || (op >= 200000 && op < 300000)) {
        return (int64_t)(r & 1);
    }
    return (int64_t)(r & 7);
}

/* A span of 2^29 us (1 us units) and about 40000 ids in it: event time runs through 2^32 units
 * almost twice, so the times are rebased three times, in steps. */
#define REBASE_SPAN_US ((int64_t)1 << 29)

static int64_t rebase_step(int op, uint64_t r, int64_t span)
{
    (void)op;
    return (int64_t)(r % (uint64_t)(span / 20000));
}

/* Randomized: inserts (new, duplicate, other content, late, past the span, an expired id
 * again), lookups of the touched id at every step, and now and then the whole table against
 * the model, many times while a migration or a sweep is under way. With @rebasing, a long span
 * and event time running through 2^32 units: the sweeps include those that rebase the times. */
static void run_upkeep_model(size_t max_bytes, bool bounded, bool rebasing)
{
    const uint64_t universe = 80000;
    const int ops = rebasing ? 600000 : 400000;
    int64_t (*step)(int op, uint64_t r, int64_t span) = rebasing ? rebase_step : model_step;
    struct ow_dedup_conf conf = {.span_us = rebasing ? REBASE_SPAN_US : 30000,
                                 .max_bytes = max_bytes};
    struct upkeep_model um = {.d = ow_dedup_create(&conf),
                              .bounded = bounded,
                              .universe = universe,
                              .span = conf.span_us,
                              .max_us = INT64_MIN};
    uint64_t rng = 0x5bd1e9955bd1e995ULL;
    int64_t now = 1000000;
    int migrating_checks = 0;
    int sweeping_checks = 0;
    int checks_now = 0; /* in the migration or sweep under way: a few in each, 200 in all */
    uint64_t busy_with = UINT64_MAX; /* the migration (by capacity) or sweep (by number) */
    uint64_t cap_seen = 0;
    struct ow_dedup_stats st;

    um.keys = calloc(universe, sizeof(*um.keys));
    um.by_key = calloc(universe, sizeof(*um.by_key));
    um.m = calloc(universe, sizeof(*um.m));
    um.seen = calloc(universe, 1);
    assert_true(um.keys && um.by_key && um.m && um.seen);
    for (uint64_t id = 0; id < universe; id++) {
        um.keys[id] = key_n(id);
        um.by_key[id] = (struct keyed){um.keys[id].h[0], um.keys[id].h[1], id};
    }
    qsort(um.by_key, universe, sizeof(*um.by_key), keyed_cmp);
    for (int op = 0; op < ops; op++) {
        uint64_t r = rng_next(&rng);
        uint64_t id = (r >> 8) % universe;
        struct model_entry *me = &um.m[id];
        bool live = model_live(&um, id);
        int64_t occurred_us;
        enum ow_dedup_verdict v;
        uint64_t c[2];

        now += step(op, r, conf.span_us);
        occurred_us = now;
        if ((r >> 40) % 16 == 0) {
            occurred_us -= (int64_t)((r >> 20) % (uint64_t)(conf.span_us * 5 / 4)); /* late */
        }
        content_n(id, c);
        if ((r >> 60) == 0) {
            c[1]++; /* the same id with other content */
        }
        v = ow_dedup_lookup(um.d, um.keys[id], c);
        if (!live) {
            assert_int_equal(v, OW_DEDUP_NEW);
        } else if (me->content[0] == c[0] && me->content[1] == c[1]) {
            assert_true(v == OW_DEDUP_SAME || (bounded && v == OW_DEDUP_NEW));
        } else {
            assert_true(v == OW_DEDUP_CONFLICT || (bounded && v == OW_DEDUP_NEW));
        }
        if (v == OW_DEDUP_NEW || (r >> 56) % 4 == 0) { /* now and then a copy again */
            ow_dedup_insert(um.d, um.keys[id], c, occurred_us);
            um.max_us = occurred_us > um.max_us ? occurred_us : um.max_us;
            if (v == OW_DEDUP_NEW || !model_live(&um, id)) {
                um.accepted++; /* stored, or counted as gone at once */
                me->present = true;
                me->content[0] = c[0];
                me->content[1] = c[1];
                me->occurred_us = occurred_us;
            }
        }
        st = stats_of(um.d);
        assert_int_equal(st.ids + st.expired + st.forgotten_early, um.accepted);
        cap_seen = st.capacity > cap_seen ? st.capacity : cap_seen;
        if (st.migration_left > 0) {
            checks_now = busy_with == st.capacity * 2 + 1 ? checks_now : 0;
            busy_with = st.capacity * 2 + 1;
        } else if (st.sweep_left > 0) {
            checks_now = busy_with == st.sweeps * 2 ? checks_now : 0;
            busy_with = st.sweeps * 2;
        } else {
            busy_with = UINT64_MAX;
        }
        if (op % 9973 == 0 || (busy_with != UINT64_MAX && op % 17 == 0 && checks_now++ < 6 &&
                               migrating_checks + sweeping_checks < 200)) {
            migrating_checks += st.migration_left > 0;
            sweeping_checks += st.sweep_left > 0;
            model_check_all(&um, max_bytes);
        }
        if (op % 100000 == 99999) { /* all pending work done at once */
            ow_dedup_sweep(um.d);
            st = stats_of(um.d);
            assert_int_equal(st.migration_left, 0);
            assert_int_equal(st.sweep_left, 0);
            model_check_all(&um, max_bytes);
            if (!bounded) {
                assert_int_equal(st.ids, um.walked);
            }
        }
    }
    st = stats_of(um.d);
    assert_true(st.expired > 0);
    assert_true(sweeping_checks >= 20);
    if (rebasing) {
        /* Past 2^32 + 2^31 units: at least two rebases, none done in one call. */
        assert_true(um.max_us - 1000000 >= ((int64_t)3 << 31));
        assert_true(cap_seen >= 65536);
        assert_true(st.max_slots_per_insert <= 2048);
    }
    if (bounded) {
        assert_true(st.forgotten_early > 0);
    } else {
        assert_int_equal(st.forgotten_early, 0);
        assert_true(cap_seen >= 65536); /* six doublings at least */
        assert_true(migrating_checks >= 20);
    }
    free(um.keys);
    free(um.by_key);
    free(um.m);
    free(um.seen);
    ow_dedup_destroy(um.d);
}

static void dedup__model_across_migrations_and_sweeps(void **state)
{
    (void)state;
    run_upkeep_model(64u << 20, false, false);
}

static void dedup__model_at_the_bound_forgets_oldest_first(void **state)
{
    (void)state;
    run_upkeep_model(16384 * SLOT_BYTES, true, false);
}

static void dedup__model_rebases_times_in_steps(void **state)
{
    (void)state;
    run_upkeep_model(64u << 20, false, true);
}

/* Longest run of consecutive calls for which @busy was true, as a loop counts it. */
struct run {
    uint64_t now;
    uint64_t longest;
};

static void run_count(struct run *r, bool busy)
{
    r->now = busy ? r->now + 1 : 0;
    r->longest = r->now > r->longest ? r->now : r->longest;
}

/* No insert does work in proportion to the table: with 262144 slots, none visits more than a
 * step of slots (64 migrated, or 256 swept and the rest of one probe run), and so a growth
 * and a sweep each take thousands of inserts. At the bound, forgetting the oldest likewise. */
static void check_bounded_upkeep(const struct ow_dedup_conf *conf, int64_t ids_per_us)
{
    struct ow_dedup *d = ow_dedup_create(conf);
    struct run migrating = {0, 0};
    struct run sweeping = {0, 0};
    struct ow_dedup_stats st;

    for (uint64_t i = 0; i < 600000; i++) {
        insert_n(d, i, (int64_t)i / ids_per_us);
        st = stats_of(d);
        run_count(&migrating, st.migration_left > 0);
        run_count(&sweeping, st.sweep_left > 0);
    }
    st = stats_of(d);
    assert_true(st.capacity >= 262144);
    assert_true(st.sweeps > 0);
    assert_true(st.max_slots_per_insert >= 64);
    assert_true(st.max_slots_per_insert <= 2048);
    assert_true(sweeping.longest >= st.capacity / 2048);
    if (st.forgotten_early == 0) {
        assert_true(migrating.longest >= st.capacity / 2 / 64 - 1); /* the last growth */
    }
    ow_dedup_destroy(d);
}

static void dedup__no_insert_does_table_work(void **state)
{
    struct ow_dedup_conf grows = {.span_us = 100000, .max_bytes = 64u << 20};
    struct ow_dedup_conf bounded = {.span_us = 100 * DAY_US, .max_bytes = 262144 * SLOT_BYTES};

    (void)state;
    check_bounded_upkeep(&grows, 2); /* 200001 live ids, expiring */
    check_bounded_upkeep(&bounded, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dedup__new_same_conflict),
        cmocka_unit_test(dedup__ids_one_byte_apart_are_distinct),
        cmocka_unit_test(dedup__reserve_sizes_the_table_once),
        cmocka_unit_test(dedup__growth_keeps_all_ids),
        cmocka_unit_test(dedup__expiry_edge_is_inclusive),
        cmocka_unit_test(dedup__expiry_never_early_with_coarse_unit),
        cmocka_unit_test(dedup__edge_is_where_the_table_forgets),
        cmocka_unit_test(dedup__too_old_insert_is_not_remembered),
        cmocka_unit_test(dedup__sweeps_keep_the_table_to_the_span),
        cmocka_unit_test(dedup__time_jumps_keep_live_ids),
        cmocka_unit_test(dedup__bound_forgets_oldest_first),
        cmocka_unit_test(dedup__bound_with_one_time_forgets_a_share),
        cmocka_unit_test(dedup__tiny_bound_is_raised_to_64_slots),
        cmocka_unit_test(dedup__foreach_walks_live_ids_for_a_save),
        cmocka_unit_test(dedup__destroy_null_is_a_no_op),
        cmocka_unit_test(dedup__matches_a_model),
        cmocka_unit_test(dedup__bounded_never_invents_a_duplicate),
        cmocka_unit_test(dedup__insert_many_matches_one_by_one),
        cmocka_unit_test(dedup__model_across_migrations_and_sweeps),
        cmocka_unit_test(dedup__model_at_the_bound_forgets_oldest_first),
        cmocka_unit_test(dedup__model_rebases_times_in_steps),
        cmocka_unit_test(dedup__no_insert_does_table_work),
    };

    return cmocka_run_group_tests_name("dedup", tests, NULL, NULL);
}
