/* gen_time.c: Europe/London local time for the generator, through libc's zone database. */
#include "gen_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "civil.h"

void ow__gen_time_init(void)
{
    setenv("TZ", "Europe/London", 1);
    tzset();
}

int64_t ow__gen_time_local(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm);
}

int ow__gen_time_month_of(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    localtime_r(&tt, &tm);
    return (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

static void digits(char *p, int v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void ow__gen_time_format(int64_t t, int ms, enum ow_gen_tstyle style, char *buf, size_t len)
{
    int64_t shown = t;
    long off = 0;
    int y;
    int mo;
    int d;
    int64_t days;
    int64_t sod;
    char frac[16] = "";
    char zone[32] = "Z";

    if (style == OW_GEN_TS_LOCAL) {
        time_t tt = (time_t)t;
        struct tm tm;

        localtime_r(&tt, &tm);
        off = tm.tm_gmtoff;
        shown = t + off;
        snprintf(zone, sizeof(zone), "%c%02d:%02d", off < 0 ? '-' : '+',
                 (int)(labs(off) / 3600 % 24), (int)(labs(off) % 3600 / 60));
    } else if (style == OW_GEN_TS_LOWER) {
        zone[0] = 'z';
    } else if (style == OW_GEN_TS_NONE) {
        zone[0] = '\0';
    }
    days = shown >= 0 ? shown / 86400 : -((-shown + 86399) / 86400);
    sod = shown - days * 86400;
    ow_civil_from_days(days, &y, &mo, &d);
    if (ms > 0) {
        frac[0] = '.';
        digits(frac + 1, ms % 1000, 3);
        frac[4] = '\0';
    }
    if (len < 40) {
        return;
    }
    /* Digits by hand: this runs once per line, and snprintf would dominate the profile. */
    digits(buf, y, 4);
    buf[4] = '-';
    digits(buf + 5, mo, 2);
    buf[7] = '-';
    digits(buf + 8, d, 2);
    buf[10] = style == OW_GEN_TS_LOWER ? 't' : 'T';
    digits(buf + 11, (int)(sod / 3600), 2);
    buf[13] = ':';
    digits(buf + 14, (int)(sod % 3600 / 60), 2);
    buf[16] = ':';
    digits(buf + 17, (int)(sod % 60), 2);
    buf[19] = '\0';
    strcat(buf, frac);
    strcat(buf, zone);
}
