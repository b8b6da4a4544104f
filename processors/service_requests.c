/* service_requests.c: SR Variance (SEC H3.24): Service Requests per User, per Service, per
 * region and CSP against the most recent forecasts, per calendar month; the sr_* alert rules.
 *
 * This is the busiest event type (hundreds of millions a month), so apply is one month lookup
 * (usually the cached previous one), one party and one service lookup, and integer additions;
 * the alert rules are judged only when the party's actual reaches the next line that matters
 * (variance.c), and nothing is allocated once the party and the service are known. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "forecast_store.h"
#include "processor.h"
#include "strmap.h"
#include "tz.h"
#include "variance.h"

static const struct ow_conf_field sr_rules_map[] = {
    OW_VARIANCE_RULES_MAP("sr"),
    {0},
};

static const struct ow_conf_field sr_conf_map[] = {
    OW_VARIANCE_CONF_MAP(sr_rules_map),
    {0},
};

struct sr_month {
    struct ow_variance_month vm; /* first: the variance book's part */
    struct ow_strmap *services;  /* service_ref -> int64_t actual */
    int64_t by_region[OW_REGION__COUNT];
};

struct sr_ctx {
    struct ow_proc_env env;
    struct ow_variance *v;
};

static void month_init(void *month)
{
    struct sr_month *m = month;

    m->services = ow_strmap_create(sizeof(int64_t));
}

static void month_free(void *month)
{
    struct sr_month *m = month;

    ow_strmap_destroy(m->services, NULL);
}

/* A month's own members: [[north, central, south], {service_ref: actual}]. */
static json_t *month_save(const void *month)
{
    const struct sr_month *m = month;
    struct ow_strmap_entry *e = ow_strmap_sorted(m->services);
    json_t *services = json_object();

    for (size_t i = 0; e != NULL && i < ow_strmap_count(m->services); i++) {
        json_object_setn_new(services, e[i].key, e[i].len,
                             json_integer((json_int_t) * (const int64_t *)e[i].value));
    }
    free(e);
    return json_pack("[[I, I, I], o]", (json_int_t)m->by_region[OW_REGION_NORTH],
                     (json_int_t)m->by_region[OW_REGION_CENTRAL],
                     (json_int_t)m->by_region[OW_REGION_SOUTH], services);
}

/* @j as a part of the month's total: an integer 0..@total, added to *@sum. */
static bool part_of(const json_t *j, int64_t total, int64_t *sum)
{
    if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) > total) {
        return false;
    }
    *sum += json_integer_value(j); /* stays below 2 * total: no overflow */
    return *sum <= total;
}

static int month_restore(void *month, const json_t *saved, const char *where, struct ow_err *err)
{
    struct sr_month *m = month;
    const json_t *regions = json_array_get(saved, 0);
    const json_t *services = json_array_get(saved, 1);
    int64_t total = m->vm.actual;
    int64_t in_regions = 0;
    int64_t in_services = 0;
    const char *svc;
    size_t len;
    json_t *j;

    if (json_array_size(saved) != 2 || json_array_size(regions) != OW_REGION__COUNT ||
        !json_is_object(services)) {
        return ow_err_set(err, OW_EINVAL, where,
                          "expected [[north, central, south], {service_ref: actual}]");
    }
    for (int r = 0; r < OW_REGION__COUNT; r++) {
        j = json_array_get(regions, (size_t)r);
        if (!part_of(j, total, &in_regions)) {
            return ow_err_set(err, OW_EINVAL, where,
                              "regions[%d]: expected an integer, the regions adding up to the "
                              "month's actual",
                              r);
        }
        m->by_region[r] = json_integer_value(j);
    }
    json_object_keylen_foreach((json_t *)services, svc, len, j)
    {
        if (!part_of(j, total, &in_services)) {
            return ow_err_set(err, OW_EINVAL, where,
                              "service '%.40s': expected an integer, the services adding up to "
                              "the month's actual",
                              svc);
        }
        *(int64_t *)ow_strmap_upsert(m->services, svc, len, NULL) = json_integer_value(j);
    }
    if (in_regions != total || in_services != total) {
        return ow_err_set(err, OW_EINVAL, where,
                          "the regions (%lld) and the services (%lld) must each add up to the "
                          "month's actual (%lld)",
                          (long long)in_regions, (long long)in_services, (long long)total);
    }
    return OW_OK;
}

static const struct ow_variance_spec sr_spec = {
    .name = "sr_variance",
    .type = "service_request",
    .rule = {"sr_forecast_exceeded", "sr_forecast_shortfall", "sr_projected_variance",
             "sr_no_forecast"},
    .noun = "service request",
    .nouns = "service requests",
    .per_service = true,
    .month_size = sizeof(struct sr_month),
    .month_init = month_init,
    .month_free = month_free,
    .month_save = month_save,
    .month_restore = month_restore,
};

static const char *const sr_types[] = {"service_request", "forecast", NULL};

static int sr_init(void **ctx, const struct ow_proc_env *env, const void *conf, struct ow_err *err)
{
    struct sr_ctx *c = ow_xcalloc(1, sizeof(*c));

    c->env = *env;
    c->v = ow_variance_create(&sr_spec, conf, env, err);
    if (c->v == NULL) {
        free(c);
        return OW_EINVAL;
    }
    *ctx = c;
    return OW_OK;
}

static void sr_destroy(void *ctx)
{
    struct sr_ctx *c = ctx;

    if (c == NULL) {
        return;
    }
    ow_variance_destroy(c->v);
    free(c);
}

static int sr_apply(void *ctx, const struct ow_event *ev, struct ow_sink *out, struct ow_err *err)
{
    struct sr_ctx *c = ctx;
    struct sr_month *m;
    int64_t *service;
    int rc;

    (void)out;
    if (ev->type == OW_EV_FORECAST) {
        if (ev->report != OW_REPORT_SERVICE_REQUEST) {
            return OW_OK;
        }
        return ow_variance_forecast(c->v, ev, err);
    }
    if (ev->region == OW_REGION_NONE) { /* the decoder requires it; never count it blind */
        return ow_err_set(err, OW_ESCHEMA, "service_request: field 'region'",
                          "required, got nothing");
    }
    m = ow_variance_month(c->v, ow_tz_month_of(c->env.tz, ev->occurred_us));
    rc = ow_variance_count(c->v, &m->vm, ev, err);
    if (rc != OW_OK) {
        return rc;
    }
    /* Each is at most the month's total, which did not overflow. */
    service = ow_strmap_upsert(m->services, ev->service_ref.p, ev->service_ref.len, NULL);
    *service += ev->count;
    m->by_region[ev->region] += ev->count;
    return OW_OK;
}

static void sr_on_watermark(void *ctx, int64_t watermark_us, struct ow_sink *out)
{
    struct sr_ctx *c = ctx;

    (void)out;
    ow_variance_on_watermark(c->v, watermark_us);
}

static void sr_on_close(void *ctx, struct ow_window_id w, struct ow_sink *out)
{
    struct sr_ctx *c = ctx;

    (void)out;
    ow_variance_on_close(c->v, w);
}

static int entry_cmp(const struct ow_strmap_entry *a, const struct ow_strmap_entry *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->key, b->key, n);

    if (c != 0) {
        return c;
    }
    return a->len < b->len ? -1 : a->len > b->len;
}

static int64_t entry_value(const struct ow_strmap_entry *e)
{
    return e ? *(const int64_t *)e->value : 0;
}

/* by_service: every service with actuals or a per-service forecast in the month, in key order:
 * a merge of the two sorted maps. */
static json_t *by_service(const struct sr_ctx *c, int month, const struct sr_month *m)
{
    const struct ow_strmap *fc = ow_forecasts_services(ow_variance_forecasts(c->v), month);
    size_t na = m ? ow_strmap_count(m->services) : 0;
    size_t nf = fc ? ow_strmap_count(fc) : 0;
    struct ow_strmap_entry *ea = na ? ow_strmap_sorted(m->services) : NULL;
    struct ow_strmap_entry *ef = nf ? ow_strmap_sorted(fc) : NULL;
    json_t *out = json_object();
    size_t i = 0;
    size_t j = 0;

    while (i < na || j < nf) {
        int cmp = i == na ? 1 : j == nf ? -1 : entry_cmp(&ea[i], &ef[j]);
        const struct ow_strmap_entry *a = cmp <= 0 ? &ea[i++] : NULL;
        const struct ow_strmap_entry *f = cmp >= 0 ? &ef[j++] : NULL;
        const struct ow_strmap_entry *e = a ? a : f;

        json_object_setn_new(out, e->key, e->len,
                             json_pack("{s:I, s:I}", "actual", (json_int_t)entry_value(a),
                                       "forecast", (json_int_t)entry_value(f)));
    }
    free(ea);
    free(ef);
    return out;
}

static json_t *sr_snapshot(void *ctx, struct ow_window_id w)
{
    struct sr_ctx *c = ctx;
    const struct sr_month *m = ow_variance_month_find(c->v, w.index);
    static const int64_t zero[OW_REGION__COUNT];
    const int64_t *r = m ? m->by_region : zero;
    json_t *out = json_object();

    ow_variance_report(c->v, w.index, out);
    json_object_set_new(out, "by_region",
                        json_pack("{s:I, s:I, s:I}", "north", (json_int_t)r[OW_REGION_NORTH],
                                  "central", (json_int_t)r[OW_REGION_CENTRAL], "south",
                                  (json_int_t)r[OW_REGION_SOUTH]));
    /* C&S is central plus south: at most the month's total, so it cannot overflow. */
    json_object_set_new(out, "by_csp",
                        json_pack("{s:I, s:I}", "csp_n", (json_int_t)r[OW_REGION_NORTH], "csp_cs",
                                  (json_int_t)(r[OW_REGION_CENTRAL] + r[OW_REGION_SOUTH])));
    json_object_set_new(out, "by_service", by_service(c, w.index, m));
    return out;
}

static json_t *sr_save(void *ctx)
{
    struct sr_ctx *c = ctx;

    return ow_variance_save(c->v);
}

static int sr_restore(void *ctx, const json_t *state, struct ow_err *err)
{
    struct sr_ctx *c = ctx;

    return ow_variance_restore(c->v, state, err);
}

static void sr_expire(void *ctx, struct ow_window_id w)
{
    struct sr_ctx *c = ctx;

    ow_variance_expire(c->v, w.index);
}

const struct ow_processor ow_sr_variance_processor = {
    .abi = OW_PROCESSOR_ABI,
    .name = "sr_variance",
    .report = "sr_variance",
    .kind = OW_WIN_MONTH,
    .sec_ref = "H3.24",
    .due_working_days = 10,
    .event_types = sr_types,
    .conf = sr_conf_map,
    .conf_size = sizeof(struct ow_variance_conf),
    .init = sr_init,
    .apply = sr_apply,
    .on_watermark = sr_on_watermark,
    .on_close = sr_on_close,
    .snapshot = sr_snapshot,
    .expire = sr_expire,
    .save = sr_save,
    .restore = sr_restore,
    .destroy = sr_destroy,
};
