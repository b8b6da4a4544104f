/* bench_relay.c: the floor of the latency bench. The least a Kafka-to-Kafka processor can do:
 * read the input with opswatchd's consumer settings and, for each latency event that would
 * fire an alert (a party "LAT-<n>"), produce a record keyed as opswatchd keys that alert, with
 * opswatchd's producer settings. No parsing, no state, no saves. bench_live runs it as a child
 * in place of opswatchd, so the time it adds to the raw consume is the cost of the second
 * Kafka hop on this machine, and what opswatchd adds beyond it is its own.
 *
 * usage: bench_relay BOOTSTRAP INPUT_TOPIC PARTITIONS OUTPUT_TOPIC
 * Assigns every input partition from its end, prints "ready" once it has produced a first
 * record, and runs until SIGTERM or SIGINT. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kafka_out.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *bootstrap, const char *const props[][2])
{
    char why[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, why, sizeof(why)) != 0) {
        goto fail;
    }
    for (int i = 0; props[i][0] != NULL; i++) {
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], why, sizeof(why)) != 0) {
            goto fail;
        }
    }
    rk = rd_kafka_new(type, conf, why, sizeof(why));
    if (rk != NULL) {
        return rk;
    }
fail:
    fprintf(stderr, "bench_relay: %s\n", why);
    if (conf != NULL) {
        rd_kafka_conf_destroy(conf);
    }
    exit(1);
}

int main(int argc, char **argv)
{
    /* kafka_out.c's settings: the same as opswatchd's on both sides. */
    static const char *const consumer_props[][2] = {
        {"group.id", "bench-relay"},
        {"fetch.wait.max.ms", "5"},
        {"queued.min.messages", OW_KAFKA_QUEUED_MIN_MESSAGES},
        {"queued.max.messages.kbytes", OW_KAFKA_QUEUED_MAX_KBYTES},
        {"enable.auto.commit", "false"},
        {NULL, NULL},
    };
    static const char *const producer_props[][2] = {
        {"linger.ms", "0"},
        {"enable.idempotence", "true"},
        {NULL, NULL},
    };
    rd_kafka_topic_partition_list_t *parts;
    rd_kafka_t *in;
    rd_kafka_t *out;
    int nparts;

    if (argc != 5 || (nparts = atoi(argv[3])) <= 0) {
        fprintf(stderr, "usage: bench_relay BOOTSTRAP INPUT_TOPIC PARTITIONS OUTPUT_TOPIC\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    in = client(RD_KAFKA_CONSUMER, argv[1], consumer_props);
    out = client(RD_KAFKA_PRODUCER, argv[1], producer_props);
    rd_kafka_poll_set_consumer(in);
    parts = rd_kafka_topic_partition_list_new(nparts);
    for (int i = 0; i < nparts; i++) {
        rd_kafka_topic_partition_list_add(parts, argv[2], i)->offset = RD_KAFKA_OFFSET_END;
    }
    rd_kafka_assign(in, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    /* Warm, as the long-running opswatchd is: the output topic's metadata and the idempotent
     * producer's id, through one record the bench ignores; then say so on stdout. */
    if (rd_kafka_producev(out, RD_KAFKA_V_TOPIC(argv[4]), RD_KAFKA_V_KEY("relay-warm-up", 13),
                          RD_KAFKA_V_VALUE("{}", 2), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_END) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_flush(out, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "bench_relay: cannot produce to %s\n", argv[4]);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    while (!stopping) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(in, 100);
        const char *p;

        rd_kafka_poll(out, 0);
        if (m == NULL) {
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            (p = memmem(m->payload, m->len, "\"LAT-", 5)) != NULL) {
            char key[64];
            int n = snprintf(key, sizeof(key), "csr_no_forecast/relay/party_id=LAT-%ld",
                             strtol(p + 5, NULL, 10));

            rd_kafka_producev(out, RD_KAFKA_V_TOPIC(argv[4]), RD_KAFKA_V_KEY(key, (size_t)n),
                              RD_KAFKA_V_VALUE(m->payload, m->len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_flush(out, 5000);
    rd_kafka_consumer_close(in);
    rd_kafka_destroy(in);
    rd_kafka_destroy(out);
    return 0;
}
