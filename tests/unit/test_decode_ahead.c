/* test_decode_ahead.c: the decoder thread gives each slot what a decoder of one's own gives
 * (the same verdict, the same event, the same id key), whoever decoded it; every slot's strings
 * stay intact until the next chunk; slots without a buffer are left alone; the thread really
 * decodes (a chunk left alone is decoded whole by it). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "decode_ahead.h"
#include "gen.h"

struct lines {
    char **v;
    size_t *len;
    size_t n;
    size_t cap;
};

static void lines_add(struct lines *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap == 0 ? 1024 : l->cap * 2;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        l->len = realloc(l->len, l->cap * sizeof(*l->len));
    }
    l->v[l->n] = malloc(len + 1);
    memcpy(l->v[l->n], s, len);
    l->v[l->n][len] = '\0';
    l->len[l->n] = len;
    l->n++;
}

static void on_gen(void *arg, const struct ow_gen_event *ev, const char *line, size_t len)
{
    (void)ev;
    lines_add(arg, line, len);
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
    free(l->len);
}

/* A generated month (invalid lines and duplicates included) and lines the generator does not
 * write: escapes, a fraction of a second, broken JSON, an empty object. */
static void make_lines(struct lines *l)
{
    static const char *const extra[] = {
        "{\"event_id\":\"e\\u00e9\\n1\",\"type\":\"service_request\",\"schema_version\":1,"
        "\"occurred_at\":\"2021-01-04T10:00:00.123456Z\",\"party_id\":\"SUB\\\"01\","
        "\"service_ref\":\"8.14\",\"count\":2,\"region\":\"south\"}",
        "{\"event_id\":\"x\",\"type\":",
        "{}",
        "not json",
        "{\"event_id\":\"f1\",\"type\":\"forecast\",\"schema_version\":1,\"occurred_at\":"
        "\"2021-01-04T10:00:00Z\",\"report\":\"service_request\",\"party_id\":\"SUB-01\","
        "\"period\":\"2021-02\",\"quantity\":100, \"extra\": [1, {\"a\": null}]}",
    };
    char *argv[] = {"gen",      "--seed", "77",      "--start", "2021-01",
                    "--months", "1",      "--scale", "2",       NULL};

    assert_int_equal(ow_gen_stream(9, argv, on_gen, l), 0);
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        for (size_t k = 0; k < 40; k++) { /* spread over the chunks */
            lines_add(l, extra[i], strlen(extra[i]));
        }
    }
    assert_true(l->n > 2000);
}

static void assert_same_str(struct ow_str a, struct ow_str b)
{
    assert_int_equal(a.len, b.len);
    if (a.len > 0) {
        assert_memory_equal(a.p, b.p, a.len);
    }
}

static void assert_same_event(const struct ow_event *a, const struct ow_event *b)
{
    assert_int_equal(a->type, b->type);
    assert_same_str(a->event_id, b->event_id);
    assert_true(a->occurred_us == b->occurred_us);
    assert_int_equal(a->region, b->region);
    assert_int_equal(a->action, b->action);
    assert_same_str(a->entity_id, b->entity_id);
    assert_same_str(a->party_id, b->party_id);
    assert_same_str(a->service_ref, b->service_ref);
    assert_same_str(a->rdp_id, b->rdp_id);
    assert_same_str(a->measure, b->measure);
    assert_same_str(a->provider, b->provider);
    assert_int_equal(a->severity, b->severity);
    assert_int_equal(a->report, b->report);
    assert_int_equal(a->attribution, b->attribution);
    assert_int_equal(a->fault, b->fault);
    assert_int_equal(a->stage, b->stage);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->category, b->category);
    assert_int_equal(a->batched, b->batched);
    assert_int_equal(a->significant, b->significant);
    assert_true(a->count == b->count);
    assert_true(a->quantity == b->quantity);
    assert_true(a->met == b->met);
    assert_true(a->total == b->total);
    assert_int_equal(a->period, b->period);
    assert_int_equal(a->has_rca_target, b->has_rca_target);
    assert_true(a->rca_target_us == b->rca_target_us);
    assert_memory_equal(a->content_hash, b->content_hash, sizeof(a->content_hash));
}

/* Every line of @l through chunks of pseudo-random sizes (1 to the maximum; every 7th input
 * without a buffer), each slot taken in order and compared, after the whole chunk was taken,
 * with its own decoder's result: so a slot's strings must survive the decoding of all the
 * others. */
static void decode_ahead__every_slot_equals_a_decoder_of_its_own(void **state)
{
    struct ow_decode_ahead *da = ow_decode_ahead_create();
    struct ow_decoder *ref = ow_decoder_create();
    const struct ow_decoded *got[OW_DECODE_AHEAD_MAX];
    struct lines l = {0};
    unsigned seed = 12345;
    size_t at = 0;
    size_t ok = 0;
    size_t refused = 0;
    size_t escaped = 0;
    size_t chunks = 0;

    (void)state;
    assert_non_null(da);
    make_lines(&l);
    while (at < l.n) {
        struct ow_decode_input *in = ow_decode_ahead_inputs(da);
        size_t n;

        seed = seed * 1103515245u + 12345u;
        n = 1 + (seed >> 8) % OW_DECODE_AHEAD_MAX;
        if (n > l.n - at) {
            n = l.n - at;
        }
        for (size_t i = 0; i < n; i++) {
            bool none = (at + i) % 7 == 3;

            in[i].buf = none ? NULL : l.v[at + i];
            in[i].len = none ? 0 : l.len[at + i];
        }
        ow_decode_ahead_begin(da, n);
        for (size_t i = 0; i < n; i++) {
            got[i] = ow_decode_ahead_get(da, i);
        }
        for (size_t i = 0; i < n; i++) {
            struct ow_event want;
            struct ow_err err;
            int rc;

            if (in[i].buf == NULL) {
                assert_null(got[i]);
                continue;
            }
            assert_non_null(got[i]);
            rc = ow_decoder_decode(ref, l.v[at + i], l.len[at + i], &want, &err);
            assert_int_equal(got[i]->rc, rc);
            if (rc != OW_OK) {
                refused++;
                continue;
            }
            ok++;
            escaped += want.event_id.len == 5 && memcmp(want.event_id.p, "e\xc3\xa9\n1", 5) == 0;
            assert_same_event(&got[i]->ev, &want);
            struct ow_dedup_key key = ow_dedup_key_of(want.event_id.p, want.event_id.len);
            assert_memory_equal(&got[i]->key, &key, sizeof(key));
        }
        at += n;
        chunks++;
    }
    print_message("  %zu lines in %zu chunks: %zu decoded, %zu refused\n", l.n, chunks, ok,
                  refused);
    assert_true(ok > 1000);
    assert_true(refused > 3 * 40 * 6 / 7 - 10); /* the broken extras, but for the NULL slots */
    assert_true(escaped > 30);                  /* the escaped extra decodes */
    lines_free(&l);
    ow_decoder_destroy(ref);
    ow_decode_ahead_destroy(da);
}

/* A chunk the caller does not touch is decoded whole by the thread (peek sees every slot
 * decoded without a get); then get takes them as they are, and the counts say who did it. */
static void decode_ahead__the_thread_decodes_a_chunk_left_alone(void **state)
{
    struct ow_decode_ahead *da = ow_decode_ahead_create();
    struct ow_decode_input *in;
    struct lines l = {0};
    uint64_t by_thread = 0;
    uint64_t by_caller = 0;
    size_t n = OW_DECODE_AHEAD_MAX;
    int waited_ms = 0;

    (void)state;
    assert_non_null(da);
    make_lines(&l);
    for (int round = 0; round < 3; round++) {
        in = ow_decode_ahead_inputs(da);
        for (size_t i = 0; i < n; i++) {
            in[i].buf = l.v[round * n + i];
            in[i].len = l.len[round * n + i];
        }
        ow_decode_ahead_begin(da, n);
        for (size_t i = 0; i < n; i++) {
            while (ow_decode_ahead_peek(da, i) == NULL) {
                assert_true(waited_ms < 30000); /* the thread never decoded it */
                usleep(1000);
                waited_ms++;
            }
        }
        for (size_t i = 0; i < n; i++) {
            assert_ptr_equal(ow_decode_ahead_get(da, i), ow_decode_ahead_peek(da, i));
        }
    }
    ow_decode_ahead_counts(da, &by_thread, &by_caller);
    assert_true(by_thread == 3 * n);
    assert_true(by_caller == 0);
    lines_free(&l);
    ow_decode_ahead_destroy(da);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_ahead__every_slot_equals_a_decoder_of_its_own),
        cmocka_unit_test(decode_ahead__the_thread_decodes_a_chunk_left_alone),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
