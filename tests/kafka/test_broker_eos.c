/* test_broker_eos.c: kafka.exactly_once against a real Apache Kafka broker (make test-broker).
 *
 * What the mock cluster in test_eos.c cannot show, shown here on a broker started by
 * tools/kafka-broker.sh. opswatchd is killed with SIGKILL four times while a generated stream
 * is produced (once while a transaction is open with records already in the log) and
 * restarted each time on the same folder. Then:
 * - a read_committed reader of the output topics finds each alert record, dead letter and
 *   snapshot once, equal to the engine's own run over the same events (what `opswatch replay`
 *   computes), and each key's aggregate updates are updates that run makes when it flushes
 *   after every event, in its order, none twice, the last one its last;
 * - a read_uncommitted reader of the same topics also sees the records of the aborted
 *   transactions, so the test can tell exactly-once from at-least-once;
 * - the group's committed offsets, written only through TxnOffsetCommit, carry the number of
 *   the transaction that committed them ("opswatch-txn:N", the saved state's).
 *
 * Why one input partition: the records then have one order, the replay's, and each key's
 * records are fully determined by the events, so "once" and "equal" can be checked record for
 * record (test_kill.c, over 48 partitions, can only compare sets and final states).
 *
 * The kills other than the open-transaction one come at a random moment up to 1 s after the
 * assignment, often before the first transaction with input offsets since the start. That
 * moment found a defect, now fixed: a transaction committed before the assignment carried no
 * input offsets, so nothing in the group named it, and a restart sent its outbox again
 * although it was in Kafka (duplicates). OW_BROKER_EOS_EARLY_KILL=1 also makes the
 * open-transaction kill come before any commit (its transaction lasts the whole run).
 *
 * The broker: OW_TEST_BROKERS=host:port (required; make test-broker sets it). OW_KEEP keeps
 * the folder; OW_KILL_SEED=N repeats a run's kill moments. */
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

#include "config.h"
#include "engine.h"
#include "fake_sink.h"
#include "harness.h"
#include "kafka_in.h"

#define NOUT 4
#define KILLS 4
#define OPEN_TXN_KILL 1 /* this kill waits for records of the open transaction in the log */
#define FEED_RATE 330.0 /* input lines per second: the stream outlasts the kills */
#define FEED_CHUNK 10   /* lines between the feeder's pauses: never 2 s of quiet */
#define IDLE_INTERVAL "2s"
#define DISORDER_DAYS 30 /* windows.allowed_disorder */

/* The scenario's outcome, checked by the tests below (filled by the group setup). */
struct outs {
    json_t *seq[NOUT]; /* key -> array of records (volatile members stripped), in order */
    size_t count[NOUT];
};

static struct scenario {
    struct harness h;
    char in_topic[64];
    char out_names[NOUT][64];
    const char *out_topics[NOUT];
    char group[64];
    int runs;                 /* daemon starts: each run logs to opswatchd-<run>.log */
    struct harness_lines l;   /* the input, in the order produced */
    int64_t open_txn_gap;     /* records of the transaction killed at OPEN_TXN_KILL, in the log */
    int resent;               /* restarts that sent the saved outbox again */
    int64_t saved_txn;        /* the transaction number of the last saved state */
    int64_t saved_offset;     /* its input offset */
    char committed_meta[128]; /* the group's committed metadata on the input partition */
    int64_t committed_offset;
    struct outs committed;   /* read_committed */
    struct outs uncommitted; /* read_uncommitted */
    struct outs ref;         /* the engine over the same lines, ended by the idle clock,
                                aggregate updates flushed after every line */
    struct outs ref_close;   /* the same, ended as `replay --close-all` */
} sc;

/* Event times from here on come from the wall clock, not from the 2021 events: the idle clock
 * moves the watermark to now - allowed_disorder (2 h of margin). */
static char wall_floor[40];

/* What may differ between a live run and the replay: wall-clock times only. */
static const char *const wall_members[] = {"raised_at", "received_at", NULL};

/* ---- outputs ---- */

static void outs_init(struct outs *o)
{
    for (int s = 0; s < NOUT; s++) {
        o->seq[s] = json_object();
        o->count[s] = 0;
    }
}

static void outs_free(struct outs *o)
{
    for (int s = 0; s < NOUT; s++) {
        json_decref(o->seq[s]);
        o->seq[s] = NULL;
    }
}

/* Append @rec (taken) to its key's sequence. */
static void outs_put(struct outs *o, int s, const char *key, json_t *rec)
{
    json_t *a = json_object_get(o->seq[s], key != NULL ? key : "");

    if (a == NULL) {
        a = json_array();
        json_object_set_new(o->seq[s], key != NULL ? key : "", a);
    }
    harness_strip(rec, wall_floor, wall_members);
    json_array_append_new(a, rec);
    o->count[s]++;
}

static void on_output(void *arg, int s, const char *key, json_t *rec)
{
    outs_put(arg, s, key, rec);
}

/* Every record of the output topics from the beginning, at @isolation. */
static void read_outputs(const char *isolation, struct outs *o)
{
    const struct harness_prop props[] = {{"isolation.level", isolation}, {NULL, NULL}};

    outs_init(o);
    assert_int_equal(
        harness_read_topics_with(&sc.h, props, sc.out_topics, NOUT, 1, 60.0, on_output, o), 0);
}

/* The engine in this process over the lines in order (line i at offset i of partition 0), as
 * `opswatch replay --close-all` ends it (@close_all), or closed by the idle clock as the
 * daemon is at the end. With @each, aggregate updates are flushed after every line: @o holds
 * every update the engine can make, and the same alerts, dead letters and snapshots (no window
 * closes before the end). */
static void reference(bool close_all, bool each, struct outs *o)
{
    struct ow_conf_errors *errs = NULL;
    struct ow_config *cfg = ow_config_load(sc.h.cfg_path, &errs);
    struct fake_sink *fs = fake_sink_create();
    struct ow_err err;
    struct ow_engine *eng;
    struct timespec ts;
    int64_t now;

    clock_gettime(CLOCK_REALTIME, &ts);
    now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    assert_non_null(cfg);
    eng = ow_engine_create(cfg, fake_sink_sink(fs), true, &err);
    assert_non_null(eng);
    ow_engine_set_wall_clock(eng, now);
    for (size_t i = 0; i < sc.l.n; i++) {
        struct ow_source src = {sc.in_topic, 0, (int64_t)i, now};

        ow_engine_apply(eng, sc.l.v[i], strlen(sc.l.v[i]), &src);
        if (each) {
            ow_engine_flush(eng);
        }
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

static void show(const char *what, const char *key, const json_t *ref, const json_t *live)
{
    char *a = ref != NULL ? json_dumps(ref, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *b = live != NULL ? json_dumps(live, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    fprintf(stderr, "%s %s:\n  replay: %.1200s\n  live:   %.1200s\n", what, key,
            a != NULL ? a : "(none)", b != NULL ? b : "(none)");
    free(a);
    free(b);
}

/* Each key of stream @s has the same records in the same order in @live as in @ref: nothing
 * lost, nothing twice. @returns the number of keys that differ (each shown, up to 5). */
static int count_sequence_differences(const struct outs *live, const struct outs *ref, int s)
{
    const char *what = ow_stream_name((enum ow_stream)s);
    const char *k;
    json_t *v;
    int bad = 0;

    json_object_foreach(ref->seq[s], k, v)
    {
        json_t *w = json_object_get(live->seq[s], k);

        if (w == NULL || !json_equal(v, w)) {
            if (bad++ < 5) {
                fprintf(stderr, "%s %s: %zu records in the replay, %zu committed\n", what, k,
                        json_array_size(v), json_array_size(w));
                show(what, k, v, w);
            }
        }
    }
    json_object_foreach(live->seq[s], k, v)
    {
        if (json_object_get(ref->seq[s], k) == NULL && bad++ < 5) {
            show(what, k, NULL, v);
        }
    }
    return bad;
}

/* Say why record @i of @live (a key's committed records) does not follow in @each (the
 * engine's updates); @i past the end: the last one is not the engine's last. */
static void show_step(const char *what, const char *key, const json_t *live, size_t i,
                      const json_t *each)
{
    size_t n = json_array_size(live);

    if (i >= n) {
        fprintf(stderr, "%s %s: the last of %zu committed records is not the replay's last\n", what,
                key, n);
        show(what, key, json_array_get(each, json_array_size(each) - 1),
             json_array_get(live, n - 1));
    } else if (i > 0 && json_equal(json_array_get(live, i - 1), json_array_get(live, i))) {
        fprintf(stderr,
                "%s %s: committed records %zu and %zu of %zu are the same record, which the "
                "replay makes once there\n",
                what, key, i, i + 1, n);
    } else {
        fprintf(stderr, "%s %s: committed record %zu of %zu is not a later update of the replay\n",
                what, key, i + 1, n);
        show(what, key, NULL, json_array_get(live, i));
    }
}

/* Each key's records of stream @s in @live are updates of @each (the engine flushed after every
 * line), in its order, each a later one than the one before, the last one its last. Why not
 * equality: the daemon flushes aggregate updates per live.aggregate_interval of wall-clock
 * time, so it skips updates, but it never makes one @each does not make, nor one twice that
 * @each makes once (a record committed twice), nor goes back. (The engine makes the same
 * update twice when an event touches a report without changing it; @each has those too.)
 * @returns the keys that differ (each shown, up to 5). */
static int count_progression_differences(const struct outs *live, const struct outs *each, int s)
{
    const char *what = ow_stream_name((enum ow_stream)s);
    const char *k;
    json_t *v;
    int bad = 0;

    json_object_foreach(live->seq[s], k, v)
    {
        json_t *r = json_object_get(each->seq[s], k);
        size_t n = json_array_size(r);
        size_t j = 0;
        size_t i;
        json_t *rec;

        json_array_foreach(v, i, rec)
        {
            while (j < n && !json_equal(json_array_get(r, j), rec)) {
                j++;
            }
            if (j == n) {
                break;
            }
            j++;
        }
        if (i < json_array_size(v) || j != n) {
            if (bad++ < 5) {
                show_step(what, k, v, i, r);
            }
        }
    }
    if (json_object_size(live->seq[s]) != json_object_size(each->seq[s])) {
        fprintf(stderr, "%s: %zu keys committed, %zu in the replay\n", what,
                json_object_size(live->seq[s]), json_object_size(each->seq[s]));
        bad++;
    }
    return bad;
}

/* ---- the cluster, the daemon and the input ---- */

static void names_init(void)
{
    static const char *const streams[NOUT] = {"alerts", "aggregates", "deadletter", "snapshots"};
    char base[40];

    snprintf(base, sizeof(base), "beos-%d-%ld", (int)getpid(), (long)time(NULL));
    snprintf(sc.in_topic, sizeof(sc.in_topic), "%s.in", base);
    for (int s = 0; s < NOUT; s++) {
        snprintf(sc.out_names[s], sizeof(sc.out_names[s]), "%s.%s", base, streams[s]);
        sc.out_topics[s] = sc.out_names[s];
    }
    snprintf(sc.group, sizeof(sc.group), "%s", base);
}

/* As test_kill.c: no window closes and nothing expires before the end (the watermark lags
 * 30 days behind a one-month stream), so the outcome depends on the events only; the idle clock
 * closes everything at the end. @checkpoint: live.checkpoint_interval, the length of a
 * transaction. Sessions of 2 s: after a SIGKILL the group waits that long for the dead member
 * (the broker's group.min.session.timeout.ms allows it). */
static void write_config(const char *checkpoint)
{
    char live[300];
    char top[200];
    struct harness_config hc = {
        .top = top,
        .group = sc.group,
        .input = sc.in_topic,
        .properties = "\"session.timeout.ms\": \"2000\", \"heartbeat.interval.ms\": \"400\", "
                      "\"client.id\": \"beos\"",
        .outputs = sc.out_topics,
        .live = live,
        .http = false,
    };
    json_error_t je;
    json_t *cfg;

    snprintf(top, sizeof(top),
             "\"windows\": {\"retention_windows\": 24, \"allowed_disorder\": \"%dd\"},\n"
             " \"dedup\": {\"span\": \"366d\"},\n ",
             DISORDER_DAYS);
    snprintf(live, sizeof(live),
             ", \"idle_interval\": \"%s\", \"aggregate_interval\": \"200ms\",\n"
             "  \"checkpoint_interval\": \"%s\", \"stale_after\": \"0s\"",
             IDLE_INTERVAL, checkpoint);
    assert_int_equal(harness_write_config(&sc.h, &hc), 0);
    cfg = json_load_file(sc.h.cfg_path, 0, &je);
    assert_non_null(cfg);
    json_object_set_new(json_object_get(cfg, "kafka"), "exactly_once", json_true());
    assert_int_equal(json_dump_file(cfg, sc.h.cfg_path, JSON_INDENT(1)), 0);
    json_decref(cfg);
}

static void daemon_start(void)
{
    snprintf(sc.h.log_path, sizeof(sc.h.log_path), "%s/opswatchd-%d.log", sc.h.dir, sc.runs++);
    assert_int_equal(harness_daemon_start(&sc.h), 0);
}

/* The saved state's "daemon" member (a new reference), or NULL before the first save. */
static json_t *saved_daemon(void)
{
    char path[700];
    json_t *st;
    json_t *d;

    snprintf(path, sizeof(path), "%s/state/state.json", sc.h.dir);
    st = json_load_file(path, 0, NULL);
    if (st == NULL) {
        return NULL;
    }
    d = json_incref(json_object_get(st, "daemon"));
    json_decref(st);
    return d;
}

static int64_t saved_txn(void)
{
    json_t *d = saved_daemon();
    int64_t txn = d != NULL ? json_integer_value(json_object_get(d, "txn")) : 0;

    json_decref(d);
    return txn;
}

struct feeder {
    double rate;
    atomic_bool done;
};

/* The input at a steady rate, in small chunks: the daemon never sees live.idle_interval of
 * quiet before the end, so the idle clock does not close windows mid-stream. */
static void *feed(void *arg)
{
    struct feeder *f = arg;
    double t0 = harness_mono();

    for (size_t i = 0; i < sc.l.n; i++) {
        if (harness_produce(&sc.h, sc.in_topic, 0, sc.l.v[i], strlen(sc.l.v[i])) != 0) {
            fprintf(stderr, "feeder: produce failed at line %zu\n", i);
            return NULL;
        }
        if (i % FEED_CHUNK == FEED_CHUNK - 1) {
            double ahead = t0 + (double)(i + 1) / f->rate - harness_mono();

            rd_kafka_poll(sc.h.rk, 0);
            if (ahead > 0) {
                usleep((useconds_t)(ahead * 1e6));
            }
        }
    }
    if (rd_kafka_flush(sc.h.rk, 60000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        atomic_store(&f->done, true);
    }
    return NULL;
}

/* The end offset of partition 0 of @topic as @rk's isolation level sees it: the high watermark
 * (read_uncommitted) or the last stable offset, before the first open transaction
 * (read_committed). */
static int64_t end_offset(rd_kafka_t *rk, const char *topic)
{
    int64_t lo = -1;
    int64_t hi = -1;

    assert_int_equal(rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, 5000), 0);
    return hi;
}

/* Records the open transaction has written that no read_committed reader sees yet, summed over
 * the output topics. */
static int64_t open_txn_records(rd_kafka_t *committed, rd_kafka_t *uncommitted)
{
    int64_t gap = 0;

    for (int s = 0; s < NOUT; s++) {
        gap += end_offset(uncommitted, sc.out_topics[s]) - end_offset(committed, sc.out_topics[s]);
    }
    return gap;
}

/* Wait (at most 20 s) until the open transaction has records in the log: a SIGKILL then
 * leaves them to be aborted. @returns how many. */
static int64_t wait_open_txn_records(void)
{
    static const struct harness_prop rc[] = {{"isolation.level", "read_committed"}, {NULL, NULL}};
    static const struct harness_prop ru[] = {{"isolation.level", "read_uncommitted"}, {NULL, NULL}};
    rd_kafka_t *c = harness_consumer(&sc.h, "beos-probe", rc);
    rd_kafka_t *u = harness_consumer(&sc.h, "beos-probe", ru);
    double until = harness_mono() + 20;
    int64_t gap = 0;

    assert_non_null(c);
    assert_non_null(u);
    while ((gap = open_txn_records(c, u)) <= 0 && harness_mono() < until) {
        usleep(100000);
    }
    rd_kafka_destroy(c);
    rd_kafka_destroy(u);
    return gap;
}

/* The group's committed offset and metadata on the input partition into *@offset and @meta,
 * asked by a client that does not join the group. @isolation "read_committed" asks for stable
 * offsets (librdkafka's RequireStable): the broker holds the answer while a transaction with
 * offsets for the partition is open, which after a kill between TxnOffsetCommit and EndTxn is
 * until the restart aborts it; "read_uncommitted" gets the offsets committed so far at once.
 * @returns the transaction number in the metadata, 0 when it has none. */
static int64_t committed_txn(const char *isolation, int64_t *offset, char *meta, size_t len)
{
    const struct harness_prop props[] = {
        {"enable.auto.commit", "false"}, {"isolation.level", isolation}, {NULL, NULL}};
    rd_kafka_t *rk = harness_consumer(&sc.h, sc.group, props);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *e = rd_kafka_topic_partition_list_add(l, sc.in_topic, 0);
    size_t plen = strlen(OW_TXN_METADATA_PREFIX);
    int64_t txn = 0;

    assert_non_null(rk);
    assert_int_equal(rd_kafka_committed(rk, l, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    *offset = e->offset;
    snprintf(meta, len, "%.*s", (int)e->metadata_size,
             e->metadata != NULL ? (const char *)e->metadata : "");
    if (strncmp(meta, OW_TXN_METADATA_PREFIX, plen) == 0) {
        txn = strtoll(meta + plen, NULL, 10);
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return txn;
}

/* Wait (at most @secs) until a transaction numbered above @txn has committed input offsets.
 * @returns its number, or 0. */
static int64_t wait_committed_txn_above(int64_t txn, double secs)
{
    double until = harness_mono() + secs;
    char meta[128];
    int64_t off;
    int64_t now;

    while ((now = committed_txn("read_uncommitted", &off, meta, sizeof(meta))) <= txn &&
           harness_mono() < until) {
        usleep(100000);
    }
    return now > txn ? now : 0;
}

/* ---- the scenario: group setup ---- */

/* One run of the daemon, ended by SIGKILL: @k counts the kills from 0. */
static void run_and_kill(int k, double t0)
{
    bool open_kill = k == OPEN_TXN_KILL;
    bool early = open_kill && getenv("OW_BROKER_EOS_EARLY_KILL") != NULL;
    char meta[128];
    int64_t off;
    int ms = rand() % 1000;
    int status;

    /* The open-transaction kill: a transaction that lasts 3 s, killed once it has records in the
     * log (or, early, one that lasts the whole run). */
    write_config(!open_kill ? "500ms" : early ? "10m" : "3s");
    daemon_start();
    assert_true(harness_wait_log(&sc.h, "assigned partitions=1", 30));
    if (open_kill && !early) {
        int64_t before = committed_txn("read_uncommitted", &off, meta, sizeof(meta));

        /* The transaction killed open is one after the first that committed offsets. */
        assert_true(wait_committed_txn_above(before, 15) > before);
    }
    if (open_kill) {
        assert_true(wait_open_txn_records() > 0);
    } else {
        usleep((useconds_t)ms * 1000);
    }
    assert_int_equal(waitpid(sc.h.child, &status, WNOHANG), 0); /* still running */
    assert_int_equal(harness_daemon_kill(&sc.h), 0);
    if (open_kill) {
        /* The dead daemon's transaction is still open: its records stay past the last stable
         * offset until the restart fences it and the broker aborts it. */
        sc.open_txn_gap = wait_open_txn_records();
        assert_true(sc.open_txn_gap > 0);
        fprintf(stderr,
                "kill -9 #%d with transaction %" PRId64 " open: %" PRId64
                " of its records in the log, not committed (%.1f s in)\n",
                k + 1, saved_txn() + 1, sc.open_txn_gap, harness_mono() - t0);
    } else {
        fprintf(stderr,
                "kill -9 #%d %d ms after the assignment (%.1f s in; saved: transaction %" PRId64
                ", input offset %" PRId64 " of %zu)\n",
                k + 1, ms, harness_mono() - t0, saved_txn(),
                harness_saved_offset(&sc.h, sc.in_topic, 0), sc.l.n);
    }
}

static void run_scenario(void)
{
    static const struct harness_prop props[] = {
        {"linger.ms", "5"},
        {"enable.idempotence", "true"},
        {NULL, NULL},
    };
    unsigned seed = getenv("OW_KILL_SEED") != NULL ? (unsigned)atoi(getenv("OW_KILL_SEED"))
                                                   : (unsigned)time(NULL);
    struct feeder f = {FEED_RATE, false};
    const char *in[1];
    double t0 = harness_mono();
    pthread_t th;
    int restored = 0;
    json_t *d;

    fprintf(stderr, "OW_KILL_SEED=%u\n", seed);
    srand(seed);
    names_init();
    in[0] = sc.in_topic;
    assert_int_equal(harness_start_external(&sc.h, getenv("OW_TEST_BROKERS"), props), 0);
    assert_int_equal(harness_topics_create(&sc.h, in, 1, 1, 1), 0);
    assert_int_equal(harness_topics_create(&sc.h, sc.out_topics, NOUT, 1, 1), 0);
    assert_int_equal(harness_make_dir(&sc.h, "ow-test-broker-eos"), 0);
    assert_int_equal(harness_lines_gen(&sc.l, "23", "2021-01", "1", "1"), 0);
    harness_lines_add(&sc.l, "not json: a dead letter", 23);
    assert_int_equal(pthread_create(&th, NULL, feed, &f), 0);

    for (int k = 0; k < KILLS; k++) {
        run_and_kill(k, t0);
        restored += harness_log_has(&sc.h, "state: restored") ? 1 : 0;
        sc.resent += harness_log_has(&sc.h, "did not commit before the stop") ? 1 : 0;
    }
    assert_false(atomic_load(&f.done)); /* the kills were mid-stream */
    write_config("500ms");
    daemon_start();
    assert_true(harness_wait_log(&sc.h, "assigned partitions=1", 30));
    restored += harness_log_has(&sc.h, "state: restored") ? 1 : 0;
    sc.resent += harness_log_has(&sc.h, "did not commit before the stop") ? 1 : 0;
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(atomic_load(&f.done));
    assert_true(harness_wait_log(&sc.h, "windows closed reason=idle_clock", 60));
    usleep(1000000); /* the last aggregate updates go out */
    assert_true(harness_daemon_drain(&sc.h));
    fprintf(stderr,
            "%zu events, %d runs, %d restarts restored a saved state, %d sent its outbox "
            "again; %.1f s\n",
            sc.l.n, sc.runs, restored, sc.resent, harness_mono() - t0);
    assert_int_equal(restored, KILLS);

    d = saved_daemon();
    assert_non_null(d);
    sc.saved_txn = json_integer_value(json_object_get(d, "txn"));
    sc.saved_offset = harness_saved_offset(&sc.h, sc.in_topic, 0);
    json_decref(d);
    committed_txn("read_committed", &sc.committed_offset, sc.committed_meta,
                  sizeof(sc.committed_meta));
    read_outputs("read_committed", &sc.committed);
    read_outputs("read_uncommitted", &sc.uncommitted);
    reference(false, true, &sc.ref);
    reference(true, false, &sc.ref_close);
}

static int scenario_setup(void **state)
{
    time_t t = time(NULL) - DISORDER_DAYS * 86400 - 7200;
    struct tm tm;

    (void)state;
    gmtime_r(&t, &tm);
    strftime(wall_floor, sizeof(wall_floor), "%Y-%m-%dT%H:%M:%S", &tm);
    run_scenario();
    return 0;
}

static int scenario_teardown(void **state)
{
    (void)state;
    outs_free(&sc.committed);
    outs_free(&sc.uncommitted);
    outs_free(&sc.ref);
    outs_free(&sc.ref_close);
    harness_lines_free(&sc.l);
    harness_stop(&sc.h);
    if (sc.h.dir[0] != '\0') {
        harness_remove_dir(&sc.h);
    }
    return 0;
}

/* ---- what the scenario proves ---- */

static void print_counts(const char *what, const struct outs *o)
{
    fprintf(stderr, "%s: alerts %zu, aggregates %zu, deadletter %zu, snapshots %zu records\n", what,
            o->count[0], o->count[1], o->count[2], o->count[3]);
}

/* read_committed: every alert record, dead letter and snapshot once, in the replay's order for
 * its key, equal to the replay's; each aggregate's updates a subsequence of the replay's (none
 * twice); the reports equal `replay --close-all`'s. */
static void broker_eos__sigkilled_run_commits_each_output_once_equal_to_replay(void **state)
{
    const char *k;
    json_t *v;
    int bad = 0;

    (void)state;
    print_counts("read_committed", &sc.committed);
    print_counts("replay (aggregates flushed after every event)", &sc.ref);
    assert_true(sc.ref.count[OW_STREAM_ALERTS] >= 10);
    assert_true(sc.ref.count[OW_STREAM_DEADLETTER] >= 1);
    assert_true(json_object_size(sc.ref.seq[OW_STREAM_SNAPSHOTS]) >= 2);
    bad += count_sequence_differences(&sc.committed, &sc.ref, OW_STREAM_ALERTS);
    bad += count_sequence_differences(&sc.committed, &sc.ref, OW_STREAM_DEADLETTER);
    bad += count_sequence_differences(&sc.committed, &sc.ref, OW_STREAM_SNAPSHOTS);
    bad += count_progression_differences(&sc.committed, &sc.ref, OW_STREAM_AGGREGATES);
    json_object_foreach(sc.ref_close.seq[OW_STREAM_SNAPSHOTS], k, v)
    {
        json_t *w = json_object_get(sc.committed.seq[OW_STREAM_SNAPSHOTS], k);
        json_t *a = json_object_get(json_array_get(v, json_array_size(v) - 1), "reports");
        json_t *b = json_object_get(json_array_get(w, json_array_size(w) - 1), "reports");

        if (a == NULL || !json_equal(a, b)) {
            show("reports of snapshot (replay --close-all)", k, a, b);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
    assert_int_equal(sc.committed.count[OW_STREAM_ALERTS], sc.ref.count[OW_STREAM_ALERTS]);
}

/* read_uncommitted sees more than read_committed: the records of the transaction open at the
 * deliberate kill at least, and alert records twice that read_committed has once. Without
 * them the test above could not tell exactly-once from at-least-once. */
static void broker_eos__aborted_transactions_are_in_the_log_but_not_committed(void **state)
{
    size_t committed = 0;
    size_t uncommitted = 0;
    size_t twice = 0;
    const char *k;
    json_t *v;

    (void)state;
    print_counts("read_uncommitted", &sc.uncommitted);
    for (int s = 0; s < NOUT; s++) {
        committed += sc.committed.count[s];
        uncommitted += sc.uncommitted.count[s];
    }
    json_object_foreach(sc.uncommitted.seq[OW_STREAM_ALERTS], k, v)
    {
        json_t *w = json_object_get(sc.committed.seq[OW_STREAM_ALERTS], k);

        twice += json_array_size(v) > json_array_size(w) ? 1 : 0;
    }
    fprintf(stderr,
            "aborted records: %zu (read_uncommitted %zu, read_committed %zu); %" PRId64
            " written by the transaction open at kill #%d; %zu alert keys with aborted "
            "copies\n",
            uncommitted - committed, uncommitted, committed, sc.open_txn_gap, OPEN_TXN_KILL + 1,
            twice);
    assert_true(sc.open_txn_gap > 0);
    assert_true(uncommitted >= committed + (size_t)sc.open_txn_gap);
    for (int s = 0; s < NOUT; s++) {
        assert_true(sc.uncommitted.count[s] >= sc.committed.count[s]);
    }
}

/* The group's committed offset on the input is the saved state's, with the saved transaction's
 * number as metadata: it came with that transaction's commit (opswatchd commits no offsets
 * outside transactions with exactly_once), and it covers the whole input. */
static void broker_eos__group_offsets_carry_the_committing_transaction_number(void **state)
{
    char want[64];

    (void)state;
    snprintf(want, sizeof(want), "%s%" PRId64, OW_TXN_METADATA_PREFIX, sc.saved_txn);
    fprintf(stderr,
            "committed offset of %s/0: %" PRId64 " with metadata \"%s\" (saved: offset %" PRId64
            ", transaction %" PRId64 ")\n",
            sc.in_topic, sc.committed_offset, sc.committed_meta, sc.saved_offset, sc.saved_txn);
    assert_true(sc.saved_txn > 1);
    assert_string_equal(sc.committed_meta, want);
    assert_int_equal(sc.committed_offset, sc.saved_offset);
    assert_int_equal(sc.committed_offset, (int64_t)sc.l.n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(broker_eos__sigkilled_run_commits_each_output_once_equal_to_replay),
        cmocka_unit_test(broker_eos__aborted_transactions_are_in_the_log_but_not_committed),
        cmocka_unit_test(broker_eos__group_offsets_carry_the_committing_transaction_number),
    };

    if (getenv("OW_TEST_BROKERS") == NULL || getenv("OW_TEST_BROKERS")[0] == '\0') {
        fprintf(stderr, "test_broker_eos: OW_TEST_BROKERS (a real Kafka broker, host:port) is "
                        "not set; `make test-broker` starts one and sets it\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("broker_eos", tests, scenario_setup, scenario_teardown);
}
