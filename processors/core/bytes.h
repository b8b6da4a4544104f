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

/* @n (0..16) bytes at @a and @b are equal: two overlapping loads each instead of a loop.
 * Reads only [a, a + n) and [b, b + n). */
static inline __attribute__((always_inline)) bool ow_same_short(const char *a, const char *b,
                                                                size_t n)
{
    if (n >= 8) {
        uint64_t a0;
        uint64_t a1;
        uint64_t b0;
        uint64_t b1;

        memcpy(&a0, a, 8);
        memcpy(&b0, b, 8);
        memcpy(&a1, a + n - 8, 8);
        memcpy(&b1, b + n - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n >= 4) {
        uint32_t a0;
        uint32_t a1;
        uint32_t b0;
        uint32_t b1;

        memcpy(&a0, a, 4);
        memcpy(&b0, b, 4);
        memcpy(&a1, a + n - 4, 4);
        memcpy(&b1, b + n - 4, 4);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
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
