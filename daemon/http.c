/* http.c: libwebsockets on the daemon's libuv loop: request routing, response writing, and the
 * Server-Sent Events stream with its resumption ring; see http.h.
 *
 * Why a ring of formatted events and a position per client, rather than a queue per client:
 * every client needs the same bytes, so each event is formatted once and kept once; a client's
 * backlog is then just how far its position trails the ring's head, which bounds memory by the
 * ring whatever the number of clients, and makes Last-Event-ID resumption a lookup. libwebsockets
 * itself holds at most one partial write per connection (it stops asking us for more until that
 * is drained), so a stalled client costs one chunk of memory until it is dropped. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "alloc.h"
#include "http.h"
#include "http_internal.h"
#include "log.h"

#define CHUNK 16384 /* bytes per write; a larger single event is written whole */
#define PATH_MAX_LEN 512
#define ARG_MAX_LEN 128

struct stream_ev {
    uint64_t id;
    char *text; /* "event: ...\nid: ...\ndata: ...\n\n" */
    size_t len;
};

/* Per connection (libwebsockets' per-session data, zeroed by it). */
struct client {
    struct lws *wsi;
    struct client *prev;
    struct client *next;
    bool linked;        /* in h->clients (a stream client) */
    bool sse;           /* this transaction is the stream */
    bool hello;         /* the opening comment is still to be written */
    bool gap;           /* an "event: gap" notice is still to be written */
    bool killed;        /* dropped for falling behind; closing */
    bool await_body;    /* answer once the request body (discarded) has been read */
    uint64_t gap_last;  /* the Last-Event-ID it asked for */
    uint64_t next_id;   /* the next event id it needs */
    uint64_t live_from; /* the first event broadcast after it connected */
    struct ow_http_reply reply;
    size_t sent;
};

struct ow_http {
    struct ow_live *lv;
    struct lws_context *ctx; /* set to NULL by libwebsockets when its destruction completes */
    struct lws_protocols protocols[2];
    struct ow_http_opts opts;
    char where[80]; /* the listen address, for messages */
    int port;
    bool closed;
    struct stream_ev *ring; /* opts.ring_events slots; the oldest at ring[head] */
    size_t head;
    size_t count;
    uint64_t next_id; /* id of the next broadcast event (ids start at 1) */
    struct client *clients;
    struct ow_http_stream_stats ss;
    unsigned char *wbuf; /* LWS_PRE + payload, reused by every write */
    size_t wcap;
};

/* ---- logs ---- */

static void lws_log_emit(int level, const char *line)
{
    enum ow_log_level l = OW_LOG_DEBUG;
    size_t n = strlen(line);
    const char *p;

    if (level & LLL_ERR) {
        l = OW_LOG_ERROR;
    } else if (level & LLL_WARN) {
        l = OW_LOG_WARN;
    } else if (level & LLL_USER) {
        l = OW_LOG_INFO;
    }
    /* libwebsockets prefixes "[date time] X: " to the line: the daemon's logger has its own */
    if (line[0] == '[' && (p = strstr(line, "] ")) != NULL && p[2] != '\0' && p[3] == ':') {
        p += 4;
        while (*p == ' ') {
            p++;
        }
        n -= (size_t)(p - line);
        line = p;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        n--;
    }
    ow_log(l, "http", "lws: %.*s", (int)n, line);
}

/* ---- the ring ---- */

static uint64_t oldest_id(const struct ow_http *h)
{
    return h->next_id - h->count;
}

static const struct stream_ev *ring_get(const struct ow_http *h, uint64_t id)
{
    return &h->ring[(h->head + (size_t)(id - oldest_id(h))) % h->opts.ring_events];
}

static void ring_drop_oldest(struct ow_http *h)
{
    struct stream_ev *e = &h->ring[h->head];

    h->ss.kept_bytes -= e->len;
    free(e->text);
    e->text = NULL;
    h->head = (h->head + 1) % h->opts.ring_events;
    h->count--;
    h->ss.kept = h->count;
}

static void ring_push(struct ow_http *h, char *text, size_t len)
{
    struct stream_ev *e;

    if (h->count == h->opts.ring_events) {
        ring_drop_oldest(h);
    }
    while (h->count > 0 && h->ss.kept_bytes + len > h->opts.ring_bytes) {
        ring_drop_oldest(h);
    }
    e = &h->ring[(h->head + h->count) % h->opts.ring_events];
    e->id = h->next_id++;
    e->text = text;
    e->len = len;
    h->count++;
    h->ss.kept = h->count;
    h->ss.kept_bytes += len;
    h->ss.events++;
}

/* ---- clients ---- */

static void link_client(struct ow_http *h, struct client *c)
{
    c->prev = NULL;
    c->next = h->clients;
    if (h->clients != NULL) {
        h->clients->prev = c;
    }
    h->clients = c;
    c->linked = true;
    h->ss.clients++;
}

static void unlink_client(struct ow_http *h, struct client *c)
{
    if (!c->linked) {
        return;
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        h->clients = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    c->linked = false;
    h->ss.clients--;
}

static void forget(struct ow_http *h, struct client *c)
{
    unlink_client(h, c);
    free(c->reply.body.p);
    memset(&c->reply, 0, sizeof(c->reply));
    c->sse = false;
}

/* A client that fell too far behind the live stream, or whose next event left the ring. */
static bool too_slow(const struct ow_http *h, const struct client *c)
{
    uint64_t from = c->next_id > c->live_from ? c->next_id : c->live_from;

    return c->next_id < oldest_id(h) || h->next_id - from > h->opts.client_backlog;
}

/* Log, count and forget @c; close it later (@async, outside its callbacks) or let the caller
 * return -1 from its callback. */
static void drop_client(struct ow_http *h, struct client *c, bool async)
{
    char peer[64] = "?";

    lws_get_peer_simple(c->wsi, peer, sizeof(peer));
    ow_log_warn("http",
                "stream client dropped: too slow peer=%s behind=%" PRIu64 " next_id=%" PRIu64
                " first_kept_id=%" PRIu64,
                peer, h->next_id - c->next_id, c->next_id, oldest_id(h));
    c->killed = true;
    h->ss.dropped_clients++;
    unlink_client(h, c);
    if (async) {
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
}

static unsigned char *wbuf(struct ow_http *h, size_t payload)
{
    if (LWS_PRE + payload > h->wcap) {
        h->wcap = LWS_PRE + payload;
        h->wbuf = ow_xrealloc(h->wbuf, h->wcap);
    }
    return h->wbuf + LWS_PRE;
}

/* ---- requests ---- */

/* The decoded value of query argument @name, or NULL. */
static const char *query_arg(struct lws *wsi, const char *name, char *buf, int len)
{
    size_t n = strlen(name);

    for (int i = 0; lws_hdr_copy_fragment(wsi, buf, len, WSI_TOKEN_HTTP_URI_ARGS, i) >= 0; i++) {
        if (strncmp(buf, name, n) == 0 && buf[n] == '=') {
            return buf + n + 1;
        }
    }
    return NULL;
}

static int send_headers(struct lws *wsi, int status, const char *ctype, lws_filepos_t len,
                        const char *cache)
{
    unsigned char hb[LWS_PRE + 1024];
    unsigned char *start = hb + LWS_PRE;
    unsigned char *p = start;
    unsigned char *end = hb + sizeof(hb) - 1;

    if (lws_add_http_common_headers(wsi, (unsigned int)status, ctype, len, &p, end) != 0 ||
        lws_add_http_header_by_name(
            wsi, (const unsigned char *)"cache-control:", (const unsigned char *)cache,
            (int)strlen(cache), &p, end) != 0 ||
        lws_finalize_write_http_header(wsi, start, &p, end) != 0) {
        return -1;
    }
    return 0;
}

static int parse_id(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

static int start_stream(struct ow_http *h, struct client *c, struct lws *wsi)
{
    char buf[ARG_MAX_LEN];
    const char *arg = NULL;
    uint64_t last;

    if (lws_hdr_custom_length(wsi, "last-event-id:", 14) > 0 &&
        lws_hdr_custom_copy(wsi, buf, sizeof(buf), "last-event-id:", 14) > 0) {
        arg = buf;
    } else {
        arg = query_arg(wsi, "last_event_id", buf, sizeof(buf));
    }
    if (send_headers(wsi, 200, "text/event-stream", LWS_ILLEGAL_HTTP_CONTENT_LEN, "no-cache") !=
        0) {
        return -1;
    }
    /* a stream never times out (lws_http_mark_sse() is for HTTP/2 streams only in 4.1 and
     * logs an error on HTTP/1.1, the only protocol served here: there is no TLS for h2) */
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    c->sse = true;
    c->hello = true;
    c->live_from = h->next_id;
    if (parse_id(arg, &last) != 0) {
        c->next_id = h->next_id; /* a new reader: live events only */
    } else if (last < h->next_id && last + 1 >= oldest_id(h)) {
        c->next_id = last + 1;
    } else {
        c->gap = true; /* older than the ring, or an id this process never gave out */
        c->gap_last = last;
        c->next_id = oldest_id(h);
    }
    link_client(h, c);
    lws_callback_on_writable(wsi);
    return 0;
}

static int on_request(struct ow_http *h, struct client *c, struct lws *wsi, const char *uri)
{
    char path[PATH_MAX_LEN];
    char buf[ARG_MAX_LEN];
    const char *state;

    forget(h, c);
    c->wsi = wsi;
    c->sent = 0;
    c->await_body = false;
    h->ss.requests++;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
        c->reply.status = 405;
        c->reply.ctype = "application/json";
        ow_strbuf_printf(&c->reply.body, "{\"error\":\"only GET is served\"}\n");
        /* libwebsockets grants no writable callback before the body has been read */
        c->await_body = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
    } else {
        snprintf(path, sizeof(path), "%s", uri);
        state = query_arg(wsi, "state", buf, sizeof(buf));
        if (ow_http_api_route(h->lv, &h->ss, path, state, &c->reply) < 0) {
            return start_stream(h, c, wsi);
        }
    }
    if (send_headers(wsi, c->reply.status, c->reply.ctype, c->reply.body.len, "no-store") != 0) {
        return -1;
    }
    if (!c->await_body) {
        lws_callback_on_writable(wsi);
    }
    return 0;
}

static int write_body(struct ow_http *h, struct client *c, struct lws *wsi)
{
    size_t left = c->reply.body.len - c->sent;
    size_t n = left < CHUNK ? left : CHUNK;
    bool last = n == left;
    unsigned char *p = wbuf(h, n);

    if (c->reply.body.p == NULL) {
        return 0; /* nothing pending (a spurious writable callback) */
    }
    memcpy(p, c->reply.body.p + c->sent, n);
    if (lws_write(wsi, p, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n) {
        return -1;
    }
    c->sent += n;
    if (!last) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    forget(h, c);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int write_stream(struct ow_http *h, struct client *c, struct lws *wsi)
{
    char head[160];
    size_t total = 0;
    unsigned char *p;
    int n;

    if (c->killed) {
        return -1;
    }
    if (too_slow(h, c)) {
        drop_client(h, c, false);
        return -1;
    }
    p = wbuf(h, CHUNK);
    if (c->hello) {
        n = snprintf(head, sizeof(head), ": opswatch event stream\nretry: 2000\n\n");
        memcpy(p + total, head, (size_t)n);
        total += (size_t)n;
        c->hello = false;
    }
    if (c->gap) {
        n = snprintf(head, sizeof(head),
                     "event: gap\ndata: {\"last_event_id\":%" PRIu64 ",\"first_kept_id\":%" PRIu64
                     "}\n\n",
                     c->gap_last, oldest_id(h));
        memcpy(p + total, head, (size_t)n);
        total += (size_t)n;
        c->gap = false;
    }
    while (c->next_id < h->next_id) {
        const struct stream_ev *e = ring_get(h, c->next_id);

        if (total > 0 && total + e->len > CHUNK) {
            break;
        }
        p = wbuf(h, total + e->len);
        memcpy(p + total, e->text, e->len);
        total += e->len;
        c->next_id++;
    }
    if (total == 0) {
        return 0;
    }
    if (lws_write(wsi, p, total, LWS_WRITE_HTTP) != (int)total) {
        return -1;
    }
    if (c->next_id < h->next_id) {
        lws_callback_on_writable(wsi);
    }
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    struct ow_http *h = ctx != NULL ? lws_context_user(ctx) : NULL;
    struct client *c = user;

    if (h != NULL && c != NULL) {
        switch (reason) {
        case LWS_CALLBACK_HTTP:
            return on_request(h, c, wsi, in);
        case LWS_CALLBACK_HTTP_BODY:
            return 0; /* discarded: nothing here takes a body */
        case LWS_CALLBACK_HTTP_BODY_COMPLETION:
            c->await_body = false;
            lws_callback_on_writable(wsi);
            return 0;
        case LWS_CALLBACK_HTTP_WRITEABLE:
            return c->sse ? write_stream(h, c, wsi) : write_body(h, c, wsi);
        case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        case LWS_CALLBACK_CLOSED_HTTP:
        case LWS_CALLBACK_WSI_DESTROY:
            forget(h, c);
            break;
        default:
            break;
        }
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- broadcast ---- */

void ow_http_broadcast(struct ow_http *h, enum ow_stream stream, const char *json)
{
    const char *name;
    char *text;
    int n;

    /* No key: the record carries its own identity (alert_id; window and report). */
    if (h == NULL || h->closed || (stream != OW_STREAM_ALERTS && stream != OW_STREAM_AGGREGATES)) {
        return;
    }
    name = stream == OW_STREAM_ALERTS ? "alert" : "aggregate";
    n = asprintf(&text, "event: %s\nid: %" PRIu64 "\ndata: %s\n\n", name, h->next_id, json);
    if (n < 0) {
        return;
    }
    ring_push(h, text, (size_t)n);
    for (struct client *c = h->clients, *next; c != NULL; c = next) {
        next = c->next;
        if (too_slow(h, c)) {
            drop_client(h, c, true);
        } else {
            lws_callback_on_writable(c->wsi);
        }
    }
}

/* ---- life cycle ---- */

/* "127.0.0.1:8080", "[::1]:8080", "localhost:8080", ":8080" (every interface) into a numeric
 * address (empty for every interface), its family and the port. */
static int parse_listen(const char *listen, char *addr, size_t alen, int *family, int *port,
                        char *err, size_t errlen)
{
    char host[256];
    const char *colon;
    char *end;
    long p;
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    int rc;

    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');

        if (close == NULL || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof(host)) {
            snprintf(err, errlen, "http: bad listen address '%s': expected [v6addr]:port", listen);
            return -1;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(close - listen - 1), listen + 1);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL || (size_t)(colon - listen) >= sizeof(host)) {
            snprintf(err, errlen, "http: bad listen address '%s': expected host:port", listen);
            return -1;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    }
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno != 0 || p < 0 || p > 65535) {
        snprintf(err, errlen, "http: bad port in listen address '%s'", listen);
        return -1;
    }
    *port = (int)p;
    if (host[0] == '\0' || strcmp(host, "*") == 0) {
        addr[0] = '\0';
        *family = AF_INET;
        return 0;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "http: cannot resolve '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    *family = res->ai_family;
    if (res->ai_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, addr,
                  (socklen_t)alen);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, addr, (socklen_t)alen);
    }
    freeaddrinfo(res);
    return 0;
}

/* Bind a throwaway socket the way libwebsockets will, to report why listening fails (lws only
 * logs it, and a failed context cannot say "address already in use"). */
static int probe_bind(const char *addr, int family, int port, char *err, size_t errlen,
                      const char *listen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int one = 1;
    int fd;
    int rc = -1;

    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, addr, &s6->sin6_addr);
        sl = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (addr[0] != '\0') {
            inet_pton(AF_INET, addr, &s4->sin_addr);
        }
        sl = sizeof(*s4);
    }
    fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "http: cannot listen on %s: %s", listen, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
        snprintf(err, errlen, "http: cannot listen on %s: %s", listen, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

struct ow_http *ow_http_create_opts(struct ow_live *lv, const char *listen,
                                    const struct ow_http_opts *opts, char *err, size_t errlen)
{
    struct lws_context_creation_info info;
    struct ow_http *h = NULL;
    char addr[INET6_ADDRSTRLEN + 1];
    void *loops[1];
    int family;
    int port;

    if (parse_listen(listen, addr, sizeof(addr), &family, &port, err, errlen) != 0 ||
        probe_bind(addr, family, port, err, errlen, listen) != 0) {
        goto fail;
    }
    h = ow_xcalloc(1, sizeof(*h));
    h->lv = lv;
    h->next_id = 1;
    if (opts != NULL) {
        h->opts = *opts;
    }
    h->opts.ring_events = h->opts.ring_events ? h->opts.ring_events : OW_HTTP_RING_EVENTS;
    h->opts.ring_bytes = h->opts.ring_bytes ? h->opts.ring_bytes : OW_HTTP_RING_BYTES;
    h->opts.client_backlog =
        h->opts.client_backlog ? h->opts.client_backlog : OW_HTTP_CLIENT_BACKLOG;
    if (h->opts.client_backlog > h->opts.ring_events) {
        h->opts.client_backlog = h->opts.ring_events;
    }
    h->ring = ow_xcalloc(h->opts.ring_events, sizeof(*h->ring));
    snprintf(h->where, sizeof(h->where), "%s", listen);
    h->protocols[0].name = "http";
    h->protocols[0].callback = callback;
    h->protocols[0].per_session_data_size = sizeof(struct client);

    lws_set_log_level(LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_USER, lws_log_emit);
    memset(&info, 0, sizeof(info));
    loops[0] = lv->loop;
    info.foreign_loops = loops;
    info.options =
        LWS_SERVER_OPTION_LIBUV | (family == AF_INET ? LWS_SERVER_OPTION_DISABLE_IPV6 : 0);
    info.port = port;
    info.iface = addr[0] != '\0' ? addr : NULL;
    info.protocols = h->protocols;
    info.user = h;
    info.pcontext = &h->ctx;
    info.vhost_name = "opswatch";
    info.server_string = "opswatch";
    h->ctx = lws_create_context(&info);
    if (h->ctx == NULL) {
        snprintf(err, errlen,
                 "http: libwebsockets could not start on %s (see its log lines; is "
                 "libwebsockets-evlib-uv installed?)",
                 listen);
        goto fail;
    }
    h->port = lws_get_vhost_listen_port(lws_get_vhost_by_name(h->ctx, "opswatch"));
    ow_log_info("http", "listening addr=%s port=%d ring_events=%zu client_backlog=%zu", listen,
                h->port, h->opts.ring_events, h->opts.client_backlog);
    return h;

fail:
    if (h != NULL) {
        free(h->ring);
        free(h);
    }
    return NULL;
}

struct ow_http *ow_http_create(struct ow_live *lv, const char *listen, char *err, size_t errlen)
{
    return ow_http_create_opts(lv, listen, NULL, err, errlen);
}

int ow_http_port(const struct ow_http *h)
{
    return h->port;
}

void ow_http_close(struct ow_http *h)
{
    if (h == NULL || h->closed) {
        return;
    }
    h->closed = true;
    if (h->ctx != NULL) {
        lws_context_destroy(h->ctx);
    }
}

static void count_closing(uv_handle_t *hd, void *arg)
{
    if (uv_is_closing(hd)) {
        (*(int *)arg)++;
    }
}

/* Run the loop's pending close callbacks (libwebsockets' handles among them): after uv_stop()
 * uv_run returns with them still queued, and the second lws_context_destroy() would free memory
 * they still use. Bounded: a close callback may close more handles, never forever. */
static void drain_closing(uv_loop_t *loop)
{
    for (int i = 0; i < 1000; i++) {
        int n = 0;

        uv_walk(loop, count_closing, &n);
        if (n == 0) {
            break;
        }
        uv_run(loop, UV_RUN_NOWAIT);
    }
}

void ow_http_destroy(struct ow_http *h)
{
    if (h == NULL) {
        return;
    }
    ow_http_close(h);
    drain_closing(h->lv->loop);
    if (h->ctx != NULL) {
        lws_context_destroy(h->ctx);
    }
    while (h->count > 0) {
        ring_drop_oldest(h);
    }
    free(h->ring);
    free(h->wbuf);
    free(h);
}
