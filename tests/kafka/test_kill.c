/* test_kill.c: opswatchd's durability against librdkafka's mock cluster started here.
 *
 * - kill -9 at random moments (at least 5 times) while a stream of 200,000+ generated events is
 *   produced over 48 partitions, restarting each time, then a rebalance (partitions revoked and
 *   given back to the same instance): the final snapshots equal the replay's (--close-all) apart
 *   from wall-clock fields, revision and late_events, and the set of alert transitions
 *   (alert_id, state) is the same.
 * - A failed save (state.json.tmp made a directory: a full disk without root tricks) pauses
 *   consumption, shows in logs, /metrics and /readyz, and consumption resumes when saving works.
 * - Outputs Kafka cannot take (output partitions without a leader) and then every broker stalled:
 *   SIGTERM still exits within 10 s, and the unsent outputs go out after the restart.
 * - A corrupt state file stops the start with an error naming the file.
 * OW_KILL_SEED=N repeats a run's kill moments; OW_KEEP keeps the folder; OW_DEBUG_KEY=K prints
 * every record read under key K; OW_TEST_FILTER=pattern runs some tests only. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
#define NPART 48    /* input partitions: the mock keeps about 5 MiB per partition */
#define OUT_PARTS 8 /* per output topic, for the same reason (duplicates after restarts) */
#define NOUT 4
#define KILLS 6

static const char *const out_topics[NOUT] = {"k.alerts", "k.aggregates", "k.deadletter",
                                             "k.snapshots"};

struct cluster {
    rd_kafka_t *rk; /* hosts the mock cluster; also the test's producer */
    rd_kafka_mock_cluster_t *mc;
    char dir[256];
    char cfg_path[300];
    char log_path[300];
    char group[64];
    int runs;
    int port;
    pid_t child;
};

static struct cluster *running;
static char wall_floor[40];

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cluster_start(struct cluster *c)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];
    static int groups;

    memset(c, 0, sizeof(*c));
    running = c;
    assert_int_equal(rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", why, sizeof(why)), 0);
    assert_int_equal(rd_kafka_conf_set(conf, "linger.ms", "5", why, sizeof(why)), 0);
    assert_int_equal(rd_kafka_conf_set(conf, "enable.idempotence", "true", why, sizeof(why)), 0);
    assert_int_equal(rd_kafka_conf_set(conf, "log_level", "2", why, sizeof(why)), 0);
    assert_int_equal(
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", why, sizeof(why)), 0);
    c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    assert_non_null(c->rk);
    c->mc = rd_kafka_handle_mock_cluster(c->rk);
    assert_non_null(c->mc);
    assert_int_equal(rd_kafka_mock_topic_create(c->mc, IN_TOPIC, NPART, 1), 0);
    for (int i = 0; i < NOUT; i++) {
        assert_int_equal(rd_kafka_mock_topic_create(c->mc, out_topics[i], OUT_PARTS, 1), 0);
    }
    snprintf(c->dir, sizeof(c->dir), "/tmp/ow-test-kill-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    snprintf(c->cfg_path, sizeof(c->cfg_path), "%s/config.json", c->dir);
    snprintf(c->group, sizeof(c->group), "kill-%d-%d", (int)getpid(), groups++);
    c->port = 20000 + (int)(getpid() % 20000);
}

/* 48 partitions are read in an interleaving of librdkafka's choosing, not in the replay's line
 * order, and a sparse partition is read to its end long before a dense one: even an
 * uninterrupted live run differs from the replay when the watermark runs ahead of unread
 * partitions. So that the outcome depends on the events only, as the guarantee assumes: what
 * the rules judge together is on one partition (partition_of); the stream spans one month
 * and the watermark lags 30 days (allowed_disorder), so no window closes and no rule is
 * judged by the watermark before the end (the idle clock closes everything then, as
 * --close-all does); and nothing expires (retention 24 windows, ids kept a year). Any
 * difference left is the daemon's. */
static void write_config(struct cluster *c, bool http)
{
    FILE *f = fopen(c->cfg_path, "w");
    char listen[40] = "";

    if (http) {
        snprintf(listen, sizeof(listen), "127.0.0.1:%d", c->port);
    }
    assert_non_null(f);
    fprintf(f,
            "{\"windows\": {\"retention_windows\": 24, \"allowed_disorder\": \"30d\"},\n"
            " \"dedup\": {\"span\": \"366d\"},\n"
            " \"kafka\": {\"brokers\": \"%s\", \"group_id\": \"%s\",\n"
            "  \"input_topics\": [\"" IN_TOPIC "\"],\n"
            "  \"properties\": {\"session.timeout.ms\": \"2500\", \"heartbeat.interval.ms\": "
            "\"500\", \"client.id\": \"k\", \"max.partition.fetch.bytes\": \"65536\"}},\n"
            " \"outputs\": {\"alerts\": \"%s\", \"aggregates\": \"%s\", \"deadletter\": \"%s\",\n"
            "  \"snapshots\": \"%s\"},\n"
            " \"live\": {\"idle_interval\": \"1s\", \"aggregate_interval\": \"200ms\",\n"
            "  \"checkpoint_interval\": \"200ms\", \"stale_after\": \"0s\",\n"
            "  \"state_dir\": \"%s/state\"},\n"
            " \"http\": {\"listen\": \"%s\"}}\n",
            rd_kafka_mock_cluster_bootstraps(c->mc), c->group, out_topics[0], out_topics[1],
            out_topics[2], out_topics[3], c->dir, listen);
    assert_int_equal(fclose(f), 0);
}

static void daemon_start(struct cluster *c)
{
    const char *bin = getenv("OPSWATCHD") != NULL ? getenv("OPSWATCHD") : "build/opswatchd";
    pid_t pid;

    snprintf(c->log_path, sizeof(c->log_path), "%s/opswatchd-%d.log", c->dir, c->runs++);
    pid = fork();
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

/* SIGTERM: exit 0 within 10 s. */
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
    c->child = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(mono() - t0 < 10.0);
}

static void daemon_kill(struct cluster *c)
{
    int status;

    assert_int_equal(kill(c->child, SIGKILL), 0);
    assert_int_equal(waitpid(c->child, &status, 0), c->child);
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

static void produce(struct cluster *c, int32_t partition, const char *line, size_t len)
{
    rd_kafka_resp_err_t e;

    do {
        e = rd_kafka_producev(c->rk, RD_KAFKA_V_TOPIC(IN_TOPIC), RD_KAFKA_V_PARTITION(partition),
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
    assert_int_equal(rd_kafka_flush(c->rk, 60000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* ---- lines ---- */

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

static void gen_lines(struct lines *l, const char *start, const char *months, const char *scale)
{
    char *argv[] = {"gen",      "--seed",       "23",      "--start",     (char *)start,
                    "--months", (char *)months, "--scale", (char *)scale, NULL};

    assert_int_equal(ow_gen_stream(9, argv, on_gen, l), 0);
}

static void free_lines(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
}

/* The value of string member @name in @line ([*b, *e)), or false. Spaces around ':' allowed
 * (the generator writes some lines re-formatted). */
static bool member(const char *line, const char *name, const char **b, const char **e)
{
    char pat[40];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\"", name);
    p = strstr(line, pat);
    if (p == NULL) {
        return false;
    }
    p += strlen(pat);
    p += strspn(p, " \t");
    if (*p != ':') {
        return false;
    }
    p++;
    p += strspn(p, " \t");
    if (*p != '"') {
        return false;
    }
    *b = p + 1;
    *e = strchr(*b, '"');
    return *e != NULL;
}

/* The partition of a line, as a producer keyed by what the rules judge together would choose:
 * a party's forecasts and actuals on one partition (party_id); incidents, problems, hub
 * returns and measurements each on one (their rules count across entities); anything else by
 * event_id (the whole line when it has none). Every copy of an event id lands with the first. */
static int32_t partition_of(const char *line)
{
    static const char *const by_type[] = {"incident", "problem", "ch_return", "measurement"};
    const char *b = line;
    const char *e = line + strlen(line);
    const char *tb;
    const char *te;
    uint32_t h = 2166136261u;

    if (!member(line, "party_id", &b, &e)) {
        bool typed = false;

        if (member(line, "type", &tb, &te)) {
            for (size_t i = 0; i < sizeof(by_type) / sizeof(by_type[0]); i++) {
                if ((size_t)(te - tb) == strlen(by_type[i]) &&
                    memcmp(tb, by_type[i], (size_t)(te - tb)) == 0) {
                    b = tb;
                    e = te;
                    typed = true;
                }
            }
        }
        if (!typed && !member(line, "event_id", &b, &e)) {
            b = line;
            e = line + strlen(line);
        }
    }
    for (const char *p = b; p < e; p++) {
        h = (h ^ (unsigned char)*p) * 16777619u;
    }
    return (int32_t)(h % NPART);
}

/* ---- outputs ---- */

/* What may differ between runs: wall-clock fields, revision, late_events. */
static void strip(json_t *v)
{
    const char *k;
    json_t *x;
    size_t i;

    if (json_is_object(v)) {
        json_t *et = json_object_get(v, "event_time");

        json_object_del(v, "raised_at");
        json_object_del(v, "received_at");
        json_object_del(v, "revision");
        json_object_del(v, "late_events");
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

struct outs {
    json_t *latest[NOUT]; /* key -> latest record */
    json_t *transitions;  /* "alert_id state" -> true */
    size_t counts[NOUT];
};

static void outs_init(struct outs *o)
{
    for (int s = 0; s < NOUT; s++) {
        o->latest[s] = json_object();
        o->counts[s] = 0;
    }
    o->transitions = json_object();
}

/* A snapshot's alert list as (alert_id, state) pairs: what an alert said when it crossed (its
 * value, event_time, message) depends on which event crossed first, and so on the order in
 * which partitions were read; the figures do not. */
static void alerts_as_transitions(json_t *snap)
{
    json_t *alerts = json_object_get(snap, "alerts");
    json_t *set = json_object();
    json_t *a;
    size_t i;

    if (!json_is_array(alerts)) {
        json_decref(set);
        return;
    }
    json_array_foreach(alerts, i, a)
    {
        char t[700];

        snprintf(t, sizeof(t), "%s %s", json_string_value(json_object_get(a, "alert_id")),
                 json_string_value(json_object_get(a, "state")));
        json_object_set_new(set, t, json_true());
    }
    json_object_set_new(snap, "alerts", set);
}

static void outs_put(struct outs *o, int s, const char *key, json_t *rec)
{
    if (getenv("OW_DEBUG_KEY") != NULL && key != NULL && strcmp(key, getenv("OW_DEBUG_KEY")) == 0) {
        char *t = json_dumps(rec, JSON_COMPACT);
        fprintf(stderr, "DEBUG %s: %.400s\n", key, t);
        free(t);
    }
    strip(rec);
    if (s == OW_STREAM_SNAPSHOTS) {
        alerts_as_transitions(rec);
    }
    if (s == OW_STREAM_ALERTS) {
        char t[700];

        snprintf(t, sizeof(t), "%s %s", json_string_value(json_object_get(rec, "alert_id")),
                 json_string_value(json_object_get(rec, "state")));
        json_object_set_new(o->transitions, t, json_true());
    }
    json_object_set_new(o->latest[s], key != NULL ? key : "", rec);
    o->counts[s]++;
}

static void outs_free(struct outs *o)
{
    for (int s = 0; s < NOUT; s++) {
        json_decref(o->latest[s]);
    }
    json_decref(o->transitions);
}

/* Every record of every output partition from the beginning, until 2 s of quiet. */
static void read_outputs(struct cluster *c, struct outs *o)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(NOUT * OUT_PARTS);
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
    outs_init(o);
    for (int s = 0; s < NOUT; s++) {
        for (int p = 0; p < OUT_PARTS; p++) {
            rd_kafka_topic_partition_list_add(l, out_topics[s], p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        }
    }
    assert_int_equal(rd_kafka_assign(rk, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    while (mono() - quiet_since < 2.0 && mono() - t0 < 120.0) {
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
            outs_put(o, s, key, rec);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* The engine in this process over @l in order (line i on partition_of(line i)), as
 * `opswatch replay --close-all` runs it (@close_all), or closed by the idle clock as the
 * daemon is at the end (!@close_all). */
static void reference(const struct cluster *c, const struct lines *l, bool close_all,
                      struct outs *o)
{
    struct ow_conf_errors *errs = NULL;
    struct ow_config *cfg = ow_config_load(c->cfg_path, &errs);
    struct fake_sink *fs = fake_sink_create();
    struct ow_err err;
    struct ow_engine *eng;
    struct timespec ts;
    int64_t next_off[NPART] = {0};
    int64_t now;

    clock_gettime(CLOCK_REALTIME, &ts);
    now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    assert_non_null(cfg);
    eng = ow_engine_create(cfg, fake_sink_sink(fs), true, &err);
    assert_non_null(eng);
    ow_engine_set_wall_clock(eng, now);
    for (size_t i = 0; i < l->n; i++) {
        int32_t p = partition_of(l->v[i]);
        struct ow_source src = {IN_TOPIC, p, next_off[p]++, now};

        ow_engine_apply(eng, l->v[i], strlen(l->v[i]), &src);
    }
    if (close_all) {
        ow_engine_finish(eng, true);
    } else {
        ow_engine_advance_watermark(eng, now - cfg->windows.allowed_disorder_us,
                                    OW_CLOSE_IDLE_CLOCK);
        ow_engine_flush(eng);
    }
    outs_init(o);
    for (int s = 0; s < NOUT; s++) {
        for (size_t i = 0; i < fake_sink_count(fs, (enum ow_stream)s); i++) {
            const char *key;
            json_t *rec = fake_sink_get(fs, (enum ow_stream)s, i, &key);

            outs_put(o, s, key, json_deep_copy(rec));
        }
    }
    ow_engine_destroy(eng);
    fake_sink_destroy(fs);
    ow_config_destroy(cfg);
    ow_conf_errors_destroy(errs);
}

/* Print where @a and @b differ (at most a few places). */
static void diff_paths(const char *path, const json_t *a, const json_t *b, int *budget)
{
    char sub[600];

    if (*budget <= 0 || json_equal(a, b)) {
        return;
    }
    if (json_is_object(a) && json_is_object(b)) {
        const char *k;
        json_t *x;

        json_object_foreach((json_t *)a, k, x)
        {
            snprintf(sub, sizeof(sub), "%s.%s", path, k);
            diff_paths(sub, x, json_object_get(b, k), budget);
        }
        json_object_foreach((json_t *)b, k, x)
        {
            if (json_object_get(a, k) == NULL) {
                snprintf(sub, sizeof(sub), "%s.%s", path, k);
                diff_paths(sub, NULL, x, budget);
            }
        }
        return;
    }
    if (json_is_array(a) && json_is_array(b) && json_array_size(a) == json_array_size(b)) {
        for (size_t i = 0; i < json_array_size(a); i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            diff_paths(sub, json_array_get(a, i), json_array_get(b, i), budget);
        }
        return;
    }
    {
        char *x = a != NULL ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        char *y = b != NULL ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

        fprintf(stderr, "  %s: replay %.300s, live %.300s\n", path, x != NULL ? x : "(none)",
                y != NULL ? y : "(none)");
        free(x);
        free(y);
        (*budget)--;
    }
}

static void show_diff(const char *what, const char *key, const json_t *a, const json_t *b)
{
    int budget = 12;

    if (a != NULL && b != NULL) {
        fprintf(stderr, "%s %s differs:\n", what, key);
        diff_paths("", a, b, &budget);
        return;
    }
    char *x = a != NULL ? json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *y = b != NULL ? json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    fprintf(stderr, "%s %s:\n replay: %.1500s\n live:   %.1500s\n", what, key,
            x != NULL ? x : "(missing)", y != NULL ? y : "(missing)");
    free(x);
    free(y);
}

/* Latest records of stream @s equal, key for key, both ways. */
static void assert_same_latest(const struct outs *live, const struct outs *ref, int s)
{
    const char *k;
    json_t *v;
    int bad = 0;

    json_object_foreach(ref->latest[s], k, v)
    {
        json_t *w = json_object_get(live->latest[s], k);

        if (w == NULL || !json_equal(v, w)) {
            show_diff(ow_stream_name((enum ow_stream)s), k, v, w);
            bad++;
        }
    }
    json_object_foreach(live->latest[s], k, v)
    {
        if (json_object_get(ref->latest[s], k) == NULL) {
            show_diff(ow_stream_name((enum ow_stream)s), k, NULL, v);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* The "reports" of every snapshot equal. */
static void assert_same_reports(const struct outs *live, const struct outs *ref)
{
    const char *k;
    json_t *v;
    int bad = 0;

    json_object_foreach(ref->latest[OW_STREAM_SNAPSHOTS], k, v)
    {
        json_t *w = json_object_get(live->latest[OW_STREAM_SNAPSHOTS], k);
        json_t *a = json_object_get(v, "reports");
        json_t *b = json_object_get(w, "reports");

        if (a == NULL || !json_equal(a, b)) {
            show_diff("reports of snapshot", k, a, b);
            bad++;
        }
    }
    assert_int_equal(json_object_size(live->latest[OW_STREAM_SNAPSHOTS]),
                     json_object_size(ref->latest[OW_STREAM_SNAPSHOTS]));
    assert_int_equal(bad, 0);
}

static void assert_same_transitions(const struct outs *live, const struct outs *ref)
{
    const char *k;
    json_t *v;
    int bad = 0;

    json_object_foreach(ref->transitions, k, v)
    {
        if (json_object_get(live->transitions, k) == NULL) {
            fprintf(stderr, "alert transition only in the replay: %s\n", k);
            bad++;
        }
    }
    json_object_foreach(live->transitions, k, v)
    {
        if (json_object_get(ref->transitions, k) == NULL) {
            fprintf(stderr, "alert transition only in the live run: %s\n", k);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* ---- a feeder thread: the input at a steady rate ---- */

struct feeder {
    struct cluster *c;
    const struct lines *l;
    double rate; /* lines per second */
    atomic_bool done;
};

static void *feed(void *arg)
{
    struct feeder *f = arg;
    double t0 = mono();

    for (size_t i = 0; i < f->l->n; i++) {
        produce(f->c, partition_of(f->l->v[i]), f->l->v[i], strlen(f->l->v[i]));
        if (i % 500 == 499) {
            double ahead = t0 + (double)(i + 1) / f->rate - mono();

            rd_kafka_poll(f->c->rk, 0);
            if (ahead > 0) {
                usleep((useconds_t)(ahead * 1e6));
            }
        }
    }
    flush_producer(f->c);
    atomic_store(&f->done, true);
    return NULL;
}

/* Another member joins the group (the daemon's partitions are revoked and half given back),
 * then leaves (all given back): the same instance gets its partitions again. */
static void rebalance(struct cluster *c)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_t *a = NULL;
    rd_kafka_t *rk;
    char why[256];
    double t0 = mono();

    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(c->mc), why,
                      sizeof(why));
    rd_kafka_conf_set(conf, "group.id", c->group, why, sizeof(why));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", why, sizeof(why));
    rd_kafka_conf_set(conf, "session.timeout.ms", "2500", why, sizeof(why));
    rd_kafka_conf_set(conf, "heartbeat.interval.ms", "500", why, sizeof(why));
    rd_kafka_conf_set(conf, "log_level", "2", why, sizeof(why));
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    assert_non_null(rk);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_add(t, IN_TOPIC, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(rk, t), 0);
    rd_kafka_topic_partition_list_destroy(t);
    while (mono() - t0 < 30.0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

        if (m != NULL) {
            rd_kafka_message_destroy(m);
        }
        if (rd_kafka_assignment(rk, &a) == RD_KAFKA_RESP_ERR_NO_ERROR && a->cnt > 0) {
            break;
        }
        rd_kafka_topic_partition_list_destroy(a);
        a = NULL;
    }
    assert_non_null(a);
    assert_true(a->cnt > 0 && a->cnt < NPART);
    rd_kafka_topic_partition_list_destroy(a);
    rd_kafka_consumer_close(rk); /* no commit: it read nothing for good */
    rd_kafka_destroy(rk);
}

/* ---- tests ---- */

/* The sum of the input offsets in the saved state. */
static int64_t saved_offsets(const struct cluster *c)
{
    char path[400];
    json_error_t jerr;
    json_t *doc;
    json_t *parts;
    const char *k;
    json_t *v;
    int64_t sum = 0;

    snprintf(path, sizeof(path), "%s/state/state.json", c->dir);
    doc = json_load_file(path, 0, &jerr);
    if (doc == NULL) {
        return -1;
    }
    parts = json_object_get(json_object_get(json_object_get(doc, "daemon"), "offsets"), IN_TOPIC);
    json_object_foreach(parts, k, v)
    {
        sum += json_integer_value(v);
    }
    json_decref(doc);
    return sum;
}

static void kill__sigkill_at_random_moments_and_a_rebalance_equal_replay(void **state)
{
    static struct cluster c; /* static: the teardown reaches it after a failed assertion */
    struct lines l = {0};
    struct feeder f;
    pthread_t th;
    struct outs live;
    struct outs ref;
    struct outs ref_idle;
    unsigned seed = getenv("OW_KILL_SEED") != NULL ? (unsigned)atoi(getenv("OW_KILL_SEED"))
                                                   : (unsigned)time(NULL);
    int restored = 0;
    bool rebalanced = false;
    double t0 = mono();

    (void)state;
    fprintf(stderr, "OW_KILL_SEED=%u\n", seed);
    srand(seed);
    cluster_start(&c);
    write_config(&c, false);
    gen_lines(&l, "2021-01", "1", "25");
    add_line(&l, "not json: a dead letter", 23);
    assert_true(l.n >= 200000);
    f.c = &c;
    f.l = &l;
    f.rate = 5500;
    atomic_store(&f.done, false);
    assert_int_equal(pthread_create(&th, NULL, feed, &f), 0);

    for (int k = 0; k < KILLS; k++) {
        int ms = 50 + rand() % 1500;
        int status;

        daemon_start(&c);
        assert_true(wait_log(&c, "assigned partitions=48", 30));
        usleep((useconds_t)ms * 1000);
        assert_int_equal(waitpid(c.child, &status, WNOHANG), 0); /* still running */
        restored += log_has(&c, "state: restored");
        daemon_kill(&c);
        fprintf(stderr,
                "kill -9 #%d %d ms after the assignment (%.1f s into the test; "
                "saved offsets: %" PRId64 " of %zu events)\n",
                k + 1, ms, mono() - t0, saved_offsets(&c), l.n);
    }
    daemon_start(&c);
    restored += wait_log(&c, "state: restored", 10) ? 1 : 0;
    assert_true(wait_log(&c, "assigned partitions=48", 30));
    if (!atomic_load(&f.done)) {
        rebalance(&c); /* while the input still flows */
        assert_true(wait_log(&c, "revoked partitions=48", 10));
        assert_true(wait_log(&c, "revoked partitions=24", 20));
        rebalanced = true;
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(atomic_load(&f.done));
    assert_true(wait_log(&c, "windows closed reason=idle_clock", 90));
    assert_true(rebalanced);
    usleep(1500000);
    daemon_stop(&c);
    fprintf(stderr, "%d of %d starts restored a saved state; %.1f s\n", restored, KILLS + 1,
            mono() - t0);
    assert_true(restored >= KILLS - 1);

    read_outputs(&c, &live);
    reference(&c, &l, true, &ref);
    reference(&c, &l, false, &ref_idle);
    assert_true(json_object_size(ref.latest[OW_STREAM_SNAPSHOTS]) >= 2);
    assert_true(json_object_size(ref.transitions) >= 1);
    /* The daemon ends by the idle clock (the watermark at the wall clock, firing what comes
     * due, e.g. overdue incidents), --close-all closes without moving the watermark: the
     * reports are the same, the alerts those of the same ending. */
    assert_same_reports(&live, &ref);
    assert_same_latest(&live, &ref_idle, OW_STREAM_SNAPSHOTS);
    assert_same_transitions(&live, &ref_idle);
    outs_free(&live);
    outs_free(&ref);
    outs_free(&ref_idle);
    free_lines(&l);
    cluster_stop(&c);
}

/* ---- HTTP, for /readyz and /metrics ---- */

static int http_get(int port, const char *path, char *body, size_t len)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char req[256];
    size_t got = 0;
    ssize_t n;
    int status = -1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    if (write(fd, req, strlen(req)) < 0) {
        close(fd);
        return -1;
    }
    while (got + 1 < len && (n = read(fd, body + got, len - 1 - got)) > 0) {
        got += (size_t)n;
    }
    body[got] = '\0';
    close(fd);
    sscanf(body, "HTTP/1.%*d %d", &status);
    return status;
}

static int readyz(struct cluster *c)
{
    char body[4096];

    return http_get(c->port, "/readyz", body, sizeof(body));
}

static bool wait_ready(struct cluster *c, int want, double secs)
{
    double until = mono() + secs;

    while (mono() < until) {
        if (readyz(c) == want) {
            return true;
        }
        usleep(50000);
    }
    return false;
}

static size_t deadletters(struct cluster *c)
{
    struct outs o;
    size_t n;

    read_outputs(c, &o);
    n = json_object_size(o.latest[OW_STREAM_DEADLETTER]);
    outs_free(&o);
    return n;
}

/* state.json.tmp made a directory: every save fails as on a full disk. Consumption stops (an
 * invalid line produced meanwhile is not dead-lettered), logs, /metrics and /readyz say so;
 * the directory removed, the next save works and consumption resumes. */
static void kill__failed_save_pauses_consumption_until_saving_works(void **state)
{
    static struct cluster c; /* static: the teardown reaches it after a failed assertion */
    char tmp[400];
    char body[65536];

    (void)state;
    cluster_start(&c);
    write_config(&c, true);
    daemon_start(&c);
    assert_true(wait_log(&c, "assigned partitions=48", 30));
    assert_true(wait_ready(&c, 200, 10));
    produce(&c, 0, "not json 1", 10);
    flush_producer(&c);
    usleep(500000);
    assert_int_equal(deadletters(&c), 1);

    snprintf(tmp, sizeof(tmp), "%s/state/state.json.tmp", c.dir);
    assert_int_equal(mkdir(tmp, 0755), 0);
    assert_true(wait_log(&c, "save failed", 5));
    assert_true(log_has(&c, "state.json.tmp"));
    assert_true(wait_ready(&c, 503, 5));
    assert_int_equal(http_get(c.port, "/readyz", body, sizeof(body)), 503);
    assert_non_null(strstr(body, "saving failing"));
    assert_int_equal(http_get(c.port, "/metrics", body, sizeof(body)), 200);
    assert_null(strstr(body, "opswatch_save_failures_total 0"));
    assert_non_null(strstr(body, "opswatch_save_failures_total"));
    produce(&c, 1, "not json 2", 10);
    flush_producer(&c);
    sleep(1);
    assert_int_equal(deadletters(&c), 1); /* paused: not consumed */

    assert_int_equal(rmdir(tmp), 0);
    assert_true(wait_log(&c, "saving works again", 5));
    assert_true(wait_ready(&c, 200, 5));
    usleep(500000);
    assert_int_equal(deadletters(&c), 2);
    daemon_stop(&c);
    cluster_stop(&c);
}

/* Outputs cannot be delivered (output partitions without a leader), then every broker stalls:
 * SIGTERM exits 0 within 10 s with the outputs saved in the outbox; after the restart (brokers
 * back) they go out, and the outputs equal the replay's. */
static void kill__broker_down_sigterm_exits_and_outbox_goes_out_after_restart(void **state)
{
    static struct cluster c; /* static: the teardown reaches it after a failed assertion */
    struct lines l = {0};
    struct outs live;
    struct outs ref;
    const char *k;
    json_t *v;

    (void)state;
    cluster_start(&c);
    write_config(&c, false);
    gen_lines(&l, "2021-04", "1", "0.3");
    add_line(&l, "not json: a dead letter", 23);
    for (size_t i = 0; i < l.n; i++) {
        produce(&c, partition_of(l.v[i]), l.v[i], strlen(l.v[i]));
    }
    flush_producer(&c);
    for (int s = 0; s < NOUT; s++) {
        for (int p = 0; p < OUT_PARTS; p++) {
            assert_int_equal(rd_kafka_mock_partition_set_leader(c.mc, out_topics[s], p, -1), 0);
        }
    }
    daemon_start(&c);
    assert_true(wait_log(&c, "windows closed reason=idle_clock", 60));
    usleep(600000); /* a checkpoint or two with the outbox */
    assert_int_equal(rd_kafka_mock_broker_set_rtt(c.mc, -1, 30000), 0);
    daemon_stop(&c);
    assert_int_equal(rd_kafka_mock_broker_set_rtt(c.mc, -1, 0), 0);
    for (int s = 0; s < NOUT; s++) {
        for (int p = 0; p < OUT_PARTS; p++) {
            assert_int_equal(rd_kafka_mock_partition_set_leader(c.mc, out_topics[s], p, 1), 0);
        }
    }
    daemon_start(&c);
    assert_true(wait_log(&c, "re-sent", 20));
    usleep(3000000);
    daemon_stop(&c);
    read_outputs(&c, &live);
    reference(&c, &l, false, &ref);
    assert_true(json_object_size(ref.latest[OW_STREAM_SNAPSHOTS]) >= 2);
    assert_same_latest(&live, &ref, OW_STREAM_SNAPSHOTS);
    assert_same_latest(&live, &ref, OW_STREAM_DEADLETTER);
    assert_same_transitions(&live, &ref);
    json_object_foreach(ref.latest[OW_STREAM_AGGREGATES], k, v)
    {
        assert_non_null(json_object_get(live.latest[OW_STREAM_AGGREGATES], k));
    }
    outs_free(&live);
    outs_free(&ref);
    free_lines(&l);
    cluster_stop(&c);
}

/* A corrupt state.json or a truncated id log: the start fails (exit 1) naming the file. */
static void kill__corrupt_state_refused_naming_the_file(void **state)
{
    static struct cluster c; /* static: the teardown reaches it after a failed assertion */
    char path[400];
    int status;
    FILE *f;

    (void)state;
    cluster_start(&c);
    write_config(&c, false);
    daemon_start(&c);
    assert_true(wait_log(&c, "assigned partitions=48", 30));
    produce(&c, 0, "{\"not\": \"an event\"}", 19);
    flush_producer(&c);
    usleep(600000);
    daemon_stop(&c);

    snprintf(path, sizeof(path), "%s/state/state.json", c.dir);
    f = fopen(path, "r+");
    assert_non_null(f);
    assert_int_equal(fseek(f, 20, SEEK_SET), 0);
    fputs("}}garbage", f);
    fclose(f);
    daemon_start(&c);
    assert_int_equal(waitpid(c.child, &status, 0), c.child);
    c.child = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_true(log_has(&c, path));
    assert_true(log_has(&c, "--rebuild"));
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
        cmocka_unit_test_teardown(kill__corrupt_state_refused_naming_the_file, teardown),
        cmocka_unit_test_teardown(kill__failed_save_pauses_consumption_until_saving_works,
                                  teardown),
        cmocka_unit_test_teardown(kill__broker_down_sigterm_exits_and_outbox_goes_out_after_restart,
                                  teardown),
        cmocka_unit_test_teardown(kill__sigkill_at_random_moments_and_a_rebalance_equal_replay,
                                  teardown),
    };

    gmtime_r(&t, &tm);
    strftime(wall_floor, sizeof(wall_floor), "%Y-%m-%dT%H:%M:%S", &tm);
    signal(SIGPIPE, SIG_IGN);
    if (getenv("OW_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("OW_TEST_FILTER"));
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
