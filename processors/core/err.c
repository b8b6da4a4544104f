/* err.c: status codes and error records. */
#include "err.h"

#include <stdio.h>
#include <string.h>

int ow_err_set(struct ow_err *err, int status, const char *where, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL) {
        return status;
    }
    snprintf(err->where, sizeof(err->where), "%s", where ? where : "");
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof(err->text), fmt, ap);
    va_end(ap);
    return status;
}

void ow_err_clear(struct ow_err *err)
{
    if (err != NULL) {
        err->where[0] = '\0';
        err->text[0] = '\0';
    }
}

const char *ow_err_str(const struct ow_err *err, char *buf, size_t len)
{
    if (err->where[0] != '\0') {
        snprintf(buf, len, "%s: %s", err->where, err->text);
    } else {
        snprintf(buf, len, "%s", err->text);
    }
    return buf;
}

const char *ow_strerror(int status)
{
    switch (status) {
    case OW_OK:
        return "ok";
    case OW_EINVAL:
        return "invalid argument";
    case OW_ESCHEMA:
        return "schema violation";
    case OW_EDUP:
        return "duplicate";
    case OW_EIO:
        return "i/o error";
    case OW_ELIMIT:
        return "limit reached";
    }
    return "unknown status";
}
