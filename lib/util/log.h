/* Structured logging: one JSON object per line on stderr, so logs can be shipped and
 * queried without parsing free text. Single-threaded use from the event loop. */
#ifndef WF_UTIL_LOG_H
#define WF_UTIL_LOG_H

#include <stdint.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level;

/* Parses "debug", "info", "warn", "error"; returns -1 for anything else. */
int log_level_parse(const char *text);
void log_set_level(log_level level);
int log_enabled(log_level level);

/* log_event(LOG_INFO, "request", "method", "GET", "status", "200", NULL): message, then
 * key/value string pairs ending with NULL. Values are written as JSON strings, escaped. */
void log_event(log_level level, const char *message, ...) __attribute__((sentinel));

/* Monotonic clock in milliseconds and microseconds. */
int64_t clock_ms(void);
int64_t clock_us(void);

#endif
