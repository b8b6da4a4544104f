/* replay.c: reads events line by line, feeds the engine, writes the outputs as files and one
 * summary line on stderr.
 *
 * Input is read in large blocks and split at '\n' with memchr (getline cost a locked stdio
 * call and a copy per line). The wall clock is read once per block, not once per line: every
 * line of a block gets the instant its block was read as received_at (seen in dead letters)
 * and as the engine's wall clock; a block is read in well under a millisecond. */
#include "replay.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "alloc.h"
#include "civil.h"
#include "config.h"
#include "engine.h"
#include "file_sink.h"

#define BLOCK (4u << 20) /* bytes read at a time; a longer line grows the buffer */
#define AHEAD 8          /* lines whose remembered-id slot is prefetched ahead of use */

struct replay_args {
    const char *config;
    const char *input;
    const char *out;
    bool close_all;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: opswatch replay --config FILE --input FILE|- --out DIR [--close-all]\n"
               "  --config FILE   configuration (JSON); see config/default.json\n"
               "  --input FILE    events, one JSON object per line ('-' reads stdin)\n"
               "  --out DIR       writes alerts.jsonl, aggregates.jsonl, deadletter.jsonl and\n"
               "                  snapshots/<window>.{json,md}\n"
               "  --close-all     close every window at the end of input (final snapshots)\n");
}

static int parse_args(int argc, char **argv, struct replay_args *a)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"input", required_argument, NULL, 'i'},
        {"out", required_argument, NULL, 'o'},    {"close-all", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:i:o:ah", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config = optarg;
            break;
        case 'i':
            a->input = optarg;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'a':
            a->close_all = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (a->input == NULL || a->out == NULL || optind != argc) {
        fprintf(stderr, "opswatch replay: --input and --out are required\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

static int64_t wall_clock_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * OW_US_PER_SEC + ts.tv_nsec / 1000;
}

static double mono_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') {
            return false;
        }
    }
    return true;
}

/* One line of input (NUL-terminated at @line[@len], no '\n'). */
static void feed_line(struct ow_engine *eng, char *line, size_t len, struct ow_source *src)
{
    src->offset++;
    if (blank(line, len)) {
        return;
    }
    ow_engine_apply(eng, line, len, src);
}

/* Lines found but not applied yet: each is prefetched (ow_engine_prefetch) when found and
 * applied AHEAD lines later, so the cache miss of its id lookup overlaps other work. */
struct pending {
    char *line[AHEAD];
    size_t len[AHEAD];
    unsigned head;
    unsigned n;
};

static void pending_flush(struct ow_engine *eng, struct pending *pd, struct ow_source *src)
{
    while (pd->n > 0) {
        feed_line(eng, pd->line[pd->head], pd->len[pd->head], src);
        pd->head = (pd->head + 1) % AHEAD;
        pd->n--;
    }
}

static void pending_push(struct ow_engine *eng, struct pending *pd, char *line, size_t len,
                         struct ow_source *src)
{
    unsigned slot;

    if (pd->n == AHEAD) {
        feed_line(eng, pd->line[pd->head], pd->len[pd->head], src);
        pd->head = (pd->head + 1) % AHEAD;
        pd->n--;
    }
    ow_engine_prefetch(eng, line, len);
    slot = (pd->head + pd->n) % AHEAD;
    pd->line[slot] = line;
    pd->len[slot] = len;
    pd->n++;
}

/* Every line of @in through the engine: 0, or -1 on a read error. */
static int feed_all(struct ow_engine *eng, FILE *in, struct ow_source *src)
{
    size_t cap = BLOCK;
    char *buf = ow_xmalloc(cap + 1);
    size_t have = 0; /* bytes in buf: the unfinished line carried over */
    struct pending pd = {{NULL}, {0}, 0, 0};
    size_t got;
    int rc = 0;

    while ((got = fread(buf + have, 1, cap - have, in)) > 0) {
        char *p = buf;
        char *end = buf + have + got;
        char *nl;

        src->received_us = wall_clock_us();
        ow_engine_set_wall_clock(eng, src->received_us);
        while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            *nl = '\0';
            pending_push(eng, &pd, p, (size_t)(nl - p), src);
            p = nl + 1;
        }
        /* The lines point into buf, which moves below. */
        pending_flush(eng, &pd, src);
        have = (size_t)(end - p);
        memmove(buf, p, have);
        if (have == cap) {
            cap *= 2;
            buf = ow_xrealloc(buf, cap + 1);
        }
    }
    if (ferror(in)) {
        rc = -1;
        goto out;
    }
    if (have > 0) {
        buf[have] = '\0';
        feed_line(eng, buf, have, src);
    }
out:
    free(buf);
    return rc;
}

static void print_summary(const struct ow_engine_stats *st, double secs)
{
    struct rusage ru;

    fprintf(stderr,
            "replay: %" PRIu64 " events, %" PRIu64 " applied, %" PRIu64 " duplicates, %" PRIu64
            " dead letters",
            st->events, st->applied, st->duplicates, st->dead_letters);
    if (st->dead_letters > 0) {
        const char *sep = " (";

        for (int r = 0; r < OW_DL__COUNT; r++) {
            if (st->dead_by_reason[r] > 0) {
                fprintf(stderr, "%s%s %" PRIu64, sep, ow_dl_reason_name(r), st->dead_by_reason[r]);
                sep = ", ";
            }
        }
        fprintf(stderr, ")");
    }
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr,
            ", %" PRIu64 " late events, %" PRIu64 " windows (%" PRIu64 " closed), peak RSS %ld "
            "MiB, %.2f s, %.0f events/s\n",
            st->late_events, st->windows, st->windows_closed, ru.ru_maxrss / 1024, secs,
            secs > 0 ? (double)st->events / secs : 0.0);
}

int ow_replay_main(int argc, char **argv)
{
    struct replay_args a = {0};
    struct ow_conf_errors *errs = NULL;
    struct ow_config *cfg = NULL;
    struct ow_file_sink *fs = NULL;
    struct ow_engine *eng = NULL;
    struct ow_source src = {0};
    struct ow_err err = {{0}, {0}};
    char msg[600];
    FILE *in = NULL;
    double t0;
    int rc = 1;

    if (parse_args(argc, argv, &a) != 0) {
        return 1;
    }
    cfg = ow_config_load(a.config, &errs);
    if (cfg == NULL) {
        for (size_t i = 0; i < ow_conf_errors_count(errs); i++) {
            fprintf(stderr, "%s\n", ow_conf_errors_get(errs, i));
        }
        goto out;
    }
    in = strcmp(a.input, "-") == 0 ? stdin : fopen(a.input, "r");
    if (in == NULL) {
        fprintf(stderr, "opswatch replay: %s: cannot read: %s\n", a.input, strerror(errno));
        rc = 2;
        goto out;
    }
    fs = ow_file_sink_create(a.out, &err);
    if (fs == NULL) {
        fprintf(stderr, "opswatch replay: %s\n", ow_err_str(&err, msg, sizeof(msg)));
        rc = 2;
        goto out;
    }
    eng = ow_engine_create(cfg, ow_file_sink_sink(fs), false, &err);
    if (eng == NULL) {
        fprintf(stderr, "opswatch replay: %s\n", ow_err_str(&err, msg, sizeof(msg)));
        goto out;
    }
    src.topic = strcmp(a.input, "-") == 0 ? "stdin" : a.input;
    src.partition = -1;
    t0 = mono_seconds();
    if (feed_all(eng, in, &src) != 0) {
        fprintf(stderr, "opswatch replay: %s: read error: %s\n", a.input, strerror(errno));
        rc = 2;
        goto out;
    }
    ow_engine_finish(eng, a.close_all);
    if (ow_file_sink_close(fs, &err) != OW_OK) {
        fprintf(stderr, "opswatch replay: %s\n", ow_err_str(&err, msg, sizeof(msg)));
        rc = 2;
        goto out;
    }
    print_summary(ow_engine_stats(eng), mono_seconds() - t0);
    rc = 0;
out:
    ow_engine_destroy(eng);
    ow_file_sink_destroy(fs);
    if (in != NULL && in != stdin) {
        fclose(in);
    }
    ow_config_destroy(cfg);
    ow_conf_errors_destroy(errs);
    return rc;
}
