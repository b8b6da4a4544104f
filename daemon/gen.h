/* gen.h: `opswatch gen`, a seedable generator of event streams that knows their truth.
 *
 * The generator decides the figures first (a plan per month and quarter: parties, forecasts,
 * volumes, incidents, hub returns, problems, measures), then writes the events that realise
 * the plan, and writes the figures the plan implies. It never runs the engine.
 *
 * Usage:
 *   opswatch gen --seed N --out DIR [--start YYYY-MM] [--months K] [--scale S]
 *                [--no-invalid] [--no-duplicates] [--disorder-minutes M] [--events-only -]
 *
 * Writes DIR/events.jsonl (one event per line, in arrival order) and DIR/expected.json (the
 * subset of snapshot figures, counters and alert ids the plan implies; see the report in the
 * commit history and tests/unit/test_gen.c for its shape). With `--events-only -` the events
 * go to standard output and nothing is written to disk.
 *
 * The output depends only on the arguments: the same seed gives the same bytes on every
 * machine (a self-contained xoshiro256** generator, integer arithmetic for every planned
 * figure). Memory does not grow with --scale: volume events are drawn month by month and
 * shuffled in a bounded buffer.
 */
#ifndef OW_GEN_H
#define OW_GEN_H

#include <stddef.h>

/**
 * Run `opswatch gen`. @argv[0] is "gen"; the options follow.
 * Sets TZ=Europe/London in the process environment (local months are computed with libc).
 * @returns the process exit code: 0 on success, 2 on a usage error, 1 on an I/O error.
 */
int ow_gen_main(int argc, char **argv);

struct ow_gen_event;

/* Receives one event of the stream: the planned event (gen_internal.h) and its line (@len
 * bytes, no newline; borrowed for the call). */
typedef void (*ow_gen_event_fn)(void *arg, const struct ow_gen_event *ev, const char *line,
                                size_t len);

/**
 * The stream `opswatch gen` would write with the same options (@argv[0] is "gen"; --out and
 * --events-only may be left out), handed event by event, in arrival order, to @fn instead of
 * being written (opswatchd --demo feeds it to Kafka). Sets TZ like ow_gen_main.
 * @returns 0, or 2 on a usage error.
 */
int ow_gen_stream(int argc, char **argv, ow_gen_event_fn fn, void *arg);

#endif
