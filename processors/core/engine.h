/* engine.h: the pure engine: event bytes in, effects out through a sink.
 *
 * No I/O and no clock of its own: time enters only as event time, as an explicit watermark
 * advance (live mode's idle clock) and as an explicit wall clock for the future limit. That is
 * what makes replay and live mode agree, and the engine testable without Kafka. Not thread
 * safe: one engine belongs to one thread (the daemon's loop thread). */
#ifndef OW_ENGINE_H
#define OW_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dedup.h"
#include "err.h"
#include "event.h"
#include "sink.h"
#include "window.h"

struct ow_engine;

/* Where an event came from, for dead letters and their keys. Borrowed. */
struct ow_source {
    const char *topic;   /* Kafka topic, or the input file in replay */
    int32_t partition;   /* -1 in replay */
    int64_t offset;      /* Kafka offset, or the line number (1-based) in replay */
    int64_t received_us; /* wall clock at receipt (daemon/CLI side), for "received_at" */
};

/* Why windows closed, for logs and metrics. */
enum ow_close_reason { OW_CLOSE_WATERMARK, OW_CLOSE_IDLE_CLOCK, OW_CLOSE_END_OF_INPUT };

/* Dead-letter reasons, counted separately. */
enum ow_dl_reason {
    OW_DL_INVALID_JSON,
    OW_DL_SCHEMA,
    OW_DL_UNKNOWN_TYPE,
    OW_DL_TOO_LARGE,
    OW_DL_DUPLICATE_CONFLICT,
    OW_DL_WINDOW_EXPIRED,
    OW_DL_FUTURE,
    OW_DL_OVERFLOW,
    OW_DL__COUNT
};

struct ow_engine_stats {
    uint64_t events;                /* messages offered */
    uint64_t applied;               /* valid, new, applied */
    uint64_t by_type[OW_EV__COUNT]; /* applied, by type */
    uint64_t duplicates;            /* same id and content: counted once */
    uint64_t dead_letters;
    uint64_t dead_by_reason[OW_DL__COUNT];
    uint64_t late_events; /* applied to a window after it closed */
    uint64_t windows;     /* windows that exist (both kinds) */
    uint64_t windows_closed;
    uint64_t closed_by_reason[3];
    int64_t watermark_us; /* INT64_MIN before the first event */
};

/** An engine on @cfg (borrowed; must outlive the engine) writing to @sink (borrowed).
 * @live enables the future limit (see ow_engine_set_wall_clock).
 * @returns NULL with @err set when the zone or calendar cannot be loaded or a processor
 * refuses its configuration, or when some event type has no consumer. */
struct ow_engine *ow_engine_create(const struct ow_config *cfg, struct ow_sink *sink, bool live,
                                   struct ow_err *err);

/** Free; NULL is a no-op. */
void ow_engine_destroy(struct ow_engine *eng);

/**
 * Decode, validate, de-duplicate and apply one event. Never fails on input: a rejected event
 * becomes a dead letter (with its reason) on the sink.
 * @returns OW_OK (applied), OW_EDUP (duplicate, counted once) or OW_ESCHEMA (dead letter).
 */
int ow_engine_apply(struct ow_engine *eng, const char *buf, size_t len,
                    const struct ow_source *src);

/**
 * A hint that the event in @buf (@len bytes) will be applied soon: starts loading the
 * remembered-id slot of its event_id into the cache (a lookup is about one cache miss). Cheap,
 * changes nothing, and a line it cannot read an id from is simply not prefetched. A caller
 * holding a batch of lines calls it for line i + 8 while it applies line i.
 */
void ow_engine_prefetch(const struct ow_engine *eng, const char *buf, size_t len);

/** The wall clock, for alerts' "raised_at" and (live mode only) the future limit
 * ("occurred_at in the future"). Replay sets it too; it never moves event time. */
void ow_engine_set_wall_clock(struct ow_engine *eng, int64_t now_us);

/** Move the watermark to @us if that is later (live mode's idle clock); closes windows and
 * fires time-based rules. */
void ow_engine_advance_watermark(struct ow_engine *eng, int64_t us, enum ow_close_reason why);

/** Publish what changed since the last flush: new revisions of closed windows that received
 * late events, and aggregate updates of open windows. Live: once per aggregate interval. */
void ow_engine_flush(struct ow_engine *eng);

/** End of replay input: close every window if @close_all, then publish every window's
 * snapshot and aggregates (open ones as revision 0, not final). */
void ow_engine_finish(struct ow_engine *eng, bool close_all);

/** The windows that exist, oldest first, as a new JSON array of {window, kind, state ("open",
 * "closed", "expired"), revision, late_events, close_at}. */
json_t *ow_engine_windows(const struct ow_engine *eng);

/** The current snapshot of window @name ("2021-04", "2021-Q2") as a new reference, built now,
 * or NULL when that window does not exist or has expired. */
json_t *ow_engine_snapshot(struct ow_engine *eng, const char *name);

/** The counters of the remembered event ids. */
void ow_engine_dedup_stats(const struct ow_engine *eng, struct ow_dedup_stats *st);

/** The remembered ids' span edge now, as the table itself applies it (ow_dedup_edge_us): an
 * id with occurred_us >= this is remembered, one below it is forgotten. INT64_MIN before the
 * first event. For compacting saved ids. */
int64_t ow_engine_dedup_edge_us(const struct ow_engine *eng);

/** The alert engine (for rules outside the processors, such as input_stale). Borrowed. */
struct ow_alerts *ow_engine_alerts(struct ow_engine *eng);

/* ---- state, for the live daemon's checkpoints (engine_state.c) ----
 * A checkpoint is the engine's state (windows, watermark, counters, alert states, every
 * processor's state) as one JSON document, plus the remembered ids, which are many (tens of
 * millions) and so are saved incrementally: the engine journals each id it remembers, and the
 * state store appends the journal to what it saved before. */

/** The engine's state without the remembered ids (new reference). */
json_t *ow_engine_save(struct ow_engine *eng);

/** Restore @state (borrowed) into an engine fresh from ow_engine_create with the same config.
 * Call before any event; then feed the saved ids with ow_engine_load_ids (or _restore_id).
 * @returns OW_OK or OW_EINVAL with @err saying what is malformed. */
int ow_engine_restore(struct ow_engine *eng, const json_t *state, struct ow_err *err);

/** Remember a saved id again (restore). Ids already past the span are dropped. */
void ow_engine_restore_id(struct ow_engine *eng, struct ow_dedup_key key, const uint64_t content[2],
                          int64_t occurred_us);

/** Remember @n saved ids at once (restore), read through @read (see ow_dedup_load: two
 * threads, sorted into the table by key). @returns how many were loaded: @n, or the index of
 * the first entry @read refused. */
size_t ow_engine_load_ids(struct ow_engine *eng, size_t n, ow_dedup_read_fn read, void *arg);

/** Start journaling remembered ids (live mode; replay never needs it). */
void ow_engine_journal_enable(struct ow_engine *eng);

/** Hand the ids remembered since the last call to @fn, in order, and empty the journal. */
void ow_engine_journal_drain(struct ow_engine *eng,
                             void (*fn)(void *arg, struct ow_dedup_key key,
                                        const uint64_t content[2], int64_t occurred_us),
                             void *arg);

/** Every id remembered now, to @fn (a full rewrite of the saved ids when compacting).
 * @returns the number of ids. */
uint64_t ow_engine_foreach_id(struct ow_engine *eng,
                              void (*fn)(void *arg, struct ow_dedup_key key,
                                         const uint64_t content[2], int64_t occurred_us),
                              void *arg);

/** Rebuild @eng on @cfg (a reload: new rules and thresholds) keeping everything it holds:
 * its state goes through ow_engine_save/ow_engine_restore into a new engine on @cfg, and the
 * remembered ids move over as they are. On success *@eng is the new engine (the old one is
 * destroyed) and @cfg must outlive it; on failure *@eng is untouched and @err says why (a
 * processor refusing the new configuration). Settings that shape the windows themselves
 * (zone, calendar, grace, retention) need a restart: the caller warns about them. */
int ow_engine_reconfigure(struct ow_engine **eng, const struct ow_config *cfg, struct ow_sink *sink,
                          struct ow_err *err);

/** Current counters. Borrowed. */
const struct ow_engine_stats *ow_engine_stats(const struct ow_engine *eng);

/** The name of a dead-letter reason ("invalid_json", "window_expired"...). */
const char *ow_dl_reason_name(enum ow_dl_reason r);

/** The name of a close reason ("watermark", "idle_clock", "end_of_input"). */
const char *ow_close_reason_name(enum ow_close_reason r);

#endif
