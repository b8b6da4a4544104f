/* metrics.c: /metrics in the Prometheus text exposition format (0.0.4).
 *
 * Everything is read from the engine's and the daemon's counters at scrape time: nothing here
 * keeps state, so a scrape costs one pass over the windows and the alerts (tens to thousands),
 * never over events. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "engine.h"
#include "event.h"
#include "http_internal.h"
#include "state.h"
#include "version.h"

/* kafka_in.c is linked into the daemon but not into every test binary: a weak reference keeps
 * this file linkable without it (lv->in is NULL there, so the function is never called). */
extern void ow_kafka_in_foreach_partition(struct ow_kafka_in *in,
                                          void (*fn)(const char *topic, int32_t partition,
                                                     int64_t position, int64_t high, void *arg),
                                          void *arg) __attribute__((weak));

static const char *const alert_states[] = {"inactive", "pending", "firing", "resolved"};

static void head(struct ow_strbuf *b, const char *name, const char *type, const char *help)
{
    ow_strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with '\', '"' and newline escaped, as the format requires. */
static void label_value(struct ow_strbuf *b, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"') {
            char esc[2] = {'\\', *v};
            ow_strbuf_append(b, esc, 2);
        } else if (*v == '\n') {
            ow_strbuf_append(b, "\\n", 2);
        } else {
            ow_strbuf_append(b, v, 1);
        }
    }
}

static void counter(struct ow_strbuf *b, const char *name, const char *help, uint64_t v)
{
    head(b, name, "counter", help);
    ow_strbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(struct ow_strbuf *b, const char *name, const char *help, double v)
{
    head(b, name, "gauge", help);
    if (isnan(v)) {
        ow_strbuf_printf(b, "%s NaN\n", name);
    } else {
        ow_strbuf_printf(b, "%s %.17g\n", name, v);
    }
}

static void labelled(struct ow_strbuf *b, const char *name, const char *label, const char *value,
                     uint64_t v)
{
    ow_strbuf_printf(b, "%s{%s=\"", name, label);
    label_value(b, value);
    ow_strbuf_printf(b, "\"} %llu\n", (unsigned long long)v);
}

static void rule_counts(const char *rule, const uint64_t counts[4], void *arg)
{
    struct ow_strbuf *b = arg;

    for (int s = OW_ALERT_PENDING; s <= OW_ALERT_RESOLVED; s++) {
        ow_strbuf_printf(b, "opswatch_alerts_total{rule=\"");
        label_value(b, rule);
        ow_strbuf_printf(b, "\",state=\"%s\"} %llu\n", alert_states[s],
                         (unsigned long long)counts[s]);
    }
}

static void partition_lag(const char *topic, int32_t partition, int64_t position, int64_t high,
                          void *arg)
{
    struct ow_strbuf *b = arg;

    if (position < 0 || high < 0) {
        return; /* unknown yet: no sample rather than a wrong one */
    }
    ow_strbuf_printf(b, "opswatch_consumer_lag{topic=\"");
    label_value(b, topic);
    ow_strbuf_printf(b, "\",partition=\"%d\"} %lld\n", (int)partition,
                     (long long)(high > position ? high - position : 0));
}

static void engine_metrics(struct ow_engine *eng, struct ow_strbuf *b)
{
    const struct ow_engine_stats *st = ow_engine_stats(eng);
    static const char *const win_states[] = {"open", "closed", "expired"};
    uint64_t by_state[3] = {0, 0, 0};
    struct ow_dedup_stats ds;
    json_t *wins;
    size_t i;
    json_t *w;

    counter(b, "opswatch_events_received_total", "Messages offered to the engine.", st->events);
    counter(b, "opswatch_events_applied_total", "Valid, new events applied.", st->applied);
    head(b, "opswatch_events_total", "counter", "Events applied, by type.");
    for (int t = 0; t < OW_EV__COUNT; t++) {
        labelled(b, "opswatch_events_total", "type", ow_event_type_name((enum ow_event_type)t),
                 st->by_type[t]);
    }
    counter(b, "opswatch_duplicates_total", "Events seen again with the same id and content.",
            st->duplicates);
    head(b, "opswatch_dead_letters_total", "counter", "Rejected events, by reason.");
    for (int r = 0; r < OW_DL__COUNT; r++) {
        labelled(b, "opswatch_dead_letters_total", "reason",
                 ow_dl_reason_name((enum ow_dl_reason)r), st->dead_by_reason[r]);
    }
    counter(b, "opswatch_late_events_total", "Events applied to a window after it closed.",
            st->late_events);
    gauge(b, "opswatch_watermark_seconds", "The watermark (Unix time); NaN before the first event.",
          st->watermark_us == INT64_MIN ? NAN : (double)st->watermark_us / 1e6);

    wins = ow_engine_windows(eng);
    json_array_foreach(wins, i, w)
    {
        const char *s = json_string_value(json_object_get(w, "state"));

        for (int k = 0; s != NULL && k < 3; k++) {
            if (strcmp(s, win_states[k]) == 0) {
                by_state[k]++;
            }
        }
    }
    json_decref(wins);
    head(b, "opswatch_windows", "gauge", "Windows that exist, by state.");
    for (int k = 0; k < 3; k++) {
        labelled(b, "opswatch_windows", "state", win_states[k], by_state[k]);
    }
    head(b, "opswatch_windows_closed_total", "counter", "Windows closed, by reason.");
    for (int r = 0; r < 3; r++) {
        labelled(b, "opswatch_windows_closed_total", "reason",
                 ow_close_reason_name((enum ow_close_reason)r), st->closed_by_reason[r]);
    }

    ow_engine_dedup_stats(eng, &ds);
    gauge(b, "opswatch_dedup_ids", "Event ids remembered for de-duplication.", (double)ds.ids);
    gauge(b, "opswatch_dedup_bytes", "Memory of the id table.", (double)ds.bytes);
    counter(b, "opswatch_dedup_expired_total", "Ids forgotten because older than the span.",
            ds.expired);
    counter(b, "opswatch_dedup_forgotten_early_total",
            "Ids forgotten before their span ended, because of the memory bound.",
            ds.forgotten_early);
}

static void alert_metrics(struct ow_alerts *a, struct ow_strbuf *b)
{
    uint64_t counts[4];

    ow_alerts_counts(a, counts);
    head(b, "opswatch_alert_records_total", "counter", "Alert records published, by state.");
    for (int s = OW_ALERT_PENDING; s <= OW_ALERT_RESOLVED; s++) {
        labelled(b, "opswatch_alert_records_total", "state", alert_states[s], counts[s]);
    }
    head(b, "opswatch_alerts_total", "counter",
         "Alert records published, by rule and state (rules that published at least once).");
    ow_alerts_rule_counts(a, rule_counts, b);
    head(b, "opswatch_alerts", "gauge", "Alerts whose current state is the label's.");
    for (int s = OW_ALERT_PENDING; s <= OW_ALERT_RESOLVED; s++) {
        json_t *l = ow_alerts_list(a, alert_states[s]);

        labelled(b, "opswatch_alerts", "state", alert_states[s], json_array_size(l));
        json_decref(l);
    }
}

void ow_http_metrics(struct ow_live *lv, const struct ow_http_stream_stats *ss, struct ow_strbuf *b)
{
    const struct ow_live_counters *c = &lv->counters;

    head(b, "opswatch_build_info", "gauge", "The running version.");
    ow_strbuf_printf(b, "opswatch_build_info{version=\"%s\"} 1\n", OW_VERSION);
    gauge(b, "opswatch_ready", "1 when ready (state restored, partitions assigned, saving works).",
          ow_live_ready(lv) ? 1 : 0);
    gauge(b, "opswatch_start_time_seconds", "Start time of the process (Unix time).",
          (double)lv->started_us / 1e6);
    if (lv->eng != NULL) {
        engine_metrics(lv->eng, b);
        alert_metrics(ow_engine_alerts(lv->eng), b);
    }

    head(b, "opswatch_consumer_lag", "gauge",
         "Messages between the consumer's position and the partition's high watermark.");
    if (lv->in != NULL && ow_kafka_in_foreach_partition != NULL) {
        ow_kafka_in_foreach_partition(lv->in, partition_lag, b);
    }
    counter(b, "opswatch_produced_total", "Records acknowledged by Kafka.", c->produced);
    counter(b, "opswatch_produce_errors_total", "Delivery reports with an error (each retried).",
            c->produce_errors);
    counter(b, "opswatch_produce_retries_total", "Records produced again after an error.",
            c->produce_retries);
    counter(b, "opswatch_consumer_paused_total",
            "Times consumption paused because the producer queue was full.", c->paused);
    counter(b, "opswatch_consumer_errors_total", "Consumer errors.", c->consumer_errors);
    counter(b, "opswatch_reloads_total", "Successful configuration reloads (SIGHUP).", c->reloads);
    counter(b, "opswatch_reload_failures_total", "Rejected configuration reloads.",
            c->reload_failures);
    counter(b, "opswatch_saves_total", "State saves.", c->saves);
    counter(b, "opswatch_save_failures_total", "Failed state saves.", c->save_failures);
    counter(b, "opswatch_transactions_committed_total",
            "Kafka transactions committed (kafka.exactly_once).", c->txn_commits);
    if (lv->state != NULL) {
        struct ow_state_stats ss_state;

        ow_state_stats(lv->state, &ss_state);
        gauge(b, "opswatch_last_save_seconds",
              "The last committed save, from prepare to commit (written off the loop).",
              ss_state.last_save_ms / 1e3);
        gauge(b, "opswatch_last_save_prepare_seconds",
              "The part of the last save that held the engine (on the loop thread).",
              ss_state.last_prepare_ms / 1e3);
        gauge(b, "opswatch_last_save_bytes", "Bytes written by the last committed save.",
              (double)ss_state.bytes_written);
        gauge(b, "opswatch_saved_ids", "Ids in the id log (live and not yet compacted).",
              (double)ss_state.ids_logged);
    }

    gauge(b, "opswatch_http_stream_clients", "Server-Sent Events clients connected.",
          (double)ss->clients);
    counter(b, "opswatch_http_stream_events_total", "Events broadcast to the stream.", ss->events);
    gauge(b, "opswatch_http_stream_kept_events", "Events kept for Last-Event-ID resumption.",
          (double)ss->kept);
    gauge(b, "opswatch_http_stream_kept_bytes", "Bytes of the kept events.",
          (double)ss->kept_bytes);
    counter(b, "opswatch_http_stream_dropped_clients_total",
            "Stream clients disconnected for falling too far behind.", ss->dropped_clients);
    counter(b, "opswatch_http_requests_total", "HTTP requests answered.", ss->requests);
}
