/* kafka_threads.c: librdkafka's threads at a lower priority than the loop (see the header).
 * An interceptor is librdkafka's one hook into threads it starts: on_new registers
 * on_thread_start, which runs first thing in each new thread. */
#include "kafka_threads.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

#define INTERCEPTOR "opswatch.threads_nice"

static const char *thread_kind(rd_kafka_thread_type_t type)
{
    switch (type) {
    case RD_KAFKA_THREAD_MAIN:
        return "main";
    case RD_KAFKA_THREAD_BACKGROUND:
        return "background";
    default:
        return "broker";
    }
}

/* Runs in the new thread. On Linux a nice value belongs to a thread (its tid). */
static rd_kafka_resp_err_t on_thread_start(rd_kafka_t *rk, rd_kafka_thread_type_t type,
                                           const char *name, void *opaque)
{
    int target = (int)(intptr_t)opaque;

    (void)rk;
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), target) != 0) {
        ow_log_warn("kafka", "cannot set the nice value of librdkafka's %s thread %s to %d: %s",
                    thread_kind(type), name, target, strerror(errno));
    }
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static rd_kafka_resp_err_t on_new(rd_kafka_t *rk, const rd_kafka_conf_t *conf, void *opaque,
                                  char *errstr, size_t errstr_size)
{
    (void)conf;
    (void)errstr;
    (void)errstr_size;
    return rd_kafka_interceptor_add_on_thread_start(rk, INTERCEPTOR, on_thread_start, opaque);
}

int ow_kafka_threads_lower(rd_kafka_conf_t *conf, int delta, char *err, size_t errlen)
{
    int base;
    int target;

    if (delta <= 0) {
        return 0;
    }
    errno = 0;
    base = getpriority(PRIO_PROCESS, (id_t)gettid()); /* -1 is a valid value: check errno */
    if (base == -1 && errno != 0) {
        base = 0;
    }
    target = base + delta > 19 ? 19 : base + delta;
    if (rd_kafka_conf_interceptor_add_on_new(conf, INTERCEPTOR, on_new, (void *)(intptr_t)target) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "kafka.client_threads_nice: cannot add librdkafka's interceptor");
        return -1;
    }
    return 0;
}
