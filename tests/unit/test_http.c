/* test_http.c: the daemon's HTTP endpoint on a real libuv loop, spoken to over real loopback TCP
 * by a small HTTP client on the same loop: every route, the SSE stream with Last-Event-ID
 * resumption and its gap notice, the slow-client drop, listen errors, and the teardown protocol
 * of http.h (uv_loop_close must succeed after it). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "alloc.h"
#include "engine_fixture.h"
#include "http.h"
#include "state.h"
#include "http_internal.h"

#define TIMEOUT_MS 5000

struct env {
    uv_loop_t loop;
    struct fixture *f;
    struct ow_live lv;
    struct ow_http *http;
    struct ow_sink inner; /* the fixture's fake sink, which the tee forwards to */
};

/* The daemon's sink does this: fan alerts and aggregates out to HTTP, then publish. */
static int tee_emit(struct ow_sink *sink, enum ow_stream stream, const char *key, json_t *rec)
{
    struct env *e = sink->ctx;
    char *text = json_dumps(rec, JSON_COMPACT);

    ow_http_broadcast(e->http, stream, text);
    free(text);
    return e->inner.emit(&e->inner, stream, key, rec);
}

static struct env *env_create(const struct ow_http_opts *opts)
{
    struct env *e = ow_xcalloc(1, sizeof(*e));
    struct ow_sink *s;
    char err[256];

    assert_int_equal(uv_loop_init(&e->loop), 0);
    e->f = fixture_create(NULL, false);
    s = fake_sink_sink(e->f->sink);
    e->inner = *s;
    s->emit = tee_emit;
    s->ctx = e;
    e->lv.loop = &e->loop;
    e->lv.cfg = e->f->cfg;
    e->lv.eng = e->f->eng;
    e->lv.restored = true;
    e->lv.assigned = true;
    e->lv.started_us = 1000000;
    e->http = ow_http_create_opts(&e->lv, "127.0.0.1:0", opts, err, sizeof(err));
    if (e->http == NULL) {
        fail_msg("%s", err);
    }
    e->lv.http = e->http;
    assert_true(ow_http_port(e->http) > 0);
    return e;
}

/* The teardown protocol of http.h, then the loop must have nothing left. */
static void env_destroy(struct env *e)
{
    ow_http_close(e->http);
    assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
    ow_http_destroy(e->http);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    fixture_destroy(e->f);
    free(e);
}

/* ---- a minimal HTTP/1.1 client on the loop ---- */

struct conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    char *req;
    struct ow_strbuf in;
    bool eof;
    bool closed;
    bool failed;
};

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    buf->base = ow_xmalloc(hint);
    buf->len = hint;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = s->data;

    if (n > 0) {
        ow_strbuf_append(&c->in, buf->base, (size_t)n);
    } else if (n < 0) {
        c->eof = true;
        uv_read_stop(s);
    }
    free(buf->base);
}

static void on_write(uv_write_t *w, int status)
{
    struct conn *c = w->data;

    if (status != 0) {
        c->failed = true;
    }
}

static void on_connect(uv_connect_t *r, int status)
{
    struct conn *c = r->data;
    uv_buf_t b = uv_buf_init(c->req, (unsigned)strlen(c->req));

    if (status != 0) {
        c->failed = true;
        return;
    }
    c->wreq.data = c;
    uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static struct conn *conn_open_method(struct env *e, const char *method, const char *path,
                                     const char *headers)
{
    struct conn *c = ow_xcalloc(1, sizeof(*c));
    struct sockaddr_in sa;

    if (asprintf(&c->req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", method, path,
                 headers ? headers : "") < 0) {
        fail();
    }
    uv_ip4_addr("127.0.0.1", ow_http_port(e->http), &sa);
    uv_tcp_init(&e->loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    assert_int_equal(uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&sa, on_connect), 0);
    return c;
}

static struct conn *conn_open(struct env *e, const char *path, const char *headers)
{
    return conn_open_method(e, "GET", path, headers);
}

/* Another request on an open connection (keep-alive); forgets what was read so far. */
static void conn_send(struct conn *c, const char *path)
{
    uv_buf_t b;

    free(c->req);
    if (asprintf(&c->req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path) < 0) {
        fail();
    }
    c->in.len = 0;
    c->in.p[0] = '\0';
    b = uv_buf_init(c->req, (unsigned)strlen(c->req));
    assert_int_equal(uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write), 0);
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;

    free(c->req);
    free(c->in.p);
    free(c);
}

static void conn_close(struct conn *c)
{
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_timeout(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Run the loop until @done(@arg) or the timeout (a test failure). */
static void run_until(struct env *e, bool (*done)(void *arg), void *arg)
{
    uv_timer_t timer;
    bool expired = false;

    uv_timer_init(&e->loop, &timer);
    timer.data = &expired;
    uv_timer_start(&timer, on_timeout, TIMEOUT_MS, 0);
    while (!done(arg) && !expired) {
        uv_run(&e->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&e->loop, UV_RUN_NOWAIT);
    assert_false(expired);
}

/* The body once complete (Content-Length satisfied, or end of stream), else NULL. */
static const char *complete_body(const struct conn *c)
{
    const char *end;
    const char *cl;

    if (c->in.p == NULL || (end = strstr(c->in.p, "\r\n\r\n")) == NULL) {
        return NULL;
    }
    cl = strcasestr(c->in.p, "\ncontent-length:");
    if (cl != NULL && cl < end) {
        size_t want = strtoul(cl + 16, NULL, 10);

        return c->in.len - (size_t)(end + 4 - c->in.p) >= want ? end + 4 : NULL;
    }
    return c->eof ? end + 4 : NULL;
}

static bool response_done(void *arg)
{
    struct conn *c = arg;

    return c->failed || complete_body(c) != NULL;
}

struct response {
    int status;
    char *head;
    char *body;
};

static struct response get(struct env *e, const char *path, const char *headers)
{
    struct conn *c = conn_open(e, path, headers);
    struct response r;
    const char *body;

    run_until(e, response_done, c);
    assert_false(c->failed);
    body = complete_body(c);
    r.status = atoi(c->in.p + 9);
    r.head = ow_xstrndup(c->in.p, (size_t)(body - c->in.p));
    r.body = ow_xstrdup(body);
    conn_close(c);
    uv_run(&e->loop, UV_RUN_NOWAIT);
    return r;
}

static void response_free(struct response *r)
{
    free(r->head);
    free(r->body);
}

static json_t *get_json(struct env *e, const char *path, int status)
{
    struct response r = get(e, path, NULL);
    json_error_t jerr;
    json_t *v;

    assert_int_equal(r.status, status);
    assert_non_null(strcasestr(r.head, "content-type: application/json"));
    v = json_loads(r.body, 0, &jerr);
    if (v == NULL) {
        fail_msg("%s: not JSON: %s", path, jerr.text);
    }
    response_free(&r);
    return v;
}

/* ---- events ---- */

static void csr(struct env *e, const char *id, const char *at, const char *party, int count)
{
    assert_int_equal(apply_fmt(e->f,
                               "{\"event_id\":\"%s\",\"type\":\"csr\",\"schema_version\":1,"
                               "\"occurred_at\":\"%s\",\"party_id\":\"%s\",\"batched\":false,"
                               "\"count\":%d}",
                               id, at, party, count),
                     OW_OK);
}

/* ---- tests ---- */

static int setup(void **state)
{
    *state = env_create(NULL);
    return 0;
}

static int teardown(void **state)
{
    env_destroy(*state);
    return 0;
}

static void http__healthz_ok(void **state)
{
    struct response r = get(*state, "/healthz", NULL);

    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    response_free(&r);
}

static void http__readyz_names_the_missing_conditions(void **state)
{
    struct env *e = *state;
    json_t *v = get_json(e, "/readyz", 200);

    assert_true(json_is_true(json_object_get(v, "ready")));
    json_decref(v);

    e->lv.restored = false;
    e->lv.save_failing = true;
    v = get_json(e, "/readyz", 503);
    assert_true(json_is_false(json_object_get(v, "ready")));
    assert_int_equal(json_array_size(json_object_get(v, "missing")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(v, "missing"), 0)),
                        "not restored");
    assert_string_equal(json_string_value(json_array_get(json_object_get(v, "missing"), 1)),
                        "saving failing");
    json_decref(v);

    e->lv.restored = true;
    e->lv.save_failing = false;
    e->lv.assigned = false;
    v = get_json(e, "/readyz", 503);
    assert_string_equal(json_string_value(json_array_get(json_object_get(v, "missing"), 0)),
                        "partitions not assigned");
    json_decref(v);
}

static void http__metrics_in_prometheus_text(void **state)
{
    struct env *e = *state;
    struct response r;

    csr(e, "c1", "2021-04-02T10:00:00Z", "SUB-01", 5);
    csr(e, "c2", "2021-04-03T10:00:00Z", "SUB-01", 2);
    assert_int_equal(apply_fmt(e->f, "{\"event_id\":\"c2\",\"type\":\"csr\",\"schema_version\":1,"
                                     "\"occurred_at\":\"2021-04-03T10:00:00Z\",\"party_id\":"
                                     "\"SUB-01\",\"batched\":false,\"count\":2}"),
                     OW_EDUP);
    apply_json(e->f, "{not json");
    e->lv.counters.produce_errors = 3;
    e->lv.counters.save_failures = 2;

    r = get(e, "/metrics", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strcasestr(r.head, "content-type: text/plain; version=0.0.4"));
    assert_non_null(strstr(r.body, "# HELP opswatch_events_total "));
    assert_non_null(strstr(r.body, "# TYPE opswatch_events_total counter\n"));
    assert_non_null(strstr(r.body, "\nopswatch_events_total{type=\"csr\"} 2\n"));
    assert_non_null(strstr(r.body, "\nopswatch_events_total{type=\"incident\"} 0\n"));
    assert_non_null(strstr(r.body, "\nopswatch_events_received_total 4\n"));
    assert_non_null(strstr(r.body, "\nopswatch_duplicates_total 1\n"));
    assert_non_null(strstr(r.body, "\nopswatch_dead_letters_total{reason=\"invalid_json\"} 1\n"));
    assert_non_null(strstr(r.body, "\nopswatch_dead_letters_total{reason=\"schema\"} 0\n"));
    assert_non_null(strstr(r.body, "\nopswatch_late_events_total 0\n"));
    /* greatest occurred_at (2021-04-03T10:00:00Z = 1617444000) minus the 1 h disorder */
    assert_non_null(strstr(r.body, "\nopswatch_watermark_seconds 1617440400\n"));
    assert_non_null(strstr(r.body, "\nopswatch_windows{state=\"open\"} 1\n"));
    assert_non_null(strstr(r.body, "\nopswatch_windows_closed_total{reason=\"watermark\"} 0\n"));
    assert_non_null(
        strstr(r.body, "\nopswatch_alerts_total{rule=\"csr_no_forecast\",state=\"firing\"} 1\n"));
    assert_non_null(strstr(r.body, "\nopswatch_alert_records_total{state=\"firing\"} 1\n"));
    assert_non_null(strstr(r.body, "\nopswatch_alerts{state=\"firing\"} 1\n"));
    assert_non_null(strstr(r.body, "\nopswatch_produce_errors_total 3\n"));
    assert_non_null(strstr(r.body, "\nopswatch_save_failures_total 2\n"));
    assert_non_null(strstr(r.body, "\nopswatch_dedup_ids 2\n"));
    assert_non_null(strstr(r.body, "\nopswatch_dedup_forgotten_early_total 0\n"));
    assert_non_null(strstr(r.body, "# TYPE opswatch_dedup_bytes gauge\n"));
    assert_non_null(strstr(r.body, "\nopswatch_ready 1\n"));
    assert_non_null(strstr(r.body, "# TYPE opswatch_consumer_lag gauge\n"));
    /* one alert and no aggregate so far went to the stream */
    assert_non_null(strstr(r.body, "\nopswatch_http_stream_events_total 1\n"));
    response_free(&r);

    /* With a state folder: the last save's figures. */
    {
        char dir[] = "/tmp/ow_http_state_XXXXXX";
        struct ow_err err;
        json_t *none = NULL;
        char cmd[64];

        assert_non_null(mkdtemp(dir));
        e->lv.state = ow_state_open(dir, &err);
        assert_non_null(e->lv.state);
        assert_int_equal(ow_state_load(e->lv.state, e->f->eng, &none, &err), OW_OK); /* new */
        ow_engine_journal_enable(e->f->eng);
        csr(e, "c3", "2021-04-03T11:00:00Z", "SUB-01", 1);
        assert_int_equal(ow_state_save(e->lv.state, e->f->eng, NULL, &err), OW_OK);
        r = get(e, "/metrics", NULL);
        assert_non_null(strstr(r.body, "# TYPE opswatch_last_save_seconds gauge\n"));
        assert_non_null(strstr(r.body, "# TYPE opswatch_last_save_prepare_seconds gauge\n"));
        assert_non_null(strstr(r.body, "\nopswatch_saved_ids 1\n"));
        assert_null(strstr(r.body, "\nopswatch_last_save_bytes 0\n"));
        ow_state_close(e->lv.state);
        e->lv.state = NULL;
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
    }
    response_free(&r);
}

static void http__windows_and_snapshots(void **state)
{
    struct env *e = *state;
    json_t *v;

    csr(e, "c1", "2021-04-02T10:00:00Z", "SUB-01", 5);
    csr(e, "c2", "2021-05-02T10:00:00Z", "SUB-02", 7);

    v = get_json(e, "/api/v1/windows", 200);
    assert_int_equal(json_array_size(v), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "window")),
                        "2021-04");
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "state")), "open");
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 1), "window")),
                        "2021-05");
    json_decref(v);

    v = get_json(e, "/api/v1/snapshots/2021-04", 200);
    assert_string_equal(json_string_value(json_object_get(v, "window")), "2021-04");
    assert_int_equal(jint(v, "revision"), 0);
    assert_int_equal(jint(v, "reports/csr_variance/actual"), 5);
    assert_int_equal(jint(v, "reports/csr_variance/by_party/SUB-01/actual"), 5);
    json_decref(v);

    v = get_json(e, "/api/v1/snapshots/2020-01", 404);
    assert_non_null(strstr(json_string_value(json_object_get(v, "error")), "2020-01"));
    json_decref(v);
    v = get_json(e, "/api/v1/snapshots/2021-13", 400);
    assert_non_null(strstr(json_string_value(json_object_get(v, "error")), "malformed"));
    json_decref(v);
    v = get_json(e, "/api/v1/snapshots/", 400);
    json_decref(v);
}

static void http__alerts_by_state(void **state)
{
    struct env *e = *state;
    char id[32];
    char party[32];
    json_t *v;

    /* 120 parties without a forecast: 120 firing csr_no_forecast alerts, a body of several
     * writes */
    for (int i = 0; i < 120; i++) {
        snprintf(id, sizeof(id), "c%d", i);
        snprintf(party, sizeof(party), "SUB-%03d", i);
        csr(e, id, "2021-04-02T10:00:00Z", party, 1);
    }
    v = get_json(e, "/api/v1/alerts?state=firing", 200);
    assert_int_equal(json_array_size(v), 120);
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "alert_id")),
                        "csr_no_forecast/2021-04/party_id=SUB-000");
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 119), "rule")),
                        "csr_no_forecast");
    json_decref(v);
    v = get_json(e, "/api/v1/alerts", 200);
    assert_int_equal(json_array_size(v), 120);
    json_decref(v);
    v = get_json(e, "/api/v1/alerts?state=resolved", 200);
    assert_int_equal(json_array_size(v), 0);
    json_decref(v);
    v = get_json(e, "/api/v1/alerts?state=burning", 400);
    assert_non_null(strstr(json_string_value(json_object_get(v, "error")), "burning"));
    json_decref(v);
}

static void http__unknown_paths_are_404(void **state)
{
    struct env *e = *state;
    json_t *v = get_json(e, "/nope", 404);

    json_decref(v);
    v = get_json(e, "/api/v1/window", 404);
    json_decref(v);
    v = get_json(e, "/api/v1/snapshots", 404);
    json_decref(v);
}

static void http__keep_alive_and_methods(void **state)
{
    struct env *e = *state;
    struct conn *c = conn_open(e, "/healthz", NULL);

    run_until(e, response_done, c);
    assert_string_equal(complete_body(c), "ok\n");
    /* a second request on the same connection */
    conn_send(c, "/api/v1/windows");
    run_until(e, response_done, c);
    assert_int_equal(atoi(c->in.p + 9), 200);
    assert_string_equal(complete_body(c), "[]\n");
    conn_close(c);

    c = conn_open_method(e, "POST", "/api/v1/alerts", "Content-Length: 0\r\n");
    run_until(e, response_done, c);
    assert_int_equal(atoi(c->in.p + 9), 405);
    assert_non_null(strstr(complete_body(c), "only GET"));
    conn_close(c);
    uv_run(&e->loop, UV_RUN_NOWAIT);
}

/* ---- the stream ---- */

struct wait_text {
    struct conn *c;
    const char *text;
};

static bool has_text(void *arg)
{
    struct wait_text *w = arg;

    return w->c->failed || (w->c->in.p != NULL && strstr(w->c->in.p, w->text) != NULL);
}

static void wait_for(struct env *e, struct conn *c, const char *text)
{
    struct wait_text w = {c, text};

    run_until(e, has_text, &w);
    assert_false(c->failed);
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++) {
        n++;
    }
    return n;
}

static void http__stream_resumes_after_last_event_id(void **state)
{
    struct env *e = *state;
    struct conn *c = conn_open(e, "/api/v1/stream", NULL);

    wait_for(e, c, ": opswatch event stream\n");
    assert_non_null(strcasestr(c->in.p, "content-type: text/event-stream"));
    csr(e, "c1", "2021-04-02T10:00:00Z", "SUB-01", 5);
    wait_for(e, c, "event: alert\nid: 1\ndata: {");
    assert_non_null(strstr(c->in.p, "\"alert_id\":\"csr_no_forecast/2021-04/party_id=SUB-01\""));
    assert_non_null(strstr(c->in.p, "}\n\n"));
    conn_close(c);
    uv_run(&e->loop, UV_RUN_NOWAIT);

    /* while disconnected: two more alerts and an aggregate update */
    csr(e, "c2", "2021-04-02T11:00:00Z", "SUB-02", 5);
    csr(e, "c3", "2021-04-02T12:00:00Z", "SUB-03", 5);
    ow_engine_flush(e->f->eng);
    assert_true(fake_sink_count(e->f->sink, OW_STREAM_AGGREGATES) > 0);

    c = conn_open(e, "/api/v1/stream", "Last-Event-ID: 1\r\n");
    wait_for(e, c, "event: aggregate\n");
    assert_null(strstr(c->in.p, "id: 1\n"));
    assert_null(strstr(c->in.p, "event: gap"));
    assert_non_null(strstr(c->in.p, "event: alert\nid: 2\n"));
    assert_non_null(strstr(c->in.p, "party_id=SUB-02"));
    assert_non_null(strstr(c->in.p, "event: alert\nid: 3\n"));
    assert_non_null(strstr(c->in.p, "party_id=SUB-03"));
    assert_non_null(strstr(c->in.p, "event: aggregate\nid: 4\ndata: {\"schema_version\":1,"
                                    "\"window\":\"2021-04\",\"report\":"));
    assert_int_equal(count_of(c->in.p, "event: alert"), 2);

    /* and then live events */
    csr(e, "c4", "2021-04-02T13:00:00Z", "SUB-04", 5);
    wait_for(e, c, "party_id=SUB-04");
    conn_close(c);

    /* the same through the query string (EventSource cannot set headers on a first connect);
     * the last id given out resumes with nothing to replay */
    c = conn_open(e, "/api/v1/stream?last_event_id=3", NULL);
    wait_for(e, c, "party_id=SUB-04");
    assert_null(strstr(c->in.p, "id: 3\n"));
    assert_null(strstr(c->in.p, "party_id=SUB-03"));
    conn_close(c);
    uv_run(&e->loop, UV_RUN_NOWAIT);
}

static int setup_small_ring(void **state)
{
    struct ow_http_opts o = {.ring_events = 2, .client_backlog = 2};

    *state = env_create(&o);
    return 0;
}

static void http__stream_gap_when_the_id_is_no_longer_kept(void **state)
{
    struct env *e = *state;
    struct conn *c;

    csr(e, "c1", "2021-04-02T10:00:00Z", "SUB-01", 5);
    csr(e, "c2", "2021-04-02T11:00:00Z", "SUB-02", 5);
    csr(e, "c3", "2021-04-02T12:00:00Z", "SUB-03", 5);
    csr(e, "c4", "2021-04-02T13:00:00Z", "SUB-04", 5);

    /* ids 3 and 4 are kept; 2 is gone */
    c = conn_open(e, "/api/v1/stream", "Last-Event-ID: 1\r\n");
    wait_for(e, c, "party_id=SUB-04");
    assert_non_null(strstr(c->in.p, "event: gap\ndata: {\"last_event_id\":1,\"first_kept_id\":3}"
                                    "\n\n"));
    assert_true(strstr(c->in.p, "event: gap") < strstr(c->in.p, "id: 3\n"));
    assert_null(strstr(c->in.p, "SUB-02"));
    assert_non_null(strstr(c->in.p, "party_id=SUB-03"));
    conn_close(c);

    /* an id this process never gave out (a restart): a gap, then everything kept */
    c = conn_open(e, "/api/v1/stream", "Last-Event-ID: 99\r\n");
    wait_for(e, c, "party_id=SUB-04");
    assert_non_null(strstr(c->in.p, "{\"last_event_id\":99,\"first_kept_id\":3}"));
    conn_close(c);

    /* resuming from the newest id kept: no gap */
    c = conn_open(e, "/api/v1/stream", "Last-Event-ID: 3\r\n");
    wait_for(e, c, "party_id=SUB-04");
    assert_null(strstr(c->in.p, "event: gap"));
    conn_close(c);
    uv_run(&e->loop, UV_RUN_NOWAIT);
}

static bool got_eof(void *arg)
{
    return ((struct conn *)arg)->eof;
}

static void http__slow_stream_client_is_dropped(void **state)
{
    struct env *e = *state;
    struct conn *slow = conn_open(e, "/api/v1/stream", NULL);
    struct conn *fast;
    size_t big = 256 * 1024;
    char *filler = ow_xmalloc(big + 1);
    json_t *rec;
    char *text;
    struct response r;
    int sent = 0;

    memset(filler, 'x', big);
    filler[big] = '\0';
    rec = json_pack("{s:s}", "filler", filler);
    free(filler);
    text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    wait_for(e, slow, ": opswatch event stream\n");
    uv_read_stop((uv_stream_t *)&slow->tcp); /* a reader that stops reading */

    /* 256 KiB events until the socket buffers are full and the server falls behind */
    for (; sent < 200 && e->http != NULL; sent++) {
        ow_http_broadcast(e->http, OW_STREAM_AGGREGATES, text);
        for (int i = 0; i < 8; i++) {
            uv_run(&e->loop, UV_RUN_NOWAIT);
        }
        r = get(e, "/metrics", NULL);
        if (strstr(r.body, "\nopswatch_http_stream_dropped_clients_total 1\n") != NULL) {
            response_free(&r);
            break;
        }
        response_free(&r);
    }
    free(text);
    assert_true(sent < 200);
    /* the server closed it: once it reads again it sees the end */
    uv_read_start((uv_stream_t *)&slow->tcp, on_alloc, on_read);
    run_until(e, got_eof, slow);
    conn_close(slow);

    /* the stream still serves others, and the ring stayed within its bounds */
    fast = conn_open(e, "/api/v1/stream", NULL);
    wait_for(e, fast, ": opswatch event stream\n");
    csr(e, "c1", "2021-04-02T10:00:00Z", "SUB-01", 5);
    wait_for(e, fast, "party_id=SUB-01");
    conn_close(fast);
    r = get(e, "/metrics", NULL);
    assert_non_null(strstr(r.body, "\nopswatch_http_stream_kept_events 2\n"));
    response_free(&r);
}

/* Shutdown with a stream client connected and a request in flight: the client sees the end,
 * and the loop ends with nothing left once both sides are closed. */
static void http__close_with_clients_connected(void **state)
{
    struct env *e = env_create(NULL);
    struct conn *sse = conn_open(e, "/api/v1/stream", NULL);
    struct conn *req;

    (void)state;
    wait_for(e, sse, ": opswatch event stream\n");
    req = conn_open(e, "/api/v1/windows", NULL);
    uv_run(&e->loop, UV_RUN_NOWAIT);
    ow_http_close(e->http);
    run_until(e, got_eof, sse);
    conn_close(sse);
    run_until(e, got_eof, req);
    conn_close(req);
    env_destroy(e); /* ow_http_close again is a no-op */
}

static void http__listen_errors_are_clear(void **state)
{
    struct env *e = *state;
    char addr[64];
    char err[256];

    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ow_http_port(e->http));
    assert_null(ow_http_create(&e->lv, addr, err, sizeof(err)));
    assert_non_null(strcasestr(err, "address already in use"));
    assert_non_null(strstr(err, addr));
    assert_null(ow_http_create(&e->lv, "127.0.0.1", err, sizeof(err)));
    assert_non_null(strstr(err, "expected host:port"));
    assert_null(ow_http_create(&e->lv, "127.0.0.1:99999", err, sizeof(err)));
    assert_non_null(strstr(err, "bad port"));
    assert_null(ow_http_create(&e->lv, "[::1:80", err, sizeof(err)));
    assert_non_null(strstr(err, "[v6addr]:port"));
}

static void http__ipv6_loopback(void **state)
{
    struct ow_live lv;
    uv_loop_t loop;
    char err[256];
    struct ow_http *h;

    (void)state;
    memset(&lv, 0, sizeof(lv));
    assert_int_equal(uv_loop_init(&loop), 0);
    lv.loop = &loop;
    h = ow_http_create(&lv, "[::1]:0", err, sizeof(err));
    if (h == NULL) {
        /* a host without IPv6 on loopback */
        assert_non_null(strstr(err, "cannot listen"));
    } else {
        assert_true(ow_http_port(h) > 0);
        /* without ow_http_close: ow_http_destroy closes and drains by itself */
        ow_http_destroy(h);
    }
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(http__healthz_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(http__readyz_names_the_missing_conditions, setup, teardown),
        cmocka_unit_test_setup_teardown(http__metrics_in_prometheus_text, setup, teardown),
        cmocka_unit_test_setup_teardown(http__windows_and_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(http__alerts_by_state, setup, teardown),
        cmocka_unit_test_setup_teardown(http__unknown_paths_are_404, setup, teardown),
        cmocka_unit_test_setup_teardown(http__keep_alive_and_methods, setup, teardown),
        cmocka_unit_test_setup_teardown(http__stream_resumes_after_last_event_id, setup, teardown),
        cmocka_unit_test_setup_teardown(http__stream_gap_when_the_id_is_no_longer_kept,
                                        setup_small_ring, teardown),
        cmocka_unit_test_setup_teardown(http__slow_stream_client_is_dropped, setup_small_ring,
                                        teardown),
        cmocka_unit_test(http__close_with_clients_connected),
        cmocka_unit_test_setup_teardown(http__listen_errors_are_clear, setup, teardown),
        cmocka_unit_test(http__ipv6_loopback),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
