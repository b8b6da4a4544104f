/* measurements.c: Performance Measurement (SEC H13.4): per measure and provider, the share of
 * units that met the measure in each month, against its Target and Minimum Service Levels.
 *
 * State is one small cell per (measure, provider, month): the month's sums of met and total
 * and what the two month-to-date alert rules last told the alert engine. Cells outlive their
 * window's retention: the history counts (months_observed, months_below_target) and the
 * repeat-breach rule read up to history_months of them, so a cell is dropped only when no
 * window that can still be reported reaches back to it.
 *
 * Levels are compared exactly: a level is held as an integer in 1/10000 of a percent (99.5 is
 * 995000; the configuration is refused if it has more decimals than that), and "value >= level"
 * is met * 1000000 >= level * total in 128-bit integers, so a value equal to the level meets it
 * whatever the sums (met and total are below 2^63, the scaled level at most 10^6). */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "alloc.h"
#include "processor.h"
#include "strmap.h"
#include "tz.h"

#define LEVEL_UNITS 10000        /* a level's units per percent */
#define FULL (100 * LEVEL_UNITS) /* 100% */
#define WILDCARD "*"

/* ---- configuration ---- */

/* One configured (measure, provider) pair; provider "*" serves every provider of the measure
 * that has no entry of its own. Levels in 1/10000 of a percent. */
struct perf_level {
    char *measure;
    char *provider;
    int64_t target;
    int64_t minimum;
};

struct perf_levels {
    struct perf_level *v;
    size_t n;
};

struct perf_rules {
    struct ow_rule_conf below_target;
    struct ow_rule_conf below_minimum;
    struct ow_rule_conf repeat_breach;
};

struct perf_conf {
    struct perf_levels targets;
    int64_t min_units;
    int64_t repeat_months;
    struct perf_rules rules;
};

/* The domain's Code Performance Measures (SEC H13): the DCC's, so provider "DCC". */
static const char targets_default[] = "{\"CPM1\": {\"DCC\": {\"target\": 99, \"minimum\": 96}},"
                                      " \"CPM2\": {\"DCC\": {\"target\": 99, \"minimum\": 96}},"
                                      " \"CPM3\": {\"DCC\": {\"target\": 99, \"minimum\": 96}},"
                                      " \"CPM4\": {\"DCC\": {\"target\": 100, \"minimum\": 85}},"
                                      " \"CPM5\": {\"DCC\": {\"target\": 90, \"minimum\": 80}},"
                                      " \"CPM6\": {\"DCC\": {\"target\": 99.5, \"minimum\": 98}},"
                                      " \"CPM7\": {\"DCC\": {\"target\": 99, \"minimum\": 96}},"
                                      " \"CPM8\": {\"DCC\": {\"target\": 99, \"minimum\": 96}}}";

/* The JSON path of @key under @path, written as conf.c writes it: .key or ["key"]. */
static void key_path(char *buf, size_t len, const char *path, const char *key)
{
    size_t plain = strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789_");

    if (key[0] != '\0' && key[plain] == '\0') {
        snprintf(buf, len, "%s.%s", path, key);
    } else {
        snprintf(buf, len, "%s[\"%s\"]", path, key);
    }
}

static void free_targets(void *dst)
{
    struct perf_levels *t = dst;

    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].measure);
        free(t->v[i].provider);
    }
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

/* A level: a number 0..100 with at most four decimals, into 1/10000 of a percent. */
static bool parse_level(const json_t *obj, const char *name, const char *path,
                        struct ow_conf_errors *errs, int64_t *out)
{
    const json_t *v = json_object_get(obj, name);
    char sub[320];
    char got[80];
    double x;
    double scaled;

    key_path(sub, sizeof(sub), path, name);
    if (v == NULL) {
        ow_conf_error(errs, sub, "required key is missing (the %s Service Level, a percent 0..100)",
                      strcmp(name, "target") == 0 ? "Target" : "Minimum");
        return false;
    }
    x = json_number_value(v);
    if (!json_is_number(v) || x < 0 || x > 100) {
        ow_conf_error(errs, sub, "expected number 0..100, got %s",
                      ow_conf_describe(v, got, sizeof(got)));
        return false;
    }
    scaled = x * LEVEL_UNITS;
    if (fabs(scaled - (double)llround(scaled)) > 1e-6) {
        ow_conf_error(errs, sub,
                      "expected at most 4 decimal places (levels are compared exactly), "
                      "got %s",
                      ow_conf_describe(v, got, sizeof(got)));
        return false;
    }
    *out = llround(scaled);
    return true;
}

static void parse_provider(const json_t *v, const char *measure, const char *provider,
                           const char *path, struct ow_conf_errors *errs, struct perf_levels *t)
{
    struct perf_level lv = {0};
    char sub[320];
    char got[80];
    const char *key;
    json_t *x;
    bool ok;

    if (!json_is_object(v)) {
        ow_conf_error(errs, path,
                      "expected an object {\"target\": T, \"minimum\": M} (percent), got %s",
                      ow_conf_describe(v, got, sizeof(got)));
        return;
    }
    json_object_foreach((json_t *)v, key, x)
    {
        if (strcmp(key, "target") != 0 && strcmp(key, "minimum") != 0 &&
            strcmp(key, "$comment") != 0) {
            key_path(sub, sizeof(sub), path, key);
            ow_conf_error(errs, sub, "unknown key (expected \"target\" and \"minimum\")");
        }
    }
    ok = parse_level(v, "target", path, errs, &lv.target);
    ok = parse_level(v, "minimum", path, errs, &lv.minimum) && ok;
    if (!ok) {
        return;
    }
    if (lv.minimum > lv.target) {
        key_path(sub, sizeof(sub), path, "minimum");
        ow_conf_error(errs, sub, "minimum must be <= target: expected 0..%g, got %g",
                      (double)lv.target / LEVEL_UNITS, (double)lv.minimum / LEVEL_UNITS);
        return;
    }
    lv.measure = ow_xstrdup(measure);
    lv.provider = ow_xstrdup(provider);
    t->v = ow_xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
    t->v[t->n++] = lv;
}

/* "targets": the user's table laid over the built-in one measure by measure (a measure named
 * replaces every built-in entry of that measure; null removes it), as a partial rule object is
 * laid over the rule's defaults. */
static void parse_targets(const json_t *v, void *dst, const char *path, struct ow_conf_errors *errs)
{
    struct perf_levels *t = dst;
    json_t *merged;
    char msub[320];
    char psub[640];
    char got[80];
    const char *measure;
    const char *provider;
    json_t *providers;
    json_t *lv;

    free_targets(t);
    if (!json_is_object(v)) {
        ow_conf_error(errs, path,
                      "expected an object {measure: {provider or \"*\": {\"target\": T, "
                      "\"minimum\": M}}}, got %s",
                      ow_conf_describe(v, got, sizeof(got)));
        return;
    }
    merged = json_loads(targets_default, 0, NULL);
    json_object_foreach((json_t *)v, measure, providers)
    {
        json_object_set(merged, measure, providers);
    }
    json_object_foreach(merged, measure, providers)
    {
        if (strcmp(measure, "$comment") == 0 || json_is_null(providers)) {
            continue;
        }
        key_path(msub, sizeof(msub), path, measure);
        if (!json_is_object(providers)) {
            ow_conf_error(errs, msub,
                          "expected an object of providers ({\"*\": {\"target\": T, "
                          "\"minimum\": M}}) or null (no levels), got %s",
                          ow_conf_describe(providers, got, sizeof(got)));
            continue;
        }
        json_object_foreach(providers, provider, lv)
        {
            if (strcmp(provider, "$comment") != 0) {
                key_path(psub, sizeof(psub), msub, provider);
                parse_provider(lv, measure, provider, psub, errs, t);
            }
        }
    }
    json_decref(merged);
}

static const struct ow_conf_field perf_rules_map[] = {
    OW_CONF_SUB("measure_below_target", struct perf_rules, below_target, ow_rule_conf_map,
                "{\"severity\": \"warning\"}",
                "a measure's month-to-date value is below its Target Service Level once the "
                "month has min_units units, and at close; threshold unused (the levels come "
                "from targets); resolve: percentage points above the level (null: a tenth of "
                "target - minimum; never above 100%)"),
    OW_CONF_SUB("measure_below_minimum", struct perf_rules, below_minimum, ow_rule_conf_map,
                "{\"severity\": \"critical\"}",
                "as measure_below_target, against the Minimum Service Level"),
    OW_CONF_SUB("measure_repeat_breach", struct perf_rules, repeat_breach, ow_rule_conf_map,
                "{\"severity\": \"warning\", \"threshold\": 3}",
                "at a month's close, a measure was below target in at least threshold of the "
                "last repeat_months closed months; resolve: a count at or under which it "
                "resolves after late data (null: threshold - 1)"),
    {0},
};

static const struct ow_conf_field perf_conf_map[] = {
    OW_CONF_CUSTOM("targets", struct perf_conf, targets, parse_targets, free_targets,
                   "{measure: {provider or \"*\": {\"target\": T, \"minimum\": M}}}",
                   targets_default,
                   "Target and Minimum Service Levels (percent, at most 4 decimals) per measure "
                   "and provider; \"*\" serves providers without their own entry; laid over "
                   "the built-in Code Performance Measures measure by measure (null removes "
                   "one)"),
    OW_CONF_INT("min_units", struct perf_conf, min_units, 0, INT64_C(1000000000000000), "100",
                "units a month needs before its month-to-date value can raise an alert (at "
                "close, any number)"),
    OW_CONF_INT("repeat_months", struct perf_conf, repeat_months, 1, 240, "6",
                "M of measure_repeat_breach's 'threshold of the last M closed months' (at most "
                "history_months)"),
    OW_CONF_SUB("rules", struct perf_conf, rules, perf_rules_map, "{}",
                "the performance alert rules"),
    {0},
};

/* ---- state ---- */

enum said { SAID_QUIET, SAID_BREACH, SAID_HOLDING };
enum which { BELOW_TARGET, BELOW_MINIMUM };

/* One (measure, provider) month. total == 0: no data that month (the cell only carries alert
 * state, or nothing). */
struct perf_cell {
    int month;
    uint8_t said[2]; /* per enum which: what the alert engine last heard */
    int64_t met;
    int64_t total;
};

struct perf_key {
    char *measure;
    char *provider;
    const struct perf_level *level; /* NULL: the configuration names no level */
    int64_t resolve[2];             /* per enum which: the recovery line (1/10000 %) */
    bool pinned;                    /* configured with its own provider: always reported */
    struct perf_cell *cells;        /* ascending by month */
    size_t n;
    size_t cap;
};

struct perf_ctx {
    struct ow_proc_env env;
    const struct perf_conf *conf;
    struct ow_strmap *keys; /* "measure\0provider" -> struct perf_key */
    int history;            /* history_months */
    int64_t watermark_us;
    int next_close; /* the first month not yet judged at its close; INT_MAX: none */
    int last_month; /* the latest month with data; INT_MIN: none */
    /* close_at(cached_month), so that a watermark step (each event later than all before it)
     * costs a compare, not the working-day arithmetic (2% of a replay's instructions). */
    int cached_month;
    int64_t cached_close_at;
};

static const char *const month_names[12] = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December",
};

/* value >= level, exactly (see the top of the file). */
static bool at_or_above(int64_t met, int64_t total, int64_t level)
{
    return (__int128)met * FULL >= (__int128)level * total;
}

static bool below_target(const struct perf_key *k, const struct perf_cell *cell)
{
    return k->level != NULL && cell->total > 0 &&
           !at_or_above(cell->met, cell->total, k->level->target);
}

static int64_t close_at(const struct perf_ctx *c, int month)
{
    struct ow_window_id w = {OW_WIN_MONTH, month};

    return ow_window_close_at(c->env.tz, c->env.cal, &c->env.cfg->windows.grace, w);
}

/* close_at(c, c->next_close), computed once per month. */
static int64_t next_close_at(struct perf_ctx *c)
{
    if (c->cached_month != c->next_close) {
        c->cached_close_at = close_at(c, c->next_close);
        c->cached_month = c->next_close;
    }
    return c->cached_close_at;
}

static bool is_closed(const struct perf_ctx *c, int month)
{
    return c->watermark_us != INT64_MIN && close_at(c, month) <= c->watermark_us;
}

static const struct perf_level *level_of(const struct perf_conf *conf, const char *measure,
                                         const char *provider)
{
    const struct perf_level *wild = NULL;

    for (size_t i = 0; i < conf->targets.n; i++) {
        const struct perf_level *lv = &conf->targets.v[i];

        if (strcmp(lv->measure, measure) != 0) {
            continue;
        }
        if (strcmp(lv->provider, provider) == 0) {
            return lv; /* an exact provider beats the wildcard */
        }
        if (strcmp(lv->provider, WILDCARD) == 0) {
            wild = lv;
        }
    }
    return wild;
}

/* Where a firing alert against @level resolves: the level plus a tenth of the band between
 * target and minimum, or plus the rule's configured margin; never above 100%, which a value
 * can reach (a target of 100% resolves at 100%). */
static int64_t resolve_line(const struct ow_rule_conf *rule, const struct perf_level *lv,
                            int64_t level)
{
    int64_t margin = isnan(rule->resolve) ? (lv->target - lv->minimum) / 10
                                          : llround(rule->resolve * LEVEL_UNITS);

    return level + margin < FULL ? level + margin : FULL;
}

static struct perf_key *key_get(struct perf_ctx *c, const char *measure, size_t mlen,
                                const char *provider, size_t plen, bool create)
{
    size_t len = mlen + 1 + plen; /* the key: "measure\0provider" */
    char *name = ow_xmalloc(len + 1);
    struct perf_key *k;
    bool created = false;

    memcpy(name, measure, mlen);
    name[mlen] = '\0';
    memcpy(name + mlen + 1, provider, plen);
    name[len] = '\0';
    k = create ? ow_strmap_upsert(c->keys, name, len, &created) : ow_strmap_get(c->keys, name, len);
    if (created) {
        k->measure = ow_xstrdup(name);
        k->provider = ow_xstrdup(name + mlen + 1);
        k->level = level_of(c->conf, k->measure, k->provider);
        if (k->level != NULL) {
            k->resolve[BELOW_TARGET] =
                resolve_line(&c->conf->rules.below_target, k->level, k->level->target);
            k->resolve[BELOW_MINIMUM] =
                resolve_line(&c->conf->rules.below_minimum, k->level, k->level->minimum);
        }
    }
    free(name);
    return k;
}

/* The index of @month's cell in @k, or of where it would go. */
static size_t cell_index(const struct perf_key *k, int month)
{
    size_t lo = 0;
    size_t hi = k->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (k->cells[mid].month < month) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static const struct perf_cell *cell_find(const struct perf_key *k, int month)
{
    size_t i = cell_index(k, month);

    return i < k->n && k->cells[i].month == month ? &k->cells[i] : NULL;
}

/* @month's cell, created (zeroed) if absent and @create. Cells move when one is added. */
static struct perf_cell *cell_get(struct perf_key *k, int month, bool create)
{
    size_t i = cell_index(k, month);

    if (i < k->n && k->cells[i].month == month) {
        return &k->cells[i];
    }
    if (!create) {
        return NULL;
    }
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 8;
        k->cells = ow_xrealloc(k->cells, k->cap * sizeof(*k->cells));
    }
    memmove(&k->cells[i + 1], &k->cells[i], (k->n - i) * sizeof(*k->cells));
    memset(&k->cells[i], 0, sizeof(*k->cells));
    k->cells[i].month = month;
    k->n++;
    return &k->cells[i];
}

/* Months in [from, to] in which @k had data, and in which it was below target. */
static void count_months(const struct perf_key *k, int from, int to, int *observed, int *below)
{
    *observed = 0;
    *below = 0;
    for (size_t i = cell_index(k, from); i < k->n && k->cells[i].month <= to; i++) {
        if (k->cells[i].total > 0) {
            (*observed)++;
            *below += below_target(k, &k->cells[i]);
        }
    }
}

/* ---- alerts ---- */

static void month_text(int month, char *buf, size_t len)
{
    snprintf(buf, len, "%s %d", month_names[month % 12], month / 12);
}

static void observe(const struct perf_ctx *c, const struct perf_key *k, const char *rule,
                    const struct ow_rule_conf *conf, int month, bool breach, bool recovered,
                    double value, double threshold, const char *unit, const char *message,
                    int64_t event_us)
{
    struct ow_alert_dim dims[2] = {{"measure", k->measure}, {"provider", k->provider}};
    struct ow_alert_obs obs = {
        .rule = rule,
        .conf = conf,
        .window = {OW_WIN_MONTH, month},
        .dims = dims,
        .ndims = 2,
        .breach = breach,
        .recovered = recovered,
        .value = value,
        .threshold = threshold,
        .unit = unit,
        .message = message,
        .event_us = event_us,
    };

    ow_alerts_observe(c->env.alerts, &obs);
}

/* measure_below_target / measure_below_minimum for one cell. The month-to-date value is
 * judged once the month has min_units units, and whatever its units once it has closed. The
 * alert engine hears only changes between breach, recovered and the band between them. */
static void judge_level(const struct perf_ctx *c, const struct perf_key *k, struct perf_cell *cell,
                        enum which which, bool closed, int64_t event_us)
{
    static const char *const rules[2] = {"measure_below_target", "measure_below_minimum"};
    static const char *const names[2] = {"Target", "Minimum"};
    const struct ow_rule_conf *conf =
        which == BELOW_TARGET ? &c->conf->rules.below_target : &c->conf->rules.below_minimum;
    bool judged =
        k->level != NULL && cell->total > 0 && (closed || cell->total >= c->conf->min_units);
    int64_t level;
    bool breach;
    bool recovered;
    uint8_t now;
    double pct;
    char month[32];
    char msg[512];

    if (!judged || !conf->enabled) {
        return;
    }
    level = which == BELOW_TARGET ? k->level->target : k->level->minimum;
    breach = !at_or_above(cell->met, cell->total, level);
    recovered = at_or_above(cell->met, cell->total, k->resolve[which]);
    now = breach ? SAID_BREACH : recovered ? SAID_QUIET : SAID_HOLDING;
    if (now == SAID_HOLDING && cell->said[which] == SAID_QUIET) {
        now = SAID_QUIET; /* in the band without having breached: nothing to say */
    }
    if (now == cell->said[which]) {
        return;
    }
    cell->said[which] = now;
    pct = 100.0 * (double)cell->met / (double)cell->total;
    month_text(cell->month, month, sizeof(month));
    snprintf(msg, sizeof(msg), "%s (%s) %s %.1f%% in %s%s, against its %s Service Level of %g%%",
             k->measure, k->provider, breach ? "is at" : "is back to", pct, month,
             closed ? "" : " to date", names[which], (double)level / LEVEL_UNITS);
    observe(c, k, rules[which], conf, cell->month, breach, recovered, pct,
            (double)level / LEVEL_UNITS, "percent", msg, event_us);
}

/* measure_repeat_breach for @k as of the close of @month. */
static void judge_repeat(const struct perf_ctx *c, const struct perf_key *k, int month,
                         int64_t event_us)
{
    const struct ow_rule_conf *conf = &c->conf->rules.repeat_breach;
    int m = (int)c->conf->repeat_months;
    double resolve = isnan(conf->resolve) ? conf->threshold - 1 : conf->resolve;
    int observed;
    int below;
    char text[32];
    char msg[512];

    if (k->level == NULL || !conf->enabled) {
        return;
    }
    count_months(k, month - m + 1, month, &observed, &below);
    month_text(month, text, sizeof(text));
    snprintf(msg, sizeof(msg),
             "%s (%s) was below its Target Service Level in %d of the %d months to %s", k->measure,
             k->provider, below, m, text);
    observe(c, k, "measure_repeat_breach", conf, month, below >= conf->threshold, below <= resolve,
            below, conf->threshold, "months", msg, event_us);
}

/* Month @month closes: the level rules judge it whatever its units, and the repeat rule
 * counts the closed months up to it. */
static void close_month(struct perf_ctx *c, int month)
{
    struct ow_strmap_entry *e = ow_strmap_sorted(c->keys);
    int64_t at = close_at(c, month);

    for (size_t i = 0; e != NULL && i < ow_strmap_count(c->keys); i++) {
        struct perf_key *k = e[i].value;
        struct perf_cell *cell = cell_get(k, month, false);

        if (cell != NULL) {
            judge_level(c, k, cell, BELOW_TARGET, true, at);
            judge_level(c, k, cell, BELOW_MINIMUM, true, at);
        }
        judge_repeat(c, k, month, at);
    }
    free(e);
}

/* ---- the processor ---- */

static const char *const perf_types[] = {"measurement", NULL};

static int check_conf(const struct perf_conf *conf, const struct ow_config *cfg, struct ow_err *err)
{
    int64_t history = cfg->history_months;
    char base[128];
    const struct ow_rule_conf *levels[2] = {&conf->rules.below_target, &conf->rules.below_minimum};
    static const char *const names[2] = {"measure_below_target", "measure_below_minimum"};
    const struct ow_rule_conf *rep = &conf->rules.repeat_breach;
    char where[192];

    snprintf(base, sizeof(base), "%.60s: $.processors.performance",
             cfg->file ? cfg->file : "config");
    if (conf->repeat_months > history) {
        snprintf(where, sizeof(where), "%s.repeat_months", base);
        return ow_err_set(err, OW_EINVAL, where,
                          "expected at most history_months (%" PRId64 "), got %" PRId64, history,
                          conf->repeat_months);
    }
    for (int i = 0; i < 2; i++) {
        if (levels[i]->threshold != 0) {
            snprintf(where, sizeof(where), "%s.rules.%s.threshold", base, names[i]);
            return ow_err_set(err, OW_EINVAL, where,
                              "not used: the lines are each measure's levels (targets); leave it "
                              "out");
        }
        if (!isnan(levels[i]->resolve) && (levels[i]->resolve < 0 || levels[i]->resolve > 100)) {
            snprintf(where, sizeof(where), "%s.rules.%s.resolve", base, names[i]);
            return ow_err_set(err, OW_EINVAL, where,
                              "expected null or percentage points above the level 0..100, got %g",
                              levels[i]->resolve);
        }
    }
    if (rep->threshold != floor(rep->threshold) || rep->threshold < 1 ||
        rep->threshold > (double)conf->repeat_months) {
        snprintf(where, sizeof(where), "%s.rules.measure_repeat_breach.threshold", base);
        return ow_err_set(err, OW_EINVAL, where,
                          "expected an integer 1..repeat_months (%" PRId64 "), got %g",
                          conf->repeat_months, rep->threshold);
    }
    if (!isnan(rep->resolve) && (rep->resolve != floor(rep->resolve) || rep->resolve < 0 ||
                                 rep->resolve >= rep->threshold)) {
        snprintf(where, sizeof(where), "%s.rules.measure_repeat_breach.resolve", base);
        return ow_err_set(err, OW_EINVAL, where,
                          "expected null or an integer 0..%g (below the threshold), got %g",
                          rep->threshold - 1, rep->resolve);
    }
    return OW_OK;
}

static int perf_init(void **ctx, const struct ow_proc_env *env, const void *conf,
                     struct ow_err *err)
{
    const struct perf_conf *pc = conf;
    struct perf_ctx *c;
    int rc;

    rc = check_conf(pc, env->cfg, err);
    if (rc != OW_OK) {
        return rc;
    }
    c = ow_xcalloc(1, sizeof(*c));
    c->env = *env;
    c->conf = pc;
    c->keys = ow_strmap_create(sizeof(struct perf_key));
    c->history = (int)env->cfg->history_months;
    c->watermark_us = INT64_MIN;
    c->next_close = INT_MAX;
    c->last_month = INT_MIN;
    c->cached_month = INT_MAX;
    c->cached_close_at = INT64_MAX;
    /* Configured measures with their own provider are reported from the first snapshot. */
    for (size_t i = 0; i < pc->targets.n; i++) {
        const struct perf_level *lv = &pc->targets.v[i];

        if (strcmp(lv->provider, WILDCARD) != 0) {
            key_get(c, lv->measure, strlen(lv->measure), lv->provider, strlen(lv->provider), true)
                ->pinned = true;
        }
    }
    *ctx = c;
    return OW_OK;
}

static void free_key(void *v)
{
    struct perf_key *k = v;

    free(k->measure);
    free(k->provider);
    free(k->cells);
}

static void perf_destroy(void *ctx)
{
    struct perf_ctx *c = ctx;

    if (c == NULL) {
        return;
    }
    ow_strmap_destroy(c->keys, free_key);
    free(c);
}

/* Month @month's figures changed in a way that changes the history counts of later months:
 * those windows get a new revision, and the repeat rule re-judges the closed ones. */
static void history_changed(struct perf_ctx *c, const struct perf_key *k, int month,
                            bool below_flipped, int64_t event_us)
{
    int last = month + c->history - 1 < c->last_month ? month + c->history - 1 : c->last_month;

    for (int m = month + 1; m <= last; m++) {
        ow_engine_window_touched(c->env.eng, (struct ow_window_id){OW_WIN_MONTH, m});
    }
    if (!below_flipped) {
        return;
    }
    for (int m = month; m < month + c->conf->repeat_months && is_closed(c, m); m++) {
        int64_t at = close_at(c, m);

        judge_repeat(c, k, m, event_us > at ? event_us : at);
    }
}

static int perf_apply(void *ctx, const struct ow_event *ev, struct ow_sink *out, struct ow_err *err)
{
    struct perf_ctx *c = ctx;
    int month = ow_tz_month_of(c->env.tz, ev->occurred_us);
    struct perf_key *k =
        key_get(c, ev->measure.p, ev->measure.len, ev->provider.p, ev->provider.len, false);
    struct perf_cell *cell = k ? cell_get(k, month, false) : NULL;
    int64_t met = ev->met;
    int64_t total = ev->total;
    bool was_observed;
    bool was_below;
    bool closed;

    (void)out;
    /* Checked before anything changes: a rejected event leaves no trace. */
    if (cell != NULL && __builtin_add_overflow(cell->total, ev->total, &total)) {
        return ow_err_set(err, OW_ESCHEMA, "measurement: field 'total'",
                          "the month's sum would overflow 64 bits");
    }
    if (cell != NULL && __builtin_add_overflow(cell->met, ev->met, &met)) {
        return ow_err_set(err, OW_ESCHEMA, "measurement: field 'met'",
                          "the month's sum would overflow 64 bits");
    }
    if (k == NULL) {
        k = key_get(c, ev->measure.p, ev->measure.len, ev->provider.p, ev->provider.len, true);
    }
    cell = cell_get(k, month, true);
    was_observed = cell->total > 0;
    was_below = below_target(k, cell);
    cell->met = met;
    cell->total = total;
    closed = is_closed(c, month);
    if (month > c->last_month) {
        c->last_month = month;
    }
    if (month < c->next_close && !closed) {
        c->next_close = month; /* months before it are closed, or have not been seen */
    }
    judge_level(c, k, cell, BELOW_TARGET, closed, ev->occurred_us);
    judge_level(c, k, cell, BELOW_MINIMUM, closed, ev->occurred_us);
    if (!was_observed || was_below != below_target(k, cell)) {
        history_changed(c, k, month, was_below != below_target(k, cell), ev->occurred_us);
    }
    return OW_OK;
}

static void perf_on_watermark(void *ctx, int64_t watermark_us, struct ow_sink *out)
{
    struct perf_ctx *c = ctx;

    (void)out;
    c->watermark_us = watermark_us;
    while (c->next_close <= c->last_month && next_close_at(c) <= watermark_us) {
        close_month(c, c->next_close);
        c->next_close++;
    }
}

/* The engine closes a window: at the end of replay input (--close-all) no watermark passes the
 * close instants, so the months up to @w are judged here as the watermark would have. */
static void perf_on_close(void *ctx, struct ow_window_id w, struct ow_sink *out)
{
    struct perf_ctx *c = ctx;

    (void)out;
    while (c->next_close <= w.index && c->next_close <= c->last_month) {
        close_month(c, c->next_close);
        c->next_close++;
    }
}

/* A row's status. A month without data has no value to compare, so its status is null, as
 * its percent is: "met" would claim what nobody measured, and below_* would raise a breach
 * nobody measured either (no_target would deny the configured levels). */
static json_t *status_of(const struct perf_key *k, const struct perf_cell *cell)
{
    if (k->level == NULL) {
        return json_string("no_target");
    }
    if (cell == NULL || cell->total == 0) {
        return json_null();
    }
    if (!at_or_above(cell->met, cell->total, k->level->minimum)) {
        return json_string("below_minimum"); /* and so below target as well */
    }
    if (!at_or_above(cell->met, cell->total, k->level->target)) {
        return json_string("below_target");
    }
    return json_string("met");
}

static json_t *level_json(const struct perf_key *k, bool target)
{
    if (k->level == NULL) {
        return json_null();
    }
    return json_real((double)(target ? k->level->target : k->level->minimum) / LEVEL_UNITS);
}

/* The rows of month @w: every configured (measure, provider) with its own provider, and every
 * other pair that had data within the history up to @w; sorted by (measure, provider), which
 * is the order of the "measure\0provider" keys. The history counts include @w itself as it
 * stands (see the report: a processor cannot tell an open snapshot from a final one). */
static json_t *perf_snapshot(void *ctx, struct ow_window_id w)
{
    struct perf_ctx *c = ctx;
    struct ow_strmap_entry *e = ow_strmap_sorted(c->keys);
    json_t *rows = json_array();

    for (size_t i = 0; e != NULL && i < ow_strmap_count(c->keys); i++) {
        const struct perf_key *k = e[i].value;
        const struct perf_cell *cell = cell_find(k, w.index);
        int64_t met = cell ? cell->met : 0;
        int64_t total = cell ? cell->total : 0;
        int observed;
        int below;
        json_t *row;

        count_months(k, w.index - c->history + 1, w.index, &observed, &below);
        if (!k->pinned && observed == 0) {
            continue;
        }
        row = json_object();
        json_object_set_new(row, "measure", json_string(k->measure));
        json_object_set_new(row, "provider", json_string(k->provider));
        json_object_set_new(row, "met", json_integer((json_int_t)met));
        json_object_set_new(row, "total", json_integer((json_int_t)total));
        json_object_set_new(row, "percent",
                            total > 0 ? json_real(100.0 * (double)met / (double)total)
                                      : json_null());
        json_object_set_new(row, "target", level_json(k, true));
        json_object_set_new(row, "minimum", level_json(k, false));
        json_object_set_new(row, "status", status_of(k, cell));
        json_object_set_new(row, "months_below_target", json_integer(below));
        json_object_set_new(row, "months_observed", json_integer(observed));
        json_array_append_new(rows, row);
    }
    free(e);
    return json_pack("{s:o}", "measures", rows);
}

/* Window @w's retention passed: no window before @w + 1 will be reported again, and the
 * earliest month any later window (or the repeat rule, repeat_months <= history_months) reads
 * is (@w + 1) - history_months + 1. Older cells go, and so do pairs left with none that the
 * configuration does not pin. */
static void perf_expire(void *ctx, struct ow_window_id w)
{
    struct perf_ctx *c = ctx;
    struct ow_strmap_entry *e = ow_strmap_sorted(c->keys);
    size_t n = ow_strmap_count(c->keys);
    int keep_from = w.index - c->history + 2;

    for (size_t i = 0; e != NULL && i < n; i++) {
        struct perf_key *k = e[i].value;
        size_t drop = cell_index(k, keep_from);

        if (drop > 0) {
            memmove(k->cells, k->cells + drop, (k->n - drop) * sizeof(*k->cells));
            k->n -= drop;
        }
        if (k->n == 0 && !k->pinned) {
            ow_strmap_remove(c->keys, e[i].key, e[i].len, free_key);
        }
    }
    free(e);
}

/* ---- save and restore ---- */

/* {"v": 1, "watermark_us", "next_close", "last_month", "keys": [[measure, provider, [[month,
 * met, total, said below_target, said below_minimum], ...]], ...]}: the pairs with cells, in
 * key order, cells ascending. A pair's level, resolve lines and pinning follow from the
 * configuration; pinned pairs without cells are made by init. */
static json_t *perf_save(void *ctx)
{
    struct perf_ctx *c = ctx;
    struct ow_strmap_entry *e = ow_strmap_sorted(c->keys);
    json_t *keys = json_array();

    for (size_t i = 0; e != NULL && i < ow_strmap_count(c->keys); i++) {
        const struct perf_key *k = e[i].value;
        json_t *cells = json_array();

        if (k->n == 0) {
            json_decref(cells);
            continue;
        }
        for (size_t j = 0; j < k->n; j++) {
            const struct perf_cell *cell = &k->cells[j];

            json_array_append_new(cells,
                                  json_pack("[i, I, I, i, i]", cell->month, (json_int_t)cell->met,
                                            (json_int_t)cell->total, cell->said[BELOW_TARGET],
                                            cell->said[BELOW_MINIMUM]));
        }
        json_array_append_new(keys, json_pack("[s, s, o]", k->measure, k->provider, cells));
    }
    free(e);
    return json_pack("{s:i, s:I, s:i, s:i, s:o}", "v", 1, "watermark_us",
                     (json_int_t)c->watermark_us, "next_close", c->next_close, "last_month",
                     c->last_month, "keys", keys);
}

/* @j as an integer in [lo, hi]. */
static bool int_in(const json_t *j, int64_t lo, int64_t hi, int64_t *out)
{
    if (!json_is_integer(j) || json_integer_value(j) < lo || json_integer_value(j) > hi) {
        return false;
    }
    *out = json_integer_value(j);
    return true;
}

static int cells_restore(struct perf_key *k, const json_t *cells, const char *where,
                         struct ow_err *err)
{
    size_t i;
    json_t *jc;

    json_array_foreach(cells, i, jc)
    {
        int64_t f[5];
        bool ok = json_array_size(jc) == 5;
        struct perf_cell *cell;

        ok = ok && int_in(json_array_get(jc, 0), 0, INT_MAX, &f[0]);
        ok = ok && int_in(json_array_get(jc, 1), 0, INT64_MAX, &f[1]);
        ok = ok && int_in(json_array_get(jc, 2), f[1], INT64_MAX, &f[2]);
        ok = ok && int_in(json_array_get(jc, 3), SAID_QUIET, SAID_HOLDING, &f[3]);
        ok = ok && int_in(json_array_get(jc, 4), SAID_QUIET, SAID_HOLDING, &f[4]);
        if (!ok) {
            return ow_err_set(err, OW_EINVAL, where,
                              "cell %zu: expected [month, met >= 0, total >= met, said 0..2, "
                              "said 0..2]",
                              i);
        }
        if (k->n > 0 && k->cells[k->n - 1].month >= f[0]) {
            return ow_err_set(err, OW_EINVAL, where, "cell %zu: months must ascend", i);
        }
        cell = cell_get(k, (int)f[0], true); /* the last: appended */
        cell->met = f[1];
        cell->total = f[2];
        cell->said[BELOW_TARGET] = (uint8_t)f[3];
        cell->said[BELOW_MINIMUM] = (uint8_t)f[4];
    }
    return OW_OK;
}

static int perf_restore(void *ctx, const json_t *state, struct ow_err *err)
{
    struct perf_ctx *c = ctx;
    const json_t *keys = json_object_get(state, "keys");
    static const char where[] = "state: processors.performance";
    char at[256];
    int64_t watermark;
    int64_t next_close;
    int64_t last_month;
    size_t i;
    json_t *jk;
    int rc;

    if (!json_is_object(state) || json_integer_value(json_object_get(state, "v")) != 1) {
        return ow_err_set(err, OW_EINVAL, where, "expected a state object of version 1 (\"v\": 1)");
    }
    if (!int_in(json_object_get(state, "watermark_us"), INT64_MIN, INT64_MAX, &watermark) ||
        !int_in(json_object_get(state, "next_close"), INT_MIN, INT_MAX, &next_close) ||
        !int_in(json_object_get(state, "last_month"), INT_MIN, INT_MAX, &last_month) ||
        !json_is_array(keys)) {
        return ow_err_set(err, OW_EINVAL, where,
                          "expected integers watermark_us, next_close, last_month and an array "
                          "keys");
    }
    json_array_foreach(keys, i, jk)
    {
        const char *measure = json_string_value(json_array_get(jk, 0));
        const char *provider = json_string_value(json_array_get(jk, 1));
        const json_t *cells = json_array_get(jk, 2);
        struct perf_key *k;

        snprintf(at, sizeof(at), "%s.keys[%zu]", where, i);
        if (json_array_size(jk) != 3 || measure == NULL || provider == NULL ||
            !json_is_array(cells) || json_array_size(cells) == 0) {
            return ow_err_set(err, OW_EINVAL, at,
                              "expected [measure, provider, [cell, ...]] with at least one "
                              "cell");
        }
        k = key_get(c, measure, strlen(measure), provider, strlen(provider), true);
        if (k->n != 0) {
            return ow_err_set(err, OW_EINVAL, at, "(%.40s, %.40s) appears twice", measure,
                              provider);
        }
        rc = cells_restore(k, cells, at, err);
        if (rc != OW_OK) {
            return rc;
        }
    }
    c->watermark_us = watermark;
    c->next_close = (int)next_close;
    c->last_month = (int)last_month;
    return OW_OK;
}

const struct ow_processor ow_performance_processor = {
    .abi = OW_PROCESSOR_ABI,
    .name = "performance",
    .report = "performance",
    .kind = OW_WIN_MONTH,
    .sec_ref = "H13.4",
    .due_working_days = 25,
    .event_types = perf_types,
    .conf = perf_conf_map,
    .conf_size = sizeof(struct perf_conf),
    .init = perf_init,
    .apply = perf_apply,
    .on_watermark = perf_on_watermark,
    .on_close = perf_on_close,
    .snapshot = perf_snapshot,
    .expire = perf_expire,
    .save = perf_save,
    .restore = perf_restore,
    .destroy = perf_destroy,
};
