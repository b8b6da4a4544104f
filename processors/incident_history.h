/* incident_history.h: one RDP incident's events, sorted by event time, and what they add to
 * each month's report. Internal to the rdp_incidents processor (incidents.c).
 *
 * A history is the only truth about an incident: every figure (opened, resolved, reopened,
 * open at a month's end, severity and age of a resolution) is derived from the events sorted
 * by (occurred_at, lifecycle order of the action, event id), so the order in which they arrived
 * never matters. The rules (events.md, "Incidents"), as the walk applies them:
 * - the first `opened` in that order opens the incident, once; events before it in event time
 *   only lend it their region; a later `opened` changes no state and counts nothing, but its
 *   severity is a severity statement like an `updated`'s;
 * - `resolved` closes it and counts, every time; `reopened` opens it again and counts as such;
 * - a resolution's severity is the latest given (by `opened` or `updated`) before it, its age
 *   runs from the first `opened`;
 * - an incident with no `opened` is held until its hold is over (the caller decides when and
 *   sets hold_expired); it then counts as opened before the data began: open from its first
 *   event on if that is an `updated` or `reopened`, its resolutions counted without severity
 *   or age (they are the report's `unmatched`);
 * - its region at an instant is the latest region given at or before that instant, else the
 *   first region it was ever given, else unknown. */
#ifndef OW_INCIDENT_HISTORY_H
#define OW_INCIDENT_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "tz.h"

#define OW_INC_NSEV 5
#define OW_INC_REG_UNKNOWN OW_REGION__COUNT /* region index of events without one */
#define OW_INC_NREG (OW_REGION__COUNT + 1)

enum ow_inc_state { OW_INC_NONE, OW_INC_OPEN, OW_INC_RESOLVED };
enum ow_inc_overdue { OW_INC_OVERDUE_NONE, OW_INC_OVERDUE_ACTIVE, OW_INC_OVERDUE_DONE };
enum ow_inc_fact_kind { OW_INC_F_OPENED, OW_INC_F_RESOLVED, OW_INC_F_REOPENED, OW_INC_F_OPEN };

struct ow_inc_ev {
    int64_t us;
    char *event_id;
    char *rdp_id;    /* `opened` only */
    int8_t action;   /* enum ow_action */
    int8_t severity; /* 0: not given */
    int8_t region;   /* enum ow_region */
};

/* One incident. The processor keeps these as strmap values (zeroed on creation). */
struct ow_incident {
    char *id;
    struct ow_inc_ev *evs; /* sorted */
    size_t n;
    size_t cap;
    bool hold_expired; /* no `opened` by the end of its hold: taken as opened before the data */
    /* The processor's bookkeeping. */
    bool open_now;  /* counted in the open total */
    bool watched;   /* on the processor's list of incidents waiting for the watermark */
    int8_t overdue; /* enum ow_inc_overdue: what incident_overdue has said */
    int overdue_window;
    int64_t deadline; /* first opened + TRT of the latest severity; INT64_MAX: none */
    bool rejudge;     /* the deadline moved with a reload: judged at the next watermark step */
};

/* One thing an incident adds to one month's report. */
struct ow_inc_fact {
    int month;       /* year * 12 + month - 1 */
    int8_t kind;     /* enum ow_inc_fact_kind; OW_INC_F_OPEN: open at the month's end */
    int8_t region;   /* 0..OW_INC_REG_UNKNOWN */
    int8_t severity; /* OW_INC_F_RESOLVED: 1..5, or 0 when the incident is unmatched */
    int64_t age_us;  /* OW_INC_F_RESOLVED of a matched incident: since the first `opened` */
};

/* A growable list of facts, reused between calls. */
struct ow_inc_facts {
    struct ow_inc_fact *v;
    size_t n;
    size_t cap;
};

/* The state of a history after a prefix of its events. */
struct ow_inc_walk {
    long fo;       /* index of the first `opened`, -1: none */
    int st;        /* enum ow_inc_state */
    int sev;       /* latest severity given, 0: none */
    int8_t region; /* latest region given, OW_REGION_NONE: none yet */
};

/** Index of the first `opened` in @inc's sorted events, or -1. */
long ow__inc_first_opened(const struct ow_incident *inc);

/** Held: no events, or no `opened` and the hold not over. A held incident counts nowhere. */
bool ow__inc_held(const struct ow_incident *inc);

/** The RDP of the first `opened` (borrowed), or NULL when there is none. */
const char *ow__inc_rdp(const struct ow_incident *inc);

/** Is an event with id @id (not NUL-terminated) already in the history? */
bool ow__inc_has_event(const struct ow_incident *inc, const char *id, size_t len);

/** Insert a copy of @ev's fields in order. The caller has checked ow__inc_has_event(). */
void ow__inc_insert(struct ow_incident *inc, const struct ow_event *ev);

/** Append a copy of @e (its strings copied) if it sorts after every event of @inc, as when
 * a saved history is read back. @returns false, changing nothing, if it does not. */
bool ow__inc_append(struct ow_incident *inc, const struct ow_inc_ev *e);

/** The walk after every event that occurred at or before @until (INT64_MAX: all); a held
 * incident stays OW_INC_NONE. */
void ow__inc_walk_until(const struct ow_incident *inc, int64_t until, struct ow_inc_walk *k);

/** Replace @out's contents with the facts @inc adds to months @lo..@hi, in month order. Open at
 * a month's end means open after the events that occurred before the month's end instant in
 * @tz (an event at the end instant belongs to the next month). */
void ow__inc_collect(const struct ow_tz *tz, const struct ow_incident *inc, int lo, int hi,
                     struct ow_inc_facts *out);

/** Do two facts say the same? */
bool ow__inc_fact_eq(const struct ow_inc_fact *a, const struct ow_inc_fact *b);

/** Free what @inc owns (for ow_strmap_destroy / ow_strmap_remove); not @inc itself. */
void ow__inc_free(void *inc);

#endif
