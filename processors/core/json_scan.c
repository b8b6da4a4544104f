/* json_scan.c: the slow paths of the strict JSON tokenizer (json_scan.h).
 *
 * Why it is built this way:
 * - The event decoder replaced yajl with this scanner because yajl's own code cost ~5,000
 *   instructions for a 230-byte event and still needed a second pass (UTF-8 and escape checks
 *   it is too lax for). Here one pass does the grammar, strict UTF-8 and the escape rules.
 * - A pull interface keeps the decoder a plain loop (no callbacks through pointers); the common
 *   path (structural bytes, plain ASCII strings) is inline in the header, and a string's run of
 *   plain bytes is found 16 bytes at a time with SSE2 where available.
 * - Strings without escapes are returned in place; only escaped ones are decoded, into the
 *   caller's buffer, which is as long as the input since decoding never grows a string
 *   (\uXXXX is 6 bytes for at most 3, a surrogate pair 12 for 4).
 * - The faults the JSON grammar does not cover (strict UTF-8, \u0000, unpaired surrogates) are
 *   reported on the string instead of failing the scan: the decoder names the field that holds
 *   them, and a grammar error anywhere still wins over them, as it did with yajl.
 */
#include "json_scan.h"

#include <stdio.h>
#include <string.h>

/* 1 for the bytes a string may hold as they are: not '"', not '\\', not < 0x20, not >= 0x80
 * (non-ASCII goes through the UTF-8 check). */
#define P16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
const unsigned char ow__json_plain[256] = {
    P16(0),
    P16(0),
    /* 0x20..0x2f: '"' is 0x22 */
    1,
    1,
    0,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    P16(1),
    P16(1),
    /* 0x50..0x5f: '\\' is 0x5c */
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    0,
    1,
    1,
    1,
    P16(1),
    P16(1),
    P16(0),
    P16(0),
    P16(0),
    P16(0),
    P16(0),
    P16(0),
    P16(0),
    P16(0),
};
#undef P16

void ow_json_begin(struct ow_json_scan *js, const char *in, size_t len, char *buf)
{
    js->start = (const unsigned char *)in;
    js->p = js->start;
    js->end = js->start + len;
    js->buf = (unsigned char *)buf;
    js->str = NULL;
    js->len = 0;
    js->off = 0;
    js->escaped = false;
    js->fault = OW_JSON_FAULT_NONE;
    js->fault_off = 0;
    js->state = OW__JS_VALUE;
    js->depth = 0;
    js->in_object = false;
    js->err = OW_JSON_E_NONE;
    js->err_off = 0;
    js->err_expect = OW__JS_VALUE;
}

enum ow_json_tok ow__json_fail(struct ow_json_scan *js, enum ow_json_err err,
                               const unsigned char *at, enum ow__json_state expect)
{
    js->err = err;
    js->err_off = (size_t)(at - js->start);
    js->err_expect = expect;
    js->state = OW__JS_ERROR;
    return OW_JSON_ERROR;
}

/* Length of the strict UTF-8 sequence at @p (lead byte >= 0x80), or 0 if it is not one:
 * C0, C1 and F5..FF never lead; E0 needs A0..BF next (no overlong), ED needs 80..9F (no
 * surrogates), F0 needs 90..BF (no overlong), F4 needs 80..8F (nothing past U+10FFFF). */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    size_t more;

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
        return 0;
    }
    if ((size_t)(end - p) <= more || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (size_t k = 2; k <= more; k++) {
        if ((p[k] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return more + 1;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* The four hex digits at @p into *@out; false if there are not four. */
static bool hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
    unsigned v = 0;

    if (end - p < 4) {
        return false;
    }
    for (int i = 0; i < 4; i++) {
        int d = hexval(p[i]);

        if (d < 0) {
            return false;
        }
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return true;
}

static unsigned char *put_utf8(unsigned char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *o++ = (unsigned char)(0xC0 | cp >> 6);
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (unsigned char)(0xE0 | cp >> 12);
        *o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (unsigned char)(0xF0 | cp >> 18);
        *o++ = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        *o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    return o;
}

static void fault(struct ow_json_scan *js, enum ow_json_fault f, const unsigned char *at)
{
    if (js->fault == OW_JSON_FAULT_NONE) {
        js->fault = f;
        js->fault_off = (size_t)(at - js->start);
    }
}

/* The escape at @q (a backslash) decoded to @*o; returns the byte after it, or NULL. */
static const unsigned char *escape(struct ow_json_scan *js, const unsigned char *q,
                                   unsigned char **o)
{
    static const unsigned char simple[128] = {
        ['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
        ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t',
    };
    const unsigned char *end = js->end;
    unsigned cp;
    unsigned low;

    if (end - q < 2) {
        ow__json_fail(js, OW_JSON_E_EOF, end, OW__JS_IN_STRING);
        return NULL;
    }
    if (q[1] < 128 && simple[q[1]] != 0) {
        *(*o)++ = simple[q[1]];
        return q + 2;
    }
    if (q[1] != 'u') {
        ow__json_fail(js, OW_JSON_E_ESCAPE, q, OW__JS_VALUE);
        return NULL;
    }
    if (!hex4(q + 2, end, &cp)) {
        ow__json_fail(js, end - q < 6 ? OW_JSON_E_EOF : OW_JSON_E_UNICODE, end - q < 6 ? end : q,
                      OW__JS_IN_STRING);
        /* A short \u at the end of the input may still hold a non-hex digit: say so. */
        for (const unsigned char *h = q + 2; h < end && h < q + 6; h++) {
            if (hexval(*h) < 0) {
                ow__json_fail(js, OW_JSON_E_UNICODE, q, OW__JS_VALUE);
                break;
            }
        }
        return NULL;
    }
    if (cp == 0) {
        fault(js, OW_JSON_FAULT_NUL, q);
        return q + 6;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - q >= 12 && q[6] == '\\' && q[7] == 'u' && hex4(q + 8, end, &low) &&
            low >= 0xDC00 && low <= 0xDFFF) {
            *o = put_utf8(*o, 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00));
            return q + 12;
        }
        fault(js, OW_JSON_FAULT_SURROGATE, q);
        return q + 6;
    }
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
        fault(js, OW_JSON_FAULT_SURROGATE, q);
        return q + 6;
    }
    *o = put_utf8(*o, cp);
    return q + 6;
}

/* The rest of a string whose text starts at @s, from @q, the first byte the fast run stopped
 * at. Once an escape is met, the text is decoded into js->buf. */
const unsigned char *ow__json_string_slow(struct ow_json_scan *js, const unsigned char *s,
                                          const unsigned char *q)
{
    const unsigned char *end = js->end;
    unsigned char *o = NULL; /* decoding into js->buf once non-NULL */
    const unsigned char *run = s;

    js->fault = OW_JSON_FAULT_NONE;
    for (;;) {
        unsigned char c;

        if (q == end) {
            ow__json_fail(js, OW_JSON_E_EOF, end, OW__JS_IN_STRING);
            return NULL;
        }
        c = *q;
        if (c == '"') {
            break;
        }
        if (c >= 0x80) {
            size_t n = utf8_seq(q, end);

            if (n == 0) {
                fault(js, OW_JSON_FAULT_UTF8, q);
                n = 1;
            }
            q += n;
        } else if (c == '\\') {
            if (o == NULL) {
                o = js->buf;
            }
            memcpy(o, run, (size_t)(q - run));
            o += q - run;
            q = escape(js, q, &o);
            if (q == NULL) {
                return NULL;
            }
            run = q;
        } else if (c < 0x20) {
            ow__json_fail(js, OW_JSON_E_CONTROL, q, OW__JS_VALUE);
            return NULL;
        }
        q = ow__json_plain_run(js->start, q, end);
    }
    if (o == NULL) {
        js->str = (const char *)s;
        js->len = (size_t)(q - s);
        js->escaped = false;
    } else {
        memcpy(o, run, (size_t)(q - run));
        o += q - run;
        js->str = (const char *)js->buf;
        js->len = (size_t)(o - js->buf);
        js->escaped = true;
    }
    return q + 1;
}

static bool digit(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

enum ow_json_tok ow__json_number(struct ow_json_scan *js, const unsigned char *p)
{
    const unsigned char *end = js->end;
    const unsigned char *q = p;
    bool real = false;

    if (*q == '-') {
        q++;
    }
    if (!digit(q, end)) {
        return ow__json_fail(js, q == end ? OW_JSON_E_EOF : OW_JSON_E_DIGIT, q, OW__JS_DIGIT);
    }
    if (*q == '0') {
        q++;
        if (digit(q, end)) {
            return ow__json_fail(js, OW_JSON_E_ZERO, q, OW__JS_VALUE);
        }
    } else {
        while (digit(q, end)) {
            q++;
        }
    }
    if (q < end && *q == '.') {
        q++;
        real = true;
        if (!digit(q, end)) {
            return ow__json_fail(js, q == end ? OW_JSON_E_EOF : OW_JSON_E_DIGIT, q, OW__JS_DIGIT);
        }
        while (digit(q, end)) {
            q++;
        }
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        real = true;
        if (q < end && (*q == '+' || *q == '-')) {
            q++;
        }
        if (!digit(q, end)) {
            return ow__json_fail(js, q == end ? OW_JSON_E_EOF : OW_JSON_E_DIGIT, q, OW__JS_DIGIT);
        }
        while (digit(q, end)) {
            q++;
        }
    }
    js->str = (const char *)p;
    js->len = (size_t)(q - p);
    js->p = q;
    js->state = js->depth == 0 ? OW__JS_DONE : OW__JS_AFTER_VALUE;
    return real ? OW_JSON_REAL : OW_JSON_INT;
}

enum ow_json_tok ow__json_literal(struct ow_json_scan *js, const unsigned char *p)
{
    static const char *const words[] = {"true", "false", "null"};
    static const enum ow_json_tok toks[] = {OW_JSON_TRUE, OW_JSON_FALSE, OW_JSON_NULL};
    int w = *p == 't' ? 0 : *p == 'f' ? 1 : 2;
    size_t n = strlen(words[w]);

    for (size_t i = 1; i < n; i++) {
        if (p + i == js->end) {
            return ow__json_fail(js, OW_JSON_E_EOF, p + i, OW__JS_IN_LITERAL);
        }
        if (p[i] != (unsigned char)words[w][i]) {
            return ow__json_fail(js, OW_JSON_E_UNEXPECTED, p + i, OW__JS_VALUE);
        }
    }
    js->str = words[w];
    js->len = n;
    js->p = p + n;
    js->state = js->depth == 0 ? OW__JS_DONE : OW__JS_AFTER_VALUE;
    return toks[w];
}

static const char *show_byte(unsigned char c, char *buf, size_t cap)
{
    if (c > 0x20 && c < 0x7f) {
        snprintf(buf, cap, "'%c'", c);
    } else {
        snprintf(buf, cap, "byte 0x%02x", c);
    }
    return buf;
}

static const char *expectation(enum ow__json_state st, bool in_object)
{
    switch (st) {
    case OW__JS_VALUE:
        return "a value";
    case OW__JS_OBJ_FIRST:
        return "a field name or '}'";
    case OW__JS_ARR_FIRST:
        return "a value or ']'";
    case OW__JS_AFTER_VALUE:
        return in_object ? "',' or '}'" : "',' or ']'";
    case OW__JS_KEY:
        return "a field name";
    case OW__JS_COLON:
        return "':'";
    case OW__JS_IN_STRING:
        return "a string";
    case OW__JS_IN_LITERAL:
        return "true, false or null";
    case OW__JS_DIGIT:
        return "a digit";
    case OW__JS_DONE:
    case OW__JS_ERROR:
        break;
    }
    return "nothing";
}

const char *ow_json_error_text(const struct ow_json_scan *js, char *out, size_t cap)
{
    char shown[16] = "";
    size_t off = js->err_off;
    bool in_object = ow__json_in_object(js);

    if (off < (size_t)(js->end - js->start)) {
        show_byte(js->start[off], shown, sizeof(shown));
    }
    switch (js->err) {
    case OW_JSON_E_NONE:
        snprintf(out, cap, "no error");
        break;
    case OW_JSON_E_EOF:
        if (js->err_expect == OW__JS_IN_STRING || js->err_expect == OW__JS_IN_LITERAL) {
            snprintf(out, cap, "unexpected end of input inside %s",
                     expectation(js->err_expect, in_object));
        } else {
            snprintf(out, cap, "unexpected end of input (expected %s)",
                     expectation(js->err_expect, in_object));
        }
        break;
    case OW_JSON_E_UNEXPECTED:
        snprintf(out, cap, "unexpected %s at offset %zu (expected %s)", shown, off,
                 expectation(js->err_expect, in_object));
        break;
    case OW_JSON_E_CONTROL:
        snprintf(out, cap, "unescaped control character 0x%02x in a string at offset %zu",
                 js->start[off], off);
        break;
    case OW_JSON_E_ESCAPE:
        snprintf(out, cap,
                 "invalid escape at offset %zu (only \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
                 off);
        break;
    case OW_JSON_E_UNICODE:
        snprintf(out, cap, "invalid \\u escape at offset %zu (expected four hex digits)", off);
        break;
    case OW_JSON_E_ZERO:
        snprintf(out, cap, "leading zero in a number at offset %zu", off);
        break;
    case OW_JSON_E_DIGIT:
        snprintf(out, cap, "unexpected %s at offset %zu (expected a digit)", shown, off);
        break;
    case OW_JSON_E_TRAILING:
        snprintf(out, cap, "trailing garbage at offset %zu after the top-level value", off);
        break;
    case OW_JSON_E_DEPTH:
        snprintf(out, cap, "nesting deeper than %d levels at offset %zu", OW_JSON_MAX_DEPTH, off);
        break;
    }
    return out;
}
