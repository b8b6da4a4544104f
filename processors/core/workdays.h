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

/* How a year's holidays are known. */
enum ow_calendar_source {
    OW_CAL_PUBLISHED = 0, /* listed in the file, as published by gov.uk */
    OW_CAL_COMPUTED = 1,  /* listed in the file, but marked as computed ("opswatch" key) */
    OW_CAL_RULES = 2,     /* not in the file: computed here from the standing rules */
};

/* A holiday by the standing rules, with its gov.uk title. */
struct ow_holiday {
    struct ow_date date;
    const char *title; /* static: "Good Friday", "Christmas Day" */
    bool substitute;   /* moved off a weekend (gov.uk notes "Substitute day") */
};

/* The standing rules give this many holidays every year. */
#define OW_CALENDAR_RULE_HOLIDAYS 8

/* Published dates must lie in these years (the dense table's range); years outside still work,
 * from the rules. */
#define OW_CALENDAR_FIRST_YEAR 1900
#define OW_CALENDAR_LAST_YEAR 2200

/** Build a calendar from a parsed gov.uk document (borrowed). @source names it in errors
 * (a file name). Only the "england-and-wales" division is read; other divisions are ignored.
 * An optional top-level "opswatch" object, {"computed_years": [2026, ...], "source": "..."},
 * marks years whose events were computed rather than published. Any year with at least one
 * event in the file is taken from the file alone; other years come from the standing rules.
 * @returns a new calendar, or NULL with @err set when malformed, naming the file and the JSON
 * path: where = "workdays-ew.json: $[\"england-and-wales\"].events[3].date",
 * text = "expected a date YYYY-MM-DD, got \"2021-02-30\"". */
struct ow_calendar *ow_calendar_from_json(const json_t *doc, const char *source,
                                          struct ow_err *err);

/** Load from a file (named in errors as given). @returns NULL with @err set. */
struct ow_calendar *ow_calendar_load(const char *path, struct ow_err *err);

/** The calendar compiled into the binary (config/workdays-ew.json). Never NULL. */
struct ow_calendar *ow_calendar_default(void);

/** Free; NULL is a no-op. */
void ow_calendar_destroy(struct ow_calendar *cal);

/** True when @d is a bank holiday (published, or computed for years the file lacks). */
bool ow_calendar_is_holiday(const struct ow_calendar *cal, struct ow_date d);

/** True when @d is a Working Day. */
bool ow_calendar_is_working_day(const struct ow_calendar *cal, struct ow_date d);

/** Where the holidays of @year come from. */
enum ow_calendar_source ow_calendar_year_source(const struct ow_calendar *cal, int year);

/** The @n th Working Day after @d, counting from the day after @d (n >= 1; n <= 0 gives @d).
 * The domain's vectors: after 2021-04-30, the 10th is 2021-05-17 and the 25th 2021-06-08. */
struct ow_date ow_calendar_nth_working_day_after(const struct ow_calendar *cal, struct ow_date d,
                                                 int n);

/** The E&W bank holidays of @year by the standing rules (New Year's Day, Good Friday, Easter
 * Monday, first and last Monday in May, last Monday in August, Christmas and Boxing Day, with
 * substitutes on weekends: each moved to the next weekday that is not already a holiday, so
 * Christmas on a Saturday gives Mon 27 and Tue 28 December, and on a Sunday Mon 26 (Boxing
 * Day) and Tue 27 (Christmas substitute)). Easter by the anonymous Gregorian algorithm.
 * Writes at most @max dates into @out, in date order; @returns the number written (there are
 * always OW_CALENDAR_RULE_HOLIDAYS). */
int ow_calendar_rule_holidays(int year, struct ow_date *out, int max);

/** As ow_calendar_rule_holidays(), with gov.uk titles and substitute flags (for generating
 * the calendar file). @returns the number written. */
int ow_calendar_rule_holidays_named(int year, struct ow_holiday *out, int max);

#endif
