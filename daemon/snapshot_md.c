/* snapshot_md.c: Markdown for people: thousands separators, one-decimal percentages, one
 * section per report, the SEC delivery table. */
#include "snapshot_md.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct buf {
    char *s;
    size_t len;
    size_t cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap + (size_t)n + 1) * 2;
        b->s = ow_xrealloc(b->s, b->cap);
    }
}

/* 1204377 -> "1,204,377" */
static const char *thousands(json_int_t v, char *out, size_t len)
{
    char digits[32];
    int n = snprintf(digits, sizeof(digits), "%" PRId64, (int64_t)(v < 0 ? -v : v));
    size_t k = 0;

    if (v < 0 && k + 1 < len) {
        out[k++] = '-';
    }
    for (int i = 0; i < n && k + 2 < len; i++) {
        out[k++] = digits[i];
        if ((n - i - 1) % 3 == 0 && i != n - 1) {
            out[k++] = ',';
        }
    }
    out[k] = '\0';
    return out;
}

static const char *num(const json_t *v, char *out, size_t len)
{
    return json_is_integer(v) ? thousands(json_integer_value(v), out, len) : "-";
}

static const char *pct(const json_t *v, char *out, size_t len)
{
    if (!json_is_number(v)) {
        return "n/a";
    }
    snprintf(out, len, "%.1f%%", json_number_value(v));
    return out;
}

static void list_or_none(struct buf *b, const json_t *arr)
{
    size_t i;
    json_t *v;

    if (json_array_size(arr) == 0) {
        put(b, "none");
        return;
    }
    json_array_foreach(arr, i, v)
    {
        put(b, "%s%s", i ? ", " : "", json_string_value(v));
    }
}

static void variance_section(struct buf *b, const char *title, const char *noun,
                             const char *who, const json_t *r)
{
    char n1[40], n2[40], n3[40], p[24];
    const json_t *ex = json_object_get(r, "exceptions");
    const char *key;
    json_t *v;

    put(b, "\n## %s\n\n", title);
    put(b, "%s %s were sent against a forecast of %s: %s of the forecast. ",
        num(json_object_get(r, "actual"), n1, sizeof(n1)), noun,
        num(json_object_get(r, "forecast"), n2, sizeof(n2)),
        pct(json_object_get(r, "percent_of_forecast"), p, sizeof(p)));
    put(b, "%s %s sent %s without a forecast.\n\n",
        num(json_object_get(r, "parties_without_forecast"), n3, sizeof(n3)), who, noun);
    put(b, "- At or over the upper band: ");
    list_or_none(b, json_object_get(ex, "at_or_over_110"));
    put(b, "\n- At or under the lower band: ");
    list_or_none(b, json_object_get(ex, "at_or_under_90"));
    put(b, "\n- Without a forecast: ");
    list_or_none(b, json_object_get(ex, "no_forecast"));
    put(b, "\n\n| party | actual | forecast | variance | %% of forecast |\n|---|--:|--:|--:|--:|\n");
    json_object_foreach((json_t *)json_object_get(r, "by_party"), key, v)
    {
        put(b, "| %s | %s | %s | %s | %s |\n", key, num(json_object_get(v, "actual"), n1, 40),
            num(json_object_get(v, "forecast"), n2, 40),
            num(json_object_get(v, "variance"), n3, 40),
            pct(json_object_get(v, "percent_of_forecast"), p, sizeof(p)));
    }
}

static void generic_section(struct buf *b, const char *name, const json_t *r)
{
    char *text = json_dumps(r, JSON_INDENT(2));

    put(b, "\n## %s\n\n```json\n%s\n```\n", name, text ? text : "{}");
    free(text);
}

char *ow_snapshot_markdown(const json_t *snap)
{
    struct buf b = {ow_xmalloc(4096), 0, 4096};
    const json_t *reports = json_object_get(snap, "reports");
    const char *name;
    json_t *r;

    b.s[0] = '\0';
    put(&b, "# opswatch snapshot %s\n\n", json_string_value(json_object_get(snap, "window")));
    put(&b, "%s to %s (%s). Revision %" JSON_INTEGER_FORMAT "%s, %" JSON_INTEGER_FORMAT
            " late events.\n",
        json_string_value(json_object_get(snap, "start")),
        json_string_value(json_object_get(snap, "end")),
        json_string_value(json_object_get(snap, "timezone")),
        json_integer_value(json_object_get(snap, "revision")),
        json_is_true(json_object_get(snap, "final")) ? " (final)" : " (open: figures may change)",
        json_integer_value(json_object_get(snap, "late_events")));
    put(&b, "\n## Delivery per SEC\n\n| report | SEC | due |\n|---|---|---|\n");
    json_object_foreach((json_t *)reports, name, r)
    {
        const json_t *due = json_object_get(r, "due");

        put(&b, "| %s | %s | %s |\n", name, json_string_value(json_object_get(r, "sec_ref")),
            json_is_string(due) ? json_string_value(due) : "no SEC deadline");
    }
    json_object_foreach((json_t *)reports, name, r)
    {
        if (strcmp(name, "csr_variance") == 0) {
            variance_section(&b, "CSR Variance (L8.9)", "CSRs", "Authorised Subscribers", r);
        } else if (strcmp(name, "sr_variance") == 0) {
            variance_section(&b, "Service Request Variance (H3.24)", "Service Requests", "Users",
                             r);
        } else {
            generic_section(&b, name, r);
        }
    }
    return b.s;
}
