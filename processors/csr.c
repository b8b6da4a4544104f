/* csr.c: CSR Variance (SEC L8.9): Certificate Signing Requests per Authorised Subscriber
 * against their most recent forecast, per calendar month; the csr_* alert rules. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "processor.h"
#include "tz.h"
#include "variance.h"

static const struct ow_conf_field csr_rules_map[] = {
    OW_VARIANCE_RULES_MAP("csr"),
    {0},
};

static const struct ow_conf_field csr_conf_map[] = {
    OW_VARIANCE_CONF_MAP(csr_rules_map),
    {0},
};

struct csr_month {
    struct ow_variance_month vm; /* first: the variance book's part */
    int64_t single;
    int64_t batched;
    int64_t by_region[OW_REGION__COUNT + 1]; /* the last: events without a region */
};

struct csr_ctx {
    struct ow_proc_env env;
    struct ow_variance *v;
};

/* A month's own members: [single, batched, north, central, south, unknown]. */
static json_t *month_save(const void *month)
{
    const struct csr_month *m = month;
    json_t *out = json_pack("[I, I]", (json_int_t)m->single, (json_int_t)m->batched);

    for (int r = 0; r <= OW_REGION__COUNT; r++) {
        json_array_append_new(out, json_integer((json_int_t)m->by_region[r]));
    }
    return out;
}

static int month_restore(void *month, const json_t *saved, const char *where, struct ow_err *err)
{
    struct csr_month *m = month;
    int64_t *fields[2 + OW_REGION__COUNT + 1] = {&m->single, &m->batched};
    int64_t sum = 0;

    for (int r = 0; r <= OW_REGION__COUNT; r++) {
        fields[2 + r] = &m->by_region[r];
    }
    if (json_array_size(saved) != sizeof(fields) / sizeof(*fields)) {
        goto malformed;
    }
    for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++) {
        const json_t *j = json_array_get(saved, i);

        if (!json_is_integer(j) || json_integer_value(j) < 0 ||
            json_integer_value(j) > m->vm.actual) {
            goto malformed;
        }
        *fields[i] = json_integer_value(j);
    }
    for (int r = 0; r <= OW_REGION__COUNT; r++) {
        sum += m->by_region[r]; /* each at most the total: no overflow */
    }
    if (m->single + m->batched != m->vm.actual || sum != m->vm.actual) {
        goto malformed;
    }
    return OW_OK;
malformed:
    return ow_err_set(err, OW_EINVAL, where,
                      "expected [single, batched, north, central, south, unknown]: integers "
                      "that each add up to the month's actual");
}

static const struct ow_variance_spec csr_spec = {
    .name = "csr_variance",
    .type = "csr",
    .rule = {"csr_forecast_exceeded", "csr_forecast_shortfall", "csr_projected_variance",
             "csr_no_forecast"},
    .noun = "CSR",
    .nouns = "CSRs",
    .per_service = false,
    .month_size = sizeof(struct csr_month),
    .month_save = month_save,
    .month_restore = month_restore,
};

static const char *const csr_types[] = {"csr", "forecast", NULL};

static int csr_init(void **ctx, const struct ow_proc_env *env, const void *conf, struct ow_err *err)
{
    struct csr_ctx *c = ow_xcalloc(1, sizeof(*c));

    c->env = *env;
    c->v = ow_variance_create(&csr_spec, conf, env, err);
    if (c->v == NULL) {
        free(c);
        return OW_EINVAL;
    }
    *ctx = c;
    return OW_OK;
}

static void csr_destroy(void *ctx)
{
    struct csr_ctx *c = ctx;

    if (c == NULL) {
        return;
    }
    ow_variance_destroy(c->v);
    free(c);
}

static int csr_apply(void *ctx, const struct ow_event *ev, struct ow_sink *out, struct ow_err *err)
{
    struct csr_ctx *c = ctx;
    struct csr_month *m;
    int region = ev->region == OW_REGION_NONE ? OW_REGION__COUNT : (int)ev->region;
    int rc;

    (void)out;
    if (ev->type == OW_EV_FORECAST) {
        if (ev->report != OW_REPORT_CSR) {
            return OW_OK;
        }
        return ow_variance_forecast(c->v, ev, err);
    }
    m = ow_variance_month(c->v, ow_tz_month_of(c->env.tz, ev->occurred_us));
    rc = ow_variance_count(c->v, &m->vm, ev, err);
    if (rc != OW_OK) {
        return rc;
    }
    /* Each is at most the month's total, which did not overflow. */
    *(ev->batched ? &m->batched : &m->single) += ev->count;
    m->by_region[region] += ev->count;
    return OW_OK;
}

static void csr_on_watermark(void *ctx, int64_t watermark_us, struct ow_sink *out)
{
    struct csr_ctx *c = ctx;

    (void)out;
    ow_variance_on_watermark(c->v, watermark_us);
}

static void csr_on_close(void *ctx, struct ow_window_id w, struct ow_sink *out)
{
    struct csr_ctx *c = ctx;

    (void)out;
    ow_variance_on_close(c->v, w);
}

static json_t *csr_snapshot(void *ctx, struct ow_window_id w)
{
    struct csr_ctx *c = ctx;
    const struct csr_month *m = ow_variance_month_find(c->v, w.index);
    static const struct csr_month empty;
    const struct csr_month *z = m ? m : &empty;
    json_t *out = json_object();

    ow_variance_report(c->v, w.index, out);
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

static json_t *csr_save(void *ctx)
{
    struct csr_ctx *c = ctx;

    return ow_variance_save(c->v);
}

static int csr_restore(void *ctx, const json_t *state, struct ow_err *err)
{
    struct csr_ctx *c = ctx;

    return ow_variance_restore(c->v, state, err);
}

static void csr_expire(void *ctx, struct ow_window_id w)
{
    struct csr_ctx *c = ctx;

    ow_variance_expire(c->v, w.index);
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
    .conf_size = sizeof(struct ow_variance_conf),
    .init = csr_init,
    .apply = csr_apply,
    .on_watermark = csr_on_watermark,
    .on_close = csr_on_close,
    .snapshot = csr_snapshot,
    .expire = csr_expire,
    .save = csr_save,
    .restore = csr_restore,
    .destroy = csr_destroy,
};
