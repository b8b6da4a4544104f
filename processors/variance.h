/* variance.h: what the SR and CSR variance reports share: actuals against forecasts per party,
 * the adjusted grand total and the Panel's exception lists. */
#ifndef OW_VARIANCE_H
#define OW_VARIANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "conf.h"

/* The Panel's bands around a forecast, in percent (default 10: >= 110%, <= 90%). */
struct ow_variance_bands {
    double upper_percent;
    double lower_percent;
};

/* One party's line in a month. */
struct ow_variance_party {
    const char *party;
    size_t len;
    int64_t actual;
    bool has_forecast;
    int64_t forecast; /* 0 when !has_forecast: the adjusted grand total's "zero forecast" */
};

/* The config map entries for the bands, for a processor's own map. */
#define OW_VARIANCE_BANDS_CONF(st, m)                                                              \
    OW_CONF_DOUBLE("upper_band_percent", st, m.upper_percent, 0, 1000, "10",                        \
                   "a party at or above forecast + this percent is an exception (110%)"),          \
        OW_CONF_DOUBLE("lower_band_percent", st, m.lower_percent, 0, 100, "10",                    \
                       "a party at or below forecast - this percent is an exception (90%)")

/** Is @actual at or over @forecast plus the upper band? A zero forecast is exceeded by any
 * actual. Exact integer arithmetic (no rounding at the line). */
bool ow_variance_at_or_over(int64_t actual, int64_t forecast, const struct ow_variance_bands *b);

/** Is @actual at or under @forecast minus the lower band (forecast > 0)? */
bool ow_variance_at_or_under(int64_t actual, int64_t forecast, const struct ow_variance_bands *b);

/** 100.0 * @a / @b as a JSON real, or null when @b is 0. New reference. */
json_t *ow_percent(int64_t a, int64_t b);

/** Sort @rows by party id and add to @out: actual, forecast, variance, percent_of_forecast,
 * parties_without_forecast, by_party and exceptions. */
void ow_variance_build(json_t *out, struct ow_variance_party *rows, size_t n,
                       const struct ow_variance_bands *b);

#endif
