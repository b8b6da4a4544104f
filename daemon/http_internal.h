/* http_internal.h: what http.c, http_api.c and metrics.c share (not for other modules). */
#ifndef OW_HTTP_INTERNAL_H
#define OW_HTTP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "live.h"

/* A growable text buffer (aborts on out-of-memory, like ow_xmalloc). */
struct ow_strbuf {
    char *p;
    size_t len;
    size_t cap;
};

void ow_strbuf_printf(struct ow_strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ow_strbuf_append(struct ow_strbuf *b, const char *s, size_t len);

/* Counters of the event stream, for /metrics. */
struct ow_http_stream_stats {
    uint64_t clients; /* connected now */
    uint64_t events;  /* broadcast since start */
    uint64_t kept;    /* in the ring now */
    uint64_t kept_bytes;
    uint64_t dropped_clients; /* disconnected for falling behind */
    uint64_t requests;        /* HTTP requests served */
};

/* One response: status, content type (static), body (owned, malloc'd). */
struct ow_http_reply {
    int status;
    const char *ctype;
    struct ow_strbuf body;
};

/** Answer GET @path (no query; @state is the decoded "state" argument or NULL) for every
 * route but the stream. @returns 0 when routed (even to an error status), -1 for the stream
 * (the caller handles it). */
int ow_http_api_route(struct ow_live *lv, const struct ow_http_stream_stats *ss, const char *path,
                      const char *state, struct ow_http_reply *r);

/** The Prometheus text of @lv (and the stream's counters) appended to @out. */
void ow_http_metrics(struct ow_live *lv, const struct ow_http_stream_stats *ss,
                     struct ow_strbuf *out);

#endif
