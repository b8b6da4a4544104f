/* jansson_ref.c: the reference rates `make bench` reports beside opswatch replay, measured on
 * the same file in the same run: reading the lines alone, and reading them and parsing each
 * with jansson's json_loadb (the tree parser a naive implementation would use).
 *
 * usage: jansson_ref FILE   (prints "read <events/s>" and "jansson <events/s>") */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double pass(const char *path, int parse, long *lines)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    json_error_t err;
    double t0 = now();

    if (f == NULL) {
        perror(path);
        exit(2);
    }
    *lines = 0;
    while ((len = getline(&line, &cap, f)) != -1) {
        (*lines)++;
        if (parse) {
            json_t *v = json_loadb(line, (size_t)len, 0, &err);

            json_decref(v);
        }
    }
    free(line);
    fclose(f);
    return now() - t0;
}

int main(int argc, char **argv)
{
    long lines;
    double t;

    if (argc != 2) {
        fprintf(stderr, "usage: jansson_ref FILE\n");
        return 2;
    }
    t = pass(argv[1], 0, &lines);
    printf("read %.0f\n", (double)lines / t);
    t = pass(argv[1], 1, &lines);
    printf("jansson %.0f\n", (double)lines / t);
    return 0;
}
