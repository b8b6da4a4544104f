/* strmap.c: open addressing with linear probing over {hash, entry*}; entries hold the key and
 * value in one allocation so value pointers stay put when the table grows. */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

/* Inline XXH3: keys are short (party ids, service references), a library call cost more. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "alloc.h"
#include "bytes.h"

struct node {
    uint64_t hash;
    size_t len;
    void *value;
    char key[]; /* NUL-terminated */
};

struct slot {
    uint64_t hash;
    struct node *node; /* NULL: empty */
};

struct ow_strmap {
    size_t value_size;
    size_t count;
    size_t mask; /* capacity - 1 */
    struct slot *slots;
};

struct ow_strmap *ow_strmap_create(size_t value_size)
{
    struct ow_strmap *m = ow_xcalloc(1, sizeof(*m));

    m->value_size = value_size;
    m->mask = 15;
    m->slots = ow_xcalloc(m->mask + 1, sizeof(*m->slots));
    return m;
}

void ow_strmap_destroy(struct ow_strmap *m, void (*free_value)(void *value))
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i <= m->mask; i++) {
        struct node *n = m->slots[i].node;

        if (n != NULL) {
            if (free_value != NULL) {
                free_value(n->value);
            }
            free(n);
        }
    }
    free(m->slots);
    free(m);
}

static size_t find(const struct ow_strmap *m, uint64_t h, const char *key, size_t len)
{
    size_t i = (size_t)h & m->mask;

    for (;;) {
        const struct slot *s = &m->slots[i];

        if (s->node == NULL ||
            (s->hash == h && s->node->len == len && ow_same_bytes(s->node->key, key, len))) {
            return i;
        }
        i = (i + 1) & m->mask;
    }
}

void *ow_strmap_get(const struct ow_strmap *m, const char *key, size_t len)
{
    uint64_t h = XXH3_64bits(key, len);
    struct node *n = m->slots[find(m, h, key, len)].node;

    return n ? n->value : NULL;
}

static void grow(struct ow_strmap *m)
{
    size_t old_cap = m->mask + 1;
    struct slot *old = m->slots;

    m->mask = old_cap * 2 - 1;
    m->slots = ow_xcalloc(m->mask + 1, sizeof(*m->slots));
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].node != NULL) {
            size_t j = (size_t)old[i].hash & m->mask;

            while (m->slots[j].node != NULL) {
                j = (j + 1) & m->mask;
            }
            m->slots[j] = old[i];
        }
    }
    free(old);
}

void *ow_strmap_upsert(struct ow_strmap *m, const char *key, size_t len, bool *created)
{
    uint64_t h = XXH3_64bits(key, len);
    size_t i = find(m, h, key, len);
    struct node *n = m->slots[i].node;
    size_t value_at;

    if (n != NULL) {
        if (created != NULL) {
            *created = false;
        }
        return n->value;
    }
    if ((m->count + 1) * 4 > (m->mask + 1) * 3) {
        grow(m);
        i = find(m, h, key, len);
    }
    /* Key and value in one block; the value aligned for any type. */
    value_at = (sizeof(*n) + len + 1 + 15) & ~(size_t)15;
    n = ow_xcalloc(1, value_at + m->value_size);
    n->hash = h;
    n->len = len;
    memcpy(n->key, key, len);
    n->value = (char *)n + value_at;
    m->slots[i].hash = h;
    m->slots[i].node = n;
    m->count++;
    if (created != NULL) {
        *created = true;
    }
    return n->value;
}

bool ow_strmap_remove(struct ow_strmap *m, const char *key, size_t len,
                      void (*free_value)(void *value))
{
    uint64_t h = XXH3_64bits(key, len);
    size_t i = find(m, h, key, len);
    size_t j;

    if (m->slots[i].node == NULL) {
        return false;
    }
    if (free_value != NULL) {
        free_value(m->slots[i].node->value);
    }
    free(m->slots[i].node);
    m->slots[i].node = NULL;
    m->count--;
    /* Backward-shift: move later members of the probe run into the hole. */
    j = i;
    for (;;) {
        size_t home;

        j = (j + 1) & m->mask;
        if (m->slots[j].node == NULL) {
            break;
        }
        home = (size_t)m->slots[j].hash & m->mask;
        if (((j - home) & m->mask) >= ((j - i) & m->mask)) {
            m->slots[i] = m->slots[j];
            m->slots[j].node = NULL;
            i = j;
        }
    }
    return true;
}

size_t ow_strmap_count(const struct ow_strmap *m)
{
    return m->count;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct ow_strmap_entry *x = a;
    const struct ow_strmap_entry *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);

    if (c != 0) {
        return c;
    }
    return x->len < y->len ? -1 : x->len > y->len;
}

struct ow_strmap_entry *ow_strmap_sorted(const struct ow_strmap *m)
{
    struct ow_strmap_entry *out;
    size_t k = 0;

    if (m->count == 0) {
        return NULL;
    }
    out = ow_xmalloc(m->count * sizeof(*out));
    for (size_t i = 0; i <= m->mask; i++) {
        struct node *n = m->slots[i].node;

        if (n != NULL) {
            out[k++] = (struct ow_strmap_entry){n->key, n->len, n->value};
        }
    }
    qsort(out, k, sizeof(*out), entry_cmp);
    return out;
}

void ow_strmap_foreach(const struct ow_strmap *m,
                       void (*fn)(const struct ow_strmap_entry *e, void *arg), void *arg)
{
    for (size_t i = 0; i <= m->mask; i++) {
        struct node *n = m->slots[i].node;

        if (n != NULL) {
            struct ow_strmap_entry e = {n->key, n->len, n->value};

            fn(&e, arg);
        }
    }
}
