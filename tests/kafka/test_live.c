/* test_live.c: opswatchd as a child process against librdkafka's mock cluster started here.
 *
 * Each test starts a mock cluster in this process, writes a configuration pointing at it,
 * runs $OPSWATCHD (build/opswatchd) on it, produces events to the input topic, reads every
 * output topic from the beginning, and compares with the engine run in this process over the
 * same lines (the replay code path: same configuration, same sources) through a fake sink.
 * Every test ends with SIGTERM and checks the drain: exit 0 within 10 s. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "config.h"
#include "engine.h"
#include "fake_sink.h"
#include "gen.h"

#define IN_TOPIC "in.events"
#define NOUT 4
/* outs[ALERT_LOG]: every alert record in order of arrival (transitions, not just the latest) */
#define ALERT_LOG NOUT
#define NSLOT (NOUT + 1)

static const char *const out_topics[NOUT] = {"t.alerts", "t.aggregates", "t.deadletter",
                                             "t.snapshots"};

struct cluster {
    rd_kafka_t *rk; /* hosts the mock cluster; also the test's producer */
    rd_kafka_mock_cluster_t *mc;
    char dir[256];
    char cfg_path[300];
    char log_path[300];
    pid_t child;
};

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct cluster *running; /* for the teardown after a failed assertion */

static void cluster_start(struct cluster *c, int brokers)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char n[8];
    char why[256];

    memset(c, 0, sizeof(*c));
    running = c;
    snprintf(n, sizeof(n), "%d", brokers);
    assert_int_equal(rd_kafka_conf_set(conf, "test.mock.num.brokers", n, why, sizeof(why)), 0);
    assert_int_equal(rd_kafka_conf_set(conf, "linger.ms", "2", why, sizeof(why)), 0);
    assert_int_equal(rd_kafka_conf_set(conf, "enable.idempotence", "true", why, sizeof(why)), 0);
    assert_int_equal(rd_kafka_conf_set(conf, "log_level", "2", why, sizeof(why)), 0);
    /* A downed mock broker leaves half-open connections (live__brokers_down_and_up...). */
    assert_int_equal(rd_kafka_conf_set(conf, "socket.timeout.ms", "3000", why, sizeof(why)), 0);
    c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    assert_non_null(c->rk);
    c->mc = rd_kafka_handle_mock_cluster(c->rk);
    assert_non_null(c->mc);
    assert_int_equal(rd_kafka_mock_topic_create(c->mc, IN_TOPIC, 1, brokers > 1 ? 3 : 1), 0);
    for (int i = 0; i < NOUT; i++) {
        assert_int_equal(rd_kafka_mock_topic_create(c->mc, out_topics[i], 1, brokers > 1 ? 3 : 1),
                         0);
    }
    snprintf(c->dir, sizeof(c->dir), "/tmp/ow-test-live-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    snprintf(c->cfg_path, sizeof(c->cfg_path), "%s/config.json", c->dir);
    snprintf(c->log_path, sizeof(c->log_path), "%s/opswatchd.log", c->dir);
}

/* The test configuration, with live.stale_after = @stale_after and @more (top-level members,
 * each followed by a comma, or ""). */
static const char *idle_interval = "1s"; /* live.idle_interval of the next write_config */

static void write_config_with(struct cluster *c, const char *stale_after, const char *more)
{
    FILE *f = fopen(c->cfg_path, "w");
    static int groups;

    assert_non_null(f);
    fprintf(f,
            "{\"kafka\": {\"brokers\": \"%s\", \"group_id\": \"test-%d-%d\",\n"
            "  \"input_topics\": [\"" IN_TOPIC "\"],\n"
            "  \"properties\": {\"session.timeout.ms\": \"6000\", \"client.id\": \"t\"}},\n"
            " \"outputs\": {\"alerts\": \"%s\", \"aggregates\": \"%s\", \"deadletter\": \"%s\",\n"
            "  \"snapshots\": \"%s\"},\n"
            " \"live\": {\"idle_interval\": \"%s\", \"aggregate_interval\": \"200ms\",\n"
            "  \"state_dir\": \"%s/state\",\n"
            "  \"checkpoint_interval\": \"200ms\", \"stale_after\": \"%s\",\n"
            "  \"input_stale\": {\"severity\": \"critical\"}},\n"
            " %s\"http\": {\"listen\": \"\"}}\n",
            rd_kafka_mock_cluster_bootstraps(c->mc), (int)getpid(), groups++, out_topics[0],
            out_topics[1], out_topics[2], out_topics[3], idle_interval, c->dir, stale_after, more);
    assert_int_equal(fclose(f), 0);
}

static void write_config(struct cluster *c, const char *stale_after)
{
    write_config_with(c, stale_after, "");
}

static void daemon_start(struct cluster *c)
{
    const char *bin = getenv("OPSWATCHD") != NULL ? getenv("OPSWATCHD") : "build/opswatchd";
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(c->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

        dup2(fd, 2);
        dup2(fd, 1);
        execl(bin, bin, "--config", c->cfg_path, "--log-level", "info", (char *)NULL);
        _exit(127);
    }
    c->child = pid;
}

static bool log_has(const struct cluster *c, const char *needle)
{
    FILE *f = fopen(c->log_path, "r");
    char line[4096];
    bool found = false;

    if (f == NULL) {
        return false;
    }
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        found = strstr(line, needle) != NULL;
    }
    fclose(f);
    return found;
}

static bool wait_log(const struct cluster *c, const char *needle, double secs)
{
    double until = mono() + secs;

    while (mono() < until) {
        if (log_has(c, needle)) {
            return true;
        }
        usleep(50000);
    }
    return false;
}

/* SIGTERM: the drain must end with exit 0 within 10 s. */
static void daemon_stop(struct cluster *c)
{
    double t0 = mono();
    int status = 0;
    pid_t r = 0;

    assert_int_equal(kill(c->child, SIGTERM), 0);
    while (mono() - t0 < 12.0 && (r = waitpid(c->child, &status, WNOHANG)) == 0) {
        usleep(20000);
    }
    if (r == 0) {
        kill(c->child, SIGKILL);
        waitpid(c->child, &status, 0);
        fail_msg("opswatchd did not exit within 12 s of SIGTERM");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(mono() - t0 < 10.0);
    assert_true(log_has(c, "left the group"));
    c->child = 0;
}

static void cluster_stop(struct cluster *c)
{
    char cmd[400];

    if (c->child > 0) {
        kill(c->child, SIGKILL);
        waitpid(c->child, NULL, 0);
    }
    rd_kafka_destroy(c->rk);
    running = NULL;
    if (getenv("OW_KEEP") == NULL) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
        assert_int_equal(system(cmd), 0);
    } else {
        fprintf(stderr, "kept %s\n", c->dir);
    }
}

static void produce(struct cluster *c, const char *line, size_t len)
{
    rd_kafka_resp_err_t e;

    do {
        e = rd_kafka_producev(c->rk, RD_KAFKA_V_TOPIC(IN_TOPIC), RD_KAFKA_V_PARTITION(0),
                              RD_KAFKA_V_VALUE((void *)line, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(c->rk, 10);
        }
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void flush_producer(struct cluster *c)
{
    assert_int_equal(rd_kafka_flush(c->rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* ---- the lines, and the reference run ---- */

struct lines {
    char **v;
    size_t n;
    size_t cap;
};

static void add_line(struct lines *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap == 0 ? 1024 : l->cap * 2;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n] = strndup(s, len);
    l->n++;
}

static void on_gen(void *arg, const struct ow_gen_event *ev, const char *line, size_t len)
{
    (void)ev;
    add_line(arg, line, len);
}

static void gen_lines(struct lines *l, const char *start, const char *scale)
{
    char *argv[] = {"gen",      "--seed", "11",      "--start",     (char *)start,
                    "--months", "3",      "--scale", (char *)scale, NULL};

    assert_int_equal(ow_gen_stream(9, argv, on_gen, l), 0);
    assert_true(l->n > 100);
}

static void free_lines(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
}

static char wall_floor[40]; /* RFC 3339 (Z) two hours before the test started */

/* Volatile members: wall-clock times, and event times the idle clock set from the wall clock
 * (they differ by the seconds between the daemon's close and the reference's). */
static void strip(json_t *v)
{
    const char *k;
    json_t *x;
    size_t i;

    if (json_is_object(v)) {
        json_t *et = json_object_get(v, "event_time");

        json_object_del(v, "raised_at");
        json_object_del(v, "received_at");
        if (json_is_string(et) && strcmp(json_string_value(et), wall_floor) >= 0) {
            json_object_set_new(v, "event_time", json_string("(wall clock)"));
        }
        json_object_foreach(v, k, x)
        {
            strip(x);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            strip(x);
        }
    }
}

/* outs[stream]: key -> latest record; alerts also go to outs[ALERT_LOG]. */
static void put_latest(json_t *outs[NSLOT], int stream, const char *key, json_t *rec)
{
    strip(rec);
    if (stream == OW_STREAM_ALERTS) {
        json_array_append(outs[ALERT_LOG], rec);
    }
    json_object_set_new(outs[stream], key != NULL ? key : "", rec);
}

static void outs_init(json_t *outs[NSLOT])
{
    for (int s = 0; s < NOUT; s++) {
        outs[s] = json_object();
    }
    outs[ALERT_LOG] = json_array();
}

/* The engine in this process over @l, as the daemon saw it: one partition, offsets from 0,
 * then (if @idle) the idle clock at the wall clock, and a flush. */
static void reference_run(const struct cluster *c, const struct lines *l, bool idle,
                          json_t *outs[NSLOT])
{
    struct ow_conf_errors *errs = NULL;
    struct ow_config *cfg = ow_config_load(c->cfg_path, &errs);
    struct fake_sink *fs = fake_sink_create();
    struct ow_err err;
    struct ow_engine *eng;
    int64_t now = now_us();

    assert_non_null(cfg);
    eng = ow_engine_create(cfg, fake_sink_sink(fs), true, &err);
    assert_non_null(eng);
    for (size_t i = 0; i < l->n; i++) {
        struct ow_source src = {IN_TOPIC, 0, (int64_t)i, now};

        ow_engine_set_wall_clock(eng, now);
        ow_engine_apply(eng, l->v[i], strlen(l->v[i]), &src);
    }
    if (idle) {
        ow_engine_advance_watermark(eng, now - cfg->windows.allowed_disorder_us,
                                    OW_CLOSE_IDLE_CLOCK);
    }
    ow_engine_flush(eng);
    outs_init(outs);
    for (int s = 0; s < NOUT; s++) {
        for (size_t i = 0; i < fake_sink_count(fs, (enum ow_stream)s); i++) {
            const char *key;
            json_t *rec = fake_sink_get(fs, (enum ow_stream)s, i, &key);

            put_latest(outs, s, key, json_deep_copy(rec));
        }
    }
    ow_engine_destroy(eng);
    fake_sink_destroy(fs);
    ow_config_destroy(cfg);
    ow_conf_errors_destroy(errs);
}

static void reference(const struct cluster *c, const struct lines *l, json_t *outs[NSLOT])
{
    reference_run(c, l, true, outs);
}

/* Every record of the output topics, latest per key; @counts gets records per stream. */
static void read_outputs(struct cluster *c, json_t *outs[NSLOT], size_t counts[NOUT])
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(NOUT);
    rd_kafka_t *rk;
    char why[256];
    double quiet_since = mono();
    double t0 = mono();

    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(c->mc), why,
                      sizeof(why));
    rd_kafka_conf_set(conf, "group.id", "reader", why, sizeof(why));
    rd_kafka_conf_set(conf, "log_level", "2", why, sizeof(why));
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    assert_non_null(rk);
    rd_kafka_poll_set_consumer(rk);
    for (int s = 0; s < NOUT; s++) {
        rd_kafka_topic_partition_list_add(l, out_topics[s], 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
        counts[s] = 0;
    }
    outs_init(outs);
    assert_int_equal(rd_kafka_assign(rk, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    while (mono() - quiet_since < 2.0 && mono() - t0 < 60.0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        json_error_t jerr;
        char key[600];
        json_t *rec;
        int s = 0;

        if (m == NULL) {
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            quiet_since = mono();
            while (s < NOUT && strcmp(rd_kafka_topic_name(m->rkt), out_topics[s]) != 0) {
                s++;
            }
            assert_true(s < NOUT);
            rec = json_loadb(m->payload, m->len, 0, &jerr);
            assert_non_null(rec);
            snprintf(key, sizeof(key), "%.*s", (int)m->key_len, (const char *)m->key);
            put_latest(outs, s, key, rec);
            counts[s]++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The records of @log as sorted compact texts (a multiset); free with free_texts. */
static char **sorted_texts(const json_t *log, size_t *n)
{
    char **v = calloc(json_array_size(log) + 1, sizeof(*v));

    *n = json_array_size(log);
    for (size_t i = 0; i < *n; i++) {
        v[i] = json_dumps(json_array_get(log, i), JSON_COMPACT | JSON_SORT_KEYS);
    }
    qsort(v, *n, sizeof(*v), cmp_str);
    return v;
}

static void free_texts(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

/* The same alert transitions: every alert record of the one equals one of the other's, as
 * multisets (the order of records of different alerts may differ with the flush timing). */
static void assert_same_transitions(const json_t *live, const json_t *ref)
{
    size_t nl;
    size_t nr;
    char **l = sorted_texts(live, &nl);
    char **r = sorted_texts(ref, &nr);
    size_t i = 0;
    size_t j = 0;
    bool same = true;

    while (i < nl || j < nr) {
        int c = i == nl ? 1 : j == nr ? -1 : strcmp(l[i], r[j]);

        if (c == 0) {
            i++;
            j++;
            continue;
        }
        same = false;
        fprintf(stderr, "alert record only in %s: %.600s\n", c < 0 ? "live" : "replay",
                c < 0 ? l[i] : r[j]);
        if (c < 0) {
            i++;
        } else {
            j++;
        }
    }
    free_texts(l, nl);
    free_texts(r, nr);
    if (!same) {
        fail_msg("live alert transitions differ from the replay's");
    }
}

/* Record by record, latest per key: alerts, aggregates (the daemon flushes at its drain, so its
 * latest aggregate per key is the final one, as the reference's last flush), dead letters
 * (without received_at) and snapshots (latest revision per window); and the multiset of every
 * alert record (each transition, not just the latest). */
static void assert_same(json_t *live[NSLOT], json_t *ref[NSLOT])
{
    for (int s = 0; s < NOUT; s++) {
        const char *k;
        json_t *v;

        json_object_foreach(ref[s], k, v)
        {
            json_t *w = json_object_get(live[s], k);

            if (w == NULL || !json_equal(v, w)) {
                char *a = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
                char *b = w != NULL ? json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

                fprintf(stderr, "stream %s key %s:\n replay: %.600s\n live:   %.600s\n",
                        ow_stream_name((enum ow_stream)s), k, a, b != NULL ? b : "(missing)");
                free(a);
                free(b);
                fail_msg("live output differs from the replay");
            }
        }
        assert_int_equal(json_object_size(live[s]), json_object_size(ref[s]));
    }
    assert_same_transitions(live[ALERT_LOG], ref[ALERT_LOG]);
}

static void free_outs(json_t *outs[NSLOT])
{
    for (int s = 0; s < NSLOT; s++) {
        json_decref(outs[s]);
    }
}

/* ---- tests ---- */

/* A backfill of 2021 events (invalid lines, duplicates and disorder included) gives exactly
 * the alerts, aggregates, snapshots and dead letters of the replay code path; the windows then
 * close by the idle clock (logged with their reason); invalid messages reach the dead-letter
 * topic under <topic>/<partition>/<offset>; SIGTERM drains. */
static void live__backfill_equals_replay_then_idle_close(void **state)
{
    static struct cluster c; /* static: the teardown reaches it after a failed assertion */
    struct lines l = {0};
    json_t *live[NSLOT];
    json_t *ref[NSLOT];
    size_t counts[NOUT];
    json_t *dl;
    char key[64];

    (void)state;
    cluster_start(&c, 1);
    write_config(&c, "6h");
    gen_lines(&l, "2021-01", "0.2");
    add_line(&l, "this is not json", 16);
    daemon_start(&c);
    for (size_t i = 0; i < l.n; i++) {
        produce(&c, l.v[i], strlen(l.v[i]));
    }
    flush_producer(&c);
    assert_true(wait_log(&c, "windows closed reason=idle_clock", 60));
    /* Idle close happens only once caught up: nothing may have closed by the wall clock
     * while the backfill ran, so every earlier close was by event time. */
    usleep(1500000);
    daemon_stop(&c);
    read_outputs(&c, live, counts);
    reference(&c, &l, ref);
    assert_true(json_object_size(ref[OW_STREAM_SNAPSHOTS]) >= 3);
    assert_true(json_object_size(ref[OW_STREAM_ALERTS]) >= 1);
    assert_true(json_array_size(ref[ALERT_LOG]) > json_object_size(ref[OW_STREAM_ALERTS]));
    assert_true(json_object_size(ref[OW_STREAM_AGGREGATES]) >= 10);
    assert_true(json_object_size(ref[OW_STREAM_DEADLETTER]) >= 1);
    assert_same(live, ref);
    snprintf(key, sizeof(key), IN_TOPIC "/0/%zu", l.n - 1);
    dl = json_object_get(live[OW_STREAM_DEADLETTER], key);
    assert_non_null(dl);
    assert_string_equal(json_string_value(json_object_get(dl, "payload")), "this is not json");
    assert_non_null(json_object_get(live[OW_STREAM_SNAPSHOTS], "2021-01"));
    assert_true(json_is_true(
        json_object_get(json_object_get(live[OW_STREAM_SNAPSHOTS], "2021-01"), "final")));
    free_outs(live);
    free_outs(ref);
    free_lines(&l);
    cluster_stop(&c);
}

/* The input offset of partition 0 in the daemon's last saved state (-1 none yet). */
static int64_t saved_offset(const struct cluster *c)
{
    char path[400];
    json_t *st;
    int64_t off = -1;

    snprintf(path, sizeof(path), "%s/state/state.json", c->dir);
    st = json_load_file(path, 0, NULL);
    if (st != NULL) {
        json_t *o = json_object_get(
            json_object_get(json_object_get(json_object_get(st, "daemon"), "offsets"), IN_TOPIC),
            "0");

        off = json_is_integer(o) ? json_integer_value(o) : -1;
        json_decref(st);
    }
    return off;
}

/* Wait until the daemon has applied and saved @n messages. */
static bool wait_saved(const struct cluster *c, int64_t n, double secs)
{
    double until = mono() + secs;

    while (mono() < until) {
        if (saved_offset(c) >= n) {
            return true;
        }
        usleep(100000);
    }
    return false;
}

/* Every broker goes down in the middle of the input and comes back: the outputs equal the
 * replay's (nothing lost, nothing counted twice). The brokers are down for 4 s while the second
 * half is produced (the test's producer holds it until they are back), with the daemon's
 * fetches, produce requests, commits and heartbeats failing.
 *
 * How Debian's librdkafka 2.0.2 mock takes a broker down: rd_kafka_mock_broker_set_down
 * closes its connections and its listener and re-creates the listening socket at once without
 * serving it, so a reconnect is accepted by the kernel's backlog and its requests go unanswered
 * until they time out (socket.timeout.ms, 60 s by default); after set_up the listener serves
 * again. Hence socket.timeout.ms = 3000 here, so the clients give up on those half-open
 * connections and reconnect within seconds. The idle clock is off (1 h): the daemon cannot
 * tell a stalled broker from a quiet input, and the wall clock must not close 2021's windows
 * while the second half waits on the other side of the outage (see the report). */
static void live__brokers_down_and_up_lose_nothing(void **state)
{
    static struct cluster c; /* static: the teardown reaches it after a failed assertion */
    struct lines l = {0};
    json_t *live[NSLOT];
    json_t *ref[NSLOT];
    size_t counts[NOUT];
    size_t half;
    double t0;

    (void)state;
    cluster_start(&c, 3);
    idle_interval = "1h";
    write_config_with(&c, "6h", "");
    idle_interval = "1s";
    {
        /* Short socket timeouts for the half-open connections of a downed mock broker. */
        char cmd[600];

        snprintf(cmd, sizeof(cmd),
                 "sed -i 's/\"client.id\": \"t\"/\"client.id\": \"t\", \"socket.timeout.ms\": "
                 "\"3000\"/' '%s'",
                 c.cfg_path);
        assert_int_equal(system(cmd), 0);
    }
    gen_lines(&l, "2021-04", "0.1");
    half = l.n / 2;
    for (size_t i = 0; i < half; i++) {
        produce(&c, l.v[i], strlen(l.v[i]));
    }
    flush_producer(&c);
    daemon_start(&c);
    assert_true(wait_saved(&c, (int64_t)half, 60));
    for (int b = 1; b <= 3; b++) {
        assert_int_equal(rd_kafka_mock_broker_set_down(c.mc, b), 0);
    }
    for (size_t i = half; i < l.n; i++) {
        produce(&c, l.v[i], strlen(l.v[i]));
    }
    sleep(4);
    for (int b = 1; b <= 3; b++) {
        assert_int_equal(rd_kafka_mock_broker_set_up(c.mc, b), 0);
    }
    t0 = mono();
    flush_producer(&c);
    assert_true(wait_saved(&c, (int64_t)l.n, 90));
    fprintf(stderr, "  all %zu events applied %.1f s after the brokers came back\n", l.n,
            mono() - t0);
    assert_true(log_has(&c, "brokers are down"));
    usleep(500000);
    daemon_stop(&c);
    read_outputs(&c, live, counts);
    reference_run(&c, &l, false, ref);
    assert_true(json_object_size(ref[OW_STREAM_SNAPSHOTS]) >= 2);
    assert_true(json_array_size(ref[ALERT_LOG]) >= 1);
    assert_same(live, ref);
    free_outs(live);
    free_outs(ref);
    free_lines(&l);
    cluster_stop(&c);
}

static void produce_fmt(struct cluster *c, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    produce(c, buf, (size_t)n);
    flush_producer(c);
}

/* Count alert records of @rule with @state among every record on the alerts topic. */
static size_t alerts_of(struct cluster *c, const char *rule, const char *state)
{
    json_t *outs[NSLOT];
    size_t counts[NOUT];
    size_t n = 0;
    const char *k;
    json_t *v;

    read_outputs(c, outs, counts);
    json_object_foreach(outs[OW_STREAM_ALERTS], k, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "rule")), rule) == 0 &&
            strcmp(json_string_value(json_object_get(v, "state")), state) == 0) {
            n++;
        }
    }
    free_outs(outs);
    return n;
}

/* SIGHUP with an invalid file keeps the running configuration; with a valid one, a new
 * live.stale_after takes effect at once, without losing state: input_stale fires for the silent
 * topic (severity from the reloaded rule settings), and resolves when an event arrives. */
static void live__sighup_reloads_stale_after(void **state)
{
    static struct cluster c; /* static: the teardown reaches it after a failed assertion */
    char when[40];
    time_t t = time(NULL) - 120;
    struct tm tm;
    FILE *f;
    json_t *outs[NSLOT];
    size_t counts[NOUT];
    json_t *a;
    char id[200];
    const char *k;
    json_t *v;

    (void)state;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cluster_start(&c, 1);
    write_config(&c, "6h");
    daemon_start(&c);
    assert_true(wait_log(&c, "assigned partitions=1", 30));
    produce_fmt(&c,
                "{\"event_id\":\"c1\",\"type\":\"csr\",\"schema_version\":1,"
                "\"occurred_at\":\"%s\",\"party_id\":\"SUB-01\",\"batched\":false,"
                "\"count\":3,\"region\":\"south\"}",
                when);

    /* An invalid file: rejected with its error, the running configuration (6h) stays. */
    f = fopen(c.cfg_path, "w");
    assert_non_null(f);
    fputs("{\"live\": {\"stale_after\": \"soon\"}}", f);
    fclose(f);
    assert_int_equal(kill(c.child, SIGHUP), 0);
    assert_true(wait_log(&c, "rejected", 10));
    assert_true(log_has(&c, "$.live.stale_after"));
    sleep(2);
    assert_int_equal(alerts_of(&c, "input_stale", "firing"), 0);

    /* A valid file: 1 s of silence is stale now. */
    write_config(&c, "1s");
    assert_int_equal(kill(c.child, SIGHUP), 0);
    assert_true(wait_log(&c, "rules and thresholds reloaded", 10));
    sleep(2);
    assert_int_equal(alerts_of(&c, "input_stale", "firing"), 1);

    /* An event: resolved. The CSR counted before the reloads is still counted. */
    produce_fmt(&c,
                "{\"event_id\":\"c2\",\"type\":\"csr\",\"schema_version\":1,"
                "\"occurred_at\":\"%s\",\"party_id\":\"SUB-01\",\"batched\":false,"
                "\"count\":1,\"region\":\"south\"}",
                when);
    usleep(300000);
    daemon_stop(&c);
    read_outputs(&c, outs, counts);
    a = NULL;
    json_object_foreach(outs[OW_STREAM_ALERTS], k, v)
    {
        if (strncmp(k, "input_stale/", 12) == 0) {
            a = v;
            snprintf(id, sizeof(id), "%s", k);
        }
    }
    assert_non_null(a);
    assert_non_null(strstr(id, "/topic=" IN_TOPIC));
    assert_string_equal(json_string_value(json_object_get(a, "severity")), "critical");
    assert_string_equal(json_string_value(json_object_get(a, "state")), "resolved");
    (void)counts;
    free_outs(outs);
    cluster_stop(&c);
}

/* The latest sr_forecast_exceeded record for SUB-01 on the alerts topic (new reference), or
 * NULL. */
static json_t *exceeded_alert(struct cluster *c)
{
    json_t *outs[NSLOT];
    size_t counts[NOUT];
    json_t *found = NULL;
    const char *k;
    json_t *v;

    read_outputs(c, outs, counts);
    json_object_foreach(outs[OW_STREAM_ALERTS], k, v)
    {
        if (strncmp(k, "sr_forecast_exceeded/", 21) == 0 && strstr(k, "party_id=SUB-01")) {
            found = json_incref(v);
        }
    }
    free_outs(outs);
    return found;
}

static void produce_sr(struct cluster *c, const char *id, const char *when, int count)
{
    produce_fmt(c,
                "{\"event_id\":\"%s\",\"type\":\"service_request\",\"schema_version\":1,"
                "\"occurred_at\":\"%s\",\"party_id\":\"SUB-01\",\"service_ref\":\"8.14\","
                "\"count\":%d,\"region\":\"south\"}",
                id, when, count);
}

/* SIGHUP reloads rules and thresholds into the running engine without losing state: SUB-01
 * is at 105% of its forecast, between the 1% line of the new file and the 10% line running.
 * An invalid file is rejected and the next request still judges against 110%; after a valid
 * file with upper_band_percent 1 the party's next request fires sr_forecast_exceeded, at 107%
 * (the 105 counted before the reloads are still counted). A file a processor refuses changes
 * nothing either. */
static void live__sighup_reload_changes_bands(void **state)
{
    static struct cluster c; /* static: the teardown reaches it after a failed assertion */
    char when[40];
    char month[8];
    time_t t = time(NULL) - 120;
    struct tm tm;
    FILE *f;
    json_t *a;

    (void)state;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    strftime(month, sizeof(month), "%Y-%m", &tm);
    cluster_start(&c, 1);
    write_config(&c, "6h");
    daemon_start(&c);
    assert_true(wait_log(&c, "assigned partitions=1", 30));
    produce_fmt(&c,
                "{\"event_id\":\"f1\",\"type\":\"forecast\",\"schema_version\":1,"
                "\"occurred_at\":\"%s\",\"report\":\"service_request\",\"party_id\":"
                "\"SUB-01\",\"period\":\"%s\",\"quantity\":100}",
                when, month);
    produce_sr(&c, "s1", when, 105);

    f = fopen(c.cfg_path, "w");
    assert_non_null(f);
    fputs("{\"processors\": {\"sr_variance\": {\"upper_band_percent\": \"one\"}}}", f);
    fclose(f);
    assert_int_equal(kill(c.child, SIGHUP), 0);
    assert_true(wait_log(&c, "rejected", 10));
    assert_true(log_has(&c, "$.processors.sr_variance.upper_band_percent"));
    produce_sr(&c, "s2", when, 1);
    usleep(500000);
    a = exceeded_alert(&c);
    assert_null(a);

    /* A file every key of which is well-formed but that a processor refuses (a backlog that
     * would resolve above its limit): rejected when the engine is rebuilt on it; the running
     * engine and configuration stay. Then the file with the 1% band. */
    write_config_with(&c, "6h",
                      "\"processors\": {\"sr_variance\": {\"upper_band_percent\": 1},\n"
                      "  \"rdp_incidents\": {\"backlog_max\": 5, \"incident_backlog\": "
                      "{\"resolve\": 10}}},");
    assert_int_equal(kill(c.child, SIGHUP), 0);
    assert_true(wait_log(&c, "rejected: the running configuration stays", 10));
    write_config_with(&c, "6h", "\"processors\": {\"sr_variance\": {\"upper_band_percent\": 1}},");
    assert_int_equal(kill(c.child, SIGHUP), 0);
    assert_true(wait_log(&c, "rules and thresholds reloaded", 10));
    produce_sr(&c, "s3", when, 1);
    usleep(500000);
    a = exceeded_alert(&c);
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "state")), "firing");
    assert_true(json_real_value(json_object_get(a, "value")) == 107.0);
    assert_true(json_real_value(json_object_get(a, "threshold")) == 101.0);
    json_decref(a);
    daemon_stop(&c);
    cluster_stop(&c);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Produce-to-alert latency through the daemon on the mock cluster with the shipped client
 * settings (fetch.wait.max.ms 5, linger.ms 1): for each of N parties a forecast of 1, then one
 * service request of 2 (110% crossed): the time from producing that request to reading its
 * sr_forecast_exceeded record on the alerts topic (this test's reader fetches with
 * fetch.wait.max.ms 1). Printed, and bounded loosely (1 s at p99, ASan included). */
static void live__produce_to_alert_latency(void **state)
{
    static struct cluster c; /* static: the teardown reaches it after a failed assertion */
    enum { N = 60 };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_t *rd;
    double lat[N];
    char when[40];
    char month[8];
    char why[256];
    time_t t = time(NULL) - 120;
    struct tm tm;
    size_t got = 0;

    (void)state;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    strftime(month, sizeof(month), "%Y-%m", &tm);
    cluster_start(&c, 1);
    write_config(&c, "6h");
    daemon_start(&c);
    assert_true(wait_log(&c, "assigned partitions=1", 30));
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(c.mc), why,
                      sizeof(why));
    rd_kafka_conf_set(conf, "group.id", "latency", why, sizeof(why));
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "1", why, sizeof(why));
    rd_kafka_conf_set(conf, "log_level", "2", why, sizeof(why));
    rd = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    assert_non_null(rd);
    rd_kafka_poll_set_consumer(rd);
    rd_kafka_topic_partition_list_add(tl, out_topics[OW_STREAM_ALERTS], 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rd, tl), 0);
    rd_kafka_topic_partition_list_destroy(tl);
    for (int i = 0; i < N; i++) {
        char party[16];
        char line[512];
        double t0;
        bool seen = false;
        int n;

        snprintf(party, sizeof(party), "LAT-%03d", i);
        n = snprintf(line, sizeof(line),
                     "{\"event_id\":\"lf%d\",\"type\":\"forecast\",\"schema_version\":1,"
                     "\"occurred_at\":\"%s\",\"report\":\"service_request\",\"party_id\":\"%s\","
                     "\"period\":\"%s\",\"quantity\":1}",
                     i, when, party, month);
        produce(&c, line, (size_t)n);
        flush_producer(&c);
        usleep(20000);
        n = snprintf(line, sizeof(line),
                     "{\"event_id\":\"ls%d\",\"type\":\"service_request\",\"schema_version\":1,"
                     "\"occurred_at\":\"%s\",\"party_id\":\"%s\",\"service_ref\":\"8.14\","
                     "\"count\":2,\"region\":\"south\"}",
                     i, when, party);
        t0 = mono();
        produce(&c, line, (size_t)n);
        rd_kafka_poll(c.rk, 0);
        while (!seen && mono() - t0 < 10.0) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rd, 1);

            rd_kafka_poll(c.rk, 0);
            if (m == NULL) {
                continue;
            }
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->key != NULL &&
                strncmp(m->key, "sr_forecast_exceeded/", 21) == 0 &&
                memmem(m->key, m->key_len, party, strlen(party)) != NULL) {
                lat[got++] = (mono() - t0) * 1000.0;
                seen = true;
            }
            rd_kafka_message_destroy(m);
        }
        assert_true(seen);
    }
    rd_kafka_consumer_close(rd);
    rd_kafka_destroy(rd);
    qsort(lat, got, sizeof(*lat), cmp_double);
    fprintf(stderr,
            "  produce-to-alert latency over %zu alerts: p50 %.1f ms, p90 %.1f ms, "
            "p99 %.1f ms, max %.1f ms\n",
            got, lat[got / 2], lat[got * 9 / 10], lat[got * 99 / 100], lat[got - 1]);
    assert_true(lat[got * 99 / 100] < 1000.0);
    daemon_stop(&c);
    cluster_stop(&c);
}

static int teardown(void **state)
{
    (void)state;
    if (running != NULL) {
        cluster_stop(running);
    }
    return 0;
}

int main(void)
{
    time_t t = time(NULL) - 7200;
    struct tm tm;

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(live__backfill_equals_replay_then_idle_close, teardown),
        cmocka_unit_test_teardown(live__brokers_down_and_up_lose_nothing, teardown),
        cmocka_unit_test_teardown(live__sighup_reloads_stale_after, teardown),
        cmocka_unit_test_teardown(live__sighup_reload_changes_bands, teardown),
        cmocka_unit_test_teardown(live__produce_to_alert_latency, teardown),
    };

    gmtime_r(&t, &tm);
    strftime(wall_floor, sizeof(wall_floor), "%Y-%m-%dT%H:%M:%S", &tm);
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
