/* tz.c: IANA zones through the C library, with a table of month starts filled on demand.
 *
 * The table covers 1900..2200 but each entry costs a few localtime_r() calls, so building it
 * whole at start-up cost more than replaying 100k events; an entry is computed the first time
 * it is looked at (a replay touches a handful of months) and kept. The table lives behind a
 * pointer so that the const accessors can fill it (one thread only, as for TZ itself). */
#include "tz.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "civil.h"

#define FIRST_YEAR 1900
#define LAST_YEAR 2200
#define FIRST_MONTH (FIRST_YEAR * 12)
#define N_MONTHS ((LAST_YEAR - FIRST_YEAR + 1) * 12)
/* The mean Gregorian month, 146097 days / 4800 months, is a whole number of microseconds. */
#define MEAN_MONTH_US (INT64_C(146097) * 86400 / 4800 * OW_US_PER_SEC)
#define DEFAULT_TZDIR "/usr/share/zoneinfo"

struct ow_tz {
    char *name;
    char *tzenv; /* the value given to TZ */
    /* start[i]: local midnight starting month FIRST_MONTH + i, or UNSET until first needed;
     * start[N_MONTHS] ends the table. */
    int64_t *start;
    /* Local midnights of other days (due dates, close instants: the same few days are asked
     * for again at each watermark step), direct-mapped by day number. */
    struct day_memo *memo;
    int64_t *last_month; /* table index of ow_tz_month_of's last answer, or -1 */
};

#define MEMO_SIZE 64 /* power of two */

struct day_memo {
    int64_t day; /* days since 1970-01-01, or UNSET */
    int64_t us;
};

#define UNSET INT64_MIN

/* The zone the C library was last pointed at by this file (TZ is process-global). */
static const struct ow_tz *active;

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        q--;
    }
    return q;
}

static void activate(const struct ow_tz *tz)
{
    if (active == tz) {
        return;
    }
    setenv("TZ", tz->tzenv, 1);
    tzset();
    active = tz;
}

/* A zone name is a relative path under the zoneinfo directory of a file that starts "TZif".
 * The magic check turns away directories ("Europe") and the tables kept beside the zones
 * ("zone.tab", "tzdata.zi"), which the C library would silently treat as UTC. */
static bool zone_exists(const char *name)
{
    const char *dir = getenv("TZDIR");
    char path[512];
    char magic[4];
    int fd;
    ssize_t got;

    if (dir == NULL || dir[0] == '\0') {
        dir = DEFAULT_TZDIR;
    }
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
        return false;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    got = read(fd, magic, sizeof(magic));
    close(fd);
    return got == (ssize_t)sizeof(magic) && memcmp(magic, "TZif", 4) == 0;
}

static bool name_ok(const char *name)
{
    const char *p;

    if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL || strlen(name) > 255) {
        return false;
    }
    for (p = name; *p != '\0'; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '/' || *p == '_' || *p == '-' || *p == '+' || *p == '.')) {
            return false;
        }
    }
    return true;
}

static int64_t date_key(int64_t y, int m, int d)
{
    return y * 10000 + m * 100 + d;
}

static int64_t local_date_key(time_t t)
{
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL) {
        return 0;
    }
    return date_key((int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

static bool utc_offset(time_t t, long *off)
{
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL) {
        return false;
    }
    *off = tm.tm_gmtoff;
    return true;
}

/* Seconds since the epoch of the first instant of local date y-m-d (already normalised), in
 * the active zone. The candidates are UTC midnight minus each offset in force within 30 hours
 * of it (offsets lie within -12h..+14h, so that window brackets the answer); one counts only if
 * it reads back as exactly 00:00:00 of that date, and the earliest wins (where clocks go back
 * over midnight it happens twice). mktime() is not used: it is slow and its choice in a fold
 * or a gap is unspecified. If no candidate reads back, midnight fell in a gap: bisect for the
 * first instant of the date, i.e. the end of the gap. */
static int64_t midnight_slow(int y, int m, int d)
{
    int64_t want = date_key(y, m, d);
    int64_t utc = ow_days_from_civil(y, m, d) * 86400;
    int64_t probe[3] = {utc - 30 * 3600, utc, utc + 30 * 3600};
    int64_t best = 0;
    bool found = false;
    int64_t lo;
    int64_t hi;

    for (int i = 0; i < 3; i++) {
        struct tm back;
        long off;
        time_t t;

        if (!utc_offset((time_t)probe[i], &off)) {
            continue;
        }
        t = (time_t)(utc - off);
        if (localtime_r(&t, &back) == NULL) {
            continue;
        }
        if (back.tm_hour == 0 && back.tm_min == 0 && back.tm_sec == 0 &&
            date_key((int64_t)back.tm_year + 1900, back.tm_mon + 1, back.tm_mday) == want &&
            (!found || (int64_t)t < best)) {
            best = (int64_t)t;
            found = true;
        }
    }
    if (found) {
        return best;
    }
    lo = probe[0];
    hi = probe[2];
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;

        if (local_date_key((time_t)mid) >= want) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    return hi;
}

/* Fill entry @i of the month-start table. */
static __attribute__((noinline)) int64_t month_fill(const struct ow_tz *tz, int64_t i)
{
    int month = FIRST_MONTH + (int)i;

    activate(tz);
    tz->start[i] = midnight_slow(month / 12, month % 12 + 1, 1) * OW_US_PER_SEC;
    return tz->start[i];
}

/* Entry @i (0..N_MONTHS) of the month-start table, computed on first use. */
static inline int64_t month_start(const struct ow_tz *tz, int64_t i)
{
    int64_t v = tz->start[i];

    return __builtin_expect(v == UNSET, 0) ? month_fill(tz, i) : v;
}

struct ow_tz *ow_tz_create(const char *name, struct ow_err *err)
{
    struct ow_tz *tz;
    bool utc;

    if (name == NULL) {
        ow_err_set(err, OW_EINVAL, "timezone", "expected a zone name, got none");
        return NULL;
    }
    utc = strcmp(name, "UTC") == 0;
    if (!utc && (!name_ok(name) || !zone_exists(name))) {
        ow_err_set(err, OW_EINVAL, "timezone",
                   "expected an IANA zone name present in the system zoneinfo (%s), got \"%.60s\"",
                   getenv("TZDIR") != NULL && getenv("TZDIR")[0] != '\0' ? "$TZDIR" : DEFAULT_TZDIR,
                   name);
        return NULL;
    }
    tz = ow_xcalloc(1, sizeof(*tz));
    tz->name = ow_xstrdup(name);
    if (utc) {
        /* A POSIX rule, so UTC works even without tzdata installed. */
        tz->tzenv = ow_xstrdup("UTC0");
    } else {
        /* The leading ':' tells the C library to read a file and never parse a POSIX rule. */
        tz->tzenv = ow_xmalloc(strlen(name) + 2);
        tz->tzenv[0] = ':';
        memcpy(tz->tzenv + 1, name, strlen(name) + 1);
    }
    activate(tz);
    tz->start = ow_xmalloc((N_MONTHS + 1) * sizeof(*tz->start));
    for (int i = 0; i <= N_MONTHS; i++) {
        tz->start[i] = UNSET;
    }
    tz->last_month = ow_xmalloc(sizeof(*tz->last_month));
    *tz->last_month = -1;
    tz->memo = ow_xmalloc(MEMO_SIZE * sizeof(*tz->memo));
    for (int i = 0; i < MEMO_SIZE; i++) {
        tz->memo[i].day = UNSET;
    }
    return tz;
}

void ow_tz_destroy(struct ow_tz *tz)
{
    if (tz == NULL) {
        return;
    }
    if (active == tz) {
        active = NULL;
    }
    free(tz->start);
    free(tz->memo);
    free(tz->last_month);
    free(tz->name);
    free(tz->tzenv);
    free(tz);
}

const char *ow_tz_name(const struct ow_tz *tz)
{
    return tz->name;
}

int64_t ow_tz_midnight(const struct ow_tz *tz, int y, int m, int d)
{
    int64_t yy = y + floor_div((int64_t)m - 1, 12);
    int mm = (int)((int64_t)m - 1 - floor_div((int64_t)m - 1, 12) * 12) + 1;
    int64_t days = ow_days_from_civil(yy, mm, 1) + ((int64_t)d - 1);
    int cy;
    int cm;
    int cd;
    int64_t month;
    struct day_memo *memo;

    ow_civil_from_days(days, &cy, &cm, &cd);
    month = (int64_t)cy * 12 + (cm - 1);
    if (cd == 1 && month >= FIRST_MONTH && month <= FIRST_MONTH + N_MONTHS) {
        return month_start(tz, month - FIRST_MONTH);
    }
    memo = &tz->memo[(uint64_t)days & (MEMO_SIZE - 1)];
    if (memo->day != days) {
        activate(tz);
        memo->us = midnight_slow(cy, cm, cd) * OW_US_PER_SEC;
        memo->day = days;
    }
    return memo->us;
}

int ow_tz_month_of(const struct ow_tz *tz, int64_t us)
{
    struct ow_civil c;
    int64_t i;

    i = *tz->last_month;
    if (i >= 0 && us >= tz->start[i] && us < tz->start[i + 1]) {
        return FIRST_MONTH + (int)i; /* events come in time order, mostly: the same month */
    }
    if (us >= month_start(tz, 0) && us < month_start(tz, N_MONTHS)) {
        /* The mean month lands within one entry of the answer: month starts stray from the
         * mean by under two days, and offsets by under a day. The loops settle it exactly. */
        i = (us - month_start(tz, 0)) / MEAN_MONTH_US;
        if (i > N_MONTHS - 1) {
            i = N_MONTHS - 1;
        }
        while (us < month_start(tz, i)) {
            i--;
        }
        while (us >= month_start(tz, i + 1)) {
            i++;
        }
        *tz->last_month = i; /* start[i] and start[i + 1] are filled now */
        return FIRST_MONTH + (int)i;
    }
    ow_tz_civil(tz, us, &c);
    return c.year * 12 + (c.month - 1);
}

void ow_tz_civil(const struct ow_tz *tz, int64_t us, struct ow_civil *c)
{
    int64_t s = floor_div(us, OW_US_PER_SEC);
    time_t t = (time_t)s;
    struct tm tm;

    activate(tz);
    memset(c, 0, sizeof(*c));
    c->usec = (int)(us - s * OW_US_PER_SEC);
    if (localtime_r(&t, &tm) == NULL) {
        /* Beyond what the C library can represent: report UTC rather than garbage. */
        int64_t days = floor_div(s, 86400);
        int64_t sod = s - days * 86400;

        ow_civil_from_days(days, &c->year, &c->month, &c->day);
        c->hour = (int)(sod / 3600);
        c->minute = (int)(sod / 60 % 60);
        c->second = (int)(sod % 60);
        return;
    }
    c->year = tm.tm_year + 1900;
    c->month = tm.tm_mon + 1;
    c->day = tm.tm_mday;
    c->hour = tm.tm_hour;
    c->minute = tm.tm_min;
    c->second = tm.tm_sec;
    c->utc_offset_s = (int)tm.tm_gmtoff;
}

size_t ow_tz_format(const struct ow_tz *tz, int64_t us, char *buf, size_t len)
{
    struct ow_civil c;
    char frac[8] = "";
    int off;
    char sign;
    int n;

    if (len == 0) {
        return 0;
    }
    ow_tz_civil(tz, us, &c);
    off = c.utc_offset_s;
    sign = off < 0 ? '-' : '+';
    if (off < 0) {
        off = -off;
    }
    if (c.usec != 0) {
        snprintf(frac, sizeof(frac), ".%06d", c.usec);
    }
    n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%s%c%02d:%02d", c.year, c.month, c.day,
                 c.hour, c.minute, c.second, frac, sign, off / 3600, off % 3600 / 60);
    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)n < len ? (size_t)n : len - 1;
}
