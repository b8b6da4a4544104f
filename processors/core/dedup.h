/* dedup.h: remembered event ids, for counting a redelivered event once.
 *
 * Each id is kept as a 128-bit fingerprint (XXH3-128) with a 128-bit fingerprint of its
 * content and its event time. Ids are remembered for a span of event time (default 7 days)
 * within a memory bound (default 1 GiB); when the bound is reached the oldest ids are
 * forgotten early, and counted.
 *
 * The span edge is inclusive: with M the greatest occurred_us ever passed to ow_dedup_insert,
 * an id with occurred_us >= M - span_us is remembered, one with occurred_us < M - span_us is
 * forgotten. Event times are kept in units of u = 2^s microseconds, s being the smallest shift
 * with span_us / u < 2^30: u is 1 us for spans up to 17.9 minutes and 1.024 ms for the default
 * 7 days. The edge is compared in whole units (floor(occurred / u) >= floor((M - span) / u)),
 * so an id is never forgotten before the span and at most u - 1 us after it.
 *
 * Expiry is exact as seen by lookups (an id past the edge reads as OW_DEDUP_NEW at once), and
 * so is forgetting at the bound (the forgotten ids read as OW_DEDUP_NEW from the insert that
 * chose them on); the memory of both is reclaimed by sweeps, or at once by ow_dedup_sweep.
 *
 * Upkeep comes in steps, so that no insert holds the thread for work in proportion to the table
 * (tens of millions of ids). An insert that stores an id does at most one step:
 * - growth (at 3/4 full, up to the bound): each insert faults in one page of the new slot array
 *   while ids still go to the old one; then the old array stays while 64 of its slots per
 *   insert move into the new one; lookups and inserts read both until it is empty and freed;
 * - a sweep (before growing if some ids may be gone; at the bound, before forgetting): 256 slots
 *   per insert, plus the rest of one probe run (tens of slots; about a thousand at most, seen at
 *   7/8 full), reclaiming the ids that are gone;
 * - forgetting (at the bound, from about 0.85 full): sweeps that also count the times kept
 *   choose the oldest ids, down to 3/4 full; a last sweep drops them. The table never holds
 *   more than 7/8 of its slots.
 * - a rebase (times are 32-bit counts of units from a base, so every 2^31 units of event time,
 *   25 days with the default span): a sweep that reclaims the ids past the span, then one that
 *   moves the others' times to a base 2^31 units later.
 * That is a few microseconds at most, but for the page a growth faults in (a transparent huge
 * page: 2 MiB zeroed, 0.1 to 0.5 ms; a few ms on a VM whose host backs memory only when it is
 * first touched), so that no insert takes more than one page fault. Only event time leaping
 * 2^30 units (more than the span: 12 days with the default one) within a few thousand inserts
 * makes one insert do O(table) work: the pending work is finished and the times are rebased in
 * that insert. ow_dedup_stats reports the most slots one insert visited.
 *
 * Memory: the slot array, 36 bytes a slot, stays within max_bytes. During a growth the old and
 * the new array exist together, for (new bytes / 2 MiB + old slots / 64) inserts: 1.5 times the
 * new one while doubling, and up to 1.89 times max_bytes at the last growth (which grows by 1/8
 * at least).
 *
 * A restore loads saved ids with ow_dedup_load, in bulk: sorted into buckets by key and placed
 * on two threads (dedup_load.c), 0.6 to 1.2 s for 10M ids on the bench VM where inserting them
 * in order took 1.5 to 2.8 s.
 *
 * Not thread-safe: one table belongs to one thread (the engine's). ow_dedup_load's helper
 * thread is its own, and is joined before it returns. */
#ifndef OW_DEDUP_H
#define OW_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ow_dedup;

struct ow_dedup_conf {
    int64_t span_us;  /* remember ids this long in event time (clamped to 0..2^61) */
    size_t max_bytes; /* memory bound of the slot array (raised to 64 slots, 2304 bytes) */
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
    uint64_t ids;             /* stored now (includes ids gone but not reclaimed yet) */
    uint64_t bytes;           /* slot memory now: both arrays during a growth, else the table */
    uint64_t expired;         /* forgotten because older than the span */
    uint64_t forgotten_early; /* forgotten because of the memory bound */
    uint64_t capacity;        /* slots in the table (from a growth's start, the new array's) */
    uint64_t sweeps;          /* sweeps ended: passes over the table that reclaim, count, forget */
    uint64_t migration_left;  /* slots of the old array still to move (0: no growth under way) */
    uint64_t sweep_left;      /* slots the sweep under way has still to visit (0: none) */
    uint64_t max_slots_per_insert; /* most slots one insert visited for upkeep, since create */
    uint64_t loads_parallel;       /* ow_dedup_load calls that placed ids on two threads */
    uint64_t loads_placed_again;   /* ... of which one thread placed all again: a probe run
                                      reached the other thread's part of the table */
};

/** A table within @conf's bound (@conf is borrowed). Never NULL (aborts on OOM). While the
 * table grows, the old and the new slot arrays exist together (see above). */
struct ow_dedup *ow_dedup_create(const struct ow_dedup_conf *conf);

/** Make room for @n ids at once (within the bound), so that loading a saved set does not
 * rehash the table at every doubling. Pending upkeep and the growth are done now, in one call
 * (O(table)): for a restore, before events flow. */
void ow_dedup_reserve(struct ow_dedup *d, size_t n);

/** Free; NULL is a no-op. */
void ow_dedup_destroy(struct ow_dedup *d);

/** The fingerprint of an event id (@len bytes at @id, no terminator needed). */
struct ow_dedup_key ow_dedup_key_of(const char *id, size_t len);

/** Has @key been seen, and with what content? Does not insert. */
enum ow_dedup_verdict ow_dedup_lookup(const struct ow_dedup *d, struct ow_dedup_key key,
                                      const uint64_t content[2]);

/** Start loading @key's slot into the cache (during a growth, in both arrays). A lookup costs
 * about one cache miss at a random place (~100 ns from DRAM); a caller holding a batch of
 * events can hide most of it by calling this for event i + 8 while it handles event i. No
 * effect on the table. */
void ow_dedup_prefetch(const struct ow_dedup *d, struct ow_dedup_key key);

/** Remember @key with @content at event time @occurred_us (call after the event was applied).
 * Forgets ids older than (greatest occurred_us seen - span) as it goes, and the oldest ids
 * when the memory bound is reached, and does one bounded step of upkeep (see above). If @key
 * is already remembered nothing changes (the first copy wins). An id already past the span
 * edge when inserted is not stored and counts as expired; at the bound, one older than the ids
 * forgotten is not stored either and counts as forgotten early. @occurred_us is clamped to
 * +-2^61 (about 73,000 years). */
void ow_dedup_insert(struct ow_dedup *d, struct ow_dedup_key key, const uint64_t content[2],
                     int64_t occurred_us);

/* One id to remember, with the arguments of ow_dedup_insert. */
struct ow_dedup_entry {
    struct ow_dedup_key key;
    uint64_t content[2];
    int64_t occurred_us;
};

/** Remember @n ids from @ids (borrowed), with exactly the effect of calling ow_dedup_insert for
 * each in order: the same table, verdicts and counters, duplicates and expiry included. It
 * loads the slots of later ids into the cache while it inserts earlier ones, which hides much
 * of the cache miss each insert costs in a large table. A restore uses ow_dedup_load, which
 * falls back to this where a bulk load cannot be made. Same thread rules as ow_dedup_insert. */
void ow_dedup_insert_many(struct ow_dedup *d, const struct ow_dedup_entry *ids, size_t n);

/* Saved ids for ow_dedup_load: copy entries [@from, @from + @count) into @out. Called from two
 * threads at once, on disjoint ranges, and twice for each entry, which must read the same each
 * time; @again is true the second time, when the entries were all accepted already (a reader
 * that checks them, a checksum say, need not check again). @returns how many were copied:
 * fewer than @count at an entry it refuses (a corrupt record, say), which ends the load there. */
typedef size_t (*ow_dedup_read_fn)(void *arg, size_t from, size_t count, bool again,
                                   struct ow_dedup_entry *out);

/** Load @n saved ids (a restore), read through @read, into a table that has had no insert.
 * The result is what ow_dedup_insert_many would leave over the same entries in order, with
 * two differences:
 * - ids past the span by the greatest time among them are never stored (counted as expired),
 *   where inserts in order would store them and leave them to a sweep;
 * - of an id saved more than once, the last copy is kept. A table saves an id again only once
 *   its first copy is gone (expired, or forgotten at the bound), so the last copy is the one
 *   the saving table held.
 * Made for 10M ids in well under a second: the ids are sorted into buckets by key and placed
 * bucket by bucket, each filling a cache-sized region of the table, on two threads (this one
 * and a helper it starts and joins). Memory meanwhile: 36 bytes per id more, freed on return.
 * If the table holds ids already, or cannot hold @n within 3/4 of its bound, the entries are
 * inserted in order instead, block by block (ow_dedup_insert_many).
 * @returns how many were loaded: @n, or the index of the first entry @read refused (those
 * before it are loaded, none after it). */
size_t ow_dedup_load(struct ow_dedup *d, size_t n, ow_dedup_read_fn read, void *arg);

/** Do all pending upkeep now (a growth, sweeps, forgetting), then reclaim the memory of the ids
 * past the span: O(table), for tests and tools rather than the event loop.
 * @returns the number of ids counted as expired meanwhile (also in the expired counter). */
uint64_t ow_dedup_sweep(struct ow_dedup *d);

/** Call @fn for every remembered id (ids past the span or forgotten are skipped), each once,
 * also during a growth (the old array's unmoved part first, then the new array), for a state
 * save. @occurred_us is the stored time, rounded down to the time unit (exact when the
 * unit is 1 us); inserting these into a new table with the same conf gives the same verdicts
 * (its greatest time is rounded down too, so ids at the edge may be kept one unit longer).
 * @fn must not modify @d. @returns 0, or the first non-zero value @fn returned (which stops
 * the walk). */
int ow_dedup_foreach(const struct ow_dedup *d,
                     int (*fn)(void *arg, struct ow_dedup_key key, const uint64_t content[2],
                               int64_t occurred_us),
                     void *arg);

/** Current counters. */
void ow_dedup_stats(const struct ow_dedup *d, struct ow_dedup_stats *st);

/** The span's edge now, in microseconds: floor((M - span_us) / u) * u, with M the greatest
 * occurred_us inserted (as clamped) and u the time unit (see above). Exactly what lookups
 * apply: an id with occurred_us >= the edge is remembered (unless the memory bound forgot it
 * early, which this does not reflect), one below it is forgotten. A multiple of u; INT64_MIN
 * before the first insert. For compacting saved ids without walking the table: a record kept
 * if and only if its occurred_us >= the edge (exact or rounded down to u, as
 * ow_dedup_foreach gives it) is one the table still remembers by its span. */
int64_t ow_dedup_edge_us(const struct ow_dedup *d);

#endif
