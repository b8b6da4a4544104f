/* tmpdir.c: see tmpdir.h. */
#include "tmpdir.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

int tmpdir_make(char *buf, size_t len, const char *prefix)
{
    if ((size_t)snprintf(buf, len, "/tmp/%s_XXXXXX", prefix) >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkdtemp(buf) != NULL ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int tmpdir_remove(const char *dir)
{
    /* Depth first (children before their folder), not following symbolic links. */
    return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
