/* conf.c: the declarative configuration walker (see conf.h). */
#include "conf.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "civil.h"

struct ow_conf_errors {
    char *file;
    char **msgs;
    size_t count;
    size_t cap;
};

struct ow_conf_errors *ow_conf_errors_create(const char *file)
{
    struct ow_conf_errors *errs = ow_xcalloc(1, sizeof(*errs));

    errs->file = ow_xstrdup(file ? file : "config");
    return errs;
}

void ow_conf_errors_destroy(struct ow_conf_errors *errs)
{
    if (errs == NULL) {
        return;
    }
    for (size_t i = 0; i < errs->count; i++) {
        free(errs->msgs[i]);
    }
    free(errs->msgs);
    free(errs->file);
    free(errs);
}

void ow_conf_error(struct ow_conf_errors *errs, const char *path, const char *fmt, ...)
{
    char text[512];
    char *msg;
    size_t len;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    len = strlen(errs->file) + strlen(path) + strlen(text) + 8;
    msg = ow_xmalloc(len);
    snprintf(msg, len, "%s: %s: %s", errs->file, path, text);
    if (errs->count == errs->cap) {
        errs->cap = errs->cap ? errs->cap * 2 : 8;
        errs->msgs = ow_xrealloc(errs->msgs, errs->cap * sizeof(*errs->msgs));
    }
    errs->msgs[errs->count++] = msg;
}

size_t ow_conf_errors_count(const struct ow_conf_errors *errs)
{
    return errs->count;
}

const char *ow_conf_errors_get(const struct ow_conf_errors *errs, size_t i)
{
    return i < errs->count ? errs->msgs[i] : NULL;
}

const char *ow_conf_describe(const json_t *v, char *buf, size_t len)
{
    char *text;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_NULL:
        return "null";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    default:
        break;
    }
    text = json_dumps(v, JSON_ENCODE_ANY);
    if (text == NULL) {
        return "a value";
    }
    if (strlen(text) > 60) {
        snprintf(buf, len, "%.57s...", text);
    } else {
        snprintf(buf, len, "%s", text);
    }
    free(text);
    return buf;
}

int ow_conf_parse_duration(const char *s, int64_t *us)
{
    char *end;
    long long n;
    int64_t unit;

    errno = 0;
    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    n = strtoll(s, &end, 10);
    if (errno != 0 || end == s) {
        return -1;
    }
    if (strcmp(end, "ms") == 0) {
        unit = 1000;
    } else if (strcmp(end, "s") == 0) {
        unit = OW_US_PER_SEC;
    } else if (strcmp(end, "m") == 0) {
        unit = 60 * OW_US_PER_SEC;
    } else if (strcmp(end, "h") == 0) {
        unit = OW_US_PER_HOUR;
    } else if (strcmp(end, "d") == 0) {
        unit = OW_US_PER_DAY;
    } else {
        return -1;
    }
    if (n > INT64_MAX / unit) {
        return -1;
    }
    *us = n * unit;
    return 0;
}

static void child_path(char *buf, size_t len, const char *path, const char *key)
{
    bool plain =
        key[0] != '\0' && strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789_") == strlen(key);

    if (plain) {
        snprintf(buf, len, "%s.%s", path, key);
    } else {
        snprintf(buf, len, "%s[\"%s\"]", path, key);
    }
}

static bool fill_int(const json_t *v, int64_t *dst, int64_t min, int64_t max, const char *path,
                     struct ow_conf_errors *errs)
{
    char got[80];

    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        ow_conf_error(errs, path, "expected integer %" PRId64 "..%" PRId64 ", got %s", min, max,
                      ow_conf_describe(v, got, sizeof(got)));
        return false;
    }
    *dst = json_integer_value(v);
    return true;
}

static bool fill_field(const struct ow_conf_field *f, const json_t *v, void *dst, const char *path,
                       struct ow_conf_errors *errs)
{
    char *base = (char *)dst + f->offset;
    char got[80];
    char sub[256];
    int64_t us;

    switch (f->type) {
    case OW_CONF_T_INT:
        return fill_int(v, (int64_t *)base, f->min, f->max, path, errs);
    case OW_CONF_T_DOUBLE:
        if (!json_is_number(v) || json_number_value(v) < f->dmin ||
            json_number_value(v) > f->dmax) {
            ow_conf_error(errs, path, "expected number %g..%g, got %s", f->dmin, f->dmax,
                          ow_conf_describe(v, got, sizeof(got)));
            return false;
        }
        *(double *)base = json_number_value(v);
        return true;
    case OW_CONF_T_BOOL:
        if (!json_is_boolean(v)) {
            ow_conf_error(errs, path, "expected true or false, got %s",
                          ow_conf_describe(v, got, sizeof(got)));
            return false;
        }
        *(bool *)base = json_is_true(v);
        return true;
    case OW_CONF_T_STRING:
        if (!json_is_string(v)) {
            ow_conf_error(errs, path, "expected a string, got %s",
                          ow_conf_describe(v, got, sizeof(got)));
            return false;
        }
        free(*(char **)base);
        *(char **)base = ow_xstrdup(json_string_value(v));
        return true;
    case OW_CONF_T_DURATION:
        if (!json_is_string(v) || ow_conf_parse_duration(json_string_value(v), &us) != 0 ||
            us < f->min || us > f->max) {
            ow_conf_error(errs, path,
                          "expected a duration such as \"90s\", \"15m\", \"36h\" or \"7d\" "
                          "(%" PRId64 "s..%" PRId64 "s), got %s",
                          f->min / OW_US_PER_SEC, f->max / OW_US_PER_SEC,
                          ow_conf_describe(v, got, sizeof(got)));
            return false;
        }
        *(int64_t *)base = us;
        return true;
    case OW_CONF_T_INTV: {
        bool ok = true;

        if (!json_is_array(v) || json_array_size(v) != f->count) {
            ow_conf_error(errs, path, "expected an array of %zu integers, got %s", f->count,
                          ow_conf_describe(v, got, sizeof(got)));
            return false;
        }
        for (size_t i = 0; i < f->count; i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            ok &= fill_int(json_array_get(v, i), (int64_t *)base + i, f->min, f->max, sub, errs);
        }
        return ok;
    }
    case OW_CONF_T_SUB:
        if (!json_is_object(v)) {
            ow_conf_error(errs, path, "expected an object, got %s",
                          ow_conf_describe(v, got, sizeof(got)));
            return false;
        }
        return ow_conf_fill(f->sub, v, base, path, errs);
    case OW_CONF_T_CUSTOM: {
        size_t before = ow_conf_errors_count(errs);

        f->parse(v, base, path, errs);
        return ow_conf_errors_count(errs) == before;
    }
    case OW_CONF_T_NONE:
        break;
    }
    return false;
}

bool ow_conf_fill(const struct ow_conf_field *map, const json_t *obj, void *dst, const char *path,
                  struct ow_conf_errors *errs)
{
    size_t before = ow_conf_errors_count(errs);
    char sub[256];
    const char *key;
    json_t *v;

    if (obj != NULL) {
        json_object_foreach((json_t *)obj, key, v)
        {
            const struct ow_conf_field *f = map;

            if (strcmp(key, "$comment") == 0) {
                continue; /* documentation inside the file */
            }
            while (f->name != NULL && strcmp(f->name, key) != 0) {
                f++;
            }
            if (f->name == NULL) {
                child_path(sub, sizeof(sub), path, key);
                ow_conf_error(errs, sub, "unknown key (see 'opswatch validate-config --explain')");
            }
        }
    }
    for (const struct ow_conf_field *f = map; f->name != NULL; f++) {
        json_t *given = obj ? json_object_get(obj, f->name) : NULL;

        child_path(sub, sizeof(sub), path, f->name);
        if (given != NULL && f->type == OW_CONF_T_SUB && f->def != NULL && json_is_object(given)) {
            /* A sub-object's default can carry its own values (a rule's threshold): the given
             * keys are laid over it, so a partial object keeps the other defaults. */
            json_t *merged = json_loads(f->def, 0, NULL);

            if (merged == NULL) {
                ow_conf_error(errs, sub, "built-in default is not JSON");
                continue;
            }
            json_object_update(merged, (json_t *)given);
            fill_field(f, merged, dst, sub, errs);
            json_decref(merged);
        } else if (given != NULL) {
            fill_field(f, given, dst, sub, errs);
        } else if (f->def == NULL) {
            ow_conf_error(errs, sub, "required key is missing (%s)", f->help);
        } else if (f->type == OW_CONF_T_SUB && strcmp(f->def, "{}") == 0) {
            ow_conf_fill(f->sub, NULL, (char *)dst + f->offset, sub, errs);
        } else {
            json_error_t jerr;
            json_t *def = json_loads(f->def, JSON_DECODE_ANY, &jerr);

            if (def == NULL) {
                ow_conf_error(errs, sub, "built-in default is not JSON: %s", jerr.text);
                continue;
            }
            fill_field(f, def, dst, sub, errs);
            json_decref(def);
        }
    }
    return ow_conf_errors_count(errs) == before;
}

void ow_conf_free(const struct ow_conf_field *map, void *dst)
{
    for (const struct ow_conf_field *f = map; f->name != NULL; f++) {
        char *base = (char *)dst + f->offset;

        if (f->type == OW_CONF_T_STRING) {
            free(*(char **)base);
            *(char **)base = NULL;
        } else if (f->type == OW_CONF_T_SUB) {
            ow_conf_free(f->sub, base);
        } else if (f->type == OW_CONF_T_CUSTOM && f->free != NULL) {
            f->free(base);
        }
    }
}

static const char *type_name(const struct ow_conf_field *f, char *buf, size_t len)
{
    switch (f->type) {
    case OW_CONF_T_INT:
        snprintf(buf, len, "integer %" PRId64 "..%" PRId64, f->min, f->max);
        break;
    case OW_CONF_T_DOUBLE:
        snprintf(buf, len, "number %g..%g", f->dmin, f->dmax);
        break;
    case OW_CONF_T_BOOL:
        snprintf(buf, len, "boolean");
        break;
    case OW_CONF_T_STRING:
        snprintf(buf, len, "string");
        break;
    case OW_CONF_T_DURATION:
        snprintf(buf, len, "duration");
        break;
    case OW_CONF_T_INTV:
        snprintf(buf, len, "array of %zu integers %" PRId64 "..%" PRId64, f->count, f->min, f->max);
        break;
    case OW_CONF_T_SUB:
        snprintf(buf, len, "object");
        break;
    case OW_CONF_T_CUSTOM:
        snprintf(buf, len, "%s", f->expect ? f->expect : "value");
        break;
    case OW_CONF_T_NONE:
        snprintf(buf, len, "?");
        break;
    }
    return buf;
}

void ow_conf_explain(const struct ow_conf_field *map, const char *prefix, FILE *out)
{
    char type[128];
    char path[256];

    for (const struct ow_conf_field *f = map; f->name != NULL; f++) {
        snprintf(path, sizeof(path), "%s.%s", prefix, f->name);
        if (f->type == OW_CONF_T_SUB) {
            fprintf(out, "%-48s object: %s\n", path, f->help);
            ow_conf_explain(f->sub, path, out);
            continue;
        }
        fprintf(out, "%-48s %s, default %s: %s\n", path, type_name(f, type, sizeof(type)),
                f->def ? f->def : "(required)", f->help);
    }
}

static json_t *field_schema(const struct ow_conf_field *f)
{
    json_t *s;

    switch (f->type) {
    case OW_CONF_T_INT:
        s = json_pack("{s:s, s:I, s:I}", "type", "integer", "minimum", (json_int_t)f->min,
                      "maximum", (json_int_t)f->max);
        break;
    case OW_CONF_T_DOUBLE:
        s = json_pack("{s:s, s:f, s:f}", "type", "number", "minimum", f->dmin, "maximum", f->dmax);
        break;
    case OW_CONF_T_BOOL:
        s = json_pack("{s:s}", "type", "boolean");
        break;
    case OW_CONF_T_STRING:
        s = json_pack("{s:s}", "type", "string");
        break;
    case OW_CONF_T_DURATION:
        s = json_pack("{s:s, s:s}", "type", "string", "pattern", "^[0-9]+(ms|s|m|h|d)$");
        break;
    case OW_CONF_T_INTV:
        s = json_pack("{s:s, s:I, s:I, s:{s:s, s:I, s:I}}", "type", "array", "minItems",
                      (json_int_t)f->count, "maxItems", (json_int_t)f->count, "items", "type",
                      "integer", "minimum", (json_int_t)f->min, "maximum", (json_int_t)f->max);
        break;
    case OW_CONF_T_SUB:
        s = ow_conf_schema(f->sub);
        break;
    case OW_CONF_T_CUSTOM:
        s = f->schema ? json_loads(f->schema, 0, NULL) : NULL;
        if (s == NULL) {
            s = json_object();
        }
        break;
    default:
        s = json_object();
        break;
    }
    if (f->help != NULL) {
        json_object_set_new(s, "description", json_string(f->help));
    }
    if (f->def != NULL) {
        json_t *def = json_loads(f->def, JSON_DECODE_ANY, NULL);

        if (def != NULL && f->type != OW_CONF_T_SUB) {
            json_object_set_new(s, "default", def);
        } else {
            json_decref(def);
        }
    }
    return s;
}

json_t *ow_conf_schema(const struct ow_conf_field *map)
{
    json_t *props = json_object();

    json_object_set_new(props, "$comment", json_pack("{s:s}", "type", "string"));
    for (const struct ow_conf_field *f = map; f->name != NULL; f++) {
        json_object_set_new(props, f->name, field_schema(f));
    }
    return json_pack("{s:s, s:o, s:b}", "type", "object", "properties", props,
                     "additionalProperties", 0);
}
