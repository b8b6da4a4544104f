/* sha256.h: SHA-256 as lowercase hex (libcrypto underneath). */
#ifndef OW_SHA256_H
#define OW_SHA256_H

#include <stddef.h>

/** Write the 64 hex digits of SHA-256(@data) and a NUL into @hex. */
void ow_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
