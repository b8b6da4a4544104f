/* threshold.h: the generic `threshold` alert rule: any figure of any report, a comparison and
 * a value, configured as a list ("threshold_rules" at the top of the configuration):
 *
 *   {"name": "north_sr_volume", "report": "sr_variance", "metric": "by_region/north",
 *    "op": ">=", "value": 1000000, "severity": "info"}
 *
 * metric is a '/'-separated path into the report object of the snapshot (service references
 * contain dots). The rule is judged in the window of each event its report consumes, at that
 * event, so it fires at the crossing event; its alert id is threshold/<window>/name=<name>.
 * Judging builds the report's snapshot object, so it costs what a snapshot costs, per event
 * of that report: configure it for low-volume reports, or accept the cost knowingly. */
#ifndef OW_THRESHOLD_H
#define OW_THRESHOLD_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "alert.h"
#include "conf.h"
#include "window.h"

enum ow_threshold_op { OW_OP_GT, OW_OP_GE, OW_OP_LT, OW_OP_LE, OW_OP_EQ, OW_OP_NE };

struct ow_threshold_rule {
    char *name;
    char *report;
    char *metric;
    enum ow_threshold_op op;
    double value;
    struct ow_rule_conf rule; /* enabled, severity, for; resolve: the value back past which a
                                 firing alert resolves (NaN: as soon as the comparison fails) */
};

struct ow_threshold_rules {
    struct ow_threshold_rule *items;
    size_t count;
};

/* The config entry ("threshold_rules": [...]) for struct ow_config. */
void ow_threshold_rules_parse(const json_t *v, void *dst, const char *path,
                              struct ow_conf_errors *errs);
void ow_threshold_rules_free(void *dst);
#define OW_THRESHOLD_RULES_SCHEMA                                                                  \
    "{\"type\": \"array\", \"items\": {\"type\": \"object\", \"required\": [\"name\", "            \
    "\"report\", \"metric\", \"value\"], \"properties\": {\"name\": {\"type\": \"string\"}, "      \
    "\"report\": {\"type\": \"string\"}, \"metric\": {\"type\": \"string\"}, \"op\": {\"enum\": "  \
    "[\">\", \">=\", \"<\", \"<=\", \"==\", \"!=\"]}, \"value\": {\"type\": \"number\"}, "         \
    "\"enabled\": {\"type\": \"boolean\"}, \"severity\": {\"enum\": [\"info\", \"warning\", "      \
    "\"critical\"]}, \"for\": {\"type\": \"string\"}, \"resolve\": {\"type\": [\"number\", "       \
    "\"null\"]}, \"$comment\": {\"type\": \"string\"}}, \"additionalProperties\": false}}"

/** Judge every rule on @report in window @w against @rep (the report object, borrowed), at
 * event time @event_us. */
void ow_threshold_judge(const struct ow_threshold_rules *rules, struct ow_alerts *alerts,
                        const char *report, struct ow_window_id w, const json_t *rep,
                        int64_t event_us);

/** True when some enabled rule watches @report. */
bool ow_threshold_watches(const struct ow_threshold_rules *rules, const char *report);

#endif
