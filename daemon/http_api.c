/* http_api.c: the request/response routes (health, readiness, metrics, JSON API).
 *
 * Everything is built on the loop thread at request time from the engine's own queries: the
 * engine is not thread safe and here needs no lock, because HTTP runs on the loop. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "alloc.h"
#include "engine.h"
#include "http_internal.h"
#include "window.h"

#define API_PREFIX "/api/v1/"
#define SNAPSHOTS_PREFIX API_PREFIX "snapshots/"

void ow_strbuf_append(struct ow_strbuf *b, const char *s, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;

        while (cap < b->len + len + 1) {
            cap *= 2;
        }
        b->p = ow_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void ow_strbuf_printf(struct ow_strbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n < sizeof(small)) {
        ow_strbuf_append(b, small, (size_t)n);
        return;
    }
    ow_strbuf_append(b, "", 0); /* make sure p exists */
    if (b->len + (size_t)n + 1 > b->cap) {
        b->p = ow_xrealloc(b->p, b->len + (size_t)n + 1);
        b->cap = b->len + (size_t)n + 1;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Take @v (steals it): the body, compact JSON and a newline. */
static void reply_json(struct ow_http_reply *r, int status, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);

    r->status = status;
    r->ctype = "application/json";
    if (text != NULL) {
        ow_strbuf_append(&r->body, text, strlen(text));
    }
    ow_strbuf_append(&r->body, "\n", 1);
    free(text);
    json_decref(v);
}

static void reply_error(struct ow_http_reply *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_error(struct ow_http_reply *r, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    reply_json(r, status, json_pack("{s:s}", "error", msg));
}

static void readyz(struct ow_live *lv, struct ow_http_reply *r)
{
    json_t *missing = json_array();

    if (!lv->restored) {
        json_array_append_new(missing, json_string("not restored"));
    }
    if (!lv->assigned) {
        json_array_append_new(missing, json_string("partitions not assigned"));
    }
    if (lv->save_failing) {
        json_array_append_new(missing, json_string("saving failing"));
    }
    if (json_array_size(missing) == 0) {
        json_decref(missing);
        reply_json(r, 200, json_pack("{s:b}", "ready", 1));
    } else {
        reply_json(r, 503, json_pack("{s:b, s:o}", "ready", 0, "missing", missing));
    }
}

static void snapshot(struct ow_live *lv, const char *name, struct ow_http_reply *r)
{
    struct ow_window_id w;
    json_t *snap;

    if (ow_window_parse(name, strlen(name), &w) != 0) {
        reply_error(r, 400, "malformed window id '%.40s': expected YYYY-MM or YYYY-Qn", name);
        return;
    }
    snap = ow_engine_snapshot(lv->eng, name);
    if (snap == NULL) {
        reply_error(r, 404, "no window %s (not seen yet, or expired)", name);
        return;
    }
    reply_json(r, 200, snap);
}

static void alerts(struct ow_live *lv, const char *state, struct ow_http_reply *r)
{
    if (state != NULL && strcmp(state, "pending") != 0 && strcmp(state, "firing") != 0 &&
        strcmp(state, "resolved") != 0) {
        reply_error(r, 400, "unknown state '%.40s': expected pending, firing or resolved", state);
        return;
    }
    reply_json(r, 200, ow_alerts_list(ow_engine_alerts(lv->eng), state));
}

int ow_http_api_route(struct ow_live *lv, const struct ow_http_stream_stats *ss, const char *path,
                      const char *state, struct ow_http_reply *r)
{
    if (strcmp(path, "/healthz") == 0) {
        r->status = 200;
        r->ctype = "text/plain; charset=utf-8";
        ow_strbuf_append(&r->body, "ok\n", 3);
    } else if (strcmp(path, "/readyz") == 0) {
        readyz(lv, r);
    } else if (strcmp(path, "/metrics") == 0) {
        r->status = 200;
        r->ctype = "text/plain; version=0.0.4; charset=utf-8";
        ow_http_metrics(lv, ss, &r->body);
    } else if (strcmp(path, API_PREFIX "stream") == 0) {
        return -1;
    } else if (lv->eng == NULL && strncmp(path, API_PREFIX, strlen(API_PREFIX)) == 0) {
        reply_error(r, 503, "the engine is not running");
    } else if (strcmp(path, API_PREFIX "windows") == 0) {
        reply_json(r, 200, ow_engine_windows(lv->eng));
    } else if (strncmp(path, SNAPSHOTS_PREFIX, strlen(SNAPSHOTS_PREFIX)) == 0) {
        snapshot(lv, path + strlen(SNAPSHOTS_PREFIX), r);
    } else if (strcmp(path, API_PREFIX "alerts") == 0) {
        alerts(lv, state, r);
    } else {
        reply_error(r, 404, "no such path: %.200s", path);
    }
    return 0;
}
