/* tz.h: an IANA time zone as the engine needs it: local civil dates <-> instants.
 *
 * Built on the C library's zoneinfo (tzdata). Month starts for years 1900..2200 are kept in a
 * table (each entry computed once, on first use) so that mapping an instant to its month is a
 * table lookup, not a libc call:
 * this runs once per event on the hot path.
 *
 * Limitation: the C library has one active zone per process (the TZ environment variable).
 * ow_tz_create() sets TZ and calls tzset(); the calls that go to the C library
 * (ow_tz_midnight() off the table, ow_tz_civil(), ow_tz_format(), ow_tz_month_of() outside
 * 1900..2200) re-set TZ first when the last zone made active was another ow_tz, so two zones
 * in one process give right answers, at the price of a setenv() + tzset() at each switch.
 * Because setenv() is not thread-safe, use all ow_tz objects from one thread (the engine's),
 * and let nothing else in the process change TZ. A single zone per process is the intended use.
 *
 * Zones whose clocks skip local midnight (a DST gap at 00:00, as in some South American zones):
 * "local midnight" of such a day is the first instant of that day, the end of the gap. Where
 * midnight happens twice (clocks go back over 00:00), it is the earlier one. Europe/London
 * changes at 01:00 UTC, so its midnights are always unique. */
#ifndef OW_TZ_H
#define OW_TZ_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct ow_tz;

/* A local civil time. */
struct ow_civil {
    int year;
    int month; /* 1-12 */
    int day;   /* 1-31 */
    int hour, minute, second;
    int usec;
    int utc_offset_s; /* seconds east of UTC at that instant */
};

/** Load zone @name (e.g. "Europe/London", "UTC"). The name must be a TZif file under $TZDIR
 * (default /usr/share/zoneinfo) and may not contain ".." or start with "/"; "UTC" is always
 * accepted. Makes the zone the process's active TZ. @returns a new zone (ow_tz_destroy()), or
 * NULL with @err set (OW_EINVAL) when the zone does not exist in the system's zoneinfo. */
struct ow_tz *ow_tz_create(const char *name, struct ow_err *err);

/** Free @tz; NULL is a no-op. */
void ow_tz_destroy(struct ow_tz *tz);

/** The zone's name, as given. Borrowed. */
const char *ow_tz_name(const struct ow_tz *tz);

/** The instant (us since epoch) of local midnight starting civil date @y-@m-@d; @m and @d
 * may be out of range and are normalised (month 13 is January of the next year). */
int64_t ow_tz_midnight(const struct ow_tz *tz, int y, int m, int d);

/** The month of @us in the zone, as year * 12 + (month - 1). Fast (table lookup). */
int ow_tz_month_of(const struct ow_tz *tz, int64_t us);

/** Break @us into local civil time. */
void ow_tz_civil(const struct ow_tz *tz, int64_t us, struct ow_civil *c);

/** Format @us as local RFC 3339 with offset, "2021-04-01T00:00:00+01:00" ("Z" never used),
 * with ".ffffff" only when @us is not a whole second. Offsets with seconds (local mean time
 * before 1900 in some zones) are written truncated to the minute.
 * @returns the length written (buffer of at least 40 bytes). */
size_t ow_tz_format(const struct ow_tz *tz, int64_t us, char *buf, size_t len);

#endif
