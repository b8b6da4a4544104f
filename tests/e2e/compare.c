/* compare.c: check a replay's output folder against a generator's expected.json.
 *
 * usage: compare EXPECTED.json OUT_DIR
 * Every key in expected "snapshots" must be present in OUT_DIR/snapshots/<window>.json with an
 * equal value (integers exactly, reals to 1e-9 relative, arrays element by element); the
 * expected alert ids per rule must equal the ids that fired in OUT_DIR/alerts.jsonl; the
 * expected counts of duplicates and dead letters must equal the dead-letter file and the
 * summary. Prints every difference and a closing line.
 *
 * usage: compare --same DIR_A DIR_B
 * The snapshots of two replays must hold the same figures: every snapshot file of one exists in
 * the other with equal content, apart from what depends on arrival (revision, final,
 * late_events) and the alert records (their event times follow arrival). */
#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static int failures;
static int checks;

static void fail(const char *path, const char *what, const json_t *want, const json_t *got)
{
    char *w = want ? json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;

    printf("DIFF %s: %s: expected %.200s, got %.200s\n", path, what, w ? w : "(nothing)",
           g ? g : "(nothing)");
    free(w);
    free(g);
    failures++;
}

static bool keyed_by_measure(const json_t *arr)
{
    json_t *first = json_array_get(arr, 0);

    return json_is_object(first) && json_object_get(first, "measure") != NULL &&
           json_object_get(first, "provider") != NULL;
}

static json_t *find_measure(const json_t *arr, const json_t *w)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *g = json_array_get(arr, i);

        if (json_equal(json_object_get(g, "measure"), json_object_get(w, "measure")) &&
            json_equal(json_object_get(g, "provider"), json_object_get(w, "provider"))) {
            return g;
        }
    }
    return NULL;
}

static void compare(const char *path, const json_t *want, const json_t *got);

static void compare(const char *path, const json_t *want, const json_t *got)
{
    char sub[1024];

    checks++;
    if (got == NULL) {
        fail(path, "missing", want, got);
        return;
    }
    if (json_is_object(want)) {
        const char *key;
        json_t *v;

        if (!json_is_object(got)) {
            fail(path, "not an object", want, got);
            return;
        }
        json_object_foreach((json_t *)want, key, v)
        {
            snprintf(sub, sizeof(sub), "%s/%s", path, key);
            compare(sub, v, json_object_get(got, key));
        }
    } else if (json_is_array(want) && keyed_by_measure(want)) {
        /* Performance measures: matched by (measure, provider); the snapshot may also list
         * other configured measures, zero-filled. */
        if (!json_is_array(got)) {
            fail(path, "not an array", want, got);
            return;
        }
        for (size_t i = 0; i < json_array_size(want); i++) {
            json_t *w = json_array_get(want, i);

            snprintf(sub, sizeof(sub), "%s[%s/%s]", path,
                     json_string_value(json_object_get(w, "measure")),
                     json_string_value(json_object_get(w, "provider")));
            compare(sub, w, find_measure(got, w));
        }
    } else if (json_is_array(want)) {
        if (!json_is_array(got) || json_array_size(got) != json_array_size(want)) {
            fail(path, "array differs", want, got);
            return;
        }
        for (size_t i = 0; i < json_array_size(want); i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            compare(sub, json_array_get(want, i), json_array_get(got, i));
        }
    } else if (json_is_real(want) || (json_is_number(want) && json_is_real(got))) {
        double a = json_number_value(want);
        double b = json_number_value(got);

        if (!json_is_number(got) || fabs(a - b) > 1e-9 * fmax(1.0, fabs(a))) {
            fail(path, "number differs", want, got);
        }
    } else if (!json_equal((json_t *)want, (json_t *)got)) {
        fail(path, "value differs", want, got);
    }
}

static json_t *load(const char *path)
{
    json_error_t err;
    json_t *v = json_load_file(path, 0, &err);

    if (v == NULL) {
        printf("DIFF %s: cannot load: %s\n", path, err.text);
        failures++;
    }
    return v;
}

/* Alert ids that reached "firing", by rule. */
static json_t *fired_alerts(const char *dir)
{
    char path[4096];
    json_t *by_rule = json_object();
    json_error_t err;
    char *line = NULL;
    size_t cap = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/alerts.jsonl", dir);
    f = fopen(path, "r");
    if (f == NULL) {
        return by_rule;
    }
    while (getline(&line, &cap, f) != -1) {
        json_t *a = json_loads(line, 0, &err);
        const char *rule = json_string_value(json_object_get(a, "rule"));
        const char *state = json_string_value(json_object_get(a, "state"));

        if (rule != NULL && state != NULL && strcmp(state, "firing") == 0) {
            json_t *set = json_object_get(by_rule, rule);

            if (set == NULL) {
                set = json_object();
                json_object_set_new(by_rule, rule, set);
            }
            json_object_set_new(set, json_string_value(json_object_get(a, "alert_id")),
                                json_true());
        }
        json_decref(a);
    }
    free(line);
    fclose(f);
    return by_rule;
}

static size_t count_lines(const char *dir, const char *name)
{
    char path[4096];
    size_t n = 0;
    int c;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    while ((c = fgetc(f)) != EOF) {
        n += c == '\n';
    }
    fclose(f);
    return n;
}

static void strip_arrival(json_t *snap)
{
    json_object_del(snap, "revision");
    json_object_del(snap, "final");
    json_object_del(snap, "late_events");
    json_object_del(snap, "alerts");
}

static int same_main(const char *a, const char *b)
{
    char pa[4096];
    char pb[4096];
    struct dirent *de;
    DIR *d;

    snprintf(pa, sizeof(pa), "%s/snapshots", a);
    d = opendir(pa);
    if (d == NULL) {
        printf("DIFF %s: cannot open\n", pa);
        return 1;
    }
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        json_t *x;
        json_t *y;

        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0) {
            continue;
        }
        snprintf(pa, sizeof(pa), "%s/snapshots/%s", a, de->d_name);
        snprintf(pb, sizeof(pb), "%s/snapshots/%s", b, de->d_name);
        x = load(pa);
        y = load(pb);
        if (x != NULL && y != NULL) {
            strip_arrival(x);
            strip_arrival(y);
            compare(de->d_name, x, y);
            compare(de->d_name, y, x);
        }
        json_decref(x);
        json_decref(y);
    }
    closedir(d);
    printf("%s vs %s: %d passed, %d failed\n", a, b, checks - failures, failures);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--same") == 0) {
        return same_main(argv[2], argv[3]);
    }

    json_t *expected;
    json_t *snaps;
    json_t *alerts;
    const char *key;
    json_t *v;
    char path[4096];

    if (argc != 3) {
        fprintf(stderr, "usage: compare EXPECTED.json OUT_DIR\n");
        return 2;
    }
    expected = load(argv[1]);
    if (expected == NULL) {
        return 1;
    }
    snaps = json_object_get(expected, "snapshots");
    json_object_foreach(snaps, key, v)
    {
        json_t *got;

        snprintf(path, sizeof(path), "%s/snapshots/%s.json", argv[2], key);
        got = load(path);
        if (got != NULL) {
            compare(key, v, got);
            json_decref(got);
        }
    }
    alerts = fired_alerts(argv[2]);
    json_object_foreach(json_object_get(expected, "alerts"), key, v)
    {
        json_t *want = json_object();
        json_t *got = json_object_get(alerts, key);
        size_t i;
        json_t *id;

        json_array_foreach(v, i, id)
        {
            json_object_set(want, json_string_value(id), json_true());
        }
        snprintf(path, sizeof(path), "alerts/%s", key);
        checks++;
        if (!json_equal(want, got ? got : json_object())) {
            fail(path, "fired alert ids differ", want, got);
        }
        json_decref(want);
    }
    if (json_is_integer(json_object_get(expected, "dead_letters"))) {
        json_t *got = json_integer((json_int_t)count_lines(argv[2], "deadletter.jsonl"));

        compare("dead_letters", json_object_get(expected, "dead_letters"), got);
        json_decref(got);
    }
    json_decref(alerts);
    json_decref(expected);
    printf("%s: %d passed, %d failed\n", argv[2], checks - failures, failures);
    return failures ? 1 : 0;
}
