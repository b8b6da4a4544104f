/* engine.c: decode -> validate -> de-duplicate -> window -> processors; closes windows as the
 * watermark passes them and publishes snapshots, aggregates and dead letters. */
#include "engine.h"
#include "engine_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "alert.h"
#include "alloc.h"
#include "version.h"
#include "civil.h"
#include "dedup.h"
#include "json_scan.h"
#include "processor.h"
#include "rfc3339.h"
#include "sha256.h"
#include "threshold.h"
#include "tz.h"
#include "workdays.h"

#define DL_PAYLOAD_MAX 4096 /* an oversized payload is cut to this many bytes */

static const char *const dl_reason_names[OW_DL__COUNT] = {
    [OW_DL_INVALID_JSON] = "invalid_json",
    [OW_DL_SCHEMA] = "schema",
    [OW_DL_UNKNOWN_TYPE] = "unknown_type",
    [OW_DL_TOO_LARGE] = "too_large",
    [OW_DL_DUPLICATE_CONFLICT] = "duplicate_conflict",
    [OW_DL_WINDOW_EXPIRED] = "window_expired",
    [OW_DL_FUTURE] = "future",
    [OW_DL_OVERFLOW] = "overflow",
};

const char *ow_dl_reason_name(enum ow_dl_reason r)
{
    return r < OW_DL__COUNT ? dl_reason_names[r] : "unknown";
}

const char *ow_close_reason_name(enum ow_close_reason r)
{
    switch (r) {
    case OW_CLOSE_WATERMARK:
        return "watermark";
    case OW_CLOSE_IDLE_CLOCK:
        return "idle_clock";
    case OW_CLOSE_END_OF_INPUT:
        return "end_of_input";
    }
    return "unknown";
}

/* ---- windows ---- */

static struct win *win_get(struct ow_engine *eng, struct ow_window_id w)
{
    struct win_range *r = &eng->ranges[w.kind];

    if (r->count == 0 || w.index < r->first || w.index >= r->first + r->count) {
        return NULL;
    }
    return &r->items[w.index - r->first];
}

void ow__engine_win_init(struct ow_engine *eng, struct ow_window_id w, struct win *x)
{
    memset(x, 0, sizeof(*x));
    x->close_at = ow_window_close_at(eng->tz, eng->cal, &eng->cfg->windows.grace, w);
    x->expire_at = ow_window_close_at(eng->tz, eng->cal, &eng->cfg->windows.grace,
                                      ow_window_add(w, (int)eng->cfg->windows.retention_windows));
}

/* Is @w past its retention, whether or not it ever existed? */
static bool past_retention(const struct ow_engine *eng, struct ow_window_id w)
{
    int64_t expire_at;

    if (eng->stats.watermark_us == INT64_MIN) {
        return false;
    }
    expire_at = ow_window_close_at(eng->tz, eng->cal, &eng->cfg->windows.grace,
                                   ow_window_add(w, (int)eng->cfg->windows.retention_windows));
    return eng->stats.watermark_us >= expire_at;
}

bool ow_engine_window_expired(const struct ow_engine *eng, struct ow_window_id w)
{
    const struct win_range *r = &eng->ranges[w.kind];

    if (r->count > 0 && w.index >= r->first && w.index < r->first + r->count) {
        return r->items[w.index - r->first].expired;
    }
    return past_retention(eng, w);
}

/* Make @w exist (and every window between it and the existing range). */
static struct win *win_ensure(struct ow_engine *eng, struct ow_window_id w)
{
    struct win_range *r = &eng->ranges[w.kind];
    struct win *x = win_get(eng, w);
    int first;
    int last;
    int count;
    struct win *items;

    if (x != NULL) {
        return x;
    }
    first = r->count == 0 ? w.index : (w.index < r->first ? w.index : r->first);
    last = r->count == 0 ? w.index
                         : (w.index > r->first + r->count - 1 ? w.index : r->first + r->count - 1);
    count = last - first + 1;
    items = ow_xcalloc((size_t)count, sizeof(*items));
    for (int i = 0; i < count; i++) {
        int old = first + i - r->first;

        if (r->count > 0 && old >= 0 && old < r->count) {
            items[i] = r->items[old];
        } else {
            struct ow_window_id id = {w.kind, first + i};

            ow__engine_win_init(eng, id, &items[i]);
            eng->stats.windows++;
        }
    }
    if (r->count > 0) {
        r->next_open += r->first - first;
    }
    free(r->items);
    r->items = items;
    r->first = first;
    r->count = count;
    /* A window added before the oldest open one may itself be open. */
    while (r->next_open > 0 && !r->items[r->next_open - 1].closed) {
        r->next_open--;
    }
    return win_get(eng, w);
}

static json_t *report_with_refs(struct ow_engine *eng, const struct ow_processor *p, void *ctx,
                                struct ow_window_id w)
{
    json_t *rep = p->snapshot(ctx, w);
    char date[16];

    if (rep == NULL) {
        return NULL;
    }
    json_object_set_new(rep, "sec_ref", json_string(p->sec_ref));
    if (p->due_working_days > 0) {
        struct ow_date d = ow_window_due(eng->cal, w, p->due_working_days);

        snprintf(date, sizeof(date), "%04d-%02d-%02d", d.year, d.month, d.day);
        json_object_set_new(rep, "due", json_string(date));
    } else {
        json_object_set_new(rep, "due", json_null());
    }
    return rep;
}

/* The reports of @w's kind whose processors are in @which (a bit per processor), keyed by
 * report name (new reference). */
static json_t *build_reports(struct ow_engine *eng, struct ow_window_id w, uint64_t which)
{
    json_t *reports = json_object();

    for (size_t i = 0; i < eng->nproc; i++) {
        const struct ow_processor *p = ow_processors[i];
        json_t *rep;

        if ((which >> i & 1) == 0 || p->kind != w.kind) {
            continue;
        }
        if ((rep = report_with_refs(eng, p, eng->ctx[i], w)) != NULL) {
            json_object_set_new(reports, p->report, rep);
        }
    }
    return reports;
}

/* One aggregate update per report, keyed <window>/<report>; the data is the report object of
 * the snapshot (borrowed from @reports). */
static void emit_aggregates(struct ow_engine *eng, struct ow_window_id w, const struct win *x,
                            json_t *reports)
{
    char name[16];
    char key[96];
    const char *report;
    json_t *data;

    ow_window_name(w, name, sizeof(name));
    json_object_foreach(reports, report, data)
    {
        snprintf(key, sizeof(key), "%s/%s", name, report);
        ow_sink_emit_new(eng->sink, OW_STREAM_AGGREGATES, key,
                         json_pack("{s:i, s:s, s:s, s:i, s:b, s:O}", "schema_version", 1, "window",
                                   name, "report", report, "revision", x->revision, "final",
                                   x->closed, "data", data));
    }
}

static json_t *build_snapshot(struct ow_engine *eng, struct ow_window_id w, const struct win *x,
                              json_t *reports)
{
    char name[16];
    char start[48];
    char end[48];

    ow_window_name(w, name, sizeof(name));
    ow_tz_format(eng->tz, ow_window_start(eng->tz, w), start, sizeof(start));
    ow_tz_format(eng->tz, ow_window_end(eng->tz, w), end, sizeof(end));
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:b, s:I, s:{s:s, s:s}, s:O, s:o}",
                     "schema_version", 1, "window", name, "kind",
                     w.kind == OW_WIN_MONTH ? "month" : "quarter", "timezone", ow_tz_name(eng->tz),
                     "start", start, "end", end, "revision", x->revision, "final", x->closed,
                     "late_events", (json_int_t)x->late_events, "producer", "version", OW_VERSION,
                     "config_sha256", eng->cfg->sha256, "reports", reports, "alerts",
                     ow_alerts_of_window(eng->alerts, w));
}

static void emit_snapshot(struct ow_engine *eng, struct ow_window_id w, struct win *x)
{
    char name[16];
    json_t *reports = build_reports(eng, w, OW__ALL_REPORTS);

    ow_window_name(w, name, sizeof(name));
    ow_sink_emit_new(eng->sink, OW_STREAM_SNAPSHOTS, name, build_snapshot(eng, w, x, reports));
    emit_aggregates(eng, w, x, reports);
    json_decref(reports);
    x->dirty = 0;
}

static void close_window(struct ow_engine *eng, struct ow_window_id w, struct win *x,
                         enum ow_close_reason why)
{
    x->closed = true;
    x->revision = 1;
    eng->stats.windows_closed++;
    eng->stats.closed_by_reason[why]++;
    for (size_t i = 0; i < eng->nproc; i++) {
        if (ow_processors[i]->kind == w.kind && ow_processors[i]->on_close != NULL) {
            eng->running = i;
            ow_processors[i]->on_close(eng->ctx[i], w, eng->sink);
            eng->running = SIZE_MAX;
        }
    }
    emit_snapshot(eng, w, x);
}

/* Close and expire the windows the watermark has passed, oldest first. */
static void sweep_windows(struct ow_engine *eng, enum ow_close_reason why)
{
    int64_t wm = eng->stats.watermark_us;

    for (int kind = 0; kind < 2; kind++) {
        struct win_range *r = &eng->ranges[kind];

        while (r->next_open < r->count && r->items[r->next_open].close_at <= wm) {
            struct ow_window_id w = {kind, r->first + r->next_open};

            close_window(eng, w, &r->items[r->next_open], why);
            r->next_open++;
        }
        for (int i = 0; i < r->next_open; i++) {
            struct win *x = &r->items[i];

            if (!x->expired && x->expire_at <= wm) {
                struct ow_window_id w = {kind, r->first + i};

                if (x->dirty) {
                    x->revision++;
                    emit_snapshot(eng, w, x);
                }
                x->expired = true;
                for (size_t p = 0; p < eng->nproc; p++) {
                    if ((int)ow_processors[p]->kind == kind && ow_processors[p]->expire != NULL) {
                        ow_processors[p]->expire(eng->ctx[p], w);
                    }
                }
            }
        }
    }
}

void ow_engine_advance_watermark(struct ow_engine *eng, int64_t us, enum ow_close_reason why)
{
    if (us <= eng->stats.watermark_us) {
        return;
    }
    eng->stats.watermark_us = us;
    for (size_t i = 0; i < eng->nproc; i++) {
        if (ow_processors[i]->on_watermark != NULL) {
            eng->running = i;
            ow_processors[i]->on_watermark(eng->ctx[i], us, eng->sink);
            eng->running = SIZE_MAX;
        }
    }
    ow_alerts_on_watermark(eng->alerts, us);
    sweep_windows(eng, why);
}

void ow_engine_window_touched(struct ow_engine *eng, struct ow_window_id w)
{
    struct win *x = win_get(eng, w);

    if (x == NULL || x->expired) {
        return;
    }
    /* Called from inside a processor's callback: that processor's report changed. Outside
     * one (none of ours does that), any might have. */
    x->dirty |= eng->running < eng->nproc ? UINT64_C(1) << eng->running : OW__ALL_REPORTS;
    if (x->closed) {
        x->late_events++;
        eng->stats.late_events++;
    }
}

/* ---- dead letters ---- */

static void dead_letter(struct ow_engine *eng, const char *buf, size_t len,
                        const struct ow_source *src, enum ow_dl_reason reason, const char *error)
{
    size_t shown = len > OW_EVENT_MAX_BYTES ? DL_PAYLOAD_MAX : len;
    char received[40];
    char key[300];
    json_t *payload;
    json_t *rec;

    eng->stats.dead_letters++;
    eng->stats.dead_by_reason[reason]++;
    ow_rfc3339_format_utc(src->received_us, received, sizeof(received));
    rec = json_pack("{s:i, s:s, s:s, s:{s:s, s:i, s:I}, s:s}", "schema_version", 1, "error", error,
                    "reason", ow_dl_reason_name(reason), "source", "topic",
                    src->topic ? src->topic : "", "partition", src->partition, "offset",
                    (json_int_t)src->offset, "received_at", received);
    payload = json_stringn(buf, shown);
    if (payload != NULL) {
        json_object_set_new(rec, "payload", payload);
    } else {
        /* Not UTF-8 (or cut inside a character): keep the exact bytes. */
        char *b64 = ow_xmalloc(4 * ((shown + 2) / 3) + 1);

        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)buf, (int)shown);
        json_object_set_new(rec, "payload_b64", json_string(b64));
        free(b64);
    }
    if (shown < len) {
        char sha[65];

        ow_sha256_hex(buf, len, sha);
        json_object_set_new(rec, "payload_bytes", json_integer((json_int_t)len));
        json_object_set_new(rec, "payload_sha256", json_string(sha));
    }
    snprintf(key, sizeof(key), "%s/%" PRId32 "/%" PRId64, src->topic ? src->topic : "",
             src->partition, src->offset);
    ow_sink_emit_new(eng->sink, OW_STREAM_DEADLETTER, key, rec);
}

static enum ow_dl_reason classify(const struct ow_err *err)
{
    if (strncmp(err->text, "not valid JSON", 14) == 0) {
        return OW_DL_INVALID_JSON;
    }
    if (strstr(err->where, "field 'type'") != NULL && strncmp(err->where, "event", 5) == 0) {
        return OW_DL_UNKNOWN_TYPE;
    }
    if (strstr(err->text, "exceeds 64 KiB") != NULL) {
        return OW_DL_TOO_LARGE;
    }
    return OW_DL_SCHEMA;
}

/* ---- events ---- */

/* The window an event's counts belong to. */
static struct ow_window_id event_window(const struct ow_engine *eng, const struct ow_event *ev)
{
    switch (ev->type) {
    case OW_EV_FORECAST:
        return (struct ow_window_id){OW_WIN_MONTH, ev->period};
    case OW_EV_CH_RETURN:
    case OW_EV_PROBLEM:
        return ow_window_of(eng->tz, OW_WIN_QUARTER, ev->occurred_us);
    default:
        return ow_window_of(eng->tz, OW_WIN_MONTH, ev->occurred_us);
    }
}

/* Entity events update their entity even when their window has expired. */
static bool is_entity_type(enum ow_event_type t)
{
    return t == OW_EV_INCIDENT || t == OW_EV_PROBLEM || t == OW_EV_CH_RETURN;
}

/* The generic threshold rules that read a report this event changed, judged at the event. */
static void judge_thresholds(struct ow_engine *eng, const struct ow_event *ev,
                             struct ow_window_id w)
{
    for (const size_t *ip = eng->by_type[ev->type]; *ip != SIZE_MAX; ip++) {
        const struct ow_processor *p = ow_processors[*ip];
        json_t *rep;

        if (!eng->threshold_watch[*ip] || p->kind != w.kind) {
            continue;
        }
        rep = p->snapshot(eng->ctx[*ip], w);
        if (rep != NULL) {
            ow_threshold_judge(&eng->cfg->threshold_rules, eng->alerts, p->report, w, rep,
                               ev->occurred_us);
            json_decref(rep);
        }
    }
}

int ow_engine_apply(struct ow_engine *eng, const char *buf, size_t len, const struct ow_source *src)
{
    struct ow_event *ev = &eng->ev;
    struct ow_dedup_key key;
    struct ow_window_id w;
    struct win *x = NULL;
    struct ow_err err;
    char msg[512];
    int rc;

    eng->stats.events++;
    rc = ow_decoder_decode(eng->dec, buf, len, ev, &err);
    if (rc != OW_OK) {
        dead_letter(eng, buf, len, src, classify(&err), ow_err_str(&err, msg, sizeof(msg)));
        return OW_ESCHEMA;
    }
    if (eng->live && eng->wall_clock_us != 0 &&
        ev->occurred_us > eng->wall_clock_us + eng->cfg->windows.future_limit_us) {
        snprintf(msg, sizeof(msg),
                 "%s: field 'occurred_at': occurred_at in the future (more than %" PRId64
                 " s ahead of the wall clock)",
                 ow_event_type_name(ev->type), eng->cfg->windows.future_limit_us / OW_US_PER_SEC);
        dead_letter(eng, buf, len, src, OW_DL_FUTURE, msg);
        return OW_ESCHEMA;
    }
    key = ow_dedup_key_of(ev->event_id.p, ev->event_id.len);
    switch (ow_dedup_lookup(eng->dedup, key, ev->content_hash)) {
    case OW_DEDUP_SAME:
        eng->stats.duplicates++;
        return OW_EDUP;
    case OW_DEDUP_CONFLICT:
        snprintf(msg, sizeof(msg),
                 "%s: field 'event_id': duplicate id \"%.128s\" with different content",
                 ow_event_type_name(ev->type), ev->event_id.p);
        dead_letter(eng, buf, len, src, OW_DL_DUPLICATE_CONFLICT, msg);
        return OW_ESCHEMA;
    case OW_DEDUP_NEW:
        break;
    }
    w = event_window(eng, ev);
    if (ow_engine_window_expired(eng, w)) {
        if (!is_entity_type(ev->type)) {
            char name[16];

            ow_window_name(w, name, sizeof(name));
            snprintf(msg, sizeof(msg),
                     "%s: field '%s': window expired (window %s is past its retention; its "
                     "state is no longer kept)",
                     ow_event_type_name(ev->type),
                     ev->type == OW_EV_FORECAST ? "period" : "occurred_at", name);
            dead_letter(eng, buf, len, src, OW_DL_WINDOW_EXPIRED, msg);
            return OW_ESCHEMA;
        }
    } else {
        x = win_ensure(eng, w);
    }
    for (const size_t *ip = eng->by_type[ev->type]; *ip != SIZE_MAX; ip++) {
        eng->running = *ip;
        rc = ow_processors[*ip]->apply(eng->ctx[*ip], ev, eng->sink, &err);
        eng->running = SIZE_MAX;
        if (rc != OW_OK) {
            dead_letter(eng, buf, len, src, OW_DL_OVERFLOW, ow_err_str(&err, msg, sizeof(msg)));
            return OW_ESCHEMA;
        }
    }
    if (x != NULL) {
        judge_thresholds(eng, ev, w);
    }
    ow_dedup_insert(eng->dedup, key, ev->content_hash, ev->occurred_us);
    if (eng->journal.enabled) {
        ow__engine_journal_id(eng, key, ev->content_hash, ev->occurred_us);
    }
    eng->stats.applied++;
    eng->stats.by_type[ev->type]++;
    if (x != NULL) {
        x = win_get(eng, w); /* processors may have added windows */
        x->dirty |= eng->consumers_of[ev->type];
        if (x->closed) {
            x->late_events++;
            eng->stats.late_events++;
        }
    }
    if (ev->occurred_us > eng->max_occurred_us) {
        eng->max_occurred_us = ev->occurred_us;
        ow_engine_advance_watermark(eng, ev->occurred_us - eng->cfg->windows.allowed_disorder_us,
                                    OW_CLOSE_WATERMARK);
    }
    return OW_OK;
}

/* Finds the id the quick way (event_id first, as producers write it; else a search for the
 * key), without escapes; anything else is left to the decoder. Only a cache hint: a wrong or
 * missing id costs a wasted prefetch, never a wrong verdict. */
void ow_engine_prefetch(const struct ow_engine *eng, const char *buf, size_t len)
{
    static const char key[] = "\"event_id\":\"";
    const size_t klen = sizeof(key) - 1;
    const char *end = buf + len;
    const char *p;
    const char *q;
    uint64_t a;
    uint64_t b;
    uint32_t a4;
    uint32_t b4;

    if (len <= 1 + klen) {
        return;
    }
    memcpy(&a, buf + 1, 8);
    memcpy(&b, key, 8);
    memcpy(&a4, buf + 9, 4);
    memcpy(&b4, key + 8, 4);
    if (buf[0] == '{' && a == b && a4 == b4) {
        p = buf + 1 + klen;
    } else {
        p = memmem(buf, len, key, klen);
        if (p == NULL) {
            return;
        }
        p += klen;
    }
    q = (const char *)ow__json_plain_run((const unsigned char *)buf, (const unsigned char *)p,
                                         (const unsigned char *)end);
    if (q == end || *q != '"') {
        return; /* an escape or a byte outside printable ASCII: left to the decoder */
    }
    ow_dedup_prefetch(eng->dedup, ow_dedup_key_of(p, (size_t)(q - p)));
}

void ow_engine_set_wall_clock(struct ow_engine *eng, int64_t now_us)
{
    eng->wall_clock_us = now_us;
    ow_alerts_set_wall_clock(eng->alerts, now_us);
}

void ow_engine_flush(struct ow_engine *eng)
{
    for (int kind = 0; kind < 2; kind++) {
        struct win_range *r = &eng->ranges[kind];

        for (int i = 0; i < r->count; i++) {
            struct win *x = &r->items[i];
            struct ow_window_id w = {kind, r->first + i};

            if (x->dirty == 0 || x->expired) {
                continue;
            }
            if (x->closed) {
                x->revision++;
                emit_snapshot(eng, w, x);
            } else {
                /* Only the reports that changed: an update per key while it changes. */
                json_t *reports = build_reports(eng, w, x->dirty);

                emit_aggregates(eng, w, x, reports);
                json_decref(reports);
                x->dirty = 0;
            }
        }
    }
}

void ow_engine_finish(struct ow_engine *eng, bool close_all)
{
    if (close_all) {
        for (size_t i = 0; i < eng->nproc; i++) {
            if (ow_processors[i]->end_of_input != NULL) {
                eng->running = i;
                ow_processors[i]->end_of_input(eng->ctx[i], eng->sink);
                eng->running = SIZE_MAX;
            }
        }
    }
    for (int kind = 0; kind < 2; kind++) {
        struct win_range *r = &eng->ranges[kind];

        for (int i = 0; i < r->count; i++) {
            struct win *x = &r->items[i];
            struct ow_window_id w = {kind, r->first + i};

            if (x->expired) {
                continue;
            }
            if (!x->closed && close_all) {
                close_window(eng, w, x, OW_CLOSE_END_OF_INPUT);
            } else if (!x->closed) {
                emit_snapshot(eng, w, x);
            } else if (x->dirty) {
                x->revision++;
                emit_snapshot(eng, w, x);
            }
        }
        if (close_all) {
            r->next_open = r->count;
        }
    }
}

json_t *ow_engine_windows(const struct ow_engine *eng)
{
    json_t *out = json_array();
    char name[16];
    char close_at[48];

    for (int kind = 0; kind < 2; kind++) {
        const struct win_range *r = &eng->ranges[kind];

        for (int i = 0; i < r->count; i++) {
            const struct win *x = &r->items[i];
            struct ow_window_id w = {kind, r->first + i};

            ow_window_name(w, name, sizeof(name));
            ow_tz_format(eng->tz, x->close_at, close_at, sizeof(close_at));
            json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:i, s:I, s:s}", "window", name,
                                                 "kind", kind == OW_WIN_MONTH ? "month" : "quarter",
                                                 "state",
                                                 x->expired  ? "expired"
                                                 : x->closed ? "closed"
                                                             : "open",
                                                 "revision", x->revision, "late_events",
                                                 (json_int_t)x->late_events, "close_at", close_at));
        }
    }
    return out;
}

json_t *ow_engine_snapshot(struct ow_engine *eng, const char *name)
{
    struct ow_window_id w;
    struct win *x;

    if (ow_window_parse(name, strlen(name), &w) != 0 || (x = win_get(eng, w)) == NULL ||
        x->expired) {
        return NULL;
    }
    {
        json_t *reports = build_reports(eng, w, OW__ALL_REPORTS);
        json_t *snap = build_snapshot(eng, w, x, reports);

        json_decref(reports);
        return snap;
    }
}

void ow_engine_dedup_stats(const struct ow_engine *eng, struct ow_dedup_stats *st)
{
    ow_dedup_stats(eng->dedup, st);
}

int64_t ow_engine_dedup_edge_us(const struct ow_engine *eng)
{
    return ow_dedup_edge_us(eng->dedup);
}

struct ow_alerts *ow_engine_alerts(struct ow_engine *eng)
{
    return eng->alerts;
}

const struct ow_engine_stats *ow_engine_stats(const struct ow_engine *eng)
{
    return &eng->stats;
}

/* ---- life cycle ---- */

static int wire_processors(struct ow_engine *eng, struct ow_err *err)
{
    size_t counts[OW_EV__COUNT] = {0};

    while (ow_processors[eng->nproc] != NULL) {
        eng->nproc++;
    }
    if (eng->nproc > OW__ENGINE_MAX_PROCESSORS) {
        return ow_err_set(err, OW_EINVAL, "registry", "%zu processors: at most %d are supported",
                          eng->nproc, OW__ENGINE_MAX_PROCESSORS);
    }
    eng->running = SIZE_MAX;
    eng->ctx = ow_xcalloc(eng->nproc, sizeof(*eng->ctx));
    eng->threshold_watch = ow_xcalloc(eng->nproc + 1, sizeof(*eng->threshold_watch));
    for (int t = 0; t < OW_EV__COUNT; t++) {
        eng->by_type[t] = ow_xcalloc(eng->nproc + 1, sizeof(**eng->by_type));
        eng->by_type[t][0] = SIZE_MAX;
    }
    for (size_t i = 0; i < eng->nproc; i++) {
        const struct ow_processor *p = ow_processors[i];

        if (p->abi != OW_PROCESSOR_ABI) {
            return ow_err_set(err, OW_EINVAL, p->name, "processor ABI %d, engine expects %d",
                              p->abi, OW_PROCESSOR_ABI);
        }
        for (const char *const *t = p->event_types; *t != NULL; t++) {
            int type = 0;

            while (type < OW_EV__COUNT && strcmp(ow_event_type_name(type), *t) != 0) {
                type++;
            }
            if (type == OW_EV__COUNT) {
                return ow_err_set(err, OW_EINVAL, p->name, "consumes unknown event type '%s'", *t);
            }
            eng->by_type[type][counts[type]++] = i;
            eng->consumers_of[type] |= UINT64_C(1) << i;
            eng->by_type[type][counts[type]] = SIZE_MAX;
        }
    }
    for (int t = 0; t < OW_EV__COUNT; t++) {
        if (counts[t] == 0) {
            return ow_err_set(err, OW_EINVAL, "registry", "event type '%s' has no consumer",
                              ow_event_type_name(t));
        }
    }
    for (size_t i = 0; i < eng->nproc; i++) {
        eng->threshold_watch[i] =
            ow_threshold_watches(&eng->cfg->threshold_rules, ow_processors[i]->report);
    }
    for (size_t i = 0; i < eng->nproc; i++) {
        int rc = ow_processors[i]->init(&eng->ctx[i], &eng->env,
                                        ow_config_proc(eng->cfg, ow_processors[i]), err);

        if (rc != OW_OK) {
            return rc;
        }
    }
    return OW_OK;
}

struct ow_engine *ow_engine_create(const struct ow_config *cfg, struct ow_sink *sink, bool live,
                                   struct ow_err *err)
{
    struct ow_engine *eng = ow_xcalloc(1, sizeof(*eng));
    struct ow_dedup_conf dc = {cfg->dedup.span_us, (size_t)cfg->dedup.max_bytes};

    eng->cfg = cfg;
    eng->sink = sink;
    eng->live = live;
    eng->max_occurred_us = INT64_MIN;
    eng->stats.watermark_us = INT64_MIN;
    eng->tz = ow_tz_create(cfg->timezone, err);
    if (eng->tz == NULL) {
        goto out_fail;
    }
    if (cfg->calendar[0] == '\0') {
        eng->cal = ow_calendar_default();
    } else {
        char path[4096];

        if (cfg->calendar[0] == '/') {
            snprintf(path, sizeof(path), "%s", cfg->calendar);
        } else {
            snprintf(path, sizeof(path), "%s/%s", cfg->dir, cfg->calendar);
        }
        eng->cal = ow_calendar_load(path, err);
    }
    if (eng->cal == NULL) {
        goto out_fail;
    }
    eng->dec = ow_decoder_create();
    eng->dedup = ow_dedup_create(&dc);
    eng->env.eng = eng;
    eng->env.tz = eng->tz;
    eng->env.cal = eng->cal;
    eng->env.cfg = cfg;
    eng->alerts = ow_alerts_create(sink);
    eng->env.alerts = eng->alerts;
    if (wire_processors(eng, err) != OW_OK) {
        goto out_fail;
    }
    return eng;
out_fail:
    ow_engine_destroy(eng);
    return NULL;
}

void ow_engine_destroy(struct ow_engine *eng)
{
    if (eng == NULL) {
        return;
    }
    for (size_t i = 0; i < eng->nproc; i++) {
        if (eng->ctx != NULL) {
            ow_processors[i]->destroy(eng->ctx[i]);
        }
    }
    for (int t = 0; t < OW_EV__COUNT; t++) {
        free(eng->by_type[t]);
    }
    for (int k = 0; k < 2; k++) {
        free(eng->ranges[k].items);
    }
    free(eng->ctx);
    free(eng->journal.items);
    free(eng->threshold_watch);
    ow_dedup_destroy(eng->dedup);
    ow_alerts_destroy(eng->alerts);
    ow_decoder_destroy(eng->dec);
    ow_calendar_destroy(eng->cal);
    ow_tz_destroy(eng->tz);
    free(eng);
}
