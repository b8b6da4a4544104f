/* workdays.h: the Working Day calendar of England and Wales (SEC: any day other than Saturday,
 * Sunday, Christmas Day, Good Friday or a bank holiday). Loaded from the gov.uk bank-holidays
 * JSON format (division "england-and-wales"); years the file lacks are computed from the
 * standing rules. */
#ifndef OW_WORKDAYS_H
#define OW_WORKDAYS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "err.h"

struct ow_calendar;

/** A civil date. */
struct ow_date {
    int year;
    int month; /* 1-12 */
    int day;
};

/** Build a calendar from a parsed gov.uk document (borrowed). @source names it in errors
 * (a file name). @returns NULL with @err set ("workdays-ew.json: $.england-and-wales.events[3].date:
 * expected YYYY-MM-DD, got ...") when malformed. */
struct ow_calendar *ow_calendar_from_json(const json_t *doc, const char *source, struct ow_err *err);

/** Load from a file. @returns NULL with @err set. */
struct ow_calendar *ow_calendar_load(const char *path, struct ow_err *err);

/** The calendar compiled into the binary (config/workdays-ew.json). Never NULL. */
struct ow_calendar *ow_calendar_default(void);

/** Free; NULL is a no-op. */
void ow_calendar_destroy(struct ow_calendar *cal);

/** True when @d is a bank holiday (published, or computed for years the file lacks). */
bool ow_calendar_is_holiday(const struct ow_calendar *cal, struct ow_date d);

/** True when @d is a Working Day. */
bool ow_calendar_is_working_day(const struct ow_calendar *cal, struct ow_date d);

/** The @n th Working Day after @d, counting from the day after @d (n >= 1).
 * The domain's vectors: after 2021-04-30, the 10th is 2021-05-17 and the 25th 2021-06-08. */
struct ow_date ow_calendar_nth_working_day_after(const struct ow_calendar *cal, struct ow_date d,
                                                 int n);

/** The E&W bank holidays of @year by the standing rules (New Year's Day, Good Friday, Easter
 * Monday, first and last Monday in May, last Monday in August, Christmas and Boxing Day, with
 * substitutes on weekends). Writes at most @max dates into @out; @returns the count. */
int ow_calendar_rule_holidays(int year, struct ow_date *out, int max);

#endif
