/* dedup.h: remembered event ids, for counting a redelivered event once.
 *
 * Each id is kept as a 128-bit fingerprint (XXH3-128) with a 128-bit fingerprint of its
 * content and its event time. Ids are remembered for a span of event time (default 7 days)
 * within a memory bound (default 1 GiB); when the bound is reached the oldest ids are
 * forgotten early, and counted. */
#ifndef OW_DEDUP_H
#define OW_DEDUP_H

#include <stddef.h>
#include <stdint.h>

struct ow_dedup;

struct ow_dedup_conf {
    int64_t span_us;  /* remember ids this long in event time */
    size_t max_bytes; /* memory bound of the table */
};

struct ow_dedup_key {
    uint64_t h[2];
};

enum ow_dedup_verdict {
    OW_DEDUP_NEW,      /* never seen (or forgotten) */
    OW_DEDUP_SAME,     /* seen with the same content: a duplicate, count once */
    OW_DEDUP_CONFLICT, /* seen with different content: dead letter */
};

struct ow_dedup_stats {
    uint64_t ids;             /* remembered now */
    uint64_t bytes;           /* table memory */
    uint64_t expired;         /* forgotten because older than the span */
    uint64_t forgotten_early; /* forgotten because of the memory bound */
};

/** A table within @conf's bound. Never NULL (aborts on OOM). */
struct ow_dedup *ow_dedup_create(const struct ow_dedup_conf *conf);

/** Free; NULL is a no-op. */
void ow_dedup_destroy(struct ow_dedup *d);

/** The fingerprint of an event id. */
struct ow_dedup_key ow_dedup_key_of(const char *id, size_t len);

/** Has @key been seen, and with what content? Does not insert. */
enum ow_dedup_verdict ow_dedup_lookup(const struct ow_dedup *d, struct ow_dedup_key key,
                                      const uint64_t content[2]);

/** Remember @key with @content at event time @occurred_us (call after the event was applied).
 * Forgets ids older than (greatest occurred_us seen - span) as it goes, and the oldest ids
 * when the memory bound is reached. */
void ow_dedup_insert(struct ow_dedup *d, struct ow_dedup_key key, const uint64_t content[2],
                     int64_t occurred_us);

/** Current counters. */
void ow_dedup_stats(const struct ow_dedup *d, struct ow_dedup_stats *st);

#endif
