/* problems.c: placeholder registration; the report is being written. */
#include <stdlib.h>

#include "alloc.h"
#include "processor.h"

static const char *const problems_types[] = {"problem", NULL};

static int problems_init(void **ctx, const struct ow_proc_env *env, const void *conf,
                     struct ow_err *err)
{
    (void)env;
    (void)conf;
    (void)err;
    *ctx = ow_xcalloc(1, 1);
    return OW_OK;
}

static int problems_apply(void *ctx, const struct ow_event *ev, struct ow_sink *out,
                      struct ow_err *err)
{
    (void)ctx;
    (void)ev;
    (void)out;
    (void)err;
    return OW_OK;
}

static json_t *problems_snapshot(void *ctx, struct ow_window_id w)
{
    (void)ctx;
    (void)w;
    return json_object();
}

static void problems_destroy(void *ctx)
{
    free(ctx);
}

const struct ow_processor ow_problems_processor = {
    .abi = OW_PROCESSOR_ABI,
    .name = "problems",
    .report = "problems",
    .kind = OW_WIN_QUARTER,
    .sec_ref = "AG 3.2",
    .due_working_days = 0,
    .event_types = problems_types,
    .init = problems_init,
    .apply = problems_apply,
    .snapshot = problems_snapshot,
    .destroy = problems_destroy,
};
