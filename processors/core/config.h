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

#include "conf.h"
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

struct ow_config {
    char *file; /* name used in messages */
    char *dir;  /* folder of the file, for relative paths */
    char *timezone;
    char *calendar; /* path ("" = the built-in calendar) */
    struct ow_config_windows windows;
    struct ow_config_dedup dedup;
    struct ow_config_entities entities;
    int64_t history_months;
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

/** Print the documented keys of the whole configuration. */
void ow_config_explain(FILE *out);

#endif
