/* loop.h: opswatchd's libuv loop: Kafka in and out, HTTP, timers and signals on one thread.
 *
 * - SIGTERM / SIGINT: drain: stop consuming (the batch in hand is finished), flush aggregate
 *   updates, wait for the producer's acknowledgements (at most ~7 s), commit, leave the group,
 *   exit 0 within 10 s. A second signal during the drain exits at once (exit code 1).
 * - SIGHUP: reload rules and thresholds from the same file without losing state; an invalid
 *   file is rejected with its errors logged and the running configuration stays.
 * - Timers: the idle clock (the watermark follows the wall clock while the input is caught up
 *   and quiet for live.idle_interval), aggregate flushes (live.aggregate_interval), the
 *   checkpoint (live.checkpoint_interval: save, then commit), input_stale checks.
 * - A stop signal during start-up (config load, restore, group join) is not lost and does not
 *   kill the daemon by its default action: main() blocks the three signals first
 *   (ow_loop_block_signals), the loop installs its handlers, and unblocks them only once it is
 *   up; the pending signal then starts the drain. */
#ifndef OW_LOOP_H
#define OW_LOOP_H

#include <stdint.h>

#include "live.h"

/* What runs beside the daemon on its loop (opswatchd --demo's feed). */
struct ow_loop_hooks {
    /** The daemon is up (Kafka clients and engine created): start. @returns 0 or -1. */
    int (*start)(struct ow_live *lv, void *arg);
    /** Draining: stop and close your loop handles. */
    void (*stop)(void *arg);
    void *arg;
};

/** Block SIGTERM, SIGINT and SIGHUP in the calling thread, and so in every thread it starts
 * later (librdkafka's, the saver's): call first in main(). ow_loop_run unblocks them in its
 * own thread once its handlers are in place, so they reach the loop and nothing else. */
void ow_loop_block_signals(void);

/**
 * Run the daemon on @lv (lv->cfg loaded; lv->config_path the file SIGHUP re-reads, NULL for
 * the built-in configuration). Creates the loop, the producer, the engine, the consumer and
 * the HTTP endpoint (lv->cfg->http.listen, "" none), runs until a drain completes, and frees
 * them all (lv->cfg included). @exit_after_us > 0 drains after that long, as SIGTERM does.
 * @returns the process exit code: 0 after a clean drain, 1 when the daemon could not start or
 * was stopped hard.
 */
int ow_loop_run(struct ow_live *lv, int64_t exit_after_us, const struct ow_loop_hooks *hooks);

#endif
