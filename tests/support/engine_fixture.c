/* engine_fixture.c: see engine_fixture.h. */
#include "engine_fixture.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "embedded.h"
#include "rfc3339.h"

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fixture: %s: %s\n", what, detail);
    abort();
}

static void merge(json_t *base, const json_t *over)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)over, key, v)
    {
        json_t *old = json_object_get(base, key);

        if (json_is_object(old) && json_is_object(v)) {
            merge(old, v);
        } else {
            json_object_set(base, key, v);
        }
    }
}

struct fixture *fixture_create(const char *config_json, bool live)
{
    struct fixture *f = ow_xcalloc(1, sizeof(*f));
    struct ow_conf_errors *errs = ow_conf_errors_create("test-config");
    const char *text = ow_embedded_file("default.json", NULL);
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    struct ow_err err;
    char msg[600];

    if (config_json != NULL) {
        json_t *over = json_loads(config_json, 0, &jerr);

        if (over == NULL) {
            die("config override", jerr.text);
        }
        merge(doc, over);
        json_decref(over);
    }
    f->cfg = ow_config_from_json(doc, "test-config", ".", "test", errs);
    json_decref(doc);
    if (f->cfg == NULL) {
        die("config", ow_conf_errors_get(errs, 0));
    }
    ow_conf_errors_destroy(errs);
    f->sink = fake_sink_create();
    f->eng = ow_engine_create(f->cfg, fake_sink_sink(f->sink), live, &err);
    if (f->eng == NULL) {
        die("engine", ow_err_str(&err, msg, sizeof(msg)));
    }
    return f;
}

void fixture_destroy(struct fixture *f)
{
    if (f == NULL) {
        return;
    }
    ow_engine_destroy(f->eng);
    fake_sink_destroy(f->sink);
    ow_config_destroy(f->cfg);
    free(f);
}

int apply_json(struct fixture *f, const char *json)
{
    struct ow_source src = {"test", 0, ++f->line, 0};

    return ow_engine_apply(f->eng, json, strlen(json), &src);
}

int apply_fmt(struct fixture *f, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return apply_json(f, buf);
}

int64_t ts(const char *s)
{
    const char *why;
    int64_t us;

    if (ow_rfc3339_parse(s, strlen(s), &us, &why) != 0) {
        die(s, why);
    }
    return us;
}

json_t *latest_snapshot(struct fixture *f, const char *window)
{
    return fake_sink_latest(f->sink, OW_STREAM_SNAPSHOTS, window);
}

json_t *jget(const json_t *root, const char *path)
{
    char *copy = ow_xstrdup(path);
    char *save = NULL;
    const json_t *v = root;

    for (char *part = strtok_r(copy, "/", &save); part && v; part = strtok_r(NULL, "/", &save)) {
        if (json_is_array(v)) {
            v = json_array_get(v, (size_t)atoi(part));
        } else {
            v = json_object_get(v, part);
        }
    }
    free(copy);
    return (json_t *)v;
}

int64_t jint(const json_t *root, const char *path)
{
    json_t *v = jget(root, path);

    if (!json_is_integer(v)) {
        char *text = json_dumps(root, JSON_COMPACT);

        fprintf(stderr, "jint: %s is not an integer in %.2000s\n", path, text ? text : "?");
        free(text);
        abort();
    }
    return json_integer_value(v);
}

void test_shuffle(size_t *perm, size_t n, uint64_t *seed)
{
    for (size_t i = n; i-- > 1;) {
        size_t j;
        size_t t;

        *seed = *seed * 6364136223846793005u + 1442695040888963407u;
        j = (size_t)((*seed >> 33) % (i + 1));
        t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
