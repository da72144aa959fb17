/* Process-wide Prometheus metrics: request counts by route and status, latency
 * histograms by route, and the transfer counters. Single-threaded (the event loop). */
#ifndef WF_UTIL_METRICS_H
#define WF_UTIL_METRICS_H

#include <stdint.h>
#include <stdio.h>

/* route must be a string that lives for the whole process (route table names). */
void metrics_observe_request(const char *route, int status, int64_t duration_us);
void metrics_count_transfer(const char *trigger);
void metrics_count_shipped(const char *waste_type, int64_t kg);
void metrics_count_db_retry(void);
/* A request refused with 429 by the rate limit. */
void metrics_count_rate_limited(void);
/* Writes every metric in Prometheus text exposition format 0.0.4. */
void metrics_render(FILE *out);

#endif
