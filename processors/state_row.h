/* state_row.h: reading back a processor's saved state (processor.h, save/restore).
 *
 * Entity processors save each record as one compact JSON array of fixed length ("a row":
 * [us, event_id, action, ...]) rather than an object, to keep checkpoints small. A row reader
 * checks the length, the type and the range of every field as it is read and remembers the
 * first bad one, so restore code reads a whole row straight through and checks once:
 *
 *     struct ow_row r;
 *
 *     ow_row_open(&r, row, 3);
 *     us = ow_row_int(&r, INT64_MIN, INT64_MAX);
 *     id = ow_row_str(&r, false);
 *     action = (int)ow_row_int(&r, 0, 9);
 *     if (!ow_row_ok(&r)) {
 *         return ow_err_set(err, OW_EINVAL, "state: x.events[2]", "%s", ow_row_error(&r));
 *     }
 *
 * Values read from a bad row are 0, false, "" or NULL (an array), so nothing breaks before
 * the check. */
#ifndef OW_STATE_ROW_H
#define OW_STATE_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ow_row {
    const json_t *a; /* the row (borrowed) */
    size_t n;        /* fields expected */
    size_t next;     /* index of the next field to read */
    bool bad;        /* some read failed; @why says which */
    char why[96];
};

/** Start reading @a, which must be an array of exactly @n fields (else the row is bad). */
void ow_row_open(struct ow_row *r, const json_t *a, size_t n);

/** The next field: an integer in @lo..@hi. */
int64_t ow_row_int(struct ow_row *r, int64_t lo, int64_t hi);

/** The next field: an integer in @lo..@hi, or null, read as @if_null. */
int64_t ow_row_int_or_null(struct ow_row *r, int64_t lo, int64_t hi, int64_t if_null);

/** The next field: true or false. */
bool ow_row_bool(struct ow_row *r);

/** The next field: a string (borrowed from the row), or, when @nullable, null (NULL). */
const char *ow_row_str(struct ow_row *r, bool nullable);

/** The next field: an array (borrowed), or NULL when the row is bad (jansson's array
 * functions take NULL as an empty array). */
const json_t *ow_row_array(struct ow_row *r);

/** Did every read so far succeed? */
bool ow_row_ok(const struct ow_row *r);

/** What was wrong ("field 3: expected an integer 0..9"), for an error message. */
const char *ow_row_error(const struct ow_row *r);

/** The integer member @key of object @obj, in @lo..@hi, into *@out. @returns false (and
 * leaves *@out) when it is missing, not an integer or out of range. */
bool ow_state_int(const json_t *obj, const char *key, int64_t lo, int64_t hi, int64_t *out);

/** The boolean member @key of object @obj into *@out; false when missing or not a boolean. */
bool ow_state_bool(const json_t *obj, const char *key, bool *out);

#endif
