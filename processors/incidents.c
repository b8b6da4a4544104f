/* incidents.c: RDP Incidents (SEC Appendix AG 2.5.10). Minimal first version: registers the
 * processor so the engine has a consumer for "incident"; the figures follow. */
#include <stdlib.h>

#include "alloc.h"
#include "processor.h"

struct incidents_ctx {
    struct ow_proc_env env;
};

static const char *const incidents_types[] = {"incident", NULL};

static int incidents_init(void **ctx, const struct ow_proc_env *env, const void *conf,
                          struct ow_err *err)
{
    struct incidents_ctx *c = ow_xcalloc(1, sizeof(*c));

    (void)conf;
    (void)err;
    c->env = *env;
    *ctx = c;
    return OW_OK;
}

static int incidents_apply(void *ctx, const struct ow_event *ev, struct ow_sink *out,
                           struct ow_err *err)
{
    (void)ctx;
    (void)ev;
    (void)out;
    (void)err;
    return OW_OK;
}

static json_t *incidents_snapshot(void *ctx, struct ow_window_id w)
{
    (void)ctx;
    (void)w;
    return json_object();
}

static void incidents_destroy(void *ctx)
{
    free(ctx);
}

const struct ow_processor ow_rdp_incidents_processor = {
    .abi = OW_PROCESSOR_ABI,
    .name = "rdp_incidents",
    .report = "rdp_incidents",
    .kind = OW_WIN_MONTH,
    .sec_ref = "AG 2.5.10",
    .due_working_days = 0,
    .event_types = incidents_types,
    .init = incidents_init,
    .apply = incidents_apply,
    .snapshot = incidents_snapshot,
    .destroy = incidents_destroy,
};
