/* rfc3339.h: RFC 3339 date-times <-> microseconds since the Unix epoch. */
#ifndef OW_RFC3339_H
#define OW_RFC3339_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "civil.h"

/**
 * Parse an RFC 3339 date-time with a required offset ("Z"/"z" or "+hh:mm"/"-hh:mm"); "T"/"t"
 * (and only those) separate date and time; fractional seconds of any length are allowed and
 * truncated to microseconds; leap second 60 is rejected (events never carry one).
 * Years 0001..9999. Fields are range-checked (month 1-12, day within the month, hour < 24...).
 * @returns 0 and sets *@us, or -1 with a short reason in @why (static string) when invalid.
 */
int ow_rfc3339_parse(const char *s, size_t len, int64_t *us, const char **why);

/** The date of the last date-time ow_rfc3339_parse_day parsed and its day number, so that
 * date-times of the same day (most of a stream in time order) skip the calendar arithmetic.
 * Zeroed: empty. */
struct ow_rfc3339_day {
    char date[10]; /* "YYYY-MM-DD", checked valid */
    bool set;
    int64_t days; /* since 1970-01-01 */
};

/** ow_rfc3339_parse, with @cache (NULL: none) remembering the last date. The same results. */
int ow_rfc3339_parse_day(struct ow_rfc3339_day *cache, const char *s, size_t len, int64_t *us,
                         const char **why);

/** Format @us as UTC "YYYY-MM-DDThh:mm:ssZ" (with ".ffffff" only when not whole seconds).
 * @returns the length written (buffer of at least 32 bytes). */
size_t ow_rfc3339_format_utc(int64_t us, char *buf, size_t len);

#endif
