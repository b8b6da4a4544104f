/* civil.h: proleptic Gregorian dates <-> day counts, and time unit constants. */
#ifndef OW_CIVIL_H
#define OW_CIVIL_H

#include <stdint.h>

#define OW_US_PER_SEC INT64_C(1000000)
#define OW_US_PER_HOUR (INT64_C(3600) * OW_US_PER_SEC)
#define OW_US_PER_DAY (INT64_C(86400) * OW_US_PER_SEC)

/** Days since 1970-01-01 of civil date @y-@m-@d (month 1-12, day 1-31). */
int64_t ow_days_from_civil(int64_t y, int m, int d);

/** The civil date of @days since 1970-01-01. */
void ow_civil_from_days(int64_t days, int *y, int *m, int *d);

/** Day of the week of @days since 1970-01-01: 0 = Sunday .. 6 = Saturday. */
int ow_weekday_from_days(int64_t days);

/** Days in month @m (1-12) of year @y. */
int ow_days_in_month(int64_t y, int m);

#endif
