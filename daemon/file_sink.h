/* file_sink.h: the replay sink: JSON Lines files and snapshot files in an output folder. */
#ifndef OW_FILE_SINK_H
#define OW_FILE_SINK_H

#include "err.h"
#include "sink.h"

struct ow_file_sink;

/** Create @dir (and @dir/snapshots) if needed and open alerts.jsonl, aggregates.jsonl and
 * deadletter.jsonl for writing (truncated). @returns NULL with @err set. */
struct ow_file_sink *ow_file_sink_create(const char *dir, struct ow_err *err);

/** The sink interface to hand to the engine. Borrowed. */
struct ow_sink *ow_file_sink_sink(struct ow_file_sink *fs);

/** Flush and close every file. @returns OW_OK or OW_EIO with @err set (a write failed). */
int ow_file_sink_close(struct ow_file_sink *fs, struct ow_err *err);

/** Free (closes first if needed); NULL is a no-op. */
void ow_file_sink_destroy(struct ow_file_sink *fs);

#endif
