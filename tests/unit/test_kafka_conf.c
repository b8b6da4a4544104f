/* test_kafka_conf.c: the librdkafka settings opswatchd gives its clients (ow_kafka_conf_apply):
 * its defaults for each kind of client, the user's kafka.properties over them, each property
 * given only to the kind of client it belongs to, and the nice value of the client's threads
 * (kafka.client_threads_nice). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "config.h"
#include "kafka_out.h"

/* The value librdkafka holds for @name in @conf ("" if none). */
static const char *conf_value(rd_kafka_conf_t *conf, const char *name, char *buf, size_t len)
{
    size_t n = len;

    if (rd_kafka_conf_get(conf, name, buf, &n) != RD_KAFKA_CONF_OK) {
        buf[0] = '\0';
    }
    return buf;
}

/* @conf holds @want for @name (@equal), or anything else (!@equal). */
static void expect(rd_kafka_conf_t *conf, const char *name, const char *want, bool equal)
{
    char v[64];

    conf_value(conf, name, v, sizeof(v));
    if (equal) {
        assert_string_equal(v, want);
    } else {
        assert_string_not_equal(v, want);
    }
}

/* ow_kafka_conf_apply on a new conf (into *@conf) with brokers and the @n properties in @kv
 * (key, value, key, value...): its result, and its message in @err. */
static int apply(bool consumer, char **kv, size_t n, rd_kafka_conf_t **conf, char *err,
                 size_t errlen)
{
    char *keys[8];
    char *values[8];
    struct ow_config_kafka k = {.brokers = "127.0.0.1:9092"};

    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        keys[i] = kv[2 * i];
        values[i] = kv[2 * i + 1];
    }
    k.properties.keys = keys;
    k.properties.values = values;
    k.properties.count = n;
    err[0] = '\0';
    *conf = rd_kafka_conf_new();
    return ow_kafka_conf_apply(*conf, &k, consumer, err, errlen);
}

/* The same, which must succeed: the conf. */
static rd_kafka_conf_t *applied(bool consumer, char **kv, size_t n)
{
    rd_kafka_conf_t *conf;
    char err[256];

    assert_int_equal(apply(consumer, kv, n, &conf, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    return conf;
}

static void consumer_defaults_hold_a_backlog_and_fetch_soon(void **state)
{
    rd_kafka_conf_t *conf = applied(true, NULL, 0);

    (void)state;
    expect(conf, "bootstrap.servers", "127.0.0.1:9092", true);
    expect(conf, "fetch.wait.max.ms", "5", true);
    expect(conf, "queued.min.messages", "1000000", true);
    expect(conf, "queued.max.messages.kbytes", "131072", true);
    rd_kafka_conf_destroy(conf);
}

static void producer_defaults_send_at_once(void **state)
{
    rd_kafka_conf_t *conf = applied(false, NULL, 0);
    rd_kafka_conf_t *plain = rd_kafka_conf_new();
    char v[64];
    char w[64];

    (void)state;
    expect(conf, "linger.ms", "0", true);
    /* The consumer's queue settings are left at librdkafka's own values. */
    assert_string_equal(conf_value(conf, "queued.max.messages.kbytes", v, sizeof(v)),
                        conf_value(plain, "queued.max.messages.kbytes", w, sizeof(w)));
    rd_kafka_conf_destroy(plain);
    rd_kafka_conf_destroy(conf);
}

static void user_properties_win_and_go_to_their_kind_of_client(void **state)
{
    char *kv[] = {"queued.max.messages.kbytes",
                  "32768",
                  "fetch.wait.max.ms",
                  "100",
                  "linger.ms",
                  "7",
                  "client.id",
                  "ops-1"};
    rd_kafka_conf_t *consumer = applied(true, kv, 4);
    rd_kafka_conf_t *producer = applied(false, kv, 4);

    (void)state;
    expect(consumer, "queued.max.messages.kbytes", "32768", true);
    expect(consumer, "fetch.wait.max.ms", "100", true);
    expect(consumer, "client.id", "ops-1", true);
    expect(producer, "linger.ms", "7", true);
    expect(producer, "client.id", "ops-1", true);
    /* Each to its kind of client: the consumer's queue size is not the producer's, nor the
     * producer's linger the consumer's. */
    expect(producer, "queued.max.messages.kbytes", "32768", false);
    expect(consumer, "linger.ms", "7", false);
    rd_kafka_conf_destroy(producer);
    rd_kafka_conf_destroy(consumer);
}

static void a_bad_property_is_named(void **state)
{
    char *kv[] = {"queued.max.messages.kbytes", "lots"};
    rd_kafka_conf_t *conf;
    char err[256];

    (void)state;
    assert_int_equal(apply(true, kv, 1, &conf, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "queued.max.messages.kbytes"));
    assert_null(strstr(err, "lots")); /* a value may be a secret: never in a message */
    rd_kafka_conf_destroy(conf);
}

/* The nice value of this thread (getpriority can return -1 as a value: errno tells). */
static int nice_of(pid_t tid)
{
    int v;

    errno = 0;
    v = getpriority(PRIO_PROCESS, (id_t)tid);
    assert_false(v == -1 && errno != 0);
    return v;
}

#define MAX_TIDS 256

/* The ids of this process's threads, into @tids (at most MAX_TIDS): how many. */
static int thread_ids(pid_t *tids)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL && n < MAX_TIDS) {
        if (e->d_name[0] != '.') {
            tids[n++] = (pid_t)atoi(e->d_name);
        }
    }
    closedir(d);
    return n;
}

static bool thread_named(pid_t tid, const char *prefix)
{
    char path[64];
    char comm[64] = "";
    FILE *f;

    snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)tid);
    f = fopen(path, "r");
    if (f == NULL) {
        return false; /* the thread ended */
    }
    if (fgets(comm, sizeof(comm), f) == NULL) {
        comm[0] = '\0';
    }
    fclose(f);
    return strncmp(comm, prefix, strlen(prefix)) == 0;
}

/* Of this process's librdkafka threads ("rdk:*") that are not among the @nold in @old: how
 * many there are, how many run at nice @want (*@at_want), and whether one is the thread of
 * broker 3, which a librdkafka thread starts once metadata names it (*@broker3). */
static int new_rdk_threads(const pid_t *old, int nold, int want, int *at_want, bool *broker3)
{
    pid_t tids[MAX_TIDS];
    int ntids = thread_ids(tids);
    int n = 0;

    *at_want = 0;
    *broker3 = false;
    for (int i = 0; i < ntids; i++) {
        bool seen = false;

        for (int j = 0; j < nold && !seen; j++) {
            seen = old[j] == tids[i];
        }
        if (seen || !thread_named(tids[i], "rdk:")) {
            continue;
        }
        n++;
        *at_want += nice_of(tids[i]) == want;
        *broker3 = *broker3 || thread_named(tids[i], "rdk:broker3");
    }
    return n;
}

/* A consumer made with client_threads_nice @delta against a mock cluster of three brokers (its
 * own threads stay as they are): once the consumer's threads run (its main one and the
 * internal and bootstrap brokers', started by this thread, then those of the brokers the
 * metadata names, started by a librdkafka thread, which must not add the step again), every
 * one of them is at this thread's nice value plus @want_delta, capped at 19, and this thread
 * is as it was. */
static void check_threads_nice(int delta, int want_delta)
{
    rd_kafka_conf_t *mock_conf = rd_kafka_conf_new();
    rd_kafka_t *mock_rk;
    rd_kafka_mock_cluster_t *mock;
    struct ow_config_kafka k = {.client_threads_nice = delta};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int base = nice_of(gettid());
    int want = base + want_delta > 19 ? 19 : base + want_delta;
    struct timespec pause = {0, 10 * 1000 * 1000};
    pid_t old[MAX_TIDS];
    char first[256];
    int nold;
    char err[256] = "";
    char why[256];
    rd_kafka_t *rk;
    int n = 0;
    int at_want = 0;
    bool broker3 = false;

    rd_kafka_conf_set(mock_conf, "log_level", "0", why, sizeof(why));
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, mock_conf, why, sizeof(why));
    assert_non_null(mock_rk);
    mock = rd_kafka_mock_cluster_new(mock_rk, 3);
    assert_non_null(mock);
    /* The first broker only: the others are learned from metadata. */
    snprintf(first, sizeof(first), "%s", rd_kafka_mock_cluster_bootstraps(mock));
    first[strcspn(first, ",")] = '\0';
    k.brokers = first;
    nold = thread_ids(old);
    assert_int_equal(ow_kafka_conf_apply(conf, &k, true, err, sizeof(err)), 0);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    assert_non_null(rk);
    for (int i = 0; i < 500 && (!broker3 || at_want < n); i++) {
        nanosleep(&pause, NULL);
        n = new_rdk_threads(old, nold, want, &at_want, &broker3);
    }
    assert_true(broker3);
    assert_true(n >= 5);
    assert_int_equal(at_want, n);
    assert_int_equal(nice_of(gettid()), base);
    rd_kafka_destroy(rk);
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_rk);
}

static void the_clients_threads_run_below_the_loop(void **state)
{
    (void)state;
    check_threads_nice(5, 5);
}

static void nice_zero_leaves_the_threads_alone(void **state)
{
    (void)state;
    check_threads_nice(0, 0);
}

static void the_nice_value_stops_at_19(void **state)
{
    (void)state;
    check_threads_nice(19, 19);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(consumer_defaults_hold_a_backlog_and_fetch_soon),
        cmocka_unit_test(producer_defaults_send_at_once),
        cmocka_unit_test(user_properties_win_and_go_to_their_kind_of_client),
        cmocka_unit_test(a_bad_property_is_named),
        cmocka_unit_test(the_clients_threads_run_below_the_loop),
        cmocka_unit_test(nice_zero_leaves_the_threads_alone),
        cmocka_unit_test(the_nice_value_stops_at_19),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
