/* sink.h: where the engine's effects go (alerts, aggregate updates, dead letters, snapshots).
 * The daemon implements it with Kafka producers, replay with files, tests with a fake. */
#ifndef OW_SINK_H
#define OW_SINK_H

#include <jansson.h>

enum ow_stream {
    OW_STREAM_ALERTS,
    OW_STREAM_AGGREGATES,
    OW_STREAM_DEADLETTER,
    OW_STREAM_SNAPSHOTS,
    OW_STREAM__COUNT
};

struct ow_sink {
    /** Take @rec (steals it, even on error) for @stream under @key (the Kafka key of the
     * spec; borrowed). @returns OW_OK or a negative OW_E* code. */
    int (*emit)(struct ow_sink *sink, enum ow_stream stream, const char *key, json_t *rec);
    void *ctx;
};

/** Queue @rec on @stream. Steals @rec, even on error (the json_*_new rule). */
int ow_sink_emit_new(struct ow_sink *sink, enum ow_stream stream, const char *key, json_t *rec);

/** The stream's name as in the spec ("alerts", "aggregates", "deadletter", "snapshots"). */
const char *ow_stream_name(enum ow_stream stream);

#endif
