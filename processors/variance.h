/* variance.h: what the SR (H3.24) and CSR (L8.9) variance reports share: actuals against the
 * most recent forecasts per party and month, the adjusted grand total, the Panel's exception
 * lists, and the four variance alert rules.
 *
 * Exceptions and alerts follow the same bands (upper_band_percent, lower_band_percent) and the
 * same exact comparison at the line, but they answer different questions:
 * - the exception lists are snapshot figures: where each party stands against the bands when
 *   the snapshot is made, no memory, no hysteresis;
 * - the alerts are live: raised at the event (or watermark) that crosses a line, resolved only
 *   past the resolve line (hysteresis), published on changes of state. A party can therefore
 *   have a firing *_forecast_exceeded alert and be missing from at_or_over_110 (a forecast
 *   revision took it to 109.5%: not back past the 109% resolve line, no longer an exception),
 *   and a disabled rule leaves the exception lists as they are. */
#ifndef OW_VARIANCE_H
#define OW_VARIANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "alert.h"
#include "conf.h"
#include "err.h"
#include "event.h"
#include "processor.h"

struct ow_forecasts;

/* The Panel's bands around a forecast, in percent (default 10: >= 110%, <= 90%). Compared in
 * hundredths of a percent: a band of 10.004 is 10.00. */
struct ow_variance_bands {
    double upper_percent;
    double lower_percent;
};

/* One party's line in a month, as the snapshot shows it. */
struct ow_variance_party {
    const char *party;
    size_t len;
    int64_t actual;
    bool has_forecast;
    int64_t forecast; /* 0 when !has_forecast: the adjusted grand total's "zero forecast" */
};

/** Is @actual at or over @forecast plus the upper band? A zero forecast is exceeded by any
 * actual. Exact integer arithmetic (no rounding at the line). */
bool ow_variance_at_or_over(int64_t actual, int64_t forecast, const struct ow_variance_bands *b);

/** Is @actual at or under @forecast minus the lower band (forecast > 0)? */
bool ow_variance_at_or_under(int64_t actual, int64_t forecast, const struct ow_variance_bands *b);

/** 100.0 * @a / @b as a JSON real, or null when @b is 0. New reference. */
json_t *ow_percent(int64_t a, int64_t b);

/** Sort @rows by party id and add to @out: actual, forecast, variance, percent_of_forecast,
 * parties_without_forecast, by_party and exceptions. */
void ow_variance_build(json_t *out, struct ow_variance_party *rows, size_t n,
                       const struct ow_variance_bands *b);

/* ---- configuration ---- */

/* The four rules of a variance report, in this order everywhere. */
enum ow_variance_rule {
    OW_VR_EXCEEDED,    /* <p>_forecast_exceeded: month to date at or over forecast + upper band */
    OW_VR_SHORTFALL,   /* <p>_forecast_shortfall: at close, at or under forecast - lower band */
    OW_VR_PROJECTED,   /* <p>_projected_variance: run-rate projection outside the bands */
    OW_VR_NO_FORECAST, /* <p>_no_forecast: first request of a month without a forecast */
    OW_VR__COUNT
};

/* A variance processor's configuration ("processors.sr_variance", "processors.csr_variance"). */
struct ow_variance_conf {
    struct ow_variance_bands bands;
    double projected_after_percent; /* share of the month before projections are judged */
    struct ow_rule_conf rules[OW_VR__COUNT];
};

/* The config map of a variance processor whose rules are named @prefix "_forecast_exceeded"
 * etc. (@prefix a string literal). Use as:
 *   static const struct ow_conf_field sr_rules_map[] = {OW_VARIANCE_RULES_MAP("sr"), {0}};
 *   static const struct ow_conf_field sr_conf_map[] = {OW_VARIANCE_CONF_MAP(sr_rules_map), {0}};
 * A rule's "threshold" is not used (the bands set the lines) and must stay 0; "resolve" null
 * means a tenth of the band back inside it (109%, 91%). */
#define OW_VARIANCE_RULE_ENTRY(n, idx, d, h)                                                       \
    {                                                                                              \
        .name = (n), .type = OW_CONF_T_SUB,                                                        \
        .offset = (idx) * sizeof(struct ow_rule_conf), /* within the "rules" array */              \
            .sub = ow_rule_conf_map, .def = (d), .help = (h)                                       \
    }
#define OW_VARIANCE_RULES_MAP(prefix)                                                              \
    OW_VARIANCE_RULE_ENTRY(prefix "_forecast_exceeded", OW_VR_EXCEEDED,                            \
                           "{\"severity\": \"warning\"}",                                          \
                           "a party's month-to-date actual reaches forecast + upper band; "        \
                           "resolve: a percent of forecast (null: 100 + band - band/10); "         \
                           "threshold: not used (the bands set the lines)"),                       \
        OW_VARIANCE_RULE_ENTRY(prefix "_forecast_shortfall", OW_VR_SHORTFALL,                      \
                               "{\"severity\": \"warning\"}",                                      \
                               "at window close, a party's actual is at or under forecast - "      \
                               "lower band (forecast > 0); resolve: percent of forecast (null: "   \
                               "100 - band + band/10); threshold: not used"),                      \
        OW_VARIANCE_RULE_ENTRY(prefix "_projected_variance", OW_VR_PROJECTED,                      \
                               "{\"severity\": \"info\"}",                                         \
                               "after projected_after_percent of the month, the run-rate "         \
                               "projection to month end is outside the bands; severity "           \
                               "default info; resolve must be null (a tenth of each band back "    \
                               "inside it); threshold: not used"),                                 \
        OW_VARIANCE_RULE_ENTRY(prefix "_no_forecast", OW_VR_NO_FORECAST,                           \
                               "{\"severity\": \"warning\"}",                                      \
                               "a party sends its first request of a month with no forecast for "  \
                               "it; resolves when a forecast arrives; resolve must be null, "      \
                               "threshold: not used")
#define OW_VARIANCE_CONF_MAP(rules_map)                                                            \
    OW_CONF_DOUBLE("upper_band_percent", struct ow_variance_conf, bands.upper_percent, 0, 1000,    \
                   "10", "a party at or above forecast + this percent is an exception (110%)"),    \
        OW_CONF_DOUBLE("lower_band_percent", struct ow_variance_conf, bands.lower_percent, 0, 100, \
                       "10", "a party at or below forecast - this percent is an exception (90%)"), \
        OW_CONF_DOUBLE("projected_after_percent", struct ow_variance_conf,                         \
                       projected_after_percent, 1, 100, "50",                                      \
                       "share of the month (event time) after which run-rate projections are "     \
                       "judged"),                                                                  \
        OW_CONF_SUB("rules", struct ow_variance_conf, rules, (rules_map), "{}",                    \
                    "the variance alert rules")

/* ---- months, actuals, forecasts and alerts ---- */

/* What the alert rules remember of one party's month: per rule, what was last told to the
 * alert engine, so that an unchanged condition costs nothing. */
struct ow_variance_watch {
    int64_t next_at;            /* the actual at which a rule may change as the actual rises */
    uint8_t said[OW_VR__COUNT]; /* per rule: quiet, breach or holding (variance.c) */
};

/* One party's month. */
struct ow_variance_line {
    int64_t actual;
    int64_t forecast; /* cached from the forecast store; 0 when !has_forecast */
    bool has_forecast;
    struct ow_variance_watch watch;
};

/* The part of a processor's month that this module keeps. A processor's own month struct
 * starts with it (so a pointer to one is a pointer to the other). */
struct ow_variance_month {
    struct ow_window_id w;
    struct ow_strmap *parties; /* party_id -> struct ow_variance_line */
    int64_t actual;            /* the month's total: bounds every other sum of its counts */
    int64_t start_us;
    int64_t end_us;
    int64_t projected_from_us; /* start + projected_after_percent of the month */
    int64_t next_sweep_us;     /* next time-driven look at the projections; INT64_MAX: done */
    bool closed;               /* shortfalls are judged from now on */
};

/* What differs between the SR and the CSR report. */
struct ow_variance_spec {
    const char *name;               /* the processor's name, for config errors: "sr_variance" */
    const char *type;               /* the counted event type, for errors: "service_request" */
    const char *rule[OW_VR__COUNT]; /* alert rule names: "sr_forecast_exceeded", ... */
    const char *noun;  /* "service request": "131.5% of its April 2021 <noun> forecast" */
    const char *nouns; /* "service requests" */
    bool per_service;  /* forecasts may carry service_ref */
    size_t month_size; /* the processor's month struct, which starts with a
                          struct ow_variance_month */
    void (*month_init)(void *month); /* its own members; may be NULL */
    void (*month_free)(void *month); /* may be NULL */
    /* Its own members as JSON (new reference) for ow_variance_save(); may be NULL (nothing
     * of its own). */
    json_t *(*month_save)(const void *month);
    /* Load what month_save() wrote into a month fresh from month_init(): OW_OK, or OW_EINVAL
     * with @err (at @where) when @saved is malformed. NULL when month_save is. */
    int (*month_restore)(void *month, const json_t *saved, const char *where, struct ow_err *err);
};

struct ow_variance;

/** A variance book for one processor. @spec, @conf and @env are borrowed and must outlive it.
 * @returns NULL with @err (OW_EINVAL) when a rule's configuration makes no sense (a threshold,
 * a resolve line on the wrong side of its fire line, a resolve for a rule without one). */
struct ow_variance *ow_variance_create(const struct ow_variance_spec *spec,
                                       const struct ow_variance_conf *conf,
                                       const struct ow_proc_env *env, struct ow_err *err);

/** Free; NULL is a no-op. */
void ow_variance_destroy(struct ow_variance *v);

/** The processor's month @month (year * 12 + month - 1), created (zeroed, then month_init) if
 * absent. The pointer stays valid until the month expires. */
void *ow_variance_month(struct ow_variance *v, int month);

/** The month if it exists, else NULL. */
const void *ow_variance_month_find(const struct ow_variance *v, int month);

/** Count @ev (its party and count) in @vm and raise what the new actual crosses. @returns
 * OW_OK, or OW_ESCHEMA with @err ("<type>: field 'count'") when the month's total would
 * overflow 64 bits: nothing changed then. Every other sum of the month's counts (a party, a
 * service, a region) is at most the total, so it cannot overflow when the total does not.
 * Hot path: no allocation once the party is known. */
int ow_variance_count(struct ow_variance *v, struct ow_variance_month *vm,
                      const struct ow_event *ev, struct ow_err *err);

/** Apply forecast event @ev (the caller checked its report) and re-judge its party's month.
 * @returns OW_OK or OW_ESCHEMA with @err when a forecast total would overflow. */
int ow_variance_forecast(struct ow_variance *v, const struct ow_event *ev, struct ow_err *err);

/** The watermark moved: judge the projections that time changes (at most hourly per month, and
 * once after its end). */
void ow_variance_on_watermark(struct ow_variance *v, int64_t watermark_us);

/** Window @w closes: judge the shortfalls (before its final snapshot is written). */
void ow_variance_on_close(struct ow_variance *v, struct ow_window_id w);

/** Add the shared keys of month @month's report to @out (zero-filled when it has no data). */
void ow_variance_report(const struct ow_variance *v, int month, json_t *out);

/** The forecasts (borrowed), for per-service figures. */
const struct ow_forecasts *ow_variance_forecasts(const struct ow_variance *v);

/** Forget month @month (retention passed). */
void ow_variance_expire(struct ow_variance *v, int month);

/** The book's whole state as JSON (new reference), for the processor's save(): the months
 * (actuals, what each rule last told the alert engine, the closing and sweeping bookkeeping,
 * the processor's own members through spec->month_save), the forecasts with their
 * occurred_at, and the watermark. Versioned: {"v": 1, ...}. */
json_t *ow_variance_save(const struct ow_variance *v);

/** Rebuild what ow_variance_save() wrote into a book fresh from ow_variance_create() (same
 * configuration). @returns OW_OK, or OW_EINVAL with @err naming what in @saved is malformed
 * (the book is then partly filled: destroy it). */
int ow_variance_restore(struct ow_variance *v, const json_t *saved, struct ow_err *err);

#endif
