/* test_saver.c: a save in three steps (prepare on the loop, write anywhere, finish on the loop)
 * holds the state as of prepare while the engine goes on; the saver thread writes it and
 * reports once on the loop, or at once when the loop waits for it; a failed write commits
 * nothing and its ids go into the next save; a compaction reads the old log in the write. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "engine_fixture.h"
#include "saver.h"
#include "state.h"
#include "tmpdir.h"

struct t {
    char dir[64];
    struct ow_state *st;
    int done;
    int rc;
    struct ow_err err;
};

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof(*t));

    assert_int_equal(tmpdir_make(t->dir, sizeof(t->dir), "ow_saver"), 0);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;

    assert_int_equal(tmpdir_remove(t->dir), 0);
    free(t);
    return 0;
}

static int csr(struct fixture *f, int i)
{
    return apply_fmt(f,
                     "{\"event_id\":\"c%d\",\"type\":\"csr\",\"schema_version\":1,"
                     "\"occurred_at\":\"2021-04-02T10:00:00Z\",\"party_id\":\"SUB-%02d\","
                     "\"batched\":false,\"count\":%d,\"region\":\"north\"}",
                     i, i % 7, i % 5 + 1);
}

/* An engine on a new folder, journaling. */
static struct fixture *open_new(struct t *t)
{
    struct fixture *f = fixture_create(NULL, true);
    json_t *got = NULL;

    ow_engine_journal_enable(f->eng);
    t->st = ow_state_open(t->dir, &t->err);
    assert_non_null(t->st);
    assert_int_equal(ow_state_load(t->st, f->eng, &got, &t->err), OW_OK);
    assert_null(got);
    return f;
}

/* A fresh engine loaded from the folder: ids [0, @upto) must be remembered, [@upto, @n) not. */
static void assert_reloaded(struct t *t, int upto, int n, const json_t *daemon)
{
    struct fixture *g = fixture_create(NULL, true);
    struct ow_state *st = ow_state_open(t->dir, &t->err);
    json_t *got = NULL;

    assert_non_null(st);
    assert_int_equal(ow_state_load(st, g->eng, &got, &t->err), OW_OK);
    if (daemon != NULL) {
        assert_true(json_equal(daemon, got));
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(csr(g, i), i < upto ? OW_EDUP : OW_OK);
    }
    json_decref(got);
    ow_state_close(st);
    fixture_destroy(g);
}

static void saver__a_save_holds_the_state_at_prepare_while_the_engine_goes_on(void **state)
{
    struct t *t = *state;
    struct fixture *f = open_new(t);
    json_t *daemon = json_pack("{s:{s:{s:I}}}", "offsets", "dcc.csr", "0", (json_int_t)10);

    for (int i = 0; i < 10; i++) {
        csr(f, i);
    }
    ow_state_save_prepare(t->st, f->eng, daemon);
    for (int i = 10; i < 20; i++) { /* applied while the save is being written */
        csr(f, i);
    }
    ow_state_save_write(t->st);
    assert_int_equal(ow_state_save_finish(t->st, &t->err), OW_OK);
    ow_state_close(t->st);
    assert_reloaded(t, 10, 20, daemon);

    json_decref(daemon);
    fixture_destroy(f);
}

static void saver__ids_of_the_engine_during_a_save_go_into_the_next(void **state)
{
    struct t *t = *state;
    struct fixture *f = open_new(t);

    for (int i = 0; i < 10; i++) {
        csr(f, i);
    }
    ow_state_save_prepare(t->st, f->eng, NULL);
    for (int i = 10; i < 25; i++) {
        csr(f, i);
    }
    ow_state_save_write(t->st);
    assert_int_equal(ow_state_save_finish(t->st, &t->err), OW_OK);
    assert_int_equal(ow_state_save(t->st, f->eng, NULL, &t->err), OW_OK);
    ow_state_close(t->st);
    assert_reloaded(t, 25, 30, NULL);
    fixture_destroy(f);
}

static void on_done(void *arg)
{
    struct t *t = arg;

    t->done++;
    t->rc = ow_state_save_finish(t->st, &t->err);
}

static void saver__writes_on_its_thread_and_reports_once_on_the_loop(void **state)
{
    struct t *t = *state;
    struct fixture *f = open_new(t);
    struct ow_saver *sv;
    uv_loop_t loop;

    uv_loop_init(&loop);
    sv = ow_saver_create(&loop, t->st, on_done, t);
    assert_non_null(sv);
    for (int i = 0; i < 10; i++) {
        csr(f, i);
    }
    ow_state_save_prepare(t->st, f->eng, NULL);
    ow_saver_start(sv);
    assert_true(ow_saver_busy(sv));
    for (int turns = 0; t->done == 0 && turns < 1000; turns++) {
        uv_run(&loop, UV_RUN_ONCE); /* the writer's uv_async_send wakes it */
    }
    assert_int_equal(t->done, 1);
    assert_int_equal(t->rc, OW_OK);
    assert_false(ow_saver_busy(sv));

    /* Waiting delivers at once, on this thread; the wake-up that follows delivers nothing. */
    for (int i = 10; i < 20; i++) {
        csr(f, i);
    }
    ow_state_save_prepare(t->st, f->eng, NULL);
    ow_saver_start(sv);
    ow_saver_wait(sv);
    assert_int_equal(t->done, 2);
    assert_int_equal(t->rc, OW_OK);
    for (int i = 0; i < 5; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    assert_int_equal(t->done, 2);

    ow_saver_close(sv);
    uv_run(&loop, UV_RUN_DEFAULT); /* the async handle's close */
    ow_saver_destroy(sv);
    assert_int_equal(uv_loop_close(&loop), 0);
    ow_state_close(t->st);
    assert_reloaded(t, 20, 25, NULL);
    fixture_destroy(f);
}

static void saver__a_failed_write_commits_nothing_and_its_ids_go_next(void **state)
{
    struct t *t = *state;
    struct fixture *f = open_new(t);
    struct ow_saver *sv;
    uv_loop_t loop;
    char path[256];

    uv_loop_init(&loop);
    sv = ow_saver_create(&loop, t->st, on_done, t);
    csr(f, 0);
    assert_int_equal(ow_state_save(t->st, f->eng, NULL, &t->err), OW_OK);
    csr(f, 1);
    snprintf(path, sizeof(path), "%s/state.json.tmp", t->dir);
    assert_int_equal(mkdir(path, 0755), 0); /* as a full disk would: the write fails */
    ow_state_save_prepare(t->st, f->eng, NULL);
    ow_saver_start(sv);
    ow_saver_wait(sv);
    assert_int_equal(t->done, 1);
    assert_int_equal(t->rc, OW_EIO);
    assert_non_null(strstr(t->err.where, "state.json.tmp"));
    assert_int_equal(rmdir(path), 0);
    csr(f, 2);
    ow_state_save_prepare(t->st, f->eng, NULL);
    ow_saver_start(sv);
    ow_saver_wait(sv);
    assert_int_equal(t->rc, OW_OK);
    ow_saver_close(sv);
    uv_run(&loop, UV_RUN_DEFAULT);
    ow_saver_destroy(sv);
    assert_int_equal(uv_loop_close(&loop), 0);
    ow_state_close(t->st);
    assert_reloaded(t, 3, 4, NULL);
    fixture_destroy(f);
}

/* Id i at ten a second from 2021-04-01T00:00:00Z. */
static int csr_at(struct fixture *f, int i)
{
    return apply_fmt(f,
                     "{\"event_id\":\"c%d\",\"type\":\"csr\",\"schema_version\":1,"
                     "\"occurred_at\":\"2021-04-01T%02d:%02d:%02dZ\",\"party_id\":\"SUB-%02d\","
                     "\"batched\":false,\"count\":%d,\"region\":\"north\"}",
                     i, i / 36000, i / 600 % 60, i / 10 % 60, i % 7, i % 5 + 1);
}

/* Flip one byte inside record @rec of the id log @path (twice mends it). */
static void flip_record(const char *path, long rec)
{
    FILE *fp = fopen(path, "r+b");
    int c;

    assert_non_null(fp);
    assert_int_equal(fseek(fp, rec * 48 + 20, SEEK_SET), 0);
    c = fgetc(fp);
    assert_int_equal(fseek(fp, rec * 48 + 20, SEEK_SET), 0);
    fputc(c ^ 0x40, fp);
    fclose(fp);
}

/* A compaction is left to the writer: prepare copies only the new ids, and the old log is read
 * by the write, after prepare (a record corrupted between the two fails that write, naming the
 * log). Mended, the next save compacts with the ids applied meanwhile, and a load has them all. */
static void saver__a_compaction_reads_the_old_log_in_the_write(void **state)
{
    struct t *t = *state;
    struct fixture *f = fixture_create("{\"dedup\": {\"span\": \"1h\"}}", true);
    struct ow_state_stats ss;
    struct ow_saver *sv;
    uv_loop_t loop;
    json_t *got = NULL;
    char path[256];
    int next = 0;

    ow_engine_journal_enable(f->eng);
    t->st = ow_state_open(t->dir, &t->err);
    assert_int_equal(ow_state_load(t->st, f->eng, &got, &t->err), OW_OK);
    uv_loop_init(&loop);
    sv = ow_saver_create(&loop, t->st, on_done, t);
    snprintf(path, sizeof(path), "%s/ids-0.log", t->dir);
    t->rc = OW_OK;
    /* Saves of 20,000 ids until one compacts: the old log is corrupted after each prepare and
     * mended after its write, which fails only if the write reads it. */
    while (t->rc == OW_OK && next < 240000) {
        for (int end = next + 20000; next < end; next++) {
            csr_at(f, next);
        }
        ow_state_save_prepare(t->st, f->eng, NULL);
        if (next > 20000) {
            flip_record(path, 6000);
        }
        ow_saver_start(sv);
        ow_saver_wait(sv);
        if (next > 20000) {
            flip_record(path, 6000);
        }
    }
    assert_int_equal(t->rc, OW_EINVAL);
    assert_non_null(strstr(t->err.where, "ids-0.log"));
    assert_non_null(strstr(t->err.text, "record 6000 (byte 288000) is corrupt"));
    ow_state_stats(t->st, &ss);
    assert_int_equal(ss.compactions, 0);

    ow_state_save_prepare(t->st, f->eng, NULL);
    for (int end = next + 15; next < end; next++) { /* applied while it is written */
        csr_at(f, next);
    }
    ow_saver_start(sv);
    ow_saver_wait(sv);
    assert_int_equal(t->rc, OW_OK);
    ow_state_stats(t->st, &ss);
    assert_int_equal(ss.compactions, 1);
    assert_int_equal(ss.last_prepare_ids, 0); /* its new ids: none; the failed save's are kept */
    assert_int_equal(ow_state_save(t->st, f->eng, NULL, &t->err), OW_OK);
    ow_state_stats(t->st, &ss);
    assert_int_equal(ss.last_prepare_ids, 15);
    ow_saver_close(sv);
    uv_run(&loop, UV_RUN_DEFAULT);
    ow_saver_destroy(sv);
    assert_int_equal(uv_loop_close(&loop), 0);
    ow_state_close(t->st);

    /* The last hour's ids are remembered after a load, the ones before are not. */
    fixture_destroy(f);
    f = fixture_create("{\"dedup\": {\"span\": \"1h\"}}", true);
    t->st = ow_state_open(t->dir, &t->err);
    assert_int_equal(ow_state_load(t->st, f->eng, &got, &t->err), OW_OK);
    for (int i = next - 1; i >= 0; i--) {
        assert_int_equal(csr_at(f, i), i / 10 >= (next - 1) / 10 - 3600 ? OW_EDUP : OW_OK);
    }
    ow_state_close(t->st);
    fixture_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            saver__a_save_holds_the_state_at_prepare_while_the_engine_goes_on, setup, teardown),
        cmocka_unit_test_setup_teardown(saver__ids_of_the_engine_during_a_save_go_into_the_next,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(saver__writes_on_its_thread_and_reports_once_on_the_loop,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(saver__a_failed_write_commits_nothing_and_its_ids_go_next,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(saver__a_compaction_reads_the_old_log_in_the_write, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
