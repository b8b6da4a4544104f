/* loop.c: the daemon's one loop: startup order, timers, signals, drain and reload.
 *
 * Why the idle clock needs both conditions (caught up on every partition, and quiet for
 * live.idle_interval): a backfill of last year's events must close windows only as their own
 * event time says, exactly like replay; the wall clock may move the watermark only when the
 * input has nothing older left to say.
 *
 * Why a reload rebuilds the engine: processors copy and precompute their settings at creation
 * (lines in basis points, deadlines, resolve lines), so new rules and thresholds reach them
 * only through a new engine. A reload loads and checks the new file, then
 * ow_engine_reconfigure() moves the engine's whole state (windows, alert states, every
 * processor's state) into an engine created on the new configuration, and the remembered ids
 * as they are; a processor refusing its new settings leaves the running engine untouched.
 * Settings that shape what already exists or what the Kafka clients and the HTTP listener were
 * created with (zone, calendar, windows, dedup, entities, history_months, kafka, outputs, http,
 * live.state_dir) keep their running values: they move from the old configuration object into
 * the new one, and a reload whose file changes them says they wait for a restart. Everything
 * reaches the engine and the configuration through lv->eng and lv->cfg at each use (Kafka in,
 * HTTP, metrics, timers), so swapping both pointers on the loop thread is the whole hand-over. */
#include "loop.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "alloc.h"
#include "civil.h"
#include "http.h"
#include "kafka_in.h"
#include "kafka_out.h"
#include "log.h"
#include "processor.h"
#include "saver.h"
#include "state.h"
#include "tz.h"

#define TICK_MS 250
#define DRAIN_POLL_MS 20
/* The save interval while a backlog is read (see on_backlog_checkpoint). */
#define BACKLOG_CHECKPOINT_MS 200
#define DRAIN_MAX_US (7 * OW_US_PER_SEC)
#define EXIT_DEADLINE_US (9500 * 1000)

struct stale {
    bool active;                /* pending or firing */
    struct ow_window_id window; /* of the alert's id, fixed while it is active */
};

struct loop_ctx {
    struct ow_live *lv;
    const struct ow_loop_hooks *hooks;
    uv_signal_t sig_term;
    uv_signal_t sig_int;
    uv_signal_t sig_hup;
    uv_timer_t tick;
    uv_timer_t flush;
    uv_timer_t checkpoint;
    uv_timer_t backlog_checkpoint;
    uv_timer_t drain;
    uv_timer_t exit_after;
    bool signals_open;
    bool handles_open;
    bool finished;
    int exit_code;
    int64_t drain_started;
    struct ow_tz *tz;
    struct stale *stale;
    size_t nstale;
    bool idle_active;
    uint64_t closed_seen[3];
};

/* ---- the checkpoint: the one place offsets are committed ----
 *
 * Why the outbox makes the commit independent of acknowledgements: the saved state holds the
 * effects of every message before the saved offsets, and what of those effects Kafka has not
 * acknowledged is in the saved outbox, sent again at start. So once the save is durable the
 * saved offsets can be committed at once. Without a state folder (live.state_dir "") the
 * commit waits for the producer's acknowledgements instead (outputs at least once, engine
 * state rebuilt from nothing). */

static void save_failed(struct ow_live *lv, const struct ow_err *err)
{
    char msg[600];

    lv->counters.save_failures++;
    if (!lv->save_failing) {
        lv->save_failing = true;
        ow_kafka_in_pause(lv->in);
        ow_log_error("state",
                     "save failed: %s; consumption paused (nothing is committed past "
                     "the last saved state), retrying every checkpoint interval",
                     ow_err_str(err, msg, sizeof(msg)));
    }
}

/* Finish the written save: @returns true when it is committed (consumption resumes if a
 * failure had paused it), false when it failed (consumption paused). */
static bool save_committed(struct ow_live *lv)
{
    struct ow_err err = {{0}, {0}};

    if (ow_state_save_finish(lv->state, &err) != OW_OK) {
        save_failed(lv, &err);
        return false;
    }
    lv->counters.saves++;
    if (lv->save_failing) {
        lv->save_failing = false;
        ow_log_info("state", "saving works again: consumption resumed");
        if (!ow_kafka_out_full(lv->out)) {
            ow_kafka_in_resume(lv->in);
        }
    }
    return true;
}

/* The save prepared by checkpoint() is written: commit its offsets, or stop consuming until
 * saving works again. */
static void save_finished(struct ow_live *lv, bool sync)
{
    if (save_committed(lv)) {
        ow_kafka_in_commit_saved(lv->in, sync);
    }
}

static void checkpoint(struct ow_live *lv, bool sync);

static void on_saved(void *arg)
{
    struct ow_live *lv = arg;

    save_finished(lv, false);
    if (lv->save_again) {
        lv->save_again = false;
        checkpoint(lv, false);
    }
}

/* The daemon's part of a save (new): input positions, the outbox, each topic's last message. */
static json_t *daemon_state(struct ow_live *lv)
{
    return json_pack("{s:o, s:o, s:o}", "offsets", ow_kafka_in_offsets(lv->in), "outbox",
                     ow_kafka_out_outbox(lv->out), "topics_last_us",
                     ow_kafka_in_topics_last(lv->in));
}

/* kafka.exactly_once: save (synchronously), then commit the transaction with the saved input
 * offsets; see kafka_out.c, "transactions", for why in this order. */
static void checkpoint_txn(struct ow_live *lv)
{
    rd_kafka_topic_partition_list_t *offsets;
    rd_kafka_consumer_group_metadata_t *group;
    char meta[64];
    char msg[600];
    int rc;

    if (lv->state != NULL) {
        json_t *daemon = daemon_state(lv);

        json_object_set_new(daemon, "txn", json_integer((json_int_t)ow_kafka_out_txn_no(lv->out)));

        ow_state_save_prepare(lv->state, lv->eng, daemon);
        json_decref(daemon);
        ow_state_save_write(lv->state);
        if (!save_committed(lv)) {
            return;
        }
    }
    snprintf(meta, sizeof(meta), "%s%" PRIu64, OW_TXN_METADATA_PREFIX,
             ow_kafka_out_txn_no(lv->out));
    offsets = ow_kafka_in_txn_offsets(lv->in, meta);
    if (offsets->cnt == 0) {
        /* No assigned partition yet (just started, or between a revocation and the next
         * assignment): the transaction stays open. Committed without offsets, nothing in the
         * group would carry its number, and a restart would send its outbox again although
         * it is in Kafka. The state just saved names it as not committed, so a restart sends
         * that outbox in a new transaction instead (Kafka aborts this one). */
        rd_kafka_topic_partition_list_destroy(offsets);
        return;
    }
    group = ow_kafka_in_group_metadata(lv->in);
    rc = ow_kafka_out_commit_txn(lv->out, offsets, group, msg, sizeof(msg));
    rd_kafka_consumer_group_metadata_destroy(group);
    rd_kafka_topic_partition_list_destroy(offsets);
    if (rc == 0) {
        lv->counters.txn_commits++;
    } else if (rc == -2) {
        ow_log_error("kafka_out", "%s", msg);
        lv->counters.produce_errors++;
        ow_kafka_out_fatal(lv->out);
    } else if (rc < 0) {
        ow_log_warn("kafka_out", "%s: retried at the next checkpoint", msg);
        lv->counters.produce_errors++;
    }
}

/* Why the write runs on the saver's thread: the writes and three fsyncs of a save took 10 to
 * 80 ms, during which no event was applied (added latency, lost throughput). The loop only
 * prepares: it takes the engine's state as text, the new ids, the offsets and the outbox at
 * one instant, so what is written is exactly the effect of the messages before the offsets
 * it commits. A revocation and the stop save synchronously (after the save in flight). */
static void checkpoint(struct ow_live *lv, bool sync)
{
    json_t *daemon;

    if (lv->in == NULL || lv->out == NULL) {
        return;
    }
    if (lv->cfg->kafka.exactly_once) {
        checkpoint_txn(lv);
        return;
    }
    if (lv->state == NULL) {
        ow_kafka_in_commit_upto(lv->in, ow_kafka_out_acked(lv->out), sync);
        return;
    }
    if (lv->saver != NULL && ow_saver_busy(lv->saver)) {
        if (!sync) {
            lv->save_again = true; /* right after the one in flight */
            return;
        }
        ow_saver_wait(lv->saver); /* finishes and commits it */
    }
    daemon = daemon_state(lv);
    ow_state_save_prepare(lv->state, lv->eng, daemon);
    json_decref(daemon);
    lv->messages_at_save = ow_kafka_in_messages(lv->in);
    if (sync || lv->saver == NULL) {
        ow_state_save_write(lv->state);
        save_finished(lv, sync);
    } else {
        ow_saver_start(lv->saver);
    }
}

static void on_checkpoint(uv_timer_t *t)
{
    struct loop_ctx *lc = t->data;

    checkpoint(lc->lv, false);
}

/* Reading a backlog, a save every BACKLOG_CHECKPOINT_MS (or, when one takes longer, right
 * after it), whatever live.checkpoint_interval says: each save then holds little, and so does
 * the one the end of the backlog waits for before its offsets are committed. With saves once a
 * second that wait was about a tenth of a 2-million-event backlog's time (README, "Durability /
 * Measured"). Not while saves fail (they are retried every interval), not when nothing was
 * applied since the last save (consumption paused), and not with kafka.exactly_once, whose
 * checkpoint (save and transaction commit) blocks the loop: there the interval holds. */
static void on_backlog_checkpoint(uv_timer_t *t)
{
    struct loop_ctx *lc = t->data;
    struct ow_live *lv = lc->lv;

    if (lv->in != NULL && !lv->stopping && !lv->save_failing && !lv->cfg->kafka.exactly_once &&
        ow_kafka_in_in_backlog(lv->in) && ow_kafka_in_messages(lv->in) != lv->messages_at_save) {
        checkpoint(lv, false);
    }
}

/* ---- logs of window closes ---- */

static void log_closes(struct loop_ctx *lc)
{
    const struct ow_engine_stats *st = ow_engine_stats(lc->lv->eng);

    for (int r = 0; r < 3; r++) {
        if (st->closed_by_reason[r] != lc->closed_seen[r]) {
            ow_log_info("engine",
                        "windows closed reason=%s count=%" PRIu64 " closed_total=%" PRIu64
                        " watermark_us=%" PRId64,
                        ow_close_reason_name((enum ow_close_reason)r),
                        st->closed_by_reason[r] - lc->closed_seen[r], st->windows_closed,
                        st->watermark_us);
            lc->closed_seen[r] = st->closed_by_reason[r];
        }
    }
}

/* ---- the idle clock ---- */

static void idle_clock(struct loop_ctx *lc, int64_t now)
{
    struct ow_live *lv = lc->lv;
    const struct ow_config *cfg = lv->cfg;
    bool quiet = lv->in != NULL && ow_kafka_in_caught_up(lv->in) &&
                 ow_mono_us() - ow_kafka_in_last_message_us(lv->in) >= cfg->live.idle_interval_us;
    int64_t target = now - cfg->windows.allowed_disorder_us;

    if (quiet != lc->idle_active) {
        ow_log_info("loop", quiet ? "input caught up and quiet: the wall clock moves the watermark"
                                  : "input active: event time moves the watermark");
        lc->idle_active = quiet;
    }
    if (quiet && target > ow_engine_stats(lv->eng)->watermark_us) {
        ow_engine_advance_watermark(lv->eng, target, OW_CLOSE_IDLE_CLOCK);
    }
}

/* ---- input_stale ---- */

static void check_stale(struct loop_ctx *lc, int64_t now)
{
    struct ow_live *lv = lc->lv;
    const struct ow_config *cfg = lv->cfg;
    int64_t limit = cfg->live.stale_after_us;

    if (limit <= 0 || lv->in == NULL) {
        return;
    }
    for (size_t i = 0; i < lc->nstale; i++) {
        struct stale *s = &lc->stale[i];
        const char *topic = cfg->kafka.input_topics.items[i];
        int64_t silent = now - ow_kafka_in_topic_last_us(lv->in, i);
        bool breach = silent >= limit;
        struct ow_alert_dim dim = {"topic", topic};
        struct ow_alert_obs obs;
        enum ow_alert_state st;
        char msg[400];

        if (!breach && !s->active) {
            continue;
        }
        if (!s->active) {
            s->window = ow_window_of(lc->tz, OW_WIN_MONTH, now);
        }
        snprintf(msg, sizeof(msg), "no event on topic %s for %.1f hours (limit %.1f hours)", topic,
                 (double)silent / 3.6e9, (double)limit / 3.6e9);
        memset(&obs, 0, sizeof(obs));
        obs.rule = "input_stale";
        obs.conf = &cfg->live.input_stale;
        obs.window = s->window;
        obs.dims = &dim;
        obs.ndims = 1;
        obs.breach = breach;
        obs.recovered = !breach;
        obs.value = (double)silent / 3.6e9;
        obs.threshold = (double)limit / 3.6e9;
        obs.unit = "hours";
        obs.message = msg;
        obs.event_us = now;
        st = ow_alerts_observe(ow_engine_alerts(lv->eng), &obs);
        s->active = st == OW_ALERT_PENDING || st == OW_ALERT_FIRING;
    }
}

/* After a restore: an input_stale alert pending or firing in the saved state is this topic's
 * active one again (its window fixed as before), so it resolves when the topic speaks. */
static void restore_stale(struct loop_ctx *lc)
{
    const struct ow_config *cfg = lc->lv->cfg;
    const char *states[] = {"pending", "firing"};

    for (int k = 0; k < 2; k++) {
        json_t *list = ow_alerts_list(ow_engine_alerts(lc->lv->eng), states[k]);
        size_t n;
        json_t *rec;

        json_array_foreach(list, n, rec)
        {
            const char *rule = json_string_value(json_object_get(rec, "rule"));
            const char *topic =
                json_string_value(json_object_get(json_object_get(rec, "dims"), "topic"));
            const char *window = json_string_value(json_object_get(rec, "window"));

            if (rule == NULL || strcmp(rule, "input_stale") != 0 || topic == NULL ||
                window == NULL) {
                continue;
            }
            for (size_t i = 0; i < lc->nstale; i++) {
                if (strcmp(cfg->kafka.input_topics.items[i], topic) == 0 &&
                    ow_window_parse(window, strlen(window), &lc->stale[i].window) == 0) {
                    lc->stale[i].active = true;
                    ow_log_info("loop",
                                "input_stale for topic %s is %s since the last save "
                                "(window %s)",
                                topic, states[k], window);
                }
            }
        }
        json_decref(list);
    }
}

static void on_tick(uv_timer_t *t)
{
    struct loop_ctx *lc = t->data;
    int64_t now = ow_wall_us();

    ow_engine_set_wall_clock(lc->lv->eng, now);
    if (!lc->lv->stopping) {
        idle_clock(lc, now);
        check_stale(lc, now);
    }
    log_closes(lc);
}

static void on_flush(uv_timer_t *t)
{
    struct loop_ctx *lc = t->data;

    ow_engine_set_wall_clock(lc->lv->eng, ow_wall_us());
    ow_engine_flush(lc->lv->eng);
    log_closes(lc);
}

/* ---- drain and stop ----
 *
 * Why a watchdog thread: with the brokers down, librdkafka's synchronous commit and leaving
 * the group block on the network. The state is saved before either (finish()), so once the
 * deadline passes nothing is lost by exiting: the unacknowledged outputs are in the saved
 * outbox and the uncommitted offsets in the saved state. */

static atomic_int exit_code_on_deadline = 1; /* 0 once the final save succeeded */

static void *watchdog(void *arg)
{
    struct timespec ts = {EXIT_DEADLINE_US / 1000000, (EXIT_DEADLINE_US % 1000000) * 1000};
    int code;

    (void)arg;
    while (nanosleep(&ts, &ts) != 0) {
    }
    code = atomic_load(&exit_code_on_deadline);
    ow_log_error("loop", "the drain is not over after %.1f s (Kafka unreachable?): exiting %s",
                 (double)EXIT_DEADLINE_US / 1e6,
                 code == 0 ? "with the state saved (the outbox is sent after the restart)"
                           : "WITHOUT a final save (the last checkpoint stays)");
    _exit(code);
    return NULL;
}

static void start_watchdog(void)
{
    pthread_t t;
    pthread_attr_t a;

    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &a, watchdog, NULL) != 0) {
        ow_log_warn("loop", "cannot start the exit watchdog");
    }
    pthread_attr_destroy(&a);
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

static void close_handles(struct loop_ctx *lc)
{
    struct ow_live *lv = lc->lv;

    if (lc->hooks != NULL && lc->hooks->stop != NULL) {
        lc->hooks->stop(lc->hooks->arg);
    }
    if (lv->in != NULL) {
        ow_kafka_in_stop(lv->in);
    }
    ow_kafka_out_stop(lv->out);
    ow_http_close(lv->http);
    ow_saver_close(lv->saver);
    if (lc->signals_open) {
        close_handle((uv_handle_t *)&lc->sig_term);
        close_handle((uv_handle_t *)&lc->sig_int);
        close_handle((uv_handle_t *)&lc->sig_hup);
        lc->signals_open = false;
    }
    if (!lc->handles_open) {
        return;
    }
    close_handle((uv_handle_t *)&lc->tick);
    close_handle((uv_handle_t *)&lc->flush);
    close_handle((uv_handle_t *)&lc->checkpoint);
    close_handle((uv_handle_t *)&lc->backlog_checkpoint);
    close_handle((uv_handle_t *)&lc->drain);
    close_handle((uv_handle_t *)&lc->exit_after);
    lc->handles_open = false;
}

static void finish(struct loop_ctx *lc)
{
    struct ow_live *lv = lc->lv;

    if (lc->finished) {
        return;
    }
    lc->finished = true;
    uv_timer_stop(&lc->drain);
    ow_kafka_out_poll(lv->out);
    {
        uint64_t failures = lv->counters.save_failures;

        checkpoint(lv, true);
        if (lv->state == NULL || lv->counters.save_failures == failures) {
            atomic_store(&exit_code_on_deadline, lc->exit_code);
        }
    }
    if (lv->in != NULL) {
        ow_kafka_in_close(lv->in);
    }
    log_closes(lc);
    close_handles(lc);
    ow_log_info("loop", "stopped after %.1f s of drain",
                (double)(ow_mono_us() - lc->drain_started) / 1e6);
}

static void on_drain(uv_timer_t *t)
{
    struct loop_ctx *lc = t->data;
    struct ow_kafka_out *out = lc->lv->out;

    ow_kafka_out_poll(out);
    if (ow_kafka_out_pending(out) == 0) {
        finish(lc);
    } else if (ow_kafka_out_failed(out)) {
        ow_log_error("loop",
                     "%" PRIu64 " output records cannot be sent (the producer's fatal error): "
                     "exiting; they stay in the saved outbox, and their input offsets "
                     "uncommitted",
                     ow_kafka_out_pending(out));
        finish(lc);
    } else if (ow_mono_us() - lc->drain_started > DRAIN_MAX_US) {
        ow_log_error("loop",
                     "%" PRIu64 " output records not acknowledged after %d s: exiting; "
                     "their input offsets stay uncommitted (re-read on restart)",
                     ow_kafka_out_pending(out), (int)(DRAIN_MAX_US / OW_US_PER_SEC));
        finish(lc);
    }
}

static void begin_drain(struct loop_ctx *lc, const char *why)
{
    struct ow_live *lv = lc->lv;

    if (lv->stopping) {
        ow_log_warn("loop", "%s during the drain: stopping now", why);
        lc->exit_code = 1;
        lc->drain_started = ow_mono_us() - DRAIN_MAX_US - 1;
        return;
    }
    lv->stopping = true;
    lc->drain_started = ow_mono_us();
    start_watchdog();
    ow_log_info("loop",
                "%s: draining (stop consuming, flush, wait for acknowledgements, "
                "commit, leave the group)",
                why);
    if (lc->hooks != NULL && lc->hooks->stop != NULL) {
        lc->hooks->stop(lc->hooks->arg);
    }
    if (lv->in != NULL) {
        ow_kafka_in_stop(lv->in);
    }
    ow_engine_set_wall_clock(lv->eng, ow_wall_us());
    ow_engine_flush(lv->eng);
    uv_timer_start(&lc->drain, on_drain, 0, DRAIN_POLL_MS);
}

static void on_client_fatal(struct ow_live *lv, int exit_code, const char *why)
{
    struct loop_ctx *lc = lv->loop_ctx;

    if (!lv->stopping) {
        lc->exit_code = exit_code;
    }
    begin_drain(lc, why);
}

static void on_exit_after(uv_timer_t *t)
{
    begin_drain(t->data, "run time over (--exit-after)");
}

/* ---- reload ---- */

static bool str_differs(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") != 0;
}

static bool strlist_differs(const struct ow_strlist *a, const struct ow_strlist *b)
{
    bool differs = a->count != b->count;

    for (size_t i = 0; !differs && i < a->count; i++) {
        differs = str_differs(a->items[i], b->items[i]);
    }
    return differs;
}

static bool strpairs_differ(const struct ow_strpairs *a, const struct ow_strpairs *b)
{
    bool differs = a->count != b->count;

    for (size_t i = 0; !differs && i < a->count; i++) {
        differs = str_differs(a->keys[i], b->keys[i]) || str_differs(a->values[i], b->values[i]);
    }
    return differs;
}

/* Say which restart-only settings of @n differ from the running @o (values never logged: the
 * kafka section may hold secrets). */
static void warn_restart_only(const struct ow_config *o, const struct ow_config *n)
{
    const char *what[12];
    size_t k = 0;

    if (str_differs(o->timezone, n->timezone)) {
        what[k++] = "timezone";
    }
    if (str_differs(o->calendar, n->calendar)) {
        what[k++] = "calendar";
    }
    if (o->windows.allowed_disorder_us != n->windows.allowed_disorder_us ||
        o->windows.grace.working_days != n->windows.grace.working_days ||
        o->windows.grace.days != n->windows.grace.days ||
        o->windows.grace.duration_us != n->windows.grace.duration_us ||
        o->windows.retention_windows != n->windows.retention_windows ||
        o->windows.future_limit_us != n->windows.future_limit_us) {
        what[k++] = "windows";
    }
    if (o->dedup.span_us != n->dedup.span_us || o->dedup.max_bytes != n->dedup.max_bytes) {
        what[k++] = "dedup";
    }
    if (o->entities.hold_us != n->entities.hold_us || o->history_months != n->history_months) {
        what[k++] = "entities/history_months";
    }
    if (str_differs(o->kafka.brokers, n->kafka.brokers) ||
        str_differs(o->kafka.group_id, n->kafka.group_id) ||
        strlist_differs(&o->kafka.input_topics, &n->kafka.input_topics) ||
        strpairs_differ(&o->kafka.properties, &n->kafka.properties) ||
        o->kafka.batch_max != n->kafka.batch_max ||
        o->kafka.exactly_once != n->kafka.exactly_once ||
        o->kafka.static_membership != n->kafka.static_membership) {
        what[k++] = "kafka";
    }
    if (str_differs(o->outputs.alerts, n->outputs.alerts) ||
        str_differs(o->outputs.aggregates, n->outputs.aggregates) ||
        str_differs(o->outputs.deadletter, n->outputs.deadletter) ||
        str_differs(o->outputs.snapshots, n->outputs.snapshots)) {
        what[k++] = "outputs";
    }
    if (str_differs(o->http.listen, n->http.listen)) {
        what[k++] = "http";
    }
    if (str_differs(o->live.state_dir, n->live.state_dir)) {
        what[k++] = "live.state_dir";
    }
    for (size_t i = 0; i < k; i++) {
        ow_log_warn("reload",
                    "%s: the file differs from the running settings (or from a "
                    "command-line override); the running ones stay until a restart",
                    what[i]);
    }
}

#define SWAP(a, b)                                                                                 \
    do {                                                                                           \
        __typeof__(a) swap_tmp_ = (a);                                                             \
        (a) = (b);                                                                                 \
        (b) = swap_tmp_;                                                                           \
    } while (0)

/* The restart-only settings move from the running @o into @n (and @n's into @o, which is
 * destroyed next): each object still frees exactly what it holds, and whatever borrowed a
 * running string (the consumer's topics, the producer's output names, the listener's address,
 * the demo's brokers) finds it alive in @n. */
static void keep_restart_only(struct ow_config *o, struct ow_config *n)
{
    SWAP(o->timezone, n->timezone);
    SWAP(o->calendar, n->calendar);
    SWAP(o->dir, n->dir); /* the calendar's path is relative to it */
    SWAP(o->windows, n->windows);
    SWAP(o->dedup, n->dedup);
    SWAP(o->entities, n->entities);
    SWAP(o->history_months, n->history_months);
    SWAP(o->kafka, n->kafka);
    SWAP(o->outputs, n->outputs);
    SWAP(o->http, n->http);
    SWAP(o->live.state_dir, n->live.state_dir);
}

#undef SWAP

/* A timer's period in ms from a configured interval: at least 1. */
static uint64_t interval_ms(int64_t every_us)
{
    return every_us / 1000 > 0 ? (uint64_t)(every_us / 1000) : 1;
}

/* The checkpoint and the aggregate flush are the loop's two longest callbacks. Why the
 * checkpoint runs half a flush interval after the flush: with the same interval (both 1 s by
 * default) they would otherwise fire in the same loop turn, and an event arriving then would
 * wait for both. */
static void phase_checkpoint(struct loop_ctx *lc)
{
    const struct ow_config_live *live = &lc->lv->cfg->live;
    uint64_t every = interval_ms(live->checkpoint_interval_us);

    uv_timer_start(&lc->checkpoint, on_checkpoint,
                   uv_timer_get_due_in(&lc->flush) + interval_ms(live->aggregate_interval_us) / 2,
                   every);
}

/* The flush and checkpoint timers at their new intervals from now (not after the pending old
 * ones), when either changed. */
static void retime(struct loop_ctx *lc)
{
    const struct ow_config_live *live = &lc->lv->cfg->live;
    uint64_t flush = interval_ms(live->aggregate_interval_us);

    if (uv_timer_get_repeat(&lc->flush) != flush ||
        uv_timer_get_repeat(&lc->checkpoint) != interval_ms(live->checkpoint_interval_us)) {
        uv_timer_start(&lc->flush, on_flush, flush, flush);
        phase_checkpoint(lc);
    }
}

static void reload(struct loop_ctx *lc)
{
    struct ow_live *lv = lc->lv;
    struct ow_conf_errors *errs = NULL;
    struct ow_config *old = lv->cfg;
    struct ow_config *nc;
    struct ow_err err = {{0}, {0}};
    char msg[600];
    const char *name = lv->config_path != NULL ? lv->config_path : "(built-in configuration)";
    int64_t t0 = ow_mono_us();

    ow_log_info("reload", "SIGHUP: reloading %s", name);
    nc = ow_config_load(lv->config_path, &errs);
    if (nc == NULL) {
        for (size_t i = 0; i < ow_conf_errors_count(errs); i++) {
            ow_log_error("reload", "%s", ow_conf_errors_get(errs, i));
        }
        ow_log_error("reload", "rejected (%zu errors): the running configuration stays",
                     ow_conf_errors_count(errs));
        lv->counters.reload_failures++;
        goto out;
    }
    keep_restart_only(old, nc);
    /* The rebuilt engine takes the running one's wall clock (alerts' raised_at): now. */
    ow_engine_set_wall_clock(lv->eng, ow_wall_us());
    if (ow_engine_reconfigure(&lv->eng, nc, ow_kafka_out_sink(lv->out), &err) != OW_OK) {
        ow_log_error("reload", "%s", ow_err_str(&err, msg, sizeof(msg)));
        ow_log_error("reload", "rejected: the running configuration stays");
        keep_restart_only(old, nc); /* back where they were */
        lv->counters.reload_failures++;
        ow_config_destroy(nc);
        goto out;
    }
    warn_restart_only(nc, old); /* swapped: nc holds the running values, old the file's */
    lv->cfg = nc;
    ow_config_destroy(old); /* its engine was destroyed by the reconfigure */
    retime(lc);
    lv->counters.reloads++;
    ow_log_info("reload", "rules and thresholds reloaded from %s (config_sha256=%.12s) in %.1f ms",
                name, nc->sha256 != NULL ? nc->sha256 : "", (double)(ow_mono_us() - t0) / 1e3);
out:
    ow_conf_errors_destroy(errs);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct loop_ctx *lc = h->data;

    if (signum == SIGHUP) {
        if (!lc->lv->stopping) {
            reload(lc);
        }
        return;
    }
    begin_drain(lc, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- start and run ---- */

static void start_timer(struct loop_ctx *lc, uv_timer_t *t, uv_timer_cb cb, int64_t every_us)
{
    uv_timer_init(lc->lv->loop, t);
    t->data = lc;
    if (cb != NULL) {
        uv_timer_start(t, cb, interval_ms(every_us), interval_ms(every_us));
    }
}

static void start_signal(struct loop_ctx *lc, uv_signal_t *s, int signum)
{
    uv_signal_init(lc->lv->loop, s);
    s->data = lc;
    uv_signal_start(s, on_signal, signum);
}

/* SIG_BLOCK or SIG_UNBLOCK the three signals the loop handles, in the calling thread. */
static void mask_stop_signals(int how)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(how, &set, NULL);
}

void ow_loop_block_signals(void)
{
    mask_stop_signals(SIG_BLOCK);
}

/* The handlers go in first, so that from here on a stop signal is the loop's to act on; they
 * run only once uv_run does, when the daemon is up (or closing after a failed start). */
static void start_signals(struct loop_ctx *lc)
{
    start_signal(lc, &lc->sig_term, SIGTERM);
    start_signal(lc, &lc->sig_int, SIGINT);
    start_signal(lc, &lc->sig_hup, SIGHUP);
    lc->signals_open = true;
}

/* Open the state folder and load its last save into the fresh engine; *@daemon gets the
 * daemon's part (offsets, outbox), NULL when there is none. */
/* Open and lock the state folder (before joining the group: a second daemon on the same
 * folder must stop before it disturbs the first one's group). */
static int open_state(struct ow_live *lv)
{
    const char *dir = lv->cfg->live.state_dir;
    struct ow_err err = {{0}, {0}};
    char msg[600];

    if (dir == NULL || dir[0] == '\0') {
        ow_log_warn("state", "live.state_dir is \"\": no state is saved (a restart re-reads "
                             "from the committed offsets with an empty engine)");
        return 0;
    }
    lv->state = ow_state_open(dir, &err);
    if (lv->state == NULL) {
        ow_log_error("state", "%s", ow_err_str(&err, msg, sizeof(msg)));
        return -1;
    }
    return 0;
}

static int restore(struct ow_live *lv, json_t **daemon)
{
    const char *dir = lv->cfg->live.state_dir;
    struct ow_err err = {{0}, {0}};
    struct ow_state_stats ss;
    struct ow_dedup_stats ds;
    int64_t t0 = ow_mono_us();
    char msg[600];

    *daemon = NULL;
    if (lv->state == NULL) {
        return 0;
    }
    if (ow_state_load(lv->state, lv->eng, daemon, &err) != OW_OK) {
        ow_log_error("state", "cannot restore the saved state: %s",
                     ow_err_str(&err, msg, sizeof(msg)));
        ow_log_error("state",
                     "to rebuild it from the input topics: stop, move %s aside, start "
                     "with --rebuild (see README, \"Rebuilding the state\")",
                     dir);
        return -1;
    }
    ow_engine_journal_enable(lv->eng);
    lv->saver = ow_saver_create(lv->loop, lv->state, on_saved, lv);
    if (lv->saver == NULL) {
        ow_log_warn("state", "cannot start the saver thread: saves run on the loop");
    }
    ow_state_stats(lv->state, &ss);
    ow_engine_dedup_stats(lv->eng, &ds);
    ow_log_info("state", "%s %s: %" PRIu64 " remembered ids, watermark_us=%" PRId64 " in %.1f ms",
                *daemon != NULL ? "restored" : "new state in", dir, ds.ids,
                ow_engine_stats(lv->eng)->watermark_us, (double)(ow_mono_us() - t0) / 1e3);
    return 0;
}

/* The saved outbox to send again at start. With kafka.exactly_once, only when the saved
 * transaction did not commit: the group's committed offsets carry the number of the last one
 * that did. When that cannot be read, or the state has no input offsets to look it up by, the
 * outbox is sent again (at least once: consumers de-duplicate by key). */
static const json_t *outbox_to_resend(struct ow_live *lv, const json_t *daemon)
{
    const json_t *outbox = json_object_get(daemon, "outbox");
    const json_t *txn = json_object_get(daemon, "txn");
    int64_t committed;

    if (!lv->cfg->kafka.exactly_once || !json_is_integer(txn)) {
        return outbox;
    }
    ow_kafka_out_set_txn_no(lv->out, (uint64_t)json_integer_value(txn) + 1);
    committed = ow_kafka_in_committed_txn(lv->in, json_object_get(daemon, "offsets"));
    if (committed >= json_integer_value(txn)) {
        ow_log_info("kafka_out",
                    "transaction %" JSON_INTEGER_FORMAT " committed before the stop: its %zu "
                    "outputs are in Kafka already",
                    json_integer_value(txn), json_array_size(outbox));
        return NULL;
    }
    ow_log_info("kafka_out",
                "transaction %" JSON_INTEGER_FORMAT " did not commit before the stop "
                "(last committed: %" PRId64 "): its %zu outputs go again",
                json_integer_value(txn), committed, json_array_size(outbox));
    return outbox;
}

static int start(struct loop_ctx *lc, int64_t exit_after_us)
{
    struct ow_live *lv = lc->lv;
    struct ow_err err = {{0}, {0}};
    json_t *daemon = NULL;
    char msg[600];

    lv->loop_ctx = lc;
    lv->client_fatal = on_client_fatal;
    start_signals(lc);
    lc->tz = ow_tz_create(lv->cfg->timezone, &err);
    if (lc->tz == NULL) {
        ow_log_error("loop", "%s", ow_err_str(&err, msg, sizeof(msg)));
        return -1;
    }
    lv->out = ow_kafka_out_create(lv, msg, sizeof(msg));
    if (lv->out == NULL) {
        ow_log_error("loop", "%s", msg);
        return -1;
    }
    lv->eng = ow_engine_create(lv->cfg, ow_kafka_out_sink(lv->out), true, &err);
    if (lv->eng == NULL) {
        ow_log_error("loop", "%s", ow_err_str(&err, msg, sizeof(msg)));
        return -1;
    }
    ow_engine_set_wall_clock(lv->eng, ow_wall_us());
    /* Subscribe first: the group join (seconds, in librdkafka's threads) overlaps the load of
     * the state; the assignment is served on the loop only after both, with the saved
     * offsets known. */
    if (open_state(lv) < 0) {
        return -1;
    }
    lv->in = ow_kafka_in_create(lv, checkpoint, msg, sizeof(msg));
    if (lv->in == NULL) {
        ow_log_error("loop", "%s", msg);
        return -1;
    }
    if (restore(lv, &daemon) < 0) {
        return -1;
    }
    if (ow_kafka_in_set_saved(lv->in, json_object_get(daemon, "offsets"), msg, sizeof(msg)) < 0 ||
        ow_kafka_out_resend(lv->out, outbox_to_resend(lv, daemon), msg, sizeof(msg)) < 0) {
        ow_log_error("state", "%s/state.json: %s: see README, \"Rebuilding the state\"",
                     lv->cfg->live.state_dir, msg);
        json_decref(daemon);
        return -1;
    }
    ow_kafka_in_set_topics_last(lv->in, json_object_get(daemon, "topics_last_us"));
    json_decref(daemon);
    lv->restored = true;
    lc->nstale = lv->cfg->kafka.input_topics.count;
    lc->stale = ow_xcalloc(lc->nstale + 1, sizeof(*lc->stale));
    restore_stale(lc);
    start_timer(lc, &lc->tick, on_tick, TICK_MS * 1000);
    start_timer(lc, &lc->flush, on_flush, lv->cfg->live.aggregate_interval_us);
    start_timer(lc, &lc->checkpoint, NULL, 0);
    phase_checkpoint(lc);
    start_timer(lc, &lc->backlog_checkpoint, on_backlog_checkpoint, BACKLOG_CHECKPOINT_MS * 1000);
    start_timer(lc, &lc->drain, NULL, 0);
    start_timer(lc, &lc->exit_after, NULL, 0);
    lc->handles_open = true;
    if (exit_after_us > 0) {
        uv_timer_start(&lc->exit_after, on_exit_after, (uint64_t)(exit_after_us / 1000), 0);
    }
    if (lv->cfg->http.listen[0] != '\0') {
        lv->http = ow_http_create(lv, lv->cfg->http.listen, msg, sizeof(msg));
        if (lv->http == NULL) {
            ow_log_error("loop", "%s", msg);
            return -1;
        }
        ow_log_info("loop", "http listening on %s", lv->cfg->http.listen);
    }
    if (lc->hooks != NULL && lc->hooks->start != NULL && lc->hooks->start(lv, lc->hooks->arg) < 0) {
        return -1;
    }
    return 0;
}

int ow_loop_run(struct ow_live *lv, int64_t exit_after_us, const struct ow_loop_hooks *hooks)
{
    struct loop_ctx lc;
    uv_loop_t loop;
    int rc;

    memset(&lc, 0, sizeof(lc));
    lc.lv = lv;
    lc.hooks = hooks;
    uv_loop_init(&loop);
    lv->loop = &loop;
    lv->started_us = ow_wall_us();
    if (start(&lc, exit_after_us) < 0) {
        lc.exit_code = 1;
        lv->stopping = true;
        if (lv->in != NULL) {
            ow_kafka_in_close(lv->in);
        }
        close_handles(&lc);
    } else {
        ow_log_info("loop", "running: %zu input topics, group %s",
                    lv->cfg->kafka.input_topics.count, lv->cfg->kafka.group_id);
        /* Up: a signal held back during start-up (blocked since main) is delivered now and
         * starts the drain on the loop's first turn. */
        mask_stop_signals(SIG_UNBLOCK);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    ow_http_destroy(lv->http);
    lv->http = NULL;
    ow_kafka_in_destroy(lv->in);
    lv->in = NULL;
    ow_kafka_out_destroy(lv->out);
    lv->out = NULL;
    ow_engine_destroy(lv->eng);
    lv->eng = NULL;
    ow_config_destroy(lv->cfg);
    lv->cfg = NULL;
    free(lc.stale);
    ow_tz_destroy(lc.tz);
    ow_saver_destroy(lv->saver);
    lv->saver = NULL;
    ow_state_close(lv->state);
    lv->state = NULL;
    rc = uv_loop_close(&loop);
    if (rc != 0) {
        ow_log_warn("loop", "loop closed with handles open: %s", uv_strerror(rc));
    }
    lv->loop = NULL;
    return lc.exit_code;
}
