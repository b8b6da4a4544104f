/* demo.c: the mock cluster, the generator's stream, and the feed (see demo.h).
 *
 * Why the backlog stops at "now": an event ahead of the wall clock by more than
 * windows.future_limit is rejected, and live mode should look live: after the backlog, event
 * time is the wall clock. Why bursts are sized from the plan: the generator knows each party's
 * forecast and the demo counts what it sent, so a burst crosses the line on purpose rather than
 * by luck. */
#include "demo.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "alloc.h"
#include "gen.h"
#include "gen_internal.h"
#include "kafka_out.h"
#include "log.h"

#define DEMO_SEED 7
#define TICK_MS 20
#define BACKLOG_PER_TICK 20 /* 1000 events/s */
#define LIVE_EVERY_TICKS 3  /* ~17 events/s */
#define BURST_EVERY_MS 20000
#define BURST_EVENTS 10
#define LIVE_ID_BASE 500000000ULL

struct ow_demo {
    rd_kafka_t *rk; /* the producer that hosts the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    struct ow_live *lv;
    uv_timer_t tick;
    uv_timer_t burst;
    bool handles_open;
    struct ow_gen_event *ev; /* the backlog, in arrival order */
    size_t nev;
    size_t capev;
    size_t next;
    bool backlog_done;
    int64_t now_s;                                         /* when the stream was generated */
    int month;                                             /* the current month, y * 12 + m - 1 */
    int64_t fc_sr[OW_GEN_SR_PARTIES][OW_GEN_SERVICES + 1]; /* [0]: all services; -1 none */
    int64_t fc_csr[OW_GEN_CSR_PARTIES];
    int64_t act_sr[OW_GEN_SR_PARTIES];
    int64_t act_csr[OW_GEN_CSR_PARTIES];
    int burst_next; /* round robin over SR then CSR parties */
    uint64_t next_id;
    uint64_t ticks;
    uint64_t produced;
    struct ow_gen_rng rng;
    char line[2048];
};

static const char *const kind_topics[] = {
    "dcc.service-requests", "dcc.csr",      "dcc.forecasts",   "dcc.incidents",
    "dcc.ch-returns",       "dcc.problems", "dcc.performance",
};

static const char *topic_of(const struct ow_config *cfg, const struct ow_gen_event *ev)
{
    int kind = ev->kind == OW_GEN_K_BAD ? (ev->base >= 0 ? ev->base : OW_GEN_K_SR) : ev->kind;
    const char *want = kind_topics[kind];

    for (size_t i = 0; i < cfg->kafka.input_topics.count; i++) {
        if (strcmp(cfg->kafka.input_topics.items[i], want) == 0) {
            return want;
        }
    }
    return cfg->kafka.input_topics.items[0];
}

static void produce(struct ow_demo *d, const struct ow_gen_event *ev)
{
    size_t len = ow__gen_render(ev, d->line, sizeof(d->line));
    const char *topic = topic_of(d->lv->cfg, ev);

    if (rd_kafka_producev(d->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(d->line, len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        d->produced++;
    }
}

/* What the generator's plan says about the current month, from the events it sent. */
static void count(struct ow_demo *d, const struct ow_gen_event *ev)
{
    if (ev->bad != OW_GEN_BAD_NONE || ev->copy != 0) {
        return;
    }
    if (ev->kind == OW_GEN_K_FORECAST && ev->period == d->month && ev->party >= 0) {
        if (ev->report == 0 && ev->party < OW_GEN_SR_PARTIES) {
            d->fc_sr[ev->party][ev->service + 1] = ev->n;
        } else if (ev->report == 1 && ev->party < OW_GEN_CSR_PARTIES) {
            d->fc_csr[ev->party] = ev->n;
        }
    } else if (ev->kind == OW_GEN_K_SR && ow__gen_time_month_of(ev->t) == d->month) {
        d->act_sr[ev->party] += ev->n;
    } else if (ev->kind == OW_GEN_K_CSR && ow__gen_time_month_of(ev->t) == d->month) {
        d->act_csr[ev->party] += ev->n;
    }
}

static void collect(void *arg, const struct ow_gen_event *ev, const char *line, size_t len)
{
    struct ow_demo *d = arg;

    (void)line;
    (void)len;
    if (ev->t > d->now_s - 60) {
        return; /* the plan's future: live traffic replaces it */
    }
    if (d->nev == d->capev) {
        d->capev = d->capev == 0 ? 65536 : d->capev * 2;
        d->ev = ow_xrealloc(d->ev, d->capev * sizeof(*d->ev));
    }
    d->ev[d->nev++] = *ev;
}

static int64_t sr_forecast(const struct ow_demo *d, int p)
{
    int64_t sum = -1;

    if (d->fc_sr[p][0] >= 0) {
        return d->fc_sr[p][0];
    }
    for (int s = 1; s <= OW_GEN_SERVICES; s++) {
        if (d->fc_sr[p][s] >= 0) {
            sum = (sum < 0 ? 0 : sum) + d->fc_sr[p][s];
        }
    }
    return sum;
}

static void live_event(struct ow_demo *d, int64_t t)
{
    struct ow_gen_event ev;
    bool sr = ow__gen_rng_chance(&d->rng, 700);

    ow__gen_event_init(&ev, sr ? OW_GEN_K_SR : OW_GEN_K_CSR, t, d->next_id++);
    ev.party =
        (int16_t)ow__gen_rng_range(&d->rng, 0, (sr ? OW_GEN_SR_PARTIES : OW_GEN_CSR_PARTIES) - 1);
    ev.n = ow__gen_rng_range(&d->rng, 1, 3);
    ev.region = (int8_t)ow__gen_rng_range(&d->rng, 0, 2);
    if (sr) {
        ev.service = (int16_t)ow__gen_rng_range(&d->rng, 0, OW_GEN_SERVICES - 1);
        d->act_sr[ev.party] += ev.n;
    } else {
        ev.batched = (int8_t)ow__gen_rng_chance(&d->rng, 300);
        d->act_csr[ev.party] += ev.n;
    }
    produce(d, &ev);
}

static void on_burst(uv_timer_t *t)
{
    struct ow_demo *d = t->data;
    int total = OW_GEN_SR_PARTIES + OW_GEN_CSR_PARTIES;

    if (!d->backlog_done) {
        return;
    }
    for (int tries = 0; tries < total; tries++) {
        int i = d->burst_next++ % total;
        bool sr = i < OW_GEN_SR_PARTIES;
        int p = sr ? i : i - OW_GEN_SR_PARTIES;
        int64_t fc = sr ? sr_forecast(d, p) : d->fc_csr[p];
        int64_t act = sr ? d->act_sr[p] : d->act_csr[p];
        int64_t need = (fc * 112 + 99) / 100 - act;
        int64_t now = ow_wall_us() / 1000000;
        struct ow_gen_event ev;
        char party[64] = "?";
        const char *pid;

        if (fc <= 0 || need <= 0) {
            continue;
        }
        for (int k = 0; k < BURST_EVENTS; k++) {
            ow__gen_event_init(&ev, sr ? OW_GEN_K_SR : OW_GEN_K_CSR, now, d->next_id++);
            ev.party = (int16_t)p;
            ev.n = (need + BURST_EVENTS - 1) / BURST_EVENTS;
            ev.region = (int8_t)(k % 3);
            ev.service = (int16_t)(sr ? k % OW_GEN_SERVICES : -1);
            produce(d, &ev);
        }
        pid = strstr(d->line, "\"party_id\":\"");
        if (pid != NULL) {
            size_t n = strcspn(pid + 12, "\"");

            snprintf(party, sizeof(party), "%.*s", (int)(n < 60 ? n : 60), pid + 12);
        }
        if (sr) {
            d->act_sr[p] += BURST_EVENTS * ev.n;
        } else {
            d->act_csr[p] += BURST_EVENTS * ev.n;
        }
        ow_log_info("demo",
                    "burst: %s party=%s +%" PRId64 " (forecast %" PRId64 ", sent %" PRId64
                    " so far): expect %s_forecast_exceeded",
                    sr ? "service requests" : "CSRs", party, BURST_EVENTS * ev.n, fc, act,
                    sr ? "sr" : "csr");
        return;
    }
}

static void on_tick(uv_timer_t *t)
{
    struct ow_demo *d = t->data;

    rd_kafka_poll(d->rk, 0);
    d->ticks++;
    if (!d->backlog_done) {
        for (int i = 0; i < BACKLOG_PER_TICK && d->next < d->nev; i++) {
            produce(d, &d->ev[d->next++]);
        }
        if (d->next == d->nev) {
            d->backlog_done = true;
            ow_log_info("demo",
                        "backlog of %zu events sent; live traffic now, a burst every "
                        "%d s",
                        d->nev, BURST_EVERY_MS / 1000);
        }
        return;
    }
    if (d->ticks % LIVE_EVERY_TICKS == 0) {
        live_event(d, ow_wall_us() / 1000000);
    }
}

struct ow_demo *ow_demo_create(struct ow_config *cfg, char *err, size_t errlen)
{
    struct ow_demo *d = ow_xcalloc(1, sizeof(*d));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const struct ow_config_outputs *o = &cfg->outputs;
    const char *outs[] = {o->alerts, o->aggregates, o->deadletter, o->snapshots};
    char why[512];
    char group[64];

    if (rd_kafka_conf_set(conf, "test.mock.num.brokers", "3", why, sizeof(why)) != 0 ||
        rd_kafka_conf_set(conf, "linger.ms", "5", why, sizeof(why)) != 0) {
        snprintf(err, errlen, "mock cluster: %s", why);
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_log_cb(conf, ow_kafka_log_cb);
    d->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (d->rk == NULL) {
        snprintf(err, errlen, "mock cluster: %s", why);
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    d->mc = rd_kafka_handle_mock_cluster(d->rk);
    if (d->mc == NULL) {
        snprintf(err, errlen, "this librdkafka has no mock cluster");
        goto fail;
    }
    for (size_t i = 0; i < cfg->kafka.input_topics.count; i++) {
        rd_kafka_mock_topic_create(d->mc, cfg->kafka.input_topics.items[i], 2, 1);
    }
    for (size_t i = 0; i < 4; i++) {
        rd_kafka_mock_topic_create(d->mc, outs[i], 3, 1);
    }
    free(cfg->kafka.brokers);
    cfg->kafka.brokers = ow_xstrdup(rd_kafka_mock_cluster_bootstraps(d->mc));
    snprintf(group, sizeof(group), "opswatch-demo-%d", (int)getpid());
    free(cfg->kafka.group_id);
    cfg->kafka.group_id = ow_xstrdup(group);
    ow_log_info("demo",
                "mock cluster of 3 brokers at %s; %zu input topics and 4 output topics "
                "created",
                cfg->kafka.brokers, cfg->kafka.input_topics.count);
    return d;
fail:
    ow_demo_destroy(d);
    return NULL;
}

int ow_demo_start(struct ow_live *lv, void *arg)
{
    struct ow_demo *d = arg;
    char start[16];
    char seed[16];
    char *argv[] = {"gen", "--seed", seed, "--start", start, "--months", "3", NULL};
    int first;

    d->lv = lv;
    d->now_s = ow_wall_us() / 1000000;
    ow__gen_time_init();
    d->month = ow__gen_time_month_of(d->now_s);
    first = d->month - 2;
    snprintf(start, sizeof(start), "%04d-%02d", first / 12, first % 12 + 1);
    snprintf(seed, sizeof(seed), "%d", DEMO_SEED);
    for (int p = 0; p < OW_GEN_SR_PARTIES; p++) {
        for (int s = 0; s <= OW_GEN_SERVICES; s++) {
            d->fc_sr[p][s] = -1;
        }
    }
    for (int p = 0; p < OW_GEN_CSR_PARTIES; p++) {
        d->fc_csr[p] = -1;
    }
    if (ow_gen_stream(7, argv, collect, d) != 0) {
        ow_log_error("demo", "the generator refused its arguments");
        return -1;
    }
    for (size_t i = 0; i < d->nev; i++) {
        count(d, &d->ev[i]);
    }
    d->next_id = LIVE_ID_BASE;
    ow__gen_rng_seed(&d->rng, DEMO_SEED, 4242);
    uv_timer_init(lv->loop, &d->tick);
    d->tick.data = d;
    uv_timer_init(lv->loop, &d->burst);
    d->burst.data = d;
    d->handles_open = true;
    uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);
    uv_timer_start(&d->burst, on_burst, BURST_EVERY_MS, BURST_EVERY_MS);
    ow_log_info("demo", "feeding %zu generated events (%s to now) at %d events/s, then live",
                d->nev, start, BACKLOG_PER_TICK * 1000 / TICK_MS);
    return 0;
}

void ow_demo_stop(void *arg)
{
    struct ow_demo *d = arg;

    if (d == NULL || !d->handles_open) {
        return;
    }
    uv_close((uv_handle_t *)&d->tick, NULL);
    uv_close((uv_handle_t *)&d->burst, NULL);
    d->handles_open = false;
    ow_log_info("demo", "feed stopped after %" PRIu64 " events", d->produced);
}

void ow_demo_destroy(struct ow_demo *d)
{
    if (d == NULL) {
        return;
    }
    if (d->rk != NULL) {
        rd_kafka_destroy(d->rk);
    }
    free(d->ev);
    free(d);
}
