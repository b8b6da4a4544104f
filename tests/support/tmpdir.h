/* tmpdir.h: a fresh folder under /tmp for one test, and its removal with everything in it. */
#ifndef OW_TESTS_TMPDIR_H
#define OW_TESTS_TMPDIR_H

#include <stddef.h>

/** Make /tmp/<@prefix>_XXXXXX into @buf (@len bytes). @returns 0, or -1 (errno set). */
int tmpdir_make(char *buf, size_t len, const char *prefix);

/** Remove @dir and everything below it. @returns 0, or -1 when something stayed. */
int tmpdir_remove(const char *dir);

#endif
