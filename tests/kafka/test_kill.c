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

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "config.h"
#include "engine.h"
#include "fake_sink.h"
#include "harness.h"

#define IN_TOPIC "in.events"
#define NPART 48    /* input partitions: the mock keeps about 5 MiB per partition */
#define OUT_PARTS 8 /* per output topic, for the same reason (duplicates after restarts) */
#define NOUT 4
#define KILLS 6

static const char *const out_topics[NOUT] = {"k.alerts", "k.aggregates", "k.deadletter",
                                             "k.snapshots"};

struct cluster {
    struct harness h;
    char group[64];
    int runs; /* daemon starts: each run logs to opswatchd-<run>.log */
};

static char wall_floor[40];

static void cluster_start(struct cluster *c)
{
    static const struct harness_prop props[] = {
        {"linger.ms", "5"},
        {"enable.idempotence", "true"},
        {"queue.buffering.max.messages", "1000000"},
        {NULL, NULL},
    };
    static const char *const in_topic[] = {IN_TOPIC};
    static int groups;

    memset(c, 0, sizeof(*c));
    assert_int_equal(harness_start(&c->h, 1, props), 0);
    assert_int_equal(harness_topics_create(&c->h, in_topic, 1, NPART, 1), 0);
    assert_int_equal(harness_topics_create(&c->h, out_topics, NOUT, OUT_PARTS, 1), 0);
    assert_int_equal(harness_make_dir(&c->h, "ow-test-kill"), 0);
    snprintf(c->group, sizeof(c->group), "kill-%d-%d", (int)getpid(), groups++);
    c->h.port = 20000 + (int)(getpid() % 20000);
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
    struct harness_config hc = {
        .top = "\"windows\": {\"retention_windows\": 24, \"allowed_disorder\": \"30d\"},\n"
               " \"dedup\": {\"span\": \"366d\"},\n ",
        .group = c->group,
        .input = IN_TOPIC,
        .properties = "\"session.timeout.ms\": \"2500\", \"heartbeat.interval.ms\": \"500\", "
                      "\"client.id\": \"k\", \"max.partition.fetch.bytes\": \"65536\"",
        .outputs = out_topics,
        .live = ", \"idle_interval\": \"1s\", \"aggregate_interval\": \"200ms\",\n"
                "  \"checkpoint_interval\": \"200ms\", \"stale_after\": \"0s\"",
        .http = http,
    };

    assert_int_equal(harness_write_config(&c->h, &hc), 0);
}

static void daemon_start(struct cluster *c)
{
    snprintf(c->h.log_path, sizeof(c->h.log_path), "%s/opswatchd-%d.log", c->h.dir, c->runs++);
    assert_int_equal(harness_daemon_start(&c->h), 0);
}

/* SIGTERM: exit 0 within 10 s. */
static void daemon_stop(struct cluster *c)
{
    assert_true(harness_daemon_drain(&c->h));
}

static void daemon_kill(struct cluster *c)
{
    assert_int_equal(harness_daemon_kill(&c->h), 0);
}

static void cluster_stop(struct cluster *c)
{
    harness_stop(&c->h);
    assert_int_equal(harness_remove_dir(&c->h), 0);
}

static void produce(struct cluster *c, int32_t partition, const char *line, size_t len)
{
    assert_int_equal(harness_produce(&c->h, IN_TOPIC, partition, line, len),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void flush_producer(struct cluster *c)
{
    assert_int_equal(rd_kafka_flush(c->h.rk, 60000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* ---- lines ---- */

static void gen_lines(struct harness_lines *l, const char *start, const char *months,
                      const char *scale)
{
    assert_int_equal(harness_lines_gen(l, "23", start, months, scale), 0);
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
static const char *const volatile_members[] = {"raised_at", "received_at", "revision",
                                               "late_events", NULL};

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
    harness_strip(rec, wall_floor, volatile_members);
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

static void on_output(void *arg, int s, const char *key, json_t *rec)
{
    outs_put(arg, s, key, rec);
}

/* Every record of every output partition from the beginning, until 2 s of quiet. */
static void read_outputs(struct cluster *c, struct outs *o)
{
    outs_init(o);
    assert_int_equal(harness_read_topics(&c->h, out_topics, NOUT, OUT_PARTS, 120.0, on_output, o),
                     0);
}

/* The engine in this process over @l in order (line i on partition_of(line i)), as
 * `opswatch replay --close-all` runs it (@close_all), or closed by the idle clock as the
 * daemon is at the end (!@close_all). */
static void reference(const struct cluster *c, const struct harness_lines *l, bool close_all,
                      struct outs *o)
{
    struct ow_conf_errors *errs = NULL;
    struct ow_config *cfg = ow_config_load(c->h.cfg_path, &errs);
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
    const struct harness_lines *l;
    double rate; /* lines per second */
    atomic_bool done;
};

static void *feed(void *arg)
{
    struct feeder *f = arg;
    double t0 = harness_mono();

    for (size_t i = 0; i < f->l->n; i++) {
        produce(f->c, partition_of(f->l->v[i]), f->l->v[i], strlen(f->l->v[i]));
        if (i % 500 == 499) {
            double ahead = t0 + (double)(i + 1) / f->rate - harness_mono();

            rd_kafka_poll(f->c->h.rk, 0);
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
    static const struct harness_prop props[] = {
        {"enable.auto.commit", "false"},
        {"session.timeout.ms", "2500"},
        {"heartbeat.interval.ms", "500"},
        {NULL, NULL},
    };
    rd_kafka_topic_partition_list_t *a = NULL;
    rd_kafka_t *rk = harness_member_join(&c->h, c->group, props, IN_TOPIC);
    double t0 = harness_mono();

    assert_non_null(rk);
    while (harness_mono() - t0 < 30.0) {
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
    harness_member_leave(&c->h);
}

/* ---- tests ---- */

static void kill__sigkill_at_random_moments_and_a_rebalance_equal_replay(void **state)
{
    static struct cluster c; /* static: the teardown reaches it after a failed assertion */
    struct harness_lines l = {0};
    struct feeder f;
    pthread_t th;
    struct outs live;
    struct outs ref;
    struct outs ref_idle;
    unsigned seed = getenv("OW_KILL_SEED") != NULL ? (unsigned)atoi(getenv("OW_KILL_SEED"))
                                                   : (unsigned)time(NULL);
    int restored = 0;
    bool rebalanced = false;
    double t0 = harness_mono();

    (void)state;
    fprintf(stderr, "OW_KILL_SEED=%u\n", seed);
    srand(seed);
    cluster_start(&c);
    write_config(&c, false);
    gen_lines(&l, "2021-01", "1", "25");
    harness_lines_add(&l, "not json: a dead letter", 23);
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
        assert_true(harness_wait_log(&c.h, "assigned partitions=48", 30));
        usleep((useconds_t)ms * 1000);
        assert_int_equal(waitpid(c.h.child, &status, WNOHANG), 0); /* still running */
        restored += harness_log_has(&c.h, "state: restored");
        daemon_kill(&c);
        fprintf(stderr,
                "kill -9 #%d %d ms after the assignment (%.1f s into the test; "
                "saved offsets: %" PRId64 " of %zu events)\n",
                k + 1, ms, harness_mono() - t0, harness_saved_offset(&c.h, IN_TOPIC, -1), l.n);
    }
    daemon_start(&c);
    restored += harness_wait_log(&c.h, "state: restored", 10) ? 1 : 0;
    assert_true(harness_wait_log(&c.h, "assigned partitions=48", 30));
    if (!atomic_load(&f.done)) {
        rebalance(&c); /* while the input still flows */
        assert_true(harness_wait_log(&c.h, "revoked partitions=48", 10));
        assert_true(harness_wait_log(&c.h, "revoked partitions=24", 20));
        rebalanced = true;
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(atomic_load(&f.done));
    assert_true(harness_wait_log(&c.h, "windows closed reason=idle_clock", 90));
    assert_true(rebalanced);
    usleep(1500000);
    daemon_stop(&c);
    fprintf(stderr, "%d of %d starts restored a saved state; %.1f s\n", restored, KILLS + 1,
            harness_mono() - t0);
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
    harness_lines_free(&l);
    cluster_stop(&c);
}

/* ---- HTTP, for /readyz and /metrics ---- */

static int readyz(struct cluster *c)
{
    char body[4096];

    return harness_http_get(&c->h, "/readyz", body, sizeof(body));
}

static bool wait_ready(struct cluster *c, int want, double secs)
{
    double until = harness_mono() + secs;

    while (harness_mono() < until) {
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
    char body[65536];

    (void)state;
    cluster_start(&c);
    write_config(&c, true);
    daemon_start(&c);
    assert_true(harness_wait_log(&c.h, "assigned partitions=48", 30));
    assert_true(wait_ready(&c, 200, 10));
    produce(&c, 0, "not json 1", 10);
    flush_producer(&c);
    usleep(500000);
    assert_int_equal(deadletters(&c), 1);

    assert_int_equal(harness_fail_saves(&c.h), 0);
    assert_true(harness_wait_log(&c.h, "save failed", 5));
    assert_true(harness_log_has(&c.h, "state.json.tmp"));
    assert_true(wait_ready(&c, 503, 5));
    assert_int_equal(harness_http_get(&c.h, "/readyz", body, sizeof(body)), 503);
    assert_non_null(strstr(body, "saving failing"));
    assert_int_equal(harness_http_get(&c.h, "/metrics", body, sizeof(body)), 200);
    assert_null(strstr(body, "opswatch_save_failures_total 0"));
    assert_non_null(strstr(body, "opswatch_save_failures_total"));
    produce(&c, 1, "not json 2", 10);
    flush_producer(&c);
    sleep(1);
    assert_int_equal(deadletters(&c), 1); /* paused: not consumed */

    assert_int_equal(harness_unfail_saves(&c.h), 0);
    assert_true(harness_wait_log(&c.h, "saving works again", 5));
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
    struct harness_lines l = {0};
    struct outs live;
    struct outs ref;
    const char *k;
    json_t *v;

    (void)state;
    cluster_start(&c);
    write_config(&c, false);
    gen_lines(&l, "2021-04", "1", "0.3");
    harness_lines_add(&l, "not json: a dead letter", 23);
    for (size_t i = 0; i < l.n; i++) {
        produce(&c, partition_of(l.v[i]), l.v[i], strlen(l.v[i]));
    }
    flush_producer(&c);
    for (int s = 0; s < NOUT; s++) {
        for (int p = 0; p < OUT_PARTS; p++) {
            assert_int_equal(rd_kafka_mock_partition_set_leader(c.h.mc, out_topics[s], p, -1), 0);
        }
    }
    daemon_start(&c);
    assert_true(harness_wait_log(&c.h, "windows closed reason=idle_clock", 60));
    usleep(600000); /* a checkpoint or two with the outbox */
    assert_int_equal(rd_kafka_mock_broker_set_rtt(c.h.mc, -1, 30000), 0);
    daemon_stop(&c);
    assert_int_equal(rd_kafka_mock_broker_set_rtt(c.h.mc, -1, 0), 0);
    for (int s = 0; s < NOUT; s++) {
        for (int p = 0; p < OUT_PARTS; p++) {
            assert_int_equal(rd_kafka_mock_partition_set_leader(c.h.mc, out_topics[s], p, 1), 0);
        }
    }
    daemon_start(&c);
    assert_true(harness_wait_log(&c.h, "re-sent", 20));
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
    harness_lines_free(&l);
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
    assert_true(harness_wait_log(&c.h, "assigned partitions=48", 30));
    produce(&c, 0, "{\"not\": \"an event\"}", 19);
    flush_producer(&c);
    usleep(600000);
    daemon_stop(&c);

    snprintf(path, sizeof(path), "%s/state/state.json", c.h.dir);
    f = fopen(path, "r+");
    assert_non_null(f);
    assert_int_equal(fseek(f, 20, SEEK_SET), 0);
    fputs("}}garbage", f);
    fclose(f);
    daemon_start(&c);
    assert_int_equal(waitpid(c.h.child, &status, 0), c.h.child);
    c.h.child = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_true(harness_log_has(&c.h, path));
    assert_true(harness_log_has(&c.h, "--rebuild"));
    cluster_stop(&c);
}

int main(void)
{
    time_t t = time(NULL) - 7200;
    struct tm tm;

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(kill__corrupt_state_refused_naming_the_file, harness_teardown),
        cmocka_unit_test_teardown(kill__failed_save_pauses_consumption_until_saving_works,
                                  harness_teardown),
        cmocka_unit_test_teardown(kill__broker_down_sigterm_exits_and_outbox_goes_out_after_restart,
                                  harness_teardown),
        cmocka_unit_test_teardown(kill__sigkill_at_random_moments_and_a_rebalance_equal_replay,
                                  harness_teardown),
    };

    gmtime_r(&t, &tm);
    strftime(wall_floor, sizeof(wall_floor), "%Y-%m-%dT%H:%M:%S", &tm);
    signal(SIGPIPE, SIG_IGN);
    if (getenv("OW_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("OW_TEST_FILTER"));
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
