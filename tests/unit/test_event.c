/* test_event.c: the event decoder against every fixture directory, plus focused checks of
 * limits, the content hash, decoder reuse and field placement. Run from the repository root. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

#define FIXTURES "tests/fixtures/events"

struct fixture {
    struct ow_decoder *dec;
    struct ow_event ev;
    struct ow_err err;
    char reason[512];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    f->dec = ow_decoder_create();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    ow_decoder_destroy(f->dec);
    free(f);
    return 0;
}

/* The whole file at @path (NUL-terminated), or NULL if it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (fp == NULL) {
        return NULL;
    }
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
            *len = (size_t)n;
        }
    }
    fclose(fp);
    return buf;
}

static int decode(struct fixture *f, const char *buf, size_t len)
{
    int rc;

    f->reason[0] = '\0';
    rc = ow_decoder_decode(f->dec, buf, len, &f->ev, &f->err);
    if (rc != OW_OK) {
        ow_err_str(&f->err, f->reason, sizeof(f->reason));
    }
    return rc;
}

static int decode_str(struct fixture *f, const char *json)
{
    return decode(f, json, strlen(json));
}

static void decode_ok(struct fixture *f, const char *json)
{
    if (decode_str(f, json) != OW_OK) {
        fail_msg("rejected: %s\n  input: %.200s", f->reason, json);
    }
}

static void decode_fixture(struct fixture *f, const char *kind, const char *name)
{
    char path[512];
    size_t len = 0;
    char *buf;

    snprintf(path, sizeof(path), FIXTURES "/%s/%s/input.json", kind, name);
    buf = slurp(path, &len);
    assert_non_null(buf);
    if (decode(f, buf, len) != OW_OK) {
        fail_msg("%s: %s", path, f->reason);
    }
    free(buf);
}

static bool str_is(struct ow_str s, const char *want)
{
    return s.p != NULL && s.len == strlen(want) && memcmp(s.p, want, s.len) == 0 &&
           s.p[s.len] == '\0';
}

/* Visit every case directory of FIXTURES/@kind; returns how many. */
static int each_case(const char *kind, void (*visit)(struct fixture *, const char *, int *),
                     struct fixture *f, int *failures)
{
    char path[512];
    struct dirent *de;
    DIR *dir;
    int n = 0;

    snprintf(path, sizeof(path), FIXTURES "/%s", kind);
    dir = opendir(path);
    if (dir == NULL) {
        fail_msg("cannot open %s (run the tests from the repository root)", path);
    }
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), FIXTURES "/%s/%s", kind, de->d_name);
        visit(f, path, failures);
        n++;
    }
    closedir(dir);
    return n;
}

static void visit_valid(struct fixture *f, const char *dir, int *failures)
{
    char path[600];
    size_t len = 0;
    char *buf;

    snprintf(path, sizeof(path), "%s/input.json", dir);
    buf = slurp(path, &len);
    if (buf == NULL) {
        print_error("%s: missing\n", path);
        (*failures)++;
        return;
    }
    if (decode(f, buf, len) != OW_OK) {
        print_error("%s: rejected: %s\n", dir, f->reason);
        (*failures)++;
    }
    free(buf);
}

static void visit_invalid(struct fixture *f, const char *dir, int *failures)
{
    char path[600];
    size_t len = 0;
    size_t elen = 0;
    char *buf;
    char *want;
    int rc;

    snprintf(path, sizeof(path), "%s/error", dir);
    want = slurp(path, &elen);
    snprintf(path, sizeof(path), "%s/input.json", dir);
    buf = slurp(path, &len);
    if (buf == NULL || want == NULL) {
        print_error("%s: input.json or error missing\n", dir);
        (*failures)++;
        goto out_free;
    }
    while (elen > 0 && (want[elen - 1] == '\n' || want[elen - 1] == '\r')) {
        want[--elen] = '\0';
    }
    rc = decode(f, buf, len);
    if (rc != OW_ESCHEMA) {
        print_error("%s: accepted (rc %d), want: %s\n", dir, rc, want);
        (*failures)++;
    } else if (strcmp(f->reason, want) != 0) {
        print_error("%s:\n   got: %s\n  want: %s\n", dir, f->reason, want);
        (*failures)++;
    }
out_free:
    free(buf);
    free(want);
}

static void event__valid_fixtures_decode(void **state)
{
    int failures = 0;
    int n = each_case("valid", visit_valid, *state, &failures);

    assert_true(n >= 30);
    assert_int_equal(failures, 0);
}

static void event__invalid_fixtures_fail_with_their_error(void **state)
{
    int failures = 0;
    int n = each_case("invalid", visit_invalid, *state, &failures);

    assert_true(n >= 60);
    assert_int_equal(failures, 0);
}

static void event__invalid_fixtures_fail_the_same_after_reuse(void **state)
{
    struct fixture *f = *state;
    int failures = 0;

    /* Every invalid case again, each followed by a valid event: an error (which may replace
     * the parser handle) must leave nothing behind. */
    for (int round = 0; round < 3; round++) {
        each_case("invalid", visit_invalid, f, &failures);
        decode_fixture(f, "valid", "csr_single");
    }
    assert_int_equal(failures, 0);
}

static void event__spot_checks_decoded_values(void **state)
{
    struct fixture *f = *state;

    decode_fixture(f, "valid", "incident_opened");
    assert_int_equal(f->ev.type, OW_EV_INCIDENT);
    assert_true(str_is(f->ev.event_id, "evt-incident-1"));
    assert_true(f->ev.occurred_us == INT64_C(1618826531000000));
    assert_int_equal(f->ev.action, OW_ACT_OPENED);
    assert_int_equal(f->ev.severity, 2);
    assert_true(str_is(f->ev.entity_id, "INC-1"));
    assert_true(str_is(f->ev.rdp_id, "RDP-A"));
    assert_int_equal(f->ev.region, OW_REGION_NORTH);

    decode_fixture(f, "valid", "time_offset_plus_0100");
    assert_true(f->ev.occurred_us == INT64_C(1618826531000000));
    decode_fixture(f, "valid", "time_lowercase_t_z");
    assert_true(f->ev.occurred_us == INT64_C(1618826531000000));
    decode_fixture(f, "valid", "time_fraction_nanoseconds");
    assert_true(f->ev.occurred_us == INT64_C(1618826531123456));

    decode_fixture(f, "valid", "service_request_default_count_unknown_fields");
    assert_true(f->ev.count == 1);
    assert_true(str_is(f->ev.service_ref, "1"));
    decode_fixture(f, "valid", "service_request_count_int64_max");
    assert_true(f->ev.count == INT64_MAX);

    decode_fixture(f, "valid", "forecast_sr_per_service");
    assert_int_equal(f->ev.report, OW_REPORT_SERVICE_REQUEST);
    assert_int_equal(f->ev.period, 2021 * 12 + 11);
    assert_true(f->ev.quantity == 0);
    assert_true(str_is(f->ev.service_ref, "8.14.2"));
    decode_fixture(f, "valid", "forecast_csr_service_ref_ignored");
    assert_null(f->ev.service_ref.p);

    decode_fixture(f, "valid", "paired_surrogate_escape");
    assert_true(str_is(f->ev.event_id, "e-\xf0\x9f\x98\x80"));
    assert_true(str_is(f->ev.party_id, "P\xc3\xa9"));

    decode_fixture(f, "valid", "type_key_last");
    assert_int_equal(f->ev.type, OW_EV_CSR);
    assert_true(f->ev.count == 2);
    assert_int_equal(f->ev.batched, 1);

    decode_fixture(f, "valid", "event_id_128_multibyte_chars");
    assert_int_equal(f->ev.event_id.len, 256);
}

static void event__every_field_lands_in_the_struct(void **state)
{
    struct fixture *f = *state;
    struct ow_event *ev = &f->ev;

    decode_ok(f, "{\"event_id\":\"i\",\"type\":\"incident\",\"schema_version\":1,"
                 "\"occurred_at\":\"2021-04-19T10:02:11Z\",\"incident_id\":\"INC\","
                 "\"action\":\"reopened\",\"severity\":5,\"rdp_id\":\"R\",\"region\":\"central\"}");
    assert_int_equal(ev->type, OW_EV_INCIDENT);
    assert_true(str_is(ev->event_id, "i"));
    assert_true(str_is(ev->entity_id, "INC"));
    assert_int_equal(ev->action, OW_ACT_REOPENED);
    assert_int_equal(ev->severity, 5);
    assert_true(str_is(ev->rdp_id, "R"));
    assert_int_equal(ev->region, OW_REGION_CENTRAL);

    decode_ok(f, "{\"event_id\":\"s\",\"type\":\"service_request\",\"schema_version\":1,"
                 "\"occurred_at\":\"2021-04-19T10:02:11Z\",\"party_id\":\"SUP\","
                 "\"service_ref\":\"8.14.2\",\"count\":7,\"region\":\"south\"}");
    assert_int_equal(ev->type, OW_EV_SERVICE_REQUEST);
    assert_true(str_is(ev->party_id, "SUP"));
    assert_true(str_is(ev->service_ref, "8.14.2"));
    assert_true(ev->count == 7);
    assert_int_equal(ev->region, OW_REGION_SOUTH);
    assert_int_equal(ev->action, OW_ACT_NONE);
    assert_null(ev->entity_id.p);
    assert_int_equal(ev->severity, 0);

    decode_ok(f, "{\"event_id\":\"c\",\"type\":\"csr\",\"schema_version\":1,"
                 "\"occurred_at\":\"2021-04-19T10:02:11Z\",\"party_id\":\"SUB\","
                 "\"batched\":true,\"count\":9,\"region\":\"north\"}");
    assert_int_equal(ev->type, OW_EV_CSR);
    assert_true(str_is(ev->party_id, "SUB"));
    assert_int_equal(ev->batched, 1);
    assert_true(ev->count == 9);
    assert_int_equal(ev->region, OW_REGION_NORTH);

    decode_ok(f, "{\"event_id\":\"f\",\"type\":\"forecast\",\"schema_version\":1,"
                 "\"occurred_at\":\"2021-04-19T10:02:11Z\",\"report\":\"service_request\","
                 "\"party_id\":\"SUP\",\"service_ref\":\"1.1.1\",\"period\":\"2021-01\","
                 "\"quantity\":123}");
    assert_int_equal(ev->type, OW_EV_FORECAST);
    assert_int_equal(ev->report, OW_REPORT_SERVICE_REQUEST);
    assert_true(str_is(ev->party_id, "SUP"));
    assert_true(str_is(ev->service_ref, "1.1.1"));
    assert_int_equal(ev->period, 2021 * 12);
    assert_true(ev->quantity == 123);
    assert_int_equal(ev->region, OW_REGION_NONE);

    decode_ok(f, "{\"event_id\":\"h\",\"type\":\"ch_return\",\"schema_version\":1,"
                 "\"occurred_at\":\"2021-04-19T10:02:11Z\",\"ch_id\":\"CH\","
                 "\"action\":\"dispute_resolved\",\"attribution\":\"dcc\","
                 "\"fault\":\"manufacturing_defect\",\"stage\":\"pre_installation\","
                 "\"region\":\"central\"}");
    assert_int_equal(ev->type, OW_EV_CH_RETURN);
    assert_true(str_is(ev->entity_id, "CH"));
    assert_int_equal(ev->action, OW_ACT_DISPUTE_RESOLVED);
    assert_int_equal(ev->attribution, OW_ATTR_DCC);
    assert_int_equal(ev->fault, OW_FAULT_MANUFACTURING_DEFECT);
    assert_int_equal(ev->stage, OW_STAGE_PRE_INSTALLATION);
    assert_int_equal(ev->region, OW_REGION_CENTRAL);

    decode_ok(f, "{\"event_id\":\"p\",\"type\":\"problem\",\"schema_version\":1,"
                 "\"occurred_at\":\"2021-04-19T10:02:11Z\",\"problem_id\":\"PRB\","
                 "\"action\":\"status_changed\",\"status\":\"completed\",\"category\":\"medium\","
                 "\"rca_target_at\":\"2021-04-20T10:00:00.25+01:00\",\"significant\":false}");
    assert_int_equal(ev->type, OW_EV_PROBLEM);
    assert_true(str_is(ev->entity_id, "PRB"));
    assert_int_equal(ev->action, OW_ACT_STATUS_CHANGED);
    assert_int_equal(ev->status, OW_PSTATUS_COMPLETED);
    assert_int_equal(ev->category, OW_CAT_MEDIUM);
    assert_true(ev->has_rca_target);
    assert_true(ev->rca_target_us == INT64_C(1618909200250000));
    assert_int_equal(ev->significant, 0);

    decode_ok(f, "{\"event_id\":\"p2\",\"type\":\"problem\",\"schema_version\":1,"
                 "\"occurred_at\":\"2021-04-19T10:02:11Z\",\"problem_id\":\"PRB\","
                 "\"action\":\"closed\"}");
    assert_int_equal(ev->action, OW_ACT_CLOSED);
    assert_false(ev->has_rca_target);
    assert_int_equal(ev->significant, -1);
    assert_int_equal(ev->status, OW_PSTATUS_NONE);
    assert_int_equal(ev->category, OW_CAT_NONE);

    decode_ok(f, "{\"event_id\":\"m\",\"type\":\"measurement\",\"schema_version\":1,"
                 "\"occurred_at\":\"2021-04-19T10:02:11Z\",\"measure\":\"PM2.1\","
                 "\"provider\":\"CSP_CS\",\"met\":9223372036854775806,"
                 "\"total\":9223372036854775807}");
    assert_int_equal(ev->type, OW_EV_MEASUREMENT);
    assert_true(str_is(ev->measure, "PM2.1"));
    assert_true(str_is(ev->provider, "CSP_CS"));
    assert_true(ev->met == INT64_MAX - 1);
    assert_true(ev->total == INT64_MAX);
    assert_int_equal(ev->period, -1);
}

static void hash_of(struct fixture *f, const char *json, uint64_t out[2])
{
    decode_ok(f, json);
    out[0] = f->ev.content_hash[0];
    out[1] = f->ev.content_hash[1];
}

#define CSR_HEAD                                                                                   \
    "{\"event_id\":\"h1\",\"type\":\"csr\",\"schema_version\":1,"                                  \
    "\"occurred_at\":\"2021-04-19T10:02:11Z\",\"party_id\":\"P\",\"batched\":true"

static bool same_hash(struct fixture *f, const char *a, const char *b)
{
    uint64_t ha[2];
    uint64_t hb[2];

    hash_of(f, a, ha);
    hash_of(f, b, hb);
    return ha[0] == hb[0] && ha[1] == hb[1];
}

static void event__hash_ignores_key_order_and_white_space(void **state)
{
    struct fixture *f = *state;

    assert_true(same_hash(f, CSR_HEAD ",\"x\":{\"a\":1,\"b\":[1,{\"c\":null,\"d\":true}]}}",
                          " {\n \"x\" : { \"b\" : [ 1 , { \"d\" : true , \"c\" : null } ] ,"
                          " \"a\" : 1 } , \"batched\":true,\"party_id\":\"P\",\"type\":\"csr\","
                          "\"occurred_at\":\"2021-04-19T10:02:11Z\",\"schema_version\":1,"
                          "\"event_id\":\"h1\"}\n"));
    /* Strings compare by decoded value. */
    assert_true(
        same_hash(f, CSR_HEAD ",\"x\":\"A\\u00e9\"}", CSR_HEAD ",\"x\":\"\\u0041\xc3\xa9\"}"));
    assert_true(same_hash(f, CSR_HEAD ",\"\\u0078\":1}", CSR_HEAD ",\"x\":1}"));
}

static void event__hash_differs_for_different_content(void **state)
{
    struct fixture *f = *state;

    assert_false(same_hash(f, CSR_HEAD ",\"x\":1}", CSR_HEAD ",\"x\":2}"));
    assert_false(same_hash(f, CSR_HEAD "}", CSR_HEAD ",\"x\":null}"));
    assert_false(same_hash(f, CSR_HEAD ",\"x\":1}", CSR_HEAD ",\"y\":1}"));
    assert_false(same_hash(f, CSR_HEAD ",\"x\":1}", CSR_HEAD ",\"x\":1.0}"));
    assert_false(same_hash(f, CSR_HEAD ",\"x\":100}", CSR_HEAD ",\"x\":1e2}"));
    assert_false(same_hash(f, CSR_HEAD ",\"x\":1}", CSR_HEAD ",\"x\":\"1\"}"));
    assert_false(same_hash(f, CSR_HEAD ",\"x\":[1,2]}", CSR_HEAD ",\"x\":[2,1]}"));
    assert_false(same_hash(f, CSR_HEAD ",\"x\":[[]]}", CSR_HEAD ",\"x\":[]}"));
    assert_false(same_hash(f, CSR_HEAD ",\"x\":{}}", CSR_HEAD ",\"x\":[]}"));
    assert_false(
        same_hash(f, CSR_HEAD ",\"x\":{\"a\":{\"b\":1}}}", CSR_HEAD ",\"x\":{\"a\":{\"b\":2}}}"));
    assert_false(
        same_hash(f, CSR_HEAD ",\"x\":{\"a\":1,\"b\":2}}", CSR_HEAD ",\"x\":{\"a\":2,\"b\":1}}"));
    assert_false(same_hash(f, CSR_HEAD ",\"ab\":\"c\"}", CSR_HEAD ",\"a\":\"bc\"}"));
    assert_false(same_hash(f, CSR_HEAD ",\"x\":true}", CSR_HEAD ",\"x\":false}"));
    assert_false(same_hash(f, CSR_HEAD ",\"count\":1}", CSR_HEAD "}"));
}

static void event__decoder_reuse_across_many_events(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "{\"a\":",
        "[1]",
        "{\"a\":1} {}",
        "nope",
        "{\"type\":\"csr\",\"count\":0}",
        "{\"x\":\"\\ud800\"}",
        "{\"count\":1,\"count\":1}",
        "",
    };
    uint64_t first[2];
    uint64_t again[2];
    char json[256];

    hash_of(f, CSR_HEAD ",\"count\":4}", first);
    for (int i = 0; i < 20000; i++) {
        if (i % 3 == 0) {
            assert_int_equal(decode_str(f, bad[i % 8]), OW_ESCHEMA);
        }
        snprintf(json, sizeof(json), CSR_HEAD ",\"count\":%d,\"seq\":%d}", i % 7 + 1, i);
        decode_ok(f, json);
        assert_true(f->ev.count == i % 7 + 1);
        assert_true(str_is(f->ev.party_id, "P"));
    }
    hash_of(f, CSR_HEAD ",\"count\":4}", again);
    assert_true(first[0] == again[0] && first[1] == again[1]);
}

/* The decoder predicts each member position's field from the last event: events whose key
 * order changes, with names of the same length (region, report, rxgion) at one position, an
 * unknown key there, and a nested value before it, must decode as if each were the first. */
static void event__key_order_changes_between_events(void **state)
{
    struct fixture *f = *state;
    static const char *const sr =
        "{\"event_id\":\"s1\",\"type\":\"service_request\",\"schema_version\":1,"
        "\"occurred_at\":\"2021-04-19T10:02:11Z\",\"region\":\"south\",\"party_id\":\"P\","
        "\"service_ref\":\"1.2\",\"count\":3}";
    static const char *const fc =
        "{\"event_id\":\"f1\",\"type\":\"forecast\",\"schema_version\":1,"
        "\"occurred_at\":\"2021-04-19T10:02:11Z\",\"report\":\"csr\",\"party_id\":\"Q\","
        "\"period\":\"2021-05\",\"quantity\":7}";
    static const char *const shuffled =
        "{\"count\":5,\"rxgion\":\"x\",\"party_id\":\"R\",\"nest\":{\"region\":\"north\"},"
        "\"type\":\"service_request\",\"region\":\"central\",\"event_id\":\"s2\","
        "\"schema_version\":1,\"service_ref\":\"4\",\"occurred_at\":\"2021-04-19T10:02:12Z\"}";

    for (int round = 0; round < 3; round++) {
        decode_ok(f, sr);
        assert_int_equal(f->ev.type, OW_EV_SERVICE_REQUEST);
        assert_int_equal(f->ev.region, OW_REGION_SOUTH);
        assert_true(str_is(f->ev.party_id, "P"));
        assert_true(str_is(f->ev.service_ref, "1.2"));
        assert_true(f->ev.count == 3);

        decode_ok(f, fc);
        assert_int_equal(f->ev.type, OW_EV_FORECAST);
        assert_int_equal(f->ev.report, OW_REPORT_CSR);
        assert_int_equal(f->ev.region, OW_REGION_NONE);
        assert_true(str_is(f->ev.party_id, "Q"));
        assert_int_equal(f->ev.period, 2021 * 12 + 4);
        assert_true(f->ev.quantity == 7);

        decode_ok(f, shuffled);
        assert_int_equal(f->ev.type, OW_EV_SERVICE_REQUEST);
        assert_true(str_is(f->ev.event_id, "s2"));
        assert_int_equal(f->ev.region, OW_REGION_CENTRAL);
        assert_true(str_is(f->ev.party_id, "R"));
        assert_true(str_is(f->ev.service_ref, "4"));
        assert_true(f->ev.count == 5);
        assert_true(f->ev.occurred_us == INT64_C(1618826532000000));
    }
    /* A known key twice is still refused when the first copy was predicted. */
    assert_int_equal(decode_str(f, "{\"event_id\":\"s1\",\"event_id\":\"s1\"}"), OW_ESCHEMA);
    assert_non_null(strstr(f->reason, "appears more than once"));
}

/* A csr whose "deep" field holds an array nested so that the deepest value is at @depth
 * (the top-level object is depth 1). */
static char *nested(int depth)
{
    size_t cap = 256 + 2 * (size_t)depth;
    char *buf = malloc(cap);
    size_t o = (size_t)snprintf(buf, cap, CSR_HEAD ",\"deep\":");

    for (int i = 1; i < depth; i++) {
        buf[o++] = '[';
    }
    buf[o++] = '0';
    for (int i = 1; i < depth; i++) {
        buf[o++] = ']';
    }
    buf[o++] = '}';
    buf[o] = '\0';
    return buf;
}

static void event__nesting_16_ok_17_rejected(void **state)
{
    struct fixture *f = *state;
    char *ok = nested(16);
    char *bad = nested(17);

    decode_ok(f, ok);
    assert_int_equal(decode_str(f, bad), OW_ESCHEMA);
    assert_string_equal(f->reason, "csr: field 'deep': nests deeper than 16 levels");
    free(ok);
    free(bad);
}

static void event__string_and_size_limits_are_inclusive(void **state)
{
    struct fixture *f = *state;
    size_t cap = OW_EVENT_MAX_BYTES + 64;
    char *buf = malloc(cap);
    size_t o;

    /* A 4096-byte string and a 4096-byte key are fine; 4097 is not. */
    o = (size_t)snprintf(buf, cap, CSR_HEAD ",\"");
    memset(buf + o, 'k', 4096);
    o += 4096;
    o += (size_t)snprintf(buf + o, cap - o, "\":\"");
    memset(buf + o, 'v', 4096);
    o += 4096;
    snprintf(buf + o, cap - o, "\"}");
    decode_ok(f, buf);
    memmove(buf + o + 1, buf + o, 3);
    buf[o] = 'v';
    assert_int_equal(decode_str(f, buf), OW_ESCHEMA);
    assert_string_equal(f->reason,
                        "csr: field 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
                        "kkkk...': string of 4097 bytes is longer than the 4096-byte limit");

    /* Exactly 64 KiB (padded with white space) is fine; one byte more is not. */
    o = (size_t)snprintf(buf, cap, CSR_HEAD "}");
    memset(buf + o, ' ', OW_EVENT_MAX_BYTES - o);
    assert_int_equal(decode(f, buf, OW_EVENT_MAX_BYTES), OW_OK);
    buf[OW_EVENT_MAX_BYTES] = ' ';
    assert_int_equal(decode(f, buf, OW_EVENT_MAX_BYTES + 1), OW_ESCHEMA);
    assert_string_equal(f->reason, "event: 65537 bytes is more than the 65536-byte limit");
    free(buf);
}

static void event__surrogates_paired_ok_unpaired_rejected(void **state)
{
    struct fixture *f = *state;

    decode_ok(f, CSR_HEAD ",\"x\":\"\\uD83D\\uDE00 \\udbff\\udfff \\\\ud800\"}");
    assert_int_equal(decode_str(f, CSR_HEAD ",\"x\":\"\\ud83d\"}"), OW_ESCHEMA);
    assert_string_equal(f->reason,
                        "csr: field 'x': string contains an unpaired surrogate escape \\ud83d");
    assert_int_equal(decode_str(f, CSR_HEAD ",\"x\":\"\\ud83d\\n\"}"), OW_ESCHEMA);
    assert_int_equal(decode_str(f, CSR_HEAD ",\"x\":\"\\ude00\\ud83d\"}"), OW_ESCHEMA);
    assert_string_equal(f->reason,
                        "csr: field 'x': string contains an unpaired surrogate escape \\ude00");
    /* The escaped backslash before "ud800" above is text, not an escape. */
    decode_ok(f, CSR_HEAD ",\"x\":\"\\\\u0000\"}");
}

static void event__utf8_checked_strictly(void **state)
{
    struct fixture *f = *state;

    decode_ok(f, CSR_HEAD ",\"x\":\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"}");
    assert_int_equal(decode_str(f, CSR_HEAD ",\"x\":\"\xf4\x90\x80\x80\"}"), OW_ESCHEMA);
    assert_int_equal(decode_str(f, CSR_HEAD ",\"x\":\"\xe0\x80\xaf\"}"), OW_ESCHEMA);
    assert_int_equal(decode_str(f, CSR_HEAD ",\"x\":\"\xc3\"}"), OW_ESCHEMA);
    assert_int_equal(decode_str(f, CSR_HEAD ",\"x\":\"\x80\"}"), OW_ESCHEMA);
}

static void event__names_of_types_and_regions(void **state)
{
    (void)state;
    assert_string_equal(ow_event_type_name(OW_EV_SERVICE_REQUEST), "service_request");
    assert_string_equal(ow_event_type_name(OW_EV_MEASUREMENT), "measurement");
    assert_null(ow_event_type_name(OW_EV__COUNT));
    assert_string_equal(ow_region_name(OW_REGION_CENTRAL), "central");
    assert_string_equal(ow_region_name(OW_REGION_NONE), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(event__valid_fixtures_decode),
        cmocka_unit_test(event__invalid_fixtures_fail_with_their_error),
        cmocka_unit_test(event__invalid_fixtures_fail_the_same_after_reuse),
        cmocka_unit_test(event__spot_checks_decoded_values),
        cmocka_unit_test(event__every_field_lands_in_the_struct),
        cmocka_unit_test(event__hash_ignores_key_order_and_white_space),
        cmocka_unit_test(event__hash_differs_for_different_content),
        cmocka_unit_test(event__decoder_reuse_across_many_events),
        cmocka_unit_test(event__key_order_changes_between_events),
        cmocka_unit_test(event__nesting_16_ok_17_rejected),
        cmocka_unit_test(event__string_and_size_limits_are_inclusive),
        cmocka_unit_test(event__surrogates_paired_ok_unpaired_rejected),
        cmocka_unit_test(event__utf8_checked_strictly),
        cmocka_unit_test(event__names_of_types_and_regions),
    };

    return cmocka_run_group_tests_name("event", tests, setup, teardown);
}
