/* Fill history and forecasts, the pure part: reading the request's times, laying out the
 * buckets a history asks for, and when a storage is full at a given rate. The SQL that sums
 * the ledger per bucket lives in engine/statements.c; nothing here does I/O. Times are
 * microseconds since the Unix epoch, UTC. */
#ifndef WF_CORE_HISTORY_H
#define WF_CORE_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

/* The most buckets one history request may ask for. */
#define HISTORY_MAX_BUCKETS 1000

/* Forecast windows, in seconds: at least a minute, at most 365 days, a week by default. */
#define FORECAST_WINDOW_MIN     60
#define FORECAST_WINDOW_MAX     31536000
#define FORECAST_WINDOW_DEFAULT 604800

/* Parses an RFC 3339 timestamp ("2026-12-07T04:00:00Z", "...T04:00:00.250+02:00"): a
 * date, 'T' (or 't' or ' '), a time with optional fraction (at most microseconds are kept)
 * and 'Z' or an offset. False for anything else, including impossible dates and year 0000. */
bool history_parse_time(const char *text, int64_t *us) __attribute__((warn_unused_result));

/* The width of bucket "minute", "hour" or "day" in seconds; 0 for any other name. */
int64_t history_bucket_seconds(const char *name);

/* Where a history's buckets lie: the first starts at from (date_bin's origin), the next
 * one width later, and so on while a bucket's start lies before to: ceil((to - from) /
 * width) buckets covering [from, to), the last one possibly reaching past to. */
typedef struct {
    int64_t first_us; /* the first bucket's start */
    int count;        /* how many buckets */
} history_buckets;

typedef enum {
    HISTORY_OK,
    HISTORY_EMPTY,    /* to is not after from */
    HISTORY_TOO_MANY, /* more than HISTORY_MAX_BUCKETS */
} history_layout;

history_layout history_lay_out(int64_t from_us, int64_t to_us, int64_t width_s,
                               history_buckets *out);

/* The default range of a history ending at to: the last hour of minutes, the last day of
 * hours, the last 30 days of days (from = to minus that). */
int64_t history_default_span_us(int64_t width_s);

/* When the remaining room runs out at rate_kg_per_day: the seconds from now, or false when
 * it never does (a rate that is not positive). No room left is full now (0). */
bool forecast_seconds_to_full(int64_t remaining_kg, double rate_kg_per_day, double *seconds);

/* The earliest time a history may start at: 0001-01-01T00:00:00Z. */
#define HISTORY_TIME_MIN_US INT64_C(-62135596800000000)
/* The latest time history_format_time writes: 9999-12-31T23:59:59.999999Z. */
#define HISTORY_TIME_MAX_US    INT64_C(253402300799999999)
#define HISTORY_TIME_TEXT_SIZE 64 /* room for any int the format could print */

/* Writes us (0..HISTORY_TIME_MAX_US) as RFC 3339 UTC with microseconds, the API's one
 * timestamp format: "2026-12-07T04:00:00.000000Z". */
void history_format_time(int64_t us, char out[HISTORY_TIME_TEXT_SIZE]);

#endif
