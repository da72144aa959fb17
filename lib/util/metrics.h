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
/* What a committed transfer transaction (request or dispatch batch) cost: storage rows it
 * locked, storages its searches produced, rounds of room reads. */
void metrics_count_transfer_cost(uint64_t rows_locked, uint64_t storages_searched,
                                 uint64_t read_rounds);
/* A request refused with 429 by the rate limit. */
void metrics_count_rate_limited(void);
/* A credential's cryptography done for one request: a JWT's signature verified, or an API
 * key's secret hashed (kind "jwt" or "api_key", a static string). */
void metrics_count_credential_check(const char *kind);
/* A database round trip of the API key cache (a version check, or a reload when the keys
 * changed). */
void metrics_count_key_refresh(void);
/* What a storage view request cost (its work budget's units, util/work_budget.h): nodes
 * its search settled, storages it asked the database to examine; and the database round
 * trips it took. */
void metrics_count_view_work(uint64_t nodes_settled, uint64_t storages_examined,
                             uint64_t round_trips);
/* A read of every road sent because no graph was cached (the start-up load, or a request
 * that found none). */
void metrics_count_graph_full_read(void);
/* A request refused with 429 by its credential's work budget. */
void metrics_count_work_refused(void);
/* Writes every metric in Prometheus text exposition format 0.0.4. */
void metrics_render(FILE *out);

#endif
