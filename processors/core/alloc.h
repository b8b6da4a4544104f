/* alloc.h: allocation that aborts with file:line on out-of-memory, so call sites need no checks. */
#ifndef OW_ALLOC_H
#define OW_ALLOC_H

#include <stddef.h>

void *ow__xmalloc(size_t n, const char *file, int line);
void *ow__xcalloc(size_t n, size_t size, const char *file, int line);
void *ow__xrealloc(void *p, size_t n, const char *file, int line);
char *ow__xstrdup(const char *s, const char *file, int line);
char *ow__xstrndup(const char *s, size_t n, const char *file, int line);

#define ow_xmalloc(n) ow__xmalloc((n), __FILE__, __LINE__)
#define ow_xcalloc(n, size) ow__xcalloc((n), (size), __FILE__, __LINE__)
#define ow_xrealloc(p, n) ow__xrealloc((p), (n), __FILE__, __LINE__)
#define ow_xstrdup(s) ow__xstrdup((s), __FILE__, __LINE__)
#define ow_xstrndup(s, n) ow__xstrndup((s), (n), __FILE__, __LINE__)

#endif
