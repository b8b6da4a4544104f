/* opswatch.c: the command-line companion: replay | validate-config | gen. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "gen.h"
#include "replay.h"
#include "version.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: opswatch <command> [options]\n"
               "  replay --config FILE --input FILE|- --out DIR [--close-all]\n"
               "                     run the engine over a JSON Lines file of events\n"
               "  validate-config [--explain] [FILE]\n"
               "                     check a configuration; --explain lists every key\n"
               "  gen --seed N --out DIR [...]\n"
               "                     generate an event stream and the figures it implies\n"
               "  version            print the version\n"
               "Each command takes --help.\n");
}

static int validate_config_main(int argc, char **argv)
{
    struct ow_conf_errors *errs = NULL;
    struct ow_config *cfg;
    const char *path = NULL;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--explain") == 0) {
            ow_config_explain(stdout);
            return 0;
        } else if (strcmp(argv[i], "--schema") == 0) {
            json_t *schema = ow_config_schema();

            json_dumpf(schema, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
            json_decref(schema);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0) {
            printf(
                "usage: opswatch validate-config [--explain | --schema] [FILE]\n"
                "  checks FILE (default: the built-in configuration) and prints every\n"
                "  error as 'file: $.json.path: expected ..., got ...'; exit 1 on errors\n"
                "  --explain  every key with its type, bounds, default and meaning\n"
                "  --schema   the JSON Schema of the configuration (schemas/config.schema.json)\n");
            return 0;
        } else if (path == NULL) {
            path = argv[i];
        } else {
            fprintf(stderr, "opswatch validate-config: one file at a time\n");
            return 1;
        }
    }
    cfg = ow_config_load(path, &errs);
    if (cfg == NULL) {
        for (size_t i = 0; i < ow_conf_errors_count(errs); i++) {
            fprintf(stderr, "%s\n", ow_conf_errors_get(errs, i));
        }
        fprintf(stderr, "%zu error%s\n", ow_conf_errors_count(errs),
                ow_conf_errors_count(errs) == 1 ? "" : "s");
        rc = 1;
    } else {
        printf("%s: OK\n", cfg->file);
        rc = 0;
    }
    ow_config_destroy(cfg);
    ow_conf_errors_destroy(errs);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    if (strcmp(argv[1], "replay") == 0) {
        return ow_replay_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "validate-config") == 0) {
        return validate_config_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "gen") == 0) {
        return ow_gen_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("opswatch %s\n", OW_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "opswatch: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 1;
}
