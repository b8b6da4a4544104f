/* test_rfc3339.c: RFC 3339 parsing (offsets, case, fractions, ranges) and UTC formatting. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "rfc3339.h"

static int64_t parse_ok(const char *s)
{
    const char *why = NULL;
    int64_t us = 0;

    if (ow_rfc3339_parse(s, strlen(s), &us, &why) != 0) {
        fail_msg("'%s' rejected: %s", s, why);
    }
    return us;
}

static const char *parse_why(const char *s)
{
    const char *why = NULL;
    int64_t us = 0;

    if (ow_rfc3339_parse(s, strlen(s), &us, &why) == 0) {
        fail_msg("'%s' accepted", s);
    }
    assert_non_null(why);
    return why;
}

static void rfc3339__parses_utc_and_offsets(void **state)
{
    (void)state;
    assert_true(parse_ok("1970-01-01T00:00:00Z") == 0);
    assert_true(parse_ok("2021-04-19T10:02:11Z") == INT64_C(1618826531000000));
    assert_true(parse_ok("2021-04-19T11:02:11+01:00") == INT64_C(1618826531000000));
    assert_true(parse_ok("2021-04-19T05:02:11-05:00") == INT64_C(1618826531000000));
    assert_true(parse_ok("2021-04-19T10:02:11+00:00") == INT64_C(1618826531000000));
    assert_true(parse_ok("2021-04-19T10:02:11-00:00") == INT64_C(1618826531000000));
    assert_true(parse_ok("2021-04-20T09:32:11+23:30") == INT64_C(1618826531000000));
}

static void rfc3339__accepts_lowercase_t_and_z(void **state)
{
    (void)state;
    assert_true(parse_ok("2021-04-19t10:02:11z") == INT64_C(1618826531000000));
    assert_true(parse_ok("2021-04-19t10:02:11Z") == INT64_C(1618826531000000));
}

static void rfc3339__truncates_fractions_to_microseconds(void **state)
{
    (void)state;
    assert_true(parse_ok("2021-04-19T10:02:11.5Z") == INT64_C(1618826531500000));
    assert_true(parse_ok("2021-04-19T10:02:11.123456Z") == INT64_C(1618826531123456));
    assert_true(parse_ok("2021-04-19T10:02:11.1234569999Z") == INT64_C(1618826531123456));
    assert_true(parse_ok("1969-12-31T23:59:59.999999Z") == -1);
    assert_true(parse_ok("2021-04-19T11:02:11.25+01:00") == INT64_C(1618826531250000));
    assert_true(parse_ok("2021-04-19T05:02:11.123456789-05:00") == INT64_C(1618826531123456));
    assert_true(parse_ok("2021-04-19T10:02:11.000001z") == INT64_C(1618826531000001));
    assert_string_equal(parse_why("2021-04-19T10:02:11.5+0100"),
                        "bad offset (expected Z or +hh:mm)");
    assert_string_equal(parse_why("2021-04-19T10:02:11.5"), "missing offset (Z or +hh:mm)");
    assert_string_equal(parse_why("2021-04-19T10:02:11.+01:00"),
                        "no digits after the decimal point");
    assert_string_equal(parse_why("2021-04-31T10:02:11.5Z"), "day out of range for the month");
}

static void rfc3339__checks_calendar_ranges(void **state)
{
    (void)state;
    parse_ok("2000-02-29T00:00:00Z");
    parse_ok("2024-02-29T00:00:00Z");
    parse_ok("0001-01-01T00:00:00Z");
    parse_ok("9999-12-31T23:59:59Z");
    assert_string_equal(parse_why("1900-02-29T00:00:00Z"), "day out of range for the month");
    assert_string_equal(parse_why("2021-02-29T00:00:00Z"), "day out of range for the month");
    assert_string_equal(parse_why("2021-04-31T00:00:00Z"), "day out of range for the month");
    assert_string_equal(parse_why("2021-04-00T00:00:00Z"), "day out of range for the month");
    assert_string_equal(parse_why("2021-13-01T00:00:00Z"), "month out of range");
    assert_string_equal(parse_why("2021-00-01T00:00:00Z"), "month out of range");
    assert_string_equal(parse_why("0000-01-01T00:00:00Z"), "year out of range");
    assert_string_equal(parse_why("2021-04-19T24:00:00Z"), "hour out of range");
    assert_string_equal(parse_why("2021-04-19T10:60:00Z"), "minute out of range");
    assert_string_equal(parse_why("2021-04-19T10:00:60Z"), "second out of range");
    assert_string_equal(parse_why("2021-04-19T10:00:00+24:00"), "offset out of range");
    assert_string_equal(parse_why("2021-04-19T10:00:00+01:60"), "offset out of range");
}

static void rfc3339__rejects_malformed_text(void **state)
{
    (void)state;
    assert_string_equal(parse_why("2021-04-19T10:02:11"), "missing offset (Z or +hh:mm)");
    assert_string_equal(parse_why("2021-04-19"), "date only, time and offset missing");
    assert_string_equal(parse_why("2021-04-19 10:02:11Z"),
                        "not in the form YYYY-MM-DDThh:mm:ss+hh:mm");
    assert_string_equal(parse_why("2021-04-19T10:02Z"),
                        "not in the form YYYY-MM-DDThh:mm:ss+hh:mm");
    assert_string_equal(parse_why("21-04-19T10:02:11Z"),
                        "not in the form YYYY-MM-DDThh:mm:ss+hh:mm");
    assert_string_equal(parse_why(""), "not in the form YYYY-MM-DDThh:mm:ss+hh:mm");
    assert_string_equal(parse_why("2021-04-19T10:02:11.Z"), "no digits after the decimal point");
    assert_string_equal(parse_why("2021-04-19T10:02:11+0100"), "bad offset (expected Z or +hh:mm)");
    assert_string_equal(parse_why("2021-04-19T10:02:11Zjunk"), "bad offset (expected Z or +hh:mm)");
    assert_string_equal(parse_why("2021-04-19T10:02:11+01:00 "),
                        "bad offset (expected Z or +hh:mm)");
    assert_string_equal(parse_why("2021-04-19T10:02:11UTC"), "bad offset (expected Z or +hh:mm)");
}

static void rfc3339__uses_only_the_given_length(void **state)
{
    const char *s = "2021-04-19T10:02:11Zgarbage";
    const char *why = NULL;
    int64_t us = 0;

    (void)state;
    assert_int_equal(ow_rfc3339_parse(s, 20, &us, &why), 0);
    assert_true(us == INT64_C(1618826531000000));
}

/* The day cache changes nothing: every text in a sequence that shares dates, changes them,
 * and puts invalid texts of a cached date in between parses as it does without a cache (same
 * result, same time, same reason). */
static void rfc3339__day_cache_gives_the_same_results(void **state)
{
    static const char *const seq[] = {
        "2021-02-28T10:00:00Z",
        "2021-02-28T23:59:59+01:00",
        "2021-02-28T24:00:00Z",
        "2021-02-28T10:60:00Z",
        "2021-02-28T10:00:00+24:00",
        "2021-02-28T10:00:00.5Z",
        "2021-02-28T10:00:00.123456789+01:00",
        "2021-02-28T10:00:00.Z",
        "2021-02-28T10:00:60.5Z",
        "2021-02-28T10:00:00.5+01:60",
        "2021-02-29T10:00:00Z",
        "2021-02-28T00:00:00-05:30",
        "2021-03-01T00:00:00Z",
        "2020-02-29T12:00:00Z",
        "2021-02-29T12:00:00Z",
        "2020-02-29T12:00:00z",
        "2020-02-29t12:00:00Z",
        "2020-02-29X12:00:00Z",
        "0000-01-01T00:00:00Z",
        "2021-02-28T10:00:00Z",
        "2021-02-28",
        "2021-02-28T10:00:00",
        "1969-12-31T23:59:59Z",
        "2021-13-01T00:00:00Z",
        "2021-02-28T10:00:00Z",
    };
    struct ow_rfc3339_day day = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        const char *why_plain = NULL;
        const char *why_cached = NULL;
        int64_t us_plain = -1;
        int64_t us_cached = -1;
        int rc_plain = ow_rfc3339_parse(seq[i], strlen(seq[i]), &us_plain, &why_plain);
        int rc_cached = ow_rfc3339_parse_day(&day, seq[i], strlen(seq[i]), &us_cached, &why_cached);

        assert_int_equal(rc_cached, rc_plain);
        if (rc_plain == 0) {
            assert_true(us_cached == us_plain);
        } else {
            assert_string_equal(why_cached, why_plain);
        }
    }
    assert_true(day.set);
    assert_memory_equal(day.date, "2021-02-28", 10);
}

static void rfc3339__formats_utc(void **state)
{
    char buf[32];

    (void)state;
    assert_int_equal(ow_rfc3339_format_utc(0, buf, sizeof(buf)), 20);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    ow_rfc3339_format_utc(INT64_C(1618826531000000), buf, sizeof(buf));
    assert_string_equal(buf, "2021-04-19T10:02:11Z");
    assert_int_equal(ow_rfc3339_format_utc(INT64_C(1618826531123456), buf, sizeof(buf)), 27);
    assert_string_equal(buf, "2021-04-19T10:02:11.123456Z");
    ow_rfc3339_format_utc(-1, buf, sizeof(buf));
    assert_string_equal(buf, "1969-12-31T23:59:59.999999Z");
    ow_rfc3339_format_utc(INT64_C(-1000000), buf, sizeof(buf));
    assert_string_equal(buf, "1969-12-31T23:59:59Z");
}

static void rfc3339__round_trips(void **state)
{
    static const char *const texts[] = {
        "2000-02-29T12:34:56Z",        "2021-03-28T01:00:00.000001Z", "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z", "1969-07-20T20:17:40Z",
    };
    char buf[32];

    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        ow_rfc3339_format_utc(parse_ok(texts[i]), buf, sizeof(buf));
        assert_string_equal(buf, texts[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc3339__parses_utc_and_offsets),
        cmocka_unit_test(rfc3339__accepts_lowercase_t_and_z),
        cmocka_unit_test(rfc3339__truncates_fractions_to_microseconds),
        cmocka_unit_test(rfc3339__checks_calendar_ranges),
        cmocka_unit_test(rfc3339__rejects_malformed_text),
        cmocka_unit_test(rfc3339__uses_only_the_given_length),
        cmocka_unit_test(rfc3339__day_cache_gives_the_same_results),
        cmocka_unit_test(rfc3339__formats_utc),
        cmocka_unit_test(rfc3339__round_trips),
    };

    return cmocka_run_group_tests_name("rfc3339", tests, NULL, NULL);
}
