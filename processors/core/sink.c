/* sink.c: the sink indirection. */
#include "sink.h"

#include "err.h"

int ow_sink_emit_new(struct ow_sink *sink, enum ow_stream stream, const char *key, json_t *rec)
{
    if (rec == NULL) {
        return OW_EINVAL;
    }
    if (sink == NULL || sink->emit == NULL) {
        json_decref(rec);
        return OW_OK;
    }
    return sink->emit(sink, stream, key, rec);
}

const char *ow_stream_name(enum ow_stream stream)
{
    static const char *const names[OW_STREAM__COUNT] = {"alerts", "aggregates", "deadletter",
                                                        "snapshots"};

    return stream < OW_STREAM__COUNT ? names[stream] : "unknown";
}
