/* fake_sink.c: in-memory sink for tests. */
#include "fake_sink.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct record {
    char *key;
    json_t *rec;
};

struct fake_sink {
    struct ow_sink sink;
    struct record *recs[OW_STREAM__COUNT];
    size_t count[OW_STREAM__COUNT];
    size_t cap[OW_STREAM__COUNT];
};

static int fake_emit(struct ow_sink *sink, enum ow_stream stream, const char *key, json_t *rec)
{
    struct fake_sink *fs = sink->ctx;

    if (fs->count[stream] == fs->cap[stream]) {
        fs->cap[stream] = fs->cap[stream] ? fs->cap[stream] * 2 : 16;
        fs->recs[stream] = ow_xrealloc(fs->recs[stream], fs->cap[stream] * sizeof(struct record));
    }
    fs->recs[stream][fs->count[stream]].key = ow_xstrdup(key ? key : "");
    fs->recs[stream][fs->count[stream]].rec = rec;
    fs->count[stream]++;
    return 0;
}

struct fake_sink *fake_sink_create(void)
{
    struct fake_sink *fs = ow_xcalloc(1, sizeof(*fs));

    fs->sink.emit = fake_emit;
    fs->sink.ctx = fs;
    return fs;
}

void fake_sink_clear(struct fake_sink *fs)
{
    for (int s = 0; s < OW_STREAM__COUNT; s++) {
        for (size_t i = 0; i < fs->count[s]; i++) {
            free(fs->recs[s][i].key);
            json_decref(fs->recs[s][i].rec);
        }
        fs->count[s] = 0;
    }
}

void fake_sink_destroy(struct fake_sink *fs)
{
    if (fs == NULL) {
        return;
    }
    fake_sink_clear(fs);
    for (int s = 0; s < OW_STREAM__COUNT; s++) {
        free(fs->recs[s]);
    }
    free(fs);
}

struct ow_sink *fake_sink_sink(struct fake_sink *fs)
{
    return &fs->sink;
}

size_t fake_sink_count(const struct fake_sink *fs, enum ow_stream stream)
{
    return fs->count[stream];
}

json_t *fake_sink_get(const struct fake_sink *fs, enum ow_stream stream, size_t i, const char **key)
{
    if (i >= fs->count[stream]) {
        return NULL;
    }
    if (key != NULL) {
        *key = fs->recs[stream][i].key;
    }
    return fs->recs[stream][i].rec;
}

json_t *fake_sink_latest(const struct fake_sink *fs, enum ow_stream stream, const char *key)
{
    for (size_t i = fs->count[stream]; i-- > 0;) {
        if (strcmp(fs->recs[stream][i].key, key) == 0) {
            return fs->recs[stream][i].rec;
        }
    }
    return NULL;
}

static bool str_is(const json_t *v, const char *want)
{
    return want == NULL || (json_is_string(v) && strcmp(json_string_value(v), want) == 0);
}

size_t fake_sink_alerts(const struct fake_sink *fs, const char *rule, const char *state)
{
    size_t n = 0;

    for (size_t i = 0; i < fs->count[OW_STREAM_ALERTS]; i++) {
        json_t *a = fs->recs[OW_STREAM_ALERTS][i].rec;

        if (str_is(json_object_get(a, "rule"), rule) &&
            str_is(json_object_get(a, "state"), state)) {
            n++;
        }
    }
    return n;
}
