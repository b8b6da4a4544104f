/* processor.h: the contract between the engine and a report processor.
 *
 * A processor is one const, versioned vtable registered in processors/registry.c. It keeps
 * its state behind a context pointer, sees time only as event time and through
 * on_watermark, and writes only through the sink and the alert engine it is given: no I/O,
 * no clock, so replay and live mode agree. */
#ifndef OW_PROCESSOR_H
#define OW_PROCESSOR_H

#include <stdint.h>

#include <jansson.h>

#include "conf.h"
#include "config.h"
#include "event.h"
#include "sink.h"
#include "window.h"

#define OW_PROCESSOR_ABI 1

struct ow_engine;
struct ow_alerts;

/* What a processor may read. Borrowed; lives as long as the engine. */
struct ow_proc_env {
    struct ow_engine *eng;
    const struct ow_tz *tz;
    const struct ow_calendar *cal;
    struct ow_alerts *alerts;    /* never NULL */
    const struct ow_config *cfg; /* the whole configuration (grace, hold, history...) */
};

struct ow_processor {
    int abi;                          /* OW_PROCESSOR_ABI */
    const char *name;                 /* config key under "processors" and log prefix */
    const char *report;               /* key in the snapshot's "reports": "csr_variance" */
    enum ow_window_kind kind;         /* which windows its snapshot section belongs to */
    const char *sec_ref;              /* "L8.9": written as the report's "sec_ref" */
    int due_working_days;             /* SEC deadline in Working Days after the window; 0: none */
    const char *const *event_types;   /* NULL-terminated wire names: { "csr", "forecast", NULL } */
    const struct ow_conf_field *conf; /* config map, { 0 }-terminated; may be NULL */
    size_t conf_size;                 /* sizeof the struct the map fills */

    /** Create the context from @conf (the filled struct, borrowed). */
    int (*init)(void **ctx, const struct ow_proc_env *env, const void *conf, struct ow_err *err);
    /** Apply one validated, de-duplicated event. OW_ESCHEMA (with @err) makes it a dead letter
     * (e.g. a sum that would overflow); nothing may have changed then. */
    int (*apply)(void *ctx, const struct ow_event *ev, struct ow_sink *out, struct ow_err *err);
    /** The watermark moved to @watermark_us (time-based rules). May be NULL. */
    void (*on_watermark)(void *ctx, int64_t watermark_us, struct ow_sink *out);
    /** Window @w (of this processor's kind) is closing, because the watermark passed its close
     * instant or the end of input closes everything: raise what is judged at close, before
     * its final snapshot is written. May be NULL. */
    void (*on_close)(void *ctx, struct ow_window_id w, struct ow_sink *out);
    /** Replay's input ended and every window is about to close (--close-all): no event will
     * come, so entity events held for their opening event stop waiting (unmatched). May be
     * NULL. */
    void (*end_of_input)(void *ctx, struct ow_sink *out);
    /** The report object of window @w (new reference), or NULL if it has none of this kind. */
    json_t *(*snapshot)(void *ctx, struct ow_window_id w);
    /** Forget the state of window @w (retention passed). May be NULL. */
    void (*expire)(void *ctx, struct ow_window_id w);
    /** The processor's whole state as JSON (new reference), for the daemon's checkpoints. What
     * it holds is the processor's own business; restore() must rebuild from it exactly the
     * state that gives the same snapshots, alerts and responses to later events. */
    json_t *(*save)(void *ctx);
    /** Rebuild the state saved by save() into a context fresh from init() (same config).
     * @returns OW_OK, or OW_EINVAL with @err naming what in @state is malformed. */
    int (*restore)(void *ctx, const json_t *state, struct ow_err *err);
    void (*destroy)(void *ctx); /* ctx may be NULL */
};

/* The registry: NULL-terminated (processors/registry.c). */
extern const struct ow_processor *const ow_processors[];

/** True when window @w's state has been dropped (a count event for it is a dead letter).
 * A processor must not add counts to an expired window. */
bool ow_engine_window_expired(const struct ow_engine *eng, struct ow_window_id w);

/** Tell the engine that the current event changed window @w although it did not occur in it
 * (a dispute resolved after its return's window ended): @w gets a new revision. */
void ow_engine_window_touched(struct ow_engine *eng, struct ow_window_id w);

#endif
