/* config.h: the whole configuration of opswatch, loaded and checked in one go.
 *
 * The top-level map lives in config.c; each processor contributes its own map under
 * "$.processors.<name>" (processor.h). Every error names the file, the JSON path and what was
 * expected; all errors are collected, not just the first. */
#ifndef OW_CONFIG_H
#define OW_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "alert.h"
#include "conf.h"
#include "threshold.h"
#include "window.h"

struct ow_processor;

struct ow_config_windows {
    int64_t allowed_disorder_us;
    struct ow_grace grace;
    int64_t retention_windows;
    int64_t future_limit_us;
};

struct ow_config_dedup {
    int64_t span_us;
    int64_t max_bytes;
};

struct ow_config_entities {
    int64_t hold_us;
};

/* A list of strings from a JSON array. */
struct ow_strlist {
    char **items;
    size_t count;
};

/* Ordered key/value strings from a JSON object (librdkafka properties). */
struct ow_strpairs {
    char **keys;
    char **values;
    size_t count;
};

struct ow_config_kafka {
    char *brokers;
    char *group_id;
    struct ow_strlist input_topics;
    struct ow_strpairs properties; /* passed to librdkafka as they are (SASL, SSL, client.id...) */
    int64_t batch_max;             /* messages drained per loop turn */
    bool exactly_once;
    bool static_membership; /* group.instance.id from the host and the state folder */
};

struct ow_config_outputs {
    char *alerts;
    char *aggregates;
    char *deadletter;
    char *snapshots;
};

struct ow_config_live {
    int64_t aggregate_interval_us; /* aggregate updates at most this often per key */
    int64_t idle_interval_us;      /* quiet input this long: the wall clock moves the watermark */
    int64_t stale_after_us;        /* input_stale: no event of a type (or on a topic) this long */
    char *state_dir;
    int64_t checkpoint_interval_us;
    struct ow_rule_conf input_stale; /* the input_stale rule (threshold: stale_after) */
};

struct ow_config_http {
    char *listen; /* "127.0.0.1:8080"; "" disables */
};

struct ow_config {
    char *file; /* name used in messages */
    char *dir;  /* folder of the file, for relative paths */
    char *timezone;
    char *calendar; /* path ("" = the built-in calendar) */
    struct ow_config_windows windows;
    struct ow_config_dedup dedup;
    struct ow_config_entities entities;
    int64_t history_months;
    struct ow_config_kafka kafka;
    struct ow_config_outputs outputs;
    struct ow_config_live live;
    struct ow_config_http http;
    struct ow_threshold_rules threshold_rules;
    /* Per processor (same order as ow_processors[]): its filled config struct or NULL. */
    void **proc_conf;
    char *sha256; /* of the file's bytes, for snapshots' "producer" */
};

/** Load and check @path ("-" is not allowed; NULL or "" loads the built-in default.json).
 * @returns the config, or NULL with every problem in @errs. */
struct ow_config *ow_config_load(const char *path, struct ow_conf_errors **errs);

/** Check a parsed document (borrowed) named @file; @dir resolves relative paths. */
struct ow_config *ow_config_from_json(const json_t *doc, const char *file, const char *dir,
                                      const char *sha256, struct ow_conf_errors *errs);

/** Free; NULL is a no-op. */
void ow_config_destroy(struct ow_config *cfg);

/** The filled config struct of processor @p (borrowed), or NULL. */
const void *ow_config_proc(const struct ow_config *cfg, const struct ow_processor *p);

/* The maps of the live daemon's sections (config_live.c). */
extern const struct ow_conf_field ow_config_kafka_map[];
extern const struct ow_conf_field ow_config_outputs_map[];
extern const struct ow_conf_field ow_config_live_map[];
extern const struct ow_conf_field ow_config_http_map[];

/** Expand a configuration string: "${NAME}" anywhere is replaced by the environment variable
 * NAME, and a whole value "file:/path" by the file's contents (trailing newline dropped), so
 * secrets stay out of the file. @returns a new string, or NULL with @why set when a variable
 * is unset or the file unreadable. */
char *ow_config_expand(const char *value, char *why, size_t why_len);

/** The JSON Schema of the whole configuration, built from the same maps that check it
 * (schemas/config.schema.json is this, committed). New reference. */
json_t *ow_config_schema(void);

/** Print the documented keys of the whole configuration. */
void ow_config_explain(FILE *out);

#endif
