/* bench_live.c: the live daemon's numbers against librdkafka's mock cluster started here (one
 * broker, in this process; opswatchd runs as a child process, as in tests/kafka).
 *
 * usage: bench_live OPSWATCHD DIR [--events N] [--partitions P] [--rate R] [--seconds S]
 *                   [--ids N] [--only consume|latency|ids|restart] [--brokers HOST:PORT]
 *
 * consume: a generated backlog of N events (default 2,000,000) over P partitions (default 128:
 *   the mock keeps about 5 MiB per partition), read (a) by a bare librdkafka consumer and (b) by
 *   opswatchd, which applies, saves (every 200 ms in a backlog) and commits: the rate until
 *   the group's committed offsets reach the end, from the assignment on (probed sparsely until
 *   the end is near: see daemon_consume_once); opswatchd's CPU time
 *   per event (all threads, and the loop thread), which moves much less with the VM's load; and
 *   its peak resident memory (VmHWM).
 * latency: R events/s (default 10,000) for S seconds (default 30), in two phases. First the
 *   floor: bench_relay (a relay that only forwards the alert events, with opswatchd's client
 *   settings) in place of opswatchd, then opswatchd. In each phase, the produce-to-consume time
 *   of a bare consumer of the processor's input (the baseline, with opswatchd's consumer
 *   settings) and the produce-to-alert time, read in the same loop at the same time (one event
 *   in 500 is a CSR of a new party without a forecast, which fires csr_no_forecast at that
 *   event; the others are CSRs of one party). Also, per alert event: raw arrival to alert
 *   arrival, and the alert's own Kafka hop (its CreateTime to its arrival). The first second
 *   is not counted.
 * ids: the state store alone at N remembered ids (default 10,000,000): time and bytes of a save
 *   after 1 s of traffic at 10,000 events/s, and the time to load the state into a new engine
 *   (restart to ready, less the group join, which the mock delays 3 s); then opswatchd's own
 *   start on that state to /readyz 200, and with --brokers again after a SIGKILL (a static
 *   member of the group comes back without waiting for its session to time out); then a save
 *   that compacts the id log (those ids expired by later ones): its loop part and its total.
 * restart: of the ids part, only opswatchd's start on a state of N ids (applied and saved once,
 *   as there) and with --brokers the restart after a SIGKILL: the other saves, the load into a
 *   new engine and the compaction are left out (run_live.sh's rows on a real broker).
 * --brokers: a real Kafka cluster instead of the mock (tools/kafka-broker.sh starts one; the
 *   topics must not exist yet), for the restart figures the mock cannot give.
 * Prints "key value" lines for bench/run.sh. */
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
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

#include "alloc.h"
#include "config.h"
#include "engine.h"
#include "kafka_out.h"
#include "gen.h"
#include "harness.h"
#include "state.h"

#define IN_TOPIC "b.events"
#define LAT_TOPIC "b.latency"
#define LAT_ROUNDS 3 /* bench_latency says why */
#define LAT_PARTS 8
#define ALERT_EVERY 500 /* one event in 500 fires an alert (a new party each time): 20 a second */
#define NOUT 4
#define OUT_PARTS 16

#define CONSUME_RUNS 5

static const char *const out_topics[NOUT] = {"b.alerts", "b.aggregates", "b.deadletter",
                                             "b.snapshots"};

struct bench {
    struct harness h; /* the mock cluster (h.rk is the producer) and opswatchd (h.bin) */
    const char *dir;
    long events;
    int partitions;
    double rate;
    double seconds;
    long ids;
    const char *only;
    const char *brokers; /* a real cluster; NULL: the mock */
    const char *self;    /* this program's path: bench_relay is next to it */
};

static double wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_live: %s\n", what);
    exit(1);
}

static void lat_topic(char *buf, size_t len, const char *who, int round)
{
    snprintf(buf, len, "b.latency.%s.%d", who, round);
}

/* The latency part's topics: each round's input of bench_relay and of opswatchd, and the
 * ids part's input. */
static int lat_topics_create(struct bench *b)
{
    char names[2 * LAT_ROUNDS][64];
    const char *topics[2 * LAT_ROUNDS + 1] = {LAT_TOPIC};

    for (int round = 0; round < LAT_ROUNDS; round++) {
        lat_topic(names[2 * round], sizeof(names[0]), "relay", round);
        lat_topic(names[2 * round + 1], sizeof(names[0]), "d", round);
        topics[1 + 2 * round] = names[2 * round];
        topics[2 + 2 * round] = names[2 * round + 1];
    }
    return harness_topics_create(&b->h, topics, 2 * LAT_ROUNDS + 1, LAT_PARTS, 1);
}

static void cluster_start(struct bench *b)
{
    static const struct harness_prop props[] = {
        {"linger.ms", "5"},
        {"queue.buffering.max.messages", "1000000"},
        {"queue.buffering.max.kbytes", "1048576"},
        {NULL, NULL},
    };
    static const char *const in_topic[] = {IN_TOPIC};

    if (b->brokers != NULL ? harness_start_external(&b->h, b->brokers, props) != 0
                           : harness_start(&b->h, 1, props) != 0) {
        die("cannot start the mock cluster or reach the brokers");
    }
    if (harness_topics_create(&b->h, in_topic, 1, b->partitions, 1) != 0 ||
        lat_topics_create(b) != 0 ||
        harness_topics_create(&b->h, out_topics, NOUT, OUT_PARTS, 1) != 0) {
        die("cannot create the topics");
    }
}

static void produce_to(struct bench *b, const char *topic, int32_t part, const char *buf,
                       size_t len)
{
    rd_kafka_resp_err_t e = harness_produce(&b->h, topic, part, buf, len);

    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        die(rd_kafka_err2str(e));
    }
}

static void produce(struct bench *b, int32_t part, const char *buf, size_t len)
{
    produce_to(b, IN_TOPIC, part, buf, len);
}

/* The configuration at @path; $OW_BENCH_PROPS adds kafka.properties, $OW_BENCH_KAFKA members of
 * kafka and $OW_BENCH_LIVE members of live (each after a comma). */
static void write_config(struct bench *b, const char *path, const char *group, const char *state,
                         const char *topic)
{
    char props[4096];
    char live[4096];
    struct harness_config hc = {
        .top = "",
        .group = group,
        .input = topic,
        .properties = props,
        .kafka = getenv("OW_BENCH_KAFKA"),
        .outputs = out_topics,
        .state_dir = state,
        .live = live,
        .http = true,
    };

    snprintf(props, sizeof(props), "\"client.id\": \"bench\"%s",
             getenv("OW_BENCH_PROPS") != NULL ? getenv("OW_BENCH_PROPS") : "");
    snprintf(live, sizeof(live), ", \"stale_after\": \"0s\"%s",
             getenv("OW_BENCH_LIVE") != NULL ? getenv("OW_BENCH_LIVE") : "");
    snprintf(b->h.cfg_path, sizeof(b->h.cfg_path), "%s", path);
    if (harness_write_config(&b->h, &hc) != 0) {
        die("cannot write the configuration");
    }
}

static void daemon_start(struct bench *b, const char *cfg, const char *log)
{
    snprintf(b->h.cfg_path, sizeof(b->h.cfg_path), "%s", cfg);
    snprintf(b->h.log_path, sizeof(b->h.log_path), "%s", log);
    unlink(log); /* not the last run's lines */
    if (harness_daemon_start(&b->h) != 0) {
        die("fork");
    }
}

static void daemon_stop(struct bench *b)
{
    harness_daemon_stop(&b->h, 0, NULL);
}

/* ---- consume ---- */

struct feed {
    struct bench *b;
    long n;
};

static void on_gen(void *arg, const struct ow_gen_event *ev, const char *line, size_t len)
{
    struct feed *f = arg;

    (void)ev;
    produce(f->b, (int32_t)(f->n % f->b->partitions), line, len);
    f->n++;
}

/* The daemon's consumer settings (kafka_out.c), so the baseline is on equal terms. */
static const struct harness_prop daemon_consumer_props[] = {
    {"fetch.wait.max.ms", "5"},
    {"queued.min.messages", OW_KAFKA_QUEUED_MIN_MESSAGES},
    {"queued.max.messages.kbytes", OW_KAFKA_QUEUED_MAX_KBYTES},
    {"enable.auto.commit", "false"},
    {NULL, NULL},
};

static rd_kafka_t *consumer(struct bench *b, const char *group)
{
    rd_kafka_t *rk = harness_consumer(&b->h, group, daemon_consumer_props);

    if (rk == NULL) {
        die("cannot make a consumer");
    }
    return rk;
}

/* The reader of the alerts topic in the latency run. Why its fetch wait is 1 ms: the mock
 * broker holds every fetch that finds no data for the whole fetch.wait.max.ms (its source says
 * so: it does not cut the wait short when a producer writes), where a real broker answers as
 * soon as data arrives. The input hop is measured with the daemon's 5 ms on both sides (raw
 * and opswatchd); the alert's extra hop would otherwise add up to 5 ms of the mock's waiting
 * that no dashboard on a real broker sees. */
static const struct harness_prop alert_reader_props[] = {
    {"fetch.wait.max.ms", "1"},
    {"enable.auto.commit", "false"},
    {NULL, NULL},
};

static void assign_all(rd_kafka_t *rk, const char *topic, int parts, int64_t offset)
{
    harness_assign(rk, &topic, 1, parts, offset);
}

/* (a) a bare consumer with the daemon's consumer settings, from the beginning of every
 * partition: events/s. */
static double raw_consume_once(struct bench *b, long total, int run)
{
    char group[32];
    double t0;
    double secs;
    long n = 0;
    rd_kafka_t *rk;

    snprintf(group, sizeof(group), "bench-raw-%d", run);
    rk = consumer(b, group);
    assign_all(rk, IN_TOPIC, b->partitions, RD_KAFKA_OFFSET_BEGINNING);
    t0 = harness_mono();
    while (n < total && harness_mono() - t0 < 600) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

        if (m != NULL) {
            n += m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
            rd_kafka_message_destroy(m);
        }
    }
    secs = harness_mono() - t0;
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return (double)n / secs;
}

/* CPU seconds (user + system) of process @pid, all threads, or of its thread @tid alone. */
static double cpu_seconds(pid_t pid, pid_t tid)
{
    char path[64];
    char line[1024];
    unsigned long long user = 0;
    unsigned long long sys = 0;
    const char *p;
    FILE *f;

    if (tid != 0) {
        snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    } else {
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    }
    f = fopen(path, "r");
    if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
        die("cannot read the daemon's CPU time from /proc");
    }
    fclose(f);
    /* After the command's closing parenthesis: state is field 3, utime 14, stime 15. */
    p = strrchr(line, ')');
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &user, &sys) != 2) {
        die("cannot parse /proc/PID/stat");
    }
    return (double)(user + sys) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds of this process's mock cluster threads ("rdk:mock"): the broker side of both
 * consumers' fetches, on the same two cores, so a consumer that makes the mock work harder per
 * event slows itself. */
static double mock_cpu_seconds(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    double sum = 0;

    if (d == NULL) {
        die("cannot list /proc/self/task");
    }
    while ((e = readdir(d)) != NULL) {
        char path[300];
        char comm[64] = "";
        FILE *f;

        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        if (fgets(comm, sizeof(comm), f) != NULL && strncmp(comm, "rdk:mock", 8) == 0) {
            sum += cpu_seconds(getpid(), (pid_t)atoi(e->d_name));
        }
        fclose(f);
    }
    closedir(d);
    return sum;
}

/* The peak resident memory of process @pid so far (VmHWM), in MiB. */
static double peak_rss_mib(pid_t pid)
{
    char path[64];
    char line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        die("cannot read the daemon's /proc/PID/status");
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    if (kib < 0) {
        die("no VmHWM in /proc/PID/status");
    }
    return (double)kib / 1024.0;
}

/* (b) opswatchd on a fresh state folder and group: events/s applied (its metrics) and events/s
 * applied, saved and committed (the group's offsets), both from its assignment; its CPU time
 * per event over the same span, all its threads (@cpu_us) and its loop thread, the main one,
 * alone (@loop_us); and its peak resident memory (@rss_mib: the prefetched messages, the
 * remembered ids of the whole backlog, the engine). CPU time moves much less than a rate with
 * what else the VM runs, so it compares builds across runs. */
static void daemon_consume_once(struct bench *b, long total, int run, double *applied,
                                double *committed, double *cpu_us, double *loop_us, double *rss_mib)
{
    double cpu_all = 0;
    double cpu_loop = 0;
    char group[32];
    char cfg[600];
    char log[600];
    char state[600];
    char cmd[700];
    double t0;
    double t_assigned = 0;
    double t_applied = 0;
    double t_done = 0;
    rd_kafka_t *probe;

    snprintf(group, sizeof(group), "bench-d-%d", run);
    snprintf(cfg, sizeof(cfg), "%s/consume.json", b->dir);
    snprintf(log, sizeof(log), "%s/consume-%d.log", b->dir, run);
    snprintf(state, sizeof(state), "%s/state-consume", b->dir);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
    if (system(cmd) != 0) {
        die("rm");
    }
    write_config(b, cfg, group, state, IN_TOPIC);
    probe = consumer(b, group); /* reads the group's committed offsets; never joins */
    daemon_start(b, cfg, log);
    t0 = harness_mono();
    while (harness_mono() - t0 < 900) {
        useconds_t wait = 20000;

        if (t_assigned == 0 && harness_log_has(&b->h, "assigned partitions=")) {
            t_assigned = harness_mono();
            cpu_all = cpu_seconds(b->h.child, 0);
            cpu_loop = cpu_seconds(b->h.child, b->h.child);
        }
        if (t_assigned > 0 && t_applied == 0) {
            double received = harness_metric(&b->h, "opswatch_events_received_total");

            if (received >= (double)total) {
                t_applied = harness_mono();
            } else {
                /* Why the probes are sparse until the end: a /metrics request costs the
                 * daemon's loop about 0.5 ms and an OffsetFetch of every partition costs the
                 * mock broker, neither of which the raw consumer pays; every 20 ms that was
                 * 2.5% of the loop. Every 100 ms until 90% is in, then every 5 ms. */
                wait = received >= 0.9 * (double)total ? 5000 : 100000;
            }
        }
        if (t_applied > 0) {
            if (harness_committed_sum(probe, IN_TOPIC, b->partitions) >= total) {
                t_done = harness_mono();
                break;
            }
            wait = 5000;
        }
        usleep(wait);
    }
    if (t_done == 0) {
        die("opswatchd did not commit the backlog in time (see consume-N.log)");
    }
    *applied = (double)total / (t_applied - t_assigned);
    *committed = (double)total / (t_done - t_assigned);
    *cpu_us = (cpu_seconds(b->h.child, 0) - cpu_all) * 1e6 / (double)total;
    *loop_us = (cpu_seconds(b->h.child, b->h.child) - cpu_loop) * 1e6 / (double)total;
    *rss_mib = peak_rss_mib(b->h.child);
    daemon_stop(b);
    rd_kafka_destroy(probe);
}

static int cmp_double(const void *a, const void *b);

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void print_runs(const char *name, const double *v, int n)
{
    printf("%s", name);
    for (int i = 0; i < n; i++) {
        printf("%s%.0f", i == 0 ? " " : ",", v[i]);
    }
    printf("\n");
}

/* Why runs alternate and the medians are compared: on a shared 2-core machine one run of a
 * few seconds swings by a third; alternating raw and daemon runs puts them under the same
 * neighbours, and the median of each drops the outliers. */
static void bench_consume(struct bench *b)
{
    struct feed f = {b, 0};
    char scale[32];
    char months[] = "3";
    char *argv[] = {"gen",      "--seed", "4242",    "--start", "2021-01",
                    "--months", months,   "--scale", scale,     NULL};
    double raw[CONSUME_RUNS];
    double applied[CONSUME_RUNS];
    double committed[CONSUME_RUNS];
    double all_us[CONSUME_RUNS];
    double loop_us[CONSUME_RUNS];
    double rss_mib[CONSUME_RUNS];
    double mock_raw[CONSUME_RUNS];
    double mock_daemon[CONSUME_RUNS];
    double t0;

    /* About 25,000 events per unit of scale over 3 months. */
    snprintf(scale, sizeof(scale), "%.1f", (double)b->events / 25000.0 + 1);
    t0 = harness_mono();
    if (ow_gen_stream(9, argv, on_gen, &f) != 0) {
        die("gen");
    }
    rd_kafka_flush(b->h.rk, 600000);
    printf("backlog_events %ld\nbacklog_partitions %d\nbacklog_produce_s %.1f\n", f.n,
           b->partitions, harness_mono() - t0);
    fflush(stdout);
    for (int r = 0; r < CONSUME_RUNS; r++) {
        double m0 = mock_cpu_seconds();

        raw[r] = raw_consume_once(b, f.n, r);
        mock_raw[r] = (mock_cpu_seconds() - m0) * 1e6 / (double)f.n;
        m0 = mock_cpu_seconds();
        daemon_consume_once(b, f.n, r, &applied[r], &committed[r], &all_us[r], &loop_us[r],
                            &rss_mib[r]);
        mock_daemon[r] = (mock_cpu_seconds() - m0) * 1e6 / (double)f.n;
    }
    print_runs("raw_consume_runs", raw, CONSUME_RUNS);
    print_runs("daemon_applied_runs", applied, CONSUME_RUNS);
    print_runs("daemon_committed_runs", committed, CONSUME_RUNS);
    printf("raw_consume_rate %.0f\n", median(raw, CONSUME_RUNS));
    printf("daemon_applied_rate %.0f\n", median(applied, CONSUME_RUNS));
    printf("daemon_committed_rate %.0f\n", median(committed, CONSUME_RUNS));
    printf("daemon_cpu_us_per_event %.2f\ndaemon_loop_cpu_us_per_event %.2f\n",
           median(all_us, CONSUME_RUNS), median(loop_us, CONSUME_RUNS));
    printf("daemon_peak_rss_mib %.0f\n", median(rss_mib, CONSUME_RUNS));
    /* Whole runs, start and stop included (the daemon's run is longer: its group join and
     * its idle wait for the last commit). */
    printf("mock_cpu_us_per_event_raw %.2f\nmock_cpu_us_per_event_daemon %.2f\n",
           median(mock_raw, CONSUME_RUNS), median(mock_daemon, CONSUME_RUNS));
    fflush(stdout);
}

/* ---- latency ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    if (n == 0) {
        return -1;
    }
    return v[(size_t)(p * (double)(n - 1) + 0.5)];
}

static int make_event(char *buf, size_t len, long i, bool alert, const char *when)
{
    if (alert) {
        return snprintf(buf, len,
                        "{\"event_id\":\"lat-%ld\",\"type\":\"csr\",\"schema_version\":1,"
                        "\"occurred_at\":\"%s\",\"party_id\":\"LAT-%ld\",\"batched\":false,"
                        "\"count\":1,\"region\":\"north\"}",
                        i, when, i);
    }
    return snprintf(buf, len,
                    "{\"event_id\":\"lat-%ld\",\"type\":\"csr\",\"schema_version\":1,"
                    "\"occurred_at\":\"%s\",\"party_id\":\"SUB-01\",\"batched\":false,"
                    "\"count\":1,\"region\":\"north\"}",
                    i, when);
}

/* One latency run: when each event was produced, and when the bare consumer and the alerts
 * reader got it (0: not yet), by the event's number. */
struct lat_run {
    long total;
    long base; /* the number of the first event */
    double *sent;
    double *raw_got;
    double *alert_got;
    double *alert_made; /* the alert record's CreateTime: when opswatchd produced it (ms res.) */
};

/* Whether @m is the alert of a latency event, and which: its number, or -1. */
static long alert_event(const rd_kafka_message_t *m)
{
    const char *p;

    if (m->key == NULL || memmem(m->key, m->key_len, "csr_no_forecast", 15) == NULL) {
        return -1;
    }
    p = memmem(m->key, m->key_len, "LAT-", 4);
    return p != NULL ? strtol(p + 4, NULL, 10) : -1;
}

/* Read what @rk has now (up to a batch), noting when each latency event arrived; @alerts: @rk
 * reads the alerts topic, else the input. Returns how many messages it read. */
static int read_arrivals(rd_kafka_t *rk, bool alerts, struct lat_run *r)
{
    int n = 0;

    for (; n < 256; n++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 0);
        double got = wall();
        long k = -1;

        if (m == NULL) {
            break;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (alerts) {
                k = alert_event(m);
            } else {
                const char *p = memmem(m->payload, m->len, "lat-", 4);

                k = p != NULL ? strtol(p + 4, NULL, 10) : -1;
            }
        }
        k -= r->base;
        if (k >= 0 && k < r->total) {
            double *at = alerts ? &r->alert_got[k] : &r->raw_got[k];

            if (*at == 0) {
                *at = got;
            }
            if (alerts) {
                rd_kafka_timestamp_type_t tt;
                int64_t made = rd_kafka_message_timestamp(m, &tt);

                r->alert_made[k] = tt == RD_KAFKA_TIMESTAMP_CREATE_TIME ? (double)made / 1e3 : 0;
            }
        }
        rd_kafka_message_destroy(m);
    }
    return n;
}

/* Produce at b->rate for b->seconds to @topic, the input of the processor under test, reading
 * the bare consumer @raw and the alerts reader @alerts in the same loop: both measure the same
 * events at the same moments of the machine. Event numbers start at @base (a party is new
 * only once). */
static void run_latency(struct bench *b, const char *topic, long base, rd_kafka_t *raw,
                        rd_kafka_t *alerts, struct lat_run *r)
{
    double t0 = harness_mono();
    long i = 0;
    char buf[512];
    char when[40];
    time_t now = time(NULL) - 60;
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    r->base = base;
    while (i < r->total || harness_mono() - t0 < (double)r->total / b->rate + 1) {
        int n;

        while (i < r->total && harness_mono() - t0 >= (double)i / b->rate) {
            int len = make_event(buf, sizeof(buf), base + i, i % ALERT_EVERY == 0, when);

            r->sent[i] = wall();
            produce_to(b, topic, (int32_t)(i % LAT_PARTS), buf, (size_t)len);
            i++;
        }
        rd_kafka_poll(b->h.rk, 0);
        n = read_arrivals(raw, false, r);
        n += read_arrivals(alerts, true, r);
        if (n == 0) {
            usleep(100);
        }
    }
}

/* The ms from @from[k] to @to[k] (both known, in s), sorted, over the counted events (after
 * the first second, which warms up), one in @every. */
static size_t spans(const struct bench *b, const struct lat_run *r, const double *from,
                    const double *to, long every, double *out)
{
    size_t n = 0;

    for (long k = (long)b->rate; k < r->total; k += every) {
        if (from[k] > 0 && to[k] > 0) {
            out[n++] = (to[k] - from[k]) * 1e3;
        }
    }
    qsort(out, n, sizeof(double), cmp_double);
    return n;
}

/* The measures of a latency run, pooled over its rounds. */
enum { LAT_RAW, LAT_ALERT, LAT_AFTER_RAW, LAT_HOP, LAT_MEASURES };

struct lat_pool {
    double *v[LAT_MEASURES];
    size_t n[LAT_MEASURES];
};

static void pool_add(struct lat_pool *pool, int measure, const double *v, size_t n)
{
    pool->v[measure] = ow_xrealloc(pool->v[measure], (pool->n[measure] + n + 1) * sizeof(double));
    memcpy(pool->v[measure] + pool->n[measure], v, n * sizeof(double));
    pool->n[measure] += n;
}

/* Prints the pooled percentiles, each key after @prefix, and frees them. */
static void pool_print(struct lat_pool *pool, const char *prefix)
{
    static const char *const names[LAT_MEASURES] = {"raw", "alert", "alert_after_raw", "alert_hop"};

    for (int i = 0; i < LAT_MEASURES; i++) {
        double *v = pool->v[i];
        size_t n = pool->n[i];

        qsort(v, n, sizeof(double), cmp_double);
        printf("%s%s_samples %zu\n%s%s_p50_ms %.2f\n%s%s_p99_ms %.2f\n", prefix, names[i], n,
               prefix, names[i], pct(v, n, 0.5), prefix, names[i], pct(v, n, 0.99));
        free(v);
    }
    fflush(stdout);
}

/* One round: the processor under test (started by the caller) reads @topic; a bare consumer
 * of @topic and a reader of the alerts topic start at their ends, then the run. Adds its
 * measures to @pool. */
static void latency_round(struct bench *b, const char *topic, long base, struct lat_pool *pool)
{
    struct lat_run r = {.total = (long)(b->rate * b->seconds / LAT_ROUNDS)};
    double *v = ow_xcalloc((size_t)r.total + 1, sizeof(double));
    rd_kafka_t *raw;
    rd_kafka_t *alerts;

    r.sent = ow_xcalloc((size_t)r.total + 1, sizeof(double));
    r.raw_got = ow_xcalloc((size_t)r.total + 1, sizeof(double));
    r.alert_got = ow_xcalloc((size_t)r.total + 1, sizeof(double));
    r.alert_made = ow_xcalloc((size_t)r.total + 1, sizeof(double));
    /* The baseline: a bare consumer of the processor's input with opswatchd's consumer
     * settings, in a group of its own. */
    raw = consumer(b, "lat-raw");
    assign_all(raw, topic, LAT_PARTS, RD_KAFKA_OFFSET_END);
    alerts = harness_consumer(&b->h, "lat-alerts", alert_reader_props);
    if (alerts == NULL) {
        die("cannot make a consumer");
    }
    assign_all(alerts, out_topics[0], OUT_PARTS, RD_KAFKA_OFFSET_END);
    usleep(500000);
    run_latency(b, topic, base, raw, alerts, &r);
    rd_kafka_consumer_close(raw);
    rd_kafka_destroy(raw);
    rd_kafka_consumer_close(alerts);
    rd_kafka_destroy(alerts);

    pool_add(pool, LAT_RAW, v, spans(b, &r, r.sent, r.raw_got, 1, v));
    pool_add(pool, LAT_ALERT, v, spans(b, &r, r.sent, r.alert_got, ALERT_EVERY, v));
    /* Where the alert's time goes: the same events' raw arrival to their alert's arrival,
     * event by event, and the alert's own hop (produced to read here; CreateTime has ms
     * resolution). */
    pool_add(pool, LAT_AFTER_RAW, v, spans(b, &r, r.raw_got, r.alert_got, ALERT_EVERY, v));
    pool_add(pool, LAT_HOP, v, spans(b, &r, r.alert_made, r.alert_got, ALERT_EVERY, v));
    free(v);
    free(r.sent);
    free(r.raw_got);
    free(r.alert_got);
    free(r.alert_made);
}

/* A round of the floor: bench_relay (next to this program) in place of opswatchd. */
static void latency_relay_round(struct bench *b, int round, struct lat_pool *pool)
{
    char parts[16];
    char topic[64];
    char relay[700];
    const char *slash = strrchr(b->self, '/');
    const char *bootstrap =
        b->brokers != NULL ? b->brokers : rd_kafka_mock_cluster_bootstraps(b->h.mc);
    char said[16];
    int ready[2];
    pid_t pid;
    int status;

    snprintf(relay, sizeof(relay), "%.*sbench_relay",
             slash != NULL ? (int)(slash - b->self + 1) : 0, b->self);
    snprintf(parts, sizeof(parts), "%d", LAT_PARTS);
    lat_topic(topic, sizeof(topic), "relay", round);
    if (pipe(ready) != 0) {
        die("pipe");
    }
    pid = fork();
    if (pid < 0) {
        die("fork");
    }
    if (pid == 0) {
        dup2(ready[1], STDOUT_FILENO);
        close(ready[0]);
        close(ready[1]);
        execl(relay, relay, bootstrap, topic, parts, out_topics[0], (char *)NULL);
        perror(relay);
        _exit(127);
    }
    close(ready[1]);
    if (read(ready[0], said, sizeof(said)) <= 0) { /* EOF: it failed and said why */
        die("bench_relay did not start");
    }
    close(ready[0]);
    usleep(500000); /* its assignment's offsets looked up */
    latency_round(b, topic, 100000000L * (1 + round), pool);
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
}

/* Why rounds, each on topics of their own: the mock finds a fetch's offset by walking the
 * partition's message sets from the oldest (rdkafka_mock.c, "FIXME: Maintain an index"), so
 * its fetches cost more the longer a topic runs. Over 30 s on one topic both latencies rose
 * all the way (raw p50 6 ms in the 3rd second, 13 ms by the 18th), then the mock fell behind
 * (p99 over 1 s). */
static void bench_latency(struct bench *b)
{
    struct lat_pool relay = {0};
    struct lat_pool daemon = {0};
    char cfg[600];
    char log[600];
    char state[600];
    char cmd[700];
    char inputs[256];
    char topic[64];
    double t0;

    snprintf(cfg, sizeof(cfg), "%s/latency.json", b->dir);
    snprintf(log, sizeof(log), "%s/latency.log", b->dir);
    snprintf(state, sizeof(state), "%s/state-latency", b->dir);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
    if (system(cmd) != 0) {
        die("rm");
    }
    /* opswatchd reads every round's topic from the start (harness_write_config quotes the
     * first and the last name). */
    inputs[0] = 0;
    for (int round = 0; round < LAT_ROUNDS; round++) {
        lat_topic(topic, sizeof(topic), "d", round);
        snprintf(inputs + strlen(inputs), sizeof(inputs) - strlen(inputs), "%s%s",
                 round > 0 ? "\", \"" : "", topic);
    }
    write_config(b, cfg, "lat-d", state, inputs);
    daemon_start(b, cfg, log);
    t0 = harness_mono();
    while (!harness_log_has(&b->h, "assigned partitions=") && harness_mono() - t0 < 60) {
        usleep(20000);
    }
    while (harness_metric(&b->h, "opswatch_ready") != 1 && harness_mono() - t0 < 120) {
        usleep(20000);
    }
    /* Relay and opswatchd take turns, so each sees the machine as the other did. */
    for (int round = 0; round < LAT_ROUNDS; round++) {
        latency_relay_round(b, round, &relay);
        lat_topic(topic, sizeof(topic), "d", round);
        latency_round(b, topic, 100000000L * (11 + round), &daemon);
    }
    printf("latency_save_prepare_ms %.2f\nlatency_save_ms %.2f\nlatency_save_bytes %.0f\n",
           harness_metric(&b->h, "opswatch_last_save_prepare_seconds") * 1e3,
           harness_metric(&b->h, "opswatch_last_save_seconds") * 1e3,
           harness_metric(&b->h, "opswatch_last_save_bytes"));
    daemon_stop(b);
    printf("latency_rate %.0f\nlatency_seconds %.0f\nlatency_rounds %d\n", b->rate, b->seconds,
           LAT_ROUNDS);
    pool_print(&relay, "relay_");
    pool_print(&daemon, "");
}

/* ---- ids ---- */

static int null_emit(struct ow_sink *sink, enum ow_stream stream, const char *key, json_t *rec)
{
    (void)sink;
    (void)stream;
    (void)key;
    json_decref(rec);
    return OW_OK;
}

/* Apply CSRs "ids-<first>".."ids-<first+n-1>", one every @step_ms from @t0 (Unix seconds). */
static void apply_ids(struct ow_engine *eng, long first, long n, time_t t0, double step_ms)
{
    char buf[400];
    char when[48];
    struct ow_source src = {"ids", 0, 0, 0};

    for (long i = first; i < first + n; i++) {
        double at = (double)t0 + (double)i * step_ms / 1e3;
        time_t s = (time_t)at;
        struct tm tm;
        int len;

        gmtime_r(&s, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        len = snprintf(buf, sizeof(buf),
                       "{\"event_id\":\"ids-%ld\",\"type\":\"csr\",\"schema_version\":1,"
                       "\"occurred_at\":\"%s.%03dZ\",\"party_id\":\"SUB-%02ld\","
                       "\"batched\":false,\"count\":1,\"region\":\"north\"}",
                       i, when, (int)((at - (double)s) * 1000), i % 8 + 1);
        src.offset = i;
        ow_engine_apply(eng, buf, (size_t)len, &src);
    }
}

static uint64_t dir_bytes(const char *dir)
{
    char cmd[700];
    FILE *p;
    unsigned long long kb = 0;

    snprintf(cmd, sizeof(cmd), "du -sk '%s'", dir);
    p = popen(cmd, "r");
    if (p != NULL) {
        if (fscanf(p, "%llu", &kb) != 1) {
            kb = 0;
        }
        pclose(p);
    }
    return kb * 1024;
}

/* A compacting save: the ids saved so far expire (more ids 10 days later in event time, the
 * wall clock moved along so they are not in the future), saved every 10,000 ids (1 s at 10k
 * events/s) until a save compacts the log: the ids then, the log it read and wrote, its loop part
 * and its total. */
static void bench_ids_compaction(struct bench *b, struct ow_config *cfg, const char *state,
                                 time_t t0, double step_ms)
{
    struct ow_sink sink = {null_emit, NULL};
    struct ow_engine *eng;
    struct ow_state *st;
    struct ow_state_stats ss = {0};
    struct ow_dedup_stats ds = {0};
    struct ow_err err;
    json_t *daemon = NULL;
    long first = 2 * b->ids;
    long chunk = 10000;
    uint64_t logged = 0;
    time_t later = t0 + 10 * 86400 - (time_t)((double)first * step_ms / 1e3);

    eng = ow_engine_create(cfg, &sink, true, &err);
    st = ow_state_open(state, &err);
    if (eng == NULL || st == NULL || ow_state_load(st, eng, &daemon, &err) != OW_OK) {
        die("compaction: load");
    }
    ow_engine_journal_enable(eng);
    ow_engine_set_wall_clock(eng, (int64_t)(t0 + 13 * 86400) * 1000000);
    for (long k = 0; k < 2 * b->ids / chunk && ss.compactions == 0; k++) {
        apply_ids(eng, first + k * chunk, chunk, later, step_ms);
        ow_state_stats(st, &ss);
        logged = ss.ids_logged;
        ow_engine_dedup_stats(eng, &ds);
        if (ow_state_save(st, eng, daemon, &err) != OW_OK) {
            die("compaction: save");
        }
        ow_state_stats(st, &ss);
    }
    /* table_ids: as the table counts them, ids past the span but not yet swept included */
    printf("ids_compact_table_ids %" PRIu64 "\nids_compact_log_before %" PRIu64
           "\nids_compact_log_after %" PRIu64 "\nids_compact_prepare_ms %.1f\n"
           "ids_compact_save_ms %.0f\n",
           ds.ids, logged, ss.ids_logged, ss.last_prepare_ms, ss.last_save_ms);
    if (ss.compactions == 0) {
        printf("ids_compact_none 1\n");
    }
    ow_state_close(st);
    ow_engine_destroy(eng);
    json_decref(daemon);
}

/* Start opswatchd on @cfg_path and time it from exec: *@restored_s to its state loaded (the
 * group join runs meanwhile), *@ready_s to /readyz 200 (also assigned; on the mock that
 * includes its fixed 3 s initial rebalance delay for a new group). -1: not within 120 s. */
static void time_to_ready(struct bench *b, const char *cfg_path, const char *log,
                          double *restored_s, double *ready_s)
{
    double t = harness_mono();

    *restored_s = 0;
    *ready_s = -1;
    daemon_start(b, cfg_path, log);
    while (harness_mono() - t < 120) {
        char body[4096];

        if (*restored_s == 0 && harness_log_has(&b->h, "INFO state: restored")) {
            *restored_s = harness_mono() - t;
        }
        if (harness_http_get(&b->h, "/readyz", body, sizeof(body)) == 200) {
            *ready_s = harness_mono() - t;
            break;
        }
        usleep(10000);
    }
    if (*restored_s == 0 && harness_log_has(&b->h, "INFO state: restored")) {
        *restored_s = *ready_s; /* both seen in the same probe */
    }
}

/* The ids part's state: a new folder @state with b->ids remembered ids applied and saved once
 * (the first save, all ids); if @saves, then 5 saves after 1 s of traffic each. */
static void ids_state(struct bench *b, struct ow_config *cfg, const char *state, time_t t0,
                      double step_ms, bool saves)
{
    struct ow_sink sink = {null_emit, NULL};
    struct ow_engine *eng;
    struct ow_state *st;
    struct ow_state_stats ss;
    struct ow_dedup_stats ds;
    struct ow_err err;
    json_t *daemon = json_pack("{s:{}, s:[]}", "offsets", "outbox");
    char cmd[700];
    double t;
    double save_ms[5];
    uint64_t save_bytes[5];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
    if (system(cmd) != 0) {
        die("rm");
    }
    eng = ow_engine_create(cfg, &sink, true, &err);
    st = ow_state_open(state, &err);
    if (eng == NULL || st == NULL || ow_state_load(st, eng, &daemon, &err) != OW_OK) {
        die("state");
    }
    daemon = json_pack("{s:{}, s:[]}", "offsets", "outbox");
    ow_engine_journal_enable(eng);
    ow_engine_set_wall_clock(eng, (int64_t)time(NULL) * 1000000);
    t = harness_mono();
    apply_ids(eng, 0, b->ids, t0, step_ms);
    printf("ids_apply_s %.2f\n", harness_mono() - t);
    t = harness_mono();
    if (ow_state_save(st, eng, daemon, &err) != OW_OK) {
        die("first save");
    }
    ow_state_stats(st, &ss);
    ow_engine_dedup_stats(eng, &ds);
    printf("ids_remembered %" PRIu64 "\nids_first_save_ms %.0f\nids_first_save_bytes %" PRIu64
           "\nids_first_save_prepare_ms %.1f\n",
           ds.ids, (harness_mono() - t) * 1e3, ss.bytes_written, ss.last_prepare_ms);
    for (int k = 0; saves && k < 5; k++) {
        apply_ids(eng, b->ids + k * 10000L, 10000, t0, step_ms / 1000.0);
        if (ow_state_save(st, eng, daemon, &err) != OW_OK) {
            die("save");
        }
        ow_state_stats(st, &ss);
        save_ms[k] = ss.last_save_ms;
        save_bytes[k] = ss.bytes_written;
    }
    if (saves) {
        qsort(save_ms, 5, sizeof(double), cmp_double);
        printf("ids_save_ms_median %.1f\nids_save_ms_max %.1f\nids_save_bytes %" PRIu64 "\n",
               save_ms[2], save_ms[4], save_bytes[4]);
        printf("ids_state_bytes %" PRIu64 "\n", dir_bytes(state));
    }
    ow_state_close(st);
    ow_engine_destroy(eng);
    json_decref(daemon);
}

/* Restart: load @state into a new engine. */
static void ids_load(struct ow_config *cfg, const char *state)
{
    struct ow_sink sink = {null_emit, NULL};
    struct ow_engine *eng;
    struct ow_state *st;
    struct ow_dedup_stats ds;
    struct ow_err err;
    json_t *daemon = NULL;
    double t;
    double load_ms;

    eng = ow_engine_create(cfg, &sink, true, &err);
    t = harness_mono();
    st = ow_state_open(state, &err);
    if (eng == NULL || st == NULL || ow_state_load(st, eng, &daemon, &err) != OW_OK) {
        die("load");
    }
    load_ms = (harness_mono() - t) * 1e3;
    ow_engine_dedup_stats(eng, &ds);
    printf("ids_load_ms %.0f\nids_loaded %" PRIu64 "\n", load_ms, ds.ids);
    ow_state_close(st);
    ow_engine_destroy(eng);
    json_decref(daemon);
}

/* The ids part; with @restart_only (--only restart), the state and opswatchd's restarts alone:
 * no save or load timings and no compaction. */
static void bench_ids(struct bench *b, bool restart_only)
{
    struct ow_conf_errors *errs = NULL;
    char state[600];
    char cfg_path[600];
    char log[600];
    struct ow_config *cfg;
    /* 10M ids over the last 2 days (inside the 7 d span), 1 s of new traffic per save. */
    double step_ms = 2.0 * 86400e3 / (double)b->ids;
    time_t t0 = time(NULL) - 3 * 86400;
    double ready_s = -1;
    double restored_s = 0;

    snprintf(state, sizeof(state), "%s/state-ids", b->dir);
    snprintf(cfg_path, sizeof(cfg_path), "%s/ids.json", b->dir);
    write_config(b, cfg_path, "ids-d", state, LAT_TOPIC);
    cfg = ow_config_load(cfg_path, &errs);
    if (cfg == NULL) {
        die("config");
    }
    ids_state(b, cfg, state, t0, step_ms, !restart_only);
    if (!restart_only) {
        ids_load(cfg, state);
    }

    /* opswatchd itself on that state: from exec to /readyz 200 (includes the group join);
     * then killed and started again, as after a crash. */
    snprintf(log, sizeof(log), "%s/ids.log", b->dir);
    time_to_ready(b, cfg_path, log, &restored_s, &ready_s);
    printf("ids_daemon_restored_s %.2f\nids_daemon_ready_s %.2f\n", restored_s, ready_s);
    /* Why only on a real broker: the mock knows no static members; the killed one stays in
     * its group until the session times out, and the rejoin then waits for it (89 s seen). */
    if (b->brokers != NULL) {
        if (harness_daemon_kill(&b->h) != 0) {
            die("kill");
        }
        time_to_ready(b, cfg_path, log, &restored_s, &ready_s);
        printf("ids_daemon_restart_restored_s %.2f\nids_daemon_restart_ready_s %.2f\n", restored_s,
               ready_s);
    }
    daemon_stop(b);
    if (!restart_only) {
        bench_ids_compaction(b, cfg, state, t0, step_ms);
    }
    ow_config_destroy(cfg);
    ow_conf_errors_destroy(errs);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct bench b;

    memset(&b, 0, sizeof(b));
    if (argc < 3) {
        fprintf(stderr, "usage: bench_live OPSWATCHD DIR [--events N] [--partitions P] "
                        "[--rate R] [--seconds S] [--ids N] [--only consume|latency|ids|restart] "
                        "[--brokers HOST:PORT]\n");
        return 2;
    }
    b.dir = argv[2];
    b.events = 2000000;
    b.partitions = 128;
    b.rate = 10000;
    b.seconds = 30;
    b.ids = 10000000;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--events") == 0) {
            b.events = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--partitions") == 0) {
            b.partitions = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--rate") == 0) {
            b.rate = atof(argv[i + 1]);
        } else if (strcmp(argv[i], "--seconds") == 0) {
            b.seconds = atof(argv[i + 1]);
        } else if (strcmp(argv[i], "--ids") == 0) {
            b.ids = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--only") == 0) {
            b.only = argv[i + 1];
        } else if (strcmp(argv[i], "--brokers") == 0) {
            b.brokers = argv[i + 1];
        }
    }
    mkdir(b.dir, 0755);
    signal(SIGPIPE, SIG_IGN);
    cluster_start(&b);
    b.h.bin = argv[1];
    b.self = argv[0];
    b.h.port = 30000 + (int)(getpid() % 20000);
    if (b.only == NULL || strcmp(b.only, "ids") == 0 || strcmp(b.only, "restart") == 0) {
        bench_ids(&b, b.only != NULL && strcmp(b.only, "restart") == 0);
    }
    if (b.only == NULL || strcmp(b.only, "latency") == 0) {
        bench_latency(&b);
    }
    if (b.only == NULL || strcmp(b.only, "consume") == 0) {
        bench_consume(&b);
    }
    daemon_stop(&b);
    harness_stop(&b.h);
    return 0;
}
