/* measurements.c: Performance Measurement (SEC H13.4): per measure and provider, the monthly
 * share of units that met the measure against its Target and Minimum Service Levels. */
#include <stdlib.h>

#include "alloc.h"
#include "processor.h"

struct perf_ctx {
    struct ow_proc_env env;
};

static const char *const perf_types[] = {"measurement", NULL};

static int perf_init(void **ctx, const struct ow_proc_env *env, const void *conf,
                     struct ow_err *err)
{
    struct perf_ctx *c = ow_xcalloc(1, sizeof(*c));

    (void)conf;
    (void)err;
    c->env = *env;
    *ctx = c;
    return OW_OK;
}

static int perf_apply(void *ctx, const struct ow_event *ev, struct ow_sink *out,
                      struct ow_err *err)
{
    (void)ctx;
    (void)ev;
    (void)out;
    (void)err;
    return OW_OK;
}

static json_t *perf_snapshot(void *ctx, struct ow_window_id w)
{
    (void)ctx;
    (void)w;
    return json_pack("{s:[]}", "measures");
}

static void perf_destroy(void *ctx)
{
    free(ctx);
}

const struct ow_processor ow_performance_processor = {
    .abi = OW_PROCESSOR_ABI,
    .name = "performance",
    .report = "performance",
    .kind = OW_WIN_MONTH,
    .sec_ref = "H13.4",
    .due_working_days = 25,
    .event_types = perf_types,
    .init = perf_init,
    .apply = perf_apply,
    .snapshot = perf_snapshot,
    .destroy = perf_destroy,
};
