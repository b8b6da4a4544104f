/* bytes.h: equality of short byte strings (keys, names, ids) without a libc call.
 *
 * A memcmp call per compare cost more than the compare itself on the event path: the names,
 * ids and map keys of events are 1 to 16 bytes. */
#ifndef OW_BYTES_H
#define OW_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t ow__load64(const char *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint32_t ow__load32(const char *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* @n (0..16) bytes at @a and @b are equal: two overlapping loads each instead of a loop.
 * Reads only [a, a + n) and [b, b + n). */
static inline __attribute__((always_inline)) bool ow_same_short(const char *a, const char *b,
                                                                size_t n)
{
    if (n >= 8) {
        return ((ow__load64(a) ^ ow__load64(b)) |
                (ow__load64(a + n - 8) ^ ow__load64(b + n - 8))) == 0;
    }
    if (n >= 4) {
        return ((ow__load32(a) ^ ow__load32(b)) |
                (ow__load32(a + n - 4) ^ ow__load32(b + n - 4))) == 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            return false;
        }
    }
    return true;
}

/* @n bytes at @a and @b are equal, for any @n: short ones inline. */
static inline bool ow_same_bytes(const char *a, const char *b, size_t n)
{
    return n <= 16 ? ow_same_short(a, b, n) : memcmp(a, b, n) == 0;
}

#endif
