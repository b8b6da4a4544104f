/* log.h: structured logs to stderr, one line each: time, level, component, message, and
 * key=value fields ("2026-11-28T12:00:00.123Z INFO kafka_in: assigned partitions=7"). */
#ifndef OW_LOG_H
#define OW_LOG_H

enum ow_log_level { OW_LOG_DEBUG, OW_LOG_INFO, OW_LOG_WARN, OW_LOG_ERROR };

/** Set the lowest level written (default INFO; OPSWATCH_LOG=debug|info|warn|error). */
void ow_log_set_level(enum ow_log_level level);

/** Parse "debug", "info", "warn", "error". @returns 0, or -1 when unknown. */
int ow_log_parse_level(const char *s, enum ow_log_level *level);

/** Write one line. Thread safe (librdkafka's log callback may call it from its threads). */
void ow_log(enum ow_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ow_log_debug(c, ...) ow_log(OW_LOG_DEBUG, (c), __VA_ARGS__)
#define ow_log_info(c, ...) ow_log(OW_LOG_INFO, (c), __VA_ARGS__)
#define ow_log_warn(c, ...) ow_log(OW_LOG_WARN, (c), __VA_ARGS__)
#define ow_log_error(c, ...) ow_log(OW_LOG_ERROR, (c), __VA_ARGS__)

#endif
