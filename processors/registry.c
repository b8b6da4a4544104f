/* registry.c: every report processor, in snapshot order. Adding a report is one line here. */
#include "processor.h"

extern const struct ow_processor ow_rdp_incidents_processor;
extern const struct ow_processor ow_csr_variance_processor;
extern const struct ow_processor ow_sr_variance_processor;
extern const struct ow_processor ow_ch_returns_processor;
extern const struct ow_processor ow_problems_processor;
extern const struct ow_processor ow_performance_processor;

const struct ow_processor *const ow_processors[] = {
    &ow_rdp_incidents_processor,
    &ow_csr_variance_processor,
    &ow_sr_variance_processor,
    &ow_ch_returns_processor,
    &ow_problems_processor,
    &ow_performance_processor,
    NULL,
};
