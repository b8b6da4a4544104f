/* test_tz.c: zones, local midnights across both 2021 DST changes, month lookup, formatting. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "civil.h"
#include "tz.h"

/* Microseconds since the epoch of a UTC civil time. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    return ow_days_from_civil(y, mo, d) * OW_US_PER_DAY +
           ((int64_t)h * 3600 + (int64_t)mi * 60 + s) * OW_US_PER_SEC;
}

static int month(int y, int m)
{
    return y * 12 + m - 1;
}

static void assert_local(const struct ow_tz *tz, int64_t us, const char *want)
{
    char buf[64];

    ow_tz_format(tz, us, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static int london_setup(void **state)
{
    struct ow_err err;

    *state = ow_tz_create("Europe/London", &err);
    return *state == NULL ? -1 : 0;
}

static int london_teardown(void **state)
{
    ow_tz_destroy(*state);
    return 0;
}

static void tz__utc_works(void **state)
{
    struct ow_err err;
    struct ow_tz *tz = ow_tz_create("UTC", &err);

    (void)state;
    assert_non_null(tz);
    assert_string_equal(ow_tz_name(tz), "UTC");
    assert_local(tz, utc(2021, 7, 1, 12, 0, 0), "2021-07-01T12:00:00+00:00");
    assert_int_equal(ow_tz_midnight(tz, 2021, 7, 1), utc(2021, 7, 1, 0, 0, 0));
    ow_tz_destroy(tz);
}

static void tz__unknown_zones_are_rejected(void **state)
{
    static const char *const bad[] = {
        "",
        "Europe",
        "Nowhere/City",
        "../../etc/passwd",
        "Europe/../Europe/London",
        "/usr/share/zoneinfo/Europe/London",
        "zone.tab",
        "Europe/London ",
        NULL,
    };
    struct ow_err err;

    (void)state;
    for (int i = 0; bad[i] != NULL; i++) {
        ow_err_clear(&err);
        assert_null(ow_tz_create(bad[i], &err));
        assert_string_equal(err.where, "timezone");
        assert_non_null(strstr(err.text, "expected an IANA zone name"));
    }
    assert_null(ow_tz_create(NULL, &err));
    ow_tz_destroy(NULL);
}

static void tz__month_starts_of_2021_follow_bst(void **state)
{
    static const char *const want[] = {
        "2021-01-01T00:00:00+00:00", "2021-02-01T00:00:00+00:00", "2021-03-01T00:00:00+00:00",
        "2021-04-01T00:00:00+01:00", "2021-05-01T00:00:00+01:00", "2021-06-01T00:00:00+01:00",
        "2021-07-01T00:00:00+01:00", "2021-08-01T00:00:00+01:00", "2021-09-01T00:00:00+01:00",
        "2021-10-01T00:00:00+01:00", "2021-11-01T00:00:00+00:00", "2021-12-01T00:00:00+00:00",
        "2022-01-01T00:00:00+00:00",
    };
    const struct ow_tz *tz = *state;

    for (int m = 1; m <= 13; m++) {
        assert_local(tz, ow_tz_midnight(tz, 2021, m, 1), want[m - 1]);
    }
    assert_int_equal(ow_tz_midnight(tz, 2021, 4, 1), utc(2021, 3, 31, 23, 0, 0));
    assert_int_equal(ow_tz_midnight(tz, 2021, 11, 1), utc(2021, 11, 1, 0, 0, 0));
}

static void tz__spring_forward_2021_03_28(void **state)
{
    const struct ow_tz *tz = *state;
    struct ow_civil c;

    /* Clocks go from 01:00 GMT to 02:00 BST at 01:00 UTC. */
    assert_local(tz, utc(2021, 3, 28, 0, 59, 59), "2021-03-28T00:59:59+00:00");
    assert_local(tz, utc(2021, 3, 28, 1, 0, 0), "2021-03-28T02:00:00+01:00");
    assert_int_equal(ow_tz_midnight(tz, 2021, 3, 28), utc(2021, 3, 28, 0, 0, 0));
    assert_int_equal(ow_tz_midnight(tz, 2021, 3, 29), utc(2021, 3, 28, 23, 0, 0));
    ow_tz_civil(tz, utc(2021, 3, 28, 1, 0, 0), &c);
    assert_int_equal(c.hour, 2);
    assert_int_equal(c.utc_offset_s, 3600);
    ow_tz_civil(tz, utc(2021, 3, 28, 0, 59, 59), &c);
    assert_int_equal(c.hour, 0);
    assert_int_equal(c.utc_offset_s, 0);
    assert_int_equal(ow_tz_month_of(tz, utc(2021, 3, 28, 1, 0, 0)), month(2021, 3));
}

static void tz__fall_back_2021_10_31(void **state)
{
    const struct ow_tz *tz = *state;

    /* Clocks go from 02:00 BST back to 01:00 GMT at 01:00 UTC. */
    assert_local(tz, utc(2021, 10, 31, 0, 59, 59), "2021-10-31T01:59:59+01:00");
    assert_local(tz, utc(2021, 10, 31, 1, 0, 0), "2021-10-31T01:00:00+00:00");
    assert_int_equal(ow_tz_midnight(tz, 2021, 10, 31), utc(2021, 10, 30, 23, 0, 0));
    assert_int_equal(ow_tz_midnight(tz, 2021, 11, 1), utc(2021, 11, 1, 0, 0, 0));
    assert_int_equal(ow_tz_month_of(tz, utc(2021, 10, 31, 23, 59, 59)), month(2021, 10));
    assert_int_equal(ow_tz_month_of(tz, utc(2021, 11, 1, 0, 0, 0)), month(2021, 11));
    assert_int_equal(ow_tz_month_of(tz, utc(2021, 9, 30, 22, 59, 59)), month(2021, 9));
    assert_int_equal(ow_tz_month_of(tz, utc(2021, 9, 30, 23, 0, 0)), month(2021, 10));
}

static void tz__month_boundaries_are_exact(void **state)
{
    const struct ow_tz *tz = *state;

    assert_int_equal(ow_tz_month_of(tz, utc(2021, 3, 31, 23, 0, 0)), month(2021, 4));
    assert_int_equal(ow_tz_month_of(tz, utc(2021, 3, 31, 23, 0, 0) - 1), month(2021, 3));
    assert_int_equal(ow_tz_month_of(tz, utc(2021, 3, 31, 23, 30, 0)), month(2021, 4));
    assert_int_equal(ow_tz_month_of(tz, utc(2021, 1, 1, 0, 0, 0)), month(2021, 1));
    assert_int_equal(ow_tz_month_of(tz, utc(2021, 1, 1, 0, 0, 0) - 1), month(2020, 12));
    assert_int_equal(ow_tz_month_of(tz, utc(1900, 1, 1, 0, 0, 0)), month(1900, 1));
    assert_int_equal(ow_tz_month_of(tz, utc(2200, 12, 31, 23, 59, 59)), month(2200, 12));
}

/* Outside the table (before 1900, from 2201) the answer comes from the C library. */
static void tz__month_of_outside_the_table(void **state)
{
    const struct ow_tz *tz = *state;

    assert_int_equal(ow_tz_month_of(tz, utc(1899, 12, 31, 23, 59, 59)), month(1899, 12));
    assert_int_equal(ow_tz_month_of(tz, utc(2201, 1, 1, 0, 0, 0)), month(2201, 1));
    assert_int_equal(ow_tz_month_of(tz, utc(2500, 6, 30, 23, 30, 0)), month(2500, 7));
    assert_int_equal(ow_tz_month_of(tz, utc(1, 1, 1, 12, 0, 0)), month(1, 1));
    assert_int_equal(ow_tz_month_of(tz, utc(9999, 12, 31, 12, 0, 0)), month(9999, 12));
    assert_local(tz, ow_tz_midnight(tz, 2300, 7, 1), "2300-07-01T00:00:00+01:00");
}

/* The table agrees with the C library at every hour of 2020-2022, and at pseudo-random
 * instants over the whole table. */
static void tz__month_of_agrees_with_civil(void **state)
{
    const struct ow_tz *tz = *state;
    struct ow_civil c;
    uint64_t x = 88172645463325252u;

    for (int64_t us = utc(2020, 1, 1, 0, 0, 0); us < utc(2023, 1, 1, 0, 0, 0);
         us += OW_US_PER_HOUR) {
        ow_tz_civil(tz, us, &c);
        assert_int_equal(ow_tz_month_of(tz, us), month(c.year, c.month));
    }
    for (int i = 0; i < 200000; i++) {
        int64_t span = utc(2201, 1, 1, 0, 0, 0) - utc(1900, 1, 1, 0, 0, 0);
        int64_t us;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        us = utc(1900, 1, 1, 0, 0, 0) + (int64_t)(x % (uint64_t)span);
        ow_tz_civil(tz, us, &c);
        assert_int_equal(ow_tz_month_of(tz, us), month(c.year, c.month));
    }
}

static void tz__midnight_normalises_its_arguments(void **state)
{
    const struct ow_tz *tz = *state;

    assert_int_equal(ow_tz_midnight(tz, 2021, 13, 1), ow_tz_midnight(tz, 2022, 1, 1));
    assert_int_equal(ow_tz_midnight(tz, 2021, 0, 1), ow_tz_midnight(tz, 2020, 12, 1));
    assert_int_equal(ow_tz_midnight(tz, 2021, -11, 1), ow_tz_midnight(tz, 2020, 1, 1));
    assert_int_equal(ow_tz_midnight(tz, 2021, 4, 31), ow_tz_midnight(tz, 2021, 5, 1));
    assert_int_equal(ow_tz_midnight(tz, 2021, 1, 0), ow_tz_midnight(tz, 2020, 12, 31));
    assert_int_equal(ow_tz_midnight(tz, 2021, 5, 18), utc(2021, 5, 17, 23, 0, 0));
    assert_local(tz, ow_tz_midnight(tz, 2021, 2, 29), "2021-03-01T00:00:00+00:00");
}

static void tz__format_fraction_and_negative_offset(void **state)
{
    const struct ow_tz *tz = *state;
    struct ow_err err;
    struct ow_tz *ny;
    char buf[40];

    assert_local(tz, utc(2021, 3, 31, 22, 59, 59) + 999999, "2021-03-31T23:59:59.999999+01:00");
    /* British Standard Time: +01:00 all year from 1968 to 1971. */
    assert_local(tz, utc(1969, 12, 31, 23, 59, 59) + 500000, "1970-01-01T00:59:59.500000+01:00");
    ny = ow_tz_create("America/New_York", &err);
    assert_non_null(ny);
    assert_local(ny, utc(2021, 1, 15, 12, 0, 0), "2021-01-15T07:00:00-05:00");
    assert_int_equal(ow_tz_format(ny, utc(2021, 7, 1, 4, 0, 0), buf, sizeof(buf)), 25);
    assert_string_equal(buf, "2021-07-01T00:00:00-04:00");
    ow_tz_destroy(ny);
}

/* Two zones in one process: each call re-points the C library at its own zone. */
static void tz__two_zones_each_stay_right(void **state)
{
    const struct ow_tz *london = *state;
    struct ow_err err;
    struct ow_tz *tokyo = ow_tz_create("Asia/Tokyo", &err);

    assert_non_null(tokyo);
    assert_local(tokyo, utc(2021, 7, 1, 0, 0, 0), "2021-07-01T09:00:00+09:00");
    assert_local(london, utc(2021, 7, 1, 0, 0, 0), "2021-07-01T01:00:00+01:00");
    assert_local(tokyo, utc(2021, 7, 1, 0, 0, 0), "2021-07-01T09:00:00+09:00");
    assert_int_equal(ow_tz_midnight(london, 2021, 7, 2), utc(2021, 7, 1, 23, 0, 0));
    assert_int_equal(ow_tz_midnight(tokyo, 2021, 7, 2), utc(2021, 7, 1, 15, 0, 0));
    ow_tz_destroy(tokyo);
    assert_local(london, utc(2021, 12, 1, 0, 0, 0), "2021-12-01T00:00:00+00:00");
}

/* Sao Paulo sprang forward at midnight on 2018-11-04: that day began at 01:00 local. */
static void tz__midnight_in_a_gap_is_first_instant_of_day(void **state)
{
    struct ow_err err;
    struct ow_tz *sp = ow_tz_create("America/Sao_Paulo", &err);

    (void)state;
    assert_non_null(sp);
    assert_int_equal(ow_tz_midnight(sp, 2018, 11, 4), utc(2018, 11, 4, 3, 0, 0));
    assert_local(sp, ow_tz_midnight(sp, 2018, 11, 4), "2018-11-04T01:00:00-02:00");
    assert_local(sp, ow_tz_midnight(sp, 2018, 11, 5), "2018-11-05T00:00:00-02:00");
    assert_local(sp, ow_tz_midnight(sp, 2019, 2, 17), "2019-02-17T00:00:00-03:00");
    ow_tz_destroy(sp);
}

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The hot path: print ns per call (one event's worth of work) and catch gross regressions. */
static void tz__month_of_is_fast(void **state)
{
    const struct ow_tz *tz = *state;
    const int n = 5000000;
    int64_t step = 97 * OW_US_PER_SEC + 7; /* 5M steps: 2015 to 2030 */
    int64_t us = utc(2015, 1, 1, 0, 0, 0);
    volatile unsigned sink = 0;
    double t0;
    double ns;

    t0 = now_ns();
    for (int i = 0; i < n; i++) {
        sink += (unsigned)ow_tz_month_of(tz, us);
        us += step;
    }
    ns = (now_ns() - t0) / n;
    printf("ow_tz_month_of: %.1f ns/call over %d calls (2015..%d)\n", ns, n,
           ow_tz_month_of(tz, us) / 12);
    (void)sink;
    assert_true(ns < 2000.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tz__utc_works),
        cmocka_unit_test(tz__unknown_zones_are_rejected),
        cmocka_unit_test_setup_teardown(tz__month_starts_of_2021_follow_bst, london_setup,
                                        london_teardown),
        cmocka_unit_test_setup_teardown(tz__spring_forward_2021_03_28, london_setup,
                                        london_teardown),
        cmocka_unit_test_setup_teardown(tz__fall_back_2021_10_31, london_setup, london_teardown),
        cmocka_unit_test_setup_teardown(tz__month_boundaries_are_exact, london_setup,
                                        london_teardown),
        cmocka_unit_test_setup_teardown(tz__month_of_outside_the_table, london_setup,
                                        london_teardown),
        cmocka_unit_test_setup_teardown(tz__month_of_agrees_with_civil, london_setup,
                                        london_teardown),
        cmocka_unit_test_setup_teardown(tz__midnight_normalises_its_arguments, london_setup,
                                        london_teardown),
        cmocka_unit_test_setup_teardown(tz__format_fraction_and_negative_offset, london_setup,
                                        london_teardown),
        cmocka_unit_test_setup_teardown(tz__two_zones_each_stay_right, london_setup,
                                        london_teardown),
        cmocka_unit_test(tz__midnight_in_a_gap_is_first_instant_of_day),
        cmocka_unit_test_setup_teardown(tz__month_of_is_fast, london_setup, london_teardown),
    };

    return cmocka_run_group_tests_name("tz", tests, NULL, NULL);
}
