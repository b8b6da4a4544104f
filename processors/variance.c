/* variance.c: per-party variance lines, grand totals, exception lists and the variance alert
 * rules (see variance.h). */
#include "variance.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "civil.h"
#include "forecast_store.h"
#include "strmap.h"
#include "tz.h"
#include "window.h"

/* How often (event time) the projections of a month are looked at again while only time
 * passes: a projection changes continuously, but an hour is fine enough for a month. */
#define SWEEP_STEP_US OW_US_PER_HOUR

/* What a rule last told the alert engine about a party's month. */
enum said {
    SAID_QUIET,   /* nothing active: never breached, or told it recovered */
    SAID_BREACH,  /* told the condition holds (pending or firing) */
    SAID_HOLDING, /* told it no longer holds, not yet recovered (hysteresis) */
};

struct ow_variance {
    const struct ow_variance_spec *spec;
    const struct ow_variance_conf *conf;
    struct ow_proc_env env;
    struct ow_forecasts *forecasts;
    struct ow_strmap *months;       /* int month (4 bytes) -> spec->month_size bytes */
    struct ow_variance_month *last; /* the month of the previous count: usually the next one's */
    int last_index;
    int closed_through;    /* the latest month closed so far; INT_MIN before the first */
    int64_t watermark_us;  /* INT64_MIN before the first */
    int64_t next_sweep_us; /* the earliest next_sweep_us of the months */
    /* Lines in hundredths of a percent of forecast, so comparisons at a line are exact. */
    int64_t over_bp;             /* 11000: fire exceeded, projected over */
    int64_t under_bp;            /* 9000: fire shortfall, projected under */
    int64_t exceeded_resolve_bp; /* 10900 unless configured */
    int64_t shortfall_resolve_bp;
    int64_t over_resolve_bp;  /* 10900: projected, back from over */
    int64_t under_resolve_bp; /* 9100: projected, back from under */
};

/* Hundredths of a percent. */
static int64_t basis_points(double percent)
{
    return (int64_t)llround(percent * 100.0);
}

/* The sign of 100 * (a * as) / (f * fs) - bp / 100, exactly (a, as, f, fs >= 0; f * fs > 0).
 * The bounds keep the products inside 128 bits: counts < 2^63, scales (month lengths in us)
 * < 2^42, lines <= 110000. */
static int cmp_line(int64_t a, int64_t as, int64_t f, int64_t fs, int64_t bp)
{
    __int128 l = (__int128)a * as * 10000;
    __int128 r = (__int128)f * fs * bp;

    return (l > r) - (l < r);
}

bool ow_variance_at_or_over(int64_t actual, int64_t forecast, const struct ow_variance_bands *b)
{
    if (forecast == 0) {
        return actual > 0;
    }
    return cmp_line(actual, 1, forecast, 1, 10000 + basis_points(b->upper_percent)) >= 0;
}

bool ow_variance_at_or_under(int64_t actual, int64_t forecast, const struct ow_variance_bands *b)
{
    if (forecast == 0) {
        return false;
    }
    return cmp_line(actual, 1, forecast, 1, 10000 - basis_points(b->lower_percent)) <= 0;
}

json_t *ow_percent(int64_t a, int64_t b)
{
    if (b == 0) {
        return json_null();
    }
    return json_real(100.0 * (double)a / (double)b);
}

static int row_cmp(const void *x, const void *y)
{
    const struct ow_variance_party *a = x;
    const struct ow_variance_party *b = y;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->party, b->party, n);

    if (c != 0) {
        return c;
    }
    return a->len < b->len ? -1 : a->len > b->len;
}

static json_t *party_line(const struct ow_variance_party *r)
{
    return json_pack("{s:I, s:I, s:I, s:o, s:b}", "actual", (json_int_t)r->actual, "forecast",
                     (json_int_t)r->forecast, "variance", (json_int_t)(r->actual - r->forecast),
                     "percent_of_forecast", ow_percent(r->actual, r->forecast), "has_forecast",
                     r->has_forecast);
}

void ow_variance_build(json_t *out, struct ow_variance_party *rows, size_t n,
                       const struct ow_variance_bands *b)
{
    json_t *by_party = json_object();
    json_t *over = json_array();
    json_t *under = json_array();
    json_t *none = json_array();
    int64_t actual = 0;
    int64_t forecast = 0;
    int64_t without = 0;

    if (n > 0) {
        qsort(rows, n, sizeof(*rows), row_cmp);
    }
    for (size_t i = 0; i < n; i++) {
        const struct ow_variance_party *r = &rows[i];
        json_t *id = json_stringn(r->party, r->len);

        /* The store and the processors reject events that would overflow these sums. */
        actual += r->actual;
        forecast += r->forecast;
        json_object_setn_new(by_party, r->party, r->len, party_line(r));
        if (!r->has_forecast) {
            without++;
            json_array_append(none, id);
        } else if (ow_variance_at_or_over(r->actual, r->forecast, b)) {
            json_array_append(over, id);
        } else if (ow_variance_at_or_under(r->actual, r->forecast, b)) {
            json_array_append(under, id);
        }
        json_decref(id);
    }
    json_object_set_new(out, "actual", json_integer((json_int_t)actual));
    json_object_set_new(out, "forecast", json_integer((json_int_t)forecast));
    json_object_set_new(out, "variance", json_integer((json_int_t)(actual - forecast)));
    json_object_set_new(out, "percent_of_forecast", ow_percent(actual, forecast));
    json_object_set_new(out, "parties_without_forecast", json_integer((json_int_t)without));
    json_object_set_new(out, "by_party", by_party);
    json_object_set_new(out, "exceptions",
                        json_pack("{s:o, s:o, s:o}", "at_or_over_110", over, "at_or_under_90",
                                  under, "no_forecast", none));
}

/* ---- the book ---- */

static int check_rules(const struct ow_variance_spec *spec, const struct ow_variance_conf *conf,
                       struct ow_err *err)
{
    double over = 100.0 + conf->bands.upper_percent;
    double under = 100.0 - conf->bands.lower_percent;
    char where[160];

    for (int r = 0; r < OW_VR__COUNT; r++) {
        const struct ow_rule_conf *rc = &conf->rules[r];
        double res = rc->resolve;

        if (rc->threshold != 0) {
            snprintf(where, sizeof(where), "$.processors.%s.rules.%s.threshold", spec->name,
                     spec->rule[r]);
            return ow_err_set(err, OW_EINVAL, where,
                              "not used: the variance rules take their lines from "
                              "upper_band_percent and lower_band_percent, as the exception "
                              "lists do; leave it out");
        }
        if (isnan(res)) {
            continue;
        }
        snprintf(where, sizeof(where), "$.processors.%s.rules.%s.resolve", spec->name,
                 spec->rule[r]);
        if (r == OW_VR_EXCEEDED && (res < 0 || res > over)) {
            return ow_err_set(err, OW_EINVAL, where,
                              "expected null or a percent of forecast 0..%g (at or below the "
                              "fire line), got %g",
                              over, res);
        }
        if (r == OW_VR_SHORTFALL && (res < under || res > 1100)) {
            return ow_err_set(err, OW_EINVAL, where,
                              "expected null or a percent of forecast %g..1100 (at or above the "
                              "fire line), got %g",
                              under, res);
        }
        if (r == OW_VR_PROJECTED || r == OW_VR_NO_FORECAST) {
            return ow_err_set(err, OW_EINVAL, where,
                              "expected null (this rule resolves %s), got %g",
                              r == OW_VR_PROJECTED ? "a tenth of each band back inside it"
                                                   : "when a forecast arrives",
                              res);
        }
    }
    return OW_OK;
}

struct ow_variance *ow_variance_create(const struct ow_variance_spec *spec,
                                       const struct ow_variance_conf *conf,
                                       const struct ow_proc_env *env, struct ow_err *err)
{
    struct ow_variance *v;
    int64_t upper;
    int64_t lower;

    if (check_rules(spec, conf, err) != OW_OK) {
        return NULL;
    }
    v = ow_xcalloc(1, sizeof(*v));
    v->spec = spec;
    v->conf = conf;
    v->env = *env;
    v->forecasts = ow_forecasts_create();
    v->months = ow_strmap_create(spec->month_size);
    v->closed_through = INT_MIN;
    v->watermark_us = INT64_MIN;
    v->next_sweep_us = INT64_MAX;
    upper = basis_points(conf->bands.upper_percent);
    lower = basis_points(conf->bands.lower_percent);
    v->over_bp = 10000 + upper;
    v->under_bp = 10000 - lower;
    /* "The fire threshold moved back by a tenth of the band" (outputs.md). */
    v->over_resolve_bp = v->over_bp - (int64_t)llround(conf->bands.upper_percent * 10.0);
    v->under_resolve_bp = v->under_bp + (int64_t)llround(conf->bands.lower_percent * 10.0);
    v->exceeded_resolve_bp = isnan(conf->rules[OW_VR_EXCEEDED].resolve)
                                 ? v->over_resolve_bp
                                 : basis_points(conf->rules[OW_VR_EXCEEDED].resolve);
    v->shortfall_resolve_bp = isnan(conf->rules[OW_VR_SHORTFALL].resolve)
                                  ? v->under_resolve_bp
                                  : basis_points(conf->rules[OW_VR_SHORTFALL].resolve);
    return v;
}

static void free_month(void *value, void *arg)
{
    const struct ow_variance_spec *spec = arg;
    struct ow_variance_month *vm = value;

    if (spec->month_free != NULL) {
        spec->month_free(value);
    }
    ow_strmap_destroy(vm->parties, NULL);
}

static void free_month_entry(const struct ow_strmap_entry *e, void *arg)
{
    free_month(e->value, arg);
}

void ow_variance_destroy(struct ow_variance *v)
{
    if (v == NULL) {
        return;
    }
    ow_strmap_foreach(v->months, free_month_entry, (void *)v->spec);
    ow_strmap_destroy(v->months, NULL);
    ow_forecasts_destroy(v->forecasts);
    free(v);
}

void *ow_variance_month(struct ow_variance *v, int month)
{
    struct ow_variance_month *vm;
    bool created;
    int64_t len;

    if (v->last != NULL && v->last_index == month) {
        return v->last;
    }
    vm = ow_strmap_upsert(v->months, (const char *)&month, sizeof(month), &created);
    if (created) {
        vm->w = (struct ow_window_id){OW_WIN_MONTH, month};
        vm->parties = ow_strmap_create(sizeof(struct ow_variance_line));
        vm->start_us = ow_window_start(v->env.tz, vm->w);
        vm->end_us = ow_window_end(v->env.tz, vm->w);
        len = vm->end_us - vm->start_us;
        vm->projected_from_us =
            vm->start_us + llround((double)len * v->conf->projected_after_percent / 100.0);
        vm->next_sweep_us = vm->projected_from_us;
        /* Months close in order: a month first seen after a later one closed (a late forecast
         * for a gap month) is judged as closed at once. */
        vm->closed = month <= v->closed_through;
        if (vm->next_sweep_us < v->next_sweep_us) {
            v->next_sweep_us = vm->next_sweep_us;
        }
        if (v->spec->month_init != NULL) {
            v->spec->month_init(vm);
        }
    }
    v->last = vm;
    v->last_index = month;
    return vm;
}

const void *ow_variance_month_find(const struct ow_variance *v, int month)
{
    return ow_strmap_get(v->months, (const char *)&month, sizeof(month));
}

const struct ow_forecasts *ow_variance_forecasts(const struct ow_variance *v)
{
    return v->forecasts;
}

void ow_variance_expire(struct ow_variance *v, int month)
{
    struct ow_variance_month *vm = ow_strmap_get(v->months, (const char *)&month, sizeof(month));

    if (vm != NULL) {
        free_month(vm, (void *)v->spec);
        ow_strmap_remove(v->months, (const char *)&month, sizeof(month), NULL);
    }
    if (v->last_index == month) {
        v->last = NULL;
    }
    ow_forecasts_drop(v->forecasts, month);
}

/* ---- the alert rules ---- */

/* One rule's judgement of a party's month. */
struct verdict {
    bool breach;
    bool recovered;
};

/* What a party's month looks like to the rules at one instant. */
struct scene {
    struct ow_variance *v;
    const struct ow_variance_month *vm;
    const char *party;
    struct ow_variance_line *line;
    int64_t event_us;
};

static const char *const month_names[12] = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December",
};

/* Elapsed share of the month at the watermark for projections; 0 before they are judged. */
static int64_t projection_elapsed(const struct ow_variance *v, const struct ow_variance_month *vm)
{
    int64_t now = v->watermark_us < vm->end_us ? v->watermark_us : vm->end_us;

    if (v->watermark_us < vm->projected_from_us || now <= vm->start_us) {
        return 0;
    }
    return now - vm->start_us;
}

/* Publish what rule @r now says (the alert engine decides whether that is a new record). */
static void tell(const struct scene *s, enum ow_variance_rule r, const struct verdict *vd)
{
    const struct ow_variance *v = s->v;
    const struct ow_variance_spec *spec = v->spec;
    const struct ow_variance_line *l = s->line;
    struct ow_alert_dim dim = {"party_id", s->party};
    struct ow_alert_obs obs = {
        .rule = spec->rule[r],
        .conf = &v->conf->rules[r],
        .window = s->vm->w,
        .dims = &dim,
        .ndims = 1,
        .breach = vd->breach,
        .recovered = vd->recovered,
        .unit = "percent_of_forecast",
        .event_us = s->event_us,
    };
    char month[32];
    char msg[512];
    double pct = l->forecast > 0 ? 100.0 * (double)l->actual / (double)l->forecast : NAN;

    snprintf(month, sizeof(month), "%s %d", month_names[s->vm->w.index % 12], s->vm->w.index / 12);
    obs.message = msg;
    obs.value = pct;
    switch (r) {
    case OW_VR_EXCEEDED:
        obs.threshold = (double)v->over_bp / 100.0;
        if (l->forecast == 0) {
            snprintf(msg, sizeof(msg), "%s has sent %lld %s in %s against a forecast of zero",
                     s->party, (long long)l->actual, l->actual == 1 ? spec->noun : spec->nouns,
                     month);
        } else {
            snprintf(msg, sizeof(msg), "%s %s %.1f%% of its %s %s forecast", s->party,
                     vd->breach ? "has sent" : "is back to", pct, month, spec->noun);
        }
        break;
    case OW_VR_SHORTFALL:
        obs.threshold = (double)v->under_bp / 100.0;
        snprintf(msg, sizeof(msg), "%s %s %.1f%% of its %s %s forecast", s->party,
                 vd->breach ? "sent only" : "is now at", pct, month, spec->noun);
        break;
    case OW_VR_PROJECTED: {
        int64_t elapsed = projection_elapsed(v, s->vm);
        double len = (double)(s->vm->end_us - s->vm->start_us);

        obs.value = elapsed > 0 && l->forecast > 0
                        ? 100.0 * (double)l->actual * len / (double)elapsed / (double)l->forecast
                        : pct;
        obs.threshold = (double)(obs.value >= 100.0 ? v->over_bp : v->under_bp) / 100.0;
        snprintf(msg, sizeof(msg),
                 "%s %s %.1f%% of its %s %s forecast (run rate after %.0f%% of the month)",
                 s->party, vd->breach ? "is on course to send" : "is now projected at", obs.value,
                 month, spec->noun, 100.0 * (double)elapsed / len);
        break;
    }
    case OW_VR_NO_FORECAST:
        obs.value = (double)l->actual;
        obs.threshold = 0;
        obs.unit = "count";
        if (vd->breach) {
            snprintf(msg, sizeof(msg), "%s sent %s in %s without a forecast for that month",
                     s->party, spec->nouns, month);
        } else {
            snprintf(msg, sizeof(msg), "%s now has a %s %s forecast", s->party, month, spec->noun);
        }
        break;
    case OW_VR__COUNT:
        break;
    }
    ow_alerts_observe(v->env.alerts, &obs);
}

/* Tell the alert engine about rule @r only when what it would hear changed. */
static void judge(const struct scene *s, enum ow_variance_rule r, struct verdict vd)
{
    uint8_t *said = &s->line->watch.said[r];
    uint8_t now;

    if (vd.breach) {
        now = SAID_BREACH;
    } else if (vd.recovered) {
        now = SAID_QUIET;
    } else {
        now = *said == SAID_QUIET ? SAID_QUIET : SAID_HOLDING;
    }
    if (now == *said) {
        return;
    }
    *said = now;
    tell(s, r, &vd);
}

/* A rule that does not apply (no forecast, not closed yet...) holds no alert. */
static const struct verdict not_applicable = {false, true};

static struct verdict exceeded(const struct ow_variance *v, const struct ow_variance_line *l)
{
    struct verdict vd = not_applicable;

    if (!l->has_forecast) {
        return vd;
    }
    if (l->forecast == 0) { /* any actual exceeds a zero forecast */
        vd.breach = l->actual > 0;
        vd.recovered = l->actual == 0;
        return vd;
    }
    vd.breach = cmp_line(l->actual, 1, l->forecast, 1, v->over_bp) >= 0;
    vd.recovered = cmp_line(l->actual, 1, l->forecast, 1, v->exceeded_resolve_bp) <= 0;
    return vd;
}

static struct verdict shortfall(const struct ow_variance *v, const struct ow_variance_month *vm,
                                const struct ow_variance_line *l)
{
    struct verdict vd = not_applicable;

    if (!vm->closed || !l->has_forecast || l->forecast == 0) {
        return vd;
    }
    vd.breach = cmp_line(l->actual, 1, l->forecast, 1, v->under_bp) <= 0;
    vd.recovered = cmp_line(l->actual, 1, l->forecast, 1, v->shortfall_resolve_bp) >= 0;
    return vd;
}

/* Run rate: actual * month length / elapsed, against the forecast. A zero forecast is left to
 * *_forecast_exceeded, which any actual already breaches. */
static struct verdict projected(const struct ow_variance *v, const struct ow_variance_month *vm,
                                const struct ow_variance_line *l)
{
    struct verdict vd = not_applicable;
    int64_t elapsed = projection_elapsed(v, vm);
    int64_t len = vm->end_us - vm->start_us;
    int64_t a = l->actual;
    int64_t f = l->forecast;

    if (elapsed == 0 || !l->has_forecast || f == 0) {
        return vd;
    }
    vd.breach = cmp_line(a, len, f, elapsed, v->over_bp) >= 0 ||
                cmp_line(a, len, f, elapsed, v->under_bp) <= 0;
    vd.recovered = cmp_line(a, len, f, elapsed, v->over_resolve_bp) <= 0 &&
                   cmp_line(a, len, f, elapsed, v->under_resolve_bp) >= 0;
    return vd;
}

static struct verdict no_forecast(const struct ow_variance_line *l)
{
    struct verdict vd = {!l->has_forecast && l->actual > 0, l->has_forecast};

    return vd;
}

/* The smallest actual at which a rising actual can change what a rule says, so that the hot
 * path judges nothing until then: the exceeded line (unless it is breached already), or the
 * first request of a party without a forecast. */
static void set_next_at(const struct ow_variance *v, struct ow_variance_line *l)
{
    const struct ow_rule_conf *rules = v->conf->rules;
    int64_t next = INT64_MAX;

    if (l->has_forecast && rules[OW_VR_EXCEEDED].enabled &&
        l->watch.said[OW_VR_EXCEEDED] != SAID_BREACH) {
        int64_t product;

        /* In 64 bits when it fits (a division by a constant becomes a multiplication; the
         * 128-bit one is a library call, 0.5 to 0.7% of a backlog's loop time): the same
         * quotient. */
        if (!__builtin_mul_overflow(l->forecast, v->over_bp, &product) &&
            product <= INT64_MAX - 9999) {
            next = (product + 9999) / 10000;
        } else {
            __int128 line = ((__int128)l->forecast * v->over_bp + 9999) / 10000;

            next = line < INT64_MAX ? (int64_t)line : INT64_MAX;
        }
        if (l->forecast == 0) {
            next = 1;
        }
    }
    if (!l->has_forecast && rules[OW_VR_NO_FORECAST].enabled &&
        l->watch.said[OW_VR_NO_FORECAST] == SAID_QUIET) {
        next = 1;
    }
    l->watch.next_at = next;
}

/* Judge every enabled rule for one party's month. */
static void judge_party(struct ow_variance *v, const struct ow_variance_month *vm,
                        const char *party, struct ow_variance_line *l, int64_t event_us)
{
    const struct ow_rule_conf *rules = v->conf->rules;
    struct scene s = {v, vm, party, l, event_us};

    if (rules[OW_VR_EXCEEDED].enabled) {
        judge(&s, OW_VR_EXCEEDED, exceeded(v, l));
    }
    if (rules[OW_VR_SHORTFALL].enabled) {
        judge(&s, OW_VR_SHORTFALL, shortfall(v, vm, l));
    }
    if (rules[OW_VR_PROJECTED].enabled) {
        judge(&s, OW_VR_PROJECTED, projected(v, vm, l));
    }
    if (rules[OW_VR_NO_FORECAST].enabled) {
        judge(&s, OW_VR_NO_FORECAST, no_forecast(l));
    }
    set_next_at(v, l);
}

int ow_variance_count(struct ow_variance *v, struct ow_variance_month *vm,
                      const struct ow_event *ev, struct ow_err *err)
{
    struct ow_variance_line *l;
    bool created;
    int64_t total;

    if (__builtin_add_overflow(vm->actual, ev->count, &total)) {
        char where[64];

        snprintf(where, sizeof(where), "%s: field 'count'", v->spec->type);
        return ow_err_set(err, OW_ESCHEMA, where, "the month's %s total would overflow 64 bits",
                          v->spec->noun);
    }
    vm->actual = total;
    l = ow_strmap_upsert(vm->parties, ev->party_id.p, ev->party_id.len, &created);
    if (created) {
        set_next_at(v, l); /* its first request may be one without a forecast */
    }
    l->actual += ev->count;
    if (l->actual >= l->watch.next_at || vm->closed ||
        (v->watermark_us >= vm->projected_from_us && v->conf->rules[OW_VR_PROJECTED].enabled)) {
        judge_party(v, vm, ev->party_id.p, l, ev->occurred_us);
    }
    return OW_OK;
}

int ow_variance_forecast(struct ow_variance *v, const struct ow_event *ev, struct ow_err *err)
{
    struct ow_variance_month *vm;
    struct ow_variance_line *l;
    int64_t quantity;
    int rc;

    rc = ow_forecasts_apply(v->forecasts, ev, v->spec->per_service, err);
    if (rc != OW_OK) {
        return rc;
    }
    vm = ow_variance_month(v, ev->period);
    l = ow_strmap_upsert(vm->parties, ev->party_id.p, ev->party_id.len, NULL);
    l->has_forecast =
        ow_forecasts_party(v->forecasts, ev->period, ev->party_id.p, ev->party_id.len, &quantity);
    l->forecast = l->has_forecast ? quantity : 0;
    judge_party(v, vm, ev->party_id.p, l, ev->occurred_us);
    return OW_OK;
}

/* Months and parties are judged in key order, not in the hash maps' order: the order of the
 * alert records of one watermark step then follows from the data alone, not from the history
 * of the maps, so a book restored from a checkpoint (processor.h, save) says the same things in
 * the same order. */
static void judge_month(struct ow_variance *v, const struct ow_variance_month *vm, int64_t event_us)
{
    struct ow_strmap_entry *e = ow_strmap_sorted(vm->parties);

    for (size_t i = 0; e != NULL && i < ow_strmap_count(vm->parties); i++) {
        judge_party(v, vm, e[i].key, e[i].value, event_us);
    }
    free(e);
}

static int index_cmp(const void *x, const void *y)
{
    int a = *(const int *)x;
    int b = *(const int *)y;

    return (a > b) - (a < b);
}

struct indexes {
    int *v;
    size_t n;
};

static void add_index(const struct ow_strmap_entry *e, void *arg)
{
    struct indexes *ix = arg;

    memcpy(&ix->v[ix->n++], e->key, sizeof(int));
}

/* The indexes of the months, ascending, in a new array (free() it) of *@n. */
static int *month_indexes(const struct ow_variance *v, size_t *n)
{
    struct indexes ix = {ow_xcalloc(ow_strmap_count(v->months) + 1, sizeof(int)), 0};

    ow_strmap_foreach(v->months, add_index, &ix);
    qsort(ix.v, ix.n, sizeof(*ix.v), index_cmp);
    *n = ix.n;
    return ix.v;
}

static void sweep_month(struct ow_variance *v, struct ow_variance_month *vm)
{
    int64_t wm = v->watermark_us;

    if (vm->next_sweep_us <= wm) {
        judge_month(v, vm, wm);
        if (wm >= vm->end_us) {
            vm->next_sweep_us = INT64_MAX; /* the projection is the actual from now on */
        } else {
            vm->next_sweep_us = wm + SWEEP_STEP_US < vm->end_us ? wm + SWEEP_STEP_US : vm->end_us;
        }
    }
    if (vm->next_sweep_us < v->next_sweep_us) {
        v->next_sweep_us = vm->next_sweep_us;
    }
}

void ow_variance_on_watermark(struct ow_variance *v, int64_t watermark_us)
{
    size_t n;
    int *months;

    v->watermark_us = watermark_us;
    if (watermark_us < v->next_sweep_us || !v->conf->rules[OW_VR_PROJECTED].enabled) {
        return;
    }
    v->next_sweep_us = INT64_MAX;
    months = month_indexes(v, &n);
    for (size_t i = 0; i < n; i++) {
        sweep_month(v, ow_strmap_get(v->months, (const char *)&months[i], sizeof(int)));
    }
    free(months);
}

void ow_variance_on_close(struct ow_variance *v, struct ow_window_id w)
{
    struct ow_variance_month *vm;

    if (w.kind != OW_WIN_MONTH) {
        return;
    }
    if (w.index > v->closed_through) {
        v->closed_through = w.index;
    }
    vm = ow_strmap_get(v->months, (const char *)&w.index, sizeof(w.index));
    if (vm == NULL) {
        return;
    }
    vm->closed = true; /* judged again if already closed: what was said is not said twice */
    judge_month(v, vm, ow_window_close_at(v->env.tz, v->env.cal, &v->env.cfg->windows.grace, w));
}

/* ---- the report ---- */

struct rows {
    struct ow_variance_party *row;
    size_t n;
};

static void add_row(const struct ow_strmap_entry *e, void *arg)
{
    struct rows *rows = arg;
    const struct ow_variance_line *l = e->value;
    struct ow_variance_party *r = &rows->row[rows->n++];

    r->party = e->key;
    r->len = e->len;
    r->actual = l->actual;
    r->has_forecast = l->has_forecast;
    r->forecast = l->forecast;
}

void ow_variance_report(const struct ow_variance *v, int month, json_t *out)
{
    const struct ow_variance_month *vm = ow_variance_month_find(v, month);
    size_t n = vm ? ow_strmap_count(vm->parties) : 0;
    struct rows rows = {ow_xcalloc(n + 1, sizeof(*rows.row)), 0};

    if (vm != NULL) {
        ow_strmap_foreach(vm->parties, add_row, &rows);
    }
    ow_variance_build(out, rows.row, rows.n, &v->conf->bands);
    free(rows.row);
}

/* ---- save and restore ---- */

/* A month is saved as {"m": index, "actual": total, "sweep": next_sweep_us, "closed": bool,
 * "parties": {party: [actual, forecast or null, next_at, said x OW_VR__COUNT]}, "own": the
 * processor's members}. The start, end and projection instants follow from the index and the
 * configuration; the forecast is the store's value cached at the last forecast event. */
#define LINE_FIELDS (3 + OW_VR__COUNT)

static json_t *line_save(const struct ow_variance_line *l)
{
    json_t *out = json_array();

    json_array_append_new(out, json_integer((json_int_t)l->actual));
    json_array_append_new(out,
                          l->has_forecast ? json_integer((json_int_t)l->forecast) : json_null());
    json_array_append_new(out, json_integer((json_int_t)l->watch.next_at));
    for (int r = 0; r < OW_VR__COUNT; r++) {
        json_array_append_new(out, json_integer(l->watch.said[r]));
    }
    return out;
}

static json_t *month_save(const struct ow_variance *v, const struct ow_variance_month *vm)
{
    struct ow_strmap_entry *e = ow_strmap_sorted(vm->parties);
    json_t *parties = json_object();
    json_t *out;

    for (size_t i = 0; e != NULL && i < ow_strmap_count(vm->parties); i++) {
        json_object_setn_new(parties, e[i].key, e[i].len, line_save(e[i].value));
    }
    free(e);
    out =
        json_pack("{s:i, s:I, s:I, s:b, s:o}", "m", vm->w.index, "actual", (json_int_t)vm->actual,
                  "sweep", (json_int_t)vm->next_sweep_us, "closed", vm->closed, "parties", parties);
    if (v->spec->month_save != NULL) {
        json_object_set_new(out, "own", v->spec->month_save(vm));
    }
    return out;
}

json_t *ow_variance_save(const struct ow_variance *v)
{
    size_t n;
    int *indexes = month_indexes(v, &n);
    json_t *months = json_array();

    for (size_t i = 0; i < n; i++) {
        json_array_append_new(months, month_save(v, ow_variance_month_find(v, indexes[i])));
    }
    free(indexes);
    return json_pack("{s:i, s:I, s:i, s:I, s:o, s:o}", "v", 1, "watermark_us",
                     (json_int_t)v->watermark_us, "closed_through", v->closed_through,
                     "next_sweep_us", (json_int_t)v->next_sweep_us, "months", months, "forecasts",
                     ow_forecasts_save(v->forecasts));
}

/* @obj's member @key as an integer in [lo, hi]. */
static bool member_int(const json_t *obj, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const json_t *j = json_object_get(obj, key);

    if (!json_is_integer(j) || json_integer_value(j) < lo || json_integer_value(j) > hi) {
        return false;
    }
    *out = json_integer_value(j);
    return true;
}

static bool item_int(const json_t *arr, size_t i, int64_t lo, int64_t hi, int64_t *out)
{
    const json_t *j = json_array_get(arr, i);

    if (!json_is_integer(j) || json_integer_value(j) < lo || json_integer_value(j) > hi) {
        return false;
    }
    *out = json_integer_value(j);
    return true;
}

static int line_restore(struct ow_variance_line *l, const json_t *j, const char *where,
                        struct ow_err *err)
{
    const json_t *fc = json_array_get(j, 1);
    int64_t said;

    if (json_array_size(j) != LINE_FIELDS || !item_int(j, 0, 0, INT64_MAX, &l->actual) ||
        !item_int(j, 2, INT64_MIN, INT64_MAX, &l->watch.next_at) ||
        !(json_is_null(fc) || item_int(j, 1, 0, INT64_MAX, &l->forecast))) {
        return ow_err_set(err, OW_EINVAL, where,
                          "expected [actual >= 0, forecast >= 0 or null, next_at, said x %d]",
                          OW_VR__COUNT);
    }
    l->has_forecast = !json_is_null(fc);
    for (int r = 0; r < OW_VR__COUNT; r++) {
        if (!item_int(j, 3 + (size_t)r, SAID_QUIET, SAID_HOLDING, &said)) {
            return ow_err_set(err, OW_EINVAL, where, "said[%d]: expected an integer 0..2", r);
        }
        l->watch.said[r] = (uint8_t)said;
    }
    return OW_OK;
}

static int month_restore(struct ow_variance *v, const json_t *j, const char *where,
                         int64_t watermark, int64_t *min_sweep, struct ow_err *err)
{
    const json_t *parties = json_object_get(j, "parties");
    struct ow_variance_month *vm;
    char at[192];
    int64_t index;
    int64_t actual;
    int64_t sweep;
    int64_t sum = 0;
    bool overflow = false;
    const char *party;
    size_t len;
    json_t *jl;
    int rc;

    /* Month indexes of the years 1..9999. */
    if (!member_int(j, "m", 12, 9999 * 12 + 11, &index) ||
        !member_int(j, "actual", 0, INT64_MAX, &actual) ||
        !member_int(j, "sweep", INT64_MIN, INT64_MAX, &sweep) ||
        !json_is_boolean(json_object_get(j, "closed")) || !json_is_object(parties)) {
        return ow_err_set(err, OW_EINVAL, where,
                          "expected {\"m\": month index, \"actual\": total >= 0, \"sweep\": "
                          "instant, \"closed\": bool, \"parties\": {...}}");
    }
    if (ow_variance_month_find(v, (int)index) != NULL) {
        return ow_err_set(err, OW_EINVAL, where, "month %d appears twice", (int)index);
    }
    vm = ow_variance_month(v, (int)index);
    vm->actual = actual;
    /* Projections start at projected_from, which follows from the configuration: a reload
     * (ow_engine_reconfigure) may move it. Before it the sweep waits for it; once the
     * watermark is past it a sweep is due within a step. With the same settings both give
     * the saved sweep (sweeps start at projected_from and plan one step after the watermark
     * they ran at). */
    if (sweep != INT64_MAX) {
        if (watermark < vm->projected_from_us) {
            sweep = vm->projected_from_us;
        } else if (watermark <= INT64_MAX - SWEEP_STEP_US && watermark + SWEEP_STEP_US < sweep) {
            sweep = watermark + SWEEP_STEP_US;
        }
    }
    vm->next_sweep_us = sweep;
    if (sweep < *min_sweep) {
        *min_sweep = sweep;
    }
    vm->closed = json_is_true(json_object_get(j, "closed"));
    json_object_keylen_foreach((json_t *)parties, party, len, jl)
    {
        struct ow_variance_line *l = ow_strmap_upsert(vm->parties, party, len, NULL);

        snprintf(at, sizeof(at), "%.120s.parties.%.60s", where, party);
        rc = line_restore(l, jl, at, err);
        if (rc != OW_OK) {
            return rc;
        }
        /* next_at follows from the line, what was said and the bands: recomputed, because a
         * reload (ow_engine_reconfigure) restores into a book with new bands, and a next_at
         * of the old ones would let a party between the old and the new line go unjudged. */
        set_next_at(v, l);
        overflow = overflow || __builtin_add_overflow(sum, l->actual, &sum);
    }
    if (overflow || sum != actual) {
        return ow_err_set(err, OW_EINVAL, where,
                          "actual: %lld is not the sum of the parties' actuals", (long long)actual);
    }
    if (v->spec->month_restore != NULL) {
        snprintf(at, sizeof(at), "%.120s.own", where);
        return v->spec->month_restore(vm, json_object_get(j, "own"), at, err);
    }
    return OW_OK;
}

int ow_variance_restore(struct ow_variance *v, const json_t *saved, struct ow_err *err)
{
    const json_t *months = json_object_get(saved, "months");
    char where[160];
    char at[192];
    int64_t watermark;
    int64_t closed_through;
    int64_t sweep;
    int64_t min_sweep = INT64_MAX;
    size_t i;
    json_t *jm;
    int rc;

    snprintf(where, sizeof(where), "state: processors.%s", v->spec->name);
    if (ow_strmap_count(v->months) != 0) {
        return ow_err_set(err, OW_EINVAL, where, "restore needs a book fresh from create");
    }
    if (!json_is_object(saved) || json_integer_value(json_object_get(saved, "v")) != 1) {
        return ow_err_set(err, OW_EINVAL, where, "expected a state object of version 1 (\"v\": 1)");
    }
    if (!member_int(saved, "watermark_us", INT64_MIN, INT64_MAX, &watermark) ||
        !member_int(saved, "closed_through", INT_MIN, INT_MAX, &closed_through) ||
        !member_int(saved, "next_sweep_us", INT64_MIN, INT64_MAX, &sweep) ||
        !json_is_array(months)) {
        return ow_err_set(err, OW_EINVAL, where,
                          "expected integers watermark_us, closed_through, next_sweep_us and an "
                          "array months");
    }
    json_array_foreach(months, i, jm)
    {
        snprintf(at, sizeof(at), "%s.months[%zu]", where, i);
        rc = month_restore(v, jm, at, watermark, &min_sweep, err);
        if (rc != OW_OK) {
            return rc;
        }
    }
    snprintf(at, sizeof(at), "%s.forecasts", where);
    rc = ow_forecasts_restore(v->forecasts, json_object_get(saved, "forecasts"), at, err);
    if (rc != OW_OK) {
        return rc;
    }
    v->watermark_us = watermark;
    v->closed_through = (int)closed_through;
    v->next_sweep_us = sweep < min_sweep ? sweep : min_sweep;
    v->last = NULL;
    return OW_OK;
}
