/* restore_check.c: see restore_check.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "restore_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void run_step(struct fixture *f, const char *step)
{
    if (step[0] == '@') {
        ow_engine_advance_watermark(f->eng, ts(step + 1), OW_CLOSE_IDLE_CLOCK);
    } else if (strcmp(step, "flush") == 0) {
        ow_engine_flush(f->eng);
    } else {
        apply_json(f, step);
    }
}

/* Append @f's records of @stream to @into, as compact text (key and record). */
static void records(const struct fixture *f, enum ow_stream stream, json_t *into)
{
    for (size_t i = 0; i < fake_sink_count(f->sink, stream); i++) {
        const char *key = NULL;
        json_t *rec = fake_sink_get(f->sink, stream, i, &key);

        json_array_append_new(into, json_pack("[s?, O]", key, rec));
    }
}

static void copy_id(void *arg, struct ow_dedup_key key, const uint64_t content[2],
                    int64_t occurred_us)
{
    ow_engine_restore_id(arg, key, content, occurred_us);
}

json_t *restore_check_save(struct fixture *f, size_t *bytes)
{
    json_t *saved = ow_engine_save(f->eng);
    char *text = json_dumps(saved, JSON_COMPACT);
    json_t *back;

    assert_non_null(text);
    json_decref(saved);
    back = json_loads(text, 0, NULL);
    assert_non_null(back);
    if (bytes != NULL) {
        *bytes = strlen(text);
    }
    free(text);
    return back;
}

/* Print the first record where @want and @got differ. */
static void print_difference(size_t split, const char *what, const json_t *want, const json_t *got)
{
    size_t n =
        json_array_size(want) > json_array_size(got) ? json_array_size(want) : json_array_size(got);

    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(want, i);
        const json_t *b = json_array_get(got, i);

        if (!json_equal((json_t *)a, (json_t *)b)) {
            char *ta = a ? json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
            char *tb = b ? json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

            fprintf(stderr,
                    "restore after step %zu: %s record %zu differs (%zu vs %zu records)\n"
                    " want %.3000s\n got  %.3000s\n",
                    split, what, i, json_array_size(want), json_array_size(got), ta ? ta : "(none)",
                    tb ? tb : "(none)");
            free(ta);
            free(tb);
            return;
        }
    }
}

struct fixture *restore_check(const char *config_json, bool live, const char *const *steps,
                              size_t n, bool close_all)
{
    struct fixture *whole = fixture_create(config_json, live);
    json_t *want_snaps = json_array();
    json_t *want_alerts = json_array();
    bool same = true;

    for (size_t i = 0; i < n; i++) {
        run_step(whole, steps[i]);
    }
    ow_engine_finish(whole->eng, close_all);
    records(whole, OW_STREAM_SNAPSHOTS, want_snaps);
    records(whole, OW_STREAM_ALERTS, want_alerts);

    for (size_t k = 0; k <= n && same; k++) {
        struct fixture *before = fixture_create(config_json, live);
        struct fixture *after = fixture_create(config_json, live);
        json_t *got_snaps = json_array();
        json_t *got_alerts = json_array();
        struct ow_err err;
        json_t *saved;

        for (size_t i = 0; i < k; i++) {
            run_step(before, steps[i]);
        }
        saved = restore_check_save(before, NULL);
        if (ow_engine_restore(after->eng, saved, &err) != OW_OK) {
            fprintf(stderr, "restore after step %zu: %s: %s\n", k, err.where, err.text);
            fail();
        }
        {
            json_t *again = ow_engine_save(after->eng);

            if (!json_equal(json_object_get(saved, "processors"),
                            json_object_get(again, "processors"))) {
                fprintf(stderr, "restore after step %zu: the processors save differently\n", k);
                same = false;
            }
            json_decref(again);
        }
        json_decref(saved);
        ow_engine_foreach_id(before->eng, copy_id, after->eng);
        after->line = before->line;
        for (size_t i = k; i < n; i++) {
            run_step(after, steps[i]);
        }
        ow_engine_finish(after->eng, close_all);
        records(before, OW_STREAM_SNAPSHOTS, got_snaps);
        records(after, OW_STREAM_SNAPSHOTS, got_snaps);
        records(before, OW_STREAM_ALERTS, got_alerts);
        records(after, OW_STREAM_ALERTS, got_alerts);
        if (!json_equal(want_snaps, got_snaps)) {
            print_difference(k, "snapshot", want_snaps, got_snaps);
            same = false;
        }
        if (!json_equal(want_alerts, got_alerts)) {
            print_difference(k, "alert", want_alerts, got_alerts);
            same = false;
        }
        json_decref(got_snaps);
        json_decref(got_alerts);
        fixture_destroy(before);
        fixture_destroy(after);
    }
    json_decref(want_snaps);
    json_decref(want_alerts);
    if (!same) {
        fixture_destroy(whole);
        fail();
    }
    return whole;
}

json_t *restore_check_alerts(const char *config_json, const char *const *steps, size_t n)
{
    struct fixture *whole = restore_check(config_json, true, steps, n, true);
    json_t *alerts = json_array();

    for (size_t i = 0; i < fake_sink_count(whole->sink, OW_STREAM_ALERTS); i++) {
        json_array_append(alerts, fake_sink_get(whole->sink, OW_STREAM_ALERTS, i, NULL));
    }
    fixture_destroy(whole);
    return alerts;
}

size_t alert_records_of(const json_t *alerts, const char *alert_id, const char *state)
{
    size_t n = 0;
    size_t i;
    json_t *a;

    json_array_foreach(alerts, i, a)
    {
        n += strcmp(json_string_value(json_object_get(a, "alert_id")), alert_id) == 0 &&
             strcmp(json_string_value(json_object_get(a, "state")), state) == 0;
    }
    return n;
}

void restore_check_feed(struct fixture *f, const char *const *steps, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        run_step(f, steps[i]);
    }
}
