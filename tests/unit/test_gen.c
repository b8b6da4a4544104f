/* test_gen.c: `opswatch gen`: determinism, line classes, and expected figures re-derived from
 * events.jsonl with jansson, independently of the generator's own counters. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "civil.h"
#include "gen.h"

static const char *const known_types[] = {
    "service_request", "csr", "forecast", "incident", "ch_return", "problem", "measurement", NULL,
};

/* ---- helpers ---- */

static void make_dir(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/test_gen.XXXXXX");
    assert_non_null(mkdtemp(buf));
}

static void remove_dir(const char *dir)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/events.jsonl", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/expected.json", dir);
    unlink(path);
    rmdir(dir);
}

static int run_gen(const char *dir, const char *seed, const char *scale, const char *extra)
{
    char *argv[16];
    int argc = 0;

    argv[argc++] = "gen";
    argv[argc++] = "--seed";
    argv[argc++] = (char *)seed;
    argv[argc++] = "--out";
    argv[argc++] = (char *)dir;
    argv[argc++] = "--scale";
    argv[argc++] = (char *)scale;
    if (extra != NULL) {
        argv[argc++] = (char *)extra;
    }
    argv[argc] = NULL;
    return ow_gen_main(argc, argv);
}

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[512];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static json_t *load_expected(const char *dir)
{
    char path[512];
    json_error_t jerr;
    json_t *j;

    snprintf(path, sizeof(path), "%s/expected.json", dir);
    j = json_load_file(path, 0, &jerr);
    assert_non_null(j);
    return j;
}

/* RFC 3339 with a required offset, either case of T/Z, optional fraction -> epoch seconds. */
static bool parse_time(const char *s, int64_t *out)
{
    int y;
    int mo;
    int d;
    int h;
    int mi;
    int sec;
    int n = 0;
    const char *p;
    int64_t t;

    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10 ||
        (s[10] != 'T' && s[10] != 't')) {
        return false;
    }
    if (sscanf(s + 11, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 || n != 8) {
        return false;
    }
    p = s + 19;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }
    t = ow_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        *out = t;
        return true;
    }
    if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh = atoi(p + 1);
        int om = atoi(p + 4);
        int64_t off = oh * 3600 + om * 60;

        *out = *p == '+' ? t - off : t + off;
        return true;
    }
    return false;
}

static void month_key(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;

    localtime_r(&tt, &tm); /* TZ=Europe/London, as ow_gen_main leaves it */
    snprintf(buf, len, "%04d-%02d", (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100);
}

static bool is_int(const json_t *v, json_int_t lo)
{
    return json_is_integer(v) && json_integer_value(v) >= lo;
}

/* A light, independent reading of the contract: enough to tell every planned invalid line. */
static bool valid_event(json_t *ev, int64_t *t)
{
    const char *type;
    const char *id;
    json_t *v;

    if (!json_is_object(ev) || !json_is_string(json_object_get(ev, "type")) ||
        !json_is_string(json_object_get(ev, "event_id")) ||
        !json_is_string(json_object_get(ev, "occurred_at"))) {
        return false;
    }
    id = json_string_value(json_object_get(ev, "event_id"));
    type = json_string_value(json_object_get(ev, "type"));
    v = json_object_get(ev, "schema_version");
    if (id[0] == '\0' || !json_is_integer(v) || json_integer_value(v) != 1) {
        return false;
    }
    if (!parse_time(json_string_value(json_object_get(ev, "occurred_at")), t)) {
        return false;
    }
    v = json_object_get(ev, "region");
    if (v != NULL && (!json_is_string(v) || (strcmp(json_string_value(v), "north") != 0 &&
                                             strcmp(json_string_value(v), "central") != 0 &&
                                             strcmp(json_string_value(v), "south") != 0))) {
        return false;
    }
    v = json_object_get(ev, "count");
    if (v != NULL && !is_int(v, 1)) {
        return false;
    }
    if (strcmp(type, "service_request") == 0) {
        const char *ref = json_string_value(json_object_get(ev, "service_ref"));

        return ref != NULL && strspn(ref, "0123456789.") == strlen(ref);
    }
    if (strcmp(type, "csr") == 0) {
        return json_is_boolean(json_object_get(ev, "batched"));
    }
    if (strcmp(type, "forecast") == 0) {
        const char *period = json_string_value(json_object_get(ev, "period"));

        return period != NULL && atoi(period + 5) >= 1 && atoi(period + 5) <= 12;
    }
    if (strcmp(type, "incident") == 0) {
        v = json_object_get(ev, "severity");
        return v == NULL || (is_int(v, 1) && json_integer_value(v) <= 5);
    }
    if (strcmp(type, "ch_return") == 0) {
        v = json_object_get(ev, "attribution");
        return !(v != NULL && strcmp(json_string_value(v), "service_user") == 0 &&
                 json_object_get(ev, "fault") != NULL);
    }
    if (strcmp(type, "measurement") == 0) {
        return is_int(json_object_get(ev, "met"), 0) && is_int(json_object_get(ev, "total"), 1) &&
               json_integer_value(json_object_get(ev, "met")) <=
                   json_integer_value(json_object_get(ev, "total"));
    }
    for (int i = 0; known_types[i] != NULL; i++) {
        if (strcmp(type, known_types[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* The first copies of the valid events of @dir, each with "_t" (epoch seconds) added. */
struct classified {
    json_t *valid; /* array */
    long lines;
    long invalid;
    long dups;
};

static void classify(const char *dir, struct classified *c)
{
    size_t len;
    char *buf = slurp(dir, "events.jsonl", &len);
    json_t *seen = json_object();
    char *line = buf;

    memset(c, 0, sizeof(*c));
    c->valid = json_array();
    while (line < buf + len) {
        char *nl = strchr(line, '\n');
        json_t *ev;
        int64_t t;

        assert_non_null(nl);
        *nl = '\0';
        c->lines++;
        ev = json_loads(line, 0, NULL);
        if (ev == NULL || !valid_event(ev, &t)) {
            c->invalid++;
        } else {
            const char *id = json_string_value(json_object_get(ev, "event_id"));
            json_t *prev = json_object_get(seen, id);
            json_t *copy;

            if (prev == NULL) {
                json_object_set(seen, id, ev);
                copy = json_deep_copy(ev);
                json_object_set_new(copy, "_t", json_integer(t));
                json_array_append_new(c->valid, copy);
            } else if (json_equal(prev, ev)) {
                c->dups++;
            } else {
                c->invalid++; /* same id, other content */
            }
        }
        json_decref(ev);
        line = nl + 1;
    }
    json_decref(seen);
    free(buf);
}

static json_int_t jget(json_t *root, const char *path)
{
    json_t *v = root;
    char tmp[256];
    char *save = NULL;

    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *k = strtok_r(tmp, "/", &save); k != NULL; k = strtok_r(NULL, "/", &save)) {
        v = json_object_get(v, k);
        if (v == NULL) {
            fail_msg("expected.json has no %s", path);
        }
    }
    return json_integer_value(v);
}

/* ---- tests ---- */

static void gen__same_seed_same_bytes(void **state)
{
    char a[64];
    char b[64];
    size_t la;
    size_t lb;
    char *x;
    char *y;

    (void)state;
    make_dir(a, sizeof(a));
    make_dir(b, sizeof(b));
    assert_int_equal(run_gen(a, "42", "0.2", NULL), 0);
    assert_int_equal(run_gen(b, "42", "0.2", NULL), 0);
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "expected.json" : "events.jsonl";

        x = slurp(a, name, &la);
        y = slurp(b, name, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(x, y, la);
        free(x);
        free(y);
    }
    remove_dir(a);
    remove_dir(b);
}

static void gen__different_seed_differs(void **state)
{
    char a[64];
    char b[64];
    size_t la;
    size_t lb;
    char *x;
    char *y;

    (void)state;
    make_dir(a, sizeof(a));
    make_dir(b, sizeof(b));
    assert_int_equal(run_gen(a, "1", "0.2", NULL), 0);
    assert_int_equal(run_gen(b, "2", "0.2", NULL), 0);
    x = slurp(a, "events.jsonl", &la);
    y = slurp(b, "events.jsonl", &lb);
    assert_true(la != lb || memcmp(x, y, la) != 0);
    free(x);
    free(y);
    remove_dir(a);
    remove_dir(b);
}

static void gen__lines_are_valid_duplicate_or_planned_invalid(void **state)
{
    char d[64];
    struct classified c;
    json_t *exp;

    (void)state;
    make_dir(d, sizeof(d));
    assert_int_equal(run_gen(d, "7", "0.3", NULL), 0);
    classify(d, &c);
    exp = load_expected(d);
    assert_int_equal(c.lines, jget(exp, "events"));
    assert_int_equal(c.invalid, jget(exp, "dead_letters"));
    assert_int_equal(c.dups, jget(exp, "duplicates"));
    assert_int_equal((json_int_t)json_array_size(c.valid), jget(exp, "valid"));
    assert_true(c.invalid > 0);
    assert_true(c.dups > 0);
    json_decref(exp);
    json_decref(c.valid);
    remove_dir(d);

    make_dir(d, sizeof(d));
    assert_int_equal(run_gen(d, "7", "0.3", "--no-invalid"), 0);
    classify(d, &c);
    assert_int_equal(c.invalid, 0);
    json_decref(c.valid);
    remove_dir(d);
}

struct fc_pick {
    int64_t t;
    json_int_t qty;
};

/* Sums per month from the events alone, compared with the plan's figures. */
static void gen__expected_totals_match_events(void **state)
{
    char d[64];
    struct classified c;
    json_t *exp;
    json_t *sums = json_object(); /* "<month>/<key>" -> integer */
    json_t *fcs = json_object();  /* forecast key -> [t, qty] */
    json_t *snaps;
    const char *month;
    json_t *snap;
    size_t i;
    json_t *ev;

    (void)state;
    make_dir(d, sizeof(d));
    assert_int_equal(run_gen(d, "11", "0.3", NULL), 0);
    classify(d, &c);
    exp = load_expected(d);
    json_array_foreach(c.valid, i, ev)
    {
        const char *type = json_string_value(json_object_get(ev, "type"));
        json_int_t t = json_integer_value(json_object_get(ev, "_t"));
        json_t *cnt = json_object_get(ev, "count");
        json_int_t n = cnt ? json_integer_value(cnt) : 1;
        char m[16];
        char key[160];

        month_key(t, m, sizeof(m));
        if (strcmp(type, "csr") == 0 || strcmp(type, "service_request") == 0) {
            const char *rep = type[0] == 'c' ? "csr_variance" : "sr_variance";
            const char *party = json_string_value(json_object_get(ev, "party_id"));
            const char *keys[3] = {"actual", NULL, NULL};
            json_int_t n0;
            char k2[160];

            if (type[0] == 'c') {
                keys[1] = json_is_true(json_object_get(ev, "batched")) ? "batched" : "single";
            } else {
                keys[1] = NULL;
            }
            snprintf(k2, sizeof(k2), "by_party/%s/actual", party);
            keys[2] = k2;
            for (int k = 0; k < 3; k++) {
                if (keys[k] == NULL) {
                    continue;
                }
                snprintf(key, sizeof(key), "%s/reports/%s/%s", m, rep, keys[k]);
                n0 = json_integer_value(json_object_get(sums, key));
                json_object_set_new(sums, key, json_integer(n0 + n));
            }
        } else if (strcmp(type, "forecast") == 0) {
            json_t *svc = json_object_get(ev, "service_ref");
            json_t *prev;

            snprintf(key, sizeof(key), "%s|%s|%s|%s",
                     json_string_value(json_object_get(ev, "report")),
                     json_string_value(json_object_get(ev, "party_id")),
                     svc ? json_string_value(svc) : "*",
                     json_string_value(json_object_get(ev, "period")));
            prev = json_object_get(fcs, key);
            if (prev == NULL || json_integer_value(json_array_get(prev, 0)) < t) {
                json_object_set_new(fcs, key,
                                    json_pack("[I O]", t, json_object_get(ev, "quantity")));
            }
        } else if (strcmp(type, "measurement") == 0) {
            snprintf(key, sizeof(key), "%s|%s|%s", m,
                     json_string_value(json_object_get(ev, "measure")),
                     json_string_value(json_object_get(ev, "provider")));
            json_object_set_new(sums, key,
                                json_integer(json_integer_value(json_object_get(sums, key)) +
                                             json_integer_value(json_object_get(ev, "met"))));
        }
    }
    snaps = json_object_get(exp, "snapshots");
    json_object_foreach(sums, month, snap)
    {
        char m[16];

        if (strchr(month, '|') != NULL) {
            snprintf(m, sizeof(m), "%.7s", month);
            json_t *rep = json_object_get(json_object_get(snaps, m), "reports");
            json_t *arr = json_object_get(json_object_get(rep, "performance"), "measures");
            size_t k;
            json_t *me;
            bool found = false;

            json_array_foreach(arr, k, me)
            {
                char key[160];

                snprintf(key, sizeof(key), "%s|%s|%s", m,
                         json_string_value(json_object_get(me, "measure")),
                         json_string_value(json_object_get(me, "provider")));
                if (strcmp(key, month) == 0) {
                    assert_int_equal(json_integer_value(json_object_get(me, "met")),
                                     json_integer_value(snap));
                    found = true;
                }
            }
            assert_true(found);
            continue;
        }
        assert_int_equal(jget(snaps, month), json_integer_value(snap));
    }
    /* Forecast in force per party: the latest all-services one, else the per-service sum. */
    json_object_foreach(snaps, month, snap)
    {
        json_t *rep;
        const char *party;
        json_t *row;

        if (strchr(month, 'Q') != NULL) {
            continue;
        }
        for (int k = 0; k < 2; k++) {
            const char *name = k ? "csr_variance" : "sr_variance";
            const char *report = k ? "csr" : "service_request";
            json_int_t total = 0;

            rep = json_object_get(json_object_get(snap, "reports"), name);
            json_object_foreach(json_object_get(rep, "by_party"), party, row)
            {
                char key[160];
                json_t *all;
                json_int_t fc = 0;
                const char *fkey;
                json_t *pick;

                snprintf(key, sizeof(key), "%s|%s|*|%s", report, party, month);
                all = json_object_get(fcs, key);
                if (all != NULL) {
                    fc = json_integer_value(json_array_get(all, 1));
                } else {
                    snprintf(key, sizeof(key), "%s|%s|", report, party);
                    json_object_foreach(fcs, fkey, pick)
                    {
                        if (strncmp(fkey, key, strlen(key)) == 0 &&
                            strcmp(fkey + strlen(fkey) - 7, month) == 0) {
                            fc += json_integer_value(json_array_get(pick, 1));
                        }
                    }
                }
                assert_int_equal(json_integer_value(json_object_get(row, "forecast")), fc);
                total += fc;
            }
            assert_int_equal(json_integer_value(json_object_get(rep, "forecast")), total);
        }
    }
    json_decref(sums);
    json_decref(fcs);
    json_decref(exp);
    json_decref(c.valid);
    remove_dir(d);
}

static long volume_lines(const char *dir)
{
    size_t len;
    char *buf = slurp(dir, "events.jsonl", &len);
    long n = 0;

    for (char *p = buf; (p = strstr(p, "\"type\":\"csr\"")) != NULL; p++) {
        n++;
    }
    for (char *p = buf; (p = strstr(p, "\"type\":\"service_request\"")) != NULL; p++) {
        n++;
    }
    free(buf);
    return n;
}

static void gen__scale_multiplies_volume(void **state)
{
    char a[64];
    char b[64];
    long na;
    long nb;

    (void)state;
    make_dir(a, sizeof(a));
    make_dir(b, sizeof(b));
    assert_int_equal(run_gen(a, "5", "0.2", NULL), 0);
    assert_int_equal(run_gen(b, "5", "0.6", NULL), 0);
    na = volume_lines(a);
    nb = volume_lines(b);
    assert_true(nb > na * 5 / 2);
    assert_true(nb < na * 7 / 2);
    remove_dir(a);
    remove_dir(b);
}

static void gen__rejects_bad_usage(void **state)
{
    char *no_seed[] = {"gen", "--out", "/tmp/never", NULL};
    char *bad_month[] = {"gen", "--seed", "1", "--out", "/tmp/never", "--start", "2021-13", NULL};
    char *bad_disorder[] = {"gen", "--seed", "1", "--out", "/tmp/x", "--disorder-minutes",
                            "60",  NULL};

    (void)state;
    assert_int_equal(ow_gen_main(3, no_seed), 2);
    assert_int_equal(ow_gen_main(7, bad_month), 2);
    assert_int_equal(ow_gen_main(7, bad_disorder), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gen__same_seed_same_bytes),
        cmocka_unit_test(gen__different_seed_differs),
        cmocka_unit_test(gen__lines_are_valid_duplicate_or_planned_invalid),
        cmocka_unit_test(gen__expected_totals_match_events),
        cmocka_unit_test(gen__scale_multiplies_volume),
        cmocka_unit_test(gen__rejects_bad_usage),
    };

    setenv("TZ", "Europe/London", 1);
    tzset();
    return cmocka_run_group_tests_name("gen", tests, NULL, NULL);
}
