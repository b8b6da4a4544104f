/* kafka_in.h: the daemon's input: a librdkafka consumer in a consumer group, drained on the loop.
 *
 * Messages are drained from the consumer queue's event fd (a uv_poll_t) in bounded batches of
 * kafka.batch_max, continued by a uv_idle_t while more remain, and applied to lv->eng. Offsets
 * are committed by hand and only through ow_kafka_in_commit_upto(). Rebalance callbacks run on
 * the loop thread (the main queue is forwarded to the consumer queue). */
#ifndef OW_KAFKA_IN_H
#define OW_KAFKA_IN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "live.h"

/* The daemon's checkpoint (loop.c): save what must be saved, then ow_kafka_in_commit_upto().
 * kafka_in calls it when partitions are revoked (sync), so the next owner starts after what
 * this one has safely handed on. */
typedef void (*ow_kafka_in_checkpoint_fn)(struct ow_live *lv, bool sync);

/** A consumer of lv->cfg->kafka.input_topics in group kafka.group_id, subscribed, drained on
 * lv->loop into lv->eng. Records per batch which output sequence number (lv->out) its effects
 * reach. @returns NULL with @err set. */
struct ow_kafka_in *ow_kafka_in_create(struct ow_live *lv, ow_kafka_in_checkpoint_fn checkpoint,
                                       char *err, size_t errlen);

/** Commit, for every partition, the greatest applied offset whose effects are safely handed on:
 * every output record emitted up to it has a sequence number below @acked_seq (the producer's
 * ow_kafka_out_acked). Asynchronous unless @sync. The one place offsets are committed; issue 6
 * puts the state save before it. */
void ow_kafka_in_commit_upto(struct ow_kafka_in *in, uint64_t acked_seq, bool sync);

/** The position of every partition this consumer has applied messages of (or was given a
 * saved offset for), as a new JSON object {topic: {partition: next offset to consume}}: what
 * a state save records beside the engine state that includes those messages. The positions
 * are also kept as the ones being saved, for ow_kafka_in_commit_saved. */
json_t *ow_kafka_in_offsets(struct ow_kafka_in *in);

/** The positions of the last ow_kafka_in_offsets() are durable (that save is committed):
 * remember them as the saved offsets and commit them (the assigned partitions' ones) to Kafka
 * (messages applied since are not included). Asynchronous unless @sync. Not committed between
 * a revocation and the next assignment. */
void ow_kafka_in_commit_saved(struct ow_kafka_in *in, bool sync);

/* ---- kafka.exactly_once ---- */

/* The offsets a transaction commits carry its number: "opswatch-txn:<N>". */
#define OW_TXN_METADATA_PREFIX "opswatch-txn:"

/** The position of every assigned partition (as ow_kafka_in_offsets) as a new list for a
 * transaction's offsets, each with @metadata; they become the saved and committed ones. */
rd_kafka_topic_partition_list_t *ow_kafka_in_txn_offsets(struct ow_kafka_in *in,
                                                         const char *metadata);

/** The consumer group's metadata for a transaction (new; rd_kafka_consumer_group_metadata_destroy).
 */
rd_kafka_consumer_group_metadata_t *ow_kafka_in_group_metadata(struct ow_kafka_in *in);

/** The greatest transaction number found in the metadata ("opswatch-txn:N") of the group's
 * committed offsets of the partitions in @offsets (saved offsets JSON, borrowed). @returns it,
 * 0 when none carries one, -1 when the committed offsets cannot be read. */
int64_t ow_kafka_in_committed_txn(struct ow_kafka_in *in, const json_t *offsets);

/** When the last message of each input topic arrived (wall clock), as a new JSON object
 * {topic: us}, for the state save; and back at start, so that input_stale measures silence
 * across a restart (topics not in @saved keep "now"). */
json_t *ow_kafka_in_topics_last(const struct ow_kafka_in *in);
void ow_kafka_in_set_topics_last(struct ow_kafka_in *in, const json_t *saved);

/** Restore the saved offsets of a state (@offsets as made by ow_kafka_in_offsets, borrowed):
 * each partition is read from its saved offset when assigned, whatever offset the group has
 * committed. Before the first assignment. @returns 0, or -1 with @err set (malformed). */
int ow_kafka_in_set_saved(struct ow_kafka_in *in, const json_t *offsets, char *err, size_t errlen);

/** Pause fetching on every assigned partition (the producer queue is full); idempotent. */
void ow_kafka_in_pause(struct ow_kafka_in *in);

/** Resume after ow_kafka_in_pause; idempotent. Does nothing while lv->save_failing. */
void ow_kafka_in_resume(struct ow_kafka_in *in);

/** True when the broker has said "end" (PARTITION_EOF) for every assigned partition since its
 * assignment (or the last resume) and no message has come after it, at least one
 * partition is assigned, consumption is not paused, and no partition of an input topic seen
 * before is unassigned now. */
bool ow_kafka_in_caught_up(struct ow_kafka_in *in);

/** Monotonic time (ow_mono_us) of the last message received (creation time before any). */
int64_t ow_kafka_in_last_message_us(const struct ow_kafka_in *in);

/** Wall-clock time of the last event received on input topic @i (index in
 * cfg->kafka.input_topics), or the creation time before any. */
int64_t ow_kafka_in_topic_last_us(const struct ow_kafka_in *in, size_t i);

/** Messages applied so far. */
uint64_t ow_kafka_in_messages(const struct ow_kafka_in *in);

/** Reading a backlog: a full batch (kafka.batch_max) was read since the input last caught up
 * (at which point the checkpoint runs at once). */
bool ow_kafka_in_in_backlog(const struct ow_kafka_in *in);

/** Stop consuming (drain: the current batch is finished, nothing more is read). */
void ow_kafka_in_stop(struct ow_kafka_in *in);

/** Leave the group (rd_kafka_consumer_close: the revocation runs the checkpoint once more).
 * Blocks briefly; at shutdown only, after the final checkpoint. Closes the loop handles. */
void ow_kafka_in_close(struct ow_kafka_in *in);

/** Destroy (after ow_kafka_in_close and the loop's last run); NULL is a no-op. */
void ow_kafka_in_destroy(struct ow_kafka_in *in);

#endif
