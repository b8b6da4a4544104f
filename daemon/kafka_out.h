/* kafka_out.h: the daemon's outputs: an idempotent librdkafka producer behind the engine's sink.
 *
 * Alerts, aggregate updates, dead letters and snapshots go to the topics of cfg->outputs under
 * the keys the engine gives. Every record gets a sequence number in emit order; delivery
 * reports come back on the loop (the producer queue's event fd under a uv_poll_t), a failed
 * delivery is produced again (counted in lv->counters), and ow_kafka_out_acked() says up to
 * which sequence number everything is acknowledged, so the consumer commits only input offsets
 * whose effects Kafka holds. A full producer queue never drops a record: it waits in a backlog
 * and the consumer pauses until the backlog drains. Everything runs on the loop thread. */
#ifndef OW_KAFKA_OUT_H
#define OW_KAFKA_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "config.h"
#include "live.h"
#include "sink.h"

/** A producer on @lv->cfg's brokers, polled on @lv->loop. @returns NULL with @err set. */
struct ow_kafka_out *ow_kafka_out_create(struct ow_live *lv, char *err, size_t errlen);

/** The sink the engine writes to (borrowed; lives as long as @out). */
struct ow_sink *ow_kafka_out_sink(struct ow_kafka_out *out);

/** Every record with a sequence number below this one is acknowledged by Kafka. */
uint64_t ow_kafka_out_acked(const struct ow_kafka_out *out);

/** The sequence number the next record will get (records emitted so far). */
uint64_t ow_kafka_out_emitted(const struct ow_kafka_out *out);

/** The producer had a fatal error: nothing more will be acknowledged. */
bool ow_kafka_out_failed(const struct ow_kafka_out *out);

/** After the producer's fatal error: say why and have the loop drain and exit (0 when fenced
 * by a newer producer with its transactional.id, else 1). Idle while the daemon stops. */
void ow_kafka_out_fatal(struct ow_kafka_out *out);

/** Records emitted and not yet acknowledged (queued in librdkafka or in the backlog). */
uint64_t ow_kafka_out_pending(const struct ow_kafka_out *out);

/** The outbox: every record emitted and not yet acknowledged, in emit order, as a new JSON
 * array of {"topic", "key" (absent when none), "value" (the record's text)}; saved with the
 * state at each checkpoint so that a restart sends them again. */
json_t *ow_kafka_out_outbox(const struct ow_kafka_out *out);

/** Produce again the records of a saved outbox (@outbox borrowed; NULL: nothing), same keys
 * and values, as new records (at least once: consumers de-duplicate by key). A record for a
 * topic that is no longer an output topic is logged and dropped. @returns 0, or -1 with @err
 * set when the outbox is malformed. */
int ow_kafka_out_resend(struct ow_kafka_out *out, const json_t *outbox, char *err, size_t errlen);

/* ---- kafka.exactly_once: every output in a Kafka transaction ----
 * The transaction's records are the outbox (ow_kafka_out_outbox) until it commits. */

/** The number of the open transaction (1 at start), saved with the state. */
uint64_t ow_kafka_out_txn_no(const struct ow_kafka_out *out);

/** Number the open transaction @n (at start, after a restore: the saved number + 1). */
void ow_kafka_out_set_txn_no(struct ow_kafka_out *out, uint64_t n);

/** Commit the open transaction with the input @offsets of the consumer @group (both may be
 * NULL or empty: outputs alone), then open the next. Blocks up to a few seconds. @returns 0;
 * -1 with @err set when it did not commit (an abortable error aborted it, and its records are
 * produced again in the next one: retry at the next checkpoint); -2 when the producer is
 * fenced or failed for good (another instance took over: stop). */
int ow_kafka_out_commit_txn(struct ow_kafka_out *out, rd_kafka_topic_partition_list_t *offsets,
                            const rd_kafka_consumer_group_metadata_t *group, char *err,
                            size_t errlen);

/** True while records wait for room in the producer queue (the consumer should pause). */
bool ow_kafka_out_full(const struct ow_kafka_out *out);

/** Serve delivery reports now (also done by the event fd and a timer). */
void ow_kafka_out_poll(struct ow_kafka_out *out);

/** Close the loop handles (before the loop's last run). Idempotent. */
void ow_kafka_out_stop(struct ow_kafka_out *out);

/** Destroy the producer (after ow_kafka_out_stop and the loop's last run); NULL is a no-op. */
void ow_kafka_out_destroy(struct ow_kafka_out *out);

/* ---- shared by the daemon's librdkafka clients ---- */

/* The consumer's default queued.min.messages and queued.max.messages.kbytes (see
 * ow_kafka_conf_apply); the live benchmark's raw consumer uses the same, so its baseline is
 * measured on equal terms. */
#define OW_KAFKA_QUEUED_MIN_MESSAGES "1000000"
#define OW_KAFKA_QUEUED_MAX_KBYTES "131072"

/** Apply the properties of @k to @conf: the daemon's defaults first (@consumer: the consumer's
 * fetch.wait.max.ms=5, queued.min.messages and queued.max.messages.kbytes; else the producer's
 * linger.ms=0), then every property of k->properties that belongs to this kind of client
 * (consumer-only properties are not given to the producer and back). Values are never logged.
 * @returns 0, or -1 with @err set. */
int ow_kafka_conf_apply(rd_kafka_conf_t *conf, const struct ow_config_kafka *k, bool consumer,
                        char *err, size_t errlen);

/** librdkafka's log callback, into daemon/log.h. */
void ow_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/** The wall clock in microseconds since the epoch. */
int64_t ow_wall_us(void);

/** A monotonic clock in microseconds. */
int64_t ow_mono_us(void);

#endif
