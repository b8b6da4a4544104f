/* http.h: the daemon's HTTP endpoint (libwebsockets on the daemon's own libuv loop and thread).
 *
 * Routes (all GET):
 *   /healthz                  200 "ok" while the loop runs
 *   /readyz                   200 {"ready":true} when ow_live_ready(), else 503 with
 *                             {"ready":false,"missing":["not restored","partitions not
 *                             assigned","saving failing"]} (only the conditions that fail)
 *   /metrics                  Prometheus text format 0.0.4, names prefixed opswatch_
 *   /api/v1/windows           ow_engine_windows()
 *   /api/v1/snapshots/<w>     ow_engine_snapshot(); 400 for a malformed window id, 404 for an
 *                             unknown or expired one
 *   /api/v1/alerts[?state=s]  ow_alerts_list(); s is pending, firing or resolved (400 otherwise)
 *   /api/v1/stream            Server-Sent Events: "event: alert" / "event: aggregate", "id: <n>"
 *                             (a sequence starting at 1, +1 per event), "data: <compact JSON>"
 * Anything else is 404. Errors are JSON: {"error": "..."}.
 *
 * Stream resumption: the last `ring_events` events (and at most `ring_bytes` of them) are kept.
 * A client that sends "Last-Event-ID: n" (or ?last_event_id=n) gets every kept event with id > n
 * and then live events. When event n+1 is no longer kept (or n is not an id this process gave
 * out, e.g. after a restart), the client first gets "event: gap" with data
 * {"last_event_id": n, "first_kept_id": m} and then everything kept: it has missed events and
 * should re-read /api/v1/alerts. Without Last-Event-ID a client gets live events only.
 * A client more than `client_backlog` events behind (a slow reader) is disconnected, with a log
 * line, so it never blocks the loop nor holds memory: its backlog is only a position in the
 * shared ring.
 *
 * Teardown protocol (libwebsockets on a foreign loop closes its libuv handles asynchronously, so
 * lws_context_destroy() is called twice: inside the loop, and once more after uv_run returns):
 *   1. Inside the loop (e.g. in the SIGTERM handler, once you stop accepting work):
 *        ow_http_close(lv->http);    closes the listening socket and every connection (stream
 *                                    clients see the end of their stream), and starts closing
 *                                    lws's libuv handles (first lws_context_destroy)
 *   2. Let uv_run return: by itself once nothing else is active, or through uv_stop().
 *   3. After uv_run has returned, before uv_loop_close():
 *        ow_http_destroy(lv->http); lv->http = NULL;
 *      It first runs the loop's pending close callbacks (uv_run UV_RUN_NOWAIT while a handle on
 *      the loop is closing: after uv_stop() lws's handles may still be queued, and freeing the
 *      context under them is a use after free), then calls lws_context_destroy() the second
 *      time, which frees the context, then frees the ring. uv_loop_close() then returns 0 once
 *      your own handles are closed too.
 * ow_http_destroy() without ow_http_close() does step 1 itself (tests, early-failure paths).
 * Do not call ow_http_broadcast() after ow_http_destroy() (after ow_http_close() it is a no-op).
 */
#ifndef OW_HTTP_H
#define OW_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "live.h"

struct ow_http;

/* Tunables of the event stream; zero fields take the defaults below. */
struct ow_http_opts {
    size_t ring_events;    /* events kept for Last-Event-ID (default 4096) */
    size_t ring_bytes;     /* and at most this many bytes of them (default 16 MiB) */
    size_t client_backlog; /* a client this many events behind is dropped (default 1024;
                              never more than ring_events) */
};

#define OW_HTTP_RING_EVENTS 4096
#define OW_HTTP_RING_BYTES (16u << 20)
#define OW_HTTP_CLIENT_BACKLOG 1024

/** Listen on @listen ("127.0.0.1:8080", "[::1]:8080", "localhost:8080"; port 0 picks a free
 * one: see ow_http_port) on @lv->loop, serving @lv (borrowed; must outlive the server).
 * Call on the loop thread, before or while the loop runs.
 * @returns NULL with a message in @err (e.g. "http: cannot listen on 127.0.0.1:8080: address
 * already in use") on failure. */
struct ow_http *ow_http_create(struct ow_live *lv, const char *listen, char *err, size_t errlen);

/** The same with stream tunables (@opts may be NULL). */
struct ow_http *ow_http_create_opts(struct ow_live *lv, const char *listen,
                                    const struct ow_http_opts *opts, char *err, size_t errlen);

/** The port actually listened on (useful after port 0). */
int ow_http_port(const struct ow_http *h);

/** Step 1 of the teardown (see above): inside the loop. Idempotent; NULL is a no-op. */
void ow_http_close(struct ow_http *h);

/** Step 3: after uv_run returned. Frees @h; NULL is a no-op. */
void ow_http_destroy(struct ow_http *h);

/* ow_http_broadcast() is declared in live.h: fan an alert or aggregate record out to stream
 * clients (other streams are ignored; NULL @http is a no-op). Borrows @rec. */

#endif
