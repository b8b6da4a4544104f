/* restore_check.h: does a checkpoint, taken anywhere in a run, change what the run says?
 *
 * A run is a list of steps on an engine fixture: an event's JSON text, "@<RFC 3339>" (move the
 * watermark there, as the live idle clock does) or "flush" (ow_engine_flush), then
 * ow_engine_finish(). For every split point k, restore_check() runs the steps before k on one
 * fixture, saves the engine (ow_engine_save), writes the state as JSON text and reads it back,
 * restores it (ow_engine_restore) into a fresh fixture on the same configuration (with the
 * remembered event ids copied, as the state store does), and runs the remaining steps there.
 * The snapshot records and the alert records of the two halves, in order, must equal those of
 * the uninterrupted run, record for record (revisions included); and the restored processors
 * must save again exactly what they were restored from. */
#ifndef OW_RESTORE_CHECK_H
#define OW_RESTORE_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "engine_fixture.h"

/** Check every split of @steps (@n of them) on fixtures made by fixture_create(@config_json,
 * @live), ending with ow_engine_finish(@close_all). Fails the test at the first difference,
 * printing it. @returns the uninterrupted run's fixture (the caller destroys it), so that the
 * test can check that the run did what it means to exercise. */
struct fixture *restore_check(const char *config_json, bool live, const char *const *steps,
                              size_t n, bool close_all);

/** restore_check() with a live engine closing everything at the end; @returns the
 * uninterrupted run's alert records in order (new reference), for the caller to check that the
 * run raised what it means to exercise. */
json_t *restore_check_alerts(const char *config_json, const char *const *steps, size_t n);

/** Run steps @from..@to of @steps on @f (events, "@<time>", "flush"). */
void restore_check_feed(struct fixture *f, const char *const *steps, size_t from, size_t to);

/** How many records of @alerts are @state records of @alert_id. */
size_t alert_records_of(const json_t *alerts, const char *alert_id, const char *state);

/** Save @f's engine, through JSON text. @returns the state (new reference) and its size in
 * bytes as compact text in *@bytes (may be NULL). */
json_t *restore_check_save(struct fixture *f, size_t *bytes);

#endif
