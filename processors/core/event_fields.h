/* event_fields.h: the declarative field tables the event decoder runs on (private to
 * event.c and event_fields.c; other modules use event.h only).
 *
 * Every top-level field name the contract knows gets a slot. While parsing, the decoder keeps
 * the raw scalar token of each known slot; when the object ends and the type is known, it walks
 * the envelope table and then the type's table: first converting and range-checking every
 * present field into struct ow_event (in table order), then the required-when rules (in table
 * order), then the type's cross-field rules (finish).
 */
#ifndef OW_EVENT_FIELDS_H
#define OW_EVENT_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "event.h"

/* Known top-level field names, in the order of ow__field_names. */
enum ow__slot {
    OW__F_EVENT_ID,
    OW__F_TYPE,
    OW__F_SCHEMA_VERSION,
    OW__F_OCCURRED_AT,
    OW__F_REGION,
    OW__F_INCIDENT_ID,
    OW__F_ACTION,
    OW__F_SEVERITY,
    OW__F_RDP_ID,
    OW__F_PARTY_ID,
    OW__F_SERVICE_REF,
    OW__F_COUNT,
    OW__F_BATCHED,
    OW__F_REPORT,
    OW__F_PERIOD,
    OW__F_QUANTITY,
    OW__F_CH_ID,
    OW__F_ATTRIBUTION,
    OW__F_FAULT,
    OW__F_STAGE,
    OW__F_PROBLEM_ID,
    OW__F_STATUS,
    OW__F_CATEGORY,
    OW__F_RCA_TARGET_AT,
    OW__F_SIGNIFICANT,
    OW__F_MEASURE,
    OW__F_PROVIDER,
    OW__F_MET,
    OW__F_TOTAL,
    OW__F__COUNT
};

/* How a field's JSON value is checked and where it is stored. */
enum ow__kind {
    OW__K_STR,         /* string -> struct ow_str */
    OW__K_ID,          /* string of min..max code points -> struct ow_str */
    OW__K_SERVICE_REF, /* string ^[0-9]+(\.[0-9]+){0,3}$ -> struct ow_str */
    OW__K_ENUM,        /* string from names[] -> int (values[i], or i when values is NULL) */
    OW__K_INT,         /* JSON integer min..max -> int */
    OW__K_INT64,       /* JSON integer min..max -> int64_t */
    OW__K_BOOL,        /* true/false -> int8_t 0/1 */
    OW__K_TIME,        /* RFC 3339 with offset -> int64_t us; bool at flag_offset if has_flag */
    OW__K_PERIOD,      /* "YYYY-MM" -> int year * 12 + month - 1 */
};

/* When a field must be present. */
enum ow__req {
    OW__REQ_NO,      /* optional */
    OW__REQ_ALWAYS,  /* always */
    OW__REQ_ACTIONS, /* when the event's action is in the actions mask */
    OW__REQ_DCC,     /* when attribution is "dcc" */
};

struct ow__field {
    enum ow__slot slot;
    enum ow__kind kind;
    size_t offset;      /* into struct ow_event */
    size_t flag_offset; /* OW__K_TIME: a bool set when present (if has_flag) */
    int has_flag;
    int64_t min; /* OW__K_INT*: bounds; OW__K_ID: length bounds */
    int64_t max;
    int64_t dflt;             /* OW__K_INT64: value when absent */
    const char *const *names; /* OW__K_ENUM: NULL-terminated wire names */
    const int *values;        /* OW__K_ENUM: stored value per name, or NULL for the index */
    enum ow__req req;
    unsigned actions; /* OW__REQ_ACTIONS: mask of 1u << enum ow_action */
};

struct ow__type {
    const char *name;
    const struct ow__field *fields;
    size_t nfields;
    /* Cross-field rules and normalisation, run after every field is stored (may be NULL):
     * returns 0, or fills @err and returns OW_ESCHEMA. */
    int (*finish)(struct ow_event *ev, struct ow_err *err);
};

/* Wire names of the slots, indexed by enum ow__slot. */
extern const char *const ow__field_names[OW__F__COUNT];

/* Envelope fields checked for every type (event_id, schema_version handled apart, occurred_at). */
extern const struct ow__field ow__envelope[];
extern const size_t ow__envelope_count;

/* One table per type, indexed by enum ow_event_type. */
extern const struct ow__type ow__types[OW_EV__COUNT];

/* "incident, service_request, ..." for messages. */
extern const char ow__type_list[];

#endif
