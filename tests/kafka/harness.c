/* harness.c: the mock cluster (or a real one), the daemon as a child process, and their
 * probes. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"

/* The harness started last and not stopped yet: what harness_teardown stops after a failed
 * assertion jumped out of a test. */
static struct harness *current;

double harness_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char why[256];

    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "harness: %s: %s\n", name, why);
        return false;
    }
    return true;
}

static bool conf_set_all(rd_kafka_conf_t *conf, const struct harness_prop *props)
{
    for (size_t i = 0; props != NULL && props[i].name != NULL; i++) {
        if (!conf_set(conf, props[i].name, props[i].value)) {
            return false;
        }
    }
    return true;
}

int harness_start(struct harness *h, int brokers, const struct harness_prop *props)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char n[16];
    char why[256];

    memset(h, 0, sizeof(*h));
    snprintf(n, sizeof(n), "%d", brokers);
    if (!conf_set(conf, "test.mock.num.brokers", n) || !conf_set(conf, "log_level", "2") ||
        !conf_set_all(conf, props)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    /* rd_kafka_new owns conf on success only. */
    h->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (h->rk == NULL) {
        fprintf(stderr, "harness: producer: %s\n", why);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    h->mc = rd_kafka_handle_mock_cluster(h->rk);
    if (h->mc == NULL) {
        fprintf(stderr, "harness: no mock cluster\n");
        rd_kafka_destroy(h->rk);
        h->rk = NULL;
        return -1;
    }
    current = h;
    return 0;
}

/* The cluster's bootstrap.servers: the mock's, or the real one's. */
static const char *brokers(const struct harness *h)
{
    return h->mc != NULL ? rd_kafka_mock_cluster_bootstraps(h->mc) : h->bootstrap;
}

int harness_start_external(struct harness *h, const char *bootstrap,
                           const struct harness_prop *props)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e;
    char why[256];

    memset(h, 0, sizeof(*h));
    snprintf(h->bootstrap, sizeof(h->bootstrap), "%s", bootstrap);
    if (!conf_set(conf, "bootstrap.servers", bootstrap) || !conf_set(conf, "log_level", "2") ||
        !conf_set_all(conf, props)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    h->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (h->rk == NULL) {
        fprintf(stderr, "harness: producer: %s\n", why);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    /* Say it here, once, rather than through every later call timing out. */
    e = rd_kafka_metadata(h->rk, 0, NULL, &md, 10000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "harness: no Kafka cluster answers at %s: %s\n", bootstrap,
                rd_kafka_err2str(e));
        rd_kafka_destroy(h->rk);
        h->rk = NULL;
        return -1;
    }
    rd_kafka_metadata_destroy(md);
    current = h;
    return 0;
}

/* Whether the cluster's metadata shows each of the @n @topics with @partitions partitions, each
 * with a leader. */
static bool topics_led(struct harness *h, const char *const *topics, int n, int partitions)
{
    const struct rd_kafka_metadata *md = NULL;
    int ready = 0;

    if (rd_kafka_metadata(h->rk, 1, NULL, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return false;
    }
    for (int i = 0; i < n; i++) {
        for (int t = 0; t < md->topic_cnt; t++) {
            const rd_kafka_metadata_topic_t *mt = &md->topics[t];
            bool led = mt->err == RD_KAFKA_RESP_ERR_NO_ERROR && mt->partition_cnt == partitions;

            if (strcmp(mt->topic, topics[i]) != 0) {
                continue;
            }
            for (int p = 0; led && p < mt->partition_cnt; p++) {
                led = mt->partitions[p].leader >= 0;
            }
            ready += led ? 1 : 0;
        }
    }
    rd_kafka_metadata_destroy(md);
    return ready == n;
}

/* A real cluster: CreateTopics (the broker answers once the topics exist, within 30 s), then
 * wait until its metadata gives every partition a leader, so that the first produce and fetch
 * find them. */
static int topics_create_admin(struct harness *h, const char *const *topics, int n, int partitions,
                               int replication)
{
    rd_kafka_NewTopic_t **nt = calloc((size_t)n, sizeof(*nt));
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(h->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_queue_t *q = rd_kafka_queue_new(h->rk);
    const rd_kafka_topic_result_t **res;
    rd_kafka_event_t *ev = NULL;
    double until = harness_mono() + 30;
    char why[256];
    size_t nres = 0;
    int rc = -1;

    if (rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, why, sizeof(why)) != 0) {
        fprintf(stderr, "harness: CreateTopics options: %s\n", why);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        nt[i] = rd_kafka_NewTopic_new(topics[i], partitions, replication, why, sizeof(why));
        if (nt[i] == NULL) {
            fprintf(stderr, "harness: topic %s: %s\n", topics[i], why);
            goto out;
        }
    }
    rd_kafka_CreateTopics(h->rk, nt, (size_t)n, opts, q);
    ev = rd_kafka_queue_poll(q, 40000);
    if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "harness: CreateTopics: %s\n",
                ev != NULL ? rd_kafka_event_error_string(ev) : "no answer within 40 s");
        goto out;
    }
    res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &nres);
    rc = 0;
    for (size_t i = 0; i < nres; i++) {
        if (rd_kafka_topic_result_error(res[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "harness: topic %s: %s\n", rd_kafka_topic_result_name(res[i]),
                    rd_kafka_topic_result_error_string(res[i]));
            rc = -1;
        }
    }
    while (rc == 0 && !topics_led(h, topics, n, partitions)) {
        if (harness_mono() > until) {
            fprintf(stderr, "harness: topics created but without leaders after 30 s\n");
            rc = -1;
        }
        usleep(100000);
    }
out:
    if (ev != NULL) {
        rd_kafka_event_destroy(ev);
    }
    for (int i = 0; i < n; i++) {
        if (nt[i] != NULL) {
            rd_kafka_NewTopic_destroy(nt[i]);
        }
    }
    free(nt);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(opts);
    return rc;
}

int harness_topics_create(struct harness *h, const char *const *topics, int n, int partitions,
                          int replication)
{
    if (h->mc == NULL) {
        return topics_create_admin(h, topics, n, partitions, replication);
    }
    for (int i = 0; i < n; i++) {
        rd_kafka_resp_err_t e =
            rd_kafka_mock_topic_create(h->mc, topics[i], partitions, replication);

        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "harness: topic %s: %s\n", topics[i], rd_kafka_err2str(e));
            return -1;
        }
    }
    return 0;
}

int harness_make_dir(struct harness *h, const char *prefix)
{
    snprintf(h->dir, sizeof(h->dir), "/tmp/%s-XXXXXX", prefix);
    if (mkdtemp(h->dir) == NULL) {
        perror("harness: mkdtemp");
        return -1;
    }
    snprintf(h->cfg_path, sizeof(h->cfg_path), "%s/config.json", h->dir);
    snprintf(h->log_path, sizeof(h->log_path), "%s/opswatchd.log", h->dir);
    return 0;
}

void harness_stop(struct harness *h)
{
    if (current == h) {
        current = NULL;
    }
    if (h->child > 0) {
        kill(h->child, SIGKILL);
        waitpid(h->child, NULL, 0);
        h->child = 0;
    }
    harness_member_leave(h); /* while the cluster it talks to is still up */
    if (h->rk != NULL) {
        rd_kafka_destroy(h->rk);
        h->rk = NULL;
        h->mc = NULL;
    }
}

static void save_tmp_path(const struct harness *h, char *path, size_t len)
{
    snprintf(path, len, "%s/state/state.json.tmp", h->dir);
}

int harness_fail_saves(const struct harness *h)
{
    char path[400];
    double until = harness_mono() + 5;

    save_tmp_path(h, path, sizeof(path));
    while (mkdir(path, 0755) != 0) {
        if (errno != EEXIST || harness_mono() > until) {
            fprintf(stderr, "harness: mkdir %s: %s\n", path, strerror(errno));
            return -1;
        }
        usleep(2000); /* a save is writing it: it is renamed within milliseconds */
    }
    return 0;
}

int harness_unfail_saves(const struct harness *h)
{
    char path[400];

    save_tmp_path(h, path, sizeof(path));
    return rmdir(path);
}

int harness_remove_dir(const struct harness *h)
{
    char cmd[400];

    if (getenv("OW_KEEP") != NULL) {
        fprintf(stderr, "kept %s\n", h->dir);
        return 0;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
    return system(cmd) == 0 ? 0 : -1;
}

int harness_teardown(void **state)
{
    struct harness *h = current;

    (void)state;
    if (h != NULL) {
        harness_stop(h);
        if (h->dir[0] != '\0') {
            harness_remove_dir(h);
        }
    }
    return 0;
}

rd_kafka_resp_err_t harness_produce(struct harness *h, const char *topic, int32_t partition,
                                    const char *buf, size_t len)
{
    rd_kafka_resp_err_t e;

    do {
        e = rd_kafka_producev(h->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_VALUE((void *)buf, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(h->rk, 10);
        }
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    return e;
}

rd_kafka_t *harness_consumer(struct harness *h, const char *group, const struct harness_prop *props)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];
    rd_kafka_t *rk;

    if (!conf_set(conf, "bootstrap.servers", brokers(h)) || !conf_set(conf, "group.id", group) ||
        !conf_set_all(conf, props) || !conf_set(conf, "log_level", "2")) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (rk == NULL) {
        fprintf(stderr, "harness: consumer %s: %s\n", group, why);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

rd_kafka_t *harness_member_join(struct harness *h, const char *group,
                                const struct harness_prop *props, const char *topic)
{
    rd_kafka_topic_partition_list_t *t;
    rd_kafka_resp_err_t e;

    if (h->member != NULL) {
        return NULL;
    }
    h->member = harness_consumer(h, group, props);
    if (h->member == NULL) {
        return NULL;
    }
    t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, topic, RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(h->member, t);
    rd_kafka_topic_partition_list_destroy(t);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "harness: member of %s: subscribe: %s\n", group, rd_kafka_err2str(e));
        harness_member_leave(h);
        return NULL;
    }
    return h->member;
}

void harness_member_leave(struct harness *h)
{
    if (h->member == NULL) {
        return;
    }
    rd_kafka_consumer_close(h->member); /* no commit: it read nothing for good */
    rd_kafka_destroy(h->member);
    h->member = NULL;
}

int harness_assign(rd_kafka_t *rk, const char *const *topics, int n, int parts, int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n * parts);
    rd_kafka_resp_err_t e;

    for (int t = 0; t < n; t++) {
        for (int p = 0; p < parts; p++) {
            rd_kafka_topic_partition_list_add(l, topics[t], p)->offset = offset;
        }
    }
    e = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return e;
}

int64_t harness_committed_sum(rd_kafka_t *rk, const char *topic, int parts)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    int64_t sum = 0;

    for (int p = 0; p < parts; p++) {
        rd_kafka_topic_partition_list_add(l, topic, p);
    }
    if (rd_kafka_committed(rk, l, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int p = 0; p < parts; p++) {
            sum += l->elems[p].offset > 0 ? l->elems[p].offset : 0;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return sum;
}

int harness_read_topics(struct harness *h, const char *const *topics, int n, int parts,
                        double limit,
                        void (*on_record)(void *arg, int topic, const char *key, json_t *rec),
                        void *arg)
{
    return harness_read_topics_with(h, NULL, topics, n, parts, limit, on_record, arg);
}

int harness_read_topics_with(struct harness *h, const struct harness_prop *props,
                             const char *const *topics, int n, int parts, double limit,
                             void (*on_record)(void *arg, int topic, const char *key, json_t *rec),
                             void *arg)
{
    rd_kafka_t *rk = harness_consumer(h, "reader", props);
    double quiet_since = harness_mono();
    double t0 = harness_mono();
    int rc = 0;

    if (rk == NULL) {
        return -1;
    }
    if (harness_assign(rk, topics, n, parts, RD_KAFKA_OFFSET_BEGINNING) != 0) {
        rc = -1;
        goto out_destroy;
    }
    while (rc == 0 && harness_mono() - quiet_since < 2.0 && harness_mono() - t0 < limit) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        json_error_t jerr;
        char key[600];
        json_t *rec;
        int t = 0;

        if (m == NULL) {
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            quiet_since = harness_mono();
            while (t < n && strcmp(rd_kafka_topic_name(m->rkt), topics[t]) != 0) {
                t++;
            }
            rec = t < n ? json_loadb(m->payload, m->len, 0, &jerr) : NULL;
            if (rec == NULL) {
                fprintf(stderr, "harness: a record of %s is not JSON or not asked for\n",
                        rd_kafka_topic_name(m->rkt));
                rc = -1;
            } else {
                snprintf(key, sizeof(key), "%.*s", (int)m->key_len, (const char *)m->key);
                on_record(arg, t, key, rec);
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
out_destroy:
    rd_kafka_destroy(rk);
    return rc;
}

int harness_write_config(const struct harness *h, const struct harness_config *cfg)
{
    FILE *f = fopen(h->cfg_path, "w");
    char state_dir[300];
    char listen[40] = "";

    if (f == NULL) {
        perror(h->cfg_path);
        return -1;
    }
    if (cfg->state_dir == NULL) {
        snprintf(state_dir, sizeof(state_dir), "%s/state", h->dir);
    }
    if (cfg->http) {
        snprintf(listen, sizeof(listen), "127.0.0.1:%d", h->port);
    }
    fprintf(f,
            "{%s\"kafka\": {\"brokers\": \"%s\", \"group_id\": \"%s\",\n"
            "  \"input_topics\": [\"%s\"],\n"
            "  \"properties\": {%s}%s},\n"
            " \"outputs\": {\"alerts\": \"%s\", \"aggregates\": \"%s\", \"deadletter\": \"%s\",\n"
            "  \"snapshots\": \"%s\"},\n"
            " \"live\": {\"state_dir\": \"%s\"%s},\n"
            " \"http\": {\"listen\": \"%s\"}}\n",
            cfg->top, brokers(h), cfg->group, cfg->input, cfg->properties,
            cfg->kafka != NULL ? cfg->kafka : "", cfg->outputs[0], cfg->outputs[1], cfg->outputs[2],
            cfg->outputs[3], cfg->state_dir != NULL ? cfg->state_dir : state_dir, cfg->live,
            listen);
    return fclose(f) == 0 ? 0 : -1;
}

/* Fork and exec the daemon. With @hold_stop_signals, the signals are blocked in this thread
 * around the fork, so the child has them blocked from its first instruction (a mask survives
 * fork and exec) and a signal sent as soon as this returns is held, not acted on. */
static int daemon_spawn(struct harness *h, bool hold_stop_signals)
{
    const char *bin = h->bin;
    sigset_t hold;
    sigset_t was;
    pid_t pid;

    if (bin == NULL) {
        bin = getenv("OPSWATCHD") != NULL ? getenv("OPSWATCHD") : "build/opswatchd";
    }
    sigemptyset(&hold);
    if (hold_stop_signals) {
        sigaddset(&hold, SIGTERM);
        sigaddset(&hold, SIGINT);
        sigaddset(&hold, SIGHUP);
    }
    pthread_sigmask(SIG_BLOCK, &hold, &was);
    pid = fork();
    if (pid == 0) {
        int fd = open(h->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

        dup2(fd, 2);
        dup2(fd, 1);
        execl(bin, bin, "--config", h->cfg_path, "--log-level", "info", (char *)NULL);
        _exit(127);
    }
    pthread_sigmask(SIG_SETMASK, &was, NULL);
    if (pid < 0) {
        perror("harness: fork");
        return -1;
    }
    h->child = pid;
    return 0;
}

int harness_daemon_start(struct harness *h)
{
    return daemon_spawn(h, false);
}

int harness_daemon_start_signals_held(struct harness *h)
{
    return daemon_spawn(h, true);
}

/* Reap the daemon if it exits within @secs (0: wait as long as it takes); *@status gets its wait
 * status. @returns whether it was reaped. */
static bool reap_within(struct harness *h, double secs, int *status)
{
    double t0 = harness_mono();
    pid_t r = 0;

    if (secs <= 0) {
        return waitpid(h->child, status, 0) == h->child;
    }
    while (harness_mono() - t0 < secs && (r = waitpid(h->child, status, WNOHANG)) == 0) {
        usleep(20000);
    }
    return r == h->child;
}

int harness_daemon_wait_exit(struct harness *h, double secs)
{
    int status = -1;

    if (h->child <= 0 || !reap_within(h, secs, &status)) {
        return -1;
    }
    h->child = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int harness_daemon_stop(struct harness *h, double kill_after, double *secs)
{
    double t0 = harness_mono();
    int status = 0;
    bool reaped;

    if (h->child <= 0) {
        return 0;
    }
    if (kill(h->child, SIGTERM) != 0) {
        perror("harness: SIGTERM");
        return -2;
    }
    reaped = reap_within(h, kill_after, &status);
    if (secs != NULL) {
        *secs = harness_mono() - t0;
    }
    if (!reaped) {
        kill(h->child, SIGKILL);
        waitpid(h->child, &status, 0);
        status = -1;
    }
    h->child = 0;
    return status;
}

bool harness_daemon_drain(struct harness *h)
{
    double secs = 0;
    int status;

    if (h->child <= 0) {
        fprintf(stderr, "harness: no opswatchd to stop\n");
        return false;
    }
    status = harness_daemon_stop(h, 12.0, &secs);
    if (status == -1) {
        fprintf(stderr, "opswatchd did not exit within 12 s of SIGTERM\n");
    }
    if (status < 0) {
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || secs >= 10.0) {
        fprintf(stderr,
                "opswatchd after SIGTERM: wait status 0x%x after %.1f s (want exit 0 "
                "within 10 s)\n",
                (unsigned)status, secs);
        return false;
    }
    return true;
}

int harness_daemon_kill(struct harness *h)
{
    pid_t pid = h->child;
    int status;

    if (pid <= 0 || kill(pid, SIGKILL) != 0) {
        return -1;
    }
    h->child = 0;
    return waitpid(pid, &status, 0) == pid ? 0 : -1;
}

bool harness_log_has(const struct harness *h, const char *needle)
{
    FILE *f = fopen(h->log_path, "r");
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

bool harness_wait_log(const struct harness *h, const char *needle, double secs)
{
    double until = harness_mono() + secs;

    while (harness_mono() < until) {
        if (harness_log_has(h, needle)) {
            return true;
        }
        usleep(50000);
    }
    return false;
}

int harness_http_get(const struct harness *h, const char *path, char *body, size_t len)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char req[256];
    size_t got = 0;
    ssize_t n;
    int status = -1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)h->port);
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

double harness_metric(const struct harness *h, const char *name)
{
    static char body[1 << 20];
    char pat[128];
    const char *p;

    if (harness_http_get(h, "/metrics", body, sizeof(body)) != 200) {
        return -1;
    }
    snprintf(pat, sizeof(pat), "\n%s ", name);
    p = strstr(body, pat);
    return p != NULL ? strtod(p + strlen(pat), NULL) : -1;
}

int64_t harness_saved_offset(const struct harness *h, const char *topic, int partition)
{
    char path[400];
    char part[16];
    json_t *st;
    json_t *offsets;
    int64_t off = 0;

    snprintf(path, sizeof(path), "%s/state/state.json", h->dir);
    st = json_load_file(path, 0, NULL);
    if (st == NULL) {
        return -1;
    }
    offsets = json_object_get(json_object_get(json_object_get(st, "daemon"), "offsets"), topic);
    if (partition >= 0) {
        json_t *o;

        snprintf(part, sizeof(part), "%d", partition);
        o = json_object_get(offsets, part);
        off = json_is_integer(o) ? json_integer_value(o) : -1;
    } else {
        const char *k;
        json_t *v;

        json_object_foreach(offsets, k, v)
        {
            off += json_integer_value(v);
        }
    }
    json_decref(st);
    return off;
}

void harness_strip(json_t *v, const char *wall_floor, const char *const *drop)
{
    const char *k;
    json_t *x;
    size_t i;

    if (json_is_object(v)) {
        json_t *et = json_object_get(v, "event_time");

        for (i = 0; drop[i] != NULL; i++) {
            json_object_del(v, drop[i]);
        }
        if (json_is_string(et) && strcmp(json_string_value(et), wall_floor) >= 0) {
            json_object_set_new(v, "event_time", json_string("(wall clock)"));
        }
        json_object_foreach(v, k, x)
        {
            harness_strip(x, wall_floor, drop);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            harness_strip(x, wall_floor, drop);
        }
    }
}

void harness_lines_add(struct harness_lines *l, const char *s, size_t len)
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
    harness_lines_add(arg, line, len);
}

int harness_lines_gen(struct harness_lines *l, const char *seed, const char *start,
                      const char *months, const char *scale)
{
    char *argv[] = {"gen",      "--seed",       (char *)seed, "--start",     (char *)start,
                    "--months", (char *)months, "--scale",    (char *)scale, NULL};

    return ow_gen_stream(9, argv, on_gen, l);
}

void harness_lines_free(struct harness_lines *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
}
