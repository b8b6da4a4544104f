/* harness.h: opswatchd as a child process against librdkafka's mock cluster in this process,
 * or against a real Kafka cluster (harness_start_external).
 *
 * One harness serves the live-daemon tests (tests/kafka/test_*.c) and the live benchmark
 * (bench/bench_live.c): it starts the mock cluster inside a producer (or connects a producer
 * to a real cluster), creates topics, makes consumers, writes
 * the daemon's configuration, starts and stops opswatchd, waits for lines in its log, asks its
 * HTTP endpoints, and reads output topics, saved and committed offsets. It asserts nothing:
 * actions return 0 or -1 (with a line on stderr that says why), predicates return bool, and
 * the caller decides whether that fails a test or ends a benchmark. Nothing here is
 * thread-safe except harness_produce (librdkafka's producer is). */
#ifndef OW_TESTS_KAFKA_HARNESS_H
#define OW_TESTS_KAFKA_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* A mock cluster (or a real one), the folder a daemon runs in, and the daemon. */
struct harness {
    rd_kafka_t *rk;              /* hosts the mock cluster; also the caller's producer */
    rd_kafka_mock_cluster_t *mc; /* borrowed from rk; NULL on a real cluster, so a test that
                                    drives the mock (rd_kafka_mock_*) cannot run there */
    char bootstrap[256];         /* a real cluster's bootstrap.servers ("" on the mock) */
    const char *bin;             /* opswatchd to run; NULL: $OPSWATCHD, else build/opswatchd */
    char dir[256];               /* harness_make_dir's folder ("" none) */
    char cfg_path[600];          /* the configuration harness_write_config writes and the
                                    daemon runs on */
    char log_path[600];          /* the daemon's stdout and stderr, appended */
    int port;                    /* the daemon's HTTP port, when harness_config.http */
    pid_t child;                 /* the running daemon, 0 none */
    rd_kafka_t *member;          /* another member of a group (harness_member_join), NULL none */
};

/* A librdkafka client property. Lists of them end with { NULL, NULL }. */
struct harness_prop {
    const char *name;
    const char *value;
};

/** Monotonic seconds, for deadlines and durations. */
double harness_mono(void);

/** Start a mock cluster of @brokers brokers inside a new producer: *@h is zeroed, then h->rk
 * and h->mc are set. The producer gets test.mock.num.brokers, log_level 2 and @props, a
 * NULL-terminated list of name, value pairs (NULL: none). @returns 0, or -1 (nothing to
 * stop). */
int harness_start(struct harness *h, int brokers, const struct harness_prop *props);

/** Use the real Kafka cluster at @bootstrap (host:port[,...]) instead of a mock: *@h is
 * zeroed, h->rk becomes a plain producer on it (log_level 2 and @props, NULL: none) and h->mc
 * stays NULL. The other harness functions then work on that cluster. @returns 0, or -1
 * (nothing to stop) when the producer cannot be made or the cluster does not answer a metadata
 * request within 10 s. */
int harness_start_external(struct harness *h, const char *bootstrap,
                           const struct harness_prop *props);

/** Create each of the @n topics @topics with @partitions partitions of @replication replicas:
 * on the mock cluster directly; on a real cluster with the Admin API (CreateTopics), then
 * waits (at most 30 s) until every partition has a leader. A topic that exists already is an
 * error. @returns 0, or -1 at the first that fails. */
int harness_topics_create(struct harness *h, const char *const *topics, int n, int partitions,
                          int replication);

/** A new folder /tmp/<@prefix>-XXXXXX in h->dir; h->cfg_path becomes <dir>/config.json and
 * h->log_path <dir>/opswatchd.log. @returns 0 or -1. */
int harness_make_dir(struct harness *h, const char *prefix);

/** Kill the daemon if one runs (SIGKILL, reaped), then destroy the producer and with it the
 * mock cluster (a real cluster keeps running, with its topics). The folder stays: see
 * harness_remove_dir. */
void harness_stop(struct harness *h);

/** Make the running daemon's saves fail as on a full disk: a directory in the place of
 * <h->dir>/state/state.json.tmp. A save in flight may hold that name as a file for a moment
 * (written, fsynced, then renamed): then the directory is tried again, for up to 5 s.
 * @returns 0, or -1 (errno set). */
int harness_fail_saves(const struct harness *h);

/** Undo harness_fail_saves. @returns 0, or -1 (errno set). */
int harness_unfail_saves(const struct harness *h);

/** Remove h->dir and everything in it, unless $OW_KEEP is set (then it says "kept <dir>" on
 * stderr). @returns 0, or -1 when rm failed. */
int harness_remove_dir(const struct harness *h);

/** A cmocka teardown: after a failed assertion left a harness running (the last one
 * harness_start started and harness_stop did not stop), stop it and remove its folder as
 * harness_stop and harness_remove_dir do. @returns 0. */
int harness_teardown(void **state);

/** Produce @len bytes of @buf (copied) to @partition of @topic, polling while the producer's
 * queue is full. Any thread. @returns librdkafka's error (RD_KAFKA_RESP_ERR_NO_ERROR). */
rd_kafka_resp_err_t harness_produce(struct harness *h, const char *topic, int32_t partition,
                                    const char *buf, size_t len);

/** A consumer of group @group on the cluster, its messages on rd_kafka_consumer_poll:
 * bootstrap.servers, group.id, @props (NULL: none) and log_level 2. @returns the new handle (the
 * caller closes and destroys it), or NULL. */
rd_kafka_t *harness_consumer(struct harness *h, const char *group,
                             const struct harness_prop *props);

/** Another member joins group @group: a harness_consumer with @props, subscribed to @topic,
 * held in h->member until harness_member_leave (harness_stop and so the teardown after a failed
 * assertion make it leave too). Not while one is there. @returns h->member, or NULL. */
rd_kafka_t *harness_member_join(struct harness *h, const char *group,
                                const struct harness_prop *props, const char *topic);

/** h->member (if any) leaves its group without committing, and is destroyed. */
void harness_member_leave(struct harness *h);

/** Assign partitions 0 .. @parts - 1 of each of the @n topics @topics to @rk, at @offset.
 * @returns 0, or librdkafka's error. */
int harness_assign(rd_kafka_t *rk, const char *const *topics, int n, int parts, int64_t offset);

/** The sum of the committed offsets of @rk's group on partitions 0 .. @parts - 1 of @topic
 * (unset ones count 0), asked with a 5 s timeout; 0 when the request fails. */
int64_t harness_committed_sum(rd_kafka_t *rk, const char *topic, int parts);

/** Read partitions 0 .. @parts - 1 of each of the @n topics @topics from the beginning, with a
 * consumer of group "reader", until 2 s pass without a record or @limit seconds in all.
 * @on_record gets each record: the index of its topic in @topics, its key ("" none) and its
 * payload parsed (a new reference, which @on_record takes). @returns 0, or -1 when the
 * consumer could not start or a payload is not JSON (reading stops there). */
int harness_read_topics(struct harness *h, const char *const *topics, int n, int parts,
                        double limit,
                        void (*on_record)(void *arg, int topic, const char *key, json_t *rec),
                        void *arg);

/** harness_read_topics with the reader's consumer given @props as well (NULL: none), e.g.
 * {"isolation.level", "read_uncommitted"}: librdkafka's default is read_committed, which on a
 * real cluster hides the records of open and aborted transactions. */
int harness_read_topics_with(struct harness *h, const struct harness_prop *props,
                             const char *const *topics, int n, int parts, double limit,
                             void (*on_record)(void *arg, int topic, const char *key, json_t *rec),
                             void *arg);

/* What harness_write_config writes besides the brokers. The strings are JSON text. */
struct harness_config {
    const char *top;            /* top-level members first, each followed by a comma, or "" */
    const char *group;          /* kafka.group_id */
    const char *input;          /* the one input topic */
    const char *properties;     /* the members of kafka.properties */
    const char *kafka;          /* members of kafka after properties, each after a comma, or NULL */
    const char *const *outputs; /* the alerts, aggregates, deadletter and snapshots topics */
    const char *state_dir;      /* live.state_dir; NULL: <h->dir>/state */
    const char *live;           /* members of live after state_dir, each after a comma, or "" */
    bool http;                  /* http.listen 127.0.0.1:<h->port>, else "" (off) */
};

/** Write the daemon's configuration to h->cfg_path: the cluster's brokers and @cfg.
 * @returns 0 or -1. */
int harness_write_config(const struct harness *h, const struct harness_config *cfg);

/** Fork and exec h->bin (see struct harness) --config h->cfg_path --log-level info, its
 * stdout and stderr appended to h->log_path; h->child is the new process. @returns 0, or -1
 * when fork failed. */
int harness_daemon_start(struct harness *h);

/** As harness_daemon_start, but the daemon starts with SIGTERM, SIGINT and SIGHUP blocked (a
 * process's blocked signals survive exec): a signal sent right after this call is held until
 * the daemon unblocks it, so it arrives at the earliest moment of start-up however fast or
 * slow that is. @returns 0, or -1 when fork failed. */
int harness_daemon_start_signals_held(struct harness *h);

/** SIGTERM to the daemon, then reap it. Not exited after @kill_after seconds (0: wait as long
 * as it takes), it gets SIGKILL. h->child is 0 after; no daemon running is a no-op returning
 * 0. *@secs (if not NULL) gets the seconds from SIGTERM to the exit. @returns the wait status,
 * -1 when it had to be killed, or -2 when SIGTERM could not be sent (h->child stays). */
int harness_daemon_stop(struct harness *h, double kill_after, double *secs);

/** Wait up to @secs for the daemon to exit by itself, and reap it (h->child is 0 after).
 * @returns its exit code, or -1 when none was running, it did not exit in time (it keeps
 * running), or a signal ended it. */
int harness_daemon_wait_exit(struct harness *h, double secs);

/** The drain's promise: true when the daemon, sent SIGTERM, exits 0 within 10 s (after 12 s it
 * is killed). Says on stderr what else happened. */
bool harness_daemon_drain(struct harness *h);

/** SIGKILL to the running daemon, reaped. @returns 0, or -1 when none was running or the
 * signal or the wait failed. */
int harness_daemon_kill(struct harness *h);

/** Whether a line of h->log_path contains @needle (false when there is no log yet). */
bool harness_log_has(const struct harness *h, const char *needle);

/** Whether a line with @needle appears in h->log_path within @secs seconds (checked every
 * 50 ms). */
bool harness_wait_log(const struct harness *h, const char *needle, double secs);

/** GET @path from 127.0.0.1:<h->port>: the whole response (status line, headers, body) in
 * @body, NUL-terminated, cut at @len - 1 bytes. @returns the HTTP status, or -1 when the
 * request failed. */
int harness_http_get(const struct harness *h, const char *path, char *body, size_t len);

/** The value of @name (a metric without labels) in the daemon's /metrics, or -1 when the
 * request failed or the metric is missing. Uses a static buffer: one thread only. */
double harness_metric(const struct harness *h, const char *name);

/** The offset of @partition of @topic in the daemon's last saved state (<h->dir>/state/
 * state.json), -1 when none; with @partition < 0, the sum over the topic's partitions. -1 when
 * no state is saved yet. */
int64_t harness_saved_offset(const struct harness *h, const char *topic, int partition);

/** Remove from @v, recursively, the members @drop names (NULL-terminated) and replace every
 * event_time at or after @wall_floor by "(wall clock)": what may differ between a live run
 * and the replay. */
void harness_strip(json_t *v, const char *wall_floor, const char *const *drop);

/* Lines of input, each a NUL-terminated copy. Zero-initialise; free with harness_lines_free. */
struct harness_lines {
    char **v;
    size_t n;
    size_t cap;
};

/** Append a copy of the @len bytes of @s. */
void harness_lines_add(struct harness_lines *l, const char *s, size_t len);

/** Append the lines of `opswatch gen --seed @seed --start @start --months @months --scale
 * @scale`. @returns ow_gen_stream's status (0 OK). */
int harness_lines_gen(struct harness_lines *l, const char *seed, const char *start,
                      const char *months, const char *scale);

void harness_lines_free(struct harness_lines *l);

#endif
