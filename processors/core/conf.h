/* conf.h: configuration as declarative maps with typed defaults, bounds and help.
 *
 * A map is a { 0 }-terminated array of struct ow_conf_field describing the members of a C
 * struct. ow_conf_fill() walks a JSON object against the map: it rejects unknown keys and
 * wrong types, applies defaults for absent keys (given as JSON text, run through the same
 * checks), and collects every error as "file: $.json.path: expected ..., got ...". */
#ifndef OW_CONF_H
#define OW_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

enum ow_conf_type {
    OW_CONF_T_NONE,
    OW_CONF_T_INT,      /* int64_t, min..max */
    OW_CONF_T_DOUBLE,   /* double, dmin..dmax */
    OW_CONF_T_BOOL,     /* bool */
    OW_CONF_T_STRING,   /* char * (owned by the struct; ow_conf_free releases it); "" allowed */
    OW_CONF_T_DURATION, /* int64_t microseconds, from "90s", "15m", "36h", "7d"; min..max in us */
    OW_CONF_T_INTV,     /* int64_t[count], a JSON array of exactly count integers min..max */
    OW_CONF_T_SUB,      /* a nested struct at offset, described by sub */
    OW_CONF_T_CUSTOM,   /* parsed by parse(); free() releases what it allocated */
};

struct ow_conf_errors;

struct ow_conf_field {
    const char *name;
    enum ow_conf_type type;
    size_t offset;
    int64_t min, max;
    double dmin, dmax;
    size_t count;
    const char *def; /* default as JSON text; NULL: required */
    const struct ow_conf_field *sub;
    /* OW_CONF_T_CUSTOM: fill *dst from @v (never NULL); report problems with ow_conf_error. */
    void (*parse)(const json_t *v, void *dst, const char *path, struct ow_conf_errors *errs);
    void (*free)(void *dst);
    const char *expect; /* for help: what a custom value looks like */
    const char *help;
    const char *schema; /* custom values: their JSON Schema as JSON text (NULL: any value) */
};

#define OW_CONF_INT(n, st, m, lo, hi, d, h)                                                        \
    {                                                                                              \
        .name = (n), .type = OW_CONF_T_INT, .offset = offsetof(st, m), .min = (lo), .max = (hi),   \
        .def = (d), .help = (h)                                                                    \
    }
#define OW_CONF_DOUBLE(n, st, m, lo, hi, d, h)                                                     \
    {                                                                                              \
        .name = (n), .type = OW_CONF_T_DOUBLE, .offset = offsetof(st, m), .dmin = (lo),            \
        .dmax = (hi), .def = (d), .help = (h)                                                      \
    }
#define OW_CONF_BOOL(n, st, m, d, h)                                                               \
    {                                                                                              \
        .name = (n), .type = OW_CONF_T_BOOL, .offset = offsetof(st, m), .def = (d), .help = (h)    \
    }
#define OW_CONF_STR(n, st, m, d, h)                                                                \
    {                                                                                              \
        .name = (n), .type = OW_CONF_T_STRING, .offset = offsetof(st, m), .def = (d), .help = (h)  \
    }
#define OW_CONF_DURATION(n, st, m, lo, hi, d, h)                                                   \
    {                                                                                              \
        .name = (n), .type = OW_CONF_T_DURATION, .offset = offsetof(st, m), .min = (lo),           \
        .max = (hi), .def = (d), .help = (h)                                                       \
    }
#define OW_CONF_INTV(n, st, m, cnt, lo, hi, d, h)                                                  \
    {                                                                                              \
        .name = (n), .type = OW_CONF_T_INTV, .offset = offsetof(st, m), .count = (cnt),            \
        .min = (lo), .max = (hi), .def = (d), .help = (h)                                          \
    }
#define OW_CONF_SUB(n, st, m, map, d, h)                                                           \
    {                                                                                              \
        .name = (n), .type = OW_CONF_T_SUB, .offset = offsetof(st, m), .sub = (map), .def = (d),   \
        .help = (h)                                                                                \
    }
#define OW_CONF_CUSTOM(n, st, m, fn, freefn, exp, d, h)                                            \
    {                                                                                              \
        .name = (n), .type = OW_CONF_T_CUSTOM, .offset = offsetof(st, m), .parse = (fn),           \
        .free = (freefn), .expect = (exp), .def = (d), .help = (h)                                 \
    }
#define OW_CONF_CUSTOM_SCHEMA(n, st, m, fn, freefn, exp, d, h, sch)                                \
    {                                                                                              \
        .name = (n), .type = OW_CONF_T_CUSTOM, .offset = offsetof(st, m), .parse = (fn),           \
        .free = (freefn), .expect = (exp), .def = (d), .help = (h), .schema = (sch)                \
    }

/** A new, empty error list. */
struct ow_conf_errors *ow_conf_errors_create(const char *file);

/** Free; NULL is a no-op. */
void ow_conf_errors_destroy(struct ow_conf_errors *errs);

/** Record "file: path: message". */
void ow_conf_error(struct ow_conf_errors *errs, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

size_t ow_conf_errors_count(const struct ow_conf_errors *errs);

/** The @i th error, "file: $.path: message". Borrowed. */
const char *ow_conf_errors_get(const struct ow_conf_errors *errs, size_t i);

/** Fill @dst from JSON object @obj (may be NULL: all defaults) per @map. @path is the JSON path
 * of @obj ("$.processors.csr_variance"). Errors go to @errs. @returns true when no error. */
bool ow_conf_fill(const struct ow_conf_field *map, const json_t *obj, void *dst, const char *path,
                  struct ow_conf_errors *errs);

/** Release what ow_conf_fill allocated in @dst (strings, custom values). */
void ow_conf_free(const struct ow_conf_field *map, void *dst);

/** Parse a duration "500ms", "90s", "15m", "36h", "7d". @returns 0 or -1. */
int ow_conf_parse_duration(const char *s, int64_t *us);

/** Describe a JSON value for "got ..." in a message (type, and the value when short). */
const char *ow_conf_describe(const json_t *v, char *buf, size_t len);

/** The JSON Schema (draft 2020-12) of an object described by @map, with each field's type,
 * bounds, default and help (new reference). Unknown keys are refused, "$comment" allowed. */
json_t *ow_conf_schema(const struct ow_conf_field *map);

/** Print every field of @map with its type, bounds, default and help, indented under @prefix. */
void ow_conf_explain(const struct ow_conf_field *map, const char *prefix, FILE *out);

#endif
