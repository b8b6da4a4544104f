/* kafka_out.c: the idempotent producer behind the engine's sink.
 *
 * Why a sequence number per record: the consumer may commit an input offset only when every
 * output caused by the events before it is acknowledged. Delivery reports arrive out of order
 * across output partitions, so acknowledgements are kept as flags in a ring from the lowest
 * unacknowledged sequence number up; that number is the commit limit (ow_kafka_out_acked).
 *
 * Why a backlog: the engine emits synchronously from inside ow_engine_apply and cannot be
 * told "later", so a record that finds the producer queue full is copied to a FIFO and
 * produced as room appears; while the FIFO holds anything, new records join it behind the
 * others (order per key is kept) and the consumer is paused.
 *
 * Why aggregate updates and snapshots are serialised on the render thread (render.h): they
 * carry whole reports, milliseconds of text each at a few hundred parties, which events and
 * alerts would otherwise wait for. Their sequence numbers are taken at emit, so no input
 * offset is committed past them before they are produced; until their text comes back the
 * outbox serialises them itself. Alerts and dead letters are small and go out at once. In a
 * transaction (exactly_once) everything is serialised at emit: a record must be in the
 * transaction that its input offsets commit with. */
#include "kafka_out.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "kafka_in.h"
#include "log.h"
#include "render.h"

#define POLL_INTERVAL_MS 100

struct backlog_rec {
    struct backlog_rec *next;
    enum ow_stream stream;
    uint64_t seq;
    char *key;
    char *payload;
    size_t len;
};

/* A record of the open transaction (exactly_once): kept until the transaction commits. */
struct txn_rec {
    enum ow_stream stream;
    char *key;
    char *payload;
};

/* A record emitted and not yet acknowledged: kept for the outbox (state saves) until then. */
struct slot {
    bool acked;
    enum ow_stream stream;
    char *key;
    char *payload;   /* NULL while the render thread makes it */
    json_t *pending; /* the record, while the render thread makes its text */
};

struct ow_kafka_out {
    struct ow_live *lv;
    struct ow_sink sink;
    rd_kafka_t *rk;
    rd_kafka_topic_t *topics[OW_STREAM__COUNT];
    rd_kafka_queue_t *mainq;
    int pipefd[2];
    uv_poll_t poll;
    uv_timer_t timer;
    bool handles_open;
    uint64_t next_seq; /* the sequence number of the next record */
    uint64_t acked;    /* every record below this is acknowledged */
    struct slot *ring; /* the records [acked, next_seq), indexed by seq & (cap - 1) */
    size_t cap;
    struct backlog_rec *bl_head;
    struct backlog_rec *bl_tail;
    size_t bl_len;
    bool txn;             /* exactly_once: every output in a transaction */
    uint64_t txn_no;      /* the number of the open transaction */
    struct txn_rec *tlog; /* its records, in emit order: the outbox */
    size_t ntlog;
    size_t captlog;
    struct ow_render *render; /* NULL: every record serialised at emit */
};

int64_t ow_wall_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ow_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void ow_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum ow_log_level l = OW_LOG_DEBUG;

    (void)rk;
    if (level <= LOG_ERR) {
        l = OW_LOG_ERROR;
    } else if (level == LOG_WARNING) {
        l = OW_LOG_WARN;
    } else if (level <= LOG_INFO) {
        l = OW_LOG_INFO;
    }
    ow_log(l, "rdkafka", "%s: %s", fac, buf);
}

/* Which client a property belongs to: 'C' consumer only, 'P' producer only, else both.
 * From librdkafka's CONFIGURATION.md; a property not listed goes to both clients. */
static char property_kind(const char *name)
{
    static const char *const consumer[] = {
        "group.id",
        "group.instance.id",
        "partition.assignment.strategy",
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "group.protocol.type",
        "coordinator.query.interval.ms",
        "max.poll.interval.ms",
        "enable.auto.commit",
        "auto.commit.interval.ms",
        "enable.auto.offset.store",
        "queued.min.messages",
        "queued.max.messages.kbytes",
        "fetch.wait.max.ms",
        "fetch.message.max.bytes",
        "max.partition.fetch.bytes",
        "fetch.max.bytes",
        "fetch.min.bytes",
        "fetch.error.backoff.ms",
        "offset.store.method",
        "isolation.level",
        "enable.partition.eof",
        "check.crcs",
        "auto.offset.reset",
        "auto.commit.enable",
        "consume.callback.max.messages",
        "offset.store.path",
        "offset.store.sync.interval.ms",
        NULL,
    };
    static const char *const producer[] = {
        "transactional.id",
        "transaction.timeout.ms",
        "enable.idempotence",
        "enable.gapless.guarantee",
        "queue.buffering.max.messages",
        "queue.buffering.max.kbytes",
        "queue.buffering.max.ms",
        "linger.ms",
        "message.send.max.retries",
        "retries",
        "queue.buffering.backpressure.threshold",
        "compression.codec",
        "compression.type",
        "compression.level",
        "batch.num.messages",
        "batch.size",
        "delivery.report.only.error",
        "sticky.partitioning.linger.ms",
        "request.required.acks",
        "acks",
        "request.timeout.ms",
        "message.timeout.ms",
        "delivery.timeout.ms",
        "queuing.strategy",
        "produce.offset.report",
        "partitioner",
        NULL,
    };

    for (const char *const *p = consumer; *p != NULL; p++) {
        if (strcmp(*p, name) == 0) {
            return 'C';
        }
    }
    for (const char *const *p = producer; *p != NULL; p++) {
        if (strcmp(*p, name) == 0) {
            return 'P';
        }
    }
    return '*';
}

static int set_one(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                   size_t errlen)
{
    char why[512];

    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        /* librdkafka's message quotes the value, which may be a secret: name only. */
        snprintf(err, errlen,
                 "kafka property '%s': rejected by librdkafka (unknown property "
                 "or invalid value)",
                 name);
        return -1;
    }
    return 0;
}

int ow_kafka_conf_apply(rd_kafka_conf_t *conf, const struct ow_config_kafka *k, bool consumer,
                        char *err, size_t errlen)
{
    const struct ow_strpairs *p = &k->properties;

    if (set_one(conf, "bootstrap.servers", k->brokers, err, errlen) < 0) {
        return -1;
    }
    /* Why queued.min.messages this high: in librdkafka 2.0.2 each partition's fetch queue is
     * forwarded to the one consumer queue, so the "per partition" threshold counts the whole
     * queue. One fetch of a backlog brings about 300,000 messages, every partition is then
     * "above the threshold", and the broker thread looks again only when its 1 s serve timeout
     * ends (or another request wakes it): measured, 300 ms of work then 700 ms of waiting every
     * second. Why queued.max.messages.kbytes twice librdkafka's 64 MiB: the same stop then came
     * from the bytes (about 290,000 events of 226 bytes), which the loop empties in 0.3 to 0.5
     * s; it then sat idle 0.1 to 0.2 s, once or twice per 2.2M-event backlog, until the fetch
     * thread woke (bench_live, a timeline of /metrics every 50 ms). librdkafka's own advice is
     * a queue that holds a second of data; 128 MiB (about 580,000 such events) removed the
     * stalls and costs about 130 MB more at the peak of a backlog (bench_live's peak RSS: 400
     * to 416 MiB at 64 MiB, 526 to 545 at 128). Both can be set in kafka.properties.
     * Why the producer's linger.ms is 0: an alert would wait that long before it is sent (5 ms,
     * librdkafka's default, was most of what the daemon added to an alert's latency; 0 against
     * 1 gave alert p50 9.1-9.9 against 10.1-10.7 ms and p99 17.6-20.4 against 18.9-23.0 ms in
     * four alternating bench_live latency runs each), and outputs are few beside the input;
     * records that come while a request is in flight still go in one batch. */
    if (consumer ? set_one(conf, "fetch.wait.max.ms", "5", err, errlen) < 0 ||
                       set_one(conf, "queued.min.messages", OW_KAFKA_QUEUED_MIN_MESSAGES, err,
                               errlen) < 0 ||
                       set_one(conf, "queued.max.messages.kbytes", OW_KAFKA_QUEUED_MAX_KBYTES, err,
                               errlen) < 0
                 : set_one(conf, "linger.ms", "0", err, errlen) < 0) {
        return -1;
    }
    for (size_t i = 0; i < p->count; i++) {
        char kind = property_kind(p->keys[i]);

        if ((kind == 'C' && !consumer) || (kind == 'P' && consumer)) {
            continue;
        }
        if (set_one(conf, p->keys[i], p->values[i], err, errlen) < 0) {
            return -1;
        }
    }
    rd_kafka_conf_set_log_cb(conf, ow_kafka_log_cb);
    return 0;
}

/* ---- acknowledgements ---- */

static void ring_reserve(struct ow_kafka_out *out)
{
    size_t used = (size_t)(out->next_seq - out->acked);
    struct slot *ring;
    size_t cap;

    if (used < out->cap) {
        return;
    }
    cap = out->cap * 2;
    ring = ow_xcalloc(cap, sizeof(*ring));
    for (uint64_t s = out->acked; s < out->next_seq; s++) {
        ring[s & (cap - 1)] = out->ring[s & (out->cap - 1)];
    }
    free(out->ring);
    out->ring = ring;
    out->cap = cap;
}

static void ack(struct ow_kafka_out *out, uint64_t seq)
{
    struct slot *s = &out->ring[seq & (out->cap - 1)];

    s->acked = true;
    free(s->key);
    free(s->payload);
    s->key = NULL;
    s->payload = NULL;
    while (out->acked < out->next_seq && out->ring[out->acked & (out->cap - 1)].acked) {
        out->ring[out->acked & (out->cap - 1)].acked = false;
        out->acked++;
    }
}

/* ---- producing ---- */

/* @returns 0, 1 when the queue is full, -1 on another error (logged). */
static int produce(struct ow_kafka_out *out, enum ow_stream stream, uint64_t seq, const char *key,
                   const char *payload, size_t len)
{
    rd_kafka_resp_err_t e;

    if (rd_kafka_produce(out->topics[stream], RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                         (void *)payload, len, key, key != NULL ? strlen(key) : 0,
                         (void *)(uintptr_t)seq) == 0) {
        return 0;
    }
    e = rd_kafka_last_error();
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        return 1;
    }
    ow_log_error("kafka_out", "produce to %s failed: %s", ow_stream_name(stream),
                 rd_kafka_err2str(e));
    return e == RD_KAFKA_RESP_ERR__FATAL ? -2 : -1;
}

static void backlog_push(struct ow_kafka_out *out, enum ow_stream stream, uint64_t seq,
                         const char *key, const char *payload, size_t len)
{
    struct backlog_rec *r = ow_xcalloc(1, sizeof(*r));

    r->stream = stream;
    r->seq = seq;
    r->key = key != NULL ? ow_xstrdup(key) : NULL;
    r->payload = ow_xmalloc(len + 1);
    memcpy(r->payload, payload, len);
    r->len = len;
    if (out->bl_tail != NULL) {
        out->bl_tail->next = r;
    } else {
        out->bl_head = r;
        out->lv->counters.paused++;
        ow_log_warn("kafka_out", "producer queue full: pausing consumption");
        if (out->lv->in != NULL) {
            ow_kafka_in_pause(out->lv->in);
        }
    }
    out->bl_tail = r;
    out->bl_len++;
}

/* Produce what waits, in order, until the queue is full again. */
static void backlog_drain(struct ow_kafka_out *out)
{
    bool had = out->bl_head != NULL;

    while (out->bl_head != NULL) {
        struct backlog_rec *r = out->bl_head;
        int rc = produce(out, r->stream, r->seq, r->key, r->payload, r->len);

        if (rc == 1 || rc == -2) {
            return; /* full, or the producer is gone (kept for the outbox, see send_record) */
        }
        if (rc < 0) {
            /* Not a queue-full: the record cannot be produced at all (unknown topic...).
             * Count it and let it go, or the daemon would stall forever. */
            out->lv->counters.produce_errors++;
            ack(out, r->seq);
        }
        out->bl_head = r->next;
        if (out->bl_head == NULL) {
            out->bl_tail = NULL;
        }
        out->bl_len--;
        free(r->key);
        free(r->payload);
        free(r);
    }
    if (had) {
        ow_log_info("kafka_out", "producer queue has room: resuming consumption");
        if (out->lv->in != NULL) {
            ow_kafka_in_resume(out->lv->in);
        }
    }
}

static void send_record(struct ow_kafka_out *out, enum ow_stream stream, uint64_t seq,
                        const char *key, const char *payload, size_t len)
{
    int rc = 1;

    if (out->bl_head == NULL) {
        rc = produce(out, stream, seq, key, payload, len);
    }
    if (rc == 1) {
        backlog_push(out, stream, seq, key, payload, len);
    } else if (rc == -2) {
        /* The producer is gone (the daemon is stopping): the record stays unacknowledged, so
         * the last save keeps it in the outbox and the next process sends it. */
        out->lv->counters.produce_errors++;
    } else if (rc < 0) {
        out->lv->counters.produce_errors++;
        ack(out, seq);
    }
}

static void tlog_add(struct ow_kafka_out *out, enum ow_stream stream, const char *key,
                     const char *text)
{
    struct txn_rec *r;

    if (out->ntlog == out->captlog) {
        out->captlog = out->captlog == 0 ? 64 : out->captlog * 2;
        out->tlog = ow_xrealloc(out->tlog, out->captlog * sizeof(*out->tlog));
    }
    r = &out->tlog[out->ntlog++];
    r->stream = stream;
    r->key = key != NULL ? ow_xstrdup(key) : NULL;
    r->payload = ow_xstrdup(text);
}

static void tlog_clear(struct ow_kafka_out *out)
{
    for (size_t i = 0; i < out->ntlog; i++) {
        free(out->tlog[i].key);
        free(out->tlog[i].payload);
    }
    out->ntlog = 0;
}

/* The next sequence number and its outbox slot, holding @text (owned; NULL: made later). */
static uint64_t slot_new(struct ow_kafka_out *out, enum ow_stream stream, const char *key,
                         char *text)
{
    struct slot *s;
    uint64_t seq;

    ring_reserve(out);
    seq = out->next_seq++;
    s = &out->ring[seq & (out->cap - 1)];
    s->acked = false;
    s->stream = stream;
    s->key = key != NULL ? ow_xstrdup(key) : NULL;
    s->payload = text;
    s->pending = NULL;
    return seq;
}

/* Give @text (owned) a sequence number, keep it in the outbox and produce it. */
static void emit_text(struct ow_kafka_out *out, enum ow_stream stream, const char *key, char *text)
{
    if (out->txn) {
        tlog_add(out, stream, key, text);
    }
    send_record(out, stream, slot_new(out, stream, key, text), key, text, strlen(text));
}

/* Reserve @rec's sequence number and outbox slot now; its text comes in on_rendered. */
static void emit_later(struct ow_kafka_out *out, enum ow_stream stream, const char *key,
                       json_t *rec)
{
    uint64_t seq = slot_new(out, stream, key, NULL);

    out->ring[seq & (out->cap - 1)].pending = json_incref(rec);
    ow_render_submit(out->render, seq, rec);
}

static void on_rendered(void *arg, uint64_t seq, char *text)
{
    struct ow_kafka_out *out = arg;
    struct slot *s = &out->ring[seq & (out->cap - 1)];

    json_decref(s->pending);
    s->pending = NULL;
    if (text == NULL) {
        ow_log_error("kafka_out", "cannot serialise a record for %s: out of memory",
                     ow_stream_name(s->stream));
        out->lv->counters.produce_errors++;
        ack(out, seq);
        return;
    }
    s->payload = text;
    ow_http_broadcast(out->lv->http, s->stream, text); /* alerts and aggregates only */
    send_record(out, s->stream, seq, s->key, text, strlen(text));
}

static int sink_emit(struct ow_sink *sink, enum ow_stream stream, const char *key, json_t *rec)
{
    struct ow_kafka_out *out = sink->ctx;
    char *text;

    if (rec == NULL) {
        return OW_EINVAL;
    }
    if (out->render != NULL && (stream == OW_STREAM_AGGREGATES || stream == OW_STREAM_SNAPSHOTS)) {
        emit_later(out, stream, key, rec);
        return OW_OK;
    }
    text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (text == NULL) {
        return OW_EINVAL;
    }
    ow_http_broadcast(out->lv->http, stream, text); /* alerts and aggregates only */
    emit_text(out, stream, key, text);
    return OW_OK;
}

json_t *ow_kafka_out_outbox(const struct ow_kafka_out *out)
{
    json_t *a = json_array();

    if (out->txn) {
        for (size_t i = 0; i < out->ntlog; i++) {
            const struct txn_rec *r = &out->tlog[i];

            json_array_append_new(a, json_pack("{s:s, s:s?, s:s}", "topic",
                                               rd_kafka_topic_name(out->topics[r->stream]), "key",
                                               r->key, "value", r->payload));
        }
        return a;
    }
    for (uint64_t seq = out->acked; seq < out->next_seq; seq++) {
        const struct slot *s = &out->ring[seq & (out->cap - 1)];
        char *text = NULL;

        if (s->acked || (s->payload == NULL && s->pending == NULL)) {
            continue;
        }
        /* Still on the render thread: serialise it here too (dumps only read the record). */
        if (s->payload == NULL && (text = json_dumps(s->pending, JSON_COMPACT)) == NULL) {
            continue;
        }
        json_array_append_new(a, json_pack("{s:s, s:s?, s:s}", "topic",
                                           rd_kafka_topic_name(out->topics[s->stream]), "key",
                                           s->key, "value", text != NULL ? text : s->payload));
        free(text);
    }
    return a;
}

int ow_kafka_out_resend(struct ow_kafka_out *out, const json_t *outbox, char *err, size_t errlen)
{
    size_t i;
    json_t *r;

    if (outbox == NULL) {
        return 0;
    }
    if (!json_is_array(outbox)) {
        snprintf(err, errlen, "the saved outbox is not an array");
        return -1;
    }
    json_array_foreach(outbox, i, r)
    {
        const char *topic = json_string_value(json_object_get(r, "topic"));
        const json_t *key = json_object_get(r, "key");
        const char *value = json_string_value(json_object_get(r, "value"));
        int stream = 0;

        while (topic != NULL && stream < OW_STREAM__COUNT &&
               strcmp(rd_kafka_topic_name(out->topics[stream]), topic) != 0) {
            stream++;
        }
        if (topic == NULL || value == NULL || (key != NULL && !json_is_string(key))) {
            snprintf(err, errlen, "saved outbox record %zu is malformed", i);
            return -1;
        }
        if (stream == OW_STREAM__COUNT) {
            ow_log_warn("kafka_out",
                        "saved output for topic %s, no longer an output topic: "
                        "dropped",
                        topic);
            continue;
        }
        emit_text(out, (enum ow_stream)stream, json_string_value(key), ow_xstrdup(value));
    }
    if (i > 0) {
        ow_log_info("kafka_out",
                    "re-sent %zu saved outputs not acknowledged before the last "
                    "stop (same keys and values)",
                    i);
    }
    return 0;
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct ow_kafka_out *out = opaque;
    uint64_t seq = (uint64_t)(uintptr_t)m->_private;
    enum ow_stream stream = OW_STREAM_ALERTS;

    (void)rk;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        out->lv->counters.produced++;
        ack(out, seq);
        return;
    }
    if (out->txn) {
        /* In a transaction a failed record fails the commit, which aborts and sends the
         * whole transaction again: no record is produced again on its own. */
        out->lv->counters.produce_errors++;
        ack(out, seq);
        return;
    }
    for (int s = 0; s < OW_STREAM__COUNT; s++) {
        if (out->topics[s] == m->rkt) {
            stream = (enum ow_stream)s;
        }
    }
    out->lv->counters.produce_errors++;
    out->lv->counters.produce_retries++;
    ow_log_warn("kafka_out", "delivery to %s failed (%s): producing again",
                rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    /* The report's payload and key are valid for the duration of this callback: copy. */
    {
        char *key = NULL;

        if (m->key != NULL) {
            key = ow_xmalloc(m->key_len + 1);
            memcpy(key, m->key, m->key_len);
            key[m->key_len] = '\0';
        }
        send_record(out, stream, seq, key, m->payload, m->len);
        free(key);
    }
}

/* Fenced: a newer producer took this transactional.id (exactly_once), i.e. another opswatchd
 * of this group and configuration. It steps aside, as a fenced consumer does (kafka_in.c):
 * exit 0. Any other fatal error: exit 1, and the supervisor's restart makes a new client. */
void ow_kafka_out_fatal(struct ow_kafka_out *out)
{
    char why[512];
    rd_kafka_resp_err_t e = rd_kafka_fatal_error(out->rk, why, sizeof(why));

    if (out->lv->stopping) {
        return;
    }
    if (e == RD_KAFKA_RESP_ERR__FENCED || e == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
        e == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH) {
        ow_log_error("kafka_out",
                     "producer fenced: another producer took this transactional.id (another "
                     "opswatchd of group %s with exactly_once?): %s: stopping, exit 0",
                     out->lv->cfg->kafka.group_id, why);
        out->lv->client_fatal(out->lv, 0, "producer fenced");
        return;
    }
    ow_log_error("kafka_out", "fatal producer error: %s: stopping, exit 1", why);
    out->lv->client_fatal(out->lv, 1, "the producer's fatal error");
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct ow_kafka_out *out = opaque;

    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        ow_kafka_out_fatal(out);
        return;
    }
    ow_log_warn("kafka_out", "producer: %s: %s", rd_kafka_err2name(err), reason);
}

bool ow_kafka_out_failed(const struct ow_kafka_out *out)
{
    char why[8];

    return rd_kafka_fatal_error(out->rk, why, sizeof(why)) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

void ow_kafka_out_poll(struct ow_kafka_out *out)
{
    /* rd_kafka_poll serves every queued event (delivery reports, errors) without waiting. */
    rd_kafka_poll(out->rk, 0);
    backlog_drain(out);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    struct ow_kafka_out *out = h->data;
    char buf[256];

    (void)status;
    (void)events;
    while (read(out->pipefd[0], buf, sizeof(buf)) > 0) {
    }
    ow_kafka_out_poll(out);
}

static void on_timer(uv_timer_t *t)
{
    ow_kafka_out_poll(t->data);
}

struct ow_sink *ow_kafka_out_sink(struct ow_kafka_out *out)
{
    return &out->sink;
}

uint64_t ow_kafka_out_acked(const struct ow_kafka_out *out)
{
    return out->acked;
}

uint64_t ow_kafka_out_emitted(const struct ow_kafka_out *out)
{
    return out->next_seq;
}

uint64_t ow_kafka_out_pending(const struct ow_kafka_out *out)
{
    return out->next_seq - out->acked;
}

bool ow_kafka_out_full(const struct ow_kafka_out *out)
{
    return out->bl_head != NULL;
}

/* ---- transactions (kafka.exactly_once) ----
 *
 * Why the state is saved before the transaction commits, with the transaction's records as
 * its outbox and its number: after a crash between the two, Kafka aborts the transaction (the
 * restarted producer fences it) and the saved outbox is sent again in a new one with the same
 * input offsets; after a crash once it committed, the group's committed offsets carry its
 * number in their metadata, and the outbox is not sent again. Either way each output is in
 * Kafka once, committed together with the input offsets that caused it. */

#define TXN_TIMEOUT_MS 5000

uint64_t ow_kafka_out_txn_no(const struct ow_kafka_out *out)
{
    return out->txn_no;
}

void ow_kafka_out_set_txn_no(struct ow_kafka_out *out, uint64_t n)
{
    out->txn_no = n;
}

static int txn_failed(struct ow_kafka_out *out, rd_kafka_error_t *e, const char *what, char *err,
                      size_t errlen)
{
    int rc = -1;

    snprintf(err, errlen, "transaction %" PRIu64 ": %s: %s", out->txn_no, what,
             rd_kafka_error_string(e));
    if (rd_kafka_error_is_fatal(e)) {
        rc = -2;
    } else if (rd_kafka_error_txn_requires_abort(e)) {
        rd_kafka_error_t *a = rd_kafka_abort_transaction(out->rk, TXN_TIMEOUT_MS);
        struct txn_rec *old = out->tlog;
        size_t n = out->ntlog;

        if (a != NULL) {
            rc = rd_kafka_error_is_fatal(a) ? -2 : -1;
            rd_kafka_error_destroy(a);
        }
        if (rc == -1 && (a = rd_kafka_begin_transaction(out->rk)) != NULL) {
            rc = -2;
            rd_kafka_error_destroy(a);
        }
        /* The aborted records go again, in the new transaction. */
        out->tlog = NULL;
        out->ntlog = out->captlog = 0;
        for (size_t i = 0; rc == -1 && i < n; i++) {
            emit_text(out, old[i].stream, old[i].key, ow_xstrdup(old[i].payload));
        }
        for (size_t i = 0; i < n; i++) {
            free(old[i].key);
            free(old[i].payload);
        }
        free(old);
    }
    rd_kafka_error_destroy(e);
    return rc;
}

int ow_kafka_out_commit_txn(struct ow_kafka_out *out, rd_kafka_topic_partition_list_t *offsets,
                            const rd_kafka_consumer_group_metadata_t *group, char *err,
                            size_t errlen)
{
    rd_kafka_error_t *e;

    backlog_drain(out);
    if (out->bl_head != NULL) {
        snprintf(err, errlen, "transaction %" PRIu64 ": records still wait for the queue",
                 out->txn_no);
        return -1;
    }
    if (offsets != NULL && offsets->cnt > 0 && group != NULL) {
        e = rd_kafka_send_offsets_to_transaction(out->rk, offsets, group, TXN_TIMEOUT_MS);
        if (e != NULL) {
            return txn_failed(out, e, "sending the input offsets", err, errlen);
        }
    }
    e = rd_kafka_commit_transaction(out->rk, TXN_TIMEOUT_MS);
    if (e != NULL) {
        return txn_failed(out, e, "commit", err, errlen);
    }
    tlog_clear(out);
    out->txn_no++;
    e = rd_kafka_begin_transaction(out->rk);
    if (e != NULL) {
        return txn_failed(out, e, "begin", err, errlen);
    }
    return 0;
}

/* A transactional.id of the group's unless kafka.properties names one: stable across restarts,
 * so that a restarted daemon fences the transaction its predecessor left open. */
static int txn_setup(struct ow_kafka_out *out, rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    const struct ow_config_kafka *k = &out->lv->cfg->kafka;
    char id[512];
    bool named = false;

    for (size_t i = 0; i < k->properties.count; i++) {
        named = named || strcmp(k->properties.keys[i], "transactional.id") == 0;
    }
    if (named) {
        return 0;
    }
    snprintf(id, sizeof(id), "opswatch-%s", k->group_id);
    return set_one(conf, "transactional.id", id, err, errlen);
}

static int txn_start(struct ow_kafka_out *out, char *err, size_t errlen)
{
    rd_kafka_error_t *e = rd_kafka_init_transactions(out->rk, 30000);

    if (e == NULL) {
        e = rd_kafka_begin_transaction(out->rk);
    }
    if (e != NULL) {
        snprintf(err, errlen, "kafka.exactly_once: cannot start transactions: %s",
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return -1;
    }
    return 0;
}

struct ow_kafka_out *ow_kafka_out_create(struct ow_live *lv, char *err, size_t errlen)
{
    struct ow_kafka_out *out = ow_xcalloc(1, sizeof(*out));
    const struct ow_config_outputs *o = &lv->cfg->outputs;
    const char *names[OW_STREAM__COUNT] = {o->alerts, o->aggregates, o->deadletter, o->snapshots};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[512];

    out->lv = lv;
    out->sink.emit = sink_emit;
    out->sink.ctx = out;
    out->pipefd[0] = out->pipefd[1] = -1;
    out->cap = 1024;
    out->ring = ow_xcalloc(out->cap, sizeof(*out->ring));
    out->txn = lv->cfg->kafka.exactly_once;
    out->txn_no = 1;
    if (ow_kafka_conf_apply(conf, &lv->cfg->kafka, false, err, errlen) < 0 ||
        set_one(conf, "enable.idempotence", "true", err, errlen) < 0 ||
        (out->txn && txn_setup(out, conf, err, errlen) < 0)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_opaque(conf, out);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    out->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (out->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "cannot create the producer: %s", why);
        goto fail;
    }
    for (int s = 0; s < OW_STREAM__COUNT; s++) {
        out->topics[s] = rd_kafka_topic_new(out->rk, names[s], NULL);
    }
    if (out->txn && txn_start(out, err, errlen) < 0) {
        goto fail;
    }
    if (pipe2(out->pipefd, O_NONBLOCK | O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    out->mainq = rd_kafka_queue_get_main(out->rk);
    rd_kafka_queue_io_event_enable(out->mainq, out->pipefd[1], "p", 1);
    uv_poll_init(lv->loop, &out->poll, out->pipefd[0]);
    out->poll.data = out;
    uv_poll_start(&out->poll, UV_READABLE, on_readable);
    uv_timer_init(lv->loop, &out->timer);
    out->timer.data = out;
    uv_timer_start(&out->timer, on_timer, POLL_INTERVAL_MS, POLL_INTERVAL_MS);
    out->handles_open = true;
    if (!out->txn) {
        out->render = ow_render_create(lv->loop, on_rendered, out);
    }
    ow_log_info("kafka_out",
                "producer ready (%s) alerts=%s aggregates=%s deadletter=%s "
                "snapshots=%s",
                out->txn ? "transactional" : "idempotent", o->alerts, o->aggregates, o->deadletter,
                o->snapshots);
    return out;
fail:
    ow_kafka_out_destroy(out);
    return NULL;
}

void ow_kafka_out_stop(struct ow_kafka_out *out)
{
    if (out == NULL || !out->handles_open) {
        return;
    }
    ow_render_close(out->render); /* the records it holds are produced first */
    uv_poll_stop(&out->poll);
    uv_close((uv_handle_t *)&out->poll, NULL);
    uv_timer_stop(&out->timer);
    uv_close((uv_handle_t *)&out->timer, NULL);
    out->handles_open = false;
}

void ow_kafka_out_destroy(struct ow_kafka_out *out)
{
    if (out == NULL) {
        return;
    }
    if (out->mainq != NULL) {
        rd_kafka_queue_io_event_enable(out->mainq, -1, NULL, 0);
        rd_kafka_queue_destroy(out->mainq);
    }
    for (int s = 0; s < OW_STREAM__COUNT; s++) {
        if (out->topics[s] != NULL) {
            rd_kafka_topic_destroy(out->topics[s]);
        }
    }
    if (out->rk != NULL) {
        if (rd_kafka_outq_len(out->rk) > 0) {
            ow_log_warn("kafka_out", "%d records not acknowledged at exit",
                        rd_kafka_outq_len(out->rk));
        }
        rd_kafka_destroy(out->rk);
    }
    while (out->bl_head != NULL) {
        struct backlog_rec *r = out->bl_head;

        out->bl_head = r->next;
        free(r->key);
        free(r->payload);
        free(r);
    }
    for (int i = 0; i < 2; i++) {
        if (out->pipefd[i] >= 0) {
            close(out->pipefd[i]);
        }
    }
    tlog_clear(out);
    free(out->tlog);
    for (uint64_t seq = out->acked; seq < out->next_seq; seq++) {
        free(out->ring[seq & (out->cap - 1)].key);
        free(out->ring[seq & (out->cap - 1)].payload);
        json_decref(out->ring[seq & (out->cap - 1)].pending);
    }
    free(out->ring);
    ow_render_destroy(out->render);
    free(out);
}
