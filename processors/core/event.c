/* event.c: the one-pass event decoder: yajl SAX callbacks, limits, content hash, and the
 * table-driven checks of event_fields.c.
 *
 * Why it is built this way:
 * - One yajl handle per decoder, configured with yajl_allow_multiple_values, is reused for
 *   every event: yajl 2.1 has no reset, and free+alloc per event measured ~45% slower. After a
 *   complete object the handle is back at "expect a value"; any error (or a callback that
 *   cancels) leaves it in an error state, so only then is it replaced. A second top-level value
 *   is caught by the callbacks ("trailing garbage"), since the handle itself would accept it.
 * - yajl decodes escapes leniently (a lone \ud800 becomes '?', a lone \udc00 is encoded as
 *   CESU bytes) and its UTF-8 check lets overlong forms and surrogates through. So the decoder
 *   validates UTF-8 itself, turns yajl's check off, and scans the raw bytes for backslashes
 *   (memchr: most events have none). A fault found there is only recorded by offset; the first
 *   string token that ends past that offset is the one holding it, which names the field.
 * - The type key may come last, so known top-level fields keep their raw token (copied into a
 *   per-decoder arena, NUL-terminated) and are converted when the object ends. Errors found
 *   while parsing (limits, duplicates) are held until then too, so the message can name the type
 *   whatever the key order.
 * - The content hash: a member hashes (key length, key, value tag, value) in one XXH3-128 call
 *   over a scratch stack (value = its bytes, or a container's 16-byte hash); an object sums its
 *   members per 64-bit lane (order-free); an array chains its elements (ordered).
 */
#include "event.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Header-only xxhash: the short-input paths inline into the callbacks (measured faster). */
#define XXH_INLINE_ALL
#include <xxhash.h>
#include <yajl/yajl_parse.h>

#include "alloc.h"
#include "event_fields.h"
#include "rfc3339.h"

#define NAME_TABLE_SIZE 128 /* power of two, > 2 * OW__F__COUNT */
#define NAME_MAX_LEN 14     /* the longest known field name */
#define SHOW_MAX 60         /* bytes of a value or key quoted in a message */
#define KEY_KEEP 64         /* bytes of the current top-level key kept for messages */
#define ARENA_CAP (OW_EVENT_MAX_BYTES + 64)
#define SCRATCH_CAP (OW_EVENT_MAX_BYTES + OW_EVENT_MAX_STRING + 8 * (OW_EVENT_MAX_DEPTH + 2) + 64)

_Static_assert(OW__F__COUNT <= 64, "slot presence is a 64-bit mask");
_Static_assert(sizeof(enum ow_region) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(enum ow_action) == sizeof(int), "enum fields are stored as int");

/* The JSON token a known top-level field held. */
enum tok { TOK_ABSENT, TOK_STRING, TOK_NUMBER, TOK_TRUE, TOK_FALSE, TOK_NULL, TOK_OBJECT, TOK_ARRAY };

/* Domain tags (and seeds) of the content hash. */
enum { H_STRING = 1, H_NUMBER, H_TRUE, H_FALSE, H_NULL, H_OBJECT, H_ARRAY, H_ARRAY_STEP };

struct slot {
    const char *p; /* arena copy (strings, numbers) */
    uint32_t len;
    unsigned char tok;
};

struct frame {
    uint64_t lane[2]; /* object: sum of member hashes; array: chained element hash */
    uint64_t count;
    size_t key_off; /* object: scratch offset of the current member's key record */
    bool is_array;
};

struct ow_decoder {
    yajl_handle yh;
    const char *in; /* the input being decoded */
    size_t in_len;

    int depth; /* 0 outside the top-level value; the top-level object is depth 1 */
    bool started;
    bool ended;
    bool hashing; /* false once the event is known to be invalid */

    int cur_slot; /* slot of the current top-level member, or -1 */
    const char *cur_key;
    size_t cur_key_len;
    char cur_key_copy[KEY_KEEP];

    size_t bad_off; /* first bad UTF-8 byte or escape found by the raw scan, or SIZE_MAX */
    char bad_text[96];

    bool pending; /* an error found while parsing, reported when the object ends */
    bool pending_has_field;
    char pending_field[SHOW_MAX * 6 + 8];
    char pending_text[256];
    char cancel_text[128];

    uint64_t seen; /* bit per slot: present in this event */
    struct slot slots[OW__F__COUNT];

    char *arena;
    size_t arena_used;
    unsigned char *scratch;
    size_t scratch_used;
    struct frame frames[OW_EVENT_MAX_DEPTH + 1];
    uint64_t hash[2];

    signed char names[NAME_TABLE_SIZE];
    unsigned char name_len[OW__F__COUNT];
};

/* ---- messages ---- */

/* Quote at most SHOW_MAX bytes of @s (cut on a UTF-8 boundary), escaping '"', '\\' and
 * control characters, with "..." when cut. */
static const char *show_bytes(const char *s, size_t n, char quote, char *buf, size_t len)
{
    size_t o = 0;
    size_t take = n;

    if (take > SHOW_MAX) {
        take = SHOW_MAX;
        while (take > 0 && ((unsigned char)s[take] & 0xC0) == 0x80) {
            take--;
        }
    }
    if (quote != '\0') {
        buf[o++] = quote;
    }
    for (size_t i = 0; i < take && o + 8 < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\' || c == (unsigned char)quote) {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(buf + o, len - o, "\\u%04x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    if (take < n && o + 4 < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    if (quote != '\0' && o + 1 < len) {
        buf[o++] = quote;
    }
    buf[o] = '\0';
    return buf;
}

static const char *show_token(const struct slot *s, char *buf, size_t len)
{
    switch (s->tok) {
    case TOK_STRING:
        return show_bytes(s->p, s->len, '"', buf, len);
    case TOK_NUMBER:
        return show_bytes(s->p, s->len, '\0', buf, len);
    case TOK_TRUE:
        return "true";
    case TOK_FALSE:
        return "false";
    case TOK_NULL:
        return "null";
    case TOK_OBJECT:
        return "an object";
    case TOK_ARRAY:
        return "an array";
    }
    return "nothing";
}

static int field_err(struct ow_err *err, const char *prefix, const char *field, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

static int field_err(struct ow_err *err, const char *prefix, const char *field, const char *fmt,
                     ...)
{
    char where[sizeof(err->where)];
    char text[sizeof(err->text)];
    va_list ap;

    snprintf(where, sizeof(where), "%s: field '%s'", prefix, field);
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    return ow_err_set(err, OW_ESCHEMA, where, "%s", text);
}

/* "a, b, c" from a NULL-terminated list. */
static const char *join_names(const char *const *names, char *buf, size_t len)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; names[i] != NULL && o < len; i++) {
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", names[i]);
    }
    return buf;
}

/* ---- raw scans ---- */

/* Offset of the first byte that is not valid UTF-8 (overlong forms, surrogates and code points
 * past U+10FFFF included), or SIZE_MAX. */
static size_t utf8_bad_offset(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c;
        unsigned char lo = 0x80;
        unsigned char hi = 0xBF;
        size_t more;

        if (i + 8 <= n) {
            uint64_t w;

            memcpy(&w, s + i, 8);
            if ((w & UINT64_C(0x8080808080808080)) == 0) {
                i += 8;
                continue;
            }
        }
        c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            more = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            return i;
        }
        if (i + more >= n) {
            return i;
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            return i;
        }
        for (size_t k = 2; k <= more; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return i;
            }
        }
        i += more + 1;
    }
    return SIZE_MAX;
}

static bool hex4(const char *p, const char *end, unsigned *out)
{
    unsigned v = 0;

    if (end - p < 4) {
        return false;
    }
    for (int i = 0; i < 4; i++) {
        char c = p[i];

        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (unsigned)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (unsigned)(c - 'A' + 10);
        } else {
            return false;
        }
    }
    *out = v;
    return true;
}

/* Offset of the first \u0000 or unpaired surrogate escape, or SIZE_MAX; @why says which.
 * Backslashes only occur inside strings of valid JSON, so walking them in order, each escape
 * consumed whole, sees exactly the escapes yajl will decode. */
static size_t escape_bad_offset(const char *s, size_t n, char *why, size_t whylen)
{
    const char *end = s + n;
    const char *p = s;
    unsigned cp;
    unsigned low;

    while (p < end && (p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        if (end - p < 2) {
            break;
        }
        if (p[1] != 'u' || !hex4(p + 2, end, &cp)) {
            p += 2;
            continue;
        }
        if (cp == 0) {
            snprintf(why, whylen, "contains \\u0000");
            return (size_t)(p - s);
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end - p >= 12 && p[6] == '\\' && p[7] == 'u' && hex4(p + 8, end, &low) &&
                low >= 0xDC00 && low <= 0xDFFF) {
                p += 12;
                continue;
            }
            snprintf(why, whylen, "contains an unpaired surrogate escape \\u%.4s", p + 2);
            return (size_t)(p - s);
        }
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            snprintf(why, whylen, "contains an unpaired surrogate escape \\u%.4s", p + 2);
            return (size_t)(p - s);
        }
        p += 6;
    }
    return SIZE_MAX;
}

/* ---- known field names ---- */

static unsigned name_hash(const unsigned char *s, size_t n)
{
    return (unsigned)(n * 7 + s[0] * 3u + s[n - 1] * 5u + s[n / 2]) & (NAME_TABLE_SIZE - 1);
}

static void names_build(struct ow_decoder *dec)
{
    memset(dec->names, -1, sizeof(dec->names));
    for (int i = 0; i < OW__F__COUNT; i++) {
        const char *name = ow__field_names[i];
        unsigned h = name_hash((const unsigned char *)name, strlen(name));

        while (dec->names[h] >= 0) {
            h = (h + 1) & (NAME_TABLE_SIZE - 1);
        }
        dec->names[h] = (signed char)i;
        dec->name_len[i] = (unsigned char)strlen(name);
    }
}

static int names_find(const struct ow_decoder *dec, const unsigned char *s, size_t n)
{
    unsigned h;

    if (n == 0 || n > NAME_MAX_LEN) {
        return -1;
    }
    h = name_hash(s, n);
    while (dec->names[h] >= 0) {
        int slot = dec->names[h];

        if (dec->name_len[slot] == n && memcmp(ow__field_names[slot], s, n) == 0) {
            return slot;
        }
        h = (h + 1) & (NAME_TABLE_SIZE - 1);
    }
    return -1;
}

/* ---- parse-time state ---- */

/* Record the first error found while parsing; @subject prefixes @text. */
static void fail(struct ow_decoder *dec, bool at_member, const char *subject, const char *text)
{
    dec->hashing = false;
    if (dec->pending) {
        return;
    }
    dec->pending = true;
    dec->pending_has_field = at_member && dec->cur_key != NULL;
    if (dec->pending_has_field) {
        show_bytes(dec->cur_key, dec->cur_key_len, '\0', dec->pending_field,
                   sizeof(dec->pending_field));
    }
    snprintf(dec->pending_text, sizeof(dec->pending_text), "%s%s", subject, text);
}

/* Checks shared by keys and string values: the raw-scan fault and the length limit. */
static void check_string(struct ow_decoder *dec, size_t n, bool at_member, const char *subject)
{
    if (dec->bad_off != SIZE_MAX && yajl_get_bytes_consumed(dec->yh) > dec->bad_off) {
        dec->bad_off = SIZE_MAX;
        fail(dec, at_member, subject, dec->bad_text);
    }
    if (n > OW_EVENT_MAX_STRING) {
        char text[96];

        snprintf(text, sizeof(text), "of %zu bytes is longer than the %d-byte limit", n,
                 OW_EVENT_MAX_STRING);
        fail(dec, at_member, subject, text);
    }
}

static int cancel(struct ow_decoder *dec, const char *text)
{
    snprintf(dec->cancel_text, sizeof(dec->cancel_text), "%s", text);
    return 0;
}

static int top_level_value(struct ow_decoder *dec, const char *what)
{
    char text[96];

    if (dec->ended) {
        return cancel(dec, "not valid JSON: trailing garbage after the object");
    }
    snprintf(text, sizeof(text), "expected a JSON object at the top level, got %s", what);
    return cancel(dec, text);
}

static void store_slot(struct ow_decoder *dec, enum tok tok, const void *p, size_t n)
{
    struct slot *s = &dec->slots[dec->cur_slot];

    s->tok = (unsigned char)tok;
    s->p = NULL;
    s->len = 0;
    if (p != NULL) {
        if (dec->arena_used + n + 1 > ARENA_CAP) {
            fail(dec, true, "", "too much data (decoder arena full)");
            return;
        }
        s->p = dec->arena + dec->arena_used;
        s->len = (uint32_t)n;
        memcpy(dec->arena + dec->arena_used, p, n);
        dec->arena[dec->arena_used + n] = '\0';
        dec->arena_used += n + 1;
    }
}

/* Fold a finished value (a scalar's bytes, or a container's 16-byte hash) into its parent. */
static void hash_value(struct ow_decoder *dec, unsigned tag, const void *p, size_t n)
{
    struct frame *f = &dec->frames[dec->depth];
    XXH128_hash_t h;

    if (f->is_array) {
        uint64_t step[4];

        h = XXH3_128bits_withSeed(p, n, tag);
        step[0] = f->lane[0];
        step[1] = f->lane[1];
        step[2] = h.low64;
        step[3] = h.high64;
        h = XXH3_128bits_withSeed(step, sizeof(step), H_ARRAY_STEP);
        f->lane[0] = h.low64;
        f->lane[1] = h.high64;
        f->count++;
        return;
    }
    if (dec->scratch_used + 1 + n > SCRATCH_CAP) {
        fail(dec, true, "", "too much data (decoder scratch full)");
        return;
    }
    dec->scratch[dec->scratch_used] = (unsigned char)tag;
    if (n > 0) {
        memcpy(dec->scratch + dec->scratch_used + 1, p, n);
    }
    h = XXH3_128bits(dec->scratch + f->key_off, dec->scratch_used + 1 + n - f->key_off);
    f->lane[0] += h.low64;
    f->lane[1] += h.high64;
    f->count++;
    dec->scratch_used = f->key_off;
}

static int scalar(struct ow_decoder *dec, enum tok tok, unsigned tag, const void *p, size_t n)
{
    static const char *const what[] = {
        [TOK_STRING] = "a string", [TOK_NUMBER] = "a number", [TOK_TRUE] = "true",
        [TOK_FALSE] = "false",     [TOK_NULL] = "null",
    };

    if (dec->depth == 0) {
        return top_level_value(dec, what[tok]);
    }
    if (dec->depth == 1 && dec->cur_slot >= 0) {
        store_slot(dec, tok, p, n);
    }
    if (dec->hashing) {
        hash_value(dec, tag, p, n);
    }
    return 1;
}

static int on_null(void *ctx)
{
    return scalar(ctx, TOK_NULL, H_NULL, NULL, 0);
}

static int on_boolean(void *ctx, int value)
{
    return scalar(ctx, value ? TOK_TRUE : TOK_FALSE, value ? H_TRUE : H_FALSE, NULL, 0);
}

static int on_number(void *ctx, const char *s, size_t n)
{
    return scalar(ctx, TOK_NUMBER, H_NUMBER, s, n);
}

static int on_string(void *ctx, const unsigned char *s, size_t n)
{
    struct ow_decoder *dec = ctx;

    if (dec->depth > 0) {
        check_string(dec, n, true, "string ");
    }
    return scalar(dec, TOK_STRING, H_STRING, s, n);
}

static int on_map_key(void *ctx, const unsigned char *s, size_t n)
{
    struct ow_decoder *dec = ctx;
    struct frame *f;
    uint32_t n32;

    if (dec->depth == 1) {
        dec->cur_key = NULL;
        check_string(dec, n, false, "field name ");
        dec->cur_slot = names_find(dec, s, n);
        if ((const char *)s >= dec->in && (const char *)s < dec->in + dec->in_len) {
            dec->cur_key = (const char *)s;
            dec->cur_key_len = n;
        } else {
            dec->cur_key_len = n < KEY_KEEP ? n : KEY_KEEP;
            memcpy(dec->cur_key_copy, s, dec->cur_key_len);
            dec->cur_key = dec->cur_key_copy;
        }
        if (dec->cur_slot >= 0) {
            uint64_t bit = UINT64_C(1) << dec->cur_slot;

            if (dec->seen & bit) {
                dec->cur_slot = -1;
                fail(dec, true, "", "appears more than once");
            }
            dec->seen |= bit;
        }
    } else {
        check_string(dec, n, true, "field name ");
    }
    if (!dec->hashing) {
        return 1;
    }
    f = &dec->frames[dec->depth];
    if (dec->scratch_used + sizeof(n32) + n > SCRATCH_CAP) {
        fail(dec, true, "", "too much data (decoder scratch full)");
        return 1;
    }
    f->key_off = dec->scratch_used;
    n32 = (uint32_t)n;
    memcpy(dec->scratch + dec->scratch_used, &n32, sizeof(n32));
    memcpy(dec->scratch + dec->scratch_used + sizeof(n32), s, n);
    dec->scratch_used += sizeof(n32) + n;
    return 1;
}

static int open_container(struct ow_decoder *dec, bool is_array)
{
    if (dec->depth == 0) {
        if (dec->ended || is_array) {
            return top_level_value(dec, "an array");
        }
        dec->started = true;
    } else if (dec->depth == 1 && dec->cur_slot >= 0) {
        store_slot(dec, is_array ? TOK_ARRAY : TOK_OBJECT, NULL, 0);
    }
    dec->depth++;
    if (dec->depth > OW_EVENT_MAX_DEPTH) {
        if (dec->depth == OW_EVENT_MAX_DEPTH + 1) {
            char text[64];

            snprintf(text, sizeof(text), "nests deeper than %d levels", OW_EVENT_MAX_DEPTH);
            fail(dec, true, "", text);
        }
        return 1;
    }
    if (dec->hashing) {
        struct frame *f = &dec->frames[dec->depth];

        f->lane[0] = 0;
        f->lane[1] = 0;
        f->count = 0;
        f->is_array = is_array;
    }
    return 1;
}

static int close_container(struct ow_decoder *dec)
{
    XXH128_hash_t h;
    uint64_t fin[3];
    unsigned char bytes[16];
    struct frame *f;

    if (!dec->hashing) {
        dec->depth--;
        dec->ended = dec->depth == 0;
        return 1;
    }
    f = &dec->frames[dec->depth];
    fin[0] = f->lane[0];
    fin[1] = f->lane[1];
    fin[2] = f->count;
    h = XXH3_128bits_withSeed(fin, sizeof(fin), f->is_array ? H_ARRAY : H_OBJECT);
    dec->depth--;
    if (dec->depth == 0) {
        dec->hash[0] = h.low64;
        dec->hash[1] = h.high64;
        dec->ended = true;
        return 1;
    }
    memcpy(bytes, &h.low64, 8);
    memcpy(bytes + 8, &h.high64, 8);
    hash_value(dec, f->is_array ? H_ARRAY : H_OBJECT, bytes, sizeof(bytes));
    return 1;
}

static int on_start_map(void *ctx)
{
    return open_container(ctx, false);
}

static int on_start_array(void *ctx)
{
    return open_container(ctx, true);
}

static int on_end_container(void *ctx)
{
    return close_container(ctx);
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_map_key,
    .yajl_end_map = on_end_container,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end_container,
};

static void *yajl_cb_malloc(void *ctx, size_t n)
{
    (void)ctx;
    return ow_xmalloc(n);
}

static void *yajl_cb_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    return ow_xrealloc(p, n);
}

static void yajl_cb_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static yajl_handle handle_new(struct ow_decoder *dec)
{
    yajl_alloc_funcs afs = {yajl_cb_malloc, yajl_cb_realloc, yajl_cb_free, NULL};
    yajl_handle yh = yajl_alloc(&callbacks, &afs, dec); /* never NULL: the allocators abort */

    /* Strings are checked by utf8_bad_offset, which is stricter; the lexer reads this flag
     * when it is created, on the first parse. */
    yajl_config(yh, yajl_dont_validate_strings, 1);
    yajl_config(yh, yajl_allow_multiple_values, 1);
    return yh;
}

/* ---- end of object: the tables ---- */

static enum tok slot_tok(const struct ow_decoder *dec, int slot)
{
    if (!(dec->seen & (UINT64_C(1) << slot))) {
        return TOK_ABSENT;
    }
    return (enum tok)dec->slots[slot].tok;
}

/* 0 and *@out, 1 if @s is not a JSON integer literal (a fraction or exponent), 2 if out of the
 * int64 range. @s is a well-formed JSON number (yajl checked it). */
static int parse_int64(const char *s, size_t n, int64_t *out)
{
    bool neg = n > 0 && s[0] == '-';
    uint64_t limit = neg ? UINT64_C(1) << 63 : (UINT64_C(1) << 63) - 1;
    uint64_t v = 0;

    for (size_t i = neg; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 1;
        }
    }
    for (size_t i = neg; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');

        if (v > (limit - d) / 10) {
            return 2;
        }
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static const char *int_expectation(const struct ow__field *f, char *buf, size_t len)
{
    if (f->max == INT64_MAX) {
        snprintf(buf, len, "integer >= %lld", (long long)f->min);
    } else {
        snprintf(buf, len, "integer %lld..%lld", (long long)f->min, (long long)f->max);
    }
    return buf;
}

static bool service_ref_ok(const char *s, size_t n)
{
    int parts = 0;
    size_t i = 0;

    while (i < n) {
        size_t start = i;

        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        if (i == start || ++parts > 4) {
            return false;
        }
        if (i < n && (s[i] != '.' || ++i == n)) {
            return false;
        }
    }
    return parts > 0;
}

static size_t code_points(const char *s, size_t n)
{
    size_t cps = 0;

    for (size_t i = 0; i < n; i++) {
        cps += ((unsigned char)s[i] & 0xC0) != 0x80;
    }
    return cps;
}

static void put_int(struct ow_event *ev, size_t off, int v)
{
    memcpy((char *)ev + off, &v, sizeof(v));
}

static void put_str(struct ow_event *ev, size_t off, const struct slot *s)
{
    struct ow_str str = {s->p, s->len};

    memcpy((char *)ev + off, &str, sizeof(str));
}

/* Convert and range-check one present field of @ev's table into @ev. */
static int store_field(const struct ow_decoder *dec, struct ow_event *ev, const char *prefix,
                       const struct ow__field *f, struct ow_err *err)
{
    const char *name = ow__field_names[f->slot];
    const struct slot *s = &dec->slots[f->slot];
    enum tok tok = slot_tok(dec, f->slot);
    char shown[SHOW_MAX * 6 + 8];
    char expect[160];
    const char *why;
    int64_t v64;
    int8_t b8;
    int rc;

    if (tok == TOK_ABSENT) {
        if (f->kind == OW__K_INT64) {
            memcpy((char *)ev + f->offset, &f->dflt, sizeof(f->dflt));
        }
        return OW_OK;
    }
/* Rendered only on the error paths: the hot path formats nothing. */
#define SHOWN show_token(s, shown, sizeof(shown))
    switch (f->kind) {
    case OW__K_STR:
        if (tok != TOK_STRING) {
            return field_err(err, prefix, name, "expected string, got %s", SHOWN);
        }
        put_str(ev, f->offset, s);
        return OW_OK;
    case OW__K_ID:
        if (tok != TOK_STRING) {
            return field_err(err, prefix, name, "expected string of %lld..%lld characters, got %s",
                             (long long)f->min, (long long)f->max, SHOWN);
        }
        v64 = (int64_t)code_points(s->p, s->len);
        if (v64 < f->min || v64 > f->max) {
            if (v64 == 0) {
                return field_err(err, prefix, name,
                                 "expected string of %lld..%lld characters, got \"\"",
                                 (long long)f->min, (long long)f->max);
            }
            return field_err(err, prefix, name,
                             "expected string of %lld..%lld characters, got %lld characters",
                             (long long)f->min, (long long)f->max, (long long)v64);
        }
        put_str(ev, f->offset, s);
        return OW_OK;
    case OW__K_SERVICE_REF:
        if (tok != TOK_STRING || !service_ref_ok(s->p, s->len)) {
            return field_err(err, prefix, name,
                             "expected service reference of 1 to 4 dot-separated numbers "
                             "(e.g. \"8.14.2\"), got %s",
                             SHOWN);
        }
        put_str(ev, f->offset, s);
        return OW_OK;
    case OW__K_ENUM:
        if (tok == TOK_STRING) {
            for (int i = 0; f->names[i] != NULL; i++) {
                if (strcmp(f->names[i], s->p) == 0) {
                    put_int(ev, f->offset, f->values != NULL ? f->values[i] : i);
                    return OW_OK;
                }
            }
        }
        return field_err(err, prefix, name, "expected one of %s, got %s",
                         join_names(f->names, expect, sizeof(expect)), SHOWN);
    case OW__K_INT:
    case OW__K_INT64:
        rc = tok == TOK_NUMBER ? parse_int64(s->p, s->len, &v64) : 1;
        if (rc == 2) {
            return field_err(err, prefix, name, "expected %s, got %s (out of the 64-bit range)",
                             int_expectation(f, expect, sizeof(expect)), SHOWN);
        }
        if (rc != 0 || v64 < f->min || v64 > f->max) {
            return field_err(err, prefix, name, "expected %s, got %s",
                             int_expectation(f, expect, sizeof(expect)), SHOWN);
        }
        if (f->kind == OW__K_INT) {
            put_int(ev, f->offset, (int)v64);
        } else {
            memcpy((char *)ev + f->offset, &v64, sizeof(v64));
        }
        return OW_OK;
    case OW__K_BOOL:
        if (tok != TOK_TRUE && tok != TOK_FALSE) {
            return field_err(err, prefix, name, "expected true or false, got %s", SHOWN);
        }
        b8 = tok == TOK_TRUE;
        memcpy((char *)ev + f->offset, &b8, sizeof(b8));
        return OW_OK;
    case OW__K_TIME:
        if (tok != TOK_STRING) {
            return field_err(err, prefix, name, "expected RFC 3339 date-time string, got %s",
                             SHOWN);
        }
        if (ow_rfc3339_parse(s->p, s->len, &v64, &why) != 0) {
            return field_err(err, prefix, name, "expected RFC 3339 date-time, got %s: %s", SHOWN,
                             why);
        }
        memcpy((char *)ev + f->offset, &v64, sizeof(v64));
        if (f->has_flag) {
            bool yes = true;

            memcpy((char *)ev + f->flag_offset, &yes, sizeof(yes));
        }
        return OW_OK;
    case OW__K_PERIOD:
        if (tok == TOK_STRING && s->len == 7 && s->p[4] == '-') {
            int year = 0;
            int month = 0;
            bool ok = true;

            for (int i = 0; i < 7; i++) {
                if (i != 4 && (s->p[i] < '0' || s->p[i] > '9')) {
                    ok = false;
                }
            }
            if (ok) {
                year = atoi(s->p);
                month = (s->p[5] - '0') * 10 + (s->p[6] - '0');
            }
            if (ok && year >= 1 && month >= 1 && month <= 12) {
                put_int(ev, f->offset, year * 12 + month - 1);
                return OW_OK;
            }
        }
        return field_err(err, prefix, name, "expected month \"YYYY-MM\" (month 01..12), got %s",
                         SHOWN);
    }
    return field_err(err, prefix, name, "unsupported field kind");
#undef SHOWN
}

static int check_required(const struct ow_decoder *dec, const struct ow_event *ev,
                          const char *prefix, const struct ow__field *f, struct ow_err *err)
{
    const char *name = ow__field_names[f->slot];

    if (slot_tok(dec, f->slot) != TOK_ABSENT) {
        return OW_OK;
    }
    switch (f->req) {
    case OW__REQ_NO:
        return OW_OK;
    case OW__REQ_ALWAYS:
        return field_err(err, prefix, name, "required");
    case OW__REQ_ACTIONS:
        if (ev->action != OW_ACT_NONE && (f->actions & (1u << ev->action))) {
            return field_err(err, prefix, name, "required when action is '%s'",
                             dec->slots[OW__F_ACTION].p);
        }
        return OW_OK;
    case OW__REQ_DCC:
        if (ev->attribution == OW_ATTR_DCC) {
            return field_err(err, prefix, name, "required when attribution is 'dcc'");
        }
        return OW_OK;
    }
    return OW_OK;
}

static void event_init(struct ow_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->region = OW_REGION_NONE;
    ev->action = OW_ACT_NONE;
    ev->report = OW_REPORT_NONE;
    ev->attribution = OW_ATTR_NONE;
    ev->fault = OW_FAULT_NONE;
    ev->stage = OW_STAGE_NONE;
    ev->status = OW_PSTATUS_NONE;
    ev->category = OW_CAT_NONE;
    ev->significant = -1;
    ev->period = -1;
}

static int check_version(const struct ow_decoder *dec, const char *prefix, struct ow_err *err)
{
    const struct slot *s = &dec->slots[OW__F_SCHEMA_VERSION];
    char shown[SHOW_MAX * 6 + 8];
    int64_t v;

    if (s->tok != TOK_NUMBER || parse_int64(s->p, s->len, &v) == 1) {
        return field_err(err, prefix, "schema_version", "expected integer 1, got %s",
                         show_token(s, shown, sizeof(shown)));
    }
    if (s->len != 1 || s->p[0] != '1') {
        return field_err(err, prefix, "schema_version",
                         "schema_version %s is not supported (expected 1)",
                         show_token(s, shown, sizeof(shown)));
    }
    return OW_OK;
}

static int validate(const struct ow_decoder *dec, struct ow_event *ev, struct ow_err *err)
{
    const struct slot *ts = &dec->slots[OW__F_TYPE];
    const struct ow__type *t = NULL;
    const char *prefix = "event";
    char shown[SHOW_MAX * 6 + 8];
    char where[sizeof(err->where)];
    int type = -1;
    int rc;

    if (slot_tok(dec, OW__F_TYPE) == TOK_STRING) {
        for (int i = 0; i < OW_EV__COUNT; i++) {
            if (strcmp(ow__types[i].name, ts->p) == 0) {
                type = i;
                t = &ow__types[i];
                prefix = t->name;
                break;
            }
        }
    }
    if (dec->pending) {
        if (dec->pending_has_field) {
            snprintf(where, sizeof(where), "%s: field '%.160s'", prefix, dec->pending_field);
        } else {
            snprintf(where, sizeof(where), "%s", prefix);
        }
        return ow_err_set(err, OW_ESCHEMA, where, "%s", dec->pending_text);
    }
    /* A newer contract may change anything else, so its version is checked first. */
    if (slot_tok(dec, OW__F_SCHEMA_VERSION) != TOK_ABSENT) {
        rc = check_version(dec, prefix, err);
        if (rc != OW_OK) {
            return rc;
        }
    }
    if (t == NULL) {
        if (slot_tok(dec, OW__F_TYPE) == TOK_ABSENT) {
            return field_err(err, "event", "type", "required");
        }
        return field_err(err, "event", "type", "expected one of %s, got %s", ow__type_list,
                         show_token(ts, shown, sizeof(shown)));
    }
    event_init(ev);
    ev->type = (enum ow_event_type)type;
    for (size_t i = 0; i < ow__envelope_count; i++) {
        rc = store_field(dec, ev, prefix, &ow__envelope[i], err);
        if (rc != OW_OK) {
            return rc;
        }
    }
    for (size_t i = 0; i < t->nfields; i++) {
        rc = store_field(dec, ev, prefix, &t->fields[i], err);
        if (rc != OW_OK) {
            return rc;
        }
    }
    for (size_t i = 0; i < ow__envelope_count; i++) {
        rc = check_required(dec, ev, prefix, &ow__envelope[i], err);
        if (rc != OW_OK) {
            return rc;
        }
    }
    if (slot_tok(dec, OW__F_SCHEMA_VERSION) == TOK_ABSENT) {
        return field_err(err, prefix, "schema_version", "required");
    }
    for (size_t i = 0; i < t->nfields; i++) {
        rc = check_required(dec, ev, prefix, &t->fields[i], err);
        if (rc != OW_OK) {
            return rc;
        }
    }
    if (t->finish != NULL) {
        rc = t->finish(ev, err);
        if (rc != OW_OK) {
            return rc;
        }
    }
    ev->content_hash[0] = dec->hash[0];
    ev->content_hash[1] = dec->hash[1];
    return OW_OK;
}

/* ---- public ---- */

struct ow_decoder *ow_decoder_create(void)
{
    struct ow_decoder *dec = ow_xcalloc(1, sizeof(*dec));

    dec->arena = ow_xmalloc(ARENA_CAP);
    dec->scratch = ow_xmalloc(SCRATCH_CAP);
    names_build(dec);
    dec->yh = handle_new(dec);
    return dec;
}

void ow_decoder_destroy(struct ow_decoder *dec)
{
    if (dec == NULL) {
        return;
    }
    yajl_free(dec->yh);
    free(dec->scratch);
    free(dec->arena);
    free(dec);
}

/* The reason yajl (or a callback) stopped. The handle is unusable after an error. */
static int parse_error(struct ow_decoder *dec, yajl_status st, const char *buf, size_t len,
                       struct ow_err *err)
{
    unsigned char *msg;
    size_t n;
    int rc;

    if (st == yajl_status_client_canceled) {
        return ow_err_set(err, OW_ESCHEMA, "event", "%s", dec->cancel_text);
    }
    msg = yajl_get_error(dec->yh, 0, (const unsigned char *)buf, len);
    if (msg == NULL) {
        return ow_err_set(err, OW_ESCHEMA, "event", "not valid JSON");
    }
    for (n = 0; msg[n] != '\0'; n++) {
        if (msg[n] == '\n' || msg[n] == '\r' || msg[n] == '\t') {
            msg[n] = ' ';
        }
    }
    while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '.')) {
        msg[--n] = '\0';
    }
    rc = ow_err_set(err, OW_ESCHEMA, "event", "not valid JSON: %s", (const char *)msg);
    yajl_free_error(dec->yh, msg);
    return rc;
}

int ow_decoder_decode(struct ow_decoder *dec, const char *buf, size_t len, struct ow_event *ev,
                      struct ow_err *err)
{
    yajl_status st;
    size_t esc;
    char why[64];
    int rc;

    if (len == 0) {
        return ow_err_set(err, OW_ESCHEMA, "event", "empty input");
    }
    if (len > OW_EVENT_MAX_BYTES) {
        return ow_err_set(err, OW_ESCHEMA, "event", "%zu bytes is more than the %d-byte limit",
                          len, OW_EVENT_MAX_BYTES);
    }
    dec->in = buf;
    dec->in_len = len;
    dec->depth = 0;
    dec->started = false;
    dec->ended = false;
    dec->hashing = true;
    dec->cur_slot = -1;
    dec->cur_key = NULL;
    dec->pending = false;
    dec->seen = 0;
    dec->arena_used = 0;
    dec->scratch_used = 0;
    dec->bad_off = utf8_bad_offset((const unsigned char *)buf, len);
    if (dec->bad_off != SIZE_MAX) {
        snprintf(dec->bad_text, sizeof(dec->bad_text), "is not valid UTF-8 (byte 0x%02x at offset %zu)",
                 (unsigned char)buf[dec->bad_off], dec->bad_off);
    }
    esc = escape_bad_offset(buf, len, why, sizeof(why));
    if (esc < dec->bad_off) {
        dec->bad_off = esc;
        snprintf(dec->bad_text, sizeof(dec->bad_text), "%s", why);
    }

    st = yajl_parse(dec->yh, (const unsigned char *)buf, len);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(dec->yh);
    }
    if (st != yajl_status_ok) {
        rc = parse_error(dec, st, buf, len, err);
        yajl_free(dec->yh);
        dec->yh = handle_new(dec);
        return rc;
    }
    if (!dec->started) {
        return ow_err_set(err, OW_ESCHEMA, "event", "empty input (only white space)");
    }
    if (dec->bad_off != SIZE_MAX && !dec->pending) {
        /* Not inside any string: yajl would have failed first, but keep the promise. */
        return ow_err_set(err, OW_ESCHEMA, "event", "input %s", dec->bad_text);
    }
    return validate(dec, ev, err);
}
