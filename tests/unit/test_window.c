/* test_window.c: month and quarter windows in Europe/London: bounds, names, grace and close. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "civil.h"
#include "window.h"

struct fixture {
    struct ow_tz *tz;
    struct ow_calendar *cal;
};

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    return ow_days_from_civil(y, mo, d) * OW_US_PER_DAY +
           ((int64_t)h * 3600 + (int64_t)mi * 60 + s) * OW_US_PER_SEC;
}

static struct ow_window_id parse(const char *s)
{
    struct ow_window_id w = {OW_WIN_MONTH, 0};

    assert_int_equal(ow_window_parse(s, strlen(s), &w), 0);
    return w;
}

static void assert_name(struct ow_window_id w, const char *want)
{
    char buf[16];

    assert_int_equal(ow_window_name(w, buf, sizeof(buf)), strlen(want));
    assert_string_equal(buf, want);
}

static void assert_local(const struct fixture *f, int64_t us, const char *want)
{
    char buf[64];

    ow_tz_format(f->tz, us, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static int setup(void **state)
{
    static struct fixture f;
    struct ow_err err;

    f.tz = ow_tz_create("Europe/London", &err);
    f.cal = ow_calendar_default();
    *state = &f;
    return f.tz == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    ow_tz_destroy(f->tz);
    ow_calendar_destroy(f->cal);
    return 0;
}

static void window__event_on_boundary(void **state)
{
    const struct fixture *f = *state;
    struct ow_window_id w;

    w = ow_window_of(f->tz, OW_WIN_MONTH, utc(2021, 3, 31, 23, 0, 0));
    assert_name(w, "2021-04");
    w = ow_window_of(f->tz, OW_WIN_MONTH, utc(2021, 3, 31, 22, 59, 59) + 999999);
    assert_name(w, "2021-03");
    w = ow_window_of(f->tz, OW_WIN_MONTH, utc(2021, 3, 31, 23, 30, 0));
    assert_name(w, "2021-04");
    w = ow_window_of(f->tz, OW_WIN_MONTH, utc(2021, 1, 1, 0, 0, 0));
    assert_name(w, "2021-01");
    w = ow_window_of(f->tz, OW_WIN_MONTH, utc(2020, 12, 31, 23, 59, 59) + 999999);
    assert_name(w, "2020-12");
    w = ow_window_of(f->tz, OW_WIN_QUARTER, utc(2021, 3, 31, 23, 30, 0));
    assert_name(w, "2021-Q2");
    w = ow_window_of(f->tz, OW_WIN_QUARTER, utc(2021, 3, 31, 22, 30, 0));
    assert_name(w, "2021-Q1");
    w = ow_window_of(f->tz, OW_WIN_QUARTER, utc(2021, 9, 30, 23, 0, 0));
    assert_name(w, "2021-Q4");
}

static void window__month_bounds_follow_bst(void **state)
{
    const struct fixture *f = *state;

    assert_local(f, ow_window_start(f->tz, parse("2021-04")), "2021-04-01T00:00:00+01:00");
    assert_local(f, ow_window_end(f->tz, parse("2021-04")), "2021-05-01T00:00:00+01:00");
    assert_local(f, ow_window_start(f->tz, parse("2021-03")), "2021-03-01T00:00:00+00:00");
    assert_local(f, ow_window_end(f->tz, parse("2021-03")), "2021-04-01T00:00:00+01:00");
    assert_local(f, ow_window_end(f->tz, parse("2021-10")), "2021-11-01T00:00:00+00:00");
    assert_local(f, ow_window_end(f->tz, parse("2021-12")), "2022-01-01T00:00:00+00:00");
    assert_int_equal(ow_window_start(f->tz, parse("2021-04")), utc(2021, 3, 31, 23, 0, 0));
    /* March 2021 is an hour short (28 March), October an hour long (31 October). */
    assert_int_equal(ow_window_end(f->tz, parse("2021-03")) -
                         ow_window_start(f->tz, parse("2021-03")),
                     31 * OW_US_PER_DAY - OW_US_PER_HOUR);
    assert_int_equal(ow_window_end(f->tz, parse("2021-10")) -
                         ow_window_start(f->tz, parse("2021-10")),
                     31 * OW_US_PER_DAY + OW_US_PER_HOUR);
}

static void window__quarter_bounds(void **state)
{
    const struct fixture *f = *state;

    assert_local(f, ow_window_start(f->tz, parse("2021-Q1")), "2021-01-01T00:00:00+00:00");
    assert_local(f, ow_window_end(f->tz, parse("2021-Q1")), "2021-04-01T00:00:00+01:00");
    assert_local(f, ow_window_start(f->tz, parse("2021-Q4")), "2021-10-01T00:00:00+01:00");
    assert_local(f, ow_window_end(f->tz, parse("2021-Q4")), "2022-01-01T00:00:00+00:00");
}

static void window__quarter_of_month(void **state)
{
    (void)state;
    for (int m = 1; m <= 12; m++) {
        struct ow_window_id q = ow_window_quarter_of_month(2021 * 12 + m - 1);
        char want[16] = "2021-Qn";

        assert_int_equal(q.kind, OW_WIN_QUARTER);
        want[6] = (char)('1' + (m - 1) / 3);
        assert_name(q, want);
    }
    assert_name(ow_window_quarter_of_month(2020 * 12 + 11), "2020-Q4");
}

static void window__name_and_parse(void **state)
{
    static const char *const good[] = {"2021-04", "2021-01", "2021-12", "2021-Q1",
                                       "2021-Q4", "1999-Q2", "0001-01", NULL};
    static const char *const bad[] = {
        "2021-13",  "2021-00", "2021-Q5",  "2021-Q0", "21-04",    "2021-4",
        "2021-04x", "2021-q1", "2021/04",  "+021-04", "2021-04 ", " 2021-04",
        "",         "2021-Q",  "2021-Q12", "2021-1a", "abcd-01",  NULL,
    };
    struct ow_window_id w;

    (void)state;
    for (int i = 0; good[i] != NULL; i++) {
        w = parse(good[i]);
        assert_name(w, good[i]);
    }
    for (int i = 0; bad[i] != NULL; i++) {
        assert_int_equal(ow_window_parse(bad[i], strlen(bad[i]), &w), -1);
    }
    /* Only @len bytes are read: a prefix of a longer buffer parses. */
    assert_int_equal(ow_window_parse("2021-04-01", 7, &w), 0);
    assert_name(w, "2021-04");
    assert_int_equal(w.kind, OW_WIN_MONTH);
    assert_int_equal(w.index, 2021 * 12 + 3);
    assert_int_equal(parse("2021-Q3").index, 2021 * 4 + 2);
}

static void window__add_and_cmp(void **state)
{
    (void)state;
    assert_name(ow_window_add(parse("2021-12"), 1), "2022-01");
    assert_name(ow_window_add(parse("2021-01"), -13), "2019-12");
    assert_name(ow_window_add(parse("2021-Q4"), 1), "2022-Q1");
    assert_name(ow_window_add(parse("2021-Q1"), -1), "2020-Q4");
    assert_true(ow_window_cmp(parse("2021-03"), parse("2021-04")) < 0);
    assert_true(ow_window_cmp(parse("2022-01"), parse("2021-12")) > 0);
    assert_int_equal(ow_window_cmp(parse("2021-04"), parse("2021-04")), 0);
    assert_true(ow_window_cmp(parse("2021-Q1"), parse("2021-Q2")) < 0);
    /* Mixed kinds: by first month, a month before the quarter it starts. */
    assert_true(ow_window_cmp(parse("2021-01"), parse("2021-Q1")) < 0);
    assert_true(ow_window_cmp(parse("2021-Q1"), parse("2021-02")) < 0);
    assert_true(ow_window_cmp(parse("2021-04"), parse("2021-Q1")) > 0);
}

/* domain.md: Nth Working Day after month end, counting from the next day. */
static void window__due_dates_match_domain_vectors(void **state)
{
    static const struct {
        const char *window;
        int n;
        int y, m, d;
    } v[] = {
        {"2020-12", 10, 2021, 1, 15}, {"2020-12", 25, 2021, 2, 5},  {"2021-04", 10, 2021, 5, 17},
        {"2021-04", 25, 2021, 6, 8},  {"2022-05", 10, 2022, 6, 16}, {"2022-05", 25, 2022, 7, 7},
        {"2022-08", 10, 2022, 9, 14}, {"2022-08", 25, 2022, 10, 6},
    };
    const struct fixture *f = *state;

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct ow_date d = ow_window_due(f->cal, parse(v[i].window), v[i].n);

        assert_int_equal(d.year, v[i].y);
        assert_int_equal(d.month, v[i].m);
        assert_int_equal(d.day, v[i].d);
    }
}

static void window__april_2021_closes_18_may(void **state)
{
    const struct fixture *f = *state;
    struct ow_grace g = {.working_days = true, .days = 10};
    int64_t close = ow_window_close_at(f->tz, f->cal, &g, parse("2021-04"));

    assert_local(f, close, "2021-05-18T00:00:00+01:00");
    assert_int_equal(close, utc(2021, 5, 17, 23, 0, 0));
}

/* Closing across the October change: the close instant is GMT midnight. Quarter Q1 2021 meets
 * Easter: 1 April, then 6-9 and 12-16 April, so the 10th is Friday 16 April. */
static void window__close_across_dst_and_easter(void **state)
{
    const struct fixture *f = *state;
    struct ow_grace g = {.working_days = true, .days = 10};

    assert_local(f, ow_window_close_at(f->tz, f->cal, &g, parse("2021-10")),
                 "2021-11-13T00:00:00+00:00");
    assert_local(f, ow_window_close_at(f->tz, f->cal, &g, parse("2021-Q1")),
                 "2021-04-17T00:00:00+01:00");
    assert_local(f, ow_window_close_at(f->tz, f->cal, &g, parse("2021-02")),
                 "2021-03-13T00:00:00+00:00");
    g.days = 0;
    assert_local(f, ow_window_close_at(f->tz, f->cal, &g, parse("2021-03")),
                 "2021-04-01T00:00:00+01:00");
    g.days = 25;
    assert_local(f, ow_window_close_at(f->tz, f->cal, &g, parse("2027-11")),
                 "2028-01-08T00:00:00+00:00");
}

static void window__duration_grace(void **state)
{
    const struct fixture *f = *state;
    struct ow_grace g = {.working_days = false, .duration_us = 36 * OW_US_PER_HOUR};

    assert_local(f, ow_window_close_at(f->tz, f->cal, &g, parse("2021-04")),
                 "2021-05-02T12:00:00+01:00");
    g.duration_us = 0;
    assert_int_equal(ow_window_close_at(f->tz, f->cal, &g, parse("2021-04")),
                     ow_window_end(f->tz, parse("2021-04")));
    g.duration_us = 7 * OW_US_PER_DAY;
    assert_local(f, ow_window_close_at(f->tz, f->cal, &g, parse("2021-Q3")),
                 "2021-10-08T00:00:00+01:00");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(window__event_on_boundary),
        cmocka_unit_test(window__month_bounds_follow_bst),
        cmocka_unit_test(window__quarter_bounds),
        cmocka_unit_test(window__quarter_of_month),
        cmocka_unit_test(window__name_and_parse),
        cmocka_unit_test(window__add_and_cmp),
        cmocka_unit_test(window__due_dates_match_domain_vectors),
        cmocka_unit_test(window__april_2021_closes_18_may),
        cmocka_unit_test(window__close_across_dst_and_easter),
        cmocka_unit_test(window__duration_grace),
    };

    return cmocka_run_group_tests_name("window", tests, setup, teardown);
}
