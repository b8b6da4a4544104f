/* test_engine.c: the engine's own rules: duplicates, dead letters, the future limit, the
 * watermark, window closing and the snapshot envelope. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "engine_fixture.h"
#include "sha256.h"

#define CSR_APRIL                                                                                  \
    "{\"event_id\":\"c1\",\"type\":\"csr\",\"schema_version\":1,"                                  \
    "\"occurred_at\":\"2021-04-02T10:00:00Z\",\"party_id\":\"SUB-01\",\"batched\":false,"          \
    "\"count\":5,\"region\":\"north\",\"extra\":{\"a\":1,\"b\":[1,2]}}"

static int setup(void **state)
{
    *state = fixture_create(NULL, false);
    return 0;
}

static int setup_live(void **state)
{
    *state = fixture_create(NULL, true);
    return 0;
}

static int teardown(void **state)
{
    fixture_destroy(*state);
    return 0;
}

static json_t *dead_letter(struct fixture *f, size_t i)
{
    json_t *dl = fake_sink_get(f->sink, OW_STREAM_DEADLETTER, i, NULL);

    assert_non_null(dl);
    return dl;
}

static void engine__same_content_is_a_duplicate_counted_once(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(apply_json(f, CSR_APRIL), OW_OK);
    /* Same parsed value: other key order and white space. */
    assert_int_equal(apply_json(f, "{ \"extra\": {\"b\": [1, 2], \"a\": 1}, \"region\": \"north\","
                                   " \"count\": 5, \"batched\": false, \"party_id\": \"SUB-01\","
                                   " \"occurred_at\": \"2021-04-02T10:00:00Z\","
                                   " \"schema_version\": 1, \"type\": \"csr\", "
                                   "\"event_id\": \"c1\" }"),
                     OW_EDUP);
    assert_int_equal(ow_engine_stats(f->eng)->duplicates, 1);
    assert_int_equal(fake_sink_count(f->sink, OW_STREAM_DEADLETTER), 0);
    ow_engine_finish(f->eng, true);
    assert_int_equal(jint(latest_snapshot(f, "2021-04"), "reports/csr_variance/actual"), 5);
}

static void engine__same_id_other_content_is_a_dead_letter(void **state)
{
    struct fixture *f = *state;
    json_t *dl;

    apply_json(f, CSR_APRIL);
    /* An unknown field differs: content differs. */
    assert_int_equal(apply_json(f, "{\"event_id\":\"c1\",\"type\":\"csr\",\"schema_version\":1,"
                                   "\"occurred_at\":\"2021-04-02T10:00:00Z\",\"party_id\":"
                                   "\"SUB-01\",\"batched\":false,\"count\":5,\"region\":\"north\","
                                   "\"extra\":{\"a\":2,\"b\":[1,2]}}"),
                     OW_ESCHEMA);
    dl = dead_letter(f, 0);
    assert_string_equal(json_string_value(json_object_get(dl, "reason")), "duplicate_conflict");
    assert_non_null(strstr(json_string_value(json_object_get(dl, "error")),
                           "csr: field 'event_id': duplicate id \"c1\" with different content"));
    assert_int_equal(ow_engine_stats(f->eng)->dead_by_reason[OW_DL_DUPLICATE_CONFLICT], 1);
}

static void engine__invalid_first_copy_is_not_remembered(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(apply_json(f, "{\"event_id\":\"c1\",\"type\":\"csr\",\"schema_version\":1,"
                                   "\"occurred_at\":\"2021-04-02T10:00:00Z\",\"party_id\":"
                                   "\"SUB-01\",\"batched\":false,\"count\":-3}"),
                     OW_ESCHEMA);
    assert_int_equal(apply_json(f, CSR_APRIL), OW_OK);
    assert_int_equal(ow_engine_stats(f->eng)->applied, 1);
}

static void engine__dead_letter_names_source_and_keeps_payload(void **state)
{
    struct fixture *f = *state;
    const char *bad = "{\"event_id\":\"x\",\"type\":\"csr\",\"count\":-3}";
    const char *key;
    json_t *dl;

    apply_json(f, bad);
    dl = fake_sink_get(f->sink, OW_STREAM_DEADLETTER, 0, &key);
    assert_string_equal(key, "test/0/1");
    assert_string_equal(json_string_value(json_object_get(dl, "payload")), bad);
    assert_int_equal(jint(dl, "source/offset"), 1);
    assert_string_equal(json_string_value(jget(dl, "source/topic")), "test");
    assert_int_equal(jint(dl, "schema_version"), 1);
    assert_non_null(json_object_get(dl, "received_at"));
    assert_non_null(strstr(json_string_value(json_object_get(dl, "error")), "csr: field '"));
}

static void engine__oversized_payload_is_cut_with_its_digest(void **state)
{
    struct fixture *f = *state;
    size_t len = 70 * 1024;
    char *big = malloc(len + 1);
    char sha[65];
    json_t *dl;

    memset(big, ' ', len);
    big[0] = '{';
    big[len - 1] = '}';
    big[len] = '\0';
    apply_json(f, big);
    dl = dead_letter(f, 0);
    assert_int_equal(strlen(json_string_value(json_object_get(dl, "payload"))), 4096);
    assert_int_equal(jint(dl, "payload_bytes"), (int64_t)len);
    ow_sha256_hex(big, len, sha);
    assert_string_equal(json_string_value(json_object_get(dl, "payload_sha256")), sha);
    free(big);
}

static void engine__non_utf8_payload_goes_base64(void **state)
{
    struct fixture *f = *state;
    json_t *dl;

    apply_json(f, "{\"event_id\":\"\xff\xfe\"}");
    dl = dead_letter(f, 0);
    assert_null(json_object_get(dl, "payload"));
    assert_string_equal(json_string_value(json_object_get(dl, "payload_b64")),
                        "eyJldmVudF9pZCI6Iv/+In0=");
}

static void engine__future_events_rejected_in_live_mode(void **state)
{
    struct fixture *f = *state;

    ow_engine_set_wall_clock(f->eng, ts("2021-04-01T00:00:00Z"));
    assert_int_equal(apply_json(f, CSR_APRIL), OW_ESCHEMA);
    assert_int_equal(ow_engine_stats(f->eng)->dead_by_reason[OW_DL_FUTURE], 1);
    assert_non_null(strstr(json_string_value(json_object_get(dead_letter(f, 0), "error")),
                           "occurred_at in the future"));
    ow_engine_set_wall_clock(f->eng, ts("2021-04-01T10:00:01Z"));
    assert_int_equal(apply_json(f, CSR_APRIL), OW_OK); /* within the 1 day limit */
}

static void engine__future_limit_does_not_apply_to_replay(void **state)
{
    struct fixture *f = *state;

    ow_engine_set_wall_clock(f->eng, ts("2020-01-01T00:00:00Z"));
    assert_int_equal(apply_json(f, CSR_APRIL), OW_OK);
}

static void engine__watermark_trails_and_never_goes_back(void **state)
{
    struct fixture *f = *state;

    assert_true(ow_engine_stats(f->eng)->watermark_us == INT64_MIN);
    apply_json(f, CSR_APRIL);
    assert_true(ow_engine_stats(f->eng)->watermark_us == ts("2021-04-02T09:00:00Z"));
    apply_fmt(f, "{\"event_id\":\"c2\",\"type\":\"csr\",\"schema_version\":1,"
                 "\"occurred_at\":\"2021-04-01T10:00:00Z\",\"party_id\":\"A\",\"batched\":true}");
    assert_true(ow_engine_stats(f->eng)->watermark_us == ts("2021-04-02T09:00:00Z"));
    ow_engine_advance_watermark(f->eng, ts("2021-04-01T00:00:00Z"), OW_CLOSE_IDLE_CLOCK);
    assert_true(ow_engine_stats(f->eng)->watermark_us == ts("2021-04-02T09:00:00Z"));
}

static void engine__idle_clock_closes_windows_and_says_why(void **state)
{
    struct fixture *f = *state;
    const struct ow_engine_stats *st = ow_engine_stats(f->eng);
    json_t *snap;

    apply_json(f, CSR_APRIL);
    ow_engine_advance_watermark(f->eng, ts("2021-05-17T22:59:59Z"), OW_CLOSE_IDLE_CLOCK);
    assert_null(latest_snapshot(f, "2021-04"));
    ow_engine_advance_watermark(f->eng, ts("2021-05-17T23:00:00Z"), OW_CLOSE_IDLE_CLOCK);
    snap = latest_snapshot(f, "2021-04");
    assert_non_null(snap);
    assert_int_equal(st->closed_by_reason[OW_CLOSE_IDLE_CLOCK], 1);
    assert_int_equal(st->windows_closed, 1);
}

static void engine__snapshot_envelope(void **state)
{
    struct fixture *f = *state;
    json_t *snap;

    apply_json(f, CSR_APRIL);
    ow_engine_finish(f->eng, true);
    snap = latest_snapshot(f, "2021-04");
    assert_string_equal(json_string_value(json_object_get(snap, "window")), "2021-04");
    assert_string_equal(json_string_value(json_object_get(snap, "kind")), "month");
    assert_string_equal(json_string_value(json_object_get(snap, "timezone")), "Europe/London");
    assert_string_equal(json_string_value(json_object_get(snap, "start")),
                        "2021-04-01T00:00:00+01:00");
    assert_string_equal(json_string_value(json_object_get(snap, "end")),
                        "2021-05-01T00:00:00+01:00");
    assert_int_equal(jint(snap, "revision"), 1);
    assert_true(json_is_true(json_object_get(snap, "final")));
    assert_int_equal(jint(snap, "late_events"), 0);
    assert_int_equal(jint(snap, "schema_version"), 1);
    assert_non_null(jget(snap, "producer/version"));
    assert_string_equal(json_string_value(jget(snap, "producer/config_sha256")), "test");
    assert_int_equal(ow_engine_stats(f->eng)->closed_by_reason[OW_CLOSE_END_OF_INPUT], 1);
    /* Aggregates: one per report, keyed <window>/<report>. */
    assert_non_null(fake_sink_latest(f->sink, OW_STREAM_AGGREGATES, "2021-04/csr_variance"));
}

static void engine__month_series_has_no_gaps(void **state)
{
    struct fixture *f = *state;

    apply_json(f, CSR_APRIL);
    apply_fmt(f, "{\"event_id\":\"c2\",\"type\":\"csr\",\"schema_version\":1,"
                 "\"occurred_at\":\"2021-07-02T10:00:00Z\",\"party_id\":\"A\",\"batched\":true}");
    ow_engine_finish(f->eng, true);
    assert_non_null(latest_snapshot(f, "2021-05"));
    assert_non_null(latest_snapshot(f, "2021-06"));
    assert_null(latest_snapshot(f, "2021-03"));
    assert_null(latest_snapshot(f, "2021-08"));
}

/* The aggregate keys published by the flush since the last call, in order, joined by ' '. */
static void flushed_keys(struct fixture *f, size_t *seen, char *out, size_t len)
{
    size_t n;

    ow_engine_flush(f->eng);
    n = fake_sink_count(f->sink, OW_STREAM_AGGREGATES);
    out[0] = '\0';
    for (; *seen < n; (*seen)++) {
        const char *key;

        fake_sink_get(f->sink, OW_STREAM_AGGREGATES, *seen, &key);
        snprintf(out + strlen(out), len - strlen(out), "%s%s", out[0] ? " " : "", key);
    }
}

/* An aggregate update per key while it changes: the flush publishes the reports an event
 * changed, not every report of its window. */
static void engine__flush_publishes_only_the_reports_that_changed(void **state)
{
    struct fixture *f = *state;
    size_t seen = 0;
    char keys[256];

    ow_engine_set_wall_clock(f->eng, ts("2021-04-20T00:00:00Z"));
    assert_int_equal(apply_json(f, CSR_APRIL), OW_OK);
    flushed_keys(f, &seen, keys, sizeof(keys));
    assert_string_equal(keys, "2021-04/csr_variance");
    flushed_keys(f, &seen, keys, sizeof(keys));
    assert_string_equal(keys, ""); /* nothing changed since */
    assert_int_equal(apply_json(f, "{\"event_id\":\"s1\",\"type\":\"service_request\","
                                   "\"schema_version\":1,\"occurred_at\":\"2021-04-03T10:00:00Z\","
                                   "\"party_id\":\"SUB-01\",\"service_ref\":\"1.1\","
                                   "\"count\":2,\"region\":\"north\"}"),
                     OW_OK);
    flushed_keys(f, &seen, keys, sizeof(keys));
    assert_string_equal(keys, "2021-04/sr_variance");
    /* An incident event also touches its month through ow_engine_window_touched. */
    assert_int_equal(apply_json(f, "{\"event_id\":\"i1\",\"type\":\"incident\","
                                   "\"schema_version\":1,\"occurred_at\":\"2021-04-04T10:00:00Z\","
                                   "\"incident_id\":\"INC-1\",\"action\":\"opened\",\"severity\":3,"
                                   "\"rdp_id\":\"RDP-A\",\"region\":\"north\"}"),
                     OW_OK);
    flushed_keys(f, &seen, keys, sizeof(keys));
    assert_string_equal(keys, "2021-04/rdp_incidents");
    /* A forecast is read by two processors: both reports changed. */
    assert_int_equal(apply_json(f,
                                "{\"event_id\":\"fc1\",\"type\":\"forecast\","
                                "\"schema_version\":1,\"occurred_at\":\"2021-03-20T10:00:00Z\","
                                "\"report\":\"csr\",\"party_id\":\"SUB-01\",\"period\":\"2021-04\","
                                "\"quantity\":10}"),
                     OW_OK);
    flushed_keys(f, &seen, keys, sizeof(keys));
    assert_string_equal(keys, "2021-04/csr_variance 2021-04/sr_variance");
}

static char *read_fixture(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 1 << 17);
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, (1 << 17) - 1, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        buf[--n] = '\0';
    }
    return buf;
}

/* tests/fixtures/events/pairs/<case>/{first.json,second.json,error}: the first applies, the
 * second is a dead letter with exactly that reason. */
static void engine__pair_fixtures(void **state)
{
    struct fixture *f = *state;
    char *first = read_fixture("tests/fixtures/events/pairs/dup_conflict/first.json");
    char *second = read_fixture("tests/fixtures/events/pairs/dup_conflict/second.json");
    char *error = read_fixture("tests/fixtures/events/pairs/dup_conflict/error");

    assert_int_equal(apply_json(f, first), OW_OK);
    assert_int_equal(apply_json(f, second), OW_ESCHEMA);
    assert_string_equal(json_string_value(json_object_get(dead_letter(f, 0), "error")), error);
    free(first);
    free(second);
    free(error);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(engine__same_content_is_a_duplicate_counted_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(engine__same_id_other_content_is_a_dead_letter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(engine__invalid_first_copy_is_not_remembered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(engine__pair_fixtures, setup, teardown),
        cmocka_unit_test_setup_teardown(engine__dead_letter_names_source_and_keeps_payload, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(engine__oversized_payload_is_cut_with_its_digest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(engine__non_utf8_payload_goes_base64, setup, teardown),
        cmocka_unit_test_setup_teardown(engine__future_events_rejected_in_live_mode, setup_live,
                                        teardown),
        cmocka_unit_test_setup_teardown(engine__future_limit_does_not_apply_to_replay, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(engine__watermark_trails_and_never_goes_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(engine__idle_clock_closes_windows_and_says_why, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(engine__snapshot_envelope, setup, teardown),
        cmocka_unit_test_setup_teardown(engine__month_series_has_no_gaps, setup, teardown),
        cmocka_unit_test_setup_teardown(engine__flush_publishes_only_the_reports_that_changed,
                                        setup_live, teardown),
    };

    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
