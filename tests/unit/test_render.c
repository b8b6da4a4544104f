/* test_render.c: records submitted to the render thread come back on the loop thread as the
 * text json_dumps makes, once each and in the order submitted; settling hands over everything
 * submitted at once, and closing does too. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "render.h"

#define N 2000

struct got {
    pthread_t loop_thread;
    uint64_t seqs[N];
    char *texts[N];
    size_t n;
    bool off_loop; /* @done was called on another thread */
};

static void on_done(void *arg, uint64_t seq, char *text)
{
    struct got *g = arg;

    if (!pthread_equal(pthread_self(), g->loop_thread)) {
        g->off_loop = true;
    }
    assert_true(g->n < N);
    g->seqs[g->n] = seq;
    g->texts[g->n] = text;
    g->n++;
}

/* A record whose text is big enough that the thread is still at work while more arrive. */
static json_t *record(uint64_t i)
{
    json_t *parties = json_object();

    for (int p = 0; p < 50; p++) {
        char name[32];

        snprintf(name, sizeof(name), "SUB-%02d", p);
        json_object_set_new(
            parties, name,
            json_pack("{s:I, s:I}", "actual", (json_int_t)(i + p), "forecast", (json_int_t)p));
    }
    return json_pack("{s:I, s:o}", "seq", (json_int_t)i, "by_party", parties);
}

static void submit_all(struct ow_render *r, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        ow_render_submit(r, 1000 + i, record(i));
    }
}

/* Each text is json_dumps of the record submitted with its seq, in submission order. */
static void check(struct got *g, size_t n)
{
    assert_int_equal(g->n, n);
    assert_false(g->off_loop);
    for (size_t i = 0; i < n; i++) {
        json_t *want = record(i);
        char *text = json_dumps(want, JSON_COMPACT);

        assert_int_equal(g->seqs[i], 1000 + i);
        assert_non_null(g->texts[i]);
        assert_string_equal(g->texts[i], text);
        free(text);
        json_decref(want);
        free(g->texts[i]);
    }
}

/* A render thread reporting to @g on @loop (both new). */
static struct ow_render *start(struct got **g, uv_loop_t *loop)
{
    struct ow_render *r;

    *g = calloc(1, sizeof(**g));
    assert_non_null(*g);
    (*g)->loop_thread = pthread_self();
    uv_loop_init(loop);
    r = ow_render_create(loop, on_done, *g);
    assert_non_null(r);
    return r;
}

static void render__texts_come_back_on_the_loop_in_order(void **state)
{
    struct got *g;
    uv_loop_t loop;
    struct ow_render *r = start(&g, &loop);

    (void)state;
    submit_all(r, 0, N);
    assert_int_equal(ow_render_pending(r), N);
    while (g->n < N) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    assert_int_equal(ow_render_pending(r), 0);
    check(g, N);
    ow_render_close(r);
    uv_run(&loop, UV_RUN_DEFAULT);
    ow_render_destroy(r);
    uv_loop_close(&loop);
    free(g);
}

static void render__settle_hands_over_everything_submitted_now(void **state)
{
    struct got *g;
    uv_loop_t loop;
    struct ow_render *r = start(&g, &loop);

    (void)state;
    submit_all(r, 0, N / 2);
    ow_render_settle(r); /* without a turn of the loop */
    assert_int_equal(ow_render_pending(r), 0);
    check(g, N / 2);
    g->n = 0;
    submit_all(r, 0, N / 4);
    ow_render_close(r); /* settles too */
    check(g, N / 4);
    uv_run(&loop, UV_RUN_DEFAULT); /* the wake-up handle closes; nothing more comes */
    assert_int_equal(g->n, N / 4);
    ow_render_destroy(r);
    uv_loop_close(&loop);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(render__texts_come_back_on_the_loop_in_order),
        cmocka_unit_test(render__settle_hands_over_everything_submitted_now),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
