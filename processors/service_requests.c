/* service_requests.c: SR Variance (SEC H3.24): Service Requests per User and per Service against
 * their most recent forecast, per calendar month. */
#include <stdlib.h>

#include "alloc.h"
#include "processor.h"

struct sr_ctx {
    struct ow_proc_env env;
};

static const char *const sr_types[] = {"service_request", "forecast", NULL};

static int sr_init(void **ctx, const struct ow_proc_env *env, const void *conf, struct ow_err *err)
{
    struct sr_ctx *c = ow_xcalloc(1, sizeof(*c));

    (void)conf;
    (void)err;
    c->env = *env;
    *ctx = c;
    return OW_OK;
}

static void sr_destroy(void *ctx)
{
    free(ctx);
}

static int sr_apply(void *ctx, const struct ow_event *ev, struct ow_sink *out, struct ow_err *err)
{
    (void)ctx;
    (void)ev;
    (void)out;
    (void)err;
    return OW_OK;
}

static json_t *sr_snapshot(void *ctx, struct ow_window_id w)
{
    (void)ctx;
    (void)w;
    return json_object();
}

const struct ow_processor ow_sr_variance_processor = {
    .abi = OW_PROCESSOR_ABI,
    .name = "sr_variance",
    .report = "sr_variance",
    .kind = OW_WIN_MONTH,
    .sec_ref = "H3.24",
    .due_working_days = 10,
    .event_types = sr_types,
    .init = sr_init,
    .apply = sr_apply,
    .snapshot = sr_snapshot,
    .destroy = sr_destroy,
};
