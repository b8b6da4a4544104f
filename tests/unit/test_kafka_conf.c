/* test_kafka_conf.c: the librdkafka settings opswatchd gives its clients (ow_kafka_conf_apply):
 * its defaults for each kind of client, the user's kafka.properties over them, and each
 * property given only to the kind of client it belongs to. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(consumer_defaults_hold_a_backlog_and_fetch_soon),
        cmocka_unit_test(producer_defaults_send_at_once),
        cmocka_unit_test(user_properties_win_and_go_to_their_kind_of_client),
        cmocka_unit_test(a_bad_property_is_named),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
