/* render.h: records serialised to JSON text on a thread of its own, so that the loop does not
 * stop for the big ones.
 *
 * An aggregate update or a snapshot carries a whole report: with hundreds of parties in a
 * window its text takes milliseconds to make, every aggregate interval, and every event that
 * arrives meanwhile waits. The loop builds the record and submits it here with the sequence
 * number it has reserved; the thread makes the text, and @done gets it back on the loop thread
 * (woken by a uv_async_t), in the order of submission. */
#ifndef OW_RENDER_H
#define OW_RENDER_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

struct ow_render;

/** Called on the loop thread with the compact JSON text of the record submitted as @seq
 * (owned by the callee; NULL when it could not be made). */
typedef void (*ow_render_done_fn)(void *arg, uint64_t seq, char *text);

/** A render thread reporting on @loop. @returns NULL if the thread cannot start (the caller
 * then serialises on the loop). */
struct ow_render *ow_render_create(uv_loop_t *loop, ow_render_done_fn done, void *arg);

/** Make the text of @rec (a reference the thread takes over; the record must not be changed
 * afterwards, by anyone) and report it as @seq. */
void ow_render_submit(struct ow_render *r, uint64_t seq, json_t *rec);

/** Records submitted whose text @done has not yet received. */
uint64_t ow_render_pending(const struct ow_render *r);

/** Wait until every submitted record is rendered, and hand each to @done now. */
void ow_render_settle(struct ow_render *r);

/** Settle, stop the thread and close the loop handle (the loop must run once more to free it:
 * call ow_render_destroy after uv_run returns). NULL is a no-op. */
void ow_render_close(struct ow_render *r);

/** Free; after ow_render_close and the loop's end. NULL is a no-op. */
void ow_render_destroy(struct ow_render *r);

#endif
