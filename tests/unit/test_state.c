/* test_state.c: a save and restore of the engine, at any point of a stream, changes nothing:
 * the snapshots and the alert records of an interrupted run equal those of an uninterrupted
 * one. The state goes through JSON text, as it does through the state store. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_fixture.h"
#include "gen.h"

struct lines {
    char **v;
    size_t n;
};

static struct lines generated;

static int load_stream(void **state)
{
    char dir[] = "/tmp/ow_test_state_XXXXXX";
    char path[256];
    char *argv[] = {"gen",      "--seed", "7",     "--start", "2021-03",
                    "--months", "4",      "--out", dir,       NULL};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(ow_gen_main(9, argv), 0);
    snprintf(path, sizeof(path), "%s/events.jsonl", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    while ((len = getline(&line, &cap, f)) != -1) {
        if (len > 0 && line[len - 1] == '\n') {
            line[--len] = '\0';
        }
        generated.v = realloc(generated.v, (generated.n + 1) * sizeof(*generated.v));
        generated.v[generated.n++] = strdup(line);
    }
    free(line);
    fclose(f);
    remove(path);
    snprintf(path, sizeof(path), "%s/expected.json", dir);
    remove(path);
    rmdir(dir);
    return 0;
}

static int free_stream(void **state)
{
    (void)state;
    for (size_t i = 0; i < generated.n; i++) {
        free(generated.v[i]);
    }
    free(generated.v);
    return 0;
}

/* Records of @stream, in order, as compact text (one array). */
static json_t *records(struct fake_sink *sink, enum ow_stream stream, json_t *into)
{
    for (size_t i = 0; i < fake_sink_count(sink, stream); i++) {
        json_array_append(into, fake_sink_get(sink, stream, i, NULL));
    }
    return into;
}

/* The latest snapshot per window, over the records of one or more sinks in order. */
static void latest_snapshots(struct fake_sink *sink, json_t *by_window)
{
    const char *key;

    for (size_t i = 0; i < fake_sink_count(sink, OW_STREAM_SNAPSHOTS); i++) {
        json_t *rec = fake_sink_get(sink, OW_STREAM_SNAPSHOTS, i, &key);

        json_object_set(by_window, key, rec);
    }
}

static void copy_id(void *arg, struct ow_dedup_key key, const uint64_t content[2],
                    int64_t occurred_us)
{
    ow_engine_restore_id(arg, key, content, occurred_us);
}

static void state__restore_at_any_point_changes_nothing(void **state)
{
    size_t splits[] = {1, 977, 5003, generated.n / 2, generated.n - 3};
    struct fixture *whole = fixture_create(NULL, true);
    json_t *want_snaps = json_object();
    json_t *want_alerts = json_array();

    (void)state;
    for (size_t i = 0; i < generated.n; i++) {
        apply_json(whole, generated.v[i]);
    }
    ow_engine_finish(whole->eng, true);
    latest_snapshots(whole->sink, want_snaps);
    records(whole->sink, OW_STREAM_ALERTS, want_alerts);
    assert_true(json_object_size(want_snaps) >= 5);
    assert_true(json_array_size(want_alerts) > 10);

    for (size_t s = 0; s < sizeof(splits) / sizeof(*splits); s++) {
        struct fixture *before = fixture_create(NULL, true);
        struct fixture *after = fixture_create(NULL, true);
        json_t *got_snaps = json_object();
        json_t *got_alerts = json_array();
        struct ow_err err;
        json_t *saved;
        char *text;

        for (size_t i = 0; i < splits[s]; i++) {
            apply_json(before, generated.v[i]);
        }
        /* Through text, as through the store. */
        saved = ow_engine_save(before->eng);
        text = json_dumps(saved, JSON_COMPACT);
        json_decref(saved);
        saved = json_loads(text, 0, NULL);
        free(text);
        assert_non_null(saved);
        assert_int_equal(ow_engine_restore(after->eng, saved, &err), OW_OK);
        json_decref(saved);
        ow_engine_foreach_id(before->eng, copy_id, after->eng);
        after->line = before->line;
        for (size_t i = splits[s]; i < generated.n; i++) {
            apply_json(after, generated.v[i]);
        }
        ow_engine_finish(after->eng, true);
        latest_snapshots(before->sink, got_snaps);
        latest_snapshots(after->sink, got_snaps);
        records(before->sink, OW_STREAM_ALERTS, got_alerts);
        records(after->sink, OW_STREAM_ALERTS, got_alerts);
        if (!json_equal(want_snaps, got_snaps)) {
            const char *key;
            json_t *v;

            json_object_foreach(want_snaps, key, v)
            {
                if (!json_equal(v, json_object_get(got_snaps, key))) {
                    char *a = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
                    char *b =
                        json_dumps(json_object_get(got_snaps, key), JSON_COMPACT | JSON_SORT_KEYS);

                    fprintf(stderr, "split %zu: window %s differs\n want %.3000s\n got  %.3000s\n",
                            splits[s], key, a, b ? b : "(none)");
                    free(a);
                    free(b);
                }
            }
            fail();
        }
        assert_true(json_equal(want_alerts, got_alerts));
        assert_int_equal(ow_engine_stats(after->eng)->duplicates,
                         ow_engine_stats(whole->eng)->duplicates);
        assert_int_equal(ow_engine_stats(after->eng)->dead_letters,
                         ow_engine_stats(whole->eng)->dead_letters);
        json_decref(got_snaps);
        json_decref(got_alerts);
        fixture_destroy(before);
        fixture_destroy(after);
    }
    json_decref(want_snaps);
    json_decref(want_alerts);
    fixture_destroy(whole);
}

static void state__journal_holds_each_remembered_id_once(void **state)
{
    struct fixture *f = fixture_create(NULL, true);
    struct fixture *g = fixture_create(NULL, true);
    const size_t n = 3000;
    size_t dups = 0;

    (void)state;
    ow_engine_journal_enable(f->eng);
    for (size_t i = 0; i < n; i++) {
        apply_json(f, generated.v[i]);
    }
    ow_engine_journal_drain(f->eng, copy_id, g->eng);
    /* g remembers exactly what f remembers: a second copy of each line gets the same verdict
     * from both (ids older than the 7-day span are forgotten by both alike). */
    for (size_t i = 0; i < n; i++) {
        int in_f = apply_json(f, generated.v[i]);
        int in_g = apply_json(g, generated.v[i]);

        if (in_f != in_g) {
            fprintf(stderr, "line %zu: %d vs %d: %.200s\n", i, in_f, in_g, generated.v[i]);
            fail();
        }
        dups += in_g == OW_EDUP;
    }
    assert_true(dups > n / 2);
    fixture_destroy(f);
    fixture_destroy(g);
}

/* A reload (SIGHUP) rebuilds the engine on the new configuration keeping its state: with the
 * same configuration nothing changes; with a new band the next figures follow it. */
static void state__reconfigure_keeps_everything(void **state)
{
    struct fixture *whole = fixture_create(NULL, true);
    struct fixture *f = fixture_create(NULL, true);
    struct fixture *banded = fixture_create("{\"processors\": {\"sr_variance\": "
                                            "{\"upper_band_percent\": 1}}}",
                                            true);
    json_t *want = json_object();
    json_t *got = json_object();
    struct ow_err err;
    size_t half = generated.n / 2;

    (void)state;
    for (size_t i = 0; i < generated.n; i++) {
        apply_json(whole, generated.v[i]);
    }
    ow_engine_finish(whole->eng, true);
    latest_snapshots(whole->sink, want);
    for (size_t i = 0; i < half; i++) {
        apply_json(f, generated.v[i]);
    }
    assert_int_equal(ow_engine_reconfigure(&f->eng, f->cfg, fake_sink_sink(f->sink), &err), OW_OK);
    for (size_t i = half; i < generated.n; i++) {
        apply_json(f, generated.v[i]);
    }
    ow_engine_finish(f->eng, true);
    latest_snapshots(f->sink, got);
    assert_true(json_equal(want, got));
    assert_int_equal(ow_engine_stats(f->eng)->duplicates, ow_engine_stats(whole->eng)->duplicates);

    /* A 1% band: after the reload, parties just above forecast become exceptions. */
    assert_int_equal(ow_engine_reconfigure(&f->eng, banded->cfg, fake_sink_sink(f->sink), &err),
                     OW_OK);
    {
        json_t *snap = ow_engine_snapshot(f->eng, "2021-04");
        json_t *before =
            jget(json_object_get(want, "2021-04"), "reports/sr_variance/exceptions/at_or_over_110");
        json_t *after = jget(snap, "reports/sr_variance/exceptions/at_or_over_110");

        assert_true(json_array_size(after) > json_array_size(before));
        json_decref(snap);
    }
    json_decref(want);
    json_decref(got);
    fixture_destroy(f); /* its engine runs on banded's configuration now */
    fixture_destroy(banded);
    fixture_destroy(whole);
}

static void state__malformed_state_is_refused(void **state)
{
    struct fixture *f = fixture_create(NULL, true);
    json_t *bad = json_pack("{s:i}", "format", 99);
    struct ow_err err;

    (void)state;
    assert_int_equal(ow_engine_restore(f->eng, bad, &err), OW_EINVAL);
    assert_non_null(strstr(err.text, "format 1"));
    json_decref(bad);
    fixture_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state__restore_at_any_point_changes_nothing),
        cmocka_unit_test(state__journal_holds_each_remembered_id_once),
        cmocka_unit_test(state__reconfigure_keeps_everything),
        cmocka_unit_test(state__malformed_state_is_refused),
    };

    return cmocka_run_group_tests_name("state", tests, load_stream, free_stream);
}
