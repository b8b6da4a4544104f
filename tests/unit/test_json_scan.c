/* test_json_scan.c: the strict JSON scanner (json_scan.h) against yajl, differentially, on
 * generated and mutated documents (seeded, so every run sees the same documents), plus the
 * rules where yajl is known to be laxer, checked against the rules themselves.
 *
 * yajl is the reference for the grammar and for what a valid document's tokens are (decoded
 * strings, number literals, structure). Its known laxities are excluded from the agreement
 * and tested apart: it accepts lone surrogate escapes and \u0000, its UTF-8 check lets
 * overlong forms, encoded surrogates and code points past U+10FFFF through, and it takes a
 * document of white space only as valid. The scanner reports those as string faults (or, for
 * white space, an error), which the decoder turns into dead letters. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "json_scan.h"

#define DOC_MAX 8192
#define STREAM_MAX (4 * DOC_MAX + 64)

/* ---- a seeded PRNG (splitmix64) ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));

    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* ---- token streams: one text per document, built the same way from both parsers ---- */

struct stream {
    char buf[STREAM_MAX];
    size_t len;
    bool overflow;
};

static void put(struct stream *s, char tag, const void *p, size_t n)
{
    char head[32];
    int h = snprintf(head, sizeof(head), "%c%zu:", tag, n);

    if (s->len + (size_t)h + n + 1 > sizeof(s->buf)) {
        s->overflow = true;
        return;
    }
    memcpy(s->buf + s->len, head, (size_t)h);
    s->len += (size_t)h;
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len++] = ' ';
}

static int y_null(void *ctx)
{
    put(ctx, 'n', "", 0);
    return 1;
}

static int y_bool(void *ctx, int v)
{
    put(ctx, v ? 't' : 'f', "", 0);
    return 1;
}

static int y_number(void *ctx, const char *s, size_t n)
{
    put(ctx, '#', s, n);
    return 1;
}

static int y_string(void *ctx, const unsigned char *s, size_t n)
{
    put(ctx, 's', s, n);
    return 1;
}

static int y_key(void *ctx, const unsigned char *s, size_t n)
{
    put(ctx, 'k', s, n);
    return 1;
}

static int y_start_map(void *ctx)
{
    put(ctx, '{', "", 0);
    return 1;
}

static int y_end_map(void *ctx)
{
    put(ctx, '}', "", 0);
    return 1;
}

static int y_start_array(void *ctx)
{
    put(ctx, '[', "", 0);
    return 1;
}

static int y_end_array(void *ctx)
{
    put(ctx, ']', "", 0);
    return 1;
}

static const yajl_callbacks y_callbacks = {
    .yajl_null = y_null,
    .yajl_boolean = y_bool,
    .yajl_number = y_number,
    .yajl_string = y_string,
    .yajl_start_map = y_start_map,
    .yajl_map_key = y_key,
    .yajl_end_map = y_end_map,
    .yajl_start_array = y_start_array,
    .yajl_end_array = y_end_array,
};

/* yajl's verdict (strings validated as UTF-8, one value) and, if valid, its token stream. */
static bool yajl_ok(const unsigned char *doc, size_t len, struct stream *out)
{
    yajl_handle yh;
    bool ok;

    out->len = 0;
    out->overflow = false;
    yh = yajl_alloc(&y_callbacks, NULL, out);
    ok = yajl_parse(yh, doc, len) == yajl_status_ok && yajl_complete_parse(yh) == yajl_status_ok;
    yajl_free(yh);
    return ok;
}

struct verdict {
    bool error;               /* a grammar error */
    enum ow_json_fault fault; /* the first string fault, if no grammar error */
    int ints;                 /* number tokens told apart */
    int reals;
    bool misclassified; /* an INT with '.', 'e' or 'E', or a REAL without */
    char why[160];
};

static char scan_buf[DOC_MAX + 16];
static struct ow_json_scan scan;
static bool use_member; /* scan_doc tries ow_json_member() before each ow_json_next() */

static void scan_doc(const unsigned char *doc, size_t len, struct stream *out, struct verdict *v)
{
    static char kinds[OW_JSON_MAX_DEPTH];
    int depth = 0;

    memset(v, 0, sizeof(*v));
    out->len = 0;
    out->overflow = false;
    ow_json_begin(&scan, (const char *)doc, len, scan_buf);
    for (;;) {
        enum ow_json_tok t = OW_JSON_ERROR;
        const char *key;
        size_t key_len;
        bool has_frac;

        if (use_member) {
            t = ow_json_member(&scan, &key, &key_len);
            if (t != OW_JSON_ERROR) {
                put(out, 'k', key, key_len);
            }
        }
        if (t == OW_JSON_ERROR) {
            t = ow_json_next(&scan);
        }

        switch (t) {
        case OW_JSON_ERROR:
            v->error = true;
            ow_json_error_text(&scan, v->why, sizeof(v->why));
            return;
        case OW_JSON_END:
            return;
        case OW_JSON_OBJECT:
        case OW_JSON_ARRAY:
            put(out, t == OW_JSON_OBJECT ? '{' : '[', "", 0);
            kinds[depth++] = t == OW_JSON_OBJECT ? '}' : ']';
            break;
        case OW_JSON_CLOSE:
            depth--;
            put(out, kinds[depth], "", 0);
            break;
        case OW_JSON_KEY:
        case OW_JSON_STRING:
            if (scan.fault != OW_JSON_FAULT_NONE && v->fault == OW_JSON_FAULT_NONE) {
                v->fault = scan.fault;
            }
            put(out, t == OW_JSON_KEY ? 'k' : 's', scan.str, scan.len);
            break;
        case OW_JSON_INT:
        case OW_JSON_REAL:
            has_frac = memchr(scan.str, '.', scan.len) || memchr(scan.str, 'e', scan.len) ||
                       memchr(scan.str, 'E', scan.len);
            v->misclassified |= has_frac != (t == OW_JSON_REAL);
            v->ints += t == OW_JSON_INT;
            v->reals += t == OW_JSON_REAL;
            put(out, '#', scan.str, scan.len);
            break;
        case OW_JSON_TRUE:
            put(out, 't', "", 0);
            break;
        case OW_JSON_FALSE:
            put(out, 'f', "", 0);
            break;
        case OW_JSON_NULL:
            put(out, 'n', "", 0);
            break;
        }
    }
}

/* ---- document generator ---- */

struct doc {
    unsigned char b[DOC_MAX];
    size_t len;
};

static void emit(struct doc *d, const char *s, size_t n)
{
    if (d->len + n <= sizeof(d->b)) {
        memcpy(d->b + d->len, s, n);
        d->len += n;
    }
}

static void emits(struct doc *d, const char *s)
{
    emit(d, s, strlen(s));
}

static void ws(struct doc *d)
{
    static const char *const spaces[] = {"", "", "", " ", "\n", "\t", "\r\n", "  "};

    emits(d, spaces[below(8)]);
}

static const char *const numbers[] = {
    "0",
    "-0",
    "1",
    "-1",
    "42",
    "1.5",
    "-0.25",
    "1e5",
    "1E+5",
    "2e-3",
    "0.0",
    "123456789",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "1.7976931348623157e308",
    "5e-324",
    "100000000000000000000000",
    "3.14159",
};

static const char *const string_bits[] = {
    "a",
    "evt-0001",
    "caf\xc3\xa9",
    "\xe2\x82\xac",
    "\xf0\x9f\x98\x80",
    "\\n",
    "\\\"",
    "\\\\",
    "\\/",
    "\\b\\f\\r\\t",
    "\\u0041",
    "\\u00e9",
    "\\u20AC",
    "\\ud83d\\ude00",
    "\\uD834\\uDD1E",
    " ",
    "x y",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "'",
    "\\u007f",
    "\x7f",
};

static void gen_string(struct doc *d)
{
    int n = (int)below(5);

    emits(d, "\"");
    for (int i = 0; i < n; i++) {
        emits(d, string_bits[below(sizeof(string_bits) / sizeof(string_bits[0]))]);
    }
    emits(d, "\"");
}

static void gen_value(struct doc *d, int depth)
{
    unsigned pick = below(depth > 6 ? 6 : 9);

    ws(d);
    switch (pick) {
    case 0:
    case 1:
        gen_string(d);
        break;
    case 2:
    case 3:
        emits(d, numbers[below(sizeof(numbers) / sizeof(numbers[0]))]);
        break;
    case 4:
        emits(d, below(2) ? "true" : "false");
        break;
    case 5:
        emits(d, "null");
        break;
    case 6:
    case 7: {
        int n = (int)below(5);

        emits(d, "{");
        for (int i = 0; i < n; i++) {
            if (i > 0) {
                emits(d, ",");
            }
            ws(d);
            gen_string(d);
            ws(d);
            emits(d, ":");
            gen_value(d, depth + 1);
        }
        ws(d);
        emits(d, "}");
        break;
    }
    default: {
        int n = (int)below(5);

        emits(d, "[");
        for (int i = 0; i < n; i++) {
            if (i > 0) {
                emits(d, ",");
            }
            gen_value(d, depth + 1);
        }
        ws(d);
        emits(d, "]");
        break;
    }
    }
    ws(d);
}

/* Bytes worth inserting: structure, number parts, escapes, controls, and UTF-8 edges. */
static const unsigned char tricky[] = {
    '"',  '\\', ',',  ':',  '{',  '}',  '[',  ']',  '0',  '1',  '-',  '+',  '.',  'e',  'E',  'u',
    'x',  'n',  't',  'f',  ' ',  '\t', '\n', '\r', '\v', '\f', 0x00, 0x01, 0x1f, 0x7f, 0x80, 0xbf,
    0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, '/',  '*',  '#',  'a',  'F',
};

static void mutate(struct doc *d)
{
    int edits = 1 + (int)below(3);

    for (int e = 0; e < edits && d->len > 0; e++) {
        size_t at = below((unsigned)d->len);

        switch (below(6)) {
        case 0: /* flip a bit */
            d->b[at] ^= (unsigned char)(1u << below(8));
            break;
        case 1: /* truncate */
            d->len = at;
            break;
        case 2: /* replace by a tricky byte */
            d->b[at] = tricky[below(sizeof(tricky))];
            break;
        case 3: /* insert a tricky byte */
            if (d->len < sizeof(d->b)) {
                memmove(d->b + at + 1, d->b + at, d->len - at);
                d->b[at] = tricky[below(sizeof(tricky))];
                d->len++;
            }
            break;
        case 4: /* delete a byte */
            memmove(d->b + at, d->b + at + 1, d->len - at - 1);
            d->len--;
            break;
        default: { /* duplicate a short span */
            size_t n = 1 + below(8);

            if (at + n <= d->len && d->len + n <= sizeof(d->b)) {
                memmove(d->b + at + n, d->b + at, d->len - at);
                d->len += n;
            }
            break;
        }
        }
    }
}

/* ---- the agreement ---- */

struct tally {
    int docs;
    int valid;
    int invalid;
    int laxity; /* yajl accepts, the scanner reports a fault (excluded from the agreement) */
};

static bool all_white(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r') {
            return false;
        }
    }
    return true;
}

static void show(const char *what, const unsigned char *b, size_t n, const struct verdict *v)
{
    fprintf(stderr, "%s (%zu bytes): ", what, n);
    for (size_t i = 0; i < n && i < 400; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f) {
            fputc(b[i], stderr);
        } else {
            fprintf(stderr, "\\x%02x", b[i]);
        }
    }
    fprintf(stderr, "\n  scanner: error=%d fault=%d %s\n", v->error, v->fault, v->why);
}

static struct stream ys;
static struct stream ss;

/* The bytes from @off on, scanned alone, end inside a token. */
static bool trailing_incomplete(const unsigned char *b, size_t n, size_t off)
{
    static struct ow_json_scan tail;
    static char tail_buf[DOC_MAX + 16];

    ow_json_begin(&tail, (const char *)b + off, n - off, tail_buf);
    while (ow_json_next(&tail) != OW_JSON_ERROR) {
        if (tail.state == OW__JS_DONE) {
            return false;
        }
    }
    return tail.err == OW_JSON_E_EOF;
}

static void agree(const unsigned char *b, size_t n, struct tally *t)
{
    struct verdict v;
    bool yok = yajl_ok(b, n, &ys);

    scan_doc(b, n, &ss, &v);
    t->docs++;
    if (yok && all_white(b, n)) {
        /* yajl's laxity: white space alone is no document; the scanner says so. */
        assert_true(v.error);
        t->laxity++;
        return;
    }
    if (v.error && yok && scan.err == OW_JSON_E_TRAILING &&
        trailing_incomplete(b, n, scan.err_off)) {
        /* yajl's laxity: after a complete value, an unterminated token (e.g. '1"r') is not
         * looked at; the scanner calls it trailing garbage. */
        t->laxity++;
        return;
    }
    if (v.error && yok && (scan.err == OW_JSON_E_UNEXPECTED || scan.err == OW_JSON_E_TRAILING) &&
        (b[scan.err_off] == '\v' || b[scan.err_off] == '\f')) {
        /* yajl's laxity: it takes \v and \f for white space. The same document with a space
         * there must agree. */
        unsigned char *copy = malloc(n);

        memcpy(copy, b, n);
        copy[scan.err_off] = ' ';
        t->laxity++;
        t->docs--;
        agree(copy, n, t);
        free(copy);
        return;
    }
    if (v.error) {
        if (yok) {
            show("scanner rejects what yajl accepts", b, n, &v);
        }
        assert_false(yok);
        t->invalid++;
        return;
    }
    if (v.fault != OW_JSON_FAULT_NONE) {
        if (yok) {
            t->laxity++;
        } else {
            t->invalid++;
        }
        return;
    }
    if (!yok) {
        show("scanner accepts what yajl rejects", b, n, &v);
    }
    assert_true(yok);
    assert_false(v.misclassified);
    if (!ys.overflow && !ss.overflow && (ys.len != ss.len || memcmp(ys.buf, ss.buf, ys.len) != 0)) {
        show("token streams differ", b, n, &v);
        fprintf(stderr, "  yajl:    %.*s\n  scanner: %.*s\n", (int)ys.len, ys.buf, (int)ss.len,
                ss.buf);
    }
    assert_int_equal(ys.len, ss.len);
    assert_memory_equal(ys.buf, ss.buf, ys.len);
    t->valid++;
}

static void json_scan__agrees_with_yajl_on_generated_documents(void **state)
{
    struct doc d;
    struct tally t = {0};

    (void)state;
    rng_state = 4242;
    for (int i = 0; i < 20000; i++) {
        d.len = 0;
        gen_value(&d, 0);
        agree(d.b, d.len, &t);
    }
    printf("generated: %d documents, %d valid, %d invalid, %d yajl laxities\n", t.docs, t.valid,
           t.invalid, t.laxity);
    assert_true(t.valid > 15000);
}

static void json_scan__agrees_with_yajl_on_mutated_documents(void **state)
{
    struct doc d;
    struct tally t = {0};

    (void)state;
    rng_state = 777;
    for (int i = 0; i < 200000; i++) {
        d.len = 0;
        if (below(2)) {
            emits(&d, "{");
            gen_string(&d);
            emits(&d, ":");
            gen_value(&d, 1);
            emits(&d, "}");
        } else {
            gen_value(&d, 0);
        }
        mutate(&d);
        agree(d.b, d.len, &t);
    }
    printf("mutated: %d documents, %d valid, %d invalid, %d yajl laxities\n", t.docs, t.valid,
           t.invalid, t.laxity);
    assert_true(t.valid > 10000 && t.invalid > 50000);
}

static void json_scan__agrees_with_yajl_on_short_byte_strings(void **state)
{
    static const unsigned char alphabet[] = {'{', '}', '[', ']', '"', ':', ',', '0',  '1', '-', '.',
                                             'e', '+', 't', 'r', 'u', 'n', 'l', '\\', ' ', 'a'};
    struct tally t = {0};
    unsigned char b[6];

    (void)state;
    rng_state = 99;
    for (int i = 0; i < 300000; i++) {
        size_t n = 1 + below(sizeof(b));

        for (size_t k = 0; k < n; k++) {
            b[k] = alphabet[below(sizeof(alphabet))];
        }
        agree(b, n, &t);
    }
    printf("short: %d documents, %d valid, %d invalid\n", t.docs, t.valid, t.invalid);
    assert_true(t.valid > 1000);
}

/* ---- the member shortcut ---- */

/* @b scanned with ow_json_next() alone and with ow_json_member() first: the same tokens, the
 * same verdict, the same error (kind, offset, text) and fault. */
static void member_agrees(const unsigned char *b, size_t n)
{
    static struct stream plain;
    struct verdict v1;
    struct verdict v2;
    enum ow_json_err err1;
    size_t err_off1;

    use_member = false;
    scan_doc(b, n, &plain, &v1);
    err1 = scan.err;
    err_off1 = scan.err_off;
    use_member = true;
    scan_doc(b, n, &ss, &v2);
    use_member = false;
    if (plain.len != ss.len || memcmp(plain.buf, ss.buf, plain.len) != 0) {
        show("member shortcut changes the tokens", b, n, &v2);
    }
    assert_int_equal(plain.len, ss.len);
    assert_memory_equal(plain.buf, ss.buf, plain.len);
    assert_int_equal(v1.error, v2.error);
    assert_string_equal(v1.why, v2.why);
    assert_int_equal(v1.fault, v2.fault);
    assert_int_equal(err1, scan.err);
    assert_int_equal(err_off1, scan.err_off);
}

static void json_scan__member_shortcut_matches_next(void **state)
{
    static const char *const fixed[] = {
        "{\"a\":1}",
        "{\"a\" : \"x\" , \"b\":true,\"c\":false,\"d\":null,\"e\":-0}",
        "{\"a\":01}",
        "{\"a\":-}",
        "{\"a\":1.5}",
        "{\"a\":1e3}",
        "{\"a\":tru}",
        "{\"a\":truex}",
        "{\"a\":\"\\n\"}",
        "{\"\\u0041\":1}",
        "{\"a\":\"\xc3\xa9\"}",
        "{\"a\":1,}",
        "{\"a\":1 \"b\":2}",
        "{\"a\"1}",
        "{\"a\":",
        "{\"a",
        "{\"\":\"\"}",
        "{\"a\":{\"b\":[1,{\"c\":2}]},\"d\":3}",
        "[{\"a\":1},{\"b\":2}]",
        "{\"a\":12x}",
    };
    struct doc d;

    (void)state;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        member_agrees((const unsigned char *)fixed[i], strlen(fixed[i]));
    }
    rng_state = 4242;
    for (int i = 0; i < 20000; i++) {
        d.len = 0;
        gen_value(&d, 0);
        member_agrees(d.b, d.len);
    }
    rng_state = 777;
    for (int i = 0; i < 100000; i++) {
        d.len = 0;
        emits(&d, "{");
        gen_string(&d);
        emits(&d, ":");
        gen_value(&d, 1);
        emits(&d, "}");
        mutate(&d);
        member_agrees(d.b, d.len);
    }
}

/* ---- the rules where yajl is laxer ---- */

static struct verdict scan_str(const char *doc)
{
    struct verdict v;

    scan_doc((const unsigned char *)doc, strlen(doc), &ss, &v);
    return v;
}

/* A reference UTF-8 check, written differently on purpose: decode each sequence to a code
 * point and reject overlong forms, surrogates and code points past U+10FFFF by value. */
static bool ref_utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i];
        unsigned need;
        unsigned cp;
        unsigned min;

        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            need = 1;
            cp = c & 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2;
            cp = c & 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return false;
        }
        if (i + need >= n) {
            return false;
        }
        for (unsigned k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return false;
            }
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += need + 1;
    }
    return true;
}

static void json_scan__utf8_is_strict_against_a_reference(void **state)
{
    unsigned char doc[16];
    int bad = 0;

    (void)state;
    rng_state = 5;
    /* Every 1- and 2-byte content, then random 3- and 4-byte contents biased to the edges. */
    for (int i = 0; i < 400000; i++) {
        size_t n = i < 65536 ? 2 : 1 + below(4);
        struct verdict v;

        doc[0] = '"';
        for (size_t k = 0; k < n; k++) {
            doc[1 + k] = i < 65536 ? (unsigned char)(k == 0 ? i >> 8 : i)
                                   : (unsigned char)(below(2) ? 0x80 + below(0x80) : below(256));
        }
        doc[1 + n] = '"';
        scan_doc(doc, n + 2, &ss, &v);
        if (memchr(doc + 1, '"', n) || memchr(doc + 1, '\\', n)) {
            continue;
        }
        {
            bool control = false;

            for (size_t k = 0; k < n; k++) {
                control |= doc[1 + k] < 0x20;
            }
            if (control) {
                assert_true(v.error);
                continue;
            }
        }
        assert_false(v.error);
        if (ref_utf8_ok(doc + 1, n) != (v.fault == OW_JSON_FAULT_NONE)) {
            show("UTF-8 verdict differs from the reference", doc, n + 2, &v);
        }
        assert_int_equal(ref_utf8_ok(doc + 1, n), v.fault == OW_JSON_FAULT_NONE);
        bad += v.fault != OW_JSON_FAULT_NONE;
    }
    assert_true(bad > 1000);
    /* The classic cases, by name. */
    assert_int_equal(scan_str("\"\xc0\xaf\"").fault, OW_JSON_FAULT_UTF8);         /* overlong / */
    assert_int_equal(scan_str("\"\xe0\x80\xaf\"").fault, OW_JSON_FAULT_UTF8);     /* overlong */
    assert_int_equal(scan_str("\"\xed\xa0\x80\"").fault, OW_JSON_FAULT_UTF8);     /* U+D800 */
    assert_int_equal(scan_str("\"\xf4\x90\x80\x80\"").fault, OW_JSON_FAULT_UTF8); /* > 10FFFF */
    assert_int_equal(scan_str("\"\xf4\x8f\xbf\xbf\"").fault, OW_JSON_FAULT_NONE); /* U+10FFFF */
    assert_int_equal(scan_str("\"\xef\xbf\xbf\"").fault, OW_JSON_FAULT_NONE);     /* U+FFFF */
    /* Outside strings any non-ASCII byte is a grammar error. */
    assert_true(scan_str("{\"a\":1}\xc3\xa9").error);
    assert_true(scan_str("\xef\xbb\xbf{}").error); /* no byte order mark */
}

static void json_scan__escapes_surrogates_and_nul(void **state)
{
    struct verdict v;

    (void)state;
    v = scan_str("\"\\ud83d\\ude00\"");
    assert_false(v.error);
    assert_int_equal(v.fault, OW_JSON_FAULT_NONE);
    assert_int_equal(scan.len, 4);
    assert_memory_equal(scan_buf, "\xf0\x9f\x98\x80", 4);
    assert_int_equal(scan_str("\"a\\ud800\"").fault, OW_JSON_FAULT_SURROGATE);
    assert_int_equal(scan_str("\"\\udc00\"").fault, OW_JSON_FAULT_SURROGATE);
    assert_int_equal(scan_str("\"\\ud800\\u0041\"").fault, OW_JSON_FAULT_SURROGATE);
    assert_int_equal(scan_str("\"\\ud800\\ud800\\udc00\"").fault, OW_JSON_FAULT_SURROGATE);
    assert_int_equal(scan_str("\"\\udbff\\udfff\"").fault, OW_JSON_FAULT_NONE);
    assert_int_equal(scan_str("\"\\u0000\"").fault, OW_JSON_FAULT_NUL);
    assert_int_equal(scan_str("\"\\u0001\"").fault, OW_JSON_FAULT_NONE);
    /* A fault is not a grammar error, and a later grammar error still wins. */
    v = scan_str("[\"\\ud800\", 01]");
    assert_true(v.error);
    assert_string_equal(v.why, "leading zero in a number at offset 12");
    /* Every byte after a backslash: only the eight escapes and u are allowed. */
    for (int c = 0; c < 256; c++) {
        char doc[8] = {'"', '\\', (char)c, '"', '\0'};
        bool allowed = strchr("\"\\/bfnrt", c) != NULL && c != 0;

        v = scan_str(doc);
        if (c == 'u') {
            assert_true(v.error); /* \u" has no hex digits */
            continue;
        }
        assert_int_equal(v.error, !allowed);
    }
    assert_true(scan_str("\"\\u12\"").error);
    assert_true(scan_str("\"\\u12G4\"").error);
    assert_true(scan_str("\"\\U0041\"").error);
    /* Raw control characters are never allowed in strings; DEL is. */
    for (int c = 0; c < 0x20; c++) {
        char doc[4] = {'"', (char)c, '"', '\0'};

        scan_doc((const unsigned char *)doc, 3, &ss, &v);
        assert_true(v.error);
    }
    assert_false(scan_str("\"\x7f\"").error);
}

static void json_scan__numbers_follow_the_grammar(void **state)
{
    static const char *const good[] = {
        "0",   "-0",  "1",    "-1",   "10",     "0.5", "-0.5",
        "1e5", "1E5", "1e+5", "1e-5", "1.5e10", "0e0", "9223372036854775808"};
    static const char *const bad[] = {"01",  "-01", "+1",    ".5",   "1.",  "1.e5",     "1e",
                                      "1e+", "-",   "--1",   "0x10", "NaN", "Infinity", "-Infinity",
                                      "1 2", "00",  "1.5.5", "0.",   "-.5", "1e5.5"};

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct verdict v = scan_str(good[i]);

        assert_false(v.error);
        assert_int_equal(v.ints + v.reals, 1);
        assert_false(v.misclassified);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_true(scan_str(bad[i]).error);
    }
    assert_int_equal(scan_str("[9223372036854775807,-9223372036854775808]").ints, 2);
    assert_int_equal(scan_str("[1.0,1e0,-0.0]").reals, 3);
}

static void json_scan__structure_and_messages(void **state)
{
    static const struct {
        const char *doc;
        const char *why;
    } cases[] = {
        {"{\"a\":1,}", "unexpected '}' at offset 7 (expected a field name)"},
        {"[1,]", "unexpected ']' at offset 3 (expected a value)"},
        {"{\"a\" 1}", "unexpected '1' at offset 5 (expected ':')"},
        {"{\"a\":1 \"b\":2}", "unexpected '\"' at offset 7 (expected ',' or '}')"},
        {"[1}", "unexpected '}' at offset 2 (expected ',' or ']')"},
        {"{\"a\":1", "unexpected end of input (expected ',' or '}')"},
        {"{\"a", "unexpected end of input inside a string"},
        {"{\"a\":tru", "unexpected end of input inside true, false or null"},
        {"{\"a\":nul}", "unexpected '}' at offset 8 (expected a value)"},
        {"{} x", "trailing garbage at offset 3 after the top-level value"},
        {"{}{}", "trailing garbage at offset 2 after the top-level value"},
        {"{/* c */}", "unexpected '/' at offset 1 (expected a field name)"},
        {"{'a':1}", "unexpected ''' at offset 1 (expected a field name)"},
        {"", "unexpected end of input (expected a value)"},
        {"\v{}", "unexpected byte 0x0b at offset 0 (expected a value)"},
        {"{\"a\":\"x\ty\"}", "unescaped control character 0x09 in a string at offset 7"},
        {"[\"\\x\"]",
         "invalid escape at offset 2 (only \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)"},
        {"[\"\\u12x4\"]", "invalid \\u escape at offset 2 (expected four hex digits)"},
        {"[-]", "unexpected ']' at offset 2 (expected a digit)"},
    };
    struct verdict v;
    char deep[40001];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        v = scan_str(cases[i].doc);
        assert_true(v.error);
        assert_string_equal(v.why, cases[i].why);
    }
    /* The scanner itself nests as deep as the input allows (the decoder stops at 16). */
    memset(deep, '[', 20000);
    memset(deep + 20000, ']', 20000);
    deep[40000] = '\0';
    v = scan_str(deep);
    assert_false(v.error);
    deep[39999] = '\0';
    assert_true(scan_str(deep).error);
    /* Any value may be the top level for the scanner (the decoder insists on an object). */
    assert_false(scan_str(" \"x\" ").error);
    assert_false(scan_str("null").error);
    assert_false(scan_str("\n[]\r\n").error);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_scan__agrees_with_yajl_on_generated_documents),
        cmocka_unit_test(json_scan__agrees_with_yajl_on_mutated_documents),
        cmocka_unit_test(json_scan__agrees_with_yajl_on_short_byte_strings),
        cmocka_unit_test(json_scan__member_shortcut_matches_next),
        cmocka_unit_test(json_scan__utf8_is_strict_against_a_reference),
        cmocka_unit_test(json_scan__escapes_surrogates_and_nul),
        cmocka_unit_test(json_scan__numbers_follow_the_grammar),
        cmocka_unit_test(json_scan__structure_and_messages),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
