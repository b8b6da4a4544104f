/* csr.c: CSR Variance (SEC L8.9): Certificate Signing Requests per Authorised Subscriber
 * against their most recent forecast, per calendar month. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "forecast_store.h"
#include "processor.h"
#include "strmap.h"
#include "tz.h"
#include "variance.h"

struct csr_conf {
    struct ow_variance_bands bands;
};

static const struct ow_conf_field csr_conf_map[] = {
    OW_VARIANCE_BANDS_CONF(struct csr_conf, bands),
    {0},
};

struct csr_party {
    int64_t actual;
};

struct csr_month {
    struct ow_strmap *parties; /* party_id -> struct csr_party */
    int64_t actual;
    int64_t single;
    int64_t batched;
    int64_t by_region[OW_REGION__COUNT + 1]; /* the last: events without a region */
};

struct csr_ctx {
    struct ow_proc_env env;
    struct csr_conf conf;
    struct ow_forecasts *forecasts;
    struct ow_strmap *months; /* int month -> struct csr_month */
};

static const char *const csr_types[] = {"csr", "forecast", NULL};

static int csr_init(void **ctx, const struct ow_proc_env *env, const void *conf,
                    struct ow_err *err)
{
    struct csr_ctx *c = ow_xcalloc(1, sizeof(*c));

    (void)err;
    c->env = *env;
    c->conf = *(const struct csr_conf *)conf;
    c->forecasts = ow_forecasts_create();
    c->months = ow_strmap_create(sizeof(struct csr_month));
    *ctx = c;
    return OW_OK;
}

static void free_month(void *v)
{
    struct csr_month *m = v;

    ow_strmap_destroy(m->parties, NULL);
}

static void csr_destroy(void *ctx)
{
    struct csr_ctx *c = ctx;

    if (c == NULL) {
        return;
    }
    ow_forecasts_destroy(c->forecasts);
    ow_strmap_destroy(c->months, free_month);
    free(c);
}

static int apply_csr(struct csr_ctx *c, const struct ow_event *ev, struct ow_err *err)
{
    int month = ow_tz_month_of(c->env.tz, ev->occurred_us);
    bool created;
    struct csr_month *m = ow_strmap_upsert(c->months, (const char *)&month, sizeof(month),
                                           &created);
    struct csr_party *p;
    int region = ev->region == OW_REGION_NONE ? OW_REGION__COUNT : (int)ev->region;
    int64_t total;
    int64_t party_total;
    int64_t kind_total;
    int64_t region_total;

    if (created) {
        m->parties = ow_strmap_create(sizeof(struct csr_party));
    }
    p = ow_strmap_upsert(m->parties, ev->party_id.p, ev->party_id.len, NULL);
    if (__builtin_add_overflow(m->actual, ev->count, &total) ||
        __builtin_add_overflow(p->actual, ev->count, &party_total) ||
        __builtin_add_overflow(ev->batched ? m->batched : m->single, ev->count, &kind_total) ||
        __builtin_add_overflow(m->by_region[region], ev->count, &region_total)) {
        return ow_err_set(err, OW_ESCHEMA, "csr: field 'count'",
                          "the month's CSR total would overflow 64 bits");
    }
    m->actual = total;
    p->actual = party_total;
    *(ev->batched ? &m->batched : &m->single) = kind_total;
    m->by_region[region] = region_total;
    return OW_OK;
}

static int csr_apply(void *ctx, const struct ow_event *ev, struct ow_sink *out, struct ow_err *err)
{
    struct csr_ctx *c = ctx;

    (void)out;
    if (ev->type == OW_EV_FORECAST) {
        if (ev->report != OW_REPORT_CSR) {
            return OW_OK;
        }
        return ow_forecasts_apply(c->forecasts, ev, false, err);
    }
    return apply_csr(c, ev, err);
}

/* Rows for every party with actuals or a forecast in the month. */
static struct ow_variance_party *collect_rows(const struct csr_ctx *c, int month,
                                              const struct csr_month *m, size_t *n)
{
    const struct ow_strmap *fc = ow_forecasts_parties(c->forecasts, month);
    size_t cap = (m ? ow_strmap_count(m->parties) : 0) + (fc ? ow_strmap_count(fc) : 0);
    struct ow_variance_party *rows = ow_xcalloc(cap + 1, sizeof(*rows));
    struct ow_strmap_entry *e;
    size_t k = 0;

    if (m != NULL && (e = ow_strmap_sorted(m->parties)) != NULL) {
        for (size_t i = 0; i < ow_strmap_count(m->parties); i++) {
            struct ow_variance_party *r = &rows[k++];

            r->party = e[i].key;
            r->len = e[i].len;
            r->actual = ((const struct csr_party *)e[i].value)->actual;
            r->has_forecast = ow_forecasts_party(c->forecasts, month, e[i].key, e[i].len,
                                                 &r->forecast);
        }
        free(e);
    }
    if (fc != NULL && (e = ow_strmap_sorted(fc)) != NULL) {
        for (size_t i = 0; i < ow_strmap_count(fc); i++) {
            struct ow_variance_party *r = &rows[k];

            if (m != NULL && ow_strmap_get(m->parties, e[i].key, e[i].len) != NULL) {
                continue;
            }
            r->party = e[i].key;
            r->len = e[i].len;
            r->has_forecast = ow_forecasts_party(c->forecasts, month, e[i].key, e[i].len,
                                                 &r->forecast);
            if (r->has_forecast) {
                k++;
            }
        }
        free(e);
    }
    *n = k;
    return rows;
}

static json_t *csr_snapshot(void *ctx, struct ow_window_id w)
{
    struct csr_ctx *c = ctx;
    const struct csr_month *m = ow_strmap_get(c->months, (const char *)&w.index, sizeof(w.index));
    static const struct csr_month empty;
    const struct csr_month *z = m ? m : &empty;
    struct ow_variance_party *rows;
    json_t *out = json_object();
    size_t n;

    rows = collect_rows(c, w.index, m, &n);
    ow_variance_build(out, rows, n, &c->conf.bands);
    free(rows);
    json_object_set_new(out, "single", json_integer((json_int_t)z->single));
    json_object_set_new(out, "batched", json_integer((json_int_t)z->batched));
    json_object_set_new(out, "by_region",
                        json_pack("{s:I, s:I, s:I, s:I}", "north",
                                  (json_int_t)z->by_region[OW_REGION_NORTH], "central",
                                  (json_int_t)z->by_region[OW_REGION_CENTRAL], "south",
                                  (json_int_t)z->by_region[OW_REGION_SOUTH], "unknown",
                                  (json_int_t)z->by_region[OW_REGION__COUNT]));
    return out;
}

static void csr_expire(void *ctx, struct ow_window_id w)
{
    struct csr_ctx *c = ctx;

    ow_strmap_remove(c->months, (const char *)&w.index, sizeof(w.index), free_month);
    ow_forecasts_drop(c->forecasts, w.index);
}

const struct ow_processor ow_csr_variance_processor = {
    .abi = OW_PROCESSOR_ABI,
    .name = "csr_variance",
    .report = "csr_variance",
    .kind = OW_WIN_MONTH,
    .sec_ref = "L8.9",
    .due_working_days = 10,
    .event_types = csr_types,
    .conf = csr_conf_map,
    .conf_size = sizeof(struct csr_conf),
    .init = csr_init,
    .apply = csr_apply,
    .snapshot = csr_snapshot,
    .expire = csr_expire,
    .destroy = csr_destroy,
};
