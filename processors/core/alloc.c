/* alloc.c: aborting allocators (see alloc.h). */
#include "alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *check(void *p, size_t n, const char *file, int line)
{
    if (p == NULL && n != 0) {
        fprintf(stderr, "opswatch: out of memory (%zu bytes) at %s:%d\n", n, file, line);
        abort();
    }
    return p;
}

void *ow__xmalloc(size_t n, const char *file, int line)
{
    return check(malloc(n), n, file, line);
}

void *ow__xcalloc(size_t n, size_t size, const char *file, int line)
{
    return check(calloc(n, size), n * size, file, line);
}

void *ow__xrealloc(void *p, size_t n, const char *file, int line)
{
    return check(realloc(p, n), n, file, line);
}

char *ow__xstrdup(const char *s, const char *file, int line)
{
    return ow__xstrndup(s, strlen(s), file, line);
}

char *ow__xstrndup(const char *s, size_t n, const char *file, int line)
{
    char *d = check(malloc(n + 1), n + 1, file, line);

    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
