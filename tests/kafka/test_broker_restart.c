/* test_broker_restart.c: how soon a restarted opswatchd has its partitions again, on a real
 * Apache Kafka broker (make test-broker; the mock cluster does not implement static
 * membership).
 *
 * kafka.static_membership (the default) makes the consumer a static member
 * (group.instance.id from the host and the state folder). Restarted after SIGKILL or SIGTERM,
 * it takes its partitions back at once. As a dynamic member it must wait after a SIGKILL until
 * the broker gives up on the dead member (session.timeout.ms): the second test shows that
 * wait, so that the first is known to measure something. Sessions here are 12 s; the broker
 * default is 45 s. Each test prints the seconds from exec to the assignment. A third test has a
 * second instance join under the first one's group.instance.id: the broker fences the first.
 * The mock cluster knows no static members, so these run on a real broker only.
 *
 * The broker: OW_TEST_BROKERS=host:port (make test-broker sets it). OW_KEEP keeps the folder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

#define NOUT 4
#define SESSION_S 12
#define PARTS 4

struct t {
    struct harness h;
    struct harness h2; /* a second instance, when a test needs one (h2.rk != NULL) */
    char in_topic[64];
    char out_names[NOUT][64];
    const char *out_topics[NOUT];
    char group[64];
    int runs;
};

static int setup(void **state)
{
    static const char *const streams[NOUT] = {"alerts", "aggregates", "deadletter", "snapshots"};
    static int n;
    const char *brokers = getenv("OW_TEST_BROKERS");
    struct t *t = calloc(1, sizeof(*t));
    const char *in[1];
    char base[48];

    assert_non_null(t);
    if (brokers == NULL || brokers[0] == '\0') {
        fprintf(stderr, "OW_TEST_BROKERS is not set: run `make test-broker`\n");
        fail();
    }
    snprintf(base, sizeof(base), "brst-%d-%ld-%d", (int)getpid(), (long)time(NULL), n++);
    snprintf(t->in_topic, sizeof(t->in_topic), "%s.in", base);
    for (int s = 0; s < NOUT; s++) {
        snprintf(t->out_names[s], sizeof(t->out_names[s]), "%s.%s", base, streams[s]);
        t->out_topics[s] = t->out_names[s];
    }
    snprintf(t->group, sizeof(t->group), "%s", base);
    assert_int_equal(harness_start_external(&t->h, brokers, NULL), 0);
    in[0] = t->in_topic;
    assert_int_equal(harness_topics_create(&t->h, in, 1, PARTS, 1), 0);
    assert_int_equal(harness_topics_create(&t->h, t->out_topics, NOUT, 1, 1), 0);
    assert_int_equal(harness_make_dir(&t->h, "ow-test-broker-restart"), 0);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;

    harness_stop(&t->h);
    harness_remove_dir(&t->h);
    if (t->h2.rk != NULL) {
        harness_stop(&t->h2);
        harness_remove_dir(&t->h2);
    }
    free(t);
    return 0;
}

/* The configuration of @h: static membership or not, a group.instance.id of its own
 * (@instance_id, else the daemon's from host and state folder), kafka.exactly_once or not. */
static void write_config_of(struct t *t, struct harness *h, bool static_membership,
                            const char *instance_id, bool exactly_once)
{
    char props[300];
    struct harness_config hc = {
        .top = "",
        .group = t->group,
        .input = t->in_topic,
        .properties = props,
        .outputs = t->out_topics,
        .live = ", \"stale_after\": \"0s\"",
        .http = false,
    };
    json_error_t je;
    json_t *cfg;

    snprintf(props, sizeof(props),
             "\"session.timeout.ms\": \"%d\", \"heartbeat.interval.ms\": \"1000\"%s%s%s",
             SESSION_S * 1000, instance_id != NULL ? ", \"group.instance.id\": \"" : "",
             instance_id != NULL ? instance_id : "", instance_id != NULL ? "\"" : "");
    assert_int_equal(harness_write_config(h, &hc), 0);
    cfg = json_load_file(h->cfg_path, 0, &je);
    assert_non_null(cfg);
    json_object_set_new(json_object_get(cfg, "kafka"), "static_membership",
                        json_boolean(static_membership));
    json_object_set_new(json_object_get(cfg, "kafka"), "exactly_once", json_boolean(exactly_once));
    assert_int_equal(json_dump_file(cfg, h->cfg_path, JSON_INDENT(1)), 0);
    json_decref(cfg);
}

static void write_config(struct t *t, bool static_membership)
{
    write_config_of(t, &t->h, static_membership, NULL, false);
}

/* Start the daemon with a log of its own; @returns the seconds from exec until it logs its
 * assignment of all PARTS partitions (fails the test after 60 s). */
static double start_until_assigned(struct t *t)
{
    char needle[64];
    double t0;

    snprintf(t->h.log_path, sizeof(t->h.log_path), "%s/opswatchd-%d.log", t->h.dir, t->runs++);
    snprintf(needle, sizeof(needle), "assigned partitions=%d", PARTS);
    t0 = harness_mono();
    assert_int_equal(harness_daemon_start(&t->h), 0);
    assert_true(harness_wait_log(&t->h, needle, 60));
    return harness_mono() - t0;
}

static void broker_restart__static_member_has_its_partitions_back_at_once(void **state)
{
    struct t *t = *state;
    double first;
    double after_kill;
    double after_stop;

    write_config(t, true);
    first = start_until_assigned(t);
    sleep(1); /* a saved state and a settled group */
    assert_int_equal(harness_daemon_kill(&t->h), 0);
    after_kill = start_until_assigned(t);
    sleep(1);
    assert_true(harness_daemon_drain(&t->h));
    after_stop = start_until_assigned(t);
    fprintf(stderr,
            "static member, exec to assignment: first start %.2f s, after SIGKILL %.2f s, "
            "after SIGTERM %.2f s (session.timeout.ms %d s)\n",
            first, after_kill, after_stop, SESSION_S);
    /* Far under the session timeout: the broker did not wait for the old member. */
    assert_true(after_kill < SESSION_S / 3.0);
    assert_true(after_stop < SESSION_S / 3.0);
    assert_true(harness_daemon_drain(&t->h));
}

static void broker_restart__dynamic_member_waits_out_the_session_after_sigkill(void **state)
{
    struct t *t = *state;
    double after_kill;

    write_config(t, false);
    start_until_assigned(t);
    sleep(1);
    assert_int_equal(harness_daemon_kill(&t->h), 0);
    after_kill = start_until_assigned(t);
    fprintf(stderr, "dynamic member, exec to assignment after SIGKILL: %.2f s\n", after_kill);
    assert_true(after_kill > SESSION_S / 2.0);
    assert_true(harness_daemon_drain(&t->h));
}

/* A second instance (t->h2: a folder and a configuration of its own, written by
 * write_config_of with the other arguments), started until its log says @needle. */
static void start_second(struct t *t, bool static_membership, const char *instance_id,
                         bool exactly_once, const char *needle)
{
    assert_int_equal(harness_start_external(&t->h2, getenv("OW_TEST_BROKERS"), NULL), 0);
    assert_int_equal(harness_make_dir(&t->h2, "ow-test-broker-second"), 0);
    write_config_of(t, &t->h2, static_membership, instance_id, exactly_once);
    assert_int_equal(harness_daemon_start(&t->h2), 0);
    assert_true(harness_wait_log(&t->h2, needle, 60));
}

/* The first instance, fenced, exits 0 by itself within 30 s (timed from now, "after @after")
 * and its log has @line and the end of its drain; then the second one is stopped. */
static void expect_first_steps_aside(struct t *t, const char *after, const char *line)
{
    double t0 = harness_mono();

    assert_int_equal(harness_daemon_wait_exit(&t->h, 30), 0);
    fprintf(stderr, "fenced instance exited 0 %.1f s after %s\n", harness_mono() - t0, after);
    assert_true(harness_log_has(&t->h, line));
    assert_true(harness_log_has(&t->h, "stopped after"));
    assert_true(harness_daemon_drain(&t->h2));
}

/* Two instances under one group.instance.id (two hosts of one name with the default state
 * folder, or one id written into kafka.properties): the broker fences the member that was there
 * first when the second joins. The fenced one says so, drains and exits 0 (restarted, it would
 * fence the other in turn); the other keeps the partitions. */
static void broker_restart__fenced_static_member_steps_aside(void **state)
{
    struct t *t = *state;
    char instance[96];
    char needle[64];

    snprintf(instance, sizeof(instance), "%s-one", t->group);
    snprintf(needle, sizeof(needle), "assigned partitions=%d", PARTS);
    write_config_of(t, &t->h, true, instance, false);
    start_until_assigned(t);

    start_second(t, true, instance, false, needle);
    expect_first_steps_aside(t, "the other's assignment",
                             "consumer fenced: another member of group");
}

/* Two instances with kafka.exactly_once in one group share a transactional.id
 * (opswatch-<group>): the second one's producer fences the first one's. The fenced one says so,
 * drains and exits 0, like a fenced consumer; the other goes on. Dynamic members here, so that
 * the producer is what is fenced. */
static void broker_restart__fenced_transactional_producer_steps_aside(void **state)
{
    struct t *t = *state;
    char needle[64];

    snprintf(needle, sizeof(needle), "assigned partitions=");
    write_config_of(t, &t->h, false, NULL, true);
    start_until_assigned(t);
    start_second(t, false, NULL, true, needle);
    /* An idle producer learns of the fencing at its next transactional request: a dead letter
     * on every partition gives each instance one. */
    for (int p = 0; p < PARTS; p++) {
        assert_int_equal(harness_produce(&t->h, t->in_topic, p, "not json", 8),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(rd_kafka_flush(t->h.rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    expect_first_steps_aside(t, "the input came", "producer fenced: another producer took this");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            broker_restart__static_member_has_its_partitions_back_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(
            broker_restart__dynamic_member_waits_out_the_session_after_sigkill, setup, teardown),
        cmocka_unit_test_setup_teardown(broker_restart__fenced_static_member_steps_aside, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(broker_restart__fenced_transactional_producer_steps_aside,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
