/* strmap.h: a string-keyed hash map with stable value pointers, for the keys that come from
 * data (parties, services, RDPs, entity ids). Keys are copied; values are fixed-size blocks,
 * zeroed on creation, that never move while the map lives. */
#ifndef OW_STRMAP_H
#define OW_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ow_strmap;

struct ow_strmap_entry {
    const char *key; /* NUL-terminated copy; borrowed from the map */
    size_t len;
    void *value;
};

/** A map whose values are @value_size bytes. Never NULL. */
struct ow_strmap *ow_strmap_create(size_t value_size);

/** Free the map, its keys and values; @free_value (may be NULL) is called on each value
 * first. NULL map is a no-op. */
void ow_strmap_destroy(struct ow_strmap *m, void (*free_value)(void *value));

/** The value under @key, or NULL. */
void *ow_strmap_get(const struct ow_strmap *m, const char *key, size_t len);

/** The value under @key, created zeroed if absent (*@created says which; may be NULL). */
void *ow_strmap_upsert(struct ow_strmap *m, const char *key, size_t len, bool *created);

/** Remove @key (calling @free_value on its value first, if not NULL). @returns true if found. */
bool ow_strmap_remove(struct ow_strmap *m, const char *key, size_t len,
                      void (*free_value)(void *value));

/** Number of keys. */
size_t ow_strmap_count(const struct ow_strmap *m);

/** All entries sorted by key (bytewise), in a new array of ow_strmap_count() entries that the
 * caller frees with free(). Entries borrow from the map. NULL when the map is empty. */
struct ow_strmap_entry *ow_strmap_sorted(const struct ow_strmap *m);

/** Call @fn on every entry in no particular order; the map must not change meanwhile. */
void ow_strmap_foreach(const struct ow_strmap *m,
                       void (*fn)(const struct ow_strmap_entry *e, void *arg), void *arg);

#endif
