/* gen.c: `opswatch gen`: arguments, the plan in order, the stream, expected.json. */
#include "gen.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "gen_internal.h"

static const char usage[] =
    "usage: opswatch gen --seed N --out DIR [--start YYYY-MM] [--months K] [--scale S]\n"
    "                    [--no-invalid] [--no-duplicates] [--disorder-minutes M]\n"
    "                    [--events-only -]\n"
    "  writes DIR/events.jsonl and DIR/expected.json (or, with --events-only -, the events\n"
    "  to standard output); defaults: --start 2021-01 --months 3 --scale 1\n"
    "  --disorder-minutes 30 (at most 59: below the engine's allowed disorder)\n";

static int parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct ow_gen_opts *o)
{
    static const struct option longopts[] = {
        {"seed", required_argument, NULL, 's'},
        {"out", required_argument, NULL, 'o'},
        {"start", required_argument, NULL, 'b'},
        {"months", required_argument, NULL, 'm'},
        {"scale", required_argument, NULL, 'x'},
        {"no-invalid", no_argument, NULL, 'I'},
        {"no-duplicates", no_argument, NULL, 'D'},
        {"disorder-minutes", required_argument, NULL, 'd'},
        {"events-only", required_argument, NULL, 'e'},
        {NULL, 0, NULL, 0},
    };
    bool have_seed = false;
    long long v;
    int y;
    int mo;
    int c;
    char *end;

    memset(o, 0, sizeof(*o));
    o->start_ym = 2021 * 12;
    o->months = 3;
    o->scale = 1.0;
    o->invalid = true;
    o->duplicates = true;
    o->disorder_minutes = 30;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (parse_int(optarg, 0, LLONG_MAX, &v) < 0) {
                return -1;
            }
            o->seed = (uint64_t)v;
            have_seed = true;
            break;
        case 'o':
            o->out_dir = optarg;
            break;
        case 'b':
            if (sscanf(optarg, "%4d-%2d", &y, &mo) != 2 || strlen(optarg) != 7 || y < 1971 ||
                y > 9000 || mo < 1 || mo > 12) {
                return -1;
            }
            o->start_ym = y * 12 + mo - 1;
            break;
        case 'm':
            if (parse_int(optarg, 1, OW_GEN_MONTHS_MAX, &v) < 0) {
                return -1;
            }
            o->months = (int)v;
            break;
        case 'x':
            errno = 0;
            o->scale = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(o->scale > 0.0) ||
                o->scale > 100000.0) {
                return -1;
            }
            break;
        case 'I':
            o->invalid = false;
            break;
        case 'D':
            o->duplicates = false;
            break;
        case 'd':
            if (parse_int(optarg, 0, 59, &v) < 0) {
                return -1;
            }
            o->disorder_minutes = (int)v;
            break;
        case 'e':
            if (strcmp(optarg, "-") != 0) {
                return -1;
            }
            o->to_stdout = true;
            break;
        default:
            return -1;
        }
    }
    if (optind != argc || !have_seed) {
        return -1;
    }
    return 0;
}

static int parse_file_args(int argc, char **argv, struct ow_gen_opts *o)
{
    if (parse_args(argc, argv, o) < 0 || (o->out_dir == NULL && !o->to_stdout)) {
        return -1;
    }
    return 0;
}

static void layout(struct ow_gen *g)
{
    int first_q = g->opts.start_ym / 3;
    int last_q = (g->opts.start_ym + g->opts.months - 1) / 3;

    for (int mi = 0; mi < g->opts.months; mi++) {
        struct ow_gen_month *m = &g->month[mi];
        int ym = g->opts.start_ym + mi;

        m->ym = ym;
        m->start = ow__gen_time_local(ym / 12, ym % 12 + 1, 1, 0, 0, 0);
        m->end = ow__gen_time_local((ym + 1) / 12, (ym + 1) % 12 + 1, 1, 0, 0, 0);
    }
    g->range_start = g->month[0].start;
    g->range_end = g->month[g->opts.months - 1].end;
    for (int qn = first_q; qn <= last_q; qn++) {
        struct ow_gen_quarter *q = &g->quarter[g->nquarters++];
        int ym = qn * 3;

        q->y = ym / 12;
        q->q = ym % 12 / 3 + 1;
        q->start = ow__gen_time_local(ym / 12, ym % 12 + 1, 1, 0, 0, 0);
        q->end = ow__gen_time_local((ym + 3) / 12, (ym + 3) % 12 + 1, 1, 0, 0, 0);
    }
}

static int cmp_event(const void *a, const void *b)
{
    const struct ow_gen_event *x = a;
    const struct ow_gen_event *y = b;

    if (x->t != y->t) {
        return x->t < y->t ? -1 : 1;
    }
    if (x->id != y->id) {
        return x->id < y->id ? -1 : 1;
    }
    return (int)x->bad - (int)y->bad;
}

static void destroy(struct ow_gen *g)
{
    for (int mi = 0; mi < OW_GEN_MONTHS_MAX; mi++) {
        free(g->month[mi].cells);
        for (int s = 0; s < OW_GEN_SEVERITIES; s++) {
            free(g->month[mi].ages[s].v);
        }
    }
    free(g->sparse);
    ow__gen_out_destroy(g->out);
    free(g);
}

static int run(struct ow_gen *g, FILE *f, struct ow_gen_stats *stats, ow_gen_event_fn fn, void *arg)
{
    size_t next = 0;

    layout(g);
    ow__gen_plan_volumes(g);
    ow__gen_plan_incidents(g);
    ow__gen_plan_quarterly(g);
    ow__gen_plan_measures(g);
    ow__gen_plan_invalid(g);
    qsort(g->sparse, g->nsparse, sizeof(*g->sparse), cmp_event);
    g->out = ow__gen_out_create(f, g->opts.disorder_minutes, g->opts.seed);
    if (fn != NULL) {
        ow__gen_out_set_callback(g->out, fn, arg);
    }
    for (int mi = 0; mi < g->opts.months; mi++) {
        ow__gen_stream_month(g, mi, &next);
    }
    while (next < g->nsparse) {
        ow__gen_out_push(g->out, &g->sparse[next++]);
    }
    return ow__gen_out_finish(g->out, stats);
}

static FILE *open_in(const char *dir, const char *name, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    return fopen(path, "w");
}

int ow_gen_main(int argc, char **argv)
{
    struct ow_gen *g = ow_xcalloc(1, sizeof(*g));
    struct ow_gen_stats stats;
    char path[4096];
    static char iobuf[1 << 20];
    FILE *f = NULL;
    int rc = 1;

    if (parse_file_args(argc, argv, &g->opts) < 0) {
        fputs(usage, stderr);
        rc = 2;
        goto out_free;
    }
    ow__gen_time_init();
    if (g->opts.to_stdout) {
        f = stdout;
    } else {
        if (mkdir(g->opts.out_dir, 0777) < 0 && errno != EEXIST) {
            fprintf(stderr, "opswatch gen: %s: %s\n", g->opts.out_dir, strerror(errno));
            goto out_free;
        }
        f = open_in(g->opts.out_dir, "events.jsonl", path, sizeof(path));
        if (f == NULL) {
            fprintf(stderr, "opswatch gen: %s: %s\n", path, strerror(errno));
            goto out_free;
        }
    }
    setvbuf(f, iobuf, _IOFBF, sizeof(iobuf));
    if (run(g, f, &stats, NULL, NULL) < 0) {
        fprintf(stderr, "opswatch gen: writing events: %s\n", strerror(errno));
        goto out_close;
    }
    if (!g->opts.to_stdout) {
        snprintf(path, sizeof(path), "%s/expected.json", g->opts.out_dir);
        if (ow__gen_truth_write(g, &stats, path) < 0) {
            fprintf(stderr, "opswatch gen: %s: cannot write\n", path);
            goto out_close;
        }
    }
    rc = 0;
out_close:
    if (f != stdout) {
        if (fclose(f) != 0) {
            rc = 1;
        }
    } else {
        fflush(f);
        setvbuf(f, NULL, _IOLBF, 0);
    }
out_free:
    destroy(g);
    return rc;
}

int ow_gen_stream(int argc, char **argv, ow_gen_event_fn fn, void *arg)
{
    struct ow_gen *g = ow_xcalloc(1, sizeof(*g));
    struct ow_gen_stats stats;
    int rc = 2;

    if (parse_args(argc, argv, &g->opts) == 0) {
        ow__gen_time_init();
        run(g, NULL, &stats, fn, arg);
        rc = 0;
    }
    destroy(g);
    return rc;
}
