/* alert.h: the alert engine: pending / firing / resolved with `for` and hysteresis, and
 * deterministic ids, shared by every rule.
 *
 * A rule evaluates its own condition and calls ow_alerts_observe() whenever the value it
 * watches changes (or the watermark passes a deadline). The alert engine keeps one state per
 * alert id and publishes a record on each change of state or severity, never again for an
 * unchanged condition. Time is event time: `for` is measured against the times given to
 * observe() and ow_alerts_on_watermark(). */
#ifndef OW_ALERT_H
#define OW_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "conf.h"
#include "sink.h"
#include "window.h"

struct ow_alerts;

/* The configuration every rule shares. Thresholds mean what the rule says (a percentage of
 * forecast, a count, a share); resolve is where a firing alert resolves (hysteresis). */
struct ow_rule_conf {
    bool enabled;
    char *severity; /* "info", "warning", "critical" */
    int64_t for_us; /* the condition must hold this long (event time) before firing */
    double threshold;
    double resolve; /* NaN in config = the rule's default (fire threshold moved back by a
                       tenth of the band) */
};

/* Config map entries for a rule; @def_* are JSON texts. Use inside a processor's map:
 *   OW_CONF_SUB("csr_forecast_exceeded", struct csr_conf, exceeded, ow_rule_conf_map_110, ...) */
extern const struct ow_conf_field ow_rule_conf_map[];

/* For rules with maps of their own: the shared "severity" key. */
void ow_rule_parse_severity(const json_t *v, void *dst, const char *path,
                            struct ow_conf_errors *errs);
void ow_rule_free_severity(void *dst);
#define OW_RULE_SEVERITY_FIELD(st, m, def)                                                         \
    OW_CONF_CUSTOM_SCHEMA("severity", st, m, ow_rule_parse_severity, ow_rule_free_severity,        \
                          "\"info\" | \"warning\" | \"critical\"", def,                            \
                          "severity of the alert's records", OW_RULE_SEVERITY_SCHEMA)

/* JSON Schemas of the shared rule keys, for rules with maps of their own. */
#define OW_RULE_SEVERITY_SCHEMA "{\"enum\": [\"info\", \"warning\", \"critical\"]}"
#define OW_RULE_RESOLVE_SCHEMA "{\"type\": [\"number\", \"null\"]}"

/* One dimension of an alert ("party_id" = "SUP-0042"). */
struct ow_alert_dim {
    const char *key;
    const char *value;
};

enum ow_alert_state { OW_ALERT_INACTIVE, OW_ALERT_PENDING, OW_ALERT_FIRING, OW_ALERT_RESOLVED };

/* What a rule observed. Strings are borrowed for the call. */
struct ow_alert_obs {
    const char *rule;
    const struct ow_rule_conf *conf;
    struct ow_window_id window;
    const struct ow_alert_dim *dims; /* any order; sorted by key for the id */
    size_t ndims;
    bool breach;    /* the fire condition holds */
    bool recovered; /* the value is back past the resolve threshold */
    double value;
    double threshold;
    const char *unit;    /* "percent_of_forecast", "count", "percent", "hours" ... */
    const char *message; /* for people */
    int64_t event_us;    /* event time of the observation */
};

/** An alert engine publishing on @sink (borrowed). Never NULL. */
struct ow_alerts *ow_alerts_create(struct ow_sink *sink);

/** Free; NULL is a no-op. */
void ow_alerts_destroy(struct ow_alerts *a);

/** The wall clock for "raised_at" (the daemon's or the CLI's; 0 writes null). */
void ow_alerts_set_wall_clock(struct ow_alerts *a, int64_t now_us);

/** Observe a rule's condition; publishes when the state (or severity) changes.
 * A disabled rule (conf->enabled false) does nothing. @returns the alert's state after. */
enum ow_alert_state ow_alerts_observe(struct ow_alerts *a, const struct ow_alert_obs *obs);

/** Event time moved to @us: pending alerts whose `for` has elapsed (condition still holding)
 * fire. */
void ow_alerts_on_watermark(struct ow_alerts *a, int64_t us);

/** The current state of an alert id (OW_ALERT_INACTIVE if unknown). */
enum ow_alert_state ow_alerts_state(const struct ow_alerts *a, const char *alert_id);

/** Build the alert id "<rule>/<window>/<k=v,...>" (dims sorted by key; '%', '/', ',', '='
 * in values percent-encoded) into @buf. @returns its length. */
size_t ow_alert_id(const char *rule, struct ow_window_id w, const struct ow_alert_dim *dims,
                   size_t ndims, char *buf, size_t len);

/** The alerts that fired in window @w (firing or later resolved), as a new JSON array of their
 * latest records, sorted by alert_id. */
json_t *ow_alerts_of_window(const struct ow_alerts *a, struct ow_window_id w);

/** The latest record of every alert whose current state is @state ("pending", "firing",
 * "resolved"; NULL: all), as a new JSON array sorted by alert_id. */
json_t *ow_alerts_list(const struct ow_alerts *a, const char *state);

/** Every alert's current state as JSON (new reference), and back: a save and restore of the
 * engine keeps alert state. */
json_t *ow_alerts_save(const struct ow_alerts *a);
int ow_alerts_restore(struct ow_alerts *a, const json_t *saved);

/** Counters: records published per state. */
void ow_alerts_counts(const struct ow_alerts *a, uint64_t out[4]);

/** The same per rule, for the rules that published at least once, sorted by rule; counts are
 * indexed by enum ow_alert_state. (Counters of this process: not saved.) */
void ow_alerts_rule_counts(const struct ow_alerts *a,
                           void (*fn)(const char *rule, const uint64_t counts[4], void *arg),
                           void *arg);

/** Hand @from's counters (ow_alerts_counts, ow_alerts_rule_counts) over to @to, which had
 * published nothing: a reload rebuilds the engine, and the process's counters go on. */
void ow_alerts_move_counts(struct ow_alerts *to, struct ow_alerts *from);

#endif
