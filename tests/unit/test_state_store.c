/* test_state_store.c: the state folder: saves that append only new ids, atomic commits, the
 * uncommitted tail cut at load, corruption detected, a failed save retried, compaction from the
 * old log (what it keeps, its trigger, its failures), the lock. */
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

#include "engine_fixture.h"
#include "rfc3339.h"
#include "state.h"
#include "tmpdir.h"

struct t {
    char dir[64];
};

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof(*t));

    assert_int_equal(tmpdir_make(t->dir, sizeof(t->dir), "ow_state"), 0);
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

static int csr(struct fixture *f, int i, const char *at)
{
    return apply_fmt(f,
                     "{\"event_id\":\"c%d\",\"type\":\"csr\",\"schema_version\":1,"
                     "\"occurred_at\":\"%s\",\"party_id\":\"SUB-%02d\",\"batched\":false,"
                     "\"count\":%d,\"region\":\"north\"}",
                     i, at, i % 7, i % 5 + 1);
}

static off_t file_size(const char *dir, const char *name)
{
    char path[256];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* A fresh engine on @conf (NULL: the defaults) loading the folder; the caller destroys both. */
static struct fixture *reload_conf(struct t *t, const char *conf, struct ow_state **st,
                                   json_t **daemon, int *rc, struct ow_err *err)
{
    struct fixture *g = fixture_create(conf, true);

    *st = ow_state_open(t->dir, err);
    assert_non_null(*st);
    *rc = ow_state_load(*st, g->eng, daemon, err);
    return g;
}

static struct fixture *reload(struct t *t, struct ow_state **st, json_t **daemon, int *rc,
                              struct ow_err *err)
{
    return reload_conf(t, NULL, st, daemon, rc, err);
}

static void state_store__saves_append_only_new_ids_and_reload(void **state)
{
    struct t *t = *state;
    struct fixture *f = fixture_create(NULL, true);
    struct ow_state *st;
    struct ow_state_stats ss;
    struct ow_err err;
    json_t *daemon = json_pack("{s:{s:I}}", "offsets", "dcc.csr/0", (json_int_t)1234);
    json_t *got = NULL;
    struct fixture *g;
    int rc;

    ow_engine_journal_enable(f->eng);
    st = ow_state_open(t->dir, &err);
    assert_non_null(st);
    assert_int_equal(ow_state_load(st, f->eng, &got, &err), OW_OK);
    assert_null(got); /* a new folder */
    for (int i = 0; i < 100; i++) {
        csr(f, i, "2021-04-02T10:00:00Z");
    }
    assert_int_equal(ow_state_save(st, f->eng, daemon, &err), OW_OK);
    assert_int_equal(file_size(t->dir, "ids-0.log"), 100 * 48);
    for (int i = 100; i < 150; i++) {
        csr(f, i, "2021-04-03T10:00:00Z");
    }
    assert_int_equal(ow_state_save(st, f->eng, daemon, &err), OW_OK);
    ow_state_stats(st, &ss);
    assert_int_equal(ss.saves, 2);
    assert_int_equal(ss.ids_logged, 150);
    assert_int_equal(file_size(t->dir, "ids-0.log"), 150 * 48); /* appended, not rewritten */
    ow_state_close(st);

    g = reload(t, &st, &got, &rc, &err);
    assert_int_equal(rc, OW_OK);
    assert_true(json_equal(daemon, got));
    /* Every id is remembered again: the same events are duplicates now. */
    for (int i = 0; i < 150; i++) {
        assert_int_equal(csr(g, i, i < 100 ? "2021-04-02T10:00:00Z" : "2021-04-03T10:00:00Z"),
                         OW_EDUP);
    }
    assert_int_equal(csr(g, 150, "2021-04-03T10:00:00Z"), OW_OK);
    assert_int_equal(ow_engine_stats(g->eng)->watermark_us, ow_engine_stats(f->eng)->watermark_us);
    json_decref(got);
    json_decref(daemon);
    ow_state_close(st);
    fixture_destroy(f);
    fixture_destroy(g);
}

/* A folder holding one committed save of ten ids; @returns the engine that saved it. */
static struct fixture *saved_ten_ids(struct t *t)
{
    struct fixture *f = fixture_create(NULL, true);
    struct ow_state *st;
    struct ow_err err;
    json_t *got;

    ow_engine_journal_enable(f->eng);
    st = ow_state_open(t->dir, &err);
    assert_non_null(st);
    assert_int_equal(ow_state_load(st, f->eng, &got, &err), OW_OK);
    for (int i = 0; i < 10; i++) {
        csr(f, i, "2021-04-02T10:00:00Z");
    }
    assert_int_equal(ow_state_save(st, f->eng, NULL, &err), OW_OK);
    ow_state_close(st);
    return f;
}

static void state_store__uncommitted_tail_is_cut(void **state)
{
    struct t *t = *state;
    struct fixture *f = saved_ten_ids(t);
    struct ow_state *st;
    struct ow_err err;
    json_t *got;
    struct fixture *g;
    char path[256];
    FILE *log;
    int rc;

    /* A save that died after appending ids but before its rename: garbage past the commit. */
    snprintf(path, sizeof(path), "%s/ids-0.log", t->dir);
    log = fopen(path, "ab");
    fputs("half a record", log);
    fclose(log);
    g = reload(t, &st, &got, &rc, &err);
    assert_int_equal(rc, OW_OK);
    assert_int_equal(file_size(t->dir, "ids-0.log"), 10 * 48);
    assert_int_equal(csr(g, 3, "2021-04-02T10:00:00Z"), OW_EDUP);
    json_decref(got);
    ow_state_close(st);
    fixture_destroy(f);
    fixture_destroy(g);
}

static void state_store__corruption_is_detected_with_the_file_named(void **state)
{
    struct t *t = *state;
    struct fixture *f = saved_ten_ids(t);
    struct ow_state *st;
    struct ow_err err;
    json_t *got;
    struct fixture *g;
    char path[256];
    FILE *fp;
    int rc;

    /* Flip a byte inside record 4. */
    snprintf(path, sizeof(path), "%s/ids-0.log", t->dir);
    fp = fopen(path, "r+b");
    fseek(fp, 4 * 48 + 5, SEEK_SET);
    fputc('X', fp);
    fclose(fp);
    g = reload(t, &st, &got, &rc, &err);
    assert_int_equal(rc, OW_EINVAL);
    assert_non_null(strstr(err.where, "ids-0.log"));
    assert_non_null(strstr(err.text, "record 4 (byte 192) is corrupt"));
    ow_state_close(st);
    fixture_destroy(g);
    /* A truncated log (shorter than committed) and a broken state.json are refused too. */
    assert_int_equal(truncate(path, 3 * 48), 0);
    g = reload(t, &st, &got, &rc, &err);
    assert_int_equal(rc, OW_EINVAL);
    assert_non_null(strstr(err.text, "truncated"));
    ow_state_close(st);
    fixture_destroy(g);
    snprintf(path, sizeof(path), "%s/state.json", t->dir);
    assert_int_equal(truncate(path, 20), 0);
    g = reload(t, &st, &got, &rc, &err);
    assert_int_equal(rc, OW_EINVAL);
    assert_non_null(strstr(err.where, "state.json"));
    assert_non_null(strstr(err.text, "corrupt"));
    ow_state_close(st);
    fixture_destroy(g);
    fixture_destroy(f);
}

/* Flip one byte inside record @rec of the id log @path. */
static void corrupt_record(const char *path, long rec)
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

/* After a corrupt record @rec: the load fails naming it, and only the ids before it (of the
 * ids 0 to 99999 of the test below, one per record) were restored. */
static void check_loaded_before(struct t *t, int rec, const char *says)
{
    struct ow_state *st;
    struct ow_state_stats ss;
    struct ow_err err;
    json_t *got;
    struct fixture *g;
    int rc;

    g = reload(t, &st, &got, &rc, &err);
    assert_int_equal(rc, OW_EINVAL);
    assert_non_null(strstr(err.where, "ids-0.log"));
    assert_non_null(strstr(err.text, says));
    ow_state_stats(st, &ss);
    assert_int_equal(ss.ids_logged, rec);
    assert_int_equal(csr(g, 0, "2021-04-02T10:00:00Z"), OW_EDUP);
    assert_int_equal(csr(g, rec - 1, "2021-04-02T10:00:00Z"), OW_EDUP);
    assert_int_equal(csr(g, rec + 1, "2021-04-02T10:00:00Z"), OW_OK);
    assert_int_equal(csr(g, 99998, "2021-04-02T10:00:00Z"), OW_OK);
    ow_state_close(st);
    fixture_destroy(g);
}

/* The log is loaded by ow_dedup_load, on two threads from 100000 records (each reads half):
 * it loads whole; a corrupt record in either half, or the last record, is refused with its own
 * number, and only the records before it were restored. */
static void state_store__large_log_loads_and_a_corrupt_record_is_named(void **state)
{
    struct t *t = *state;
    struct fixture *f = fixture_create(NULL, true);
    const int n = 100000;
    struct ow_state *st;
    struct ow_state_stats ss;
    struct ow_err err;
    json_t *got;
    struct fixture *g;
    char path[256];
    int rc;

    ow_engine_journal_enable(f->eng);
    st = ow_state_open(t->dir, &err);
    assert_non_null(st);
    assert_int_equal(ow_state_load(st, f->eng, &got, &err), OW_OK);
    for (int i = 0; i < n; i++) {
        csr(f, i, "2021-04-02T10:00:00Z");
    }
    assert_int_equal(ow_state_save(st, f->eng, NULL, &err), OW_OK);
    ow_state_close(st);
    assert_int_equal(file_size(t->dir, "ids-0.log"), n * 48);

    g = reload(t, &st, &got, &rc, &err);
    assert_int_equal(rc, OW_OK);
    ow_state_stats(st, &ss);
    assert_int_equal(ss.ids_logged, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(csr(g, i, "2021-04-02T10:00:00Z"), OW_EDUP);
    }
    assert_int_equal(csr(g, n, "2021-04-02T10:00:00Z"), OW_OK);
    ow_state_close(st);
    fixture_destroy(g);

    snprintf(path, sizeof(path), "%s/ids-0.log", t->dir);
    corrupt_record(path, 6000); /* in the first thread's half */
    check_loaded_before(t, 6000, "record 6000 (byte 288000) is corrupt");
    corrupt_record(path, 6000);  /* mended */
    corrupt_record(path, 70000); /* in the second thread's half */
    check_loaded_before(t, 70000, "record 70000 (byte 3360000) is corrupt");
    corrupt_record(path, 70000); /* mended */
    corrupt_record(path, n - 1);
    g = reload(t, &st, &got, &rc, &err);
    assert_int_equal(rc, OW_EINVAL);
    assert_non_null(strstr(err.text, "record 99999 (byte 4799952) is corrupt"));
    ow_state_close(st);
    fixture_destroy(g);
    fixture_destroy(f);
}

static void state_store__failed_save_commits_nothing_and_is_retried(void **state)
{
    struct t *t = *state;
    struct fixture *f = fixture_create(NULL, true);
    struct ow_state *st;
    struct ow_err err;
    json_t *got;
    struct fixture *g;
    char path[256];
    int rc;

    ow_engine_journal_enable(f->eng);
    st = ow_state_open(t->dir, &err);
    ow_state_load(st, f->eng, &got, &err);
    csr(f, 1, "2021-04-02T10:00:00Z");
    assert_int_equal(ow_state_save(st, f->eng, NULL, &err), OW_OK);
    csr(f, 2, "2021-04-02T10:00:00Z");
    /* Make the next state.json impossible to write (as a full disk would). */
    snprintf(path, sizeof(path), "%s/state.json.tmp", t->dir);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(ow_state_save(st, f->eng, NULL, &err), OW_EIO);
    assert_non_null(strstr(err.where, "state.json.tmp"));
    assert_int_equal(rmdir(path), 0);
    csr(f, 3, "2021-04-02T10:00:00Z");
    assert_int_equal(ow_state_save(st, f->eng, NULL, &err), OW_OK);
    ow_state_close(st);
    g = reload(t, &st, &got, &rc, &err);
    assert_int_equal(rc, OW_OK);
    assert_int_equal(file_size(t->dir, "ids-0.log"), 3 * 48);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(csr(g, i, "2021-04-02T10:00:00Z"), OW_EDUP);
    }
    ow_state_close(st);
    fixture_destroy(f);
    fixture_destroy(g);
}

/* Id i of the compaction tests: ten a second from 2021-04-01, so a span of 1 h holds 36,000
 * (up to 240,000 ids). */
#define SPAN_1H "{\"dedup\": {\"span\": \"1h\"}}"

static int64_t at_of(int i, char *buf, size_t len)
{
    snprintf(buf, len, "2021-04-01T%02d:%02d:%02dZ", i / 36000, i / 600 % 60, i / 10 % 60);
    return ts(buf);
}

/* The probes: a save that compacts follows id 20000 k - 1, and the span's edge is then exactly
 * the time of id 20000 k - 36001 (the time unit is 4 us for a span of 1 h, and the times are
 * whole seconds). Right after each such id come two more, 1 us before its time and on it, so
 * that the compacted log is pinned to the microsecond: the first is forgotten, the second
 * remembered. Their event ids are PROBE + 2 i and PROBE + 2 i + 1. */
#define PROBE 1000000

static bool probed(int i)
{
    return i % 20000 == 3999;
}

static int64_t probe_at(int i, int on, char *buf, size_t len)
{
    int64_t us = at_of(i, buf, len) - 1 + on;

    ow_rfc3339_format_utc(us, buf, len);
    return us;
}

/* Apply id @i, and its probes if @probes. */
static int csr_n(struct fixture *f, int i, bool probes)
{
    char at[32];
    int rc;

    at_of(i, at, sizeof(at));
    rc = csr(f, i, at);
    for (int on = 0; probes && probed(i) && on < 2; on++) {
        probe_at(i, on, at, sizeof(at));
        assert_int_equal(csr(f, PROBE + 2 * i + on, at), OW_OK);
    }
    return rc;
}

/* Apply ids from *@next on (with their probes if @probes), saving every 20,000, until a save
 * compacts (at most @upto ids).
 * @returns the status of that save (or of the last one), *@next past the last id applied. */
static int save_until_compacted(struct ow_state *st, struct fixture *f, int *next, int upto,
                                bool probes, struct ow_err *err)
{
    struct ow_state_stats ss;
    uint64_t before;
    int rc = OW_OK;

    ow_state_stats(st, &ss);
    before = ss.compactions;
    while (*next < upto) {
        csr_n(f, (*next)++, probes);
        if (*next % 20000 == 0) {
            rc = ow_state_save(st, f->eng, NULL, err);
            ow_state_stats(st, &ss);
            if (rc != OW_OK || ss.compactions > before) {
                break;
            }
        }
    }
    return rc;
}

struct log_record {
    uint64_t key[2];
    uint64_t content[2];
    int64_t occurred_us;
    uint64_t check;
};

/* The records of the id log @name (new memory, *@n of them). */
static struct log_record *read_log(const struct t *t, const char *name, size_t *n)
{
    char path[256];
    off_t size = file_size(t->dir, name);
    struct log_record *recs;
    FILE *fp;

    assert_true(size >= 0 && size % 48 == 0);
    *n = (size_t)size / 48;
    recs = malloc((size_t)size + 1);
    snprintf(path, sizeof(path), "%s/%s", t->dir, name);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(recs, 48, *n, fp), *n);
    fclose(fp);
    return recs;
}

/* One id of the compaction test, in the order it was applied: id @i, or its probe @on. */
struct applied {
    int id;
    int64_t at_us;
};

/* The ids applied for id @i (with its probes), in order: 1 or 3 of them into @out. */
static int applied_for(int i, struct applied out[3])
{
    char at[32];
    int n = 0;

    out[n].id = i;
    out[n++].at_us = at_of(i, at, sizeof(at));
    for (int on = 0; probed(i) && on < 2; on++) {
        out[n].id = PROBE + 2 * i + on;
        out[n++].at_us = probe_at(i, on, at, sizeof(at));
    }
    return n;
}

/* The compacted log is built from the old log on the saver thread: it holds exactly the ids the
 * table remembers at the save (not past the span's edge, to the microsecond: the probes), then
 * the pending ones whole, in their order; a load of it gives every id the verdict the saving
 * engine gives. */
static void state_store__compaction_keeps_exactly_the_unexpired_ids(void **state)
{
    struct t *t = *state;
    /* A short span, so most logged ids expire and the log outgrows the live set. */
    struct fixture *f = fixture_create(SPAN_1H, true);
    struct ow_state *st;
    struct ow_state_stats ss;
    struct ow_err err;
    json_t *got;
    struct fixture *g;
    struct log_record *recs;
    struct applied a[3];
    size_t nrec;
    size_t k = 0;
    size_t kept = 0;
    int pinned = 0;
    char at[32];
    char id[16];
    int next = 0;
    int64_t edge;
    int rc;

    ow_engine_journal_enable(f->eng);
    st = ow_state_open(t->dir, &err);
    ow_state_load(st, f->eng, &got, &err);
    assert_int_equal(save_until_compacted(st, f, &next, 240000, true, &err), OW_OK);
    ow_state_stats(st, &ss);
    assert_int_equal(ss.compactions, 1);
    assert_int_equal(ss.last_prepare_ids, 20002);         /* the new ids only (with 2 probes) */
    assert_int_equal(file_size(t->dir, "ids-0.log"), -1); /* the old log is gone */
    /* The greatest time is id next - 1's; the edge is 1 h before it, on id next - 36001. */
    edge = at_of(next - 1, at, sizeof(at)) - 3600 * INT64_C(1000000);
    assert_true(probed(next - 36001) && next - 36001 < next - 20000);
    assert_int_equal(at_of(next - 36001, at, sizeof(at)), edge);
    assert_int_equal(ow_engine_dedup_edge_us(f->eng), edge);
    recs = read_log(t, "ids-1.log", &nrec);
    assert_int_equal(ss.ids_logged, nrec);
    for (int i = 0; i < next; i++) {
        int n = applied_for(i, a);

        for (int j = 0; j < n; j++) {
            struct ow_dedup_key key;

            /* the old records not past the span, then the 20,000 pending ones whole */
            if (i < next - 20000 && a[j].at_us < edge) {
                continue;
            }
            kept += i < next - 20000;
            pinned += a[j].at_us == edge && a[j].id >= PROBE;
            snprintf(id, sizeof(id), "c%d", a[j].id);
            key = ow_dedup_key_of(id, strlen(id));
            assert_true(k < nrec);
            assert_memory_equal(recs[k].key, key.h, sizeof(key.h));
            assert_int_equal(recs[k].occurred_us, a[j].at_us);
            k++;
        }
    }
    assert_int_equal(k, nrec);
    assert_true(kept > 10000); /* the old log held unexpired ids */
    assert_int_equal(pinned, 1);
    free(recs);
    ow_state_close(st);

    /* Same verdicts in the loaded engine as in the saving one, for every id applied. */
    g = reload_conf(t, SPAN_1H, &st, &got, &rc, &err);
    assert_int_equal(rc, OW_OK);
    for (int i = 0; i < next; i++) {
        int n = applied_for(i, a);

        for (int j = 0; j < n; j++) {
            int want = a[j].at_us >= edge ? OW_EDUP : OW_OK;

            ow_rfc3339_format_utc(a[j].at_us, at, sizeof(at));
            assert_int_equal(csr(f, a[j].id, at), want);
            assert_int_equal(csr(g, a[j].id, at), want);
        }
    }
    ow_state_close(st);
    fixture_destroy(f);
    fixture_destroy(g);
}

#define BOUND_1M "{\"dedup\": {\"max_bytes\": 1048576}}"

/* Ids forgotten early (the memory bound) are not past the span, so a compaction keeps them: the
 * next one waits for the log to double again instead of running at every save (after a restart
 * too), and a load forgets the oldest again. */
static void state_store__ids_forgotten_early_do_not_make_compaction_repeat(void **state)
{
    struct t *t = *state;
    /* The smallest bound: some tens of thousands of ids; the default span of 7 days. */
    struct fixture *f = fixture_create(BOUND_1M, true);
    struct ow_state *st;
    struct ow_state_stats ss;
    struct ow_dedup_stats ds;
    struct ow_err err;
    json_t *got;
    struct fixture *g;
    char at[32];
    int rc;

    ow_engine_journal_enable(f->eng);
    st = ow_state_open(t->dir, &err);
    ow_state_load(st, f->eng, &got, &err);
    for (int i = 0; i < 300000; i++) {
        snprintf(at, sizeof(at), "2021-04-02T%02d:%02d:%02dZ", i / 36000, i / 600 % 60,
                 i / 10 % 60);
        csr(f, i, at);
        if (i % 20000 == 19999) {
            assert_int_equal(ow_state_save(st, f->eng, NULL, &err), OW_OK);
        }
    }
    ow_engine_dedup_stats(f->eng, &ds);
    assert_true(ds.forgotten_early > 200000);
    ow_state_stats(st, &ss);
    assert_int_equal(ss.compactions, 1);
    assert_int_equal(ss.ids_logged, 300000); /* all inside the span */
    ow_state_close(st);

    g = reload_conf(t, BOUND_1M, &st, &got, &rc, &err);
    assert_int_equal(rc, OW_OK);
    ow_engine_dedup_stats(g->eng, &ds);
    assert_true(ds.ids < 100000);
    assert_int_equal(csr(g, 299999, at), OW_EDUP); /* the newest are remembered */
    /* The last compacted length is saved too: after the restart the log does not compact. */
    ow_engine_journal_enable(g->eng);
    assert_int_equal(csr(g, 300000, at), OW_OK);
    assert_int_equal(ow_state_save(st, g->eng, NULL, &err), OW_OK);
    ow_state_stats(st, &ss);
    assert_int_equal(ss.compactions, 0);
    assert_int_equal(ss.ids_logged, 300001);
    ow_state_close(st);
    fixture_destroy(f);
    fixture_destroy(g);
}

/* A compaction that fails, before or after its new log is in place, commits nothing: the old
 * log stays as committed, the new one is removed, and the next save compacts with every id. */
static void state_store__failed_compaction_commits_nothing(void **state)
{
    struct t *t = *state;
    struct fixture *f = fixture_create(SPAN_1H, true);
    struct ow_state *st;
    struct ow_state_stats ss;
    struct ow_err err;
    json_t *got;
    struct fixture *g;
    char tmp[256];
    char at[32];
    off_t committed;
    int next = 0;
    int64_t edge;
    int rc;

    ow_engine_journal_enable(f->eng);
    st = ow_state_open(t->dir, &err);
    ow_state_load(st, f->eng, &got, &err);
    snprintf(tmp, sizeof(tmp), "%s/ids-1.log.tmp", t->dir);
    assert_int_equal(mkdir(tmp, 0755), 0); /* the compacted log cannot be written */
    assert_int_equal(save_until_compacted(st, f, &next, 240000, false, &err), OW_EIO);
    assert_non_null(strstr(err.where, "ids-1.log.tmp"));
    committed = file_size(t->dir, "ids-0.log");
    assert_int_equal(committed, (off_t)(next - 20000) * 48);
    assert_int_equal(rmdir(tmp), 0);

    /* Now state.json cannot be written: the compacted log, renamed in place, is removed. */
    snprintf(tmp, sizeof(tmp), "%s/state.json.tmp", t->dir);
    assert_int_equal(mkdir(tmp, 0755), 0);
    csr_n(f, next++, false);
    assert_int_equal(ow_state_save(st, f->eng, NULL, &err), OW_EIO);
    assert_non_null(strstr(err.where, "state.json.tmp"));
    assert_int_equal(file_size(t->dir, "ids-1.log"), -1);
    assert_int_equal(file_size(t->dir, "ids-0.log"), committed);
    assert_int_equal(rmdir(tmp), 0);

    csr_n(f, next++, false);
    assert_int_equal(ow_state_save(st, f->eng, NULL, &err), OW_OK);
    ow_state_stats(st, &ss);
    assert_int_equal(ss.compactions, 1);
    assert_int_equal(file_size(t->dir, "ids-0.log"), -1);
    ow_state_close(st);

    edge = at_of(next - 1, at, sizeof(at)) - 3600 * INT64_C(1000000);
    g = reload_conf(t, SPAN_1H, &st, &got, &rc, &err);
    assert_int_equal(rc, OW_OK);
    for (int i = 0; i < next; i++) {
        int want = at_of(i, at, sizeof(at)) >= edge ? OW_EDUP : OW_OK;

        assert_int_equal(csr(g, i, at), want);
    }
    ow_state_close(st);
    fixture_destroy(f);
    fixture_destroy(g);
}

/* A corrupt record in the old log fails the compaction, naming the file and the record (even
 * one past the span, which the compaction would have dropped); mended, the next save works. */
static void state_store__corrupt_record_fails_the_compaction(void **state)
{
    struct t *t = *state;
    struct fixture *f = fixture_create(SPAN_1H, true);
    struct ow_state *st;
    struct ow_state_stats ss;
    struct ow_err err;
    json_t *got;
    char path[256];
    off_t committed;
    int next = 0;

    ow_engine_journal_enable(f->eng);
    st = ow_state_open(t->dir, &err);
    ow_state_load(st, f->eng, &got, &err);
    while (next < 20000) {
        csr_n(f, next++, false);
    }
    assert_int_equal(ow_state_save(st, f->eng, NULL, &err), OW_OK);
    snprintf(path, sizeof(path), "%s/ids-0.log", t->dir);
    corrupt_record(path, 6000);
    assert_int_equal(save_until_compacted(st, f, &next, 240000, false, &err), OW_EINVAL);
    assert_non_null(strstr(err.where, "ids-0.log"));
    assert_non_null(strstr(err.text, "record 6000 (byte 288000) is corrupt"));
    committed = file_size(t->dir, "ids-0.log");
    assert_int_equal(committed, (off_t)(next - 20000) * 48);
    assert_int_equal(file_size(t->dir, "ids-1.log"), -1);
    assert_int_equal(file_size(t->dir, "ids-1.log.tmp"), -1);
    ow_state_stats(st, &ss);
    assert_int_equal(ss.compactions, 0);

    corrupt_record(path, 6000); /* mended */
    csr_n(f, next++, false);
    assert_int_equal(ow_state_save(st, f->eng, NULL, &err), OW_OK);
    ow_state_stats(st, &ss);
    assert_int_equal(ss.compactions, 1);
    ow_state_close(st);
    fixture_destroy(f);
}

static void state_store__folder_is_locked(void **state)
{
    struct t *t = *state;
    struct ow_err err;
    struct ow_state *a = ow_state_open(t->dir, &err);
    struct ow_state *b = ow_state_open(t->dir, &err);

    assert_non_null(a);
    assert_null(b);
    assert_non_null(strstr(err.text, "in use by another opswatchd"));
    ow_state_close(a);
    b = ow_state_open(t->dir, &err);
    assert_non_null(b);
    ow_state_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(state_store__saves_append_only_new_ids_and_reload, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(state_store__uncommitted_tail_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(state_store__corruption_is_detected_with_the_file_named,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(state_store__large_log_loads_and_a_corrupt_record_is_named,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(state_store__failed_save_commits_nothing_and_is_retried,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(state_store__compaction_keeps_exactly_the_unexpired_ids,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            state_store__ids_forgotten_early_do_not_make_compaction_repeat, setup, teardown),
        cmocka_unit_test_setup_teardown(state_store__failed_compaction_commits_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(state_store__corrupt_record_fails_the_compaction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(state_store__folder_is_locked, setup, teardown),
    };

    return cmocka_run_group_tests_name("state_store", tests, NULL, NULL);
}
