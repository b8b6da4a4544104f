/* kafka_threads.h: the priority of librdkafka's own threads (kafka.client_threads_nice). */
#ifndef OW_KAFKA_THREADS_H
#define OW_KAFKA_THREADS_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

/** Make every thread the client created from @conf starts (its main thread, one per broker,
 * the background one) run at the caller's nice value plus @delta, capped at 19 (a value, not
 * a step: librdkafka's threads start one another and would inherit it).
 * Why: while a backlog is read, the loop thread applies events as fast as one core allows and
 * the fetch thread has filled the queue far ahead of it; when both want a core, the loop
 * should get it. 0 adds nothing. A thread whose priority cannot be changed is logged and runs
 * as it is. @returns 0, or -1 with @err set. */
int ow_kafka_threads_lower(rd_kafka_conf_t *conf, int delta, char *err, size_t errlen);

#endif
