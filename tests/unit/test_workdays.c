/* test_workdays.c: the E&W calendar: published years, standing rules, loader errors, vectors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "civil.h"
#include "workdays.h"

static struct ow_date date(int y, int m, int d)
{
    struct ow_date out = {y, m, d};

    return out;
}

static int64_t days_of(struct ow_date d)
{
    return ow_days_from_civil(d.year, d.month, d.day);
}

/* The holidays of @year that @cal knows, as days since the epoch, in order. */
static int holidays_of(const struct ow_calendar *cal, int year, int64_t *out, int max)
{
    int n = 0;

    for (int64_t d = ow_days_from_civil(year, 1, 1); d < ow_days_from_civil(year + 1, 1, 1); d++) {
        struct ow_date cd;

        ow_civil_from_days(d, &cd.year, &cd.month, &cd.day);
        if (ow_calendar_is_holiday(cal, cd)) {
            assert_true(n < max);
            out[n++] = d;
        }
    }
    return n;
}

static int calendar_setup(void **state)
{
    *state = ow_calendar_default();
    return 0;
}

static int calendar_teardown(void **state)
{
    ow_calendar_destroy(*state);
    return 0;
}

/* domain.md, verbatim: the E&W holidays of 2020-2025 (month * 100 + day). */
static const int published[6][11] = {
    {101, 410, 413, 508, 525, 831, 1225, 1228, 0},
    {101, 402, 405, 503, 531, 830, 1227, 1228, 0},
    {103, 415, 418, 502, 602, 603, 829, 919, 1226, 1227, 0},
    {102, 407, 410, 501, 508, 529, 828, 1225, 1226, 0},
    {101, 329, 401, 506, 527, 826, 1225, 1226, 0},
    {101, 418, 421, 505, 526, 825, 1225, 1226, 0},
};

static void workdays__published_years_are_the_domain_list(void **state)
{
    const struct ow_calendar *cal = *state;
    int64_t got[16];

    for (int y = 2020; y <= 2025; y++) {
        int n = holidays_of(cal, y, got, 16);
        int k = 0;

        for (; published[y - 2020][k] != 0; k++) {
            int md = published[y - 2020][k];

            assert_true(k < n);
            assert_int_equal(got[k], ow_days_from_civil(y, md / 100, md % 100));
        }
        assert_int_equal(n, k);
        assert_int_equal(ow_calendar_year_source(cal, y), OW_CAL_PUBLISHED);
    }
}

/* The rules reproduce every published year once the one-off changes are taken out: 2020's early
 * May holiday moved to Friday 8 May for VE day; 2022's spring holiday moved to Thursday 2 June,
 * with Friday 3 June for the Platinum Jubilee and 19 September for the State Funeral of Queen
 * Elizabeth II; 2023's extra 8 May for the Coronation. */
static void workdays__rules_reproduce_published_years(void **state)
{
    static const struct {
        int year;
        int removed[3]; /* one-off days in the published list */
        int added[2];   /* the rule days they replaced */
    } oneoff[6] = {
        {2020, {508}, {504}}, {2021, {0}, {0}}, {2022, {602, 603, 919}, {530}},
        {2023, {508}, {0}},   {2024, {0}, {0}}, {2025, {0}, {0}},
    };
    const struct ow_calendar *cal = *state;

    for (int i = 0; i < 6; i++) {
        int y = oneoff[i].year;
        int64_t pub[16];
        int64_t want[16];
        int n_want = 0;
        int n = holidays_of(cal, y, pub, 16);
        struct ow_date rule[OW_CALENDAR_RULE_HOLIDAYS];
        int n_rule = ow_calendar_rule_holidays(y, rule, OW_CALENDAR_RULE_HOLIDAYS);

        for (int k = 0; k < n; k++) {
            bool drop = false;

            for (int r = 0; r < 3 && oneoff[i].removed[r] != 0; r++) {
                int md = oneoff[i].removed[r];

                drop = drop || pub[k] == ow_days_from_civil(y, md / 100, md % 100);
            }
            if (!drop) {
                want[n_want++] = pub[k];
            }
        }
        for (int a = 0; a < 2 && oneoff[i].added[a] != 0; a++) {
            int md = oneoff[i].added[a];
            int64_t d = ow_days_from_civil(y, md / 100, md % 100);
            int k = n_want++;

            for (; k > 0 && want[k - 1] > d; k--) {
                want[k] = want[k - 1];
            }
            want[k] = d;
        }
        assert_int_equal(n_rule, OW_CALENDAR_RULE_HOLIDAYS);
        assert_int_equal(n_want, n_rule);
        for (int k = 0; k < n_rule; k++) {
            assert_int_equal(days_of(rule[k]), want[k]);
        }
    }
}

/* 2026-2030 in the file are marked computed, and are exactly what the rules give. */
static void workdays__computed_years_are_marked_and_match_rules(void **state)
{
    const struct ow_calendar *cal = *state;

    for (int y = 2026; y <= 2030; y++) {
        int64_t got[16];
        int n = holidays_of(cal, y, got, 16);
        struct ow_date rule[OW_CALENDAR_RULE_HOLIDAYS];
        int n_rule = ow_calendar_rule_holidays(y, rule, OW_CALENDAR_RULE_HOLIDAYS);

        assert_int_equal(ow_calendar_year_source(cal, y), OW_CAL_COMPUTED);
        assert_int_equal(n, n_rule);
        for (int k = 0; k < n; k++) {
            assert_int_equal(got[k], days_of(rule[k]));
        }
    }
    assert_int_equal(ow_calendar_year_source(cal, 2019), OW_CAL_RULES);
    assert_int_equal(ow_calendar_year_source(cal, 2031), OW_CAL_RULES);
    assert_int_equal(ow_calendar_year_source(cal, 2500), OW_CAL_RULES);
}

static void workdays__easter_2026(void **state)
{
    const struct ow_calendar *cal = *state;

    assert_true(ow_calendar_is_holiday(cal, date(2026, 4, 3)));  /* Good Friday */
    assert_true(ow_calendar_is_holiday(cal, date(2026, 4, 6)));  /* Easter Monday */
    assert_false(ow_calendar_is_holiday(cal, date(2026, 4, 5))); /* Easter Sunday */
    assert_false(ow_calendar_is_working_day(cal, date(2026, 4, 3)));
    assert_true(ow_calendar_is_working_day(cal, date(2026, 4, 7)));
}

/* Christmas 2027 is a Saturday: Christmas moves to Monday 27, Boxing Day to Tuesday 28. */
static void workdays__christmas_on_saturday_2027(void **state)
{
    const struct ow_calendar *cal = *state;
    struct ow_holiday h[OW_CALENDAR_RULE_HOLIDAYS];
    int n = ow_calendar_rule_holidays_named(2027, h, OW_CALENDAR_RULE_HOLIDAYS);

    assert_true(ow_calendar_is_holiday(cal, date(2027, 12, 27)));
    assert_true(ow_calendar_is_holiday(cal, date(2027, 12, 28)));
    assert_false(ow_calendar_is_holiday(cal, date(2027, 12, 29)));
    assert_false(ow_calendar_is_working_day(cal, date(2027, 12, 25)));
    assert_int_equal(n, 8);
    assert_string_equal(h[6].title, "Christmas Day");
    assert_int_equal(h[6].date.day, 27);
    assert_true(h[6].substitute);
    assert_string_equal(h[7].title, "Boxing Day");
    assert_int_equal(h[7].date.day, 28);
    assert_true(h[7].substitute);
}

/* Christmas on a Sunday (2033, beyond the file): Boxing Day Monday 26, Christmas Tuesday 27. */
static void workdays__christmas_on_sunday(void **state)
{
    struct ow_holiday h[OW_CALENDAR_RULE_HOLIDAYS];
    int n = ow_calendar_rule_holidays_named(2033, h, OW_CALENDAR_RULE_HOLIDAYS);

    (void)state;
    assert_int_equal(n, 8);
    assert_string_equal(h[6].title, "Boxing Day");
    assert_int_equal(h[6].date.day, 26);
    assert_false(h[6].substitute);
    assert_string_equal(h[7].title, "Christmas Day");
    assert_int_equal(h[7].date.day, 27);
    assert_true(h[7].substitute);
    /* New Year's Day 2033 is a Saturday: Monday 3 January. */
    assert_int_equal(h[0].date.month, 1);
    assert_int_equal(h[0].date.day, 3);
    /* Truncated output. */
    assert_int_equal(ow_calendar_rule_holidays_named(2033, h, 3), 3);
}

/* Easter Sunday (Good Friday + 2) against an independent table, including the extremes
 * (22 March 2285, 25 April 2038) and century years. */
static void workdays__easter_matches_known_dates(void **state)
{
    static const int known[][3] = {
        {1900, 4, 15}, {1961, 4, 2},  {2000, 4, 23}, {2008, 3, 23}, {2011, 4, 24},
        {2038, 4, 25}, {2100, 3, 28}, {2200, 4, 6},  {2285, 3, 22},
    };
    struct ow_date h[OW_CALENDAR_RULE_HOLIDAYS];

    (void)state;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        assert_int_equal(ow_calendar_rule_holidays(known[i][0], h, OW_CALENDAR_RULE_HOLIDAYS), 8);
        assert_int_equal(days_of(h[1]) + 2,
                         ow_days_from_civil(known[i][0], known[i][1], known[i][2]));
        assert_int_equal(days_of(h[2]) - 1,
                         ow_days_from_civil(known[i][0], known[i][1], known[i][2]));
    }
}

/* 2031 is not in the file: Good Friday 11 April, Easter Monday 14 April, by the rules. */
static void workdays__year_beyond_file_uses_rules(void **state)
{
    const struct ow_calendar *cal = *state;
    int64_t got[16];

    assert_true(ow_calendar_is_holiday(cal, date(2031, 4, 11)));
    assert_true(ow_calendar_is_holiday(cal, date(2031, 4, 14)));
    assert_true(ow_calendar_is_holiday(cal, date(2031, 5, 5)));
    assert_true(ow_calendar_is_holiday(cal, date(2031, 5, 26)));
    assert_true(ow_calendar_is_holiday(cal, date(2031, 8, 25)));
    assert_int_equal(holidays_of(cal, 2031, got, 16), 8);
    /* Beyond the dense table too (2300: Easter 8 April, so Good Friday 6 April). */
    assert_true(ow_calendar_is_holiday(cal, date(2300, 4, 6)));
    assert_int_equal(holidays_of(cal, 2300, got, 16), 8);
}

static void workdays__domain_vectors(void **state)
{
    static const struct {
        struct ow_date after;
        int n;
        struct ow_date want;
    } v[] = {
        {{2020, 12, 31}, 10, {2021, 1, 15}}, {{2020, 12, 31}, 25, {2021, 2, 5}},
        {{2021, 4, 30}, 10, {2021, 5, 17}},  {{2021, 4, 30}, 25, {2021, 6, 8}},
        {{2022, 5, 31}, 10, {2022, 6, 16}},  {{2022, 5, 31}, 25, {2022, 7, 7}},
        {{2022, 8, 31}, 10, {2022, 9, 14}},  {{2022, 8, 31}, 25, {2022, 10, 6}},
    };
    const struct ow_calendar *cal = *state;

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct ow_date d = ow_calendar_nth_working_day_after(cal, v[i].after, v[i].n);

        assert_int_equal(days_of(d), days_of(v[i].want));
    }
    assert_int_equal(days_of(ow_calendar_nth_working_day_after(cal, date(2021, 4, 30), 0)),
                     days_of(date(2021, 4, 30)));
    assert_int_equal(days_of(ow_calendar_nth_working_day_after(cal, date(2021, 4, 30), 1)),
                     days_of(date(2021, 5, 4))); /* Sat, Sun, then the early May holiday */
}

static void workdays__file_matches_built_in(void **state)
{
    const struct ow_calendar *cal = *state;
    struct ow_err err;
    struct ow_calendar *file = ow_calendar_load("config/workdays-ew.json", &err);

    if (file == NULL) {
        /* Run from elsewhere than the repository root. */
        skip();
    }
    for (int64_t d = ow_days_from_civil(2019, 1, 1); d < ow_days_from_civil(2032, 1, 1); d++) {
        struct ow_date cd;

        ow_civil_from_days(d, &cd.year, &cd.month, &cd.day);
        assert_int_equal(ow_calendar_is_holiday(file, cd), ow_calendar_is_holiday(cal, cd));
    }
    ow_calendar_destroy(file);
}

/* Build a calendar from @text and check the error names the place and says what was wanted. */
static void expect_error(const char *text, const char *where, const char *what)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    struct ow_err err;
    struct ow_calendar *cal;

    if (doc == NULL) {
        fail_msg("bad test JSON: %s", jerr.text);
    }
    ow_err_clear(&err);
    cal = ow_calendar_from_json(doc, "workdays-ew.json", &err);
    json_decref(doc);
    assert_null(cal);
    assert_string_equal(err.where, where);
    assert_string_equal(err.text, what);
}

#define EW "{\"england-and-wales\": {\"division\": \"england-and-wales\", \"events\": ["
#define EV(d) "{\"title\": \"x\", \"date\": \"" d "\", \"notes\": \"\", \"bunting\": true}"

static void workdays__malformed_calendar_names_the_path(void **state)
{
    (void)state;
    expect_error(
        EW EV("2021-01-01") "," EV("2021-04-02") "," EV("2021-04-05") "," EV("2021-02-30") "]}}",
        "workdays-ew.json: $[\"england-and-wales\"].events[3].date",
        "expected a date YYYY-MM-DD, got \"2021-02-30\"");
    expect_error(EW EV("2021-1-01") "]}}",
                 "workdays-ew.json: $[\"england-and-wales\"].events[0].date",
                 "expected a date YYYY-MM-DD, got \"2021-1-01\"");
    expect_error(EW "{\"title\": \"x\", \"date\": 20210101}]}}",
                 "workdays-ew.json: $[\"england-and-wales\"].events[0].date",
                 "expected a date YYYY-MM-DD, got 20210101");
    expect_error(EW "{\"title\": \"x\"}]}}",
                 "workdays-ew.json: $[\"england-and-wales\"].events[0].date",
                 "expected a date YYYY-MM-DD, got nothing");
    expect_error(EW EV("1899-12-25") "]}}",
                 "workdays-ew.json: $[\"england-and-wales\"].events[0].date",
                 "expected a date in the years 1900..2200, got \"1899-12-25\"");
    expect_error(EW EV("2021-01-01") "," EV("2021-01-01") "]}}",
                 "workdays-ew.json: $[\"england-and-wales\"].events[1].date",
                 "expected each date once (this one is listed twice), got \"2021-01-01\"");
    expect_error(EW "{\"title\": 7, \"date\": \"2021-01-01\"}]}}",
                 "workdays-ew.json: $[\"england-and-wales\"].events[0].title",
                 "expected a non-empty string, got 7");
    expect_error(EW "{\"title\": \"x\", \"date\": \"2021-01-01\", \"bunting\": \"yes\"}]}}",
                 "workdays-ew.json: $[\"england-and-wales\"].events[0].bunting",
                 "expected true or false, got \"yes\"");
    expect_error(EW "{\"title\": \"x\", \"date\": \"2021-01-01\", \"notes\": null}]}}",
                 "workdays-ew.json: $[\"england-and-wales\"].events[0].notes",
                 "expected a string, got null");
    expect_error(EW "7]}}", "workdays-ew.json: $[\"england-and-wales\"].events[0]",
                 "expected an event object {\"title\", \"date\", ...}, got 7");
    expect_error("{\"england-and-wales\": {\"events\": {}}}",
                 "workdays-ew.json: $[\"england-and-wales\"].events",
                 "expected an array of events, got an object");
    expect_error("{\"england-and-wales\": {\"division\": \"scotland\", \"events\": []}}",
                 "workdays-ew.json: $[\"england-and-wales\"].division",
                 "expected \"england-and-wales\", got \"scotland\"");
    expect_error("{\"scotland\": {\"division\": \"scotland\", \"events\": []}}",
                 "workdays-ew.json: $[\"england-and-wales\"]",
                 "expected the gov.uk division object {\"division\", \"events\"}, got nothing");
    expect_error("[]", "workdays-ew.json: $",
                 "expected an object of gov.uk divisions, got an array");
    expect_error(EW "]}, \"opswatch\": {\"computed_years\": [2026, \"2027\"]}}",
                 "workdays-ew.json: $.opswatch.computed_years[1]",
                 "expected a year 1900..2200, got \"2027\"");
    expect_error(EW "]}, \"opswatch\": {\"source\": 1}}", "workdays-ew.json: $.opswatch.source",
                 "expected a string, got 1");
}

/* A year the file lists is the file's alone; other years (and other divisions) are ignored
 * or ruled. */
static void workdays__published_year_overrides_rules(void **state)
{
    json_error_t jerr;
    json_t *doc = json_loads(EW EV("2021-06-15") "]}, \"scotland\": {\"division\": \"scotland\", "
                                                 "\"events\": [" EV("2021-11-30") "]}}",
                             0, &jerr);
    struct ow_err err;
    struct ow_calendar *cal = ow_calendar_from_json(doc, "test.json", &err);

    (void)state;
    json_decref(doc);
    assert_non_null(cal);
    assert_true(ow_calendar_is_holiday(cal, date(2021, 6, 15)));
    assert_false(ow_calendar_is_holiday(cal, date(2021, 4, 2))); /* rule Good Friday: overridden */
    assert_false(ow_calendar_is_holiday(cal, date(2021, 11, 30))); /* Scotland only */
    assert_true(ow_calendar_is_holiday(cal, date(2022, 4, 15)));   /* 2022: rules */
    assert_int_equal(ow_calendar_year_source(cal, 2021), OW_CAL_PUBLISHED);
    assert_int_equal(ow_calendar_year_source(cal, 2022), OW_CAL_RULES);
    ow_calendar_destroy(cal);
}

static void workdays__load_reports_file_errors(void **state)
{
    char path[] = "/tmp/test_workdays_XXXXXX";
    struct ow_err err;
    int fd;

    (void)state;
    assert_null(ow_calendar_load("/nonexistent/workdays-ew.json", &err));
    assert_string_equal(err.where, "/nonexistent/workdays-ew.json");
    assert_non_null(strstr(err.text, "unable to open"));

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{\"england-and-wales\": [,]}", 26), 26);
    close(fd);
    assert_null(ow_calendar_load(path, &err));
    assert_string_equal(err.where, path);
    assert_non_null(strstr(err.text, "invalid JSON at line 1"));

    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, EW EV("2021-13-01") "]}}", strlen(EW EV("2021-13-01") "]}}")),
                     (ssize_t)strlen(EW EV("2021-13-01") "]}}"));
    close(fd);
    assert_null(ow_calendar_load(path, &err));
    assert_non_null(strstr(err.where, "$[\"england-and-wales\"].events[0].date"));
    assert_int_equal(strncmp(err.where, path, strlen(path)), 0);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(workdays__published_years_are_the_domain_list),
        cmocka_unit_test(workdays__rules_reproduce_published_years),
        cmocka_unit_test(workdays__computed_years_are_marked_and_match_rules),
        cmocka_unit_test(workdays__easter_2026),
        cmocka_unit_test(workdays__christmas_on_saturday_2027),
        cmocka_unit_test(workdays__christmas_on_sunday),
        cmocka_unit_test(workdays__easter_matches_known_dates),
        cmocka_unit_test(workdays__year_beyond_file_uses_rules),
        cmocka_unit_test(workdays__domain_vectors),
        cmocka_unit_test(workdays__file_matches_built_in),
        cmocka_unit_test(workdays__malformed_calendar_names_the_path),
        cmocka_unit_test(workdays__published_year_overrides_rules),
        cmocka_unit_test(workdays__load_reports_file_errors),
    };

    return cmocka_run_group_tests_name("workdays", tests, calendar_setup, calendar_teardown);
}
