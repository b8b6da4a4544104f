/* demo.h: `opswatchd --demo`: the daemon on librdkafka's in-process mock cluster, fed by the
 * generator, so a newcomer sees windows, aggregates and alerts within a minute with nothing
 * installed.
 *
 * What it feeds (all on the daemon's loop, from its own producer):
 * 1. the backlog: `opswatch gen --seed 7` for the two months before the current one and the
 *    current month up to now, in arrival order at 1000 events/s (past months close as their
 *    grace passes; forecast alerts fire as parties cross their lines; invalid lines become
 *    dead letters);
 * 2. then live traffic at ~20 events/s with occurred_at = now (service requests and CSRs of
 *    the generator's parties);
 * 3. and every 20 s a burst: ten service requests (or CSRs) of one party, occurred_at = now,
 *    enough to take its month-to-date count past 112% of its forecast, so
 *    sr_forecast_exceeded / csr_forecast_exceeded fire live. */
#ifndef OW_DEMO_H
#define OW_DEMO_H

#include <stddef.h>

#include "config.h"
#include "live.h"

struct ow_demo;

/** Start a 3-broker mock cluster, create @cfg's input topics (2 partitions) and output topics
 * (3 partitions), and point @cfg at it: kafka.brokers becomes the mock's bootstrap list and
 * kafka.group_id a fresh group. @returns NULL with @err set. */
struct ow_demo *ow_demo_create(struct ow_config *cfg, char *err, size_t errlen);

/** struct ow_loop_hooks.start: generate the stream and start feeding on lv->loop. */
int ow_demo_start(struct ow_live *lv, void *demo);

/** struct ow_loop_hooks.stop: stop feeding and close the loop handles. Idempotent. */
void ow_demo_stop(void *demo);

/** Stop the mock cluster (after the daemon's clients are gone); NULL is a no-op. */
void ow_demo_destroy(struct ow_demo *d);

#endif
