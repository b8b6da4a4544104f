/* gen_emit.c: renders planned events as JSON lines and writes them with bounded disorder. */
#include "gen_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define BLOCK_EVENTS_MAX 65536

const char *const ow__gen_bad_names[OW_GEN_BAD__COUNT] = {
    "none",
    "not_json",
    "not_object",
    "count_string",
    "count_float",
    "count_zero",
    "unknown_type",
    "schema_version",
    "missing_field",
    "bad_region",
    "time_no_offset",
    "bad_period",
    "fault_with_service_user",
    "met_over_total",
    "bad_severity",
    "empty_event_id",
    "bad_service_ref",
    "conflicting_duplicate_id",
};

static const char *const type_names[] = {
    "service_request", "csr", "forecast", "incident", "ch_return", "problem", "measurement",
};

static const char *const action_names[] = {
    "opened", "updated",  "resolved",         "reopened", "returned",
    "closed", "disputed", "dispute_resolved", "created",  "status_changed",
};

static const char *const attr_names[] = {"service_user", "dcc"};
static const char *const stage_names[] = {"pre_installation", "post_installation"};

struct kv {
    const char *k;
    uint16_t off;
    uint16_t len;
};

/* One line's keys and rendered values: hand-rolled, since snprintf costs most of the time at
 * millions of lines. */
struct line {
    struct kv kv[20];
    int n;
    size_t pos;
    char val[1024];
};

static void put(struct line *l, const char *s, size_t len)
{
    if (l->pos + len < sizeof(l->val)) {
        memcpy(l->val + l->pos, s, len);
        l->pos += len;
    }
}

static void put_int(struct line *l, int64_t v)
{
    char tmp[24];
    int i = (int)sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) {
        tmp[--i] = '-';
    }
    put(l, tmp + i, sizeof(tmp) - (size_t)i);
}

static void begin(struct line *l, const char *k)
{
    l->kv[l->n].k = k;
    l->kv[l->n].off = (uint16_t)l->pos;
}

static void end(struct line *l)
{
    l->kv[l->n].len = (uint16_t)(l->pos - l->kv[l->n].off);
    l->n++;
}

static void add_raw(struct line *l, const char *k, const char *v)
{
    begin(l, k);
    put(l, v, strlen(v));
    end(l);
}

static void add_str(struct line *l, const char *k, const char *v)
{
    begin(l, k);
    put(l, "\"", 1);
    put(l, v, strlen(v));
    put(l, "\"", 1);
    end(l);
}

static void add_int(struct line *l, const char *k, int64_t v)
{
    begin(l, k);
    put_int(l, v);
    end(l);
}

static void add_count(struct line *l, const struct ow_gen_event *ev, const char *k, int64_t v)
{
    switch (ev->bad) {
    case OW_GEN_BAD_COUNT_STRING:
        add_raw(l, k, "\"12\"");
        break;
    case OW_GEN_BAD_COUNT_FLOAT:
        add_raw(l, k, "3.0");
        break;
    case OW_GEN_BAD_COUNT_ZERO:
        add_raw(l, k, "0");
        break;
    default:
        add_int(l, k, v);
        break;
    }
}

static void add_region(struct line *l, const struct ow_gen_event *ev)
{
    if (ev->bad == OW_GEN_BAD_REGION) {
        add_str(l, "region", "east");
    } else if (ev->region >= 0) {
        add_str(l, "region", ow__gen_regions[ev->region]);
    }
}

/* @prefix then @v zero-padded to @width digits (more if needed): "SUP-0042". */
static void prefixed(char *buf, size_t len, const char *prefix, uint64_t v, int width)
{
    char tmp[24];
    int i = (int)sizeof(tmp);
    size_t plen = strlen(prefix);

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 || (int)sizeof(tmp) - i < width);
    if (plen + sizeof(tmp) - (size_t)i < len) {
        memcpy(buf, prefix, plen);
        memcpy(buf + plen, tmp + i, sizeof(tmp) - (size_t)i);
        buf[plen + sizeof(tmp) - (size_t)i] = '\0';
    }
}

static void party_name(int report, int party, char *buf, size_t len)
{
    if (report == 0) {
        prefixed(buf, len, "SUP-", (uint64_t)party + 1, 4);
    } else {
        prefixed(buf, len, "SUB-", (uint64_t)party + 1, 2);
    }
}

static void fields_volume(struct line *l, const struct ow_gen_event *ev, int kind)
{
    char name[32];

    party_name(kind == OW_GEN_K_SR ? 0 : 1, ev->party, name, sizeof(name));
    add_str(l, "party_id", name);
    if (kind == OW_GEN_K_SR) {
        add_str(l, "service_ref",
                ev->bad == OW_GEN_BAD_SERVICE_REF ? "1.x.2" : ow__gen_services[ev->service]);
    } else if (ev->bad != OW_GEN_BAD_MISSING_FIELD) {
        add_raw(l, "batched", ev->batched ? "true" : "false");
    }
    if (ev->extra != 2) {
        add_count(l, ev, "count", ev->n);
    }
    add_region(l, ev);
}

static void fields_forecast(struct line *l, const struct ow_gen_event *ev)
{
    char name[32];
    char period[16];

    party_name(ev->report, ev->party, name, sizeof(name));
    add_str(l, "report", ev->report == 0 ? "service_request" : "csr");
    add_str(l, "party_id", name);
    if (ev->service >= 0) {
        add_str(l, "service_ref", ow__gen_services[ev->service]);
    }
    if (ev->bad == OW_GEN_BAD_PERIOD) {
        snprintf(period, sizeof(period), "%04d-13", ev->period / 12);
    } else {
        snprintf(period, sizeof(period), "%04d-%02d", ev->period / 12, ev->period % 12 + 1);
    }
    add_str(l, "period", period);
    add_int(l, "quantity", ev->n);
}

static void fields_incident(struct line *l, const struct ow_gen_event *ev)
{
    char id[32];

    snprintf(id, sizeof(id), "INC-%05d", ev->entity);
    add_str(l, "incident_id", id);
    add_str(l, "action", action_names[ev->action]);
    if (ev->bad == OW_GEN_BAD_SEVERITY) {
        add_int(l, "severity", 6);
    } else if (ev->sev > 0) {
        add_int(l, "severity", ev->sev);
    }
    if (ev->action == OW_GEN_A_OPENED) {
        snprintf(id, sizeof(id), "RDP-%c", 'A' + ev->party);
        add_str(l, "rdp_id", id);
    }
    add_region(l, ev);
}

static void fields_ch(struct line *l, const struct ow_gen_event *ev)
{
    char id[32];

    snprintf(id, sizeof(id), "CH-%07d", ev->entity);
    add_str(l, "ch_id", id);
    add_str(l, "action", action_names[ev->action]);
    if (ev->attr >= 0) {
        add_str(l, "attribution", attr_names[ev->attr]);
    }
    if (ev->fault >= 0) {
        add_str(l, "fault", ow__gen_faults[ev->fault]);
    }
    if (ev->stage >= 0) {
        add_str(l, "stage", stage_names[ev->stage]);
    }
    add_region(l, ev);
}

static void fields_problem(struct line *l, const struct ow_gen_event *ev)
{
    char id[40];

    snprintf(id, sizeof(id), "PRB-%04d", ev->entity);
    add_str(l, "problem_id", id);
    add_str(l, "action", action_names[ev->action]);
    if (ev->status >= 0) {
        add_str(l, "status", ow__gen_pstatuses[ev->status]);
    }
    if (ev->cat >= 0) {
        add_str(l, "category", ow__gen_categories[ev->cat]);
    }
    if (ev->rca != 0) {
        ow__gen_time_format(ev->rca, 0, OW_GEN_TS_Z, id, sizeof(id));
        add_str(l, "rca_target_at", id);
    }
    if (ev->significant >= 0) {
        add_raw(l, "significant", ev->significant ? "true" : "false");
    }
}

static void fields_measure(struct line *l, const struct ow_gen_event *ev)
{
    const struct ow_gen_measure *m = &ow__gen_measures[ev->party];

    add_str(l, "measure", m->measure);
    add_str(l, "provider", m->provider);
    add_int(l, "met", ev->bad == OW_GEN_BAD_MET_OVER_TOTAL ? ev->total + 1 : ev->n);
    add_int(l, "total", ev->total);
}

static void build(const struct ow_gen_event *ev, struct line *l)
{
    int kind = ev->kind == OW_GEN_K_BAD ? ev->base : ev->kind;
    char buf[48];

    l->n = 0;
    l->pos = 0;
    if (ev->bad == OW_GEN_BAD_EMPTY_ID) {
        add_str(l, "event_id", "");
    } else {
        prefixed(buf, sizeof(buf), "ev-", ev->id, 8);
        add_str(l, "event_id", buf);
    }
    add_str(l, "type", ev->bad == OW_GEN_BAD_UNKNOWN_TYPE ? "meter_reading" : type_names[kind]);
    add_int(l, "schema_version", ev->bad == OW_GEN_BAD_SCHEMA_VERSION ? 2 : 1);
    ow__gen_time_format(ev->t, ev->ms,
                        ev->bad == OW_GEN_BAD_TIME_NO_OFFSET ? OW_GEN_TS_NONE
                                                             : (enum ow_gen_tstyle)ev->tstyle,
                        buf, sizeof(buf));
    add_str(l, "occurred_at", buf);
    switch (kind) {
    case OW_GEN_K_SR:
    case OW_GEN_K_CSR:
        fields_volume(l, ev, kind);
        break;
    case OW_GEN_K_FORECAST:
        fields_forecast(l, ev);
        break;
    case OW_GEN_K_INCIDENT:
        fields_incident(l, ev);
        break;
    case OW_GEN_K_CH:
        fields_ch(l, ev);
        break;
    case OW_GEN_K_PROBLEM:
        fields_problem(l, ev);
        break;
    default:
        fields_measure(l, ev);
        break;
    }
    if (ev->extra == 1) {
        add_str(l, "source", "gen-adapter/2");
        add_raw(l, "meta", "{\"batch\":[1,2,3],\"note\":\"unknown fields are ignored\"}");
    }
}

static size_t append(char *buf, size_t pos, size_t len, const char *s, size_t n)
{
    if (pos + n < len) {
        memcpy(buf + pos, s, n);
        return pos + n;
    }
    return pos;
}

size_t ow__gen_render(const struct ow_gen_event *ev, char *buf, size_t len)
{
    struct line l;
    size_t pos = 0;
    bool spaced = ev->copy == 1;

    if (ev->bad == OW_GEN_BAD_NOT_OBJECT) {
        return (size_t)snprintf(buf, len, "[\"ev-%08" PRIu64 "\",\"csr\",1]", ev->id);
    }
    build(ev, &l);
    pos = append(buf, pos, len, spaced ? "{ " : "{", spaced ? 2 : 1);
    for (int i = 0; i < l.n; i++) {
        /* An exact duplicate lists the keys in reverse, with white space: same JSON value. */
        const struct kv *p = &l.kv[spaced ? l.n - 1 - i : i];

        if (i > 0) {
            pos = append(buf, pos, len, spaced ? ", " : ",", spaced ? 2 : 1);
        }
        pos = append(buf, pos, len, "\"", 1);
        pos = append(buf, pos, len, p->k, strlen(p->k));
        pos = append(buf, pos, len, spaced ? "\" : " : "\":", spaced ? 4 : 2);
        pos = append(buf, pos, len, l.val + p->off, p->len);
    }
    pos = append(buf, pos, len, spaced ? " }" : "}", spaced ? 2 : 1);
    buf[pos] = '\0';
    if (ev->bad == OW_GEN_BAD_NOT_JSON) {
        pos /= 2; /* a cut-off object is never JSON */
        buf[pos] = '\0';
    }
    return pos;
}

struct ow_gen_out {
    FILE *f;
    struct ow_gen_rng rng;
    int64_t block_secs;
    int64_t block;
    struct ow_gen_event *buf;
    size_t n;
    struct ow_gen_stats stats;
    int failed;
    ow_gen_event_fn fn; /* when set, events go here instead of to f */
    void *fn_arg;
    char line[2048];
};

void ow__gen_out_set_callback(struct ow_gen_out *o, ow_gen_event_fn fn, void *arg)
{
    o->fn = fn;
    o->fn_arg = arg;
}

struct ow_gen_out *ow__gen_out_create(FILE *f, int disorder_minutes, uint64_t seed)
{
    struct ow_gen_out *o = ow_xcalloc(1, sizeof(*o));

    o->f = f;
    o->block_secs = (int64_t)disorder_minutes * 60;
    o->block = INT64_MIN;
    o->buf = ow_xmalloc(BLOCK_EVENTS_MAX * sizeof(*o->buf));
    ow__gen_rng_seed(&o->rng, seed, 99);
    return o;
}

static void write_one(struct ow_gen_out *o, const struct ow_gen_event *ev)
{
    size_t len = ow__gen_render(ev, o->line, sizeof(o->line) - 1);

    o->line[len++] = '\n';
    if (o->fn != NULL) {
        o->fn(o->fn_arg, ev, o->line, len - 1);
    } else if (fwrite(o->line, 1, len, o->f) != len) {
        o->failed = 1;
    }
    o->stats.lines++;
    if (ev->copy == 1) {
        o->stats.duplicates++;
    }
    if (ev->bad != OW_GEN_BAD_NONE) {
        o->stats.dead_letters++;
        o->stats.bad[ev->bad]++;
    }
}

static void flush(struct ow_gen_out *o)
{
    /* Within one block every event is less than the disorder bound from every other, so any
     * order of the block keeps the stream within the bound. */
    for (size_t i = o->n; i > 1; i--) {
        size_t j = (size_t)ow__gen_rng_range(&o->rng, 0, (int64_t)i - 1);
        struct ow_gen_event tmp = o->buf[i - 1];

        o->buf[i - 1] = o->buf[j];
        o->buf[j] = tmp;
    }
    for (size_t i = 0; i < o->n; i++) {
        write_one(o, &o->buf[i]);
    }
    o->n = 0;
}

static void queue(struct ow_gen_out *o, const struct ow_gen_event *ev)
{
    int64_t block;

    if (o->block_secs == 0) {
        write_one(o, ev);
        return;
    }
    block = ev->t / o->block_secs;
    if (block != o->block || o->n == BLOCK_EVENTS_MAX) {
        flush(o);
        o->block = block;
    }
    o->buf[o->n++] = *ev;
}

void ow__gen_out_push(struct ow_gen_out *o, const struct ow_gen_event *ev)
{
    struct ow_gen_event copy;

    queue(o, ev);
    if (ev->dup) {
        copy = *ev;
        copy.dup = 0;
        copy.copy = 1;
        queue(o, &copy);
    }
}

int ow__gen_out_finish(struct ow_gen_out *o, struct ow_gen_stats *stats)
{
    flush(o);
    if (o->f != NULL && fflush(o->f) != 0) {
        o->failed = 1;
    }
    *stats = o->stats;
    return o->failed ? -1 : 0;
}

void ow__gen_out_destroy(struct ow_gen_out *o)
{
    if (o == NULL) {
        return;
    }
    free(o->buf);
    free(o);
}
