/* window.h: calendar-month and calendar-quarter windows in a zone; grace and close instants.
 *
 * A window is identified by its kind and an index: months as year * 12 + (month - 1),
 * quarters as year * 4 + (quarter - 1). Boundaries are local midnight in the zone. */
#ifndef OW_WINDOW_H
#define OW_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "tz.h"
#include "workdays.h"

enum ow_window_kind { OW_WIN_MONTH, OW_WIN_QUARTER };

struct ow_window_id {
    enum ow_window_kind kind;
    int index;
};

/* How long after its end a window stays open: N Working Days (the whole Nth day included,
 * so the close instant is local midnight after it) or a fixed duration. */
struct ow_grace {
    bool working_days;
    int days;            /* when working_days */
    int64_t duration_us; /* otherwise */
};

/** The window of @kind that contains instant @us. */
struct ow_window_id ow_window_of(const struct ow_tz *tz, enum ow_window_kind kind, int64_t us);

/** The quarter that contains month index @month. */
struct ow_window_id ow_window_quarter_of_month(int month);

/** First instant of @w (local midnight of its first day). */
int64_t ow_window_start(const struct ow_tz *tz, struct ow_window_id w);

/** First instant after @w (the start of the next window). */
int64_t ow_window_end(const struct ow_tz *tz, struct ow_window_id w);

/** The instant at which @w closes: its end plus @grace. With N Working Days, the local
 * midnight that starts the day after the Nth Working Day after the window's last day (N <= 0:
 * the end itself); with a duration, the end plus it. With 10 Working Days, April 2021
 * closes at 2021-05-18T00:00:00+01:00. */
int64_t ow_window_close_at(const struct ow_tz *tz, const struct ow_calendar *cal,
                           const struct ow_grace *grace, struct ow_window_id w);

/** The date of the @n th Working Day after the window's last day ("due" of a report). */
struct ow_date ow_window_due(const struct ow_calendar *cal, struct ow_window_id w, int n);

/** The window @n windows after @w (n may be negative). */
struct ow_window_id ow_window_add(struct ow_window_id w, int n);

/** Format as "2021-04" or "2021-Q1". @returns length (buffer of at least 16 bytes). */
size_t ow_window_name(struct ow_window_id w, char *buf, size_t len);

/** Parse exactly "YYYY-MM" or "YYYY-Qn" (@len bytes, no NUL needed): four digits, month 01-12
 * or quarter Q1-Q4, nothing after. @returns 0, or -1 when malformed ("2021-13", "2021-Q5",
 * "21-04", "2021-4", "2021-q1", "2021-04x"). */
int ow_window_parse(const char *s, size_t len, struct ow_window_id *w);

/** Compare two ids of the same kind by time: <0, 0, >0. Ids of different kinds order by
 * their first month, then a month before the quarter that starts with it. */
int ow_window_cmp(struct ow_window_id a, struct ow_window_id b);

#endif
