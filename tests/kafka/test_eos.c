/* test_eos.c: kafka.exactly_once on the mock cluster in this process.
 *
 * What the mock can show: outputs and input offsets go through Kafka transactions (the offsets
 * the group has committed carry the transaction's number as metadata, and arrive only with the
 * transaction), and after a restart the saved outbox is sent again exactly when the group's
 * committed offsets say its transaction did not commit. What it cannot: the mock keeps no
 * transaction markers, so a read_committed consumer also sees the records of an aborted
 * transaction, nor the offsets a transaction commits (commit_as_transaction writes them with a
 * plain commit). Both are tested against a real broker in test_broker_eos.c
 * (make test-broker): SIGKILLs with a transaction open, outputs read_committed once each and
 * equal to the replay, aborted records seen read_uncommitted, and the group's offsets with
 * "opswatch-txn:N" committed by the transaction itself. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define IN_TOPIC "e.in"
#define NOUT 4
#define PARTS 2

static const char *const out_topics[NOUT] = {"e.alerts", "e.aggregates", "e.deadletter",
                                             "e.snapshots"};

static void cluster_start(struct harness *c)
{
    static const char *const in_topic[] = {IN_TOPIC};

    assert_int_equal(harness_start(c, 1, NULL), 0);
    assert_int_equal(harness_topics_create(c, in_topic, 1, PARTS, 1), 0);
    assert_int_equal(harness_topics_create(c, out_topics, NOUT, 1, 1), 0);
    assert_int_equal(harness_make_dir(c, "ow-test-eos"), 0);
    c->port = 40000 + (int)(getpid() % 20000);
}

static void write_config(struct harness *c)
{
    struct harness_config hc = {
        .top = "",
        .group = "eos",
        .input = IN_TOPIC,
        .properties = "\"session.timeout.ms\": \"6000\"",
        .outputs = out_topics,
        .live = ", \"checkpoint_interval\": \"300ms\", \"stale_after\": \"0s\"",
        .http = true,
    };

    assert_int_equal(harness_write_config(c, &hc), 0);
}

/* Write "exactly_once": true into the configuration written by write_config. Why as a
 * dynamic member: commit_as_transaction joins the group itself once the daemon has stopped,
 * and a static member stays in the group after it stops; the mock then never hands the test's
 * consumer a partition. */
static void enable_exactly_once(struct harness *c)
{
    json_error_t je;
    json_t *cfg = json_load_file(c->cfg_path, 0, &je);

    assert_non_null(cfg);
    json_object_set_new(json_object_get(cfg, "kafka"), "exactly_once", json_true());
    json_object_set_new(json_object_get(cfg, "kafka"), "static_membership", json_false());
    assert_int_equal(json_dump_file(cfg, c->cfg_path, JSON_INDENT(1)), 0);
    json_decref(cfg);
}

/* @n events, each a csr of its own party (so each raises csr_no_forecast), an hour ago, and
 * one line that is not JSON (a dead letter): @n + 1 messages. */
static void produce_events(struct harness *c, int first, int n)
{
    char when[40];
    char line[400];
    time_t t = time(NULL) - 3600;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    for (int i = first; i < first + n; i++) {
        int len = snprintf(line, sizeof(line),
                           "{\"event_id\":\"eos-%d\",\"type\":\"csr\",\"schema_version\":1,"
                           "\"occurred_at\":\"%s\",\"party_id\":\"EOS-%d\",\"batched\":false,"
                           "\"count\":1,\"region\":\"north\"}",
                           i, when, i);

        assert_int_equal(harness_produce(c, IN_TOPIC, i % PARTS, line, (size_t)len),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(harness_produce(c, IN_TOPIC, 0, "not json", 8), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(c->rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* The saved state's "daemon" member (a new reference). */
static json_t *saved_daemon(const struct harness *c)
{
    char path[700];
    json_error_t je;
    json_t *st;
    json_t *d;

    snprintf(path, sizeof(path), "%s/state/state.json", c->dir);
    st = json_load_file(path, 0, &je);
    assert_non_null(st);
    d = json_incref(json_object_get(st, "daemon"));
    json_decref(st);
    return d;
}

/* Wait until the daemon applied @n messages and a transaction committed after that. */
static void wait_applied_and_committed(struct harness *c, double n)
{
    double until = harness_mono() + 60;
    double commits;

    while (harness_metric(c, "opswatch_events_received_total") < n && harness_mono() < until) {
        usleep(100000);
    }
    assert_true(harness_metric(c, "opswatch_events_received_total") >= n);
    commits = harness_metric(c, "opswatch_transactions_committed_total");
    while (harness_metric(c, "opswatch_transactions_committed_total") <= commits + 1 &&
           harness_mono() < until) {
        usleep(100000);
    }
    assert_true(harness_metric(c, "opswatch_transactions_committed_total") > commits + 1);
}

/* What Kafka holds once transaction @txn committed: the group's offsets with its number as
 * metadata. (The mock does not keep the offsets a transaction commits, so the test writes
 * them with a plain commit.) */
static void commit_as_transaction(struct harness *c, const json_t *offsets, int64_t txn)
{
    rd_kafka_t *rk = harness_consumer(c, "eos", NULL);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTS);
    const json_t *parts = json_object_get(offsets, IN_TOPIC);
    char meta[64];
    const char *pn;
    json_t *off;

    snprintf(meta, sizeof(meta), "opswatch-txn:%lld", (long long)txn);
    json_object_foreach((json_t *)parts, pn, off)
    {
        rd_kafka_topic_partition_t *e = rd_kafka_topic_partition_list_add(l, IN_TOPIC, atoi(pn));

        e->offset = json_integer_value(off);
        e->metadata = strdup(meta);
        e->metadata_size = strlen(meta);
    }
    assert_true(l->cnt > 0);
    /* The mock takes commits from members only: join the (empty) group first. */
    {
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_t *mine = NULL;
        double until = harness_mono() + 30;

        rd_kafka_topic_partition_list_add(sub, IN_TOPIC, RD_KAFKA_PARTITION_UA);
        assert_int_equal(rd_kafka_subscribe(rk, sub), RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_topic_partition_list_destroy(sub);
        while ((mine == NULL || mine->cnt == 0) && harness_mono() < until) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

            if (m != NULL) {
                rd_kafka_message_destroy(m);
            }
            if (mine != NULL) {
                rd_kafka_topic_partition_list_destroy(mine);
            }
            assert_int_equal(rd_kafka_assignment(rk, &mine), RD_KAFKA_RESP_ERR_NO_ERROR);
        }
        assert_true(mine->cnt > 0);
        rd_kafka_topic_partition_list_destroy(mine);
    }
    assert_int_equal(rd_kafka_commit(rk, l, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* Alert records on e.alerts and dead letters on e.deadletter, counted by key. */
struct seen {
    json_t *alerts; /* key -> count of csr_no_forecast firing records */
    int deadletters;
};

static void on_record(void *arg, int topic, const char *key, json_t *rec)
{
    struct seen *s = arg;

    if (topic == 0 &&
        strcmp(json_string_value(json_object_get(rec, "state")) ?: "", "firing") == 0) {
        json_object_set_new(s->alerts, key,
                            json_integer(json_integer_value(json_object_get(s->alerts, key)) + 1));
    } else if (topic == 2) {
        s->deadletters++;
    }
    json_decref(rec);
}

static void read_outputs(struct harness *c, struct seen *s)
{
    s->alerts = json_object();
    s->deadletters = 0;
    assert_int_equal(harness_read_topics(c, out_topics, NOUT, 1, 30.0, on_record, s), 0);
}

/* Each of the @n parties' alert fired once, in a record of its own. */
static void assert_each_alert_once(const struct seen *s, int n)
{
    const char *key;
    json_t *v;

    assert_int_equal(json_object_size(s->alerts), n);
    json_object_foreach(s->alerts, key, v)
    {
        if (json_integer_value(v) != 1) {
            fprintf(stderr, "alert %s: %lld firing records\n", key,
                    (long long)json_integer_value(v));
        }
        assert_int_equal(json_integer_value(v), 1);
    }
}

static void eos__outputs_go_in_transactions_with_the_input_offsets(void **state)
{
    static struct harness c; /* static: the teardown reaches it after a failed assertion */
    struct seen s;
    json_t *d;

    (void)state;
    cluster_start(&c);
    write_config(&c);
    enable_exactly_once(&c);
    produce_events(&c, 0, 20);
    assert_int_equal(harness_daemon_start(&c), 0);
    assert_true(harness_wait_log(&c, "producer ready (transactional)", 30));
    wait_applied_and_committed(&c, 21);
    read_outputs(&c, &s);
    assert_each_alert_once(&s, 20);
    assert_int_equal(s.deadletters, 1);
    json_decref(s.alerts);
    /* The save before each commit names the transaction; nothing is left in its outbox. */
    d = saved_daemon(&c);
    assert_true(json_integer_value(json_object_get(d, "txn")) > 1);
    assert_int_equal(json_array_size(json_object_get(d, "outbox")), 0);
    json_decref(d);
    assert_false(harness_log_has(&c, "retried at the next checkpoint"));
    assert_true(harness_daemon_drain(&c));
    harness_stop(&c);
    assert_int_equal(harness_remove_dir(&c), 0);
}

/* Put a record of e.alerts under @key into the saved outbox and set the saved transaction
 * number to @txn. */
static void edit_state(struct harness *c, const char *key, int64_t txn)
{
    char path[700];
    json_error_t je;
    json_t *st;
    json_t *daemon;
    char value[200];

    snprintf(path, sizeof(path), "%s/state/state.json", c->dir);
    st = json_load_file(path, 0, &je);
    assert_non_null(st);
    daemon = json_object_get(st, "daemon");
    snprintf(value, sizeof(value),
             "{\"schema_version\":1,\"alert_id\":\"%s\",\"rule\":\"test\",\"state\":\"firing\"}",
             key);
    json_array_append_new(
        json_object_get(daemon, "outbox"),
        json_pack("{s:s, s:s, s:s}", "topic", "e.alerts", "key", key, "value", value));
    json_object_set_new(daemon, "txn", json_integer(txn));
    assert_int_equal(json_dump_file(st, path, JSON_COMPACT), 0);
    json_decref(st);
}

static bool alert_on_topic(struct harness *c, const char *key)
{
    struct seen s;
    bool found;

    read_outputs(c, &s);
    found = json_object_get(s.alerts, key) != NULL;
    json_decref(s.alerts);
    return found;
}

/* The saved outbox goes again exactly when its transaction is not among the committed ones. */
static void eos__restart_sends_the_outbox_only_if_its_transaction_did_not_commit(void **state)
{
    static struct harness c; /* static: the teardown reaches it after a failed assertion */
    json_t *d;
    int64_t txn;

    (void)state;
    cluster_start(&c);
    write_config(&c);
    enable_exactly_once(&c);
    produce_events(&c, 0, 4);
    assert_int_equal(harness_daemon_start(&c), 0);
    wait_applied_and_committed(&c, 5);
    assert_true(harness_daemon_drain(&c));
    d = saved_daemon(&c);
    txn = json_integer_value(json_object_get(d, "txn"));
    assert_true(txn > 1);

    /* As after a crash once transaction txn committed: its outbox is in Kafka already. */
    commit_as_transaction(&c, json_object_get(d, "offsets"), txn);
    edit_state(&c, "test/committed", txn);
    assert_int_equal(harness_daemon_start(&c), 0);
    assert_true(harness_wait_log(&c, "committed before the stop", 30));
    assert_true(harness_daemon_drain(&c));
    assert_false(alert_on_topic(&c, "test/committed"));

    /* As after a crash between the save and the commit of the next transaction. */
    edit_state(&c, "test/not-committed", txn + 1);
    assert_int_equal(harness_daemon_start(&c), 0);
    assert_true(harness_wait_log(&c, "did not commit before the stop", 30));
    assert_true(harness_daemon_drain(&c));
    assert_true(alert_on_topic(&c, "test/not-committed"));
    json_decref(d);
    harness_stop(&c);
    assert_int_equal(harness_remove_dir(&c), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(eos__outputs_go_in_transactions_with_the_input_offsets,
                                  harness_teardown),
        cmocka_unit_test_teardown(
            eos__restart_sends_the_outbox_only_if_its_transaction_did_not_commit, harness_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
