/* window.c: calendar month/quarter windows in an IANA zone; grace and close. */
#include "window.h"

#include <stdio.h>

#include "civil.h"

static int floor_div(int a, int b)
{
    int q = a / b;

    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        q--;
    }
    return q;
}

/* The month index (year * 12 + month - 1) of the first month of @w. */
static int first_month(struct ow_window_id w)
{
    return w.kind == OW_WIN_QUARTER ? w.index * 3 : w.index;
}

/* The civil date of the last day of @w. */
static struct ow_date last_day(struct ow_window_id w)
{
    int next = first_month(ow_window_add(w, 1));
    int y = floor_div(next, 12);
    int m = next - y * 12 + 1;
    struct ow_date d;

    ow_civil_from_days(ow_days_from_civil(y, m, 1) - 1, &d.year, &d.month, &d.day);
    return d;
}

struct ow_window_id ow_window_of(const struct ow_tz *tz, enum ow_window_kind kind, int64_t us)
{
    int month = ow_tz_month_of(tz, us);
    struct ow_window_id w = {OW_WIN_MONTH, month};

    if (kind == OW_WIN_QUARTER) {
        w = ow_window_quarter_of_month(month);
    }
    return w;
}

struct ow_window_id ow_window_quarter_of_month(int month)
{
    /* year * 12 + (m - 1) over 3 is year * 4 + (m - 1) / 3: the quarter index. */
    struct ow_window_id w = {OW_WIN_QUARTER, floor_div(month, 3)};

    return w;
}

int64_t ow_window_start(const struct ow_tz *tz, struct ow_window_id w)
{
    int month = first_month(w);
    int y = floor_div(month, 12);

    return ow_tz_midnight(tz, y, month - y * 12 + 1, 1);
}

int64_t ow_window_end(const struct ow_tz *tz, struct ow_window_id w)
{
    return ow_window_start(tz, ow_window_add(w, 1));
}

int64_t ow_window_close_at(const struct ow_tz *tz, const struct ow_calendar *cal,
                           const struct ow_grace *grace, struct ow_window_id w)
{
    struct ow_date due;

    if (!grace->working_days) {
        return ow_window_end(tz, w) + grace->duration_us;
    }
    if (grace->days <= 0) {
        return ow_window_end(tz, w);
    }
    /* The whole Nth Working Day is inside the grace: close as the day after it begins. */
    due = ow_window_due(cal, w, grace->days);
    return ow_tz_midnight(tz, due.year, due.month, due.day + 1);
}

struct ow_date ow_window_due(const struct ow_calendar *cal, struct ow_window_id w, int n)
{
    return ow_calendar_nth_working_day_after(cal, last_day(w), n);
}

struct ow_window_id ow_window_add(struct ow_window_id w, int n)
{
    w.index += n;
    return w;
}

size_t ow_window_name(struct ow_window_id w, char *buf, size_t len)
{
    int n;

    if (len == 0) {
        return 0;
    }
    if (w.kind == OW_WIN_QUARTER) {
        int y = floor_div(w.index, 4);

        n = snprintf(buf, len, "%04d-Q%d", y, w.index - y * 4 + 1);
    } else {
        int y = floor_div(w.index, 12);

        n = snprintf(buf, len, "%04d-%02d", y, w.index - y * 12 + 1);
    }
    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)n < len ? (size_t)n : len - 1;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int ow_window_parse(const char *s, size_t len, struct ow_window_id *w)
{
    int y;

    /* Exactly "YYYY-MM" or "YYYY-Qn": seven bytes, no sign, no lower-case q, nothing after. */
    if (s == NULL || len != 7 || s[4] != '-') {
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        if (!is_digit(s[i])) {
            return -1;
        }
    }
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    if (s[5] == 'Q') {
        if (s[6] < '1' || s[6] > '4') {
            return -1;
        }
        w->kind = OW_WIN_QUARTER;
        w->index = y * 4 + (s[6] - '1');
        return 0;
    }
    if (!is_digit(s[5]) || !is_digit(s[6])) {
        return -1;
    }
    if ((s[5] - '0') * 10 + (s[6] - '0') < 1 || (s[5] - '0') * 10 + (s[6] - '0') > 12) {
        return -1;
    }
    w->kind = OW_WIN_MONTH;
    w->index = y * 12 + (s[5] - '0') * 10 + (s[6] - '0') - 1;
    return 0;
}

int ow_window_cmp(struct ow_window_id a, struct ow_window_id b)
{
    /* Different kinds (not the contract's use) order by first month, then months first. */
    int ka = a.kind == b.kind ? a.index : first_month(a);
    int kb = a.kind == b.kind ? b.index : first_month(b);

    if (ka != kb) {
        return ka < kb ? -1 : 1;
    }
    if (a.kind != b.kind) {
        return a.kind == OW_WIN_MONTH ? -1 : 1;
    }
    return 0;
}
