/* restore_check.h: does a checkpoint, taken anywhere in a run, change what the run says?
 *
 * A run is a list of steps on an engine fixture: an event's JSON text, "@<RFC 3339>" (move the
 * watermark there, as the live idle clock does) or "flush" (ow_engine_flush), then
 * ow_engine_finish(). For every split point k, restore_check() runs the steps before k on one
 * fixture, saves the engine (ow_engine_save), writes the state as JSON text and reads it back,
 * restores it (ow_engine_restore) into a fresh fixture on the same configuration (with the
 * remembered event ids copied, as the state store does), and runs the remaining steps there.
 * The snapshot records and the alert records of the two halves, in order, must equal those of
 * the uninterrupted run, record for record (revisions included). */
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

/** Save @f's engine, through JSON text. @returns the state (new reference) and its size in
 * bytes as compact text in *@bytes (may be NULL). */
json_t *restore_check_save(struct fixture *f, size_t *bytes);

#endif
