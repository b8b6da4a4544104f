/* state_row.c: see state_row.h. */
#include "state_row.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

static void fail(struct ow_row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct ow_row *r, const char *fmt, ...)
{
    va_list ap;

    if (r->bad) {
        return; /* the first problem is the one to report */
    }
    r->bad = true;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
}

void ow_row_open(struct ow_row *r, const json_t *a, size_t n)
{
    r->a = a;
    r->n = n;
    r->next = 0;
    r->bad = false;
    r->why[0] = '\0';
    if (!json_is_array(a) || json_array_size(a) != n) {
        fail(r, "expected an array of %zu fields", n);
    }
}

/* The next field, or NULL once the row is bad. */
static const json_t *next_field(struct ow_row *r)
{
    size_t i = r->next++;

    return r->bad ? NULL : json_array_get(r->a, i);
}

int64_t ow_row_int(struct ow_row *r, int64_t lo, int64_t hi)
{
    const json_t *v = next_field(r);
    int64_t x;

    if (v == NULL) {
        return 0;
    }
    x = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
    if (!json_is_integer(v) || x < lo || x > hi) {
        fail(r, "field %zu: expected an integer %" PRId64 "..%" PRId64, r->next - 1, lo, hi);
        return 0;
    }
    return x;
}

int64_t ow_row_int_or_null(struct ow_row *r, int64_t lo, int64_t hi, int64_t if_null)
{
    const json_t *v = r->bad ? NULL : json_array_get(r->a, r->next);

    if (json_is_null(v)) {
        r->next++;
        return if_null;
    }
    return ow_row_int(r, lo, hi);
}

bool ow_row_bool(struct ow_row *r)
{
    const json_t *v = next_field(r);

    if (v == NULL) {
        return false;
    }
    if (!json_is_boolean(v)) {
        fail(r, "field %zu: expected true or false", r->next - 1);
        return false;
    }
    return json_is_true(v);
}

const char *ow_row_str(struct ow_row *r, bool nullable)
{
    const json_t *v = next_field(r);

    if (v == NULL) {
        return nullable ? NULL : "";
    }
    if (nullable && json_is_null(v)) {
        return NULL;
    }
    if (!json_is_string(v)) {
        fail(r, "field %zu: expected a string%s", r->next - 1, nullable ? " or null" : "");
        return nullable ? NULL : "";
    }
    return json_string_value(v);
}

const json_t *ow_row_array(struct ow_row *r)
{
    const json_t *v = next_field(r);

    if (v == NULL) {
        return NULL;
    }
    if (!json_is_array(v)) {
        fail(r, "field %zu: expected an array", r->next - 1);
        return NULL;
    }
    return v;
}

bool ow_row_ok(const struct ow_row *r)
{
    return !r->bad;
}

const char *ow_row_error(const struct ow_row *r)
{
    return r->bad ? r->why : "";
}

bool ow_state_int(const json_t *obj, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    int64_t x;

    if (!json_is_integer(v)) {
        return false;
    }
    x = (int64_t)json_integer_value(v);
    if (x < lo || x > hi) {
        return false;
    }
    *out = x;
    return true;
}

bool ow_state_bool(const json_t *obj, const char *key, bool *out)
{
    const json_t *v = json_object_get(obj, key);

    if (!json_is_boolean(v)) {
        return false;
    }
    *out = json_is_true(v);
    return true;
}
