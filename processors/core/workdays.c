/* workdays.c: the England and Wales Working Day calendar, from gov.uk JSON and the rules. */
#include "workdays.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "civil.h"
#include "embedded.h"

#define N_YEARS (OW_CALENDAR_LAST_YEAR - OW_CALENDAR_FIRST_YEAR + 1)
#define EW "$[\"england-and-wales\"]"

struct ow_calendar {
    int64_t first_day; /* days since the epoch of OW_CALENDAR_FIRST_YEAR-01-01 */
    int64_t n_days;
    uint8_t *holiday;                     /* one bit per day from first_day */
    enum ow_calendar_source src[N_YEARS]; /* per year */
};

/* Anonymous Gregorian algorithm (Meeus/Jones/Butcher): days since the epoch of Easter Sunday. */
static int64_t easter_days(int y)
{
    int a = y % 19;
    int b = y / 100;
    int c = y % 100;
    int d = b / 4;
    int e = b % 4;
    int f = (b + 8) / 25;
    int g = (b - f + 1) / 3;
    int h = (19 * a + b - d - g + 15) % 30;
    int i = c / 4;
    int k = c % 4;
    int l = (32 + 2 * e + 2 * i - h - k) % 7;
    int m = (a + 11 * h + 22 * l) / 451;
    int month = (h + l - 7 * m + 114) / 31;
    int day = (h + l - 7 * m + 114) % 31 + 1;

    return ow_days_from_civil(y, month, day);
}

static int64_t first_monday(int y, int m)
{
    int64_t d = ow_days_from_civil(y, m, 1);

    return d + (8 - ow_weekday_from_days(d)) % 7;
}

static int64_t last_monday(int y, int m)
{
    int64_t d = ow_days_from_civil(y, m, ow_days_in_month(y, m));

    return d - (ow_weekday_from_days(d) + 6) % 7;
}

static bool is_weekend(int64_t days)
{
    int wd = ow_weekday_from_days(days);

    return wd == 0 || wd == 6;
}

struct rule {
    const char *title;
    int64_t day;
    bool moved;
};

int ow_calendar_rule_holidays_named(int year, struct ow_holiday *out, int max)
{
    struct rule h[OW_CALENDAR_RULE_HOLIDAYS] = {
        {"New Year\u2019s Day", ow_days_from_civil(year, 1, 1), false},
        {"Good Friday", easter_days(year) - 2, false},
        {"Easter Monday", easter_days(year) + 1, false},
        {"Early May bank holiday", first_monday(year, 5), false},
        {"Spring bank holiday", last_monday(year, 5), false},
        {"Summer bank holiday", last_monday(year, 8), false},
        {"Christmas Day", ow_days_from_civil(year, 12, 25), false},
        {"Boxing Day", ow_days_from_civil(year, 12, 26), false},
    };
    int n = 0;

    if (year < 1) {
        return 0;
    }
    /* Holidays on weekdays keep their day; each one on a weekend then moves, in order, to the
     * next weekday not already taken. So Christmas on a Sunday leaves Boxing Day on Monday 26
     * and takes Tuesday 27, as gov.uk publishes it. */
    for (int i = 0; i < OW_CALENDAR_RULE_HOLIDAYS; i++) {
        bool taken = true;

        if (!is_weekend(h[i].day)) {
            continue;
        }
        h[i].moved = true;
        while (taken) {
            h[i].day++;
            taken = is_weekend(h[i].day);
            for (int j = 0; j < OW_CALENDAR_RULE_HOLIDAYS && !taken; j++) {
                taken = j != i && h[j].day == h[i].day;
            }
        }
    }
    /* Output in date order (insertion sort: eight entries, nearly sorted already). */
    for (int i = 1; i < OW_CALENDAR_RULE_HOLIDAYS; i++) {
        for (int j = i; j > 0 && h[j - 1].day > h[j].day; j--) {
            struct rule tmp = h[j];

            h[j] = h[j - 1];
            h[j - 1] = tmp;
        }
    }
    for (int i = 0; i < OW_CALENDAR_RULE_HOLIDAYS && n < max; i++) {
        ow_civil_from_days(h[i].day, &out[n].date.year, &out[n].date.month, &out[n].date.day);
        out[n].title = h[i].title;
        out[n].substitute = h[i].moved;
        n++;
    }
    return n;
}

int ow_calendar_rule_holidays(int year, struct ow_date *out, int max)
{
    struct ow_holiday h[OW_CALENDAR_RULE_HOLIDAYS];
    int n = ow_calendar_rule_holidays_named(year, h, OW_CALENDAR_RULE_HOLIDAYS);
    int i;

    for (i = 0; i < n && i < max; i++) {
        out[i] = h[i].date;
    }
    return i;
}

static void set_holiday(struct ow_calendar *cal, int64_t days)
{
    int64_t i = days - cal->first_day;

    cal->holiday[i / 8] |= (uint8_t)(1u << (i % 8));
}

static bool rule_holiday(int year, int64_t days)
{
    struct ow_date d[OW_CALENDAR_RULE_HOLIDAYS];
    int n = ow_calendar_rule_holidays(year, d, OW_CALENDAR_RULE_HOLIDAYS);

    for (int i = 0; i < n; i++) {
        if (ow_days_from_civil(d[i].year, d[i].month, d[i].day) == days) {
            return true;
        }
    }
    return false;
}

static bool holiday_days(const struct ow_calendar *cal, int64_t days)
{
    int64_t i = days - cal->first_day;
    int y;
    int m;
    int d;

    if (i >= 0 && i < cal->n_days) {
        return (cal->holiday[i / 8] >> (i % 8)) & 1u;
    }
    ow_civil_from_days(days, &y, &m, &d);
    return rule_holiday(y, days);
}

/* A JSON value as it appears in an error: strings quoted and cut short, containers named. */
static const char *describe(const json_t *v, char *buf, size_t len)
{
    char *s;

    if (v == NULL) {
        snprintf(buf, len, "nothing");
    } else if (json_is_object(v)) {
        snprintf(buf, len, "an object");
    } else if (json_is_array(v)) {
        snprintf(buf, len, "an array");
    } else {
        s = json_dumps(v, JSON_ENCODE_ANY);
        if (s == NULL) {
            snprintf(buf, len, "a value");
        } else if (strlen(s) > 64) {
            snprintf(buf, len, "%.60s...", s);
        } else {
            snprintf(buf, len, "%s", s);
        }
        free(s);
    }
    return buf;
}

static int fail(struct ow_err *err, const char *source, const char *path, const json_t *got,
                const char *expected)
{
    char where[192];
    char what[80];

    snprintf(where, sizeof(where), "%s: %s", source, path);
    return ow_err_set(err, OW_EINVAL, where, "expected %s, got %s", expected,
                      describe(got, what, sizeof(what)));
}

/* Strict "YYYY-MM-DD" with a real day of the month. */
static bool parse_date(const char *s, struct ow_date *d)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') {
        return false;
    }
    for (int i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) {
            return false;
        }
    }
    d->year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    d->month = (s[5] - '0') * 10 + (s[6] - '0');
    d->day = (s[8] - '0') * 10 + (s[9] - '0');
    return d->month >= 1 && d->month <= 12 && d->day >= 1 &&
           d->day <= ow_days_in_month(d->year, d->month);
}

static int read_opswatch(const json_t *ow, const char *source, bool *computed, struct ow_err *err)
{
    const json_t *years;
    const json_t *src;
    const json_t *y;
    size_t i;
    char path[64];

    if (!json_is_object(ow)) {
        return fail(err, source, "$.opswatch", ow, "an object");
    }
    src = json_object_get(ow, "source");
    if (src != NULL && !json_is_string(src)) {
        return fail(err, source, "$.opswatch.source", src, "a string");
    }
    years = json_object_get(ow, "computed_years");
    if (years == NULL) {
        return OW_OK;
    }
    if (!json_is_array(years)) {
        return fail(err, source, "$.opswatch.computed_years", years, "an array of years");
    }
    json_array_foreach(years, i, y)
    {
        json_int_t v = json_is_integer(y) ? json_integer_value(y) : 0;

        if (v < OW_CALENDAR_FIRST_YEAR || v > OW_CALENDAR_LAST_YEAR) {
            snprintf(path, sizeof(path), "$.opswatch.computed_years[%zu]", i);
            return fail(err, source, path, y, "a year 1900..2200");
        }
        computed[v - OW_CALENDAR_FIRST_YEAR] = true;
    }
    return OW_OK;
}

static int read_event(struct ow_calendar *cal, const json_t *ev, size_t i, const char *source,
                      bool *listed, struct ow_err *err)
{
    static const char *const optional_strings[] = {"notes", NULL};
    const json_t *v;
    struct ow_date d;
    int64_t days;
    char path[96];

    snprintf(path, sizeof(path), EW ".events[%zu]", i);
    if (!json_is_object(ev)) {
        return fail(err, source, path, ev, "an event object {\"title\", \"date\", ...}");
    }
    snprintf(path, sizeof(path), EW ".events[%zu].date", i);
    v = json_object_get(ev, "date");
    if (!json_is_string(v) || !parse_date(json_string_value(v), &d)) {
        return fail(err, source, path, v, "a date YYYY-MM-DD");
    }
    if (d.year < OW_CALENDAR_FIRST_YEAR || d.year > OW_CALENDAR_LAST_YEAR) {
        return fail(err, source, path, v, "a date in the years 1900..2200");
    }
    days = ow_days_from_civil(d.year, d.month, d.day);
    if (holiday_days(cal, days)) { /* only the file's dates are set yet */
        return fail(err, source, path, v, "each date once (this one is listed twice)");
    }
    snprintf(path, sizeof(path), EW ".events[%zu].title", i);
    v = json_object_get(ev, "title");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        return fail(err, source, path, v, "a non-empty string");
    }
    for (int k = 0; optional_strings[k] != NULL; k++) {
        v = json_object_get(ev, optional_strings[k]);
        if (v != NULL && !json_is_string(v)) {
            snprintf(path, sizeof(path), EW ".events[%zu].%s", i, optional_strings[k]);
            return fail(err, source, path, v, "a string");
        }
    }
    v = json_object_get(ev, "bunting");
    if (v != NULL && !json_is_boolean(v)) {
        snprintf(path, sizeof(path), EW ".events[%zu].bunting", i);
        return fail(err, source, path, v, "true or false");
    }
    listed[d.year - OW_CALENDAR_FIRST_YEAR] = true;
    set_holiday(cal, days);
    return OW_OK;
}

struct ow_calendar *ow_calendar_from_json(const json_t *doc, const char *source, struct ow_err *err)
{
    struct ow_calendar *cal;
    const json_t *div;
    const json_t *v;
    const json_t *ev;
    bool listed[N_YEARS] = {false};
    bool computed[N_YEARS] = {false};
    size_t i;

    if (source == NULL) {
        source = "calendar";
    }
    if (!json_is_object(doc)) {
        fail(err, source, "$", doc, "an object of gov.uk divisions");
        return NULL;
    }
    cal = ow_xcalloc(1, sizeof(*cal));
    cal->first_day = ow_days_from_civil(OW_CALENDAR_FIRST_YEAR, 1, 1);
    cal->n_days = ow_days_from_civil(OW_CALENDAR_LAST_YEAR + 1, 1, 1) - cal->first_day;
    cal->holiday = ow_xcalloc((size_t)(cal->n_days + 7) / 8, 1);

    v = json_object_get(doc, "opswatch");
    if (v != NULL && read_opswatch(v, source, computed, err) != OW_OK) {
        goto out_free_cal;
    }
    div = json_object_get(doc, "england-and-wales");
    if (!json_is_object(div)) {
        fail(err, source, EW, div, "the gov.uk division object {\"division\", \"events\"}");
        goto out_free_cal;
    }
    v = json_object_get(div, "division");
    if (v != NULL &&
        !(json_is_string(v) && strcmp(json_string_value(v), "england-and-wales") == 0)) {
        fail(err, source, EW ".division", v, "\"england-and-wales\"");
        goto out_free_cal;
    }
    v = json_object_get(div, "events");
    if (!json_is_array(v)) {
        fail(err, source, EW ".events", v, "an array of events");
        goto out_free_cal;
    }
    json_array_foreach(v, i, ev)
    {
        if (read_event(cal, ev, i, source, listed, err) != OW_OK) {
            goto out_free_cal;
        }
    }
    /* A year the file lists is the file's alone; every other year comes from the rules. */
    for (int y = 0; y < N_YEARS; y++) {
        struct ow_date d[OW_CALENDAR_RULE_HOLIDAYS];
        int n;

        if (listed[y]) {
            cal->src[y] = computed[y] ? OW_CAL_COMPUTED : OW_CAL_PUBLISHED;
            continue;
        }
        cal->src[y] = OW_CAL_RULES;
        n = ow_calendar_rule_holidays(OW_CALENDAR_FIRST_YEAR + y, d, OW_CALENDAR_RULE_HOLIDAYS);
        for (int k = 0; k < n; k++) {
            set_holiday(cal, ow_days_from_civil(d[k].year, d[k].month, d[k].day));
        }
    }
    return cal;

out_free_cal:
    ow_calendar_destroy(cal);
    return NULL;
}

struct ow_calendar *ow_calendar_load(const char *path, struct ow_err *err)
{
    struct ow_calendar *cal;
    json_error_t jerr;
    json_t *doc;

    doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        if (jerr.line < 0) {
            ow_err_set(err, OW_EIO, path, "%s", jerr.text);
        } else {
            ow_err_set(err, OW_EINVAL, path, "invalid JSON at line %d, column %d: %s", jerr.line,
                       jerr.column, jerr.text);
        }
        return NULL;
    }
    cal = ow_calendar_from_json(doc, path, err);
    json_decref(doc);
    return cal;
}

struct ow_calendar *ow_calendar_default(void)
{
    struct ow_calendar *cal = NULL;
    struct ow_err err;
    json_error_t jerr;
    json_t *doc;
    const char *data;
    size_t len = 0;
    char buf[512];

    data = ow_embedded_file("workdays-ew.json", &len);
    if (data == NULL) {
        fprintf(stderr, "opswatch: workdays-ew.json is not embedded in this build\n");
        abort();
    }
    doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        fprintf(stderr, "opswatch: built-in workdays-ew.json: line %d: %s\n", jerr.line, jerr.text);
        abort();
    }
    cal = ow_calendar_from_json(doc, "workdays-ew.json (built in)", &err);
    json_decref(doc);
    if (cal == NULL) {
        /* The build embeds a file the tests load: this is a broken build, not bad input. */
        fprintf(stderr, "opswatch: %s\n", ow_err_str(&err, buf, sizeof(buf)));
        abort();
    }
    return cal;
}

void ow_calendar_destroy(struct ow_calendar *cal)
{
    if (cal == NULL) {
        return;
    }
    free(cal->holiday);
    free(cal);
}

enum ow_calendar_source ow_calendar_year_source(const struct ow_calendar *cal, int year)
{
    if (year < OW_CALENDAR_FIRST_YEAR || year > OW_CALENDAR_LAST_YEAR) {
        return OW_CAL_RULES;
    }
    return cal->src[year - OW_CALENDAR_FIRST_YEAR];
}

bool ow_calendar_is_holiday(const struct ow_calendar *cal, struct ow_date d)
{
    return holiday_days(cal, ow_days_from_civil(d.year, d.month, d.day));
}

bool ow_calendar_is_working_day(const struct ow_calendar *cal, struct ow_date d)
{
    int64_t days = ow_days_from_civil(d.year, d.month, d.day);

    return !is_weekend(days) && !holiday_days(cal, days);
}

struct ow_date ow_calendar_nth_working_day_after(const struct ow_calendar *cal, struct ow_date d,
                                                 int n)
{
    int64_t days = ow_days_from_civil(d.year, d.month, d.day);
    struct ow_date out;

    while (n > 0) {
        days++;
        if (!is_weekend(days) && !holiday_days(cal, days)) {
            n--;
        }
    }
    ow_civil_from_days(days, &out.year, &out.month, &out.day);
    return out;
}
