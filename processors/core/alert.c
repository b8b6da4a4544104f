/* alert.c: alert state per id, transitions, records; see alert.h. */
#include "alert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "rfc3339.h"
#include "strmap.h"

#define ALERT_ID_MAX 1024

static void parse_resolve(const json_t *v, void *dst, const char *path, struct ow_conf_errors *errs)
{
    char got[80];

    if (json_is_null(v)) {
        *(double *)dst = NAN;
    } else if (json_is_number(v)) {
        *(double *)dst = json_number_value(v);
    } else {
        ow_conf_error(errs, path, "expected a number or null (the rule's default), got %s",
                      ow_conf_describe(v, got, sizeof(got)));
    }
}

void ow_rule_parse_severity(const json_t *v, void *dst, const char *path,
                            struct ow_conf_errors *errs)
{
    const char *s = json_string_value(v);
    char got[80];

    if (s == NULL ||
        (strcmp(s, "info") != 0 && strcmp(s, "warning") != 0 && strcmp(s, "critical") != 0)) {
        ow_conf_error(errs, path, "expected \"info\", \"warning\" or \"critical\", got %s",
                      ow_conf_describe(v, got, sizeof(got)));
        return;
    }
    free(*(char **)dst);
    *(char **)dst = ow_xstrdup(s);
}

void ow_rule_free_severity(void *dst)
{
    free(*(char **)dst);
    *(char **)dst = NULL;
}

const struct ow_conf_field ow_rule_conf_map[] = {
    OW_CONF_BOOL("enabled", struct ow_rule_conf, enabled, "true", "whether the rule runs"),
    OW_RULE_SEVERITY_FIELD(struct ow_rule_conf, severity, "\"warning\""),
    OW_CONF_DURATION("for", struct ow_rule_conf, for_us, 0, INT64_C(366) * 86400 * 1000000,
                     "\"0s\"", "the condition must hold this long (event time) before firing"),
    OW_CONF_DOUBLE("threshold", struct ow_rule_conf, threshold, -1e18, 1e18, "0",
                   "fire threshold (the rule says its unit)"),
    OW_CONF_CUSTOM_SCHEMA("resolve", struct ow_rule_conf, resolve, parse_resolve, NULL,
                          "number or null", "null",
                          "a firing alert resolves only past this value (hysteresis); null: the "
                          "fire threshold moved back by a tenth of the band",
                          OW_RULE_RESOLVE_SCHEMA),
    {0},
};

struct alert {
    char *id;
    char *rule;
    char *severity;
    struct ow_window_id window;
    enum ow_alert_state state;
    bool breach; /* the last observed condition */
    bool fired;  /* has been firing at least once */
    int64_t pending_since;
    int64_t for_us;
    json_t *dims;
    json_t *last; /* the latest published record */
    double value;
    double threshold;
    char *unit;
    char *message;
    json_t *saved; /* its save form (ow_alerts_save), NULL after any change: see changed() */
};

struct ow_alerts {
    struct ow_sink *sink;
    struct ow_strmap *by_id; /* alert_id -> struct alert */
    struct alert **pending;  /* alerts waiting out their `for` */
    size_t npending;
    size_t cap_pending;
    int64_t wall_clock_us;
    uint64_t counts[4];
    struct ow_strmap *by_rule; /* rule -> uint64_t[4]: records published per state (metrics) */
};

static const char *const state_names[] = {"inactive", "pending", "firing", "resolved"};

struct ow_alerts *ow_alerts_create(struct ow_sink *sink)
{
    struct ow_alerts *a = ow_xcalloc(1, sizeof(*a));

    a->sink = sink;
    a->by_id = ow_strmap_create(sizeof(struct alert));
    a->by_rule = ow_strmap_create(sizeof(uint64_t[4]));
    return a;
}

static void free_alert(void *v)
{
    struct alert *x = v;

    free(x->id);
    free(x->rule);
    free(x->severity);
    free(x->unit);
    free(x->message);
    json_decref(x->dims);
    json_decref(x->last);
    json_decref(x->saved);
}

/* Why each alert keeps its save form: a save is made every second, and rebuilding thousands
 * of unchanged alert states each time held the loop for tens of ms. Every change to an alert
 * goes through ow_alerts_observe, fire or a restore, which drop the cached form; a save shares
 * the cached objects, which are never modified (dropping only releases a reference). */
static void changed(struct alert *x)
{
    json_decref(x->saved);
    x->saved = NULL;
}

void ow_alerts_destroy(struct ow_alerts *a)
{
    if (a == NULL) {
        return;
    }
    ow_strmap_destroy(a->by_id, free_alert);
    ow_strmap_destroy(a->by_rule, NULL);
    free(a->pending);
    free(a);
}

void ow_alerts_set_wall_clock(struct ow_alerts *a, int64_t now_us)
{
    a->wall_clock_us = now_us;
}

static size_t encode_value(const char *v, char *out, size_t len)
{
    size_t k = 0;

    for (; *v != '\0' && k + 4 < len; v++) {
        if (*v == '%' || *v == '/' || *v == ',' || *v == '=') {
            k += (size_t)snprintf(out + k, len - k, "%%%02X", (unsigned char)*v);
        } else {
            out[k++] = *v;
        }
    }
    out[k] = '\0';
    return k;
}

static int dim_cmp(const void *x, const void *y)
{
    return strcmp(((const struct ow_alert_dim *)x)->key, ((const struct ow_alert_dim *)y)->key);
}

size_t ow_alert_id(const char *rule, struct ow_window_id w, const struct ow_alert_dim *dims,
                   size_t ndims, char *buf, size_t len)
{
    struct ow_alert_dim sorted[16];
    char name[16];
    size_t k;

    if (ndims > 16) {
        ndims = 16;
    }
    if (ndims > 0) {
        memcpy(sorted, dims, ndims * sizeof(*dims));
    }
    qsort(sorted, ndims, sizeof(*sorted), dim_cmp);
    ow_window_name(w, name, sizeof(name));
    k = (size_t)snprintf(buf, len, "%s/%s/", rule, name);
    for (size_t i = 0; i < ndims && k + 2 < len; i++) {
        k += (size_t)snprintf(buf + k, len - k, "%s%s=", i ? "," : "", sorted[i].key);
        if (k < len) {
            k += encode_value(sorted[i].value, buf + k, len - k);
        }
    }
    return k < len ? k : len - 1;
}

/* A value that is not a number (a percentage of a zero forecast) is written as null. */
static json_t *number_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static void publish(struct ow_alerts *a, struct alert *x, int64_t event_us)
{
    char name[16];
    char when[40];
    char raised[40];
    json_t *rec;

    ow_window_name(x->window, name, sizeof(name));
    ow_rfc3339_format_utc(event_us, when, sizeof(when));
    rec = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:O, s:o, s:o, s:s, s:s, s:s}",
                    "schema_version", 1, "alert_id", x->id, "rule", x->rule, "state",
                    state_names[x->state], "severity", x->severity, "window", name, "dims", x->dims,
                    "value", number_or_null(x->value), "threshold", number_or_null(x->threshold),
                    "unit", x->unit, "message", x->message, "event_time", when);
    if (a->wall_clock_us != 0) {
        ow_rfc3339_format_utc(a->wall_clock_us, raised, sizeof(raised));
        json_object_set_new(rec, "raised_at", json_string(raised));
    } else {
        json_object_set_new(rec, "raised_at", json_null());
    }
    json_decref(x->last);
    x->last = json_incref(rec);
    a->counts[x->state]++;
    ((uint64_t *)ow_strmap_upsert(a->by_rule, x->rule, strlen(x->rule), NULL))[x->state]++;
    ow_sink_emit_new(a->sink, OW_STREAM_ALERTS, x->id, rec);
}

static void pending_add(struct ow_alerts *a, struct alert *x)
{
    if (a->npending == a->cap_pending) {
        a->cap_pending = a->cap_pending ? a->cap_pending * 2 : 16;
        a->pending = ow_xrealloc(a->pending, a->cap_pending * sizeof(*a->pending));
    }
    a->pending[a->npending++] = x;
}

static void pending_remove(struct ow_alerts *a, struct alert *x)
{
    for (size_t i = 0; i < a->npending; i++) {
        if (a->pending[i] == x) {
            a->pending[i] = a->pending[--a->npending];
            return;
        }
    }
}

static void set_text(char **dst, const char *s)
{
    if (*dst == NULL || strcmp(*dst, s ? s : "") != 0) {
        free(*dst);
        *dst = ow_xstrdup(s ? s : "");
    }
}

static void take_observation(struct alert *x, const struct ow_alert_obs *obs)
{
    x->breach = obs->breach;
    x->value = obs->value;
    x->threshold = obs->threshold;
    x->for_us = obs->conf->for_us;
    set_text(&x->unit, obs->unit);
    set_text(&x->message, obs->message);
}

static void fire(struct ow_alerts *a, struct alert *x, int64_t event_us)
{
    changed(x);
    x->state = OW_ALERT_FIRING;
    x->fired = true;
    publish(a, x, event_us);
}

enum ow_alert_state ow_alerts_observe(struct ow_alerts *a, const struct ow_alert_obs *obs)
{
    char id[ALERT_ID_MAX];
    size_t len;
    struct alert *x;
    bool created;
    bool severity_changed;

    if (!obs->conf->enabled) {
        return OW_ALERT_INACTIVE;
    }
    len = ow_alert_id(obs->rule, obs->window, obs->dims, obs->ndims, id, sizeof(id));
    x = ow_strmap_get(a->by_id, id, len);
    if (x == NULL) {
        if (!obs->breach) {
            return OW_ALERT_INACTIVE; /* nothing to say about a quiet condition */
        }
        x = ow_strmap_upsert(a->by_id, id, len, &created);
        x->id = ow_xstrdup(id);
        x->rule = ow_xstrdup(obs->rule);
        x->window = obs->window;
        x->dims = json_object();
        for (size_t i = 0; i < obs->ndims; i++) {
            json_object_set_new(x->dims, obs->dims[i].key, json_string(obs->dims[i].value));
        }
    }
    changed(x);
    severity_changed = x->severity != NULL && strcmp(x->severity, obs->conf->severity) != 0;
    set_text(&x->severity, obs->conf->severity);
    take_observation(x, obs);
    switch (x->state) {
    case OW_ALERT_INACTIVE:
    case OW_ALERT_RESOLVED:
        if (obs->breach && obs->conf->for_us == 0) {
            fire(a, x, obs->event_us);
        } else if (obs->breach) {
            x->state = OW_ALERT_PENDING;
            x->pending_since = obs->event_us;
            pending_add(a, x);
            publish(a, x, obs->event_us);
        }
        break;
    case OW_ALERT_PENDING:
        if (!obs->breach) {
            /* The condition went away before `for` elapsed: say so, so that a consumer that
             * keeps the latest record per key does not show it pending forever. */
            pending_remove(a, x);
            x->state = OW_ALERT_RESOLVED;
            publish(a, x, obs->event_us);
        } else if (obs->event_us - x->pending_since >= x->for_us) {
            pending_remove(a, x);
            fire(a, x, obs->event_us);
        }
        break;
    case OW_ALERT_FIRING:
        if (obs->recovered) {
            x->state = OW_ALERT_RESOLVED;
            publish(a, x, obs->event_us);
        } else if (severity_changed) {
            publish(a, x, obs->event_us);
        }
        break;
    }
    return x->state;
}

void ow_alerts_on_watermark(struct ow_alerts *a, int64_t us)
{
    for (size_t i = 0; i < a->npending;) {
        struct alert *x = a->pending[i];

        if (x->breach && us - x->pending_since >= x->for_us) {
            a->pending[i] = a->pending[--a->npending];
            fire(a, x, x->pending_since + x->for_us);
        } else {
            i++;
        }
    }
}

enum ow_alert_state ow_alerts_state(const struct ow_alerts *a, const char *alert_id)
{
    const struct alert *x = ow_strmap_get(a->by_id, alert_id, strlen(alert_id));

    return x ? x->state : OW_ALERT_INACTIVE;
}

json_t *ow_alerts_of_window(const struct ow_alerts *a, struct ow_window_id w)
{
    struct ow_strmap_entry *e = ow_strmap_sorted(a->by_id);
    json_t *out = json_array();

    for (size_t i = 0; e != NULL && i < ow_strmap_count(a->by_id); i++) {
        const struct alert *x = e[i].value;

        if (x->fired && x->window.kind == w.kind && x->window.index == w.index && x->last) {
            json_array_append(out, x->last);
        }
    }
    free(e);
    return out;
}

json_t *ow_alerts_list(const struct ow_alerts *a, const char *state)
{
    struct ow_strmap_entry *e = ow_strmap_sorted(a->by_id);
    json_t *out = json_array();

    for (size_t i = 0; e != NULL && i < ow_strmap_count(a->by_id); i++) {
        const struct alert *x = e[i].value;

        if (x->last != NULL && (state == NULL || strcmp(state_names[x->state], state) == 0)) {
            json_array_append(out, x->last);
        }
    }
    free(e);
    return out;
}

json_t *ow_alerts_save(const struct ow_alerts *a)
{
    struct ow_strmap_entry *e = ow_strmap_sorted(a->by_id);
    json_t *out = json_array();

    for (size_t i = 0; e != NULL && i < ow_strmap_count(a->by_id); i++) {
        struct alert *x = (struct alert *)e[i].value; /* only its cache is written */

        if (x->saved == NULL) {
            x->saved = json_pack(
                "{s:s, s:s, s:s, s:i, s:i, s:i, s:b, s:b, s:I, s:I, s:O, s:O*, s:f, s:f, s:s, "
                "s:s}",
                "id", x->id, "rule", x->rule, "severity", x->severity, "kind", (int)x->window.kind,
                "index", x->window.index, "state", (int)x->state, "breach", x->breach, "fired",
                x->fired, "pending_since", (json_int_t)x->pending_since, "for_us",
                (json_int_t)x->for_us, "dims", x->dims, "last", x->last, "value",
                isfinite(x->value) ? x->value : 0.0, "threshold",
                isfinite(x->threshold) ? x->threshold : 0.0, "unit", x->unit, "message",
                x->message);
        }
        json_array_append(out, x->saved);
    }
    free(e);
    return out;
}

int ow_alerts_restore(struct ow_alerts *a, const json_t *saved)
{
    size_t i;
    json_t *v;

    if (!json_is_array(saved)) {
        return -1;
    }
    json_array_foreach(saved, i, v)
    {
        const char *id = json_string_value(json_object_get(v, "id"));
        struct alert *x;
        json_t *last;

        if (id == NULL) {
            return -1;
        }
        x = ow_strmap_upsert(a->by_id, id, strlen(id), NULL);
        free_alert(x);
        memset(x, 0, sizeof(*x));
        x->id = ow_xstrdup(id);
        x->rule = ow_xstrdup(json_string_value(json_object_get(v, "rule")) ?: "");
        x->severity = ow_xstrdup(json_string_value(json_object_get(v, "severity")) ?: "warning");
        x->window.kind = (enum ow_window_kind)json_integer_value(json_object_get(v, "kind"));
        x->window.index = (int)json_integer_value(json_object_get(v, "index"));
        x->state = (enum ow_alert_state)json_integer_value(json_object_get(v, "state"));
        x->breach = json_is_true(json_object_get(v, "breach"));
        x->fired = json_is_true(json_object_get(v, "fired"));
        x->pending_since = json_integer_value(json_object_get(v, "pending_since"));
        x->for_us = json_integer_value(json_object_get(v, "for_us"));
        x->dims = json_incref(json_object_get(v, "dims"));
        last = json_object_get(v, "last");
        x->last = json_is_object(last) ? json_incref(last) : NULL;
        x->value = json_number_value(json_object_get(v, "value"));
        x->threshold = json_number_value(json_object_get(v, "threshold"));
        x->unit = ow_xstrdup(json_string_value(json_object_get(v, "unit")) ?: "");
        x->message = ow_xstrdup(json_string_value(json_object_get(v, "message")) ?: "");
        if (x->dims == NULL) {
            x->dims = json_object();
        }
        if (x->state == OW_ALERT_PENDING) {
            pending_add(a, x);
        }
    }
    return 0;
}

void ow_alerts_counts(const struct ow_alerts *a, uint64_t out[4])
{
    memcpy(out, a->counts, sizeof(a->counts));
}

void ow_alerts_move_counts(struct ow_alerts *to, struct ow_alerts *from)
{
    struct ow_strmap *m = to->by_rule;

    memcpy(to->counts, from->counts, sizeof(to->counts));
    memset(from->counts, 0, sizeof(from->counts));
    to->by_rule = from->by_rule;
    from->by_rule = m;
}

void ow_alerts_rule_counts(const struct ow_alerts *a,
                           void (*fn)(const char *rule, const uint64_t counts[4], void *arg),
                           void *arg)
{
    struct ow_strmap_entry *all = ow_strmap_sorted(a->by_rule);
    size_t n = ow_strmap_count(a->by_rule);

    for (size_t i = 0; i < n; i++) {
        fn(all[i].key, all[i].value, arg);
    }
    free(all);
}
