/* config.c: the top-level configuration map, file loading and per-processor sections. */
#include "config.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "civil.h"
#include "embedded.h"
#include "processor.h"
#include "sha256.h"

/* "10wd" is ten Working Days (England and Wales); anything else is a duration ("36h"). */
static void parse_grace(const json_t *v, void *dst, const char *path, struct ow_conf_errors *errs)
{
    struct ow_grace *g = dst;
    const char *s = json_string_value(v);
    char got[80];
    char *end;
    long n;

    if (s != NULL) {
        n = strtol(s, &end, 10);
        if (end != s && strcmp(end, "wd") == 0 && n >= 0 && n <= 100 && s[0] != '-') {
            g->working_days = true;
            g->days = (int)n;
            g->duration_us = 0;
            return;
        }
        if (ow_conf_parse_duration(s, &g->duration_us) == 0 &&
            g->duration_us <= 400 * OW_US_PER_DAY) {
            g->working_days = false;
            g->days = 0;
            return;
        }
    }
    ow_conf_error(errs, path,
                  "expected Working Days such as \"10wd\" (0..100) or a duration such as "
                  "\"36h\" (at most 400d), got %s",
                  ow_conf_describe(v, got, sizeof(got)));
}

static const struct ow_conf_field windows_map[] = {
    OW_CONF_DURATION("allowed_disorder", struct ow_config_windows, allowed_disorder_us, 0,
                     30 * OW_US_PER_DAY, "\"1h\"",
                     "the watermark trails the greatest occurred_at by this much"),
    OW_CONF_CUSTOM_SCHEMA(
        "grace", struct ow_config_windows, grace, parse_grace, NULL, "\"<N>wd\" or a duration",
        "\"10wd\"",
        "how long a window stays open after its end: N Working Days in England and "
        "Wales (the whole Nth day included) or a duration",
        "{\"type\": \"string\", \"pattern\": \"^[0-9]+(wd|ms|s|m|h|d)$\"}"),
    OW_CONF_INT("retention_windows", struct ow_config_windows, retention_windows, 0, 120, "2",
                "a closed window's state is kept until this many windows of its kind past its "
                "close; later count events for it are dead letters ('window expired')"),
    OW_CONF_DURATION("future_limit", struct ow_config_windows, future_limit_us, 0,
                     365 * OW_US_PER_DAY, "\"1d\"",
                     "live mode: reject events whose occurred_at is this far ahead of the wall "
                     "clock"),
    {0},
};

static const struct ow_conf_field dedup_map[] = {
    OW_CONF_DURATION("span", struct ow_config_dedup, span_us, 0, 366 * OW_US_PER_DAY, "\"7d\"",
                     "remember event ids for this span of event time"),
    OW_CONF_INT("max_bytes", struct ow_config_dedup, max_bytes, 1 << 20, INT64_C(1) << 40,
                "1073741824",
                "memory bound of the remembered ids; past it the oldest are "
                "forgotten early (metric: dedup ids forgotten early)"),
    {0},
};

static const struct ow_conf_field entities_map[] = {
    OW_CONF_DURATION("hold", struct ow_config_entities, hold_us, 0, 366 * OW_US_PER_DAY, "\"7d\"",
                     "an entity event that arrives before the event that starts the entity "
                     "waits this long in event time"),
    {0},
};

/* The processors' sections are filled from ow_processors[] separately. */
static const struct ow_conf_field top_map[] = {
    OW_CONF_STR("timezone", struct ow_config, timezone, "\"Europe/London\"",
                "IANA zone in which months and quarters are read"),
    OW_CONF_STR("calendar", struct ow_config, calendar, "\"\"",
                "Working Day calendar in the gov.uk bank-holidays JSON format, relative to this "
                "file; \"\" uses the built-in England and Wales calendar"),
    OW_CONF_SUB("windows", struct ow_config, windows, windows_map, "{}",
                "windows, watermark and retention"),
    OW_CONF_SUB("dedup", struct ow_config, dedup, dedup_map, "{}", "duplicate event ids"),
    OW_CONF_SUB("entities", struct ow_config, entities, entities_map, "{}",
                "incidents, problems and hub returns"),
    OW_CONF_INT("history_months", struct ow_config, history_months, 1, 240, "28",
                "closed months of measure history kept (this month included)"),
    OW_CONF_SUB("kafka", struct ow_config, kafka, ow_config_kafka_map, "{}",
                "live mode: brokers, consumer group, input topics, librdkafka properties"),
    OW_CONF_SUB("outputs", struct ow_config, outputs, ow_config_outputs_map, "{}",
                "live mode: output topic names"),
    OW_CONF_SUB("live", struct ow_config, live, ow_config_live_map, "{}",
                "live mode: intervals, idle clock, stale input, state"),
    OW_CONF_SUB("http", struct ow_config, http, ow_config_http_map, "{}",
                "live mode: the HTTP endpoint"),
    OW_CONF_CUSTOM_SCHEMA("threshold_rules", struct ow_config, threshold_rules,
                          ow_threshold_rules_parse, ow_threshold_rules_free,
                          "array of {name, report, metric, op, value, severity, for, resolve}",
                          "[]",
                          "generic threshold rules: any figure of any report (metric is a "
                          "'/'-separated path into the report), a comparison and a value; alert "
                          "id threshold/<window>/name=<name>",
                          OW_THRESHOLD_RULES_SCHEMA),
    {0},
};

static size_t processor_count(void)
{
    size_t n = 0;

    while (ow_processors[n] != NULL) {
        n++;
    }
    return n;
}

static void fill_processors(struct ow_config *cfg, const json_t *section,
                            struct ow_conf_errors *errs)
{
    size_t n = processor_count();
    const char *key;
    json_t *v;
    char path[256];
    char got[80];

    cfg->proc_conf = ow_xcalloc(n + 1, sizeof(*cfg->proc_conf));
    if (section != NULL && !json_is_object(section)) {
        ow_conf_error(errs, "$.processors", "expected an object, got %s",
                      ow_conf_describe(section, got, sizeof(got)));
        section = NULL;
    }
    if (section != NULL) {
        json_object_foreach((json_t *)section, key, v)
        {
            size_t i = 0;

            if (strcmp(key, "$comment") == 0) {
                continue;
            }
            while (i < n && strcmp(ow_processors[i]->name, key) != 0) {
                i++;
            }
            if (i == n) {
                snprintf(path, sizeof(path), "$.processors.%s", key);
                ow_conf_error(errs, path, "unknown processor (known: see --explain)");
            } else if (!json_is_object(v)) {
                snprintf(path, sizeof(path), "$.processors.%s", key);
                ow_conf_error(errs, path, "expected an object, got %s",
                              ow_conf_describe(v, got, sizeof(got)));
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct ow_processor *p = ow_processors[i];
        json_t *mine = section ? json_object_get(section, p->name) : NULL;

        if (p->conf == NULL) {
            continue;
        }
        cfg->proc_conf[i] = ow_xcalloc(1, p->conf_size);
        snprintf(path, sizeof(path), "$.processors.%s", p->name);
        ow_conf_fill(p->conf, json_is_object(mine) ? mine : NULL, cfg->proc_conf[i], path, errs);
    }
}

/* A threshold rule must name a report some processor writes. */
static void check_threshold_reports(const struct ow_config *cfg, struct ow_conf_errors *errs)
{
    char path[128];

    for (size_t i = 0; i < cfg->threshold_rules.count; i++) {
        const char *report = cfg->threshold_rules.items[i].report;
        size_t p = 0;

        while (ow_processors[p] != NULL && strcmp(ow_processors[p]->report, report) != 0) {
            p++;
        }
        if (ow_processors[p] == NULL) {
            snprintf(path, sizeof(path), "$.threshold_rules[%zu].report", i);
            ow_conf_error(errs, path,
                          "expected a report key (rdp_incidents, csr_variance, "
                          "sr_variance, ch_returns, problems, performance), got "
                          "\"%.60s\"",
                          report);
        }
    }
}

struct ow_config *ow_config_from_json(const json_t *doc, const char *file, const char *dir,
                                      const char *sha256, struct ow_conf_errors *errs)
{
    struct ow_config *cfg = ow_xcalloc(1, sizeof(*cfg));
    size_t before = ow_conf_errors_count(errs);
    json_t *copy;
    char got[80];

    cfg->file = ow_xstrdup(file);
    cfg->dir = ow_xstrdup(dir ? dir : ".");
    cfg->sha256 = ow_xstrdup(sha256 ? sha256 : "");
    if (!json_is_object(doc)) {
        ow_conf_error(errs, "$", "expected an object, got %s",
                      ow_conf_describe(doc, got, sizeof(got)));
        goto out_fail;
    }
    /* The processors' sections have maps of their own; the top map must not see them. */
    copy = json_copy((json_t *)doc);
    json_object_del(copy, "processors");
    ow_conf_fill(top_map, copy, cfg, "$", errs);
    json_decref(copy);
    fill_processors(cfg, json_object_get(doc, "processors"), errs);
    check_threshold_reports(cfg, errs);
    if (ow_conf_errors_count(errs) == before) {
        return cfg;
    }
out_fail:
    ow_config_destroy(cfg);
    return NULL;
}

struct ow_config *ow_config_load(const char *path, struct ow_conf_errors **errs)
{
    struct ow_config *cfg = NULL;
    char sha[65];
    json_error_t jerr;
    json_t *doc;
    char *dircopy;
    const char *text;
    size_t len;

    if (path == NULL || path[0] == '\0') {
        text = ow_embedded_file("default.json", &len);
        *errs = ow_conf_errors_create("default.json (built in)");
        doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (doc == NULL) {
            ow_conf_error(*errs, "$", "not valid JSON: %s (line %d)", jerr.text, jerr.line);
            return NULL;
        }
        ow_sha256_hex(text, len, sha);
        cfg = ow_config_from_json(doc, "default.json (built in)", ".", sha, *errs);
        json_decref(doc);
        return cfg;
    }
    *errs = ow_conf_errors_create(path);
    doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        ow_conf_error(*errs, "$", "cannot read: %s (line %d, column %d)", jerr.text, jerr.line,
                      jerr.column);
        return NULL;
    }
    {
        char *bytes = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);

        ow_sha256_hex(bytes, strlen(bytes), sha);
        free(bytes);
    }
    dircopy = ow_xstrdup(path);
    cfg = ow_config_from_json(doc, path, dirname(dircopy), sha, *errs);
    free(dircopy);
    json_decref(doc);
    return cfg;
}

void ow_config_destroy(struct ow_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    if (cfg->proc_conf != NULL) {
        for (size_t i = 0; ow_processors[i] != NULL; i++) {
            if (cfg->proc_conf[i] != NULL) {
                ow_conf_free(ow_processors[i]->conf, cfg->proc_conf[i]);
                free(cfg->proc_conf[i]);
            }
        }
        free(cfg->proc_conf);
    }
    ow_conf_free(top_map, cfg);
    free(cfg->file);
    free(cfg->dir);
    free(cfg->sha256);
    free(cfg);
}

const void *ow_config_proc(const struct ow_config *cfg, const struct ow_processor *p)
{
    for (size_t i = 0; ow_processors[i] != NULL; i++) {
        if (ow_processors[i] == p) {
            return cfg->proc_conf[i];
        }
    }
    return NULL;
}

void ow_config_explain(FILE *out)
{
    char prefix[128];

    ow_conf_explain(top_map, "$", out);
    for (size_t i = 0; ow_processors[i] != NULL; i++) {
        if (ow_processors[i]->conf != NULL) {
            snprintf(prefix, sizeof(prefix), "$.processors.%s", ow_processors[i]->name);
            fprintf(out, "%-48s object: report '%s'\n", prefix, ow_processors[i]->report);
            ow_conf_explain(ow_processors[i]->conf, prefix, out);
        }
    }
}

json_t *ow_config_schema(void)
{
    json_t *schema = ow_conf_schema(top_map);
    json_t *props = json_object_get(schema, "properties");
    json_t *procs = json_object();

    json_object_set_new(procs, "$comment", json_pack("{s:s}", "type", "string"));
    for (size_t i = 0; ow_processors[i] != NULL; i++) {
        const struct ow_processor *p = ow_processors[i];

        json_object_set_new(procs, p->name,
                            p->conf ? ow_conf_schema(p->conf)
                                    : json_pack("{s:s}", "type", "object"));
    }
    json_object_set_new(props, "processors",
                        json_pack("{s:s, s:o, s:b}", "type", "object", "properties", procs,
                                  "additionalProperties", 0));
    json_object_set_new(schema, "$schema",
                        json_string("https://json-schema.org/draft/2020-12/schema"));
    json_object_set_new(schema, "$id",
                        json_string("https://opswatch.example/schemas/config.schema.json"));
    json_object_set_new(schema, "title", json_string("opswatch configuration"));
    json_object_set_new(schema, "description",
                        json_string("Generated by 'opswatch validate-config --schema' from the "
                                    "declarative maps that check the configuration; do not "
                                    "edit by hand."));
    return schema;
}
