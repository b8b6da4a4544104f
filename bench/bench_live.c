/* bench_live.c: the live daemon's numbers against librdkafka's mock cluster started here (one
 * broker, in this process; opswatchd runs as a child process, as in tests/kafka).
 *
 * usage: bench_live OPSWATCHD DIR [--events N] [--partitions P] [--rate R] [--seconds S]
 *                   [--ids N] [--only consume|latency|ids]
 *
 * consume: a generated backlog of N events (default 2,000,000) over P partitions (default 128:
 *   the mock keeps about 5 MiB per partition), read (a) by a bare librdkafka consumer and (b) by
 *   opswatchd, which applies, saves (live.checkpoint_interval 1 s) and commits: the rate until
 *   the group's committed offsets reach the end, from the assignment on.
 * latency: R events/s (default 10,000) for S seconds (default 20): the produce-to-consume time
 *   of a bare consumer, and the produce-to-alert time through opswatchd (one event in 500 is a
 *   CSR of a new party without a forecast, which fires csr_no_forecast at that event; the
 *   others are CSRs of one party). The first second is not counted.
 * ids: the state store alone at N remembered ids (default 10,000,000): time and bytes of a save
 *   after 1 s of traffic at 10,000 events/s, and the time to load the state into a new engine
 *   (restart to ready, less the group join, which the mock delays 3 s); then opswatchd's own
 *   start on that state to /readyz 200.
 * Prints "key value" lines for bench/run.sh. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
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
#include "kafka_out.h"
#include "gen.h"
#include "state.h"

#define IN_TOPIC "b.events"
#define LAT_TOPIC "b.latency"
#define LAT_TOPIC_D "b.latency.d"
#define LAT_PARTS 8
#define ALERT_EVERY 500 /* one event in 500 fires an alert (a new party each time) */
#define NOUT 4
#define OUT_PARTS 16

#define CONSUME_RUNS 3

static const char *const out_topics[NOUT] = {"b.alerts", "b.aggregates", "b.deadletter",
                                             "b.snapshots"};

struct bench {
    const char *opswatchd;
    const char *dir;
    long events;
    int partitions;
    double rate;
    double seconds;
    long ids;
    const char *only;
    rd_kafka_t *rk; /* hosts the mock cluster; the producer */
    rd_kafka_mock_cluster_t *mc;
    int port;
    pid_t child;
};

static double wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_live: %s\n", what);
    exit(1);
}

static void setc(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char why[256];

    if (rd_kafka_conf_set(conf, k, v, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "bench_live: %s: %s\n", k, why);
        exit(1);
    }
}

static void cluster_start(struct bench *b)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];

    setc(conf, "test.mock.num.brokers", "1");
    setc(conf, "linger.ms", "5");
    setc(conf, "log_level", "2");
    setc(conf, "queue.buffering.max.messages", "1000000");
    setc(conf, "queue.buffering.max.kbytes", "1048576");
    b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (b->rk == NULL) {
        die(why);
    }
    b->mc = rd_kafka_handle_mock_cluster(b->rk);
    rd_kafka_mock_topic_create(b->mc, IN_TOPIC, b->partitions, 1);
    rd_kafka_mock_topic_create(b->mc, LAT_TOPIC, LAT_PARTS, 1);
    rd_kafka_mock_topic_create(b->mc, LAT_TOPIC_D, LAT_PARTS, 1);
    for (int i = 0; i < NOUT; i++) {
        rd_kafka_mock_topic_create(b->mc, out_topics[i], OUT_PARTS, 1);
    }
}

static void produce_to(struct bench *b, const char *topic, int32_t part, const char *buf,
                       size_t len)
{
    rd_kafka_resp_err_t e;

    do {
        e = rd_kafka_producev(b->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                              RD_KAFKA_V_VALUE((void *)buf, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(b->rk, 10);
        }
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        die(rd_kafka_err2str(e));
    }
}

static void produce(struct bench *b, int32_t part, const char *buf, size_t len)
{
    produce_to(b, IN_TOPIC, part, buf, len);
}

static void write_config(struct bench *b, const char *path, const char *group, const char *state,
                         const char *topic)
{
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        die("cannot write the configuration");
    }
    fprintf(f,
            "{\"kafka\": {\"brokers\": \"%s\", \"group_id\": \"%s\",\n"
            "  \"input_topics\": [\"%s\"],\n"
            "  \"properties\": {\"client.id\": \"bench\"%s}},\n"
            " \"outputs\": {\"alerts\": \"%s\", \"aggregates\": \"%s\", \"deadletter\": \"%s\",\n"
            "  \"snapshots\": \"%s\"},\n"
            " \"live\": {\"state_dir\": \"%s\", \"stale_after\": \"0s\"%s},\n"
            " \"http\": {\"listen\": \"127.0.0.1:%d\"}}\n",
            rd_kafka_mock_cluster_bootstraps(b->mc), group, topic,
            getenv("OW_BENCH_PROPS") != NULL ? getenv("OW_BENCH_PROPS") : "", out_topics[0],
            out_topics[1], out_topics[2], out_topics[3], state,
            getenv("OW_BENCH_LIVE") != NULL ? getenv("OW_BENCH_LIVE") : "", b->port);
    fclose(f);
}

static void daemon_start(struct bench *b, const char *cfg, const char *log)
{
    pid_t pid;

    unlink(log); /* not the last run's lines */
    pid = fork();
    if (pid < 0) {
        die("fork");
    }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        dup2(fd, 2);
        dup2(fd, 1);
        execl(b->opswatchd, b->opswatchd, "--config", cfg, "--log-level", "info", (char *)NULL);
        _exit(127);
    }
    b->child = pid;
}

static void daemon_stop(struct bench *b)
{
    int status;

    if (b->child > 0) {
        kill(b->child, SIGTERM);
        waitpid(b->child, &status, 0);
        b->child = 0;
    }
}

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

static double metric(struct bench *b, const char *name)
{
    static char body[1 << 20];
    char pat[128];
    const char *p;

    if (http_get(b->port, "/metrics", body, sizeof(body)) != 200) {
        return -1;
    }
    snprintf(pat, sizeof(pat), "\n%s ", name);
    p = strstr(body, pat);
    return p != NULL ? strtod(p + strlen(pat), NULL) : -1;
}

static bool log_has(const char *log, const char *needle)
{
    FILE *f = fopen(log, "r");
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

static rd_kafka_t *consumer(struct bench *b, const char *group)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];
    rd_kafka_t *rk;

    setc(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(b->mc));
    setc(conf, "group.id", group);
    /* The daemon's consumer settings (kafka_out.c), so the baseline is on equal terms. */
    setc(conf, "fetch.wait.max.ms", "5");
    setc(conf, "queued.min.messages", OW_KAFKA_QUEUED_MIN_MESSAGES);
    setc(conf, "enable.auto.commit", "false");
    setc(conf, "log_level", "2");
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (rk == NULL) {
        die(why);
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

static void assign_all(rd_kafka_t *rk, const char *topic, int parts, int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);

    for (int p = 0; p < parts; p++) {
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = offset;
    }
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

static int64_t committed_sum(rd_kafka_t *rk, int parts)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    int64_t sum = 0;

    for (int p = 0; p < parts; p++) {
        rd_kafka_topic_partition_list_add(l, IN_TOPIC, p);
    }
    if (rd_kafka_committed(rk, l, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int p = 0; p < parts; p++) {
            sum += l->elems[p].offset > 0 ? l->elems[p].offset : 0;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return sum;
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
    t0 = mono();
    while (n < total && mono() - t0 < 600) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

        if (m != NULL) {
            n += m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
            rd_kafka_message_destroy(m);
        }
    }
    secs = mono() - t0;
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return (double)n / secs;
}

/* (b) opswatchd on a fresh state folder and group: events/s applied (its metrics) and events/s
 * applied, saved and committed (the group's offsets), both from its assignment. */
static void daemon_consume_once(struct bench *b, long total, int run, double *applied,
                                double *committed)
{
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
    t0 = mono();
    while (mono() - t0 < 900) {
        if (t_assigned == 0 && log_has(log, "assigned partitions=")) {
            t_assigned = mono();
        }
        if (t_assigned > 0 && t_applied == 0 &&
            metric(b, "opswatch_events_received_total") >= (double)total) {
            t_applied = mono();
        }
        if (t_assigned > 0 && committed_sum(probe, b->partitions) >= total) {
            t_done = mono();
            break;
        }
        usleep(20000);
    }
    if (t_done == 0) {
        die("opswatchd did not commit the backlog in time (see consume-N.log)");
    }
    if (t_applied == 0) {
        t_applied = t_done; /* committed implies applied; both seen in one probe */
    }
    *applied = (double)total / (t_applied - t_assigned);
    *committed = (double)total / (t_done - t_assigned);
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
    double t0;

    /* About 25,000 events per unit of scale over 3 months. */
    snprintf(scale, sizeof(scale), "%.1f", (double)b->events / 25000.0 + 1);
    t0 = mono();
    if (ow_gen_stream(9, argv, on_gen, &f) != 0) {
        die("gen");
    }
    rd_kafka_flush(b->rk, 600000);
    printf("backlog_events %ld\nbacklog_partitions %d\nbacklog_produce_s %.1f\n", f.n,
           b->partitions, mono() - t0);
    fflush(stdout);
    for (int r = 0; r < CONSUME_RUNS; r++) {
        raw[r] = raw_consume_once(b, f.n, r);
        daemon_consume_once(b, f.n, r, &applied[r], &committed[r]);
    }
    print_runs("raw_consume_runs", raw, CONSUME_RUNS);
    print_runs("daemon_applied_runs", applied, CONSUME_RUNS);
    print_runs("daemon_committed_runs", committed, CONSUME_RUNS);
    printf("raw_consume_rate %.0f\n", median(raw, CONSUME_RUNS));
    printf("daemon_applied_rate %.0f\n", median(applied, CONSUME_RUNS));
    printf("daemon_committed_rate %.0f\n", median(committed, CONSUME_RUNS));
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

/* Produce at b->rate for b->seconds; @rk_in reads the input (raw) or @rk_alerts the alerts. */
static void run_latency(struct bench *b, rd_kafka_t *rk, bool alerts, double *lat, size_t *nlat,
                        long base)
{
    const char *topic = alerts ? LAT_TOPIC_D : LAT_TOPIC;
    long total = (long)(b->rate * b->seconds);
    double *sent = calloc((size_t)total + 1, sizeof(double));
    double t0 = mono();
    long i = 0;
    char buf[512];
    char when[40];
    time_t now = time(NULL) - 60;
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    *nlat = 0;
    while (i < total || mono() - t0 < b->seconds + 3) {
        rd_kafka_message_t *m;

        while (i < total && mono() - t0 >= (double)i / b->rate) {
            bool alert = i % ALERT_EVERY == 0;
            int len = make_event(buf, sizeof(buf), base + i, alert, when);

            sent[i] = wall();
            produce_to(b, topic, (int32_t)(i % LAT_PARTS), buf, (size_t)len);
            i++;
        }
        rd_kafka_poll(b->rk, 0);
        m = rd_kafka_consumer_poll(rk, 0);
        if (m == NULL) {
            usleep(100);
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            double got = wall();
            const char *p = NULL;
            long k;

            if (!alerts) {
                p = memmem(m->payload, m->len, "lat-", 4);
            } else if (m->key != NULL && memmem(m->key, m->key_len, "csr_no_forecast", 15)) {
                p = memmem(m->key, m->key_len, "LAT-", 4);
            }
            if (p != NULL) {
                k = strtol(p + 4, NULL, 10) - base;
                /* The first second warms up (offset lookups, connections): not counted. */
                if (k >= (long)b->rate && k < total && sent[k] > 0) {
                    lat[(*nlat)++] = (got - sent[k]) * 1e3;
                    sent[k] = 0;
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    free(sent);
}

static void bench_latency(struct bench *b)
{
    long total = (long)(b->rate * b->seconds);
    double *raw = calloc((size_t)total + 1, sizeof(double));
    double *alr = calloc((size_t)total + 1, sizeof(double));
    size_t nraw = 0;
    size_t nalr = 0;
    char cfg[600];
    char log[600];
    char state[600];
    char cmd[700];
    rd_kafka_t *rk;
    double t0;

    /* Raw: a bare consumer on the input topic, from its end. */
    rk = consumer(b, "lat-raw");
    assign_all(rk, LAT_TOPIC, LAT_PARTS, RD_KAFKA_OFFSET_END);
    usleep(500000);
    run_latency(b, rk, false, raw, &nraw, 100000000);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);

    /* Through opswatchd: from the produce of the event to its alert on the alerts topic. */
    snprintf(cfg, sizeof(cfg), "%s/latency.json", b->dir);
    snprintf(log, sizeof(log), "%s/latency.log", b->dir);
    snprintf(state, sizeof(state), "%s/state-latency", b->dir);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
    if (system(cmd) != 0) {
        die("rm");
    }
    write_config(b, cfg, "lat-d", state, LAT_TOPIC_D);
    rk = consumer(b, "lat-alerts");
    assign_all(rk, out_topics[0], OUT_PARTS, RD_KAFKA_OFFSET_END);
    daemon_start(b, cfg, log);
    t0 = mono();
    while (!log_has(log, "assigned partitions=") && mono() - t0 < 60) {
        usleep(20000);
    }
    usleep(1500000); /* the backlog of the consume part, if any, is behind it */
    while (metric(b, "opswatch_ready") != 1 && mono() - t0 < 120) {
        usleep(20000);
    }
    run_latency(b, rk, true, alr, &nalr, 200000000);
    daemon_stop(b);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    qsort(raw, nraw, sizeof(double), cmp_double);
    qsort(alr, nalr, sizeof(double), cmp_double);
    printf("latency_rate %.0f\nlatency_seconds %.0f\n", b->rate, b->seconds);
    printf("raw_samples %zu\nraw_p50_ms %.2f\nraw_p99_ms %.2f\n", nraw, pct(raw, nraw, 0.5),
           pct(raw, nraw, 0.99));
    printf("alert_samples %zu\nalert_p50_ms %.2f\nalert_p99_ms %.2f\n", nalr, pct(alr, nalr, 0.5),
           pct(alr, nalr, 0.99));
    fflush(stdout);
    free(raw);
    free(alr);
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

static void bench_ids(struct bench *b)
{
    struct ow_conf_errors *errs = NULL;
    char state[600];
    char cfg_path[600];
    char log[600];
    char cmd[700];
    struct ow_config *cfg;
    struct ow_sink sink = {null_emit, NULL};
    struct ow_engine *eng;
    struct ow_state *st;
    struct ow_state_stats ss;
    struct ow_dedup_stats ds;
    struct ow_err err;
    json_t *daemon = json_pack("{s:{}, s:[]}", "offsets", "outbox");
    /* 10M ids over the last 2 days (inside the 7 d span), 1 s of new traffic per save. */
    double step_ms = 2.0 * 86400e3 / (double)b->ids;
    time_t t0 = time(NULL) - 3 * 86400;
    double t;
    double save_ms[5];
    uint64_t save_bytes[5];
    double load_ms;
    double ready_s = -1;

    snprintf(state, sizeof(state), "%s/state-ids", b->dir);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
    if (system(cmd) != 0) {
        die("rm");
    }
    snprintf(cfg_path, sizeof(cfg_path), "%s/ids.json", b->dir);
    write_config(b, cfg_path, "ids-d", state, LAT_TOPIC);
    cfg = ow_config_load(cfg_path, &errs);
    if (cfg == NULL) {
        die("config");
    }
    eng = ow_engine_create(cfg, &sink, true, &err);
    st = ow_state_open(state, &err);
    if (eng == NULL || st == NULL || ow_state_load(st, eng, &daemon, &err) != OW_OK) {
        die("state");
    }
    daemon = json_pack("{s:{}, s:[]}", "offsets", "outbox");
    ow_engine_journal_enable(eng);
    ow_engine_set_wall_clock(eng, (int64_t)time(NULL) * 1000000);
    t = mono();
    apply_ids(eng, 0, b->ids, t0, step_ms);
    printf("ids_apply_s %.2f\n", mono() - t);
    t = mono();
    if (ow_state_save(st, eng, daemon, &err) != OW_OK) {
        die("first save");
    }
    ow_state_stats(st, &ss);
    ow_engine_dedup_stats(eng, &ds);
    printf("ids_remembered %" PRIu64 "\nids_first_save_ms %.0f\nids_first_save_bytes %" PRIu64 "\n",
           ds.ids, (mono() - t) * 1e3, ss.bytes_written);
    for (int k = 0; k < 5; k++) {
        apply_ids(eng, b->ids + k * 10000L, 10000, t0, step_ms / 1000.0);
        if (ow_state_save(st, eng, daemon, &err) != OW_OK) {
            die("save");
        }
        ow_state_stats(st, &ss);
        save_ms[k] = ss.last_save_ms;
        save_bytes[k] = ss.bytes_written;
    }
    qsort(save_ms, 5, sizeof(double), cmp_double);
    printf("ids_save_ms_median %.1f\nids_save_ms_max %.1f\nids_save_bytes %" PRIu64 "\n",
           save_ms[2], save_ms[4], save_bytes[4]);
    printf("ids_state_bytes %" PRIu64 "\n", dir_bytes(state));
    ow_state_close(st);
    ow_engine_destroy(eng);
    json_decref(daemon);

    /* Restart: load into a new engine. */
    eng = ow_engine_create(cfg, &sink, true, &err);
    t = mono();
    st = ow_state_open(state, &err);
    if (st == NULL || ow_state_load(st, eng, &daemon, &err) != OW_OK) {
        die("load");
    }
    load_ms = (mono() - t) * 1e3;
    ow_engine_dedup_stats(eng, &ds);
    printf("ids_load_ms %.0f\nids_loaded %" PRIu64 "\n", load_ms, ds.ids);
    ow_state_close(st);
    ow_engine_destroy(eng);
    json_decref(daemon);
    ow_config_destroy(cfg);
    ow_conf_errors_destroy(errs);

    /* opswatchd itself on that state: from exec to /readyz 200 (includes the group join). */
    snprintf(log, sizeof(log), "%s/ids.log", b->dir);
    t = mono();
    daemon_start(b, cfg_path, log);
    while (mono() - t < 120) {
        char body[4096];

        if (http_get(b->port, "/readyz", body, sizeof(body)) == 200) {
            ready_s = mono() - t;
            break;
        }
        usleep(10000);
    }
    printf("ids_daemon_ready_s %.2f\n", ready_s);
    daemon_stop(b);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct bench b;

    memset(&b, 0, sizeof(b));
    if (argc < 3) {
        fprintf(stderr, "usage: bench_live OPSWATCHD DIR [--events N] [--partitions P] "
                        "[--rate R] [--seconds S] [--ids N] [--only consume|latency|ids]\n");
        return 2;
    }
    b.opswatchd = argv[1];
    b.dir = argv[2];
    b.events = 2000000;
    b.partitions = 128;
    b.rate = 10000;
    b.seconds = 20;
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
        }
    }
    mkdir(b.dir, 0755);
    b.port = 30000 + (int)(getpid() % 20000);
    signal(SIGPIPE, SIG_IGN);
    cluster_start(&b);
    if (b.only == NULL || strcmp(b.only, "ids") == 0) {
        bench_ids(&b);
    }
    if (b.only == NULL || strcmp(b.only, "latency") == 0) {
        bench_latency(&b);
    }
    if (b.only == NULL || strcmp(b.only, "consume") == 0) {
        bench_consume(&b);
    }
    daemon_stop(&b);
    rd_kafka_destroy(b.rk);
    return 0;
}
