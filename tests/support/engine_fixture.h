/* engine_fixture.h: an engine on a fake sink, with helpers to feed JSON and read results. */
#ifndef OW_ENGINE_FIXTURE_H
#define OW_ENGINE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "engine.h"
#include "fake_sink.h"

struct fixture {
    struct ow_config *cfg;
    struct fake_sink *sink;
    struct ow_engine *eng;
    int64_t line;
};

/** An engine on the built-in default config, with @config_json (may be NULL) laid over it
 * (objects merged recursively). Aborts the test on error. */
struct fixture *fixture_create(const char *config_json, bool live);
void fixture_destroy(struct fixture *f);

/** Apply one event given as text. @returns the engine's status. */
int apply_json(struct fixture *f, const char *json);

/** Apply an event built from a printf format. */
int apply_fmt(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Shuffle @perm (@n entries) in place with a seeded PRNG (Fisher-Yates over an LCG advanced
 * in *@seed), so arrival-order tests are reproducible. */
void test_shuffle(size_t *perm, size_t n, uint64_t *seed);

/** Microseconds of an RFC 3339 time; aborts on a bad literal. */
int64_t ts(const char *rfc3339);

/** The latest snapshot of @window (borrowed), or NULL. */
json_t *latest_snapshot(struct fixture *f, const char *window);

/** The integer at @path ("reports/csr_variance/by_party/SUB-01/actual", '/'-separated) in
 * @root; aborts the test when absent or not an integer. */
int64_t jint(const json_t *root, const char *path);

/** The value at @path (borrowed) or NULL. */
json_t *jget(const json_t *root, const char *path);

#endif
