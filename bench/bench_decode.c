/* bench_decode.c: ns per event of ow_decoder_decode (scan, validate, content hash), against
 * the reference of a bare yajl parse (empty callbacks, one reused handle, no validation at all)
 * of the same bytes in the same run, and the bare scanner (json_scan, tokens only).
 *
 * make build/bench/bench_decode && build/bench/bench_decode [ROUNDS]
 * (yajl is a test-only dependency: the bench rule links TEST_PKGS.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_parse.h>

#include "event.h"
#include "json_scan.h"

static const char *const samples[] = {
    "{\"event_id\":\"evt-000123456\",\"type\":\"service_request\",\"schema_version\":1,"
    "\"occurred_at\":\"2021-04-19T10:02:11.123+01:00\",\"region\":\"north\","
    "\"party_id\":\"SUP-0042\",\"service_ref\":\"8.14.2\",\"count\":3,"
    "\"source\":{\"system\":\"dsp\",\"batch\":1234}}",
    "{\"event_id\":\"evt-000123457\",\"type\":\"incident\",\"schema_version\":1,"
    "\"occurred_at\":\"2021-04-19T10:02:11Z\",\"incident_id\":\"INC-0000012345\","
    "\"action\":\"opened\",\"severity\":2,\"rdp_id\":\"RDP-A\",\"region\":\"south\","
    "\"note\":\"raised by the overnight batch\"}",
    "{\"type\":\"ch_return\",\"event_id\":\"evt-000123458\",\"schema_version\":1,"
    "\"occurred_at\":\"2021-05-02T08:00:00+01:00\",\"ch_id\":\"CH-00A1B2C3D4\","
    "\"action\":\"closed\",\"attribution\":\"dcc\",\"fault\":\"sm_wan\","
    "\"stage\":\"post_installation\",\"region\":\"central\"}",
    "{\"event_id\":\"evt-000123459\",\"type\":\"measurement\",\"schema_version\":1,"
    "\"occurred_at\":\"2021-04-30T23:59:59Z\",\"measure\":\"PM2.1\",\"provider\":\"CSP_N\","
    "\"met\":99812,\"total\":100000,\"unit\":\"responses\",\"tags\":[\"a\",\"b\"]}",
};

static int nop(void *ctx)
{
    (void)ctx;
    return 1;
}

static int nop_bool(void *ctx, int v)
{
    (void)ctx;
    (void)v;
    return 1;
}

static int nop_num(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    (void)s;
    (void)n;
    return 1;
}

static int nop_str(void *ctx, const unsigned char *s, size_t n)
{
    (void)ctx;
    (void)s;
    (void)n;
    return 1;
}

static const yajl_callbacks nop_callbacks = {
    .yajl_null = nop,
    .yajl_boolean = nop_bool,
    .yajl_number = nop_num,
    .yajl_string = nop_str,
    .yajl_start_map = nop,
    .yajl_map_key = nop_str,
    .yajl_end_map = nop,
    .yajl_start_array = nop,
    .yajl_end_array = nop,
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    const size_t nsamples = sizeof(samples) / sizeof(samples[0]);
    long rounds = argc > 1 ? atol(argv[1]) : 500000;
    struct ow_decoder *dec = ow_decoder_create();
    yajl_handle yh = yajl_alloc(&nop_callbacks, NULL, NULL);
    size_t lens[sizeof(samples) / sizeof(samples[0])];
    size_t bytes = 0;
    struct ow_event ev;
    struct ow_err err;
    double t0;
    double t_dec;
    double t_yajl;
    double t_scan;
    static char scan_buf[OW_EVENT_MAX_BYTES + 16];
    struct ow_json_scan js;
    long tokens = 0;
    long n = rounds * (long)nsamples;

    for (size_t i = 0; i < nsamples; i++) {
        lens[i] = strlen(samples[i]);
        bytes += lens[i];
        if (ow_decoder_decode(dec, samples[i], lens[i], &ev, &err) != 0) {
            fprintf(stderr, "sample %zu: %s: %s\n", i, err.where, err.text);
            return 1;
        }
    }
    yajl_config(yh, yajl_allow_multiple_values, 1);
    yajl_config(yh, yajl_dont_validate_strings, 1);

    t0 = now();
    for (long r = 0; r < rounds; r++) {
        for (size_t i = 0; i < nsamples; i++) {
            yajl_parse(yh, (const unsigned char *)samples[i], lens[i]);
            yajl_complete_parse(yh);
        }
    }
    t_yajl = now() - t0;

    t0 = now();
    for (long r = 0; r < rounds; r++) {
        for (size_t i = 0; i < nsamples; i++) {
            enum ow_json_tok t;

            ow_json_begin(&js, samples[i], lens[i], scan_buf);
            while ((t = ow_json_next(&js)) != OW_JSON_END && t != OW_JSON_ERROR) {
                tokens++;
            }
        }
    }
    t_scan = now() - t0;

    t0 = now();
    for (long r = 0; r < rounds; r++) {
        for (size_t i = 0; i < nsamples; i++) {
            if (ow_decoder_decode(dec, samples[i], lens[i], &ev, &err) != 0) {
                return 1;
            }
        }
    }
    t_dec = now() - t0;

    printf("events: %ld, mean size %zu bytes\n", n, bytes / nsamples);
    printf("bare yajl parse (reference): %7.1f ns/event\n", t_yajl / (double)n * 1e9);
    printf("bare json_scan tokens:       %7.1f ns/event (%.1f tokens/event, %.2fx yajl)\n",
           t_scan / (double)n * 1e9, (double)tokens / (double)n, t_yajl / t_scan);
    printf("ow_decoder_decode:           %7.1f ns/event (%.2f M events/s, %.2fx yajl)\n",
           t_dec / (double)n * 1e9, (double)n / t_dec / 1e6, t_yajl / t_dec);
    yajl_free(yh);
    ow_decoder_destroy(dec);
    return 0;
}
