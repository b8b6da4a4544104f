/* threshold.c: the generic threshold rule (see threshold.h). */
#include "threshold.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "civil.h"

struct rule_text {
    char *name;
    char *report;
    char *metric;
    char *op;
    double value;
    bool enabled;
    char *severity;
    int64_t for_us;
    double resolve;
};

static void parse_resolve(const json_t *v, void *dst, const char *path, struct ow_conf_errors *errs)
{
    char got[80];

    if (json_is_null(v)) {
        *(double *)dst = NAN;
    } else if (json_is_number(v)) {
        *(double *)dst = json_number_value(v);
    } else {
        ow_conf_error(errs, path, "expected a number or null, got %s",
                      ow_conf_describe(v, got, sizeof(got)));
    }
}

static const struct ow_conf_field rule_map[] = {
    OW_CONF_STR("name", struct rule_text, name, NULL, "names the rule in its alert id"),
    OW_CONF_STR("report", struct rule_text, report, NULL, "report key: \"sr_variance\"..."),
    OW_CONF_STR("metric", struct rule_text, metric, NULL,
                "'/'-separated path into the report object: \"by_csp/csp_n\""),
    OW_CONF_STR("op", struct rule_text, op, "\">=\"", "one of > >= < <= == !="),
    OW_CONF_DOUBLE("value", struct rule_text, value, -1e300, 1e300, NULL, "the threshold"),
    OW_CONF_BOOL("enabled", struct rule_text, enabled, "true", "whether the rule runs"),
    OW_RULE_SEVERITY_FIELD(struct rule_text, severity, "\"warning\""),
    OW_CONF_DURATION("for", struct rule_text, for_us, 0, INT64_C(366) * OW_US_PER_DAY, "\"0s\"",
                     "the condition must hold this long (event time) before firing"),
    OW_CONF_CUSTOM("resolve", struct rule_text, resolve, parse_resolve, NULL, "number or null",
                   "null",
                   "a firing alert resolves once the metric is back past this value; null: as "
                   "soon as the comparison fails"),
    {0},
};

static int parse_op(const char *s, enum ow_threshold_op *op)
{
    static const char *const names[] = {">", ">=", "<", "<=", "==", "!="};

    for (int i = 0; i < 6; i++) {
        if (strcmp(s, names[i]) == 0) {
            *op = (enum ow_threshold_op)i;
            return 0;
        }
    }
    return -1;
}

void ow_threshold_rules_parse(const json_t *v, void *dst, const char *path,
                              struct ow_conf_errors *errs)
{
    struct ow_threshold_rules *rules = dst;
    char sub[300];
    char got[80];
    size_t i;
    json_t *item;

    ow_threshold_rules_free(rules);
    if (!json_is_array(v)) {
        ow_conf_error(errs, path, "expected an array of rules, got %s",
                      ow_conf_describe(v, got, sizeof(got)));
        return;
    }
    rules->items = ow_xcalloc(json_array_size(v) + 1, sizeof(*rules->items));
    json_array_foreach(v, i, item)
    {
        struct rule_text t = {0};
        struct ow_threshold_rule *r;

        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        if (!json_is_object(item)) {
            ow_conf_error(errs, sub, "expected an object, got %s",
                          ow_conf_describe(item, got, sizeof(got)));
            continue;
        }
        if (!ow_conf_fill(rule_map, item, &t, sub, errs)) {
            ow_conf_free(rule_map, &t);
            continue;
        }
        r = &rules->items[rules->count];
        if (parse_op(t.op, &r->op) != 0) {
            snprintf(sub, sizeof(sub), "%s[%zu].op", path, i);
            ow_conf_error(errs, sub, "expected one of > >= < <= == !=, got \"%s\"", t.op);
            ow_conf_free(rule_map, &t);
            continue;
        }
        r->name = ow_xstrdup(t.name);
        r->report = ow_xstrdup(t.report);
        r->metric = ow_xstrdup(t.metric);
        r->value = t.value;
        r->rule.enabled = t.enabled;
        r->rule.severity = ow_xstrdup(t.severity);
        r->rule.for_us = t.for_us;
        r->rule.threshold = t.value;
        r->rule.resolve = t.resolve;
        rules->count++;
        ow_conf_free(rule_map, &t);
    }
}

void ow_threshold_rules_free(void *dst)
{
    struct ow_threshold_rules *rules = dst;

    for (size_t i = 0; i < rules->count; i++) {
        free(rules->items[i].name);
        free(rules->items[i].report);
        free(rules->items[i].metric);
        free(rules->items[i].rule.severity);
    }
    free(rules->items);
    rules->items = NULL;
    rules->count = 0;
}

static bool compare(enum ow_threshold_op op, double a, double b)
{
    switch (op) {
    case OW_OP_GT:
        return a > b;
    case OW_OP_GE:
        return a >= b;
    case OW_OP_LT:
        return a < b;
    case OW_OP_LE:
        return a <= b;
    case OW_OP_EQ:
        return a == b;
    case OW_OP_NE:
        return a != b;
    }
    return false;
}

/* Back past the resolve value: on the other side of it from the firing direction. */
static bool recovered(const struct ow_threshold_rule *r, double v)
{
    if (isnan(r->rule.resolve)) {
        return !compare(r->op, v, r->value);
    }
    switch (r->op) {
    case OW_OP_GT:
    case OW_OP_GE:
        return v < r->rule.resolve;
    case OW_OP_LT:
    case OW_OP_LE:
        return v > r->rule.resolve;
    default:
        return !compare(r->op, v, r->value);
    }
}

static const json_t *metric_of(const json_t *rep, const char *path)
{
    char part[256];
    const json_t *v = rep;

    while (v != NULL && *path != '\0') {
        size_t n = strcspn(path, "/");

        if (n >= sizeof(part)) {
            return NULL;
        }
        memcpy(part, path, n);
        part[n] = '\0';
        v = json_is_array(v) ? json_array_get(v, (size_t)strtoul(part, NULL, 10))
                             : json_object_get(v, part);
        path += n + (path[n] == '/');
    }
    return v;
}

bool ow_threshold_watches(const struct ow_threshold_rules *rules, const char *report)
{
    for (size_t i = 0; i < rules->count; i++) {
        if (rules->items[i].rule.enabled && strcmp(rules->items[i].report, report) == 0) {
            return true;
        }
    }
    return false;
}

void ow_threshold_judge(const struct ow_threshold_rules *rules, struct ow_alerts *alerts,
                        const char *report, struct ow_window_id w, const json_t *rep,
                        int64_t event_us)
{
    static const char *const ops[] = {">", ">=", "<", "<=", "==", "!="};
    char msg[512];
    char wname[16];

    ow_window_name(w, wname, sizeof(wname));
    for (size_t i = 0; i < rules->count; i++) {
        const struct ow_threshold_rule *r = &rules->items[i];
        const json_t *m;
        struct ow_alert_dim dim = {"name", r->name};
        struct ow_alert_obs obs = {0};
        double v;

        if (!r->rule.enabled || strcmp(r->report, report) != 0) {
            continue;
        }
        m = metric_of(rep, r->metric);
        if (!json_is_number(m)) {
            continue; /* absent or null (a percentage over zero): nothing to compare */
        }
        v = json_number_value(m);
        snprintf(msg, sizeof(msg), "%s: %s %s in %s is %g (%s %g)", r->name, report, r->metric,
                 wname, v, ops[r->op], r->value);
        obs.rule = "threshold";
        obs.conf = &r->rule;
        obs.window = w;
        obs.dims = &dim;
        obs.ndims = 1;
        obs.breach = compare(r->op, v, r->value);
        obs.recovered = recovered(r, v);
        obs.value = v;
        obs.threshold = r->value;
        obs.unit = "value";
        obs.message = msg;
        obs.event_us = event_us;
        ow_alerts_observe(alerts, &obs);
    }
}
