/* fake_sink.h: a sink that keeps every record in memory, for tests. */
#ifndef OW_FAKE_SINK_H
#define OW_FAKE_SINK_H

#include <stddef.h>

#include <jansson.h>

#include "sink.h"

struct fake_sink;

struct fake_sink *fake_sink_create(void);
void fake_sink_destroy(struct fake_sink *fs);

/** The sink interface. Borrowed. */
struct ow_sink *fake_sink_sink(struct fake_sink *fs);

/** Number of records emitted on @stream. */
size_t fake_sink_count(const struct fake_sink *fs, enum ow_stream stream);

/** The @i th record on @stream (borrowed), and its key in *@key if not NULL. */
json_t *fake_sink_get(const struct fake_sink *fs, enum ow_stream stream, size_t i,
                      const char **key);

/** The latest record on @stream under @key (borrowed), or NULL. */
json_t *fake_sink_latest(const struct fake_sink *fs, enum ow_stream stream, const char *key);

/** How many alert records have @rule and @state (NULL matches any). */
size_t fake_sink_alerts(const struct fake_sink *fs, const char *rule, const char *state);

/** Forget every record. */
void fake_sink_clear(struct fake_sink *fs);

#endif
