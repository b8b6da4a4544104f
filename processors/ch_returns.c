/* ch_returns.c: placeholder registration; the report is being written. */
#include <stdlib.h>

#include "alloc.h"
#include "processor.h"

static const char *const ch_returns_types[] = {"ch_return", NULL};

static int ch_returns_init(void **ctx, const struct ow_proc_env *env, const void *conf,
                     struct ow_err *err)
{
    (void)env;
    (void)conf;
    (void)err;
    *ctx = ow_xcalloc(1, 1);
    return OW_OK;
}

static int ch_returns_apply(void *ctx, const struct ow_event *ev, struct ow_sink *out,
                      struct ow_err *err)
{
    (void)ctx;
    (void)ev;
    (void)out;
    (void)err;
    return OW_OK;
}

static json_t *ch_returns_snapshot(void *ctx, struct ow_window_id w)
{
    (void)ctx;
    (void)w;
    return json_object();
}

static void ch_returns_destroy(void *ctx)
{
    free(ctx);
}

const struct ow_processor ow_ch_returns_processor = {
    .abi = OW_PROCESSOR_ABI,
    .name = "ch_returns",
    .report = "ch_returns",
    .kind = OW_WIN_QUARTER,
    .sec_ref = "F9.15",
    .due_working_days = 0,
    .event_types = ch_returns_types,
    .init = ch_returns_init,
    .apply = ch_returns_apply,
    .snapshot = ch_returns_snapshot,
    .destroy = ch_returns_destroy,
};
