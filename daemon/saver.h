/* saver.h: the file half of each save (ow_state_save_write) on a thread of its own, so the
 * loop goes on consuming while the writes and fsyncs run.
 *
 * The loop prepares a save (ow_state_save_prepare), hands it over with ow_saver_start, and
 * learns the result through @done, called on the loop thread (woken by a uv_async_t), where it
 * finishes the save (ow_state_save_finish) and commits what it saved. One save is in flight at
 * a time. ow_saver_wait blocks the loop until the save in flight is written and calls @done
 * there and then: for the moments that must save synchronously (a revocation, the stop). */
#ifndef OW_SAVER_H
#define OW_SAVER_H

#include <stdbool.h>

#include <uv.h>

#include "state.h"

struct ow_saver;

/** Called on the loop thread once the save handed over by ow_saver_start is written. */
typedef void (*ow_saver_done_fn)(void *arg);

/** A writer thread for @st's saves, reporting on @loop. @returns NULL if the thread cannot
 * start (the caller then saves synchronously). */
struct ow_saver *ow_saver_create(uv_loop_t *loop, struct ow_state *st, ow_saver_done_fn done,
                                 void *arg);

/** A save is in flight (started, @done not yet called). */
bool ow_saver_busy(const struct ow_saver *sv);

/** Write the prepared save of @st on the writer thread. Not while busy. */
void ow_saver_start(struct ow_saver *sv);

/** If a save is in flight, wait for its write and call @done now. */
void ow_saver_wait(struct ow_saver *sv);

/** Wait as ow_saver_wait, stop the thread and close the loop handle (the loop must run once
 * more to free it: call ow_saver_destroy after uv_run returns). NULL is a no-op. */
void ow_saver_close(struct ow_saver *sv);

/** Free; after ow_saver_close and the loop's end. NULL is a no-op. */
void ow_saver_destroy(struct ow_saver *sv);

#endif
