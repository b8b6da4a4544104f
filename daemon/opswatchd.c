/* opswatchd.c: the live daemon: arguments, configuration, the demo, then the loop. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "config.h"
#include "demo.h"
#include "live.h"
#include "log.h"
#include "loop.h"
#include "version.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_CONFIG = 3 };

static void usage(FILE *f)
{
    fprintf(
        f, "usage: opswatchd [--config FILE] [--demo] [--http ADDR:PORT] [--log-level LEVEL]\n"
           "                 [--exit-after SECONDS] [--rebuild]\n"
           "  --config FILE        configuration (JSON; see config/default.json and\n"
           "                       'opswatch validate-config --explain'); default: the built-in\n"
           "                       configuration. SIGHUP re-reads it: rules and thresholds\n"
           "                       change without losing state; an invalid file is rejected\n"
           "                       (errors logged) and the running configuration stays.\n"
           "  --demo               start librdkafka's in-process mock cluster, create the topics,\n"
           "                       feed it generated traffic (with bursts that cross thresholds)\n"
           "                       and run the daemon on it: alerts within a minute, nothing to\n"
           "                       install. Uses --config for rules if given.\n"
           "  --http ADDR:PORT     HTTP endpoint (overrides http.listen; default\n"
           "                       127.0.0.1:8080; \"\" disables): /healthz /readyz /metrics\n"
           "                       /api/v1/windows /api/v1/snapshots/<window> /api/v1/alerts\n"
           "                       /api/v1/stream\n"
           "  --log-level LEVEL    debug, info, warn or error (default info, or $OPSWATCH_LOG);\n"
           "                       logs go to stderr, one line each\n"
           "  --exit-after SECONDS drain and exit 0 after this long, as on SIGTERM (demos, tests)\n"
           "  --rebuild            when live.state_dir holds no saved state, read every input\n"
           "                       partition from its beginning instead of the group's committed\n"
           "                       offset (rebuilding a lost or corrupt state: see README,\n"
           "                       \"Rebuilding the state\"); a saved state's offsets still win\n"
           "  --help               this text\n"
           "  --version            print the version\n"
           "Signals: SIGTERM/SIGINT drain (stop consuming, finish the batch, flush, commit, leave\n"
           "the group) and exit 0 within 10 s; a second one exits at once; SIGHUP reloads.\n"
           "The state (engine, remembered ids, input offsets, unacknowledged outputs) is saved to\n"
           "live.state_dir every live.checkpoint_interval and restored at start; --demo saves\n"
           "none (its mock cluster is new each time).\n"
           "Exit codes: 0 clean stop, 1 runtime failure (Kafka clients, HTTP listen, engine,\n"
           "a corrupt or locked state folder),\n"
           "2 usage error, 3 invalid configuration.\n");
}

struct args {
    const char *config;
    const char *http;
    bool demo;
    bool rebuild;
    double exit_after;
};

static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"demo", no_argument, NULL, 'd'},
        {"http", required_argument, NULL, 'H'},
        {"log-level", required_argument, NULL, 'l'},
        {"exit-after", required_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"rebuild", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    enum ow_log_level level;
    char *end;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config = optarg;
            break;
        case 'd':
            a->demo = true;
            break;
        case 'H':
            a->http = optarg;
            break;
        case 'l':
            if (ow_log_parse_level(optarg, &level) < 0) {
                fprintf(stderr, "opswatchd: --log-level: expected debug, info, warn or error\n");
                return -1;
            }
            ow_log_set_level(level);
            break;
        case 'x':
            errno = 0;
            a->exit_after = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(a->exit_after > 0)) {
                fprintf(stderr, "opswatchd: --exit-after: expected a number of seconds > 0\n");
                return -1;
            }
            break;
        case 'r':
            a->rebuild = true;
            break;
        case 'h':
            usage(stdout);
            exit(EXIT_OK);
        case 'V':
            printf("opswatchd %s\n", OW_VERSION);
            exit(EXIT_OK);
        default:
            fprintf(stderr, "opswatchd: unknown or incomplete option '%s'\n", argv[optind - 1]);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "opswatchd: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct args a = {0};
    struct ow_live lv;
    struct ow_conf_errors *errs = NULL;
    struct ow_demo *demo = NULL;
    struct ow_loop_hooks hooks = {ow_demo_start, ow_demo_stop, NULL};
    const char *env = getenv("OPSWATCH_LOG");
    enum ow_log_level level;
    char err[600];
    int rc = EXIT_RUNTIME;

    ow_loop_block_signals(); /* before any thread: a stop signal waits for the loop (loop.h) */
    if (env != NULL && ow_log_parse_level(env, &level) == 0) {
        ow_log_set_level(level);
    }
    if (parse_args(argc, argv, &a) < 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    memset(&lv, 0, sizeof(lv));
    lv.config_path = a.config;
    lv.rebuild = a.rebuild;
    lv.cfg = ow_config_load(a.config, &errs);
    if (lv.cfg == NULL) {
        for (size_t i = 0; i < ow_conf_errors_count(errs); i++) {
            ow_log_error("config", "%s", ow_conf_errors_get(errs, i));
        }
        ow_log_error("config", "%zu errors: not starting", ow_conf_errors_count(errs));
        ow_conf_errors_destroy(errs);
        return EXIT_CONFIG;
    }
    ow_conf_errors_destroy(errs);
    if (a.http != NULL) {
        free(lv.cfg->http.listen);
        lv.cfg->http.listen = ow_xstrdup(a.http);
    }
    ow_log_info("opswatchd", "version %s config=%s%s", OW_VERSION,
                a.config != NULL ? a.config : "(built-in)", a.demo ? " demo" : "");
    if (a.demo) {
        free(lv.cfg->live.state_dir);
        lv.cfg->live.state_dir = ow_xstrdup("");
        demo = ow_demo_create(lv.cfg, err, sizeof(err));
        if (demo == NULL) {
            ow_log_error("demo", "%s", err);
            ow_config_destroy(lv.cfg);
            return EXIT_RUNTIME;
        }
        hooks.arg = demo;
    }
    rc = ow_loop_run(&lv, (int64_t)(a.exit_after * 1e6), a.demo ? &hooks : NULL);
    ow_demo_destroy(demo);
    ow_log_info("opswatchd", "exit %d", rc);
    return rc;
}
