/* event_fields.c: the input contract (spec/events.md) as data: one field table per type. */
#include "event_fields.h"

#include <stdint.h>

#define OFF(member) offsetof(struct ow_event, member)
#define ACT(a) (1u << (a))

/* A string, an id with a length range, a service reference. */
#define F_STR(s, member, rq, acts)                                                                 \
    {                                                                                              \
        .slot = (s), .kind = OW__K_STR, .offset = OFF(member), .req = (rq), .actions = (acts)      \
    }
#define F_ID(s, member, lo, hi)                                                                    \
    {                                                                                              \
        .slot = (s), .kind = OW__K_ID, .offset = OFF(member), .min = (lo), .max = (hi),            \
        .req = OW__REQ_ALWAYS                                                                      \
    }
#define F_SREF(s, member, rq)                                                                      \
    {                                                                                              \
        .slot = (s), .kind = OW__K_SERVICE_REF, .offset = OFF(member), .req = (rq)                 \
    }
#define F_ENUM(s, member, nm, vals, rq, acts)                                                      \
    {                                                                                              \
        .slot = (s), .kind = OW__K_ENUM, .offset = OFF(member), .names = (nm), .values = (vals),   \
        .req = (rq), .actions = (acts)                                                             \
    }
#define F_INT(s, member, lo, hi, rq, acts)                                                         \
    {                                                                                              \
        .slot = (s), .kind = OW__K_INT, .offset = OFF(member), .min = (lo), .max = (hi),           \
        .req = (rq), .actions = (acts)                                                             \
    }
#define F_INT64(s, member, lo, def, rq)                                                            \
    {                                                                                              \
        .slot = (s), .kind = OW__K_INT64, .offset = OFF(member), .min = (lo), .max = INT64_MAX,    \
        .dflt = (def), .req = (rq)                                                                 \
    }
#define F_BOOL(s, member, rq)                                                                      \
    {                                                                                              \
        .slot = (s), .kind = OW__K_BOOL, .offset = OFF(member), .req = (rq)                        \
    }
#define F_TIME(s, member, rq)                                                                      \
    {                                                                                              \
        .slot = (s), .kind = OW__K_TIME, .offset = OFF(member), .req = (rq)                        \
    }
#define F_TIME_OPT(s, member, flag)                                                                \
    {                                                                                              \
        .slot = (s), .kind = OW__K_TIME, .offset = OFF(member), .flag_offset = OFF(flag),          \
        .has_flag = 1, .req = OW__REQ_NO                                                           \
    }
#define F_PERIOD(s, member, rq)                                                                    \
    {                                                                                              \
        .slot = (s), .kind = OW__K_PERIOD, .offset = OFF(member), .req = (rq)                      \
    }
#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

const char *const ow__field_names[OW__F__COUNT] = {
    [OW__F_EVENT_ID] = "event_id",
    [OW__F_TYPE] = "type",
    [OW__F_SCHEMA_VERSION] = "schema_version",
    [OW__F_OCCURRED_AT] = "occurred_at",
    [OW__F_REGION] = "region",
    [OW__F_INCIDENT_ID] = "incident_id",
    [OW__F_ACTION] = "action",
    [OW__F_SEVERITY] = "severity",
    [OW__F_RDP_ID] = "rdp_id",
    [OW__F_PARTY_ID] = "party_id",
    [OW__F_SERVICE_REF] = "service_ref",
    [OW__F_COUNT] = "count",
    [OW__F_BATCHED] = "batched",
    [OW__F_REPORT] = "report",
    [OW__F_PERIOD] = "period",
    [OW__F_QUANTITY] = "quantity",
    [OW__F_CH_ID] = "ch_id",
    [OW__F_ATTRIBUTION] = "attribution",
    [OW__F_FAULT] = "fault",
    [OW__F_STAGE] = "stage",
    [OW__F_PROBLEM_ID] = "problem_id",
    [OW__F_STATUS] = "status",
    [OW__F_CATEGORY] = "category",
    [OW__F_RCA_TARGET_AT] = "rca_target_at",
    [OW__F_SIGNIFICANT] = "significant",
    [OW__F_MEASURE] = "measure",
    [OW__F_PROVIDER] = "provider",
    [OW__F_MET] = "met",
    [OW__F_TOTAL] = "total",
};

const char ow__type_list[] =
    "incident, service_request, csr, forecast, ch_return, problem, measurement";

/* Enum wire names, in the order of their C enums (index = value) unless values[] says. */
static const char *const region_names[] = {"north", "central", "south", NULL};
static const char *const report_names[] = {"service_request", "csr", NULL};
static const char *const attribution_names[] = {"service_user", "dcc", NULL};
static const char *const fault_names[] = {"aerial",           "led",    "manufacturing_defect",
                                          "sm_han_interface", "sm_wan", NULL};
static const char *const stage_names[] = {"pre_installation", "post_installation", NULL};
static const char *const pstatus_names[] = {"under_investigation", "pending", "completed", NULL};
static const char *const category_names[] = {"critical", "high", "medium", "low", NULL};

static const char *const incident_actions[] = {"opened", "updated", "resolved", "reopened", NULL};
static const int incident_action_values[] = {OW_ACT_OPENED, OW_ACT_UPDATED, OW_ACT_RESOLVED,
                                             OW_ACT_REOPENED};
static const char *const ch_actions[] = {"returned", "closed", "disputed", "dispute_resolved",
                                         NULL};
static const int ch_action_values[] = {OW_ACT_RETURNED, OW_ACT_CLOSED, OW_ACT_DISPUTED,
                                       OW_ACT_DISPUTE_RESOLVED};
static const char *const problem_actions[] = {"created", "status_changed", "closed", NULL};
static const int problem_action_values[] = {OW_ACT_CREATED, OW_ACT_STATUS_CHANGED, OW_ACT_CLOSED};

/* event_id and occurred_at; type and schema_version are checked by the decoder itself, since
 * they decide which table applies and whether this contract applies at all. */
const struct ow__field ow__envelope[] = {
    F_ID(OW__F_EVENT_ID, event_id, 1, OW_EVENT_ID_MAX),
    F_TIME(OW__F_OCCURRED_AT, occurred_us, OW__REQ_ALWAYS),
};
const size_t ow__envelope_count = COUNT_OF(ow__envelope);

static const struct ow__field incident_fields[] = {
    F_STR(OW__F_INCIDENT_ID, entity_id, OW__REQ_ALWAYS, 0),
    F_ENUM(OW__F_ACTION, action, incident_actions, incident_action_values, OW__REQ_ALWAYS, 0),
    F_INT(OW__F_SEVERITY, severity, 1, 5, OW__REQ_ACTIONS, ACT(OW_ACT_OPENED)),
    F_STR(OW__F_RDP_ID, rdp_id, OW__REQ_ACTIONS, ACT(OW_ACT_OPENED)),
    F_ENUM(OW__F_REGION, region, region_names, NULL, OW__REQ_NO, 0),
};

static const struct ow__field service_request_fields[] = {
    F_STR(OW__F_PARTY_ID, party_id, OW__REQ_ALWAYS, 0),
    F_SREF(OW__F_SERVICE_REF, service_ref, OW__REQ_ALWAYS),
    F_INT64(OW__F_COUNT, count, 1, 1, OW__REQ_NO),
    F_ENUM(OW__F_REGION, region, region_names, NULL, OW__REQ_ALWAYS, 0),
};

static const struct ow__field csr_fields[] = {
    F_STR(OW__F_PARTY_ID, party_id, OW__REQ_ALWAYS, 0),
    F_BOOL(OW__F_BATCHED, batched, OW__REQ_ALWAYS),
    F_INT64(OW__F_COUNT, count, 1, 1, OW__REQ_NO),
    F_ENUM(OW__F_REGION, region, region_names, NULL, OW__REQ_NO, 0),
};

static const struct ow__field forecast_fields[] = {
    F_ENUM(OW__F_REPORT, report, report_names, NULL, OW__REQ_ALWAYS, 0),
    F_STR(OW__F_PARTY_ID, party_id, OW__REQ_ALWAYS, 0),
    F_SREF(OW__F_SERVICE_REF, service_ref, OW__REQ_NO),
    F_PERIOD(OW__F_PERIOD, period, OW__REQ_ALWAYS),
    F_INT64(OW__F_QUANTITY, quantity, 0, 0, OW__REQ_ALWAYS),
    F_ENUM(OW__F_REGION, region, region_names, NULL, OW__REQ_NO, 0),
};

static const struct ow__field ch_return_fields[] = {
    F_STR(OW__F_CH_ID, entity_id, OW__REQ_ALWAYS, 0),
    F_ENUM(OW__F_ACTION, action, ch_actions, ch_action_values, OW__REQ_ALWAYS, 0),
    F_ENUM(OW__F_ATTRIBUTION, attribution, attribution_names, NULL, OW__REQ_ACTIONS,
           ACT(OW_ACT_CLOSED) | ACT(OW_ACT_DISPUTE_RESOLVED)),
    F_ENUM(OW__F_FAULT, fault, fault_names, NULL, OW__REQ_DCC, 0),
    F_ENUM(OW__F_STAGE, stage, stage_names, NULL, OW__REQ_NO, 0),
    F_ENUM(OW__F_REGION, region, region_names, NULL, OW__REQ_ALWAYS, 0),
};

static const struct ow__field problem_fields[] = {
    F_STR(OW__F_PROBLEM_ID, entity_id, OW__REQ_ALWAYS, 0),
    F_ENUM(OW__F_ACTION, action, problem_actions, problem_action_values, OW__REQ_ALWAYS, 0),
    F_ENUM(OW__F_STATUS, status, pstatus_names, NULL, OW__REQ_ACTIONS,
           ACT(OW_ACT_CREATED) | ACT(OW_ACT_STATUS_CHANGED)),
    F_ENUM(OW__F_CATEGORY, category, category_names, NULL, OW__REQ_ACTIONS, ACT(OW_ACT_CREATED)),
    F_TIME_OPT(OW__F_RCA_TARGET_AT, rca_target_us, has_rca_target),
    F_BOOL(OW__F_SIGNIFICANT, significant, OW__REQ_NO),
    F_ENUM(OW__F_REGION, region, region_names, NULL, OW__REQ_NO, 0),
};

static const struct ow__field measurement_fields[] = {
    F_STR(OW__F_MEASURE, measure, OW__REQ_ALWAYS, 0),
    F_STR(OW__F_PROVIDER, provider, OW__REQ_ALWAYS, 0),
    F_INT64(OW__F_MET, met, 0, 0, OW__REQ_ALWAYS),
    F_INT64(OW__F_TOTAL, total, 1, 0, OW__REQ_ALWAYS),
    F_ENUM(OW__F_REGION, region, region_names, NULL, OW__REQ_NO, 0),
};

/* A per-service forecast exists only for service requests: a CSR forecast's service_ref
 * carries no meaning and is dropped, so it is the party's forecast. */
static int forecast_finish(struct ow_event *ev, struct ow_err *err)
{
    (void)err;
    if (ev->report == OW_REPORT_CSR) {
        ev->service_ref.p = NULL;
        ev->service_ref.len = 0;
    }
    return OW_OK;
}

/* "No Fault Found" with a fault contradicts itself (spec: the one field given where it does
 * not apply that is an error rather than ignored). */
static int ch_return_finish(struct ow_event *ev, struct ow_err *err)
{
    if (ev->attribution == OW_ATTR_SERVICE_USER && ev->fault != OW_FAULT_NONE) {
        return ow_err_set(err, OW_ESCHEMA, "ch_return: field 'fault'",
                          "not allowed when attribution is 'service_user' (No Fault Found)");
    }
    return OW_OK;
}

static int measurement_finish(struct ow_event *ev, struct ow_err *err)
{
    if (ev->met > ev->total) {
        return ow_err_set(err, OW_ESCHEMA, "measurement: field 'met'",
                          "expected integer <= total (%lld), got %lld", (long long)ev->total,
                          (long long)ev->met);
    }
    return OW_OK;
}

const struct ow__type ow__types[OW_EV__COUNT] = {
    [OW_EV_INCIDENT] = {"incident", incident_fields, COUNT_OF(incident_fields), NULL},
    [OW_EV_SERVICE_REQUEST] = {"service_request", service_request_fields,
                               COUNT_OF(service_request_fields), NULL},
    [OW_EV_CSR] = {"csr", csr_fields, COUNT_OF(csr_fields), NULL},
    [OW_EV_FORECAST] = {"forecast", forecast_fields, COUNT_OF(forecast_fields), forecast_finish},
    [OW_EV_CH_RETURN] = {"ch_return", ch_return_fields, COUNT_OF(ch_return_fields),
                         ch_return_finish},
    [OW_EV_PROBLEM] = {"problem", problem_fields, COUNT_OF(problem_fields), NULL},
    [OW_EV_MEASUREMENT] = {"measurement", measurement_fields, COUNT_OF(measurement_fields),
                           measurement_finish},
};

const char *ow_event_type_name(enum ow_event_type type)
{
    if ((unsigned)type >= OW_EV__COUNT) {
        return NULL;
    }
    return ow__types[type].name;
}

const char *ow_region_name(enum ow_region region)
{
    if (region < 0 || region >= OW_REGION__COUNT) {
        return "unknown";
    }
    return region_names[region];
}
