/* engine_internal.h: the engine's private state, shared by engine.c (events, windows,
 * outputs) and engine_state.c (save and restore). Nothing outside the engine includes it. */
#ifndef OW_ENGINE_INTERNAL_H
#define OW_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "dedup.h"
#include "engine.h"
#include "event.h"
#include "processor.h"

struct ow_alerts;
struct ow_calendar;
struct ow_decoder;
struct ow_tz;

/* One window's bookkeeping; the figures live in the processors. */
struct win {
    bool closed;
    bool expired;
    uint64_t dirty; /* bit i: processor i's report changed since its last publication */
    int revision;   /* 0 while open */
    int64_t late_events;
    int64_t close_at;
    int64_t expire_at;
};

/* The windows of one kind that exist: a contiguous range (a series has no gaps). */
struct win_range {
    int first; /* index of items[0] */
    int count;
    struct win *items;
    int next_open; /* offset of the oldest window not yet closed */
};

/* Remembered ids inserted since the last save, for incremental saves. */
struct ow__id_record {
    struct ow_dedup_key key;
    uint64_t content[2];
    int64_t occurred_us;
};

struct ow__id_journal {
    bool enabled;
    struct ow__id_record *items;
    size_t count;
    size_t cap;
};

struct ow_engine {
    const struct ow_config *cfg;
    struct ow_sink *sink;
    bool live;
    struct ow_tz *tz;
    struct ow_calendar *cal;
    struct ow_decoder *dec;
    struct ow_dedup *dedup;
    struct ow_alerts *alerts;
    struct ow_proc_env env;
    size_t nproc;
    void **ctx;                          /* per processor */
    size_t *by_type[OW_EV__COUNT];       /* consumer indexes, ended by SIZE_MAX */
    uint64_t consumers_of[OW_EV__COUNT]; /* the same, a bit per processor */
    struct win_range ranges[2];          /* by enum ow_window_kind */
    int64_t max_occurred_us;
    int64_t wall_clock_us;
    struct ow_event ev;
    struct ow_engine_stats stats;
    struct ow__id_journal journal; /* ids inserted since the last save (live mode only) */
    bool *threshold_watch;         /* per processor: a threshold rule reads its report */
    size_t running;                /* the processor whose callback runs now; SIZE_MAX none */
};

/* The most processors the engine tracks changes of (one bit each in struct win's dirty). */
#define OW__ENGINE_MAX_PROCESSORS 64
#define OW__ALL_REPORTS UINT64_MAX

/** Initialise window @w's bookkeeping (its close and expiry instants). */
void ow__engine_win_init(struct ow_engine *eng, struct ow_window_id w, struct win *x);

/** Append an inserted id to the journal (engine_state.c). */
void ow__engine_journal_id(struct ow_engine *eng, struct ow_dedup_key key,
                           const uint64_t content[2], int64_t occurred_us);

#endif
