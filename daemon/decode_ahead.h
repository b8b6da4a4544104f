/* decode_ahead.h: a second thread that decodes the events of a chunk ahead of the loop, which
 * applies them in order.
 *
 * Why: in a backlog the loop thread is the daemon's bottleneck, and about half of its time per
 * event is decoding and validating the JSON (README, "Durability / Measured"). Decoding is pure
 * (the same bytes give the same event on any decoder), so it can run beside the loop while the
 * engine's state stays on the loop alone.
 *
 * How: the loop fills the inputs of a chunk and begins it; the worker claims the chunk's slots
 * from the front and decodes each into the slot, with the event's strings in a part of the
 * chunk's own arena. The loop takes the slots in order (ow_decode_ahead_get): a slot the worker
 * has decoded is used as it is; one the worker has not reached yet the loop claims and decodes
 * itself, so the loop never waits for the worker to wake up, and a busy machine that does not
 * schedule the worker only costs the overlap. Each slot is claimed once, by a compare and swap
 * on its tag (the chunk's generation and the slot's state), so a worker still looking at the
 * last chunk cannot touch the next one. */
#ifndef OW_DECODE_AHEAD_H
#define OW_DECODE_AHEAD_H

#include <stddef.h>

#include "dedup.h"
#include "err.h"
#include "event.h"

/* The most inputs one chunk holds. */
#define OW_DECODE_AHEAD_MAX 256

/* What a slot holds once decoded. */
struct ow_decoded {
    int rc; /* OW_OK: ev and key hold the event; otherwise the decoder's error (the caller
               decodes again where it words the dead letter) */
    struct ow_dedup_key key; /* ow_dedup_key_of(ev.event_id) */
    struct ow_event ev;
};

struct ow_decode_input {
    const char *buf; /* NULL: nothing to decode (the slot is not taken by get) */
    size_t len;
};

struct ow_decode_ahead;

/** A decoder thread. @returns NULL when the thread cannot start (the caller decodes inline). */
struct ow_decode_ahead *ow_decode_ahead_create(void);

/** Stop the thread and free; NULL is a no-op. Not while a chunk is being taken. */
void ow_decode_ahead_destroy(struct ow_decode_ahead *da);

/** The input array of the next chunk, OW_DECODE_AHEAD_MAX entries, for the caller to fill
 * before ow_decode_ahead_begin. Only between chunks (every slot of the last one taken). */
struct ow_decode_input *ow_decode_ahead_inputs(struct ow_decode_ahead *da);

/** Start decoding the first @n (<= OW_DECODE_AHEAD_MAX) inputs. The buffers must stay as
 * they are until the chunk's last slot is taken. */
void ow_decode_ahead_begin(struct ow_decode_ahead *da, size_t n);

/** Slot @i of the chunk, decoded (by the worker, or now on this thread); NULL when its input
 * had no buffer. Take the slots once each, in order. The event's strings stay valid until the
 * next begin. */
const struct ow_decoded *ow_decode_ahead_get(struct ow_decode_ahead *da, size_t i);

/** Slot @i if it is decoded already, else NULL: for hints (a prefetch of its remembered-id
 * slot), never waits. */
const struct ow_decoded *ow_decode_ahead_peek(const struct ow_decode_ahead *da, size_t i);

/** How many slots the worker decoded, and how many the caller decoded itself, since creation
 * (for the metrics and the bench). */
void ow_decode_ahead_counts(const struct ow_decode_ahead *da, uint64_t *by_worker,
                            uint64_t *by_caller);

#endif
