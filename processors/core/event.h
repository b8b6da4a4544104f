/* event.h: the typed event and the one-pass decoder (bytes -> validated struct ow_event).
 *
 * The decoder is driven by declarative field tables (event_fields.c), one per type, and
 * enforces every rule of ../shared/spec/events.md that can be checked on one event alone:
 * types, enums, ranges, required-when rules, limits (64 KiB, depth 16, 4 KiB strings, no
 * \u0000, no unpaired surrogate escapes, valid UTF-8), RFC 3339 times and 64-bit integers.
 * Rules that need state (duplicates, window retention, the future limit) live in the engine.
 */
#ifndef OW_EVENT_H
#define OW_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define OW_EVENT_MAX_BYTES (64 * 1024)
#define OW_EVENT_MAX_DEPTH 16
#define OW_EVENT_MAX_STRING 4096
#define OW_EVENT_ID_MAX 128

enum ow_event_type {
    OW_EV_INCIDENT,
    OW_EV_SERVICE_REQUEST,
    OW_EV_CSR,
    OW_EV_FORECAST,
    OW_EV_CH_RETURN,
    OW_EV_PROBLEM,
    OW_EV_MEASUREMENT,
    OW_EV__COUNT
};

/* Regions; OW_REGION_NONE when the event has none (snapshots say "unknown"). */
enum ow_region {
    OW_REGION_NORTH,
    OW_REGION_CENTRAL,
    OW_REGION_SOUTH,
    OW_REGION__COUNT,
    OW_REGION_NONE = -1
};

/* Lifecycle steps of all entity types in one enum ("closed" serves ch_return and problem). */
enum ow_action {
    OW_ACT_NONE = -1,
    OW_ACT_OPENED,
    OW_ACT_UPDATED,
    OW_ACT_RESOLVED,
    OW_ACT_REOPENED,
    OW_ACT_RETURNED,
    OW_ACT_CLOSED,
    OW_ACT_DISPUTED,
    OW_ACT_DISPUTE_RESOLVED,
    OW_ACT_CREATED,
    OW_ACT_STATUS_CHANGED,
};

enum ow_report_kind { OW_REPORT_NONE = -1, OW_REPORT_SERVICE_REQUEST, OW_REPORT_CSR };
enum ow_attribution { OW_ATTR_NONE = -1, OW_ATTR_SERVICE_USER, OW_ATTR_DCC };
enum ow_fault {
    OW_FAULT_NONE = -1,
    OW_FAULT_AERIAL,
    OW_FAULT_LED,
    OW_FAULT_MANUFACTURING_DEFECT,
    OW_FAULT_SM_HAN_INTERFACE,
    OW_FAULT_SM_WAN,
    OW_FAULT__COUNT
};
enum ow_stage { OW_STAGE_NONE = -1, OW_STAGE_PRE_INSTALLATION, OW_STAGE_POST_INSTALLATION };
enum ow_problem_status {
    OW_PSTATUS_NONE = -1,
    OW_PSTATUS_UNDER_INVESTIGATION,
    OW_PSTATUS_PENDING,
    OW_PSTATUS_COMPLETED,
    OW_PSTATUS__COUNT
};
enum ow_category {
    OW_CAT_NONE = -1,
    OW_CAT_CRITICAL,
    OW_CAT_HIGH,
    OW_CAT_MEDIUM,
    OW_CAT_LOW,
    OW_CAT__COUNT
};

/* A string borrowed from the decoder's buffer: valid until the next decode. Not NUL-free
 * guaranteed by C, but the decoder rejects \u0000, so p[len] == '\0' always holds. */
struct ow_str {
    const char *p;
    uint32_t len;
};

/* One validated event. Fields the type does not have, or that were absent, hold their
 * "none" value: NULL strings, -1 enums, 0 severity, has_* false. */
struct ow_event {
    enum ow_event_type type;
    struct ow_str event_id;
    int64_t occurred_us; /* microseconds since the Unix epoch, UTC */
    enum ow_region region;

    enum ow_action action;     /* incident, ch_return, problem */
    struct ow_str entity_id;   /* incident_id | ch_id | problem_id */
    struct ow_str party_id;    /* service_request, csr, forecast */
    struct ow_str service_ref; /* service_request; forecast (optional) */
    struct ow_str rdp_id;      /* incident */
    struct ow_str measure;     /* measurement */
    struct ow_str provider;    /* measurement */

    int severity; /* incident: 1..5, 0 when absent */
    enum ow_report_kind report;
    enum ow_attribution attribution;
    enum ow_fault fault;
    enum ow_stage stage;
    enum ow_problem_status status;
    enum ow_category category;
    int8_t batched;     /* csr: 0 or 1 */
    int8_t significant; /* problem: -1 absent, 0, 1 */

    int64_t count;    /* service_request, csr: >= 1, default 1 */
    int64_t quantity; /* forecast: >= 0 */
    int64_t met;      /* measurement */
    int64_t total;    /* measurement */
    int period;       /* forecast: months since 0000-01 (year * 12 + month - 1), -1 absent */
    bool has_rca_target;
    int64_t rca_target_us;

    /* 128-bit fingerprint of the whole parsed value (unknown fields included; key order and
     * white space ignored; numbers by their literal text), for the duplicate check. */
    uint64_t content_hash[2];
};

struct ow_decoder;

/** A decoder with its reusable parser and buffers. Never NULL (aborts on OOM). */
struct ow_decoder *ow_decoder_create(void);

/** Free @dec; NULL is a no-op. */
void ow_decoder_destroy(struct ow_decoder *dec);

/**
 * Decode and validate @len bytes at @buf into @ev. The strings in @ev borrow the decoder's
 * buffers and stay valid until the next call on @dec.
 * @returns OW_OK, or OW_ESCHEMA with @err set to a reason a person can act on:
 *          err->where is "<type>: field '<name>'" (or "event" before the type is known),
 *          err->text what was expected and what came, e.g. "expected integer >= 1, got -3".
 */
int ow_decoder_decode(struct ow_decoder *dec, const char *buf, size_t len, struct ow_event *ev,
                      struct ow_err *err);

/** The wire name of a type ("service_request"), or NULL if out of range. */
const char *ow_event_type_name(enum ow_event_type type);

/** The wire name of a region ("north"), or "unknown" for OW_REGION_NONE. */
const char *ow_region_name(enum ow_region region);

#endif
