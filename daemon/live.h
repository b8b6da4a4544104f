/* live.h: the state of the live daemon (opswatchd) that its modules share: one libuv loop, one
 * engine, the Kafka consumer and producer, the HTTP endpoint. Everything here runs on the loop
 * thread; librdkafka's own threads only ever wake the loop. */
#ifndef OW_LIVE_H
#define OW_LIVE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "config.h"
#include "engine.h"
#include "sink.h"

struct ow_kafka_in;
struct ow_kafka_out;
struct ow_http;
struct ow_state;
struct ow_saver;

/* Counters the daemon keeps beside the engine's own (for /metrics). */
struct ow_live_counters {
    uint64_t produced;       /* records acknowledged by Kafka */
    uint64_t produce_errors; /* delivery reports with an error (each retried) */
    uint64_t produce_retries;
    uint64_t paused; /* times consumption paused for a full producer queue */
    uint64_t consumer_errors;
    uint64_t reloads; /* successful SIGHUP reloads */
    uint64_t reload_failures;
    uint64_t saves;
    uint64_t save_failures;
    uint64_t txn_commits; /* kafka.exactly_once: transactions committed */
};

struct ow_live {
    uv_loop_t *loop;
    const char *config_path; /* NULL: the built-in default */
    struct ow_config *cfg;   /* current configuration (SIGHUP replaces it) */
    struct ow_engine *eng;
    struct ow_kafka_in *in;
    struct ow_kafka_out *out;
    struct ow_http *http;      /* NULL when http.listen is "" */
    struct ow_state *state;    /* the state folder (live.state_dir); NULL when "" */
    struct ow_saver *saver;    /* writes the saves on its own thread; NULL: on the loop */
    bool save_again;           /* a save was asked for while one was in flight */
    uint64_t messages_at_save; /* ow_kafka_in_messages() at the last save's prepare */
    bool rebuild;              /* --rebuild: without saved state, start at the beginning */
    struct ow_live_counters counters;
    bool restored;     /* state restored (or none to restore) */
    bool assigned;     /* partitions assigned */
    bool save_failing; /* the last save failed: consumption stopped */
    bool stopping;     /* SIGTERM/SIGINT seen: draining */
    int64_t started_us;
    /* A Kafka client hit a fatal error (librdkafka will not use it again): the loop drains,
     * saves and exits with @exit_code. Set by the loop; kafka_in.c and kafka_out.c call it. */
    void (*client_fatal)(struct ow_live *lv, int exit_code, const char *why);
    void *loop_ctx;
};

/** True when the daemon is ready (state restored, partitions assigned, saving works). */
static inline bool ow_live_ready(const struct ow_live *lv)
{
    return lv->restored && lv->assigned && !lv->save_failing;
}

/** Per input partition, for /metrics and /readyz (kafka_in.c). @fn is called with the topic,
 * partition, the next offset to consume (-1 unknown), the high watermark (-1 unknown). */
void ow_kafka_in_foreach_partition(struct ow_kafka_in *in,
                                   void (*fn)(const char *topic, int32_t partition,
                                              int64_t position, int64_t high, void *arg),
                                   void *arg);

/** Fan a record that the engine emitted out to HTTP stream subscribers (Server-Sent Events)
 * (http.c). @json is the record as compact JSON on one line (borrowed): the text the record
 * is published as, so that it is serialised once. Alerts and aggregate updates only. */
void ow_http_broadcast(struct ow_http *http, enum ow_stream stream, const char *json);

#endif
