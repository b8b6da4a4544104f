/* rfc3339.c: RFC 3339 date-times with a required offset <-> microseconds since the epoch. */
#include "rfc3339.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bytes.h"

/* Read @n decimal digits at @s into *@out; false if any is not a digit. */
static bool digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Two decimal digits at @s, or -1. */
static inline int two(const char *s)
{
    unsigned a = (unsigned)(unsigned char)s[0] - '0';
    unsigned b = (unsigned)(unsigned char)s[1] - '0';

    return a < 10 && b < 10 ? (int)(a * 10 + b) : -1;
}

/* The fraction's digits at @s (@n of them): microseconds, digits past the sixth truncated. */
static inline int64_t fraction_us(const char *s, size_t n)
{
    static const int32_t scale[6] = {100000, 10000, 1000, 100, 10, 1};
    int64_t us = 0;

    for (size_t i = 0; i < n && i < 6; i++) {
        us += (s[i] - '0') * scale[i];
    }
    return us;
}

/* The shapes events use, "YYYY-MM-DDThh:mm:ss[.f...]Z" and "YYYY-MM-DDThh:mm:ss[.f...]+hh:mm",
 * without a branch per digit but the fraction's. True and *@us only when the text is valid in
 * every respect the general parser checks; anything else (including every error) goes to the
 * general parser, which alone words the reasons. */
static inline bool parse_common(const char *s, size_t len, int64_t *us, struct ow_rfc3339_day *day)
{
    int c;
    int y;
    int mo;
    int d;
    int h;
    int mi;
    int se;
    int oh = 0;
    int om = 0;
    int64_t days;
    int64_t secs;
    int64_t frac = 0;
    size_t i = 19; /* after the seconds */

    if (len < 20) {
        return false;
    }
    if (s[19] == '.') {
        for (i = 20; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        }
        if (i == 20) {
            return false;
        }
        frac = fraction_us(s + 20, i - 20);
    }
    if (len - i == 1) {
        if (s[i] != 'Z' && s[i] != 'z') {
            return false;
        }
    } else if (len - i == 6) {
        if ((s[i] != '+' && s[i] != '-') || s[i + 3] != ':') {
            return false;
        }
        oh = two(s + i + 1);
        om = two(s + i + 4);
        if (oh < 0 || oh > 23 || om < 0 || om > 59) {
            return false;
        }
        if (s[i] == '-') {
            oh = -oh;
            om = -om;
        }
    } else {
        return false;
    }
    if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':') {
        return false;
    }
    h = two(s + 11);
    mi = two(s + 14);
    se = two(s + 17);
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59) {
        return false;
    }
    if (day != NULL && day->set && ow_same_short(s, day->date, sizeof(day->date))) {
        days = day->days;
    } else {
        c = two(s);
        y = two(s + 2);
        mo = two(s + 5);
        d = two(s + 8);
        if (c < 0 || y < 0 || (c == 0 && y == 0) || mo < 1 || mo > 12 || d < 1) {
            return false;
        }
        y += c * 100;
        if (d > ow_days_in_month(y, mo)) {
            return false;
        }
        days = ow_days_from_civil(y, mo, d);
        if (day != NULL) {
            memcpy(day->date, s, sizeof(day->date));
            day->days = days;
            day->set = true;
        }
    }
    secs = days * 86400 + h * 3600 + mi * 60 + se;
    secs -= (int64_t)oh * 3600 + (int64_t)om * 60;
    *us = secs * OW_US_PER_SEC + frac;
    return true;
}

int ow_rfc3339_parse(const char *s, size_t len, int64_t *us, const char **why)
{
    return ow_rfc3339_parse_day(NULL, s, len, us, why);
}

int ow_rfc3339_parse_day(struct ow_rfc3339_day *cache, const char *s, size_t len, int64_t *us,
                         const char **why)
{
    int year;
    int month;
    int day;
    int hour;
    int minute;
    int second;
    int off_h;
    int off_m;
    int64_t frac = 0;
    int64_t secs;
    int sign;
    size_t i;

    if (parse_common(s, len, us, cache)) {
        return 0;
    }
    /* "YYYY-MM-DD" is 10 bytes; "Thh:mm:ss" 9 more; the shortest offset "Z" 1 more. */
    if (len < 10 || !digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &month) ||
        s[7] != '-' || !digits(s + 8, 2, &day)) {
        *why = "not in the form YYYY-MM-DDThh:mm:ss+hh:mm";
        return -1;
    }
    if (len == 10) {
        *why = "date only, time and offset missing";
        return -1;
    }
    if ((s[10] != 'T' && s[10] != 't') || len < 19 || !digits(s + 11, 2, &hour) || s[13] != ':' ||
        !digits(s + 14, 2, &minute) || s[16] != ':' || !digits(s + 17, 2, &second)) {
        *why = "not in the form YYYY-MM-DDThh:mm:ss+hh:mm";
        return -1;
    }
    i = 19;
    if (i < len && s[i] == '.') {
        size_t start = ++i;

        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        frac = fraction_us(s + start, i - start);
        if (i == start) {
            *why = "no digits after the decimal point";
            return -1;
        }
    }
    if (i == len) {
        *why = "missing offset (Z or +hh:mm)";
        return -1;
    }
    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
        sign = 0;
        off_h = 0;
        off_m = 0;
    } else if ((s[i] == '+' || s[i] == '-') && i + 6 == len && digits(s + i + 1, 2, &off_h) &&
               s[i + 3] == ':' && digits(s + i + 4, 2, &off_m)) {
        sign = s[i] == '+' ? 1 : -1;
    } else {
        *why = "bad offset (expected Z or +hh:mm)";
        return -1;
    }
    if (year < 1) {
        *why = "year out of range";
        return -1;
    }
    if (month < 1 || month > 12) {
        *why = "month out of range";
        return -1;
    }
    if (day < 1 || day > ow_days_in_month(year, month)) {
        *why = "day out of range for the month";
        return -1;
    }
    if (hour > 23) {
        *why = "hour out of range";
        return -1;
    }
    if (minute > 59) {
        *why = "minute out of range";
        return -1;
    }
    if (second > 59) {
        *why = "second out of range";
        return -1;
    }
    if (off_h > 23 || off_m > 59) {
        *why = "offset out of range";
        return -1;
    }
    secs = ow_days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    secs -= (int64_t)sign * (off_h * 3600 + off_m * 60);
    *us = secs * OW_US_PER_SEC + frac;
    return 0;
}

size_t ow_rfc3339_format_utc(int64_t us, char *buf, size_t len)
{
    int64_t secs = us / OW_US_PER_SEC;
    int64_t frac = us % OW_US_PER_SEC;
    int64_t days;
    int64_t sod;
    int y;
    int m;
    int d;
    int n;

    if (frac < 0) {
        frac += OW_US_PER_SEC;
        secs -= 1;
    }
    days = secs / 86400;
    sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days -= 1;
    }
    ow_civil_from_days(days, &y, &m, &d);
    if (frac != 0) {
        n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", y, m, d, (int)(sod / 3600),
                     (int)(sod / 60 % 60), (int)(sod % 60), (int)frac);
    } else {
        n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(sod / 3600),
                     (int)(sod / 60 % 60), (int)(sod % 60));
    }
    if (n < 0) {
        return 0;
    }
    return (size_t)n < len ? (size_t)n : len - 1;
}
