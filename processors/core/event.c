/* event.c: the one-pass event decoder: a pull loop over the strict JSON scanner (json_scan.h),
 * limits, content hash, and the table-driven checks of event_fields.c.
 *
 * Why it is built this way:
 * - The scanner checks the JSON grammar, strict UTF-8 and the escape rules in the same pass
 *   that hands out tokens, and decodes only strings that hold escapes; so the decoder is one
 *   loop with no callbacks, no pre-scan of the raw bytes and no allocation per event (yajl,
 *   which this replaced, cost about as much as everything else together and still needed a
 *   UTF-8 and escape pre-scan because it is lax about both).
 * - A grammar error ends the decode at once ("not valid JSON: ..."). Every other fault found
 *   while parsing (limits, duplicates, bad UTF-8, \u0000, unpaired surrogates, nesting) is
 *   only recorded, the first one wins, and it is reported when the object has ended: the
 *   type key may come last and the message names the type whatever the key order, and a
 *   grammar error later in the input still wins (as it did with yajl).
 * - Known top-level fields keep their token (strings copied into a per-decoder arena,
 *   NUL-terminated, since struct ow_str promises p[len] == '\0'; numbers point into the
 *   input, which outlives the call) and are converted when the object ends.
 * - Field names are found with a hash of (length, first, middle, last byte) into a table
 *   checked collision-free when the decoder is created, then one inline compare.
 * - The content hash: a key hashes to K = XXH3-128(key, seed H_KEY) (known top-level names
 *   once, when the decoder is created); a member is XXH3-128(value, seed K.low + tag) with
 *   K.high xored into its high lane (value = its decoded bytes or number literal, or a
 *   container's 16-byte hash), so members with different keys or tags differ unless all 128
 *   bits of K collide, and the value is hashed in place with no copy; an object sums its
 *   members per 64-bit lane (order-free); an array chains its elements (ordered). This
 *   replaced one XXH3-128 over a copied (key, tag, value) record per member (about 950
 *   instructions an event, now about half); the hashes of saved remembered ids from before it
 *   no longer match (acceptable: nothing had been deployed).
 */
#include "event.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Header-only xxhash: the short-input paths inline into the loop (measured faster). */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "alloc.h"
#include "bytes.h"
#include "event_fields.h"
#include "json_scan.h"
#include "rfc3339.h"
#include "window.h"

#define NAME_TABLE_SIZE 128 /* power of two, > 2 * OW__F__COUNT */
#define NAME_MAX_LEN 14     /* the longest known field name */
#define SHOW_MAX 60         /* bytes of a value or key quoted in a message */
#define KEY_KEEP 64         /* bytes of an escaped top-level key kept for messages */
#define ARENA_CAP (OW_EVENT_MAX_BYTES + 64)
#define PREDICT_MEMBERS 32 /* top-level member positions whose known field is predicted */

_Static_assert(OW__F__COUNT <= 64, "slot presence is a 64-bit mask");
_Static_assert(sizeof(enum ow_region) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(enum ow_action) == sizeof(int), "enum fields are stored as int");

/* The JSON token a known top-level field held. */
enum tok {
    TOK_ABSENT,
    TOK_STRING,
    TOK_NUMBER,
    TOK_TRUE,
    TOK_FALSE,
    TOK_NULL,
    TOK_OBJECT,
    TOK_ARRAY
};

/* Domain tags (and seeds) of the content hash. */
enum { H_STRING = 1, H_NUMBER, H_TRUE, H_FALSE, H_NULL, H_OBJECT, H_ARRAY, H_ARRAY_STEP, H_KEY };

struct slot {
    const char *p; /* strings: arena copy, NUL-terminated; numbers: the input's literal */
    uint32_t len;
    unsigned char tok;
    bool ascii; /* a string known to be printable ASCII: as many characters as bytes */
};

struct frame {
    uint64_t lane[2]; /* object: sum of member hashes; array: chained element hash */
    uint64_t count;
    uint64_t key[2]; /* object: K of the current member's key */
    bool is_array;
};

struct ow_decoder {
    int depth;    /* the top-level object is depth 1 */
    bool hashing; /* false once the event is known to be invalid */

    int cur_slot; /* slot of the current top-level member, or -1 */
    const char *cur_key;
    size_t cur_key_len;
    char cur_key_copy[KEY_KEEP];

    bool pending; /* an error found while parsing, reported when the object ends */
    bool pending_has_field;
    char pending_field[SHOW_MAX * 6 + 8];
    char pending_text[256];

    uint64_t seen; /* bit per slot: present in this event */
    struct slot slots[OW__F__COUNT];

    char *arena;
    size_t arena_used;
    struct frame frames[OW_EVENT_MAX_DEPTH + 1];
    uint64_t hash[2];

    signed char names[NAME_TABLE_SIZE];
    unsigned char name_len[OW__F__COUNT];
    /* The known field each top-level member position held in the last event (-1: none):
     * producers write one key order, so the next event's key is tried against it first. */
    signed char predicted[PREDICT_MEMBERS];
    unsigned member_at;                 /* position of the next top-level member in this event */
    uint64_t name_key[OW__F__COUNT][2]; /* K of each known name */

    /* Per type: slots that must always be present (envelope and schema_version included), and
     * whether any rule of the type is conditional (then check_required runs field by field). */
    uint64_t req_always[OW_EV__COUNT];
    size_t type_len[OW_EV__COUNT]; /* strlen of each type name (all 1..16 bytes) */
    bool req_conditional[OW_EV__COUNT];

    struct ow_rfc3339_day day; /* the last date parsed (most events of a stream share it) */

    char *strbuf; /* the scanner's buffer for strings with escapes */
    struct ow_json_scan js;
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

/* ---- known field names ---- */

static unsigned name_hash(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;

    return (unsigned)(n + u[0] + u[n - 1] + 2u * u[n / 2]) & (NAME_TABLE_SIZE - 1);
}

/* The NUL-terminated @name equals the @n bytes at @s (which hold no NUL: the scanner rejects
 * raw control bytes and the decoder \u0000). Stops at @name's end, so never reads past it. */
static bool word_is(const char *name, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (name[i] != s[i]) {
            return false;
        }
    }
    return name[n] == '\0';
}

/* XXH3_128bits_withSeed with its length dispatch inline for the short inputs events hold
 * (the same function: xxhash's own steps, exposed by XXH_INLINE_ALL); a call per value cost
 * about a third of the hash. */
static inline __attribute__((always_inline)) XXH128_hash_t hash128(const void *p, size_t n,
                                                                   uint64_t seed)
{
    if (n <= 16) {
        return XXH3_len_0to16_128b((const xxh_u8 *)p, n, XXH3_kSecret, seed);
    }
    if (n <= 128) {
        return XXH3_len_17to128_128b((const xxh_u8 *)p, n, XXH3_kSecret, sizeof(XXH3_kSecret),
                                     seed);
    }
    return XXH3_128bits_withSeed(p, n, seed);
}

/* K of a member name (its decoded bytes). */
static inline void key_hash(const char *s, size_t n, uint64_t out[2])
{
    XXH128_hash_t h = hash128(s, n, H_KEY);

    out[0] = h.low64;
    out[1] = h.high64;
}

/* One probe per lookup: name_hash was chosen (by trying small multipliers) to place the known
 * names without a collision; this checks it, so a new field name that collides fails every
 * test at once (then pick other multipliers) rather than silently failing lookups. */
static void names_build(struct ow_decoder *dec)
{
    memset(dec->names, -1, sizeof(dec->names));
    memset(dec->predicted, -1, sizeof(dec->predicted));
    for (int i = 0; i < OW__F__COUNT; i++) {
        const char *name = ow__field_names[i];
        size_t n = strlen(name);
        unsigned h = name_hash(name, n);

        if (dec->names[h] >= 0 || n > NAME_MAX_LEN) {
            fprintf(stderr, "event: field name table: '%s' collides or is too long\n", name);
            abort();
        }
        dec->names[h] = (signed char)i;
        dec->name_len[i] = (unsigned char)n;
        key_hash(name, n, dec->name_key[i]);
    }
}

static void add_required(struct ow_decoder *dec, int type, const struct ow__field *f)
{
    if (f->req == OW__REQ_ALWAYS) {
        dec->req_always[type] |= UINT64_C(1) << f->slot;
    } else if (f->req != OW__REQ_NO) {
        dec->req_conditional[type] = true;
    }
}

/* The required-field masks of every type, from the tables. */
static void required_build(struct ow_decoder *dec)
{
    for (int t = 0; t < OW_EV__COUNT; t++) {
        dec->type_len[t] = strlen(ow__types[t].name);
        if (dec->type_len[t] < 1 || dec->type_len[t] > 16) {
            fprintf(stderr, "event: type name '%s' is not 1..16 bytes\n", ow__types[t].name);
            abort();
        }
        dec->req_always[t] = UINT64_C(1) << OW__F_SCHEMA_VERSION;
        dec->req_conditional[t] = false;
        for (size_t i = 0; i < ow__envelope_count; i++) {
            add_required(dec, t, &ow__envelope[i]);
        }
        for (size_t i = 0; i < ow__types[t].nfields; i++) {
            add_required(dec, t, &ow__types[t].fields[i]);
        }
    }
}

static inline __attribute__((always_inline)) int names_find(const struct ow_decoder *dec,
                                                            const char *s, size_t n)
{
    int slot;

    if (n == 0 || n > NAME_MAX_LEN) {
        return -1;
    }
    slot = dec->names[name_hash(s, n)];
    if (slot < 0 || dec->name_len[slot] != n || !ow_same_short(ow__field_names[slot], s, n)) {
        return -1;
    }
    return slot;
}

/* names_find, trying first the field this member position held in the last event (one
 * compare instead of the hash and table lookup when producers keep their key order). */
static inline __attribute__((always_inline)) int predicted_find(struct ow_decoder *dec,
                                                                const char *s, size_t n)
{
    unsigned at = dec->member_at++;
    int slot;

    if (at >= PREDICT_MEMBERS) {
        return names_find(dec, s, n);
    }
    slot = dec->predicted[at];
    if (slot >= 0 && dec->name_len[slot] == n && ow_same_short(ow__field_names[slot], s, n)) {
        return slot;
    }
    slot = names_find(dec, s, n);
    dec->predicted[at] = (signed char)slot;
    return slot;
}

/* ---- parse-time state ---- */

/* memcpy of @n bytes for the short keys and values of events, inline: a libc call per member
 * cost more than the copy. Loads and stores stay within [src, src + n) and [dst, dst + n)
 * (overlapping halves), so nothing past either buffer is touched. */
static inline void copy_small(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    if (n > 32) {
        memcpy(d, s, n);
    } else if (n >= 16) {
        uint64_t a[2];
        uint64_t b[2];

        memcpy(a, s, 16);
        memcpy(b, s + n - 16, 16);
        memcpy(d, a, 16);
        memcpy(d + n - 16, b, 16);
    } else if (n >= 8) {
        uint64_t a;
        uint64_t b;

        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a;
        uint32_t b;

        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else {
        for (size_t i = 0; i < n; i++) {
            d[i] = s[i];
        }
    }
}

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

static void string_fault(struct ow_decoder *dec, bool at_member, const char *subject)
{
    const struct ow_json_scan *js = &dec->js;
    char text[128];

    switch (js->fault) {
    case OW_JSON_FAULT_NONE:
        break;
    case OW_JSON_FAULT_UTF8:
        snprintf(text, sizeof(text), "is not valid UTF-8 (byte 0x%02x at offset %zu)",
                 js->start[js->fault_off], js->fault_off);
        fail(dec, at_member, subject, text);
        break;
    case OW_JSON_FAULT_NUL:
        fail(dec, at_member, subject, "contains \\u0000");
        break;
    case OW_JSON_FAULT_SURROGATE:
        snprintf(text, sizeof(text), "contains an unpaired surrogate escape \\u%.4s",
                 (const char *)js->start + js->fault_off + 2);
        fail(dec, at_member, subject, text);
        break;
    }
    if (js->len > OW_EVENT_MAX_STRING) {
        snprintf(text, sizeof(text), "of %zu bytes is longer than the %d-byte limit", js->len,
                 OW_EVENT_MAX_STRING);
        fail(dec, at_member, subject, text);
    }
}

/* Checks shared by keys and string values: the scanner's fault and the length limit. */
static inline void check_string(struct ow_decoder *dec, bool at_member, const char *subject)
{
    if (__builtin_expect(dec->js.fault != OW_JSON_FAULT_NONE || dec->js.len > OW_EVENT_MAX_STRING,
                         0)) {
        string_fault(dec, at_member, subject);
    }
}

static void store_slot(struct ow_decoder *dec, enum tok tok, const char *p, size_t n)
{
    struct slot *s = &dec->slots[dec->cur_slot];

    s->tok = (unsigned char)tok;
    s->p = p;
    s->len = (uint32_t)n;
    s->ascii = false;
    if (tok == TOK_STRING) {
        /* Cannot overflow: the arena is as large as the input, and copies never overlap. */
        char *a = dec->arena + dec->arena_used;

        copy_small(a, p, n);
        a[n] = '\0';
        s->p = a;
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
    h = hash128(p, n, f->key[0] + tag);
    f->lane[0] += h.low64;
    f->lane[1] += h.high64 ^ f->key[1];
    f->count++;
}

static void scalar(struct ow_decoder *dec, enum tok tok, unsigned tag, const char *p, size_t n)
{
    if (dec->depth == 1 && dec->cur_slot >= 0) {
        store_slot(dec, tok, p, n);
    }
    if (dec->hashing) {
        hash_value(dec, tag, p, n);
    }
}

static void on_key(struct ow_decoder *dec)
{
    const char *s = dec->js.str;
    size_t n = dec->js.len;
    struct frame *f;

    if (dec->depth == 1) {
        dec->cur_key = NULL;
        check_string(dec, false, "field name ");
        dec->cur_slot = predicted_find(dec, s, n);
        if (!dec->js.escaped) {
            dec->cur_key = s;
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
        check_string(dec, true, "field name ");
    }
    if (!dec->hashing) {
        return;
    }
    f = &dec->frames[dec->depth];
    if (dec->depth == 1 && dec->cur_slot >= 0) {
        f->key[0] = dec->name_key[dec->cur_slot][0];
        f->key[1] = dec->name_key[dec->cur_slot][1];
    } else {
        key_hash(s, n, f->key);
    }
}

/* A whole plain top-level member from ow_json_member (key and string values printable ASCII
 * without escapes, so no scanner fault) while the event is still clean: what on_key and
 * scalar would do, in one step. Returns false, having changed nothing, for anything that
 * could fail (a long string, a repeated known name) or is not top-level: the general path
 * then handles and words it. */
static inline __attribute__((always_inline)) bool
top_member(struct ow_decoder *dec, enum ow_json_tok jt, const char *key, size_t key_len)
{
    static const unsigned char tok_of[] = {
        [OW_JSON_STRING] = TOK_STRING, [OW_JSON_INT] = TOK_NUMBER, [OW_JSON_TRUE] = TOK_TRUE,
        [OW_JSON_FALSE] = TOK_FALSE,   [OW_JSON_NULL] = TOK_NULL,
    };
    static const unsigned char tag_of[] = {
        [OW_JSON_STRING] = H_STRING, [OW_JSON_INT] = H_NUMBER, [OW_JSON_TRUE] = H_TRUE,
        [OW_JSON_FALSE] = H_FALSE,   [OW_JSON_NULL] = H_NULL,
    };
    struct frame *f = &dec->frames[1];
    const char *val = dec->js.str;
    size_t n = dec->js.len;
    int slot;
    XXH128_hash_t h;
    uint64_t k0;
    uint64_t k1;

    if (dec->depth != 1 || !dec->hashing || key_len > OW_EVENT_MAX_STRING ||
        n > OW_EVENT_MAX_STRING) {
        return false;
    }
    slot = predicted_find(dec, key, key_len);
    if (slot >= 0) {
        uint64_t bit = UINT64_C(1) << slot;
        struct slot *s = &dec->slots[slot];

        if (dec->seen & bit) {
            return false;
        }
        dec->seen |= bit;
        s->tok = tok_of[jt];
        s->p = val;
        s->len = (uint32_t)n;
        s->ascii = true; /* ow_json_member's strings are printable ASCII */
        if (jt == OW_JSON_STRING) {
            /* Cannot overflow: the arena is as large as the input, copies never overlap. */
            char *a = dec->arena + dec->arena_used;

            copy_small(a, val, n);
            a[n] = '\0';
            s->p = a;
            dec->arena_used += n + 1;
        }
        k0 = dec->name_key[slot][0];
        k1 = dec->name_key[slot][1];
    } else {
        h = hash128(key, key_len, H_KEY);
        k0 = h.low64;
        k1 = h.high64;
    }
    dec->cur_slot = slot;
    dec->cur_key = key;
    dec->cur_key_len = key_len;
    h = hash128(val, n, k0 + tag_of[jt]);
    f->lane[0] += h.low64;
    f->lane[1] += h.high64 ^ k1;
    f->count++;
    return true;
}

static void open_container(struct ow_decoder *dec, bool is_array)
{
    if (dec->depth == 1 && dec->cur_slot >= 0) {
        store_slot(dec, is_array ? TOK_ARRAY : TOK_OBJECT, NULL, 0);
    }
    dec->depth++;
    if (dec->depth > OW_EVENT_MAX_DEPTH) {
        if (dec->depth == OW_EVENT_MAX_DEPTH + 1) {
            char text[64];

            snprintf(text, sizeof(text), "nests deeper than %d levels", OW_EVENT_MAX_DEPTH);
            fail(dec, true, "", text);
        }
        return;
    }
    if (dec->hashing) {
        struct frame *f = &dec->frames[dec->depth];

        f->lane[0] = 0;
        f->lane[1] = 0;
        f->count = 0;
        f->is_array = is_array;
    }
}

static void close_container(struct ow_decoder *dec)
{
    XXH128_hash_t h;
    uint64_t fin[3];
    unsigned char bytes[16];
    struct frame *f;

    if (!dec->hashing) {
        dec->depth--;
        return;
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
        return;
    }
    memcpy(bytes, &h.low64, 8);
    memcpy(bytes + 8, &h.high64, 8);
    hash_value(dec, f->is_array ? H_ARRAY : H_OBJECT, bytes, sizeof(bytes));
}

static int not_json(struct ow_decoder *dec, struct ow_err *err)
{
    char text[160];

    if (dec->js.err == OW_JSON_E_TRAILING) {
        return ow_err_set(err, OW_ESCHEMA, "event",
                          "not valid JSON: trailing garbage after the object");
    }
    return ow_err_set(err, OW_ESCHEMA, "event", "not valid JSON: %s",
                      ow_json_error_text(&dec->js, text, sizeof(text)));
}

/* The whole input through the scanner: OW_OK once the object ended with nothing after it
 * (faults other than grammar errors are pending in @dec), or an error in @err. */
static int parse(struct ow_decoder *dec, struct ow_err *err)
{
    struct ow_json_scan *js = &dec->js;
    const char *what;

    switch (ow_json_next(js)) {
    case OW_JSON_OBJECT:
        break;
    case OW_JSON_ERROR:
        return not_json(dec, err);
    case OW_JSON_ARRAY:
        what = "an array";
        goto not_object;
    case OW_JSON_STRING:
        what = "a string";
        goto not_object;
    case OW_JSON_INT:
    case OW_JSON_REAL:
        what = "a number";
        goto not_object;
    case OW_JSON_TRUE:
        what = "true";
        goto not_object;
    case OW_JSON_FALSE:
        what = "false";
        goto not_object;
    default:
        what = "null";
        goto not_object;
    }
    dec->depth = 0;
    open_container(dec, false);
    for (;;) {
        const char *key;
        size_t key_len;
        enum ow_json_tok tok = ow_json_member(js, &key, &key_len);

        if (tok != OW_JSON_ERROR && top_member(dec, tok, key, key_len)) {
            continue;
        }
        if (tok != OW_JSON_ERROR) {
            /* A whole member at once: the key goes through on_key as if it were the token. */
            const char *val = js->str;
            size_t val_len = js->len;

            js->str = key;
            js->len = key_len;
            on_key(dec);
            js->str = val;
            js->len = val_len;
        } else {
            tok = ow_json_next(js);
        }
        switch (tok) {
        case OW_JSON_KEY:
            on_key(dec);
            break;
        case OW_JSON_STRING:
            check_string(dec, true, "string ");
            scalar(dec, TOK_STRING, H_STRING, js->str, js->len);
            break;
        case OW_JSON_INT:
        case OW_JSON_REAL:
            scalar(dec, TOK_NUMBER, H_NUMBER, js->str, js->len);
            break;
        case OW_JSON_TRUE:
            scalar(dec, TOK_TRUE, H_TRUE, NULL, 0);
            break;
        case OW_JSON_FALSE:
            scalar(dec, TOK_FALSE, H_FALSE, NULL, 0);
            break;
        case OW_JSON_NULL:
            scalar(dec, TOK_NULL, H_NULL, NULL, 0);
            break;
        case OW_JSON_OBJECT:
            open_container(dec, false);
            break;
        case OW_JSON_ARRAY:
            open_container(dec, true);
            break;
        case OW_JSON_CLOSE:
            close_container(dec);
            if (dec->depth == 0) {
                goto closed;
            }
            break;
        case OW_JSON_ERROR:
        case OW_JSON_END:
            return not_json(dec, err);
        }
    }
closed:
    if (ow_json_next(js) != OW_JSON_END) {
        return not_json(dec, err);
    }
    return OW_OK;

not_object:
    return ow_err_set(err, OW_ESCHEMA, "event", "expected a JSON object at the top level, got %s",
                      what);
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
 * int64 range. @s is a well-formed JSON number (the scanner checked it). */
static int parse_int64(const char *s, size_t n, int64_t *out)
{
    bool neg = n > 0 && s[0] == '-';
    uint64_t limit = neg ? UINT64_C(1) << 63 : (UINT64_C(1) << 63) - 1;
    uint64_t v = 0;

    /* Up to 18 digits cannot leave the range: one pass, no overflow test per digit. */
    if (n - neg <= 18) {
        for (size_t i = neg; i < n; i++) {
            unsigned d = (unsigned)(s[i] - '0');

            if (d > 9) {
                return 1;
            }
            v = v * 10 + d;
        }
        *out = neg ? (int64_t)(0 - v) : (int64_t)v;
        return 0;
    }
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

/* UTF-8 code points in @s: bytes that are not continuation bytes (10xxxxxx); ASCII words of
 * eight bytes are skipped whole. */
static size_t code_points(const char *s, size_t n)
{
    size_t cont = 0;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t w;

        memcpy(&w, s + i, 8);
        if (w & UINT64_C(0x8080808080808080)) {
            for (size_t j = i; j < i + 8; j++) {
                cont += ((unsigned char)s[j] & 0xC0) == 0x80;
            }
        }
    }
    for (; i < n; i++) {
        cont += ((unsigned char)s[i] & 0xC0) == 0x80;
    }
    return n - cont;
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

/* The message for a field store_field refused: the checks again, this time with words. Kept out
 * of store_field so that its hot path has no message buffers and no formatting. */
static __attribute__((noinline, cold)) int field_fault(const struct ow_decoder *dec,
                                                       const char *prefix,
                                                       const struct ow__field *f,
                                                       struct ow_err *err)
{
    const char *name = ow__field_names[f->slot];
    const struct slot *s = &dec->slots[f->slot];
    enum tok tok = slot_tok(dec, f->slot);
    char buf[SHOW_MAX * 6 + 8];
    const char *shown = show_token(s, buf, sizeof(buf));
    char expect[160];
    const char *why;
    int64_t v64;
    int rc;

    switch (f->kind) {
    case OW__K_STR:
        return field_err(err, prefix, name, "expected string, got %s", shown);
    case OW__K_ID:
        v64 = tok == TOK_STRING ? (int64_t)code_points(s->p, s->len) : -1;
        if (v64 < 0) {
            return field_err(err, prefix, name, "expected string of %lld..%lld characters, got %s",
                             (long long)f->min, (long long)f->max, shown);
        }
        if (v64 == 0) {
            return field_err(err, prefix, name,
                             "expected string of %lld..%lld characters, got \"\"",
                             (long long)f->min, (long long)f->max);
        }
        return field_err(err, prefix, name,
                         "expected string of %lld..%lld characters, got %lld characters",
                         (long long)f->min, (long long)f->max, (long long)v64);
    case OW__K_SERVICE_REF:
        return field_err(err, prefix, name,
                         "expected service reference of 1 to 4 dot-separated numbers "
                         "(e.g. \"8.14.2\"), got %s",
                         shown);
    case OW__K_ENUM:
        return field_err(err, prefix, name, "expected one of %s, got %s",
                         join_names(f->names, expect, sizeof(expect)), shown);
    case OW__K_INT:
    case OW__K_INT64:
        rc = tok == TOK_NUMBER ? parse_int64(s->p, s->len, &v64) : 1;
        if (rc == 2) {
            return field_err(err, prefix, name, "expected %s, got %s (out of the 64-bit range)",
                             int_expectation(f, expect, sizeof(expect)), shown);
        }
        return field_err(err, prefix, name, "expected %s, got %s",
                         int_expectation(f, expect, sizeof(expect)), shown);
    case OW__K_BOOL:
        return field_err(err, prefix, name, "expected true or false, got %s", shown);
    case OW__K_TIME:
        if (tok != TOK_STRING) {
            return field_err(err, prefix, name, "expected RFC 3339 date-time string, got %s",
                             shown);
        }
        if (ow_rfc3339_parse(s->p, s->len, &v64, &why) != 0) {
            return field_err(err, prefix, name, "expected RFC 3339 date-time, got %s: %s", shown,
                             why);
        }
        break;
    case OW__K_PERIOD:
        return field_err(err, prefix, name, "expected month \"YYYY-MM\" (month 01..12), got %s",
                         shown);
    }
    return field_err(err, prefix, name, "unsupported field kind");
}

/* A "YYYY-MM" month as year * 12 + month - 1, or -1: the window parser's month, from year 1
 * (an event's period is a real month, and "YYYY-Qn" is not one). */
static int parse_period(const char *p, size_t n)
{
    struct ow_window_id w;

    if (ow_window_parse(p, n, &w) != 0 || w.kind != OW_WIN_MONTH || w.index < 12) {
        return -1;
    }
    return w.index;
}

/* Convert and range-check one present field of @ev's table into @ev; field_fault words a
 * refusal. */
static inline __attribute__((always_inline)) int
store_field(struct ow_decoder *dec, struct ow_event *ev, const char *prefix,
            const struct ow__field *f, struct ow_err *err)
{
    const struct slot *s = &dec->slots[f->slot];
    enum tok tok = slot_tok(dec, f->slot);
    const char *why;
    int64_t v64;
    int8_t b8;
    int v;

    if (tok == TOK_ABSENT) {
        if (f->kind == OW__K_INT64) {
            memcpy((char *)ev + f->offset, &f->dflt, sizeof(f->dflt));
        }
        return OW_OK;
    }
    switch (f->kind) {
    case OW__K_STR:
        if (tok != TOK_STRING) {
            break;
        }
        put_str(ev, f->offset, s);
        return OW_OK;
    case OW__K_ID:
        if (tok != TOK_STRING) {
            break;
        }
        v64 = s->ascii ? (int64_t)s->len : (int64_t)code_points(s->p, s->len);
        if (v64 < f->min || v64 > f->max) {
            break;
        }
        put_str(ev, f->offset, s);
        return OW_OK;
    case OW__K_SERVICE_REF:
        if (tok != TOK_STRING || !service_ref_ok(s->p, s->len)) {
            break;
        }
        put_str(ev, f->offset, s);
        return OW_OK;
    case OW__K_ENUM:
        if (tok != TOK_STRING) {
            break;
        }
        for (int i = 0; f->names[i] != NULL; i++) {
            if (word_is(f->names[i], s->p, s->len)) {
                put_int(ev, f->offset, f->values != NULL ? f->values[i] : i);
                return OW_OK;
            }
        }
        break;
    case OW__K_INT:
    case OW__K_INT64:
        if (tok != TOK_NUMBER || parse_int64(s->p, s->len, &v64) != 0 || v64 < f->min ||
            v64 > f->max) {
            break;
        }
        if (f->kind == OW__K_INT) {
            put_int(ev, f->offset, (int)v64);
        } else {
            memcpy((char *)ev + f->offset, &v64, sizeof(v64));
        }
        return OW_OK;
    case OW__K_BOOL:
        if (tok != TOK_TRUE && tok != TOK_FALSE) {
            break;
        }
        b8 = tok == TOK_TRUE;
        memcpy((char *)ev + f->offset, &b8, sizeof(b8));
        return OW_OK;
    case OW__K_TIME:
        if (tok != TOK_STRING || ow_rfc3339_parse_day(&dec->day, s->p, s->len, &v64, &why) != 0) {
            break;
        }
        memcpy((char *)ev + f->offset, &v64, sizeof(v64));
        if (f->has_flag) {
            bool yes = true;

            memcpy((char *)ev + f->flag_offset, &yes, sizeof(yes));
        }
        return OW_OK;
    case OW__K_PERIOD:
        v = tok == TOK_STRING ? parse_period(s->p, s->len) : -1;
        if (v < 0) {
            break;
        }
        put_int(ev, f->offset, v);
        return OW_OK;
    }
    return field_fault(dec, prefix, f, err);
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

/* Zero @ev. Why not memset: GCC makes that "rep stos" for a struct this size, whose start-up
 * alone was 11% of validate's samples in a backlog (perf); 16-byte stores (the last one
 * overlapping) cost a few cycles. The loop is unrolled by pragma because GCC otherwise turns
 * it back into the memset. */
static inline void event_zero(struct ow_event *ev)
{
#ifdef __SSE2__
    char *p = (char *)ev;
    const __m128i zero = _mm_setzero_si128();

    _Static_assert(sizeof(*ev) >= 16, "the last store overlaps");
#pragma GCC unroll 32
    for (size_t off = 0; off + 16 <= sizeof(*ev); off += 16) {
        _mm_storeu_si128((__m128i *)(void *)(p + off), zero);
    }
    _mm_storeu_si128((__m128i *)(void *)(p + sizeof(*ev) - 16), zero);
#else
    memset(ev, 0, sizeof(*ev));
#endif
}

static void event_init(struct ow_event *ev)
{
    event_zero(ev);
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

    if (s->tok == TOK_NUMBER && s->len == 1 && s->p[0] == '1') {
        return OW_OK;
    }
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

static int validate(struct ow_decoder *dec, struct ow_event *ev, struct ow_err *err)
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
            if (ts->len == dec->type_len[i] && ow_same_short(ow__types[i].name, ts->p, ts->len)) {
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
    /* The envelope's fields, then the type's: one loop, so store_field is inlined once. */
    for (size_t i = 0, n = ow__envelope_count + t->nfields; i < n; i++) {
        const struct ow__field *f =
            i < ow__envelope_count ? &ow__envelope[i] : &t->fields[i - ow__envelope_count];

        rc = store_field(dec, ev, prefix, f, err);
        if (rc != OW_OK) {
            return rc;
        }
    }
    /* Every required field present and no conditional rule: the walk below would find
     * nothing. Otherwise it runs, so the first missing field in table order is reported. */
    if ((dec->seen & dec->req_always[type]) == dec->req_always[type] &&
        !dec->req_conditional[type]) {
        goto finish;
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
finish:
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
    dec->strbuf = ow_xmalloc(OW_EVENT_MAX_BYTES + 16);
    names_build(dec);
    required_build(dec);
    return dec;
}

void ow_decoder_destroy(struct ow_decoder *dec)
{
    if (dec == NULL) {
        return;
    }
    free(dec->strbuf);
    free(dec->arena);
    free(dec);
}

int ow_decoder_decode(struct ow_decoder *dec, const char *buf, size_t len, struct ow_event *ev,
                      struct ow_err *err)
{
    size_t i = 0;
    int rc;

    if (len == 0) {
        return ow_err_set(err, OW_ESCHEMA, "event", "empty input");
    }
    if (len > OW_EVENT_MAX_BYTES) {
        return ow_err_set(err, OW_ESCHEMA, "event", "%zu bytes is more than the %d-byte limit", len,
                          OW_EVENT_MAX_BYTES);
    }
    while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')) {
        i++;
    }
    if (i == len) {
        return ow_err_set(err, OW_ESCHEMA, "event", "empty input (only white space)");
    }
    dec->depth = 0;
    dec->hashing = true;
    dec->cur_slot = -1;
    dec->cur_key = NULL;
    dec->member_at = 0;
    dec->pending = false;
    dec->seen = 0;
    dec->arena_used = 0;
    ow_json_begin(&dec->js, buf, len, dec->strbuf);
    rc = parse(dec, err);
    if (rc != OW_OK) {
        return rc;
    }
    return validate(dec, ev, err);
}
