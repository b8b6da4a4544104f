/* kafka_in.c: the consumer, drained on the loop in bounded batches.
 *
 * Why the event fd: librdkafka writes to it when its consumer queue goes from empty to
 * non-empty, so the loop sleeps in epoll while nothing arrives and wakes at once when
 * something does. The fd is written only on that transition, so a batch either empties the
 * queue or leaves a uv_idle_t running to continue on the next turn of the loop (HTTP and timers
 * get their turn in between).
 *
 * Why commit marks: after each batch, every partition it touched records (next offset, output
 * sequence number reached). An offset may be committed once the producer has acknowledged
 * every output below the mark's sequence number; until then the events are re-read after a
 * crash (at least once, and the engine's de-duplication counts them once). */
#include "kafka_in.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "alloc.h"
#include "kafka_out.h"
#include "log.h"
#include "sha256.h"

#define COMMITTED_TIMEOUT_MS 5000
#define CONSUME_CHUNK 256
#define PREFETCH_AHEAD 8
/* Payload bytes asked for ahead: events are a few hundred bytes; a longer one's tail is left
 * to the hardware prefetcher. */
#define PREFETCH_PAYLOAD_MAX 512
/* 4 KiB pages: one payload read per page fills its TLB entry (see prefetch_payload). */
#define PAYLOAD_PAGE_SHIFT 12
/* How often the queue is asked even when it signals nothing (see on_keepalive). */
#define KEEPALIVE_MS 1000

struct mark {
    int64_t next; /* offset after the last applied message */
    uint64_t seq; /* outputs below this sequence number must be acknowledged first */
};

struct part {
    char *topic;
    int32_t partition;
    size_t topic_idx; /* in cfg->kafka.input_topics, or SIZE_MAX */
    bool assigned;
    bool touched;  /* in the current batch */
    int64_t next;  /* after the last applied message; -1 none yet */
    int64_t start; /* committed offset at assignment; -1 none */
    int64_t committed;
    int64_t applied; /* after the last applied message, kept across revocations; -1 none */
    int64_t saved;   /* the position in the last saved state; -1 none */
    int64_t saving;  /* the position in the save in flight (ow_kafka_in_offsets); -1 none */
    bool at_end;     /* the broker said "end" (PARTITION_EOF) since the assignment or the last
                        resume, and no message has come after it */
    struct mark *marks;
    size_t nmarks;
    size_t capmarks;
};

struct ow_kafka_in {
    struct ow_live *lv;
    ow_kafka_in_checkpoint_fn checkpoint;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    int pipefd[2];
    uv_poll_t poll;
    uv_idle_t idle;
    uv_timer_t keepalive;
    bool handles_open;
    bool polling;
    bool paused;
    bool stopping;
    bool closing;
    bool rebalancing; /* between a revocation and the next assignment: no commit */
    bool in_backlog;  /* a full batch was read since the last time the input caught up */
    struct part *parts;
    size_t nparts;
    size_t capparts;
    size_t last_part;
    int64_t last_msg_mono;
    uintptr_t payload_page; /* the page of the last payload read ahead (prefetch_payload) */
    int64_t *topic_last_wall;
    size_t ntopics;
    uint64_t messages;
};

static struct part *find_part(struct ow_kafka_in *in, const char *topic, int32_t partition,
                              bool add)
{
    struct part *p;

    if (in->last_part < in->nparts) {
        p = &in->parts[in->last_part];
        if (p->partition == partition && strcmp(p->topic, topic) == 0) {
            return p;
        }
    }
    for (size_t i = 0; i < in->nparts; i++) {
        p = &in->parts[i];
        if (p->partition == partition && strcmp(p->topic, topic) == 0) {
            in->last_part = i;
            return p;
        }
    }
    if (!add) {
        return NULL;
    }
    if (in->nparts == in->capparts) {
        in->capparts = in->capparts == 0 ? 16 : in->capparts * 2;
        in->parts = ow_xrealloc(in->parts, in->capparts * sizeof(*in->parts));
    }
    p = &in->parts[in->nparts];
    memset(p, 0, sizeof(*p));
    p->topic = ow_xstrdup(topic);
    p->partition = partition;
    p->topic_idx = SIZE_MAX;
    p->next = p->start = p->committed = p->applied = p->saved = p->saving = -1;
    for (size_t i = 0; i < in->lv->cfg->kafka.input_topics.count; i++) {
        if (strcmp(in->lv->cfg->kafka.input_topics.items[i], topic) == 0) {
            p->topic_idx = i;
        }
    }
    in->last_part = in->nparts++;
    return p;
}

static void reset_part(struct part *p)
{
    p->next = -1;
    p->start = -1;
    p->committed = -1;
    p->nmarks = 0;
    p->touched = false;
    p->at_end = false;
}

static void update_assigned(struct ow_kafka_in *in)
{
    bool any = false;

    for (size_t i = 0; i < in->nparts; i++) {
        any = any || in->parts[i].assigned;
    }
    in->lv->assigned = any;
}

static rd_kafka_topic_partition_list_t *assigned_list(struct ow_kafka_in *in)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)in->nparts + 1);

    for (size_t i = 0; i < in->nparts; i++) {
        if (in->parts[i].assigned) {
            rd_kafka_topic_partition_list_add(l, in->parts[i].topic, in->parts[i].partition);
        }
    }
    return l;
}

/* Where reading @p would resume: after the last applied message, else the saved position;
 * -1 when neither is known. */
static int64_t resume_position(const struct part *p)
{
    return p->applied >= 0 ? p->applied : p->saved;
}

/* ---- commits ---- */

/* Commit @l (asynchronously unless @sync), logging the outcome. */
static void commit_list(struct ow_kafka_in *in, rd_kafka_topic_partition_list_t *l, bool sync)
{
    rd_kafka_resp_err_t e = rd_kafka_commit(in->rk, l, sync ? 0 : 1);

    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ow_log_warn("kafka_in", "commit of %d partitions failed: %s", l->cnt, rd_kafka_err2str(e));
    } else {
        ow_log_debug("kafka_in", "commit partitions=%d sync=%d", l->cnt, sync);
    }
}

void ow_kafka_in_commit_upto(struct ow_kafka_in *in, uint64_t acked_seq, bool sync)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)in->nparts + 1);

    for (size_t i = 0; i < in->nparts; i++) {
        struct part *p = &in->parts[i];
        size_t k = 0;
        int64_t off = -1;

        if (!p->assigned) {
            continue;
        }
        while (k < p->nmarks && p->marks[k].seq <= acked_seq) {
            off = p->marks[k].next;
            k++;
        }
        if (k > 0) {
            memmove(p->marks, p->marks + k, (p->nmarks - k) * sizeof(*p->marks));
            p->nmarks -= k;
        }
        if (off > p->committed) {
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = off;
            p->committed = off;
        }
    }
    if (l->cnt > 0) {
        commit_list(in, l, sync);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

json_t *ow_kafka_in_offsets(struct ow_kafka_in *in)
{
    json_t *o = json_object();

    for (size_t i = 0; i < in->nparts; i++) {
        struct part *p = &in->parts[i];
        int64_t pos = resume_position(p);
        json_t *t;
        char n[16];

        p->saving = pos;

        if (pos < 0) {
            continue;
        }
        t = json_object_get(o, p->topic);
        if (t == NULL) {
            t = json_object();
            json_object_set_new(o, p->topic, t);
        }
        snprintf(n, sizeof(n), "%" PRId32, p->partition);
        json_object_set_new(t, n, json_integer(pos));
    }
    return o;
}

void ow_kafka_in_commit_saved(struct ow_kafka_in *in, bool sync)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)in->nparts + 1);

    for (size_t i = 0; i < in->nparts; i++) {
        struct part *p = &in->parts[i];

        if (p->saving >= 0) {
            p->saved = p->saving;
        }
        p->nmarks = 0; /* the outbox replaces the acknowledgement marks */
        if (p->assigned && p->saved > p->committed) {
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->saved;
            p->committed = p->saved;
        }
    }
    if (l->cnt > 0 && !in->rebalancing) {
        commit_list(in, l, sync);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

rd_kafka_topic_partition_list_t *ow_kafka_in_txn_offsets(struct ow_kafka_in *in,
                                                         const char *metadata)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)in->nparts + 1);

    for (size_t i = 0; i < in->nparts; i++) {
        struct part *p = &in->parts[i];
        int64_t pos = resume_position(p);
        rd_kafka_topic_partition_t *e;

        if (!p->assigned || pos < 0) {
            continue;
        }
        e = rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
        e->offset = pos;
        e->metadata = ow_xstrdup(metadata); /* freed with the list */
        e->metadata_size = strlen(metadata);
        p->saved = pos;
        p->committed = pos;
    }
    return l;
}

rd_kafka_consumer_group_metadata_t *ow_kafka_in_group_metadata(struct ow_kafka_in *in)
{
    return rd_kafka_consumer_group_metadata(in->rk);
}

/* A client of the group that never joins it, to ask for committed offsets. Why not the
 * consumer itself: it has just subscribed, and its offset request waits behind its join
 * request on the coordinator's connection (3 s on the mock, up to the broker's initial
 * rebalance delay on Kafka), so the answer came too late. */
static int set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen);

static rd_kafka_t *lookup_client(struct ow_kafka_in *in)
{
    const struct ow_config_kafka *k = &in->lv->cfg->kafka;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    rd_kafka_t *rk;

    if (set(conf, "group.id", k->group_id, err, sizeof(err)) < 0 ||
        ow_kafka_conf_apply(conf, k, true, err, sizeof(err)) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

int64_t ow_kafka_in_committed_txn(struct ow_kafka_in *in, const json_t *offsets)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    const char *topic;
    const char *pn;
    json_t *parts;
    json_t *off;
    int64_t best = 0;

    json_object_foreach((json_t *)offsets, topic, parts)
    {
        json_object_foreach(parts, pn, off)
        {
            rd_kafka_topic_partition_list_add(l, topic, (int32_t)strtol(pn, NULL, 10));
        }
    }
    if (l->cnt > 0) {
        rd_kafka_t *rk = lookup_client(in);

        if (rk == NULL || rd_kafka_committed(rk, l, COMMITTED_TIMEOUT_MS) != 0) {
            best = -1;
        }
        if (rk != NULL) {
            rd_kafka_destroy(rk);
        }
    }
    for (int i = 0; best >= 0 && i < l->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &l->elems[i];
        char buf[64];
        size_t n = e->metadata_size < sizeof(buf) - 1 ? e->metadata_size : sizeof(buf) - 1;

        if (e->metadata == NULL || n == 0) {
            continue;
        }
        memcpy(buf, e->metadata, n);
        buf[n] = '\0';
        if (strncmp(buf, OW_TXN_METADATA_PREFIX, strlen(OW_TXN_METADATA_PREFIX)) == 0) {
            int64_t v = strtoll(buf + strlen(OW_TXN_METADATA_PREFIX), NULL, 10);

            best = v > best ? v : best;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return best;
}

json_t *ow_kafka_in_topics_last(const struct ow_kafka_in *in)
{
    json_t *o = json_object();

    for (size_t i = 0; i < in->ntopics; i++) {
        json_object_set_new(o, in->lv->cfg->kafka.input_topics.items[i],
                            json_integer(in->topic_last_wall[i]));
    }
    return o;
}

void ow_kafka_in_set_topics_last(struct ow_kafka_in *in, const json_t *saved)
{
    int64_t now = ow_wall_us();

    for (size_t i = 0; i < in->ntopics; i++) {
        const json_t *v = json_object_get(saved, in->lv->cfg->kafka.input_topics.items[i]);

        /* Never in the future (a clock set back): silence is then counted from now. */
        if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= now) {
            in->topic_last_wall[i] = json_integer_value(v);
        }
    }
}

int ow_kafka_in_set_saved(struct ow_kafka_in *in, const json_t *offsets, char *err, size_t errlen)
{
    const char *topic;
    const char *pn;
    json_t *parts;
    json_t *off;

    if (offsets == NULL) {
        return 0;
    }
    if (!json_is_object(offsets)) {
        snprintf(err, errlen, "the saved input offsets are not an object");
        return -1;
    }
    json_object_foreach((json_t *)offsets, topic, parts)
    {
        json_object_foreach(parts, pn, off)
        {
            char *end;
            long n = strtol(pn, &end, 10);

            if (*end != '\0' || n < 0 || n > INT32_MAX || !json_is_integer(off) ||
                json_integer_value(off) < 0) {
                snprintf(err, errlen, "saved input offset %s/%s is malformed", topic, pn);
                return -1;
            }
            find_part(in, topic, (int32_t)n, true)->saved = json_integer_value(off);
        }
    }
    return 0;
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    struct ow_kafka_in *in = opaque;

    (void)rk;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) {
        return;
    }
    /* Commit these again at the next checkpoint (the saved state has them anyway). */
    for (int i = 0; offsets != NULL && i < offsets->cnt; i++) {
        struct part *p = find_part(in, offsets->elems[i].topic, offsets->elems[i].partition, false);

        if (p != NULL && p->committed == offsets->elems[i].offset) {
            p->committed = -1;
        }
    }
    if (err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
        err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION) {
        /* A rebalance has begun: no commit until the next assignment (a commit racing a
         * rebalance can lose the assignment in librdkafka 2.0.2). */
        in->rebalancing = true;
        ow_log_info("kafka_in",
                    "offset commit refused (%s): no commit until the next "
                    "assignment",
                    rd_kafka_err2str(err));
        return;
    }
    in->lv->counters.consumer_errors++;
    ow_log_warn("kafka_in", "offset commit failed: %s", rd_kafka_err2str(err));
}

/* ---- rebalance ---- */

static void on_assign(struct ow_kafka_in *in, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t e;

    int from_state = 0;

    /* Where each partition starts, so "caught up" is known before the first message. The
     * position of the engine's state beats the group's committed offset: the state holds the
     * effects of exactly the messages before it (commits trail saves, and may be lost). */
    e = rd_kafka_committed(in->rk, c, COMMITTED_TIMEOUT_MS);
    for (int i = 0; i < parts->cnt; i++) {
        struct part *p = find_part(in, parts->elems[i].topic, parts->elems[i].partition, true);
        int64_t pos = resume_position(p);

        reset_part(p);
        p->assigned = true;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && c->elems[i].offset >= 0) {
            p->start = c->elems[i].offset;
            p->committed = c->elems[i].offset;
        }
        if (pos >= 0) {
            parts->elems[i].offset = pos;
            p->start = pos;
            from_state++;
        } else if (in->lv->rebuild) {
            parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
            p->start = -1;
        }
    }
    rd_kafka_topic_partition_list_destroy(c);
    in->rebalancing = false;
    if (strcmp(rd_kafka_rebalance_protocol(in->rk), "COOPERATIVE") == 0) {
        rd_kafka_error_t *err = rd_kafka_incremental_assign(in->rk, parts);

        if (err != NULL) {
            ow_log_error("kafka_in", "incremental assign: %s", rd_kafka_error_string(err));
            rd_kafka_error_destroy(err);
        }
    } else {
        rd_kafka_assign(in->rk, parts);
    }
    if (in->paused) {
        rd_kafka_pause_partitions(in->rk, parts);
    }
    update_assigned(in);
    ow_log_info("kafka_in", "assigned partitions=%d (%d at the saved state's offsets%s)",
                parts->cnt, from_state,
                in->lv->rebuild ? "; --rebuild: others from the beginning" : "");
}

static void on_revoke(struct ow_kafka_in *in, rd_kafka_topic_partition_list_t *parts)
{
    /* Hand over what is safe; the rest is re-read by the next owner (counted once there). */
    in->checkpoint(in->lv, true);
    in->rebalancing = true;
    for (int i = 0; i < parts->cnt; i++) {
        struct part *p = find_part(in, parts->elems[i].topic, parts->elems[i].partition, false);

        if (p != NULL) {
            p->assigned = false;
            reset_part(p);
        }
    }
    if (strcmp(rd_kafka_rebalance_protocol(in->rk), "COOPERATIVE") == 0) {
        rd_kafka_error_t *err = rd_kafka_incremental_unassign(in->rk, parts);

        if (err != NULL) {
            rd_kafka_error_destroy(err);
        }
    } else {
        rd_kafka_assign(in->rk, NULL);
    }
    update_assigned(in);
    ow_log_info("kafka_in", "revoked partitions=%d", parts->cnt);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct ow_kafka_in *in = opaque;

    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(in, parts);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        on_revoke(in, parts);
    } else {
        ow_log_error("kafka_in", "rebalance error: %s", rd_kafka_err2str(err));
        rd_kafka_assign(in->rk, NULL);
        update_assigned(in);
    }
}

/* A fatal error ends the consumer for good. Fenced (another member joined the group under this
 * group.instance.id): that member is this instance as far as the group knows, so this one steps
 * aside and exits 0; restarted, it would fence the other in turn, and so on. Any other fatal
 * error: exit 1, and the supervisor's restart makes a new client. */
static void consumer_fatal(struct ow_kafka_in *in)
{
    char why[512];
    rd_kafka_resp_err_t e = rd_kafka_fatal_error(in->rk, why, sizeof(why));

    if (in->stopping) {
        /* Already on its way out (the error comes both as a message and a callback). */
        ow_log_warn("kafka_in", "consumer: fatal error %s while stopping: %s", rd_kafka_err2name(e),
                    why);
        return;
    }
    if (e == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID) {
        ow_log_error("kafka_in",
                     "consumer fenced: another member of group %s joined with this "
                     "group.instance.id (kafka.static_membership: the same host name and "
                     "state folder; or kafka.properties): stopping, exit 0",
                     in->lv->cfg->kafka.group_id);
        in->lv->client_fatal(in->lv, 0, "consumer fenced");
        return;
    }
    ow_log_error("kafka_in", "consumer: fatal error %s: %s: stopping, exit 1", rd_kafka_err2name(e),
                 why);
    in->lv->client_fatal(in->lv, 1, "the consumer's fatal error");
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct ow_kafka_in *in = opaque;

    (void)rk;
    in->lv->counters.consumer_errors++;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        consumer_fatal(in);
        return;
    }
    ow_log_warn("kafka_in", "consumer: %s: %s", rd_kafka_err2name(err), reason);
}

/* ---- draining ---- */

static void handle(struct ow_kafka_in *in, rd_kafka_message_t *m, int64_t now)
{
    struct ow_source src;
    struct part *p;

    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        /* Everything before it on this partition has been handled (one queue, in order). */
        p = m->rkt != NULL ? find_part(in, rd_kafka_topic_name(m->rkt), m->partition, false) : NULL;
        if (p != NULL && p->assigned) {
            p->at_end = true;
        }
        return;
    }
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        /* On the consumer queue librdkafka hands a fatal error over as a message. */
        in->lv->counters.consumer_errors++;
        consumer_fatal(in);
        return;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        in->lv->counters.consumer_errors++;
        ow_log_warn("kafka_in", "consume: %s%s%s", rd_kafka_message_errstr(m),
                    m->rkt != NULL ? " topic=" : "",
                    m->rkt != NULL ? rd_kafka_topic_name(m->rkt) : "");
        return;
    }
    src.topic = rd_kafka_topic_name(m->rkt);
    src.partition = m->partition;
    src.offset = m->offset;
    src.received_us = now;
    ow_engine_apply(in->lv->eng, m->payload != NULL ? m->payload : "", m->len, &src);
    p = find_part(in, src.topic, src.partition, true);
    p->next = m->offset + 1;
    p->applied = p->next;
    p->touched = true;
    p->at_end = false;
    if (p->topic_idx != SIZE_MAX) {
        in->topic_last_wall[p->topic_idx] = now;
    }
    in->messages++;
}

static void prefetch(struct ow_kafka_in *in, const rd_kafka_message_t *m)
{
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->payload != NULL) {
        ow_engine_prefetch(in->lv->eng, m->payload, m->len);
    }
}

/* Ask for a message's payload lines. The fetch thread wrote them well before the loop gets to
 * them (the queue holds up to queued.max.messages.kbytes), so they are no longer in any cache;
 * each event's bytes were a few demand misses in a row.
 * Why the first payload on each page is read, not prefetched: the payloads sit in fetch
 * buffers librdkafka has just allocated, on pages the loop has not touched, and a prefetch
 * that misses the TLB is dropped here (a read in its place moved the stall from the decoder's
 * first look at the payload to the read: README, "Durability / Measured"). One read per 4 KiB
 * page fills the TLB entry, and the prefetches of the next twenty-odd payloads on that page
 * then take. */
static void prefetch_payload(struct ow_kafka_in *in, const rd_kafka_message_t *m)
{
    const char *p = m->payload;
    size_t n = m->len < PREFETCH_PAYLOAD_MAX ? m->len : PREFETCH_PAYLOAD_MAX;
    uintptr_t page;

    if (p == NULL || m->len == 0) {
        return; /* nothing to read (an empty value may still point past its buffer's end) */
    }
    page = (uintptr_t)p >> PAYLOAD_PAGE_SHIFT;
    if (page != in->payload_page) {
        in->payload_page = page;
        (void)*(const volatile char *)p;
    }
    for (size_t off = 0; off < n; off += 64) {
        __builtin_prefetch(p + off);
    }
}

static void mark_batch(struct ow_kafka_in *in)
{
    uint64_t seq = in->lv->out != NULL ? ow_kafka_out_emitted(in->lv->out) : 0;

    for (size_t i = 0; i < in->nparts; i++) {
        struct part *p = &in->parts[i];

        if (!p->touched) {
            continue;
        }
        p->touched = false;
        if (p->nmarks > 0 && p->marks[p->nmarks - 1].seq == seq) {
            p->marks[p->nmarks - 1].next = p->next;
            continue;
        }
        if (p->nmarks == p->capmarks) {
            p->capmarks = p->capmarks == 0 ? 16 : p->capmarks * 2;
            p->marks = ow_xrealloc(p->marks, p->capmarks * sizeof(*p->marks));
        }
        p->marks[p->nmarks].next = p->next;
        p->marks[p->nmarks].seq = seq;
        p->nmarks++;
    }
}

static void on_idle(uv_idle_t *h);

/* Read up to @want messages and apply them; returns how many came. Rebalances, errors and
 * commit results on the queue are served by their callbacks inside the call. */
static ssize_t consume_chunk(struct ow_kafka_in *in, size_t want, int64_t now)
{
    rd_kafka_message_t *msgs[CONSUME_CHUNK];
    ssize_t got;

    /* A chunk per call: one lock of the queue, not one per message. */
    got = rd_kafka_consume_batch_queue(in->q, 0, msgs, want < CONSUME_CHUNK ? want : CONSUME_CHUNK);
    if (got <= 0) {
        return 0;
    }
    /* Two stages, so the misses overlap with the work in between: a message's payload is asked
     * for 2 * PREFETCH_AHEAD messages early; PREFETCH_AHEAD early, its id (by then in cache)
     * gives the remembered-id slot, a miss at a random place, to ask for (as replay does).
     * Measured in bench_live --only consume: the loop's CPU per event fell by 3 to 14% (four
     * alternating pairs). */
    for (ssize_t i = 0; i < got && i < 2 * PREFETCH_AHEAD; i++) {
        prefetch_payload(in, msgs[i]);
    }
    for (ssize_t i = 0; i < got && i < PREFETCH_AHEAD; i++) {
        prefetch(in, msgs[i]);
    }
    for (ssize_t i = 0; i < got; i++) {
        if (i + 2 * PREFETCH_AHEAD < got) {
            prefetch_payload(in, msgs[i + 2 * PREFETCH_AHEAD]);
        }
        if (i + PREFETCH_AHEAD < got) {
            prefetch(in, msgs[i + PREFETCH_AHEAD]);
        }
        handle(in, msgs[i], now);
        rd_kafka_message_destroy(msgs[i]);
    }
    return got;
}

static void drain(struct ow_kafka_in *in)
{
    int64_t now = ow_wall_us();
    int64_t max = in->lv->cfg->kafka.batch_max;
    int64_t n = 0;
    bool more = false;

    ow_engine_set_wall_clock(in->lv->eng, now);
    while (!in->stopping && !in->paused) {
        ssize_t got;

        if (n == max) {
            more = true;
            break;
        }
        got = consume_chunk(in, (size_t)(max - n), now);
        if (got == 0) {
            break;
        }
        n += got;
    }
    if (n > 0) {
        in->last_msg_mono = ow_mono_us();
        mark_batch(in);
    }
    if (more && !in->stopping && !in->paused) {
        in->in_backlog = true;
        uv_idle_start(&in->idle, on_idle);
        return;
    }
    uv_idle_stop(&in->idle);
    /* The end of a backlog: save and commit now, not up to a checkpoint interval later (a
     * backfill's offsets are committed as soon as it is applied). */
    if (in->in_backlog && !in->stopping && !in->paused && ow_kafka_in_caught_up(in)) {
        in->in_backlog = false;
        in->checkpoint(in->lv, false);
    }
}

static void on_idle(uv_idle_t *h)
{
    drain(h->data);
}

/* librdkafka takes a consumer out of its group when the application has not asked its queue
 * for max.poll.interval.ms (5 min by default; never below session.timeout.ms, at least 6 s on
 * a default broker). The loop asks only when the queue signals something, so a quiet input,
 * or a pause while saves fail, would cost the partitions and a rebalance. Once a second the
 * queue is asked anyway; paused, what it holds (a rebalance, a message of a partition assigned
 * meanwhile) is served as in a drain. */
static void on_keepalive(uv_timer_t *t)
{
    struct ow_kafka_in *in = t->data;
    int64_t now = ow_wall_us();

    if (in->stopping) {
        return;
    }
    if (!in->paused) {
        drain(in);
        return;
    }
    ow_engine_set_wall_clock(in->lv->eng, now);
    if (consume_chunk(in, CONSUME_CHUNK, now) > 0) {
        in->last_msg_mono = ow_mono_us();
        mark_batch(in);
    }
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    struct ow_kafka_in *in = h->data;
    char buf[256];

    (void)status;
    (void)events;
    /* Empty the pipe first: a write after this is a new wake-up, not a lost one. */
    while (read(in->pipefd[0], buf, sizeof(buf)) > 0) {
    }
    drain(in);
}

/* Resuming starts a new fetch (a new version in librdkafka), which reports the end again:
 * until then what the broker said before the pause is not known to hold. (While paused,
 * ow_kafka_in_caught_up is false whatever at_end says.) */
static void forget_ends(struct ow_kafka_in *in)
{
    for (size_t i = 0; i < in->nparts; i++) {
        in->parts[i].at_end = false;
    }
}

void ow_kafka_in_pause(struct ow_kafka_in *in)
{
    rd_kafka_topic_partition_list_t *l;

    if (in->paused) {
        return;
    }
    in->paused = true;
    l = assigned_list(in);
    rd_kafka_pause_partitions(in->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

void ow_kafka_in_resume(struct ow_kafka_in *in)
{
    rd_kafka_topic_partition_list_t *l;

    if (!in->paused || in->lv->save_failing) {
        return;
    }
    in->paused = false;
    forget_ends(in);
    l = assigned_list(in);
    rd_kafka_resume_partitions(in->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (!in->stopping && in->handles_open) {
        uv_idle_start(&in->idle, on_idle); /* what is already queued raises no new event */
    }
}

/* ---- state for the loop and /metrics ---- */

static int64_t position(struct ow_kafka_in *in, const struct part *p, int64_t *high)
{
    int64_t lo = -1;
    int64_t hi = -1;
    int64_t pos;

    if (rd_kafka_get_watermark_offsets(in->rk, p->topic, p->partition, &lo, &hi) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        lo = hi = -1;
    }
    *high = hi;
    pos = p->next >= 0 ? p->next : p->start;
    if (p->next < 0 && lo >= 0 && pos < lo) {
        pos = lo; /* nothing consumed yet: the fetch starts at the log start at the earliest */
    }
    return pos;
}

bool ow_kafka_in_caught_up(struct ow_kafka_in *in)
{
    bool any = false;

    if (in->paused) {
        return false; /* nothing is fetched: what the broker holds now is not known */
    }
    for (size_t i = 0; i < in->nparts; i++) {
        const struct part *p = &in->parts[i];

        /* A partition of an input topic known here but not assigned now (during a rebalance,
         * or saved from before it) may hold events this instance has not applied: the wall
         * clock must not move the watermark past them (they would come as late, or as dead
         * letters of expired windows). */
        if (!p->assigned) {
            if (p->topic_idx != SIZE_MAX) {
                return false;
            }
            continue;
        }
        /* Why the broker's own "end" and not position >= the cached high watermark: the cache
         * outlives a revocation. Given a partition back, the daemon compared its position
         * with the high watermark from before the rebalance until the first fetch answered;
         * quiet since before the rebalance, it let the wall clock close January while the
         * events produced meanwhile were still to come (the kill test's rebalance, about one
         * run in five; test_live forces it with slow fetch responses). */
        if (!p->at_end) {
            return false;
        }
        any = true;
    }
    return any;
}

void ow_kafka_in_foreach_partition(struct ow_kafka_in *in,
                                   void (*fn)(const char *topic, int32_t partition,
                                              int64_t position, int64_t high, void *arg),
                                   void *arg)
{
    for (size_t i = 0; i < in->nparts; i++) {
        const struct part *p = &in->parts[i];
        int64_t hi;
        int64_t pos;

        if (!p->assigned) {
            continue;
        }
        pos = position(in, p, &hi);
        fn(p->topic, p->partition, pos, hi, arg);
    }
}

int64_t ow_kafka_in_last_message_us(const struct ow_kafka_in *in)
{
    return in->last_msg_mono;
}

int64_t ow_kafka_in_topic_last_us(const struct ow_kafka_in *in, size_t i)
{
    return i < in->ntopics ? in->topic_last_wall[i] : 0;
}

bool ow_kafka_in_in_backlog(const struct ow_kafka_in *in)
{
    return in->in_backlog;
}

uint64_t ow_kafka_in_messages(const struct ow_kafka_in *in)
{
    return in->messages;
}

/* ---- life cycle ---- */

static int set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    char why[512];

    if (rd_kafka_conf_set(conf, k, v, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka property '%s': rejected by librdkafka", k);
        return -1;
    }
    return 0;
}

/* The consumer's group.instance.id (kafka.static_membership) unless kafka.properties names one
 * (they are applied after it): the host and the state folder, the two things that make an
 * instance this one. Why static membership: a dynamic member that crashed stays in the group
 * until session.timeout.ms (45 s by default) runs out, and its successor's join waits for
 * that; an empty group also waits for the broker's group.initial.rebalance.delay.ms (3 s by
 * default). A static member that comes back under its id takes its old assignment at once,
 * after a crash or a stop (it does not leave the group when it stops). Measured on a Kafka 3.9
 * broker: README, "Restart". */
static void static_member_id(const struct ow_config *cfg, char *out, size_t len)
{
    char host[256] = "";
    char hex[65];
    char *abs = realpath(cfg->live.state_dir, NULL);
    const char *dir = abs != NULL ? abs : cfg->live.state_dir;

    if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
        snprintf(host, sizeof(host), "localhost");
    }
    ow_sha256_hex(dir, strlen(dir), hex);
    snprintf(out, len, "opswatch-%s-%.12s", host, hex);
    free(abs);
}

struct ow_kafka_in *ow_kafka_in_create(struct ow_live *lv, ow_kafka_in_checkpoint_fn checkpoint,
                                       char *err, size_t errlen)
{
    struct ow_kafka_in *in = ow_xcalloc(1, sizeof(*in));
    const struct ow_config_kafka *k = &lv->cfg->kafka;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *topics;
    rd_kafka_resp_err_t e;
    char why[512];
    char member[320];
    int64_t now = ow_wall_us();

    in->lv = lv;
    in->checkpoint = checkpoint;
    in->pipefd[0] = in->pipefd[1] = -1;
    in->last_msg_mono = ow_mono_us();
    in->ntopics = k->input_topics.count;
    in->topic_last_wall = ow_xcalloc(in->ntopics + 1, sizeof(*in->topic_last_wall));
    for (size_t i = 0; i < in->ntopics; i++) {
        in->topic_last_wall[i] = now;
    }
    if (k->static_membership) {
        static_member_id(lv->cfg, member, sizeof(member));
    }
    if (set(conf, "group.id", k->group_id, err, errlen) < 0 ||
        (k->static_membership && set(conf, "group.instance.id", member, err, errlen) < 0) ||
        set(conf, "auto.offset.reset", "earliest", err, errlen) < 0 ||
        ow_kafka_conf_apply(conf, k, true, err, errlen) < 0 ||
        set(conf, "enable.auto.commit", "false", err, errlen) < 0 ||
        set(conf, "enable.auto.offset.store", "false", err, errlen) < 0 ||
        set(conf, "enable.partition.eof", "true", err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_opaque(conf, in);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    in->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (in->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "cannot create the consumer: %s", why);
        goto fail;
    }
    /* Everything (rebalances, errors, commits, messages) through one queue, served here. */
    rd_kafka_poll_set_consumer(in->rk);
    if (pipe2(in->pipefd, O_NONBLOCK | O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    in->q = rd_kafka_queue_get_consumer(in->rk);
    rd_kafka_queue_io_event_enable(in->q, in->pipefd[1], "c", 1);
    topics = rd_kafka_topic_partition_list_new((int)k->input_topics.count);
    for (size_t i = 0; i < k->input_topics.count; i++) {
        rd_kafka_topic_partition_list_add(topics, k->input_topics.items[i], RD_KAFKA_PARTITION_UA);
    }
    e = rd_kafka_subscribe(in->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "subscribe: %s", rd_kafka_err2str(e));
        goto fail;
    }
    uv_poll_init(lv->loop, &in->poll, in->pipefd[0]);
    in->poll.data = in;
    uv_poll_start(&in->poll, UV_READABLE, on_readable);
    uv_idle_init(lv->loop, &in->idle);
    in->idle.data = in;
    uv_timer_init(lv->loop, &in->keepalive);
    in->keepalive.data = in;
    uv_timer_start(&in->keepalive, on_keepalive, KEEPALIVE_MS, KEEPALIVE_MS);
    in->handles_open = true;
    in->polling = true;
    uv_idle_start(&in->idle, on_idle); /* serve anything queued before the fd was set */
    ow_log_info("kafka_in", "consumer group=%s topics=%zu batch_max=%" PRId64, k->group_id,
                k->input_topics.count, k->batch_max);
    return in;
fail:
    ow_kafka_in_destroy(in);
    return NULL;
}

void ow_kafka_in_stop(struct ow_kafka_in *in)
{
    in->stopping = true;
    if (in->polling) {
        uv_poll_stop(&in->poll);
        uv_idle_stop(&in->idle);
        uv_timer_stop(&in->keepalive);
        in->polling = false;
    }
}

void ow_kafka_in_close(struct ow_kafka_in *in)
{
    rd_kafka_resp_err_t e;

    ow_kafka_in_stop(in);
    if (in->handles_open) {
        uv_close((uv_handle_t *)&in->poll, NULL);
        uv_close((uv_handle_t *)&in->idle, NULL);
        uv_close((uv_handle_t *)&in->keepalive, NULL);
        in->handles_open = false;
    }
    if (in->closing || in->rk == NULL) {
        return;
    }
    in->closing = true;
    e = rd_kafka_consumer_close(in->rk); /* revokes (rebalance_cb) and leaves the group */
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ow_log_warn("kafka_in", "leaving the group: %s", rd_kafka_err2str(e));
    } else {
        ow_log_info("kafka_in", "left the group");
    }
}

void ow_kafka_in_destroy(struct ow_kafka_in *in)
{
    if (in == NULL) {
        return;
    }
    if (in->q != NULL) {
        rd_kafka_queue_io_event_enable(in->q, -1, NULL, 0);
        rd_kafka_queue_destroy(in->q);
    }
    if (in->rk != NULL) {
        rd_kafka_destroy(in->rk);
    }
    for (int i = 0; i < 2; i++) {
        if (in->pipefd[i] >= 0) {
            close(in->pipefd[i]);
        }
    }
    for (size_t i = 0; i < in->nparts; i++) {
        free(in->parts[i].topic);
        free(in->parts[i].marks);
    }
    free(in->parts);
    free(in->topic_last_wall);
    free(in);
}
