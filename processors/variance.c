/* variance.c: per-party variance lines, grand totals and exception lists. */
#include "variance.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Bands in hundredths of a percent, so the comparison at the line is exact. */
static __int128 basis_points(double percent)
{
    return (__int128)llround(percent * 100.0);
}

bool ow_variance_at_or_over(int64_t actual, int64_t forecast, const struct ow_variance_bands *b)
{
    if (forecast == 0) {
        return actual > 0;
    }
    return (__int128)actual * 10000 >= (__int128)forecast * (10000 + basis_points(b->upper_percent));
}

bool ow_variance_at_or_under(int64_t actual, int64_t forecast, const struct ow_variance_bands *b)
{
    if (forecast == 0) {
        return false;
    }
    return (__int128)actual * 10000 <= (__int128)forecast * (10000 - basis_points(b->lower_percent));
}

json_t *ow_percent(int64_t a, int64_t b)
{
    if (b == 0) {
        return json_null();
    }
    return json_real(100.0 * (double)a / (double)b);
}

static int row_cmp(const void *x, const void *y)
{
    const struct ow_variance_party *a = x;
    const struct ow_variance_party *b = y;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->party, b->party, n);

    if (c != 0) {
        return c;
    }
    return a->len < b->len ? -1 : a->len > b->len;
}

static json_t *party_line(const struct ow_variance_party *r)
{
    return json_pack("{s:I, s:I, s:I, s:o, s:b}", "actual", (json_int_t)r->actual, "forecast",
                     (json_int_t)r->forecast, "variance", (json_int_t)(r->actual - r->forecast),
                     "percent_of_forecast", ow_percent(r->actual, r->forecast), "has_forecast",
                     r->has_forecast);
}

void ow_variance_build(json_t *out, struct ow_variance_party *rows, size_t n,
                       const struct ow_variance_bands *b)
{
    json_t *by_party = json_object();
    json_t *over = json_array();
    json_t *under = json_array();
    json_t *none = json_array();
    int64_t actual = 0;
    int64_t forecast = 0;
    int64_t without = 0;

    if (n > 0) {
        qsort(rows, n, sizeof(*rows), row_cmp);
    }
    for (size_t i = 0; i < n; i++) {
        const struct ow_variance_party *r = &rows[i];
        json_t *id = json_stringn(r->party, r->len);

        /* The store and the processors reject events that would overflow these sums. */
        actual += r->actual;
        forecast += r->forecast;
        json_object_setn_new(by_party, r->party, r->len, party_line(r));
        if (!r->has_forecast) {
            without++;
            json_array_append(none, id);
        } else if (ow_variance_at_or_over(r->actual, r->forecast, b)) {
            json_array_append(over, id);
        } else if (ow_variance_at_or_under(r->actual, r->forecast, b)) {
            json_array_append(under, id);
        }
        json_decref(id);
    }
    json_object_set_new(out, "actual", json_integer((json_int_t)actual));
    json_object_set_new(out, "forecast", json_integer((json_int_t)forecast));
    json_object_set_new(out, "variance", json_integer((json_int_t)(actual - forecast)));
    json_object_set_new(out, "percent_of_forecast", ow_percent(actual, forecast));
    json_object_set_new(out, "parties_without_forecast", json_integer((json_int_t)without));
    json_object_set_new(out, "by_party", by_party);
    json_object_set_new(out, "exceptions",
                        json_pack("{s:o, s:o, s:o}", "at_or_over_110", over, "at_or_under_90",
                                  under, "no_forecast", none));
}
