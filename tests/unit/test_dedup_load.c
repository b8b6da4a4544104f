/* test_dedup_load.c: a restore's bulk load (ow_dedup_load) against inserts in order: the same
 * verdicts, the last copy of an id kept, expiry at the greatest time, a refused entry ending
 * the load, long probe runs at the edges of the two threads' regions, and the fallbacks. */
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

#define DAY_US (86400LL * 1000000LL)
#define BIG (256u << 20) /* a bound no test reaches */

/* The reader: entries from an array, refusing the one at `refuse` (SIZE_MAX: none). */
struct source {
    const struct ow_dedup_entry *ids;
    size_t refuse;
};

static size_t read_source(void *arg, size_t from, size_t count, bool again,
                          struct ow_dedup_entry *out)
{
    const struct source *src = arg;
    size_t n = count;

    if (src->refuse >= from && src->refuse < from + count) {
        assert_false(again); /* the second read comes only for entries accepted */
        n = src->refuse - from;
    }
    memcpy(out, src->ids + from, n * sizeof(*out));
    return n;
}

static struct ow_dedup_key key_n(uint64_t n)
{
    char id[32];
    int len = snprintf(id, sizeof(id), "evt-%llu", (unsigned long long)n);

    return ow_dedup_key_of(id, (size_t)len);
}

static void entry_n(struct ow_dedup_entry *e, uint64_t n, int64_t occurred_us)
{
    e->key = key_n(n);
    e->content[0] = n * 0x9e3779b97f4a7c15ULL + 1;
    e->content[1] = n ^ 0x5555aaaa5555aaaaULL;
    e->occurred_us = occurred_us;
}

/* @n entries at rising times over 2 days; one in 64 repeats an earlier id, same content. */
static struct ow_dedup_entry *saved_ids(size_t n)
{
    struct ow_dedup_entry *ids = calloc(n, sizeof(*ids));
    uint64_t rng = 0x243f6a8885a308d3ULL;

    assert_non_null(ids);
    for (size_t i = 0; i < n; i++) {
        uint64_t id = i;

        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        if (i > 0 && rng % 64 == 0) {
            id = (rng >> 8) % i;
        }
        entry_n(&ids[i], id, (int64_t)i * (2 * DAY_US / (int64_t)n));
    }
    return ids;
}

/* @n distinct ids, one microsecond apart from the first day on. */
static struct ow_dedup_entry *distinct_ids(size_t n)
{
    struct ow_dedup_entry *ids = calloc(n, sizeof(*ids));

    assert_non_null(ids);
    for (size_t i = 0; i < n; i++) {
        entry_n(&ids[i], i, DAY_US + (int64_t)i);
    }
    return ids;
}

static struct ow_dedup_stats stats_of(const struct ow_dedup *d)
{
    struct ow_dedup_stats st;

    ow_dedup_stats(d, &st);
    return st;
}

/* Every entry, an other content for it, and ids never saved: the same verdict in both. */
static void assert_same_verdicts(const struct ow_dedup *a, const struct ow_dedup *b,
                                 const struct ow_dedup_entry *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t other[2] = {ids[i].content[0] + 1, ids[i].content[1]};
        struct ow_dedup_key absent = key_n(n + 1000000 + i);

        assert_int_equal(ow_dedup_lookup(a, ids[i].key, ids[i].content),
                         ow_dedup_lookup(b, ids[i].key, ids[i].content));
        assert_int_equal(ow_dedup_lookup(a, ids[i].key, other),
                         ow_dedup_lookup(b, ids[i].key, other));
        assert_int_equal(ow_dedup_lookup(a, absent, other), OW_DEDUP_NEW);
    }
}

static struct ow_dedup *inserted(const struct ow_dedup_conf *conf, const struct ow_dedup_entry *ids,
                                 size_t n)
{
    struct ow_dedup *d = ow_dedup_create(conf);

    ow_dedup_reserve(d, n);
    ow_dedup_insert_many(d, ids, n);
    return d;
}

/* Large enough for two threads (524288 slots, 64 buckets), and small (one thread). */
static void check_matches_inserts(size_t n)
{
    struct ow_dedup_conf conf = {.span_us = 7 * DAY_US, .max_bytes = BIG};
    struct ow_dedup_entry *ids = saved_ids(n);
    struct source src = {ids, SIZE_MAX};
    struct ow_dedup *want = inserted(&conf, ids, n);
    struct ow_dedup *got = ow_dedup_create(&conf);

    assert_int_equal(ow_dedup_load(got, n, read_source, &src), n);
    assert_same_verdicts(got, want, ids, n);
    assert_int_equal(stats_of(got).ids, stats_of(want).ids);
    if (n >= 1000) {
        assert_true(stats_of(got).ids < n); /* the repeats were stored once */
    }
    assert_int_equal(ow_dedup_edge_us(got), ow_dedup_edge_us(want));
    assert_int_equal(stats_of(got).loads_parallel, n >= 100000);
    assert_int_equal(stats_of(got).loads_placed_again, 0);
    ow_dedup_destroy(want);
    ow_dedup_destroy(got);
    free(ids);
}

static void dedup_load__matches_inserts_in_order(void **state)
{
    (void)state;
    check_matches_inserts(300000);
    check_matches_inserts(1000);
    check_matches_inserts(1);
}

/* An id saved twice with other content (its first copy was forgotten at the saving table's
 * bound): the later copy is kept, also with the copies in the two threads' halves. An id past
 * the span by the greatest time is not stored, and counts as expired. */
static void dedup_load__last_copy_wins_and_old_ids_expire(void **state)
{
    struct ow_dedup_conf conf = {.span_us = 7 * DAY_US, .max_bytes = BIG};
    const size_t n = 200000;
    struct ow_dedup_entry *ids = calloc(n, sizeof(*ids));
    struct source src = {ids, SIZE_MAX};
    struct ow_dedup *d = ow_dedup_create(&conf);

    (void)state;
    assert_non_null(ids);
    for (size_t i = 0; i < n; i++) {
        entry_n(&ids[i], i, 10 * DAY_US + (int64_t)i);
    }
    entry_n(&ids[n - 10], 10, 10 * DAY_US + 5); /* id 10 again, in the second half */
    ids[n - 10].content[0] = 77;
    entry_n(&ids[n - 12], 20, 10 * DAY_US + 6); /* id 20 twice more, in the second half */
    entry_n(&ids[n - 11], 20, 10 * DAY_US + 7);
    ids[n - 11].content[0] = 78;
    entry_n(&ids[3], 3, 3 * DAY_US - 1); /* past the span: 10 days - 7 > 3 days */

    assert_int_equal(ow_dedup_load(d, n, read_source, &src), n);
    assert_int_equal(ow_dedup_lookup(d, ids[n - 10].key, ids[n - 10].content), OW_DEDUP_SAME);
    assert_int_equal(ow_dedup_lookup(d, ids[10].key, ids[10].content), OW_DEDUP_CONFLICT);
    assert_int_equal(ow_dedup_lookup(d, ids[n - 11].key, ids[n - 11].content), OW_DEDUP_SAME);
    assert_int_equal(ow_dedup_lookup(d, ids[n - 12].key, ids[n - 12].content), OW_DEDUP_CONFLICT);
    assert_int_equal(ow_dedup_lookup(d, ids[3].key, ids[3].content), OW_DEDUP_NEW);
    assert_int_equal(ow_dedup_lookup(d, ids[4].key, ids[4].content), OW_DEDUP_SAME);
    assert_int_equal(stats_of(d).expired, 1);
    /* n entries: one expired, three repeats of ids 10 and 20 (ids n-10 to n-12 were replaced) */
    assert_int_equal(stats_of(d).ids, n - 1 - 3);
    ow_dedup_destroy(d);
    free(ids);
}

/* A refused entry ends the load: those before it are remembered, none after it, and the times
 * after it count for nothing. In the first half, the second half is not loaded either; in the
 * second, all the first is. */
static void check_refused_at(size_t n, size_t refuse)
{
    struct ow_dedup_conf conf = {.span_us = 7 * DAY_US, .max_bytes = BIG};
    struct ow_dedup_entry *ids = distinct_ids(n);
    struct source src = {ids, refuse};
    struct ow_dedup *d = ow_dedup_create(&conf);

    /* The last is 30 days later: were its time counted, the span would end past all others. */
    ids[n - 1].occurred_us = 31 * DAY_US;
    assert_int_equal(ow_dedup_load(d, n, read_source, &src), refuse);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ow_dedup_lookup(d, ids[i].key, ids[i].content),
                         i < refuse ? OW_DEDUP_SAME : OW_DEDUP_NEW);
    }
    assert_int_equal(stats_of(d).ids, refuse);
    ow_dedup_destroy(d);
    free(ids);
}

static void dedup_load__stops_at_a_refused_entry(void **state)
{
    (void)state;
    check_refused_at(200000, 1234);
    check_refused_at(200000, 150000);
    check_refused_at(200000, 0);
    check_refused_at(200000, 199999);
    check_refused_at(500, 250);
}

/* A run of 10000 ids at one home slot: the last slot before the middle of the table (the
 * first thread's last bucket) or the last slot (the second thread's, which wraps to slot 0).
 * Longer than the slack region (bucket B/2, bucket 0: 8192 slots) each thread may spill into, so
 * the parallel placement must stop and one thread place everything again. */
static void check_long_run(uint64_t last_k0)
{
    struct ow_dedup_conf conf = {.span_us = 7 * DAY_US, .max_bytes = BIG};
    const size_t filler = 250000;
    const size_t run = 10000;
    const size_t n = filler + run;
    struct ow_dedup_entry *ids = distinct_ids(n); /* the last `run` are remade below */
    struct source src = {ids, SIZE_MAX};
    struct ow_dedup *d = ow_dedup_create(&conf);

    for (size_t i = 0; i < run; i++) {
        entry_n(&ids[filler + i], filler + i, DAY_US);
        ids[filler + i].key.h[0] = last_k0 - i;
    }
    assert_int_equal(ow_dedup_load(d, n, read_source, &src), n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ow_dedup_lookup(d, ids[i].key, ids[i].content), OW_DEDUP_SAME);
    }
    assert_int_equal(stats_of(d).ids, n);
    assert_int_equal(stats_of(d).loads_parallel, 1);
    assert_int_equal(stats_of(d).loads_placed_again, 1);
    ow_dedup_destroy(d);
    free(ids);
}

static void dedup_load__long_runs_at_the_edges_are_placed_whole(void **state)
{
    (void)state;
    check_long_run(((uint64_t)1 << 63) - 1);
    check_long_run(UINT64_MAX);
}

/* A table that cannot hold them within 3/4 of its bound, or that holds ids already: the
 * entries are inserted in order, exactly as ow_dedup_insert_many does (the first copy wins). */
static void dedup_load__falls_back_to_inserts_in_order(void **state)
{
    struct ow_dedup_conf small = {.span_us = 7 * DAY_US, .max_bytes = 4096 * 36};
    struct ow_dedup_conf big = {.span_us = 7 * DAY_US, .max_bytes = BIG};
    const size_t n = 20000;
    struct ow_dedup_entry *ids = saved_ids(n);
    struct source src = {ids, SIZE_MAX};
    struct ow_dedup *want = inserted(&small, ids, n);
    struct ow_dedup *got = ow_dedup_create(&small);
    struct ow_dedup_stats ws;
    struct ow_dedup_stats gs;

    (void)state;
    assert_int_equal(ow_dedup_load(got, n, read_source, &src), n);
    assert_same_verdicts(got, want, ids, n);
    ws = stats_of(want);
    gs = stats_of(got);
    assert_int_equal(gs.ids, ws.ids);
    assert_int_equal(gs.forgotten_early, ws.forgotten_early);
    assert_true(gs.forgotten_early > 0);
    ow_dedup_destroy(want);
    ow_dedup_destroy(got);

    want = ow_dedup_create(&big);
    got = ow_dedup_create(&big);
    ow_dedup_insert(want, ids[0].key, ids[1].content, ids[0].occurred_us);
    ow_dedup_insert(got, ids[0].key, ids[1].content, ids[0].occurred_us);
    ow_dedup_insert_many(want, ids, n);
    assert_int_equal(ow_dedup_load(got, n, read_source, &src), n);
    assert_same_verdicts(got, want, ids, n);
    /* the first copy, inserted before the load, won */
    assert_int_equal(ow_dedup_lookup(got, ids[0].key, ids[1].content), OW_DEDUP_SAME);
    ow_dedup_destroy(want);
    ow_dedup_destroy(got);
    free(ids);
}

/* Inserts after a load behave as after inserts in order: new ids, expiry, growth. */
static void dedup_load__inserts_after_a_load(void **state)
{
    struct ow_dedup_conf conf = {.span_us = 7 * DAY_US, .max_bytes = BIG};
    const size_t n = 100000;
    struct ow_dedup_entry *ids = saved_ids(3 * n);
    struct source src = {ids, SIZE_MAX};
    struct ow_dedup *want = inserted(&conf, ids, n);
    struct ow_dedup *got = ow_dedup_create(&conf);

    (void)state;
    assert_int_equal(ow_dedup_load(got, n, read_source, &src), n);
    /* twice as many again: the table grows; then time leaps, and the first ones expire */
    ow_dedup_insert_many(want, ids + n, 2 * n);
    ow_dedup_insert_many(got, ids + n, 2 * n);
    assert_same_verdicts(got, want, ids, 3 * n);
    assert_int_equal(stats_of(got).ids, stats_of(want).ids);
    assert_true(stats_of(got).capacity > 262144); /* grew past the load's reserve */
    ow_dedup_insert(want, key_n(9u << 30), ids[0].content, 9 * DAY_US);
    ow_dedup_insert(got, key_n(9u << 30), ids[0].content, 9 * DAY_US);
    assert_same_verdicts(got, want, ids, 3 * n);
    assert_int_equal(ow_dedup_lookup(got, ids[0].key, ids[0].content), OW_DEDUP_NEW);
    ow_dedup_sweep(want);
    ow_dedup_sweep(got);
    assert_int_equal(stats_of(got).ids, stats_of(want).ids);
    ow_dedup_destroy(want);
    ow_dedup_destroy(got);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dedup_load__matches_inserts_in_order),
        cmocka_unit_test(dedup_load__last_copy_wins_and_old_ids_expire),
        cmocka_unit_test(dedup_load__stops_at_a_refused_entry),
        cmocka_unit_test(dedup_load__long_runs_at_the_edges_are_placed_whole),
        cmocka_unit_test(dedup_load__falls_back_to_inserts_in_order),
        cmocka_unit_test(dedup_load__inserts_after_a_load),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
