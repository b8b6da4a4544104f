/* err.h: status codes and the error record every fallible call fills. */
#ifndef OW_ERR_H
#define OW_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* Every action returns 0 or one of these negative codes. */
enum ow_status {
    OW_OK = 0,
    OW_EINVAL = -1,  /* bad argument or configuration */
    OW_ESCHEMA = -2, /* event breaks the contract: dead letter */
    OW_EDUP = -3,    /* duplicate event id with the same content: counted once */
    OW_EIO = -4,     /* file or system error */
    OW_ELIMIT = -5,  /* a configured bound was reached */
};

/* Where (a field, a file and JSON path) and what went wrong. */
struct ow_err {
    char where[192];
    char text[256];
};

/** Fill @err (may be NULL) and return @status. Logs nothing: the caller decides. */
int ow_err_set(struct ow_err *err, int status, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Clear @err (may be NULL). */
void ow_err_clear(struct ow_err *err);

/** Format @err as "where: text" into @buf; returns @buf. */
const char *ow_err_str(const struct ow_err *err, char *buf, size_t len);

/** A short name for a status code. */
const char *ow_strerror(int status);

#endif
