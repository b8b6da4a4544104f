/* json_scan.h: a strict, single-pass, pull JSON tokenizer (RFC 8259) for one document.
 *
 * The caller drives it: each ow_json_next() returns the next token of the document, with the
 * grammar already checked (no trailing commas, no comments, no leading zeros, no "+1", ".5",
 * "1.", NaN or Infinity, no control characters in strings, only the eight short escapes and
 * \uXXXX, one top-level value followed by white space only). After an OW_JSON_ERROR token the
 * scanner stays in error; ow_json_error_text() says why and where.
 *
 * Strings (keys and values) come decoded: they point into the input when they hold no escape,
 * otherwise into the caller's decode buffer (reused by the next escaped string), and are not
 * NUL-terminated. Three faults are not grammar errors, so a string holding one is still
 * returned (with .fault set to the first one in it) and scanning goes on:
 *   - bytes that are not strict UTF-8 (overlong forms, UTF-8-encoded surrogates, code points
 *     past U+10FFFF, stray or missing continuation bytes): the bad byte is kept as is;
 *   - \u0000;
 *   - a surrogate escape that is not a high one directly followed by a low one.
 * Numbers come as their literal text, told apart as OW_JSON_INT (no fraction, no exponent)
 * and OW_JSON_REAL; their range is the caller's business.
 *
 * The hot path is inline (this header); escapes, non-ASCII bytes and errors go through
 * json_scan.c. Nesting is limited only by OW_JSON_MAX_DEPTH.
 */
#ifndef OW_JSON_SCAN_H
#define OW_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define OW_JSON_MAX_DEPTH 65536

enum ow_json_tok {
    OW_JSON_ERROR,  /* a grammar error; the scanner stays in error */
    OW_JSON_END,    /* the top-level value ended and only white space followed */
    OW_JSON_OBJECT, /* '{' */
    OW_JSON_ARRAY,  /* '[' */
    OW_JSON_CLOSE,  /* '}' or ']' (the one that matches: the grammar is checked) */
    OW_JSON_KEY,    /* a member name, its ':' consumed: .str, .len, .fault */
    OW_JSON_STRING, /* .str, .len, .fault */
    OW_JSON_INT,    /* .str, .len: the literal, e.g. "-12" */
    OW_JSON_REAL,   /* .str, .len: the literal, e.g. "1.5e3" */
    OW_JSON_TRUE,
    OW_JSON_FALSE,
    OW_JSON_NULL,
};

enum ow_json_fault {
    OW_JSON_FAULT_NONE,
    OW_JSON_FAULT_UTF8,      /* .fault_off: the first byte of the bad sequence */
    OW_JSON_FAULT_NUL,       /* .fault_off: the backslash of \u0000 */
    OW_JSON_FAULT_SURROGATE, /* .fault_off: the backslash of the unpaired \uXXXX */
};

enum ow_json_err {
    OW_JSON_E_NONE,
    OW_JSON_E_EOF,        /* the input ended inside the value */
    OW_JSON_E_UNEXPECTED, /* .err_off: a byte that cannot come there (.err_expect says what can) */
    OW_JSON_E_CONTROL,    /* .err_off: a raw byte < 0x20 inside a string */
    OW_JSON_E_ESCAPE,     /* .err_off: a backslash not followed by one of "\/bfnrtu */
    OW_JSON_E_UNICODE,    /* .err_off: \u not followed by four hex digits */
    OW_JSON_E_ZERO,       /* .err_off: a digit after a leading zero */
    OW_JSON_E_DIGIT,      /* .err_off: no digit after '-', '.', 'e' */
    OW_JSON_E_TRAILING,   /* .err_off: something after the top-level value */
    OW_JSON_E_DEPTH,      /* nesting deeper than OW_JSON_MAX_DEPTH */
};

/* What the scanner expects next (private to json_scan; named for messages). */
enum ow__json_state {
    OW__JS_VALUE,       /* a value (top level, after ':' or after ',' in an array) */
    OW__JS_OBJ_FIRST,   /* after '{': a key or '}' */
    OW__JS_ARR_FIRST,   /* after '[': a value or ']' */
    OW__JS_AFTER_VALUE, /* in a container, after a value: ',' or the closing bracket */
    OW__JS_DONE,        /* after the top-level value: white space, then the end */
    OW__JS_ERROR,
    OW__JS_KEY,        /* after ',' in an object (only used for messages) */
    OW__JS_COLON,      /* after a key (only used for messages) */
    OW__JS_IN_STRING,  /* inside a string (only used for messages) */
    OW__JS_IN_LITERAL, /* inside true, false or null (only used for messages) */
    OW__JS_DIGIT,      /* inside a number (only used for messages) */
};

struct ow_json_scan {
    const unsigned char *p; /* next byte */
    const unsigned char *start;
    const unsigned char *end;
    unsigned char *buf; /* decoded strings with escapes; at least as long as the input */

    /* The current token. */
    const char *str;
    size_t len;
    size_t off;   /* offset of the token's first byte (a string's opening quote) */
    bool escaped; /* .str points into buf, not into the input */
    enum ow_json_fault fault;
    size_t fault_off;

    /* Grammar. */
    enum ow__json_state state;
    uint32_t depth;
    enum ow_json_err err;
    size_t err_off;
    enum ow__json_state err_expect;
    bool in_object; /* the innermost open container is an object (its is_object bit) */
    uint64_t is_object[OW_JSON_MAX_DEPTH / 64]; /* bit per open container: object or array */
};

/**
 * Start scanning the @len bytes at @in. @buf (at least @len bytes) receives the decoded text
 * of strings that hold escapes. Both must outlive the scan.
 */
void ow_json_begin(struct ow_json_scan *js, const char *in, size_t len, char *buf);

/** A short English reason for the current error, e.g. "unexpected ',' at offset 57 (expected a
 * value)", in @out (@cap bytes, at least 96); returns @out. */
const char *ow_json_error_text(const struct ow_json_scan *js, char *out, size_t cap);

/* ---- private: the slow paths (json_scan.c) ---- */
enum ow_json_tok ow__json_fail(struct ow_json_scan *js, enum ow_json_err err,
                               const unsigned char *at, enum ow__json_state expect);
const unsigned char *ow__json_string_slow(struct ow_json_scan *js, const unsigned char *s,
                                          const unsigned char *q);
enum ow_json_tok ow__json_number(struct ow_json_scan *js, const unsigned char *p);
enum ow_json_tok ow__json_literal(struct ow_json_scan *js, const unsigned char *p);
extern const unsigned char ow__json_plain[256];

/* ---- the hot path ---- */

static inline const unsigned char *ow__json_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
        p++;
    }
    return p;
}

/* @p, or the first byte after white space at @p, when that byte is @c; otherwise NULL. The
 * compact form (no white space) costs one compare. */
static inline const unsigned char *ow__json_at(const unsigned char *p, const unsigned char *end,
                                               unsigned char c)
{
    if (p < end && *p == c) {
        return p;
    }
    if (p < end && *p <= ' ') {
        p = ow__json_ws(p, end);
        if (p < end && *p == c) {
            return p;
        }
    }
    return NULL;
}

#ifdef __SSE2__
/* Bit i set: byte i of the 16 at @p is '"', '\\', < 0x20 or >= 0x80. */
static inline unsigned ow__json_special16(const unsigned char *p)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    /* Signed compare: bytes >= 0x80 are negative, so "< 0x20" catches them too. */
    const __m128i m = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
        _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));

    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* The first byte at or after @p that is '"', '\\', < 0x20 or >= 0x80, or @end. @start is the
 * input's first byte: the last (partial) block is read as the input's last 16 bytes. */
static inline const unsigned char *
ow__json_plain_run(const unsigned char *start, const unsigned char *p, const unsigned char *end)
{
#ifdef __SSE2__
    unsigned mask;

    while (end - p >= 16) {
        mask = ow__json_special16(p);
        if (mask != 0) {
            return p + __builtin_ctz(mask);
        }
        p += 16;
    }
    if (p < end && end - start >= 16) {
        /* The last 16 bytes, shifted so that bit 0 is @p: no byte loop at the input's end. */
        mask = ow__json_special16(end - 16) >> (16 - (end - p));
        return mask != 0 ? p + __builtin_ctz(mask) : end;
    }
#else
    (void)start;
#endif
    while (p < end && ow__json_plain[*p]) {
        p++;
    }
    return p;
}

/* A string whose opening quote is at @p - 1: returns the byte after its closing quote, or NULL
 * on a grammar error. */
static inline const unsigned char *ow__json_string(struct ow_json_scan *js, const unsigned char *p)
{
    const unsigned char *q = ow__json_plain_run(js->start, p, js->end);

    if (q < js->end && *q == '"') {
        js->str = (const char *)p;
        js->len = (size_t)(q - p);
        js->escaped = false;
        js->fault = OW_JSON_FAULT_NONE;
        return q + 1;
    }
    return ow__json_string_slow(js, p, q);
}

static inline bool ow__json_in_object(const struct ow_json_scan *js)
{
    return js->in_object;
}

static inline enum ow_json_tok ow__json_open(struct ow_json_scan *js, const unsigned char *p,
                                             bool object)
{
    uint32_t d = js->depth + 1;
    uint64_t bit = UINT64_C(1) << (d & 63);

    if (d >= OW_JSON_MAX_DEPTH) {
        return ow__json_fail(js, OW_JSON_E_DEPTH, p, OW__JS_VALUE);
    }
    js->depth = d;
    js->is_object[d >> 6] = object ? js->is_object[d >> 6] | bit : js->is_object[d >> 6] & ~bit;
    js->in_object = object;
    js->state = object ? OW__JS_OBJ_FIRST : OW__JS_ARR_FIRST;
    js->p = p + 1;
    return object ? OW_JSON_OBJECT : OW_JSON_ARRAY;
}

static inline enum ow_json_tok ow__json_close(struct ow_json_scan *js, const unsigned char *p)
{
    js->depth--;
    js->in_object = js->depth > 0 && ((js->is_object[js->depth >> 6] >> (js->depth & 63)) & 1);
    js->state = js->depth == 0 ? OW__JS_DONE : OW__JS_AFTER_VALUE;
    js->p = p + 1;
    return OW_JSON_CLOSE;
}

/** The next token. */
static inline __attribute__((always_inline)) enum ow_json_tok ow_json_next(struct ow_json_scan *js)
{
    const unsigned char *end = js->end;
    const unsigned char *p = js->p;

    if (p < end && *p <= ' ') {
        p = ow__json_ws(p, end);
    }
    switch (js->state) {
    case OW__JS_AFTER_VALUE:
        if (p == end) {
            return ow__json_fail(js, OW_JSON_E_EOF, p, OW__JS_AFTER_VALUE);
        }
        if (*p == ',') {
            p++;
            if (p < end && *p <= ' ') {
                p = ow__json_ws(p, end);
            }
            if (ow__json_in_object(js)) {
                goto key;
            }
            goto value;
        }
        if (*p == (ow__json_in_object(js) ? '}' : ']')) {
            return ow__json_close(js, p);
        }
        return ow__json_fail(js, OW_JSON_E_UNEXPECTED, p, OW__JS_AFTER_VALUE);
    case OW__JS_OBJ_FIRST:
        if (p < end && *p == '}') {
            return ow__json_close(js, p);
        }
        goto key;
    case OW__JS_ARR_FIRST:
        if (p < end && *p == ']') {
            return ow__json_close(js, p);
        }
        goto value;
    case OW__JS_VALUE:
        goto value;
    case OW__JS_DONE:
        if (p == end) {
            js->p = p;
            return OW_JSON_END;
        }
        return ow__json_fail(js, OW_JSON_E_TRAILING, p, OW__JS_DONE);
    default:
        return OW_JSON_ERROR;
    }

key:
    if (p == end || *p != '"') {
        return ow__json_fail(js, p == end ? OW_JSON_E_EOF : OW_JSON_E_UNEXPECTED, p, OW__JS_KEY);
    }
    js->off = (size_t)(p - js->start);
    p = ow__json_string(js, p + 1);
    if (p == NULL) {
        return OW_JSON_ERROR;
    }
    if (p < end && *p <= ' ') {
        p = ow__json_ws(p, end);
    }
    if (p == end || *p != ':') {
        return ow__json_fail(js, p == end ? OW_JSON_E_EOF : OW_JSON_E_UNEXPECTED, p, OW__JS_COLON);
    }
    js->p = p + 1;
    js->state = OW__JS_VALUE;
    return OW_JSON_KEY;

value:
    if (p == end) {
        return ow__json_fail(js, OW_JSON_E_EOF, p, OW__JS_VALUE);
    }
    js->off = (size_t)(p - js->start);
    switch (*p) {
    case '"':
        p = ow__json_string(js, p + 1);
        if (p == NULL) {
            return OW_JSON_ERROR;
        }
        js->p = p;
        js->state = js->depth == 0 ? OW__JS_DONE : OW__JS_AFTER_VALUE;
        return OW_JSON_STRING;
    case '{':
        return ow__json_open(js, p, true);
    case '[':
        return ow__json_open(js, p, false);
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return ow__json_number(js, p);
    case 't':
    case 'f':
    case 'n':
        return ow__json_literal(js, p);
    default:
        return ow__json_fail(js, OW_JSON_E_UNEXPECTED, p, OW__JS_VALUE);
    }
}

/**
 * One object member in one call, for the common case. When the scanner is inside an object
 * before a member (after '{' or after a value) and the member is `"key": value` where the key
 * holds only printable ASCII without escapes and the value is such a string, an integer
 * literal, true, false or null: returns the value's token (.str, .len as ow_json_next() gives
 * them), the key in *@key and *@key_len, and leaves the scanner exactly where the two
 * ow_json_next() calls (OW_JSON_KEY, then the value) would. In every other case (including
 * every grammar error, a '}', escapes, non-ASCII bytes, reals) it changes nothing and returns
 * OW_JSON_ERROR, meaning only "not here": call ow_json_next(), which handles and words it all.
 */
static inline __attribute__((always_inline)) enum ow_json_tok
ow_json_member(struct ow_json_scan *js, const char **key, size_t *key_len)
{
    const unsigned char *end = js->end;
    const unsigned char *p = js->p;
    const unsigned char *k;
    const unsigned char *kq;
    const unsigned char *v;
    const unsigned char *q;
    enum ow_json_tok tok;

    if ((js->state != OW__JS_AFTER_VALUE && js->state != OW__JS_OBJ_FIRST) ||
        !ow__json_in_object(js)) {
        return OW_JSON_ERROR;
    }
    if (js->state == OW__JS_AFTER_VALUE) {
        p = ow__json_at(p, end, ',');
        if (p == NULL) {
            return OW_JSON_ERROR;
        }
        p++;
    }
    p = ow__json_at(p, end, '"');
    if (p == NULL) {
        return OW_JSON_ERROR;
    }
    k = p + 1;
    kq = ow__json_plain_run(js->start, k, end);
    if (kq == end || *kq != '"') {
        return OW_JSON_ERROR;
    }
    p = ow__json_at(kq + 1, end, ':');
    if (p == NULL) {
        return OW_JSON_ERROR;
    }
    p++;
    if (p == end) {
        return OW_JSON_ERROR;
    }
    if (*p <= ' ') {
        p = ow__json_ws(p, end);
        if (p == end) {
            return OW_JSON_ERROR;
        }
    }
    v = p;
    /* Strings first: most values of events are (the switch's table costs more). */
    if (__builtin_expect(*p == '"', 1)) {
        q = ow__json_plain_run(js->start, p + 1, end);
        if (q == end || *q != '"') {
            return OW_JSON_ERROR;
        }
        js->str = (const char *)(p + 1);
        js->len = (size_t)(q - p - 1);
        p = q + 1;
        tok = OW_JSON_STRING;
        goto done;
    }
    switch (*p) {
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        q = *p == '-' ? p + 1 : p;
        if (q == end || *q < '0' || *q > '9') {
            return OW_JSON_ERROR;
        }
        if (*q == '0') {
            q++;
            if (q < end && *q >= '0' && *q <= '9') {
                return OW_JSON_ERROR;
            }
        } else {
            while (q < end && *q >= '0' && *q <= '9') {
                q++;
            }
        }
        if (q < end && (*q == '.' || *q == 'e' || *q == 'E')) {
            return OW_JSON_ERROR;
        }
        js->str = (const char *)p;
        js->len = (size_t)(q - p);
        p = q;
        tok = OW_JSON_INT;
        break;
    case 't':
        if (end - p < 4 || p[1] != 'r' || p[2] != 'u' || p[3] != 'e') {
            return OW_JSON_ERROR;
        }
        js->str = "true";
        js->len = 4;
        p += 4;
        tok = OW_JSON_TRUE;
        break;
    case 'f':
        if (end - p < 5 || p[1] != 'a' || p[2] != 'l' || p[3] != 's' || p[4] != 'e') {
            return OW_JSON_ERROR;
        }
        js->str = "false";
        js->len = 5;
        p += 5;
        tok = OW_JSON_FALSE;
        break;
    case 'n':
        if (end - p < 4 || p[1] != 'u' || p[2] != 'l' || p[3] != 'l') {
            return OW_JSON_ERROR;
        }
        js->str = "null";
        js->len = 4;
        p += 4;
        tok = OW_JSON_NULL;
        break;
    default:
        return OW_JSON_ERROR;
    }
done:
    js->off = (size_t)(v - js->start);
    js->escaped = false;
    js->fault = OW_JSON_FAULT_NONE;
    js->p = p;
    js->state = OW__JS_AFTER_VALUE;
    *key = (const char *)k;
    *key_len = (size_t)(kq - k);
    return tok;
}

#endif
