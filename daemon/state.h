/* state.h: the daemon's durable state in live.state_dir, saved at each checkpoint.
 *
 * Layout of the folder:
 *   state.json      the engine's state (windows, watermark, counters, alerts, processors) and
 *                   the daemon's own (input offsets, the outbox of unacknowledged outputs), plus
 *                   the name, committed length and length when compacted of the current id
 *                   log. Written whole to state.json.tmp, fsynced, renamed over state.json,
 *                   folder fsynced: the rename is the commit point of a save.
 *   ids-<N>.log     the remembered event ids, appended at each save (what changed since the
 *                   previous one), 48-byte records with a checksum each. Bytes past the
 *                   committed length (a save that died before its rename) are cut at start.
 *                   When the log holds more than twice the live ids (and than its length
 *                   after the last compaction) it is rewritten as ids-<N+1>.log
 *                   (compaction), committed by the next state.json: the saver thread reads
 *                   the old log in blocks, checks each record, drops those past the dedup
 *                   span as of the save's prepare and appends the new ids. The loop only
 *                   decides it: it never walks the remembered ids.
 *   LOCK            held (flock) while a daemon uses the folder.
 * A save therefore writes the new ids plus state.json, never the whole id set, and is atomic:
 * after a crash at any instant the folder holds the last committed save. */
#ifndef OW_STATE_H
#define OW_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine.h"
#include "err.h"

struct ow_state;

struct ow_state_stats {
    uint64_t saves;
    uint64_t ids_logged;       /* records in the current id log */
    uint64_t bytes_written;    /* by the last save */
    double last_save_ms;       /* prepare to finish */
    double last_prepare_ms;    /* the part on the caller's thread that stops the engine */
    uint64_t last_prepare_ids; /* ids it copied: the new ones only, even when compacting */
    uint64_t compactions;
};

/** Open (creating if needed) the state folder @dir and lock it. @returns NULL with @err set
 * (folder not writable, locked by another process...). */
struct ow_state *ow_state_open(const char *dir, struct ow_err *err);

/** Close and unlock; NULL is a no-op. */
void ow_state_close(struct ow_state *st);

/** Load the last committed save into @eng (fresh from ow_engine_create, same config) and give
 * the daemon's own part in *@daemon (new reference; NULL when the folder was empty).
 * @returns OW_OK, or OW_EIO / OW_EINVAL with @err naming the file and what is wrong (corrupt
 * or truncated state: see README, "Rebuilding the state"). */
int ow_state_load(struct ow_state *st, struct ow_engine *eng, json_t **daemon, struct ow_err *err);

/** Save @eng's state and @daemon (borrowed) atomically. Journaling must be enabled on @eng
 * (ow_engine_journal_enable) so only new ids are appended. @returns OW_OK, or OW_EIO with
 * @err set (disk full...), or OW_EINVAL when a compaction finds a corrupt record in the id log
 * (@err names the file and the record): nothing is committed then, and the next save retries
 * the same ids.
 * The same as ow_state_save_prepare(), ow_state_save_write(), ow_state_save_finish(). */
int ow_state_save(struct ow_state *st, struct ow_engine *eng, const json_t *daemon,
                  struct ow_err *err);

/* A save in three steps, so that the slow part (writes and fsyncs) can run on another thread
 * while the engine goes on:
 *   prepare  takes from @eng what the save holds (its state tree, the ids remembered since
 *            the last save and, when the log is to be compacted, the span's edge) and
 *            @daemon (borrowed); its cost follows the new ids, not the remembered ones;
 *   write    does the file work (a compaction reads the whole old log here); it touches only
 *            the folder and what prepare took, so it may run on any one thread while the
 *            caller keeps using @eng;
 *   finish   on the caller's thread again: the save is committed (OW_OK) or not (@err set;
 *            the next save retries the same ids).
 * One save at a time: prepare again only after finish. */
void ow_state_save_prepare(struct ow_state *st, struct ow_engine *eng, const json_t *daemon);
void ow_state_save_write(struct ow_state *st);
int ow_state_save_finish(struct ow_state *st, struct ow_err *err);

/** Counters of the saves. */
void ow_state_stats(const struct ow_state *st, struct ow_state_stats *out);

#endif
