/* engine_state.c: the engine's state as JSON for checkpoints, and back; the journal of
 * remembered ids for incremental saves. */
#include "engine.h"
#include "engine_internal.h"

#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "alloc.h"

static json_t *stats_save(const struct ow_engine_stats *st)
{
    json_t *by_type = json_array();
    json_t *dead = json_array();
    json_t *closed = json_array();

    for (int t = 0; t < OW_EV__COUNT; t++) {
        json_array_append_new(by_type, json_integer((json_int_t)st->by_type[t]));
    }
    for (int r = 0; r < OW_DL__COUNT; r++) {
        json_array_append_new(dead, json_integer((json_int_t)st->dead_by_reason[r]));
    }
    for (int r = 0; r < 3; r++) {
        json_array_append_new(closed, json_integer((json_int_t)st->closed_by_reason[r]));
    }
    return json_pack("{s:I, s:I, s:o, s:I, s:I, s:o, s:I, s:I, s:I, s:o, s:I}", "events",
                     (json_int_t)st->events, "applied", (json_int_t)st->applied, "by_type", by_type,
                     "duplicates", (json_int_t)st->duplicates, "dead_letters",
                     (json_int_t)st->dead_letters, "dead_by_reason", dead, "late_events",
                     (json_int_t)st->late_events, "windows", (json_int_t)st->windows,
                     "windows_closed", (json_int_t)st->windows_closed, "closed_by_reason", closed,
                     "watermark_us", (json_int_t)st->watermark_us);
}

static uint64_t u64_at(const json_t *arr, size_t i)
{
    return (uint64_t)json_integer_value(json_array_get(arr, i));
}

static void stats_restore(struct ow_engine_stats *st, const json_t *j)
{
    st->events = (uint64_t)json_integer_value(json_object_get(j, "events"));
    st->applied = (uint64_t)json_integer_value(json_object_get(j, "applied"));
    st->duplicates = (uint64_t)json_integer_value(json_object_get(j, "duplicates"));
    st->dead_letters = (uint64_t)json_integer_value(json_object_get(j, "dead_letters"));
    st->late_events = (uint64_t)json_integer_value(json_object_get(j, "late_events"));
    st->windows = (uint64_t)json_integer_value(json_object_get(j, "windows"));
    st->windows_closed = (uint64_t)json_integer_value(json_object_get(j, "windows_closed"));
    st->watermark_us = json_integer_value(json_object_get(j, "watermark_us"));
    for (int t = 0; t < OW_EV__COUNT; t++) {
        st->by_type[t] = u64_at(json_object_get(j, "by_type"), (size_t)t);
    }
    for (int r = 0; r < OW_DL__COUNT; r++) {
        st->dead_by_reason[r] = u64_at(json_object_get(j, "dead_by_reason"), (size_t)r);
    }
    for (int r = 0; r < 3; r++) {
        st->closed_by_reason[r] = u64_at(json_object_get(j, "closed_by_reason"), (size_t)r);
    }
}

static json_t *ranges_save(const struct ow_engine *eng)
{
    json_t *out = json_array();

    for (int kind = 0; kind < 2; kind++) {
        const struct win_range *r = &eng->ranges[kind];
        json_t *items = json_array();

        for (int i = 0; i < r->count; i++) {
            const struct win *x = &r->items[i];

            json_array_append_new(items, json_pack("[b, b, I, i, I]", x->closed, x->expired,
                                                   (json_int_t)x->dirty, x->revision,
                                                   (json_int_t)x->late_events));
        }
        json_array_append_new(out, json_pack("{s:i, s:i, s:o}", "first", r->first, "next_open",
                                             r->next_open, "items", items));
    }
    return out;
}

/* A window's changed reports: a bit per processor, or true (every report) in states saved
 * before reports were tracked one by one. */
static uint64_t dirty_restore(const json_t *j)
{
    if (json_is_integer(j)) {
        return (uint64_t)json_integer_value(j);
    }
    return json_is_true(j) ? OW__ALL_REPORTS : 0;
}

static int ranges_restore(struct ow_engine *eng, const json_t *j, struct ow_err *err)
{
    for (int kind = 0; kind < 2; kind++) {
        const json_t *jr = json_array_get(j, (size_t)kind);
        const json_t *items = json_object_get(jr, "items");
        struct win_range *r = &eng->ranges[kind];

        if (!json_is_object(jr) || !json_is_array(items)) {
            return ow_err_set(err, OW_EINVAL, "state: engine.windows", "expected 2 ranges");
        }
        free(r->items);
        r->first = (int)json_integer_value(json_object_get(jr, "first"));
        r->next_open = (int)json_integer_value(json_object_get(jr, "next_open"));
        r->count = (int)json_array_size(items);
        r->items = ow_xcalloc((size_t)r->count + 1, sizeof(*r->items));
        for (int i = 0; i < r->count; i++) {
            const json_t *it = json_array_get(items, (size_t)i);
            struct win *x = &r->items[i];
            struct ow_window_id w = {kind, r->first + i};

            if (json_array_size(it) != 5) {
                return ow_err_set(err, OW_EINVAL, "state: engine.windows",
                                  "window %d of kind %d is malformed", i, kind);
            }
            ow__engine_win_init(eng, w, x);
            x->closed = json_is_true(json_array_get(it, 0));
            x->expired = json_is_true(json_array_get(it, 1));
            x->dirty = dirty_restore(json_array_get(it, 2));
            x->revision = (int)json_integer_value(json_array_get(it, 3));
            x->late_events = json_integer_value(json_array_get(it, 4));
        }
    }
    return OW_OK;
}

json_t *ow_engine_save(struct ow_engine *eng)
{
    json_t *procs = json_object();

    for (size_t i = 0; i < eng->nproc; i++) {
        const struct ow_processor *p = ow_processors[i];

        if (p->save != NULL) {
            json_object_set_new(procs, p->name, p->save(eng->ctx[i]));
        }
    }
    return json_pack("{s:i, s:s, s:I, s:o, s:o, s:o, s:o}", "format", 1, "config_sha256",
                     eng->cfg->sha256, "max_occurred_us", (json_int_t)eng->max_occurred_us, "stats",
                     stats_save(&eng->stats), "windows", ranges_save(eng), "alerts",
                     ow_alerts_save(eng->alerts), "processors", procs);
}

int ow_engine_restore(struct ow_engine *eng, const json_t *state, struct ow_err *err)
{
    const json_t *procs = json_object_get(state, "processors");
    int rc;

    if (json_integer_value(json_object_get(state, "format")) != 1 || !json_is_object(procs)) {
        return ow_err_set(err, OW_EINVAL, "state", "not an engine state of format 1");
    }
    eng->max_occurred_us = json_integer_value(json_object_get(state, "max_occurred_us"));
    stats_restore(&eng->stats, json_object_get(state, "stats"));
    rc = ranges_restore(eng, json_object_get(state, "windows"), err);
    if (rc != OW_OK) {
        return rc;
    }
    if (ow_alerts_restore(eng->alerts, json_object_get(state, "alerts")) != 0) {
        return ow_err_set(err, OW_EINVAL, "state: alerts", "malformed alert states");
    }
    for (size_t i = 0; i < eng->nproc; i++) {
        const struct ow_processor *p = ow_processors[i];
        const json_t *mine = json_object_get(procs, p->name);

        if (p->restore == NULL) {
            continue;
        }
        if (mine == NULL) {
            return ow_err_set(err, OW_EINVAL, "state: processors", "no state for '%s'", p->name);
        }
        rc = p->restore(eng->ctx[i], mine, err);
        if (rc != OW_OK) {
            return rc;
        }
    }
    return OW_OK;
}

void ow_engine_restore_id(struct ow_engine *eng, struct ow_dedup_key key, const uint64_t content[2],
                          int64_t occurred_us)
{
    ow_dedup_insert(eng->dedup, key, content, occurred_us);
}

size_t ow_engine_load_ids(struct ow_engine *eng, size_t n, ow_dedup_read_fn read, void *arg)
{
    return ow_dedup_load(eng->dedup, n, read, arg);
}

void ow_engine_journal_enable(struct ow_engine *eng)
{
    eng->journal.enabled = true;
}

void ow__engine_journal_id(struct ow_engine *eng, struct ow_dedup_key key,
                           const uint64_t content[2], int64_t occurred_us)
{
    struct ow__id_journal *j = &eng->journal;

    if (j->count == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 4096;
        j->items = ow_xrealloc(j->items, j->cap * sizeof(*j->items));
    }
    j->items[j->count].key = key;
    memcpy(j->items[j->count].content, content, sizeof(j->items[j->count].content));
    j->items[j->count].occurred_us = occurred_us;
    j->count++;
}

void ow_engine_journal_drain(struct ow_engine *eng,
                             void (*fn)(void *arg, struct ow_dedup_key key,
                                        const uint64_t content[2], int64_t occurred_us),
                             void *arg)
{
    struct ow__id_journal *j = &eng->journal;

    for (size_t i = 0; i < j->count; i++) {
        fn(arg, j->items[i].key, j->items[i].content, j->items[i].occurred_us);
    }
    j->count = 0;
}

struct foreach_arg {
    void (*fn)(void *arg, struct ow_dedup_key key, const uint64_t content[2], int64_t occurred_us);
    void *arg;
    uint64_t n;
};

static int foreach_one(void *arg, struct ow_dedup_key key, const uint64_t content[2],
                       int64_t occurred_us)
{
    struct foreach_arg *fa = arg;

    fa->fn(fa->arg, key, content, occurred_us);
    fa->n++;
    return 0;
}

uint64_t ow_engine_foreach_id(struct ow_engine *eng,
                              void (*fn)(void *arg, struct ow_dedup_key key,
                                         const uint64_t content[2], int64_t occurred_us),
                              void *arg)
{
    struct foreach_arg fa = {fn, arg, 0};

    ow_dedup_foreach(eng->dedup, foreach_one, &fa);
    return fa.n;
}

int ow_engine_reconfigure(struct ow_engine **eng, const struct ow_config *cfg, struct ow_sink *sink,
                          struct ow_err *err)
{
    struct ow_engine *old = *eng;
    struct ow_engine *neu = ow_engine_create(cfg, sink, old->live, err);
    struct ow_dedup *ids;
    struct ow__id_journal journal;
    json_t *state;
    int rc;

    if (neu == NULL) {
        return OW_EINVAL;
    }
    state = ow_engine_save(old);
    rc = ow_engine_restore(neu, state, err);
    json_decref(state);
    if (rc != OW_OK) {
        ow_engine_destroy(neu);
        return rc;
    }
    /* The remembered ids (possibly tens of millions) move over as they are. */
    ids = neu->dedup;
    neu->dedup = old->dedup;
    old->dedup = ids;
    journal = neu->journal;
    neu->journal = old->journal;
    old->journal = journal;
    neu->wall_clock_us = old->wall_clock_us;
    ow_alerts_set_wall_clock(neu->alerts, old->wall_clock_us);
    ow_alerts_move_counts(neu->alerts, old->alerts); /* /metrics counters go on */
    ow_engine_destroy(old);
    *eng = neu;
    return OW_OK;
}
