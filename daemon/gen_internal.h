/* gen_internal.h: what the files of `opswatch gen` share: the PRNG, local time, the planned
 * events, the truth tables and the emitter. Not a public interface (ow__gen_ prefix). */
#ifndef OW_GEN_INTERNAL_H
#define OW_GEN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gen.h"

#define OW_GEN_SR_PARTIES 14
#define OW_GEN_CSR_PARTIES 8
#define OW_GEN_SERVICES 12
#define OW_GEN_RDPS 4
#define OW_GEN_MEASURES 10
#define OW_GEN_MONTHS_MAX 120
#define OW_GEN_QUARTERS_MAX (OW_GEN_MONTHS_MAX / 3 + 2)
#define OW_GEN_FAULTS 5
#define OW_GEN_SEVERITIES 5
#define OW_GEN_CATEGORIES 4
#define OW_GEN_PSTATUSES 3

/* ---- PRNG: xoshiro256** seeded through splitmix64 (gen_rng.c) ---- */

struct ow_gen_rng {
    uint64_t s[4];
};

/** Seed @r from @seed and a @stream number, so independent parts of the plan draw apart. */
void ow__gen_rng_seed(struct ow_gen_rng *r, uint64_t seed, uint64_t stream);
/** The next 64 random bits. */
uint64_t ow__gen_rng_next(struct ow_gen_rng *r);
/** A uniform integer in [@lo, @hi] (inclusive; @hi >= @lo). */
int64_t ow__gen_rng_range(struct ow_gen_rng *r, int64_t lo, int64_t hi);
/** True with probability @permille / 1000. */
bool ow__gen_rng_chance(struct ow_gen_rng *r, int permille);
/** Shuffle @n ints at @v in place. */
void ow__gen_rng_shuffle_int(struct ow_gen_rng *r, int *v, int n);

/* ---- Local time in Europe/London through libc (gen_time.c) ---- */

/** Set TZ=Europe/London for this process. */
void ow__gen_time_init(void);
/** The instant (seconds since the epoch) of local @y-@mo-@d @h:@mi:@s; mo may overflow 12. */
int64_t ow__gen_time_local(int y, int mo, int d, int h, int mi, int s);
/** The local month of instant @t as y * 12 + (month - 1). */
int ow__gen_time_month_of(int64_t t);

enum ow_gen_tstyle {
    OW_GEN_TS_Z,     /* 2021-04-01T09:00:00Z */
    OW_GEN_TS_LOCAL, /* 2021-04-01T10:00:00+01:00 */
    OW_GEN_TS_LOWER, /* 2021-04-01t09:00:00z */
    OW_GEN_TS_NONE,  /* 2021-04-01T09:00:00 (no offset: invalid) */
};

/** Format @t (+ @ms milliseconds when non-zero) in @style into @buf (at least 40 bytes). */
void ow__gen_time_format(int64_t t, int ms, enum ow_gen_tstyle style, char *buf, size_t len);

/* ---- Planned events (the emitter writes them) ---- */

enum ow_gen_kind {
    OW_GEN_K_SR,
    OW_GEN_K_CSR,
    OW_GEN_K_FORECAST,
    OW_GEN_K_INCIDENT,
    OW_GEN_K_CH,
    OW_GEN_K_PROBLEM,
    OW_GEN_K_MEASURE,
    OW_GEN_K_BAD, /* an invalid line; `bad` says how */
};

/* The ways a line is invalid. Keep names in step with ow__gen_bad_names. */
enum ow_gen_bad {
    OW_GEN_BAD_NONE,
    OW_GEN_BAD_NOT_JSON,
    OW_GEN_BAD_NOT_OBJECT,
    OW_GEN_BAD_COUNT_STRING,
    OW_GEN_BAD_COUNT_FLOAT,
    OW_GEN_BAD_COUNT_ZERO,
    OW_GEN_BAD_UNKNOWN_TYPE,
    OW_GEN_BAD_SCHEMA_VERSION,
    OW_GEN_BAD_MISSING_FIELD,
    OW_GEN_BAD_REGION,
    OW_GEN_BAD_TIME_NO_OFFSET,
    OW_GEN_BAD_PERIOD,
    OW_GEN_BAD_FAULT_SERVICE_USER,
    OW_GEN_BAD_MET_OVER_TOTAL,
    OW_GEN_BAD_SEVERITY,
    OW_GEN_BAD_EMPTY_ID,
    OW_GEN_BAD_SERVICE_REF,
    OW_GEN_BAD_CONFLICT, /* same event_id as a valid event, different content */
    OW_GEN_BAD__COUNT
};

extern const char *const ow__gen_bad_names[OW_GEN_BAD__COUNT];

/* Actions, as in events.md. */
enum ow_gen_action {
    OW_GEN_A_OPENED,
    OW_GEN_A_UPDATED,
    OW_GEN_A_RESOLVED,
    OW_GEN_A_REOPENED,
    OW_GEN_A_RETURNED,
    OW_GEN_A_CLOSED,
    OW_GEN_A_DISPUTED,
    OW_GEN_A_DISPUTE_RESOLVED,
    OW_GEN_A_CREATED,
    OW_GEN_A_STATUS_CHANGED,
};

/* One event to write. Fields a kind does not use stay 0 / -1. */
struct ow_gen_event {
    int64_t t;          /* occurred_at, seconds since the epoch */
    int64_t n;          /* count (sr, csr), quantity (forecast), met (measurement) */
    int64_t total;      /* measurement total */
    int64_t rca;        /* problem rca_target_at, 0 when absent */
    uint64_t id;        /* event_id number */
    int32_t entity;     /* incident, problem or hub number */
    int32_t period;     /* forecast: y * 12 + month - 1 */
    int16_t party;      /* sr/csr/forecast party index; measure index; incident rdp index */
    int16_t service;    /* service index, -1 none */
    uint16_t ms;        /* milliseconds to print, 0 none */
    uint8_t kind;       /* enum ow_gen_kind */
    uint8_t tstyle;     /* enum ow_gen_tstyle */
    uint8_t copy;       /* 0 first copy; 1 exact duplicate (keys reordered, spaces) */
    uint8_t dup;        /* 1: the emitter also writes an exact duplicate */
    uint8_t bad;        /* enum ow_gen_bad for OW_GEN_K_BAD (and conflicting copies) */
    uint8_t extra;      /* 1: carries unknown fields; 2: count omitted (it is 1) */
    int8_t region;      /* 0 north, 1 central, 2 south, -1 none */
    int8_t action;      /* enum ow_gen_action */
    int8_t batched;     /* csr */
    int8_t report;      /* forecast: 0 service_request, 1 csr */
    int8_t sev;         /* incident severity 1-5, 0 absent */
    int8_t cat;         /* problem category 0-3, -1 absent */
    int8_t status;      /* problem status 0-2, -1 absent */
    int8_t attr;        /* ch attribution 0 service_user, 1 dcc, -1 absent */
    int8_t fault;       /* ch fault 0-4, -1 absent */
    int8_t stage;       /* ch stage 0 pre, 1 post, -1 absent */
    int8_t significant; /* problem: -1 absent, 0, 1 */
    int8_t base;        /* OW_GEN_K_BAD: the kind the line pretends to be */
};

/** An event with every optional field absent. */
void ow__gen_event_init(struct ow_gen_event *ev, enum ow_gen_kind kind, int64_t t, uint64_t id);

extern const char *const ow__gen_services[OW_GEN_SERVICES];
extern const char *const ow__gen_regions[3];
extern const char *const ow__gen_faults[OW_GEN_FAULTS];
extern const char *const ow__gen_categories[OW_GEN_CATEGORIES];
extern const char *const ow__gen_pstatuses[OW_GEN_PSTATUSES];

/* The measures, sorted by (measure, provider); target/minimum in tenths of a percent, -1 when
 * the shipped configuration's value is not known to the generator. */
struct ow_gen_measure {
    const char *measure;
    const char *provider;
    int target_x10;
    int minimum_x10;
};
extern const struct ow_gen_measure ow__gen_measures[OW_GEN_MEASURES];

/* ---- Truth: the figures the plan implies ---- */

struct ow_gen_party {
    int64_t actual;
    int64_t single;                  /* csr */
    int64_t batched;                 /* csr */
    int64_t fc_all;                  /* all-services (or csr) forecast in force, -1 none */
    int64_t fc_svc[OW_GEN_SERVICES]; /* per-service forecasts in force, -1 none */
};

/* A volume cell: one (party, service, region) or (party, batched, region) of one month. */
struct ow_gen_cell {
    int64_t count;  /* units still to draw */
    int64_t events; /* events still to draw */
    int16_t party;
    int16_t service; /* -1 for csr */
    int8_t kind;     /* OW_GEN_K_SR or OW_GEN_K_CSR */
    int8_t batched;
    int8_t region; /* -1 none (csr only) */
};

struct ow_gen_dvec {
    double *v;
    size_t n;
    size_t cap;
};

struct ow_gen_month {
    int ym; /* y * 12 + month - 1 */
    int64_t start;
    int64_t end;
    struct ow_gen_party sr[OW_GEN_SR_PARTIES];
    struct ow_gen_party csr[OW_GEN_CSR_PARTIES];
    int64_t sr_service[OW_GEN_SERVICES];
    int64_t sr_region[3];
    int64_t csr_region[4]; /* north, central, south, unknown */
    struct ow_gen_cell *cells;
    int ncells;
    int64_t vol_events; /* volume events drawn from the cells */
    /* rdp_incidents */
    int64_t inc_opened;
    int64_t inc_resolved;
    int64_t inc_reopened;
    int64_t inc_open_at_end;
    int64_t rdp[OW_GEN_RDPS][3]; /* opened, resolved, open_at_end */
    struct ow_gen_dvec ages[OW_GEN_SEVERITIES];
    /* performance */
    int64_t met[OW_GEN_MEASURES];
    int64_t total[OW_GEN_MEASURES];
};

struct ow_gen_quarter {
    int y;
    int q; /* 1-4 */
    int64_t start;
    int64_t end;
    int64_t p_open[OW_GEN_PSTATUSES];
    int64_t p_created;
    int64_t p_breaches[OW_GEN_CATEGORIES];
    int64_t p_significant_open;
    int64_t ch_su[2][3]; /* [csp][month of quarter] */
    int64_t ch_dcc[2][3];
    int64_t ch_faults[2][OW_GEN_FAULTS][3];
    int64_t ch_region[3][2]; /* [region][0 service_user, 1 dcc] */
};

/* ---- The generator ---- */

struct ow_gen_opts {
    uint64_t seed;
    int start_ym; /* y * 12 + month - 1 */
    int months;
    double scale;
    bool invalid;
    bool duplicates;
    int disorder_minutes;
    const char *out_dir;
    bool to_stdout;
};

struct ow_gen_out;

struct ow_gen {
    struct ow_gen_opts opts;
    struct ow_gen_month month[OW_GEN_MONTHS_MAX];
    struct ow_gen_quarter quarter[OW_GEN_QUARTERS_MAX];
    int nquarters;
    int64_t range_start;
    int64_t range_end;
    struct ow_gen_event *sparse; /* planned events other than drawn volumes */
    size_t nsparse;
    size_t capsparse;
    uint64_t next_id;
    struct ow_gen_out *out;
};

/** Append a copy of @ev to the planned (sparse) events of @g. */
void ow__gen_sparse_add(struct ow_gen *g, const struct ow_gen_event *ev);
/** A fresh event id number. */
uint64_t ow__gen_id(struct ow_gen *g);
/** The index of the range month containing @t, or -1 outside the range. */
int ow__gen_month_index(const struct ow_gen *g, int64_t t);
/** The index of the quarter containing @t, or -1. */
int ow__gen_quarter_index(const struct ow_gen *g, int64_t t);
/** A random instant in month @mi, at least @margin seconds from its ends. */
int64_t ow__gen_time_in_month(const struct ow_gen *g, struct ow_gen_rng *r, int mi, int64_t margin);
/** Record @value in @v. */
void ow__gen_dvec_push(struct ow_gen_dvec *v, double value);

/** Plan SR/CSR parties, forecasts, volume cells and their sparse events (gen_plan.c). */
void ow__gen_plan_volumes(struct ow_gen *g);
/** Plan incidents and their truth (gen_incidents.c). */
void ow__gen_plan_incidents(struct ow_gen *g);
/** Plan problems and hub returns and their quarterly truth (gen_quarterly.c). */
void ow__gen_plan_quarterly(struct ow_gen *g);
/** Plan measurement events and their truth (gen_measures.c). */
void ow__gen_plan_measures(struct ow_gen *g);
/** Plan the invalid lines (gen_invalid.c). */
void ow__gen_plan_invalid(struct ow_gen *g);
/** Draw month @mi's volume events in time order, merging in sparse events from index @next
 * on (gen_stream.c). */
void ow__gen_stream_month(struct ow_gen *g, int mi, size_t *next);

/* ---- Emitter (gen_emit.c) ---- */

struct ow_gen_stats {
    int64_t lines;
    int64_t duplicates;
    int64_t dead_letters;
    int64_t bad[OW_GEN_BAD__COUNT];
};

/** An emitter writing to @f, shuffling within blocks of @disorder_minutes of event time. */
struct ow_gen_out *ow__gen_out_create(FILE *f, int disorder_minutes, uint64_t seed);
/** Hand each event (and its rendered line, without newline) to @fn instead of writing it. */
void ow__gen_out_set_callback(struct ow_gen_out *o, ow_gen_event_fn fn, void *arg);
/** Queue @ev (and its exact duplicate if ev->dup). */
void ow__gen_out_push(struct ow_gen_out *o, const struct ow_gen_event *ev);
/** Write what is queued; returns 0 or -1 on a write error. */
int ow__gen_out_finish(struct ow_gen_out *o, struct ow_gen_stats *stats);
void ow__gen_out_destroy(struct ow_gen_out *o);
/** Render @ev as one line without the newline into @buf; returns its length. */
size_t ow__gen_render(const struct ow_gen_event *ev, char *buf, size_t len);

/* ---- expected.json (gen_truth.c) ---- */

/** Write the plan's figures to @path. @returns 0 or -1. */
int ow__gen_truth_write(const struct ow_gen *g, const struct ow_gen_stats *stats, const char *path);

#endif
