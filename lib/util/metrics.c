/* Fixed-size metric tables: the route set is the router's table and waste types are few,
 * so small arrays with linear lookup beat any hashing here. */
#include "util/metrics.h"

#include <string.h>

#define MAX_ROUTES   64
#define MAX_STATUSES 16
#define MAX_TYPES    64
#define BUCKETS      14

static const double bucket_ms[BUCKETS - 1] = {0.5, 1,   2.5, 5,    10,   25,   50,
                                              100, 250, 500, 1000, 2500, 10000};

typedef struct {
    const char *route;
    int statuses[MAX_STATUSES];
    uint64_t status_counts[MAX_STATUSES];
    uint64_t buckets[BUCKETS];
    double sum_seconds;
    uint64_t count;
} route_metrics;

typedef struct {
    char code[33];
    uint64_t shipped_kg;
} type_metrics;

static route_metrics routes[MAX_ROUTES];
static int route_count;
static type_metrics types[MAX_TYPES];
static int type_count;
static uint64_t transfers_request, transfers_auto, db_retries, rate_limited;
static uint64_t jwt_checks, api_key_checks, key_refreshes;
static uint64_t rows_locked_total, storages_searched_total, read_rounds_total;

static route_metrics *route_slot(const char *route)
{
    for (int i = 0; i < route_count; i++) {
        if (routes[i].route == route || strcmp(routes[i].route, route) == 0) {
            return &routes[i];
        }
    }
    if (route_count == MAX_ROUTES) {
        return NULL;
    }
    routes[route_count].route = route;
    return &routes[route_count++];
}

void metrics_observe_request(const char *route, int status, int64_t duration_us)
{
    route_metrics *m = route_slot(route);
    if (m == NULL) {
        return;
    }
    for (int i = 0; i < MAX_STATUSES; i++) {
        if (m->statuses[i] == status || m->statuses[i] == 0) {
            m->statuses[i] = status;
            m->status_counts[i]++;
            break;
        }
    }
    double ms = (double)duration_us / 1000.0;
    int bucket = 0;
    while (bucket < BUCKETS - 1 && ms > bucket_ms[bucket]) {
        bucket++;
    }
    m->buckets[bucket]++;
    m->sum_seconds += (double)duration_us / 1e6;
    m->count++;
}

void metrics_count_transfer(const char *trigger)
{
    if (strcmp(trigger, "auto") == 0) {
        transfers_auto++;
    } else {
        transfers_request++;
    }
}

void metrics_count_shipped(const char *waste_type, int64_t kg)
{
    for (int i = 0; i < type_count; i++) {
        if (strcmp(types[i].code, waste_type) == 0) {
            types[i].shipped_kg += (uint64_t)kg;
            return;
        }
    }
    if (type_count < MAX_TYPES && strlen(waste_type) < sizeof types[0].code) {
        strcpy(types[type_count].code, waste_type);
        types[type_count++].shipped_kg = (uint64_t)kg;
    }
}

void metrics_count_db_retry(void)
{
    db_retries++;
}

void metrics_count_transfer_cost(uint64_t rows_locked, uint64_t storages_searched,
                                 uint64_t read_rounds)
{
    rows_locked_total += rows_locked;
    storages_searched_total += storages_searched;
    read_rounds_total += read_rounds;
}

void metrics_count_rate_limited(void)
{
    rate_limited++;
}

void metrics_count_credential_check(const char *kind)
{
    if (strcmp(kind, "jwt") == 0) {
        jwt_checks++;
    } else {
        api_key_checks++;
    }
}

void metrics_count_key_refresh(void)
{
    key_refreshes++;
}

static uint64_t view_nodes_settled, view_storages_examined, view_round_trips, work_refused;
static uint64_t graph_full_reads;

void metrics_count_graph_full_read(void)
{
    graph_full_reads++;
}

void metrics_count_view_work(uint64_t nodes_settled, uint64_t storages_examined,
                             uint64_t round_trips)
{
    view_nodes_settled += nodes_settled;
    view_storages_examined += storages_examined;
    view_round_trips += round_trips;
}

void metrics_count_work_refused(void)
{
    work_refused++;
}

void metrics_render(FILE *out)
{
    fprintf(out, "# HELP wasteflow_http_requests_total HTTP requests by route and status.\n"
                 "# TYPE wasteflow_http_requests_total counter\n");
    for (int r = 0; r < route_count; r++) {
        for (int s = 0; s < MAX_STATUSES && routes[r].statuses[s] != 0; s++) {
            fprintf(out, "wasteflow_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                    routes[r].route, routes[r].statuses[s],
                    (unsigned long long)routes[r].status_counts[s]);
        }
    }
    fprintf(out, "# HELP wasteflow_http_request_duration_seconds Request latency by route.\n"
                 "# TYPE wasteflow_http_request_duration_seconds histogram\n");
    for (int r = 0; r < route_count; r++) {
        uint64_t cumulative = 0;
        for (int b = 0; b < BUCKETS; b++) {
            cumulative += routes[r].buckets[b];
            if (b < BUCKETS - 1) {
                fprintf(out,
                        "wasteflow_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} "
                        "%llu\n",
                        routes[r].route, bucket_ms[b] / 1000.0, (unsigned long long)cumulative);
            } else {
                fprintf(out,
                        "wasteflow_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
                        "%llu\n",
                        routes[r].route, (unsigned long long)cumulative);
            }
        }
        fprintf(out, "wasteflow_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                routes[r].route, routes[r].sum_seconds);
        fprintf(out, "wasteflow_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                routes[r].route, (unsigned long long)routes[r].count);
    }
    fprintf(out,
            "# HELP wasteflow_transfers_total Transfers recorded by this instance, by trigger.\n"
            "# TYPE wasteflow_transfers_total counter\n"
            "wasteflow_transfers_total{trigger=\"request\"} %llu\n"
            "wasteflow_transfers_total{trigger=\"auto\"} %llu\n",
            (unsigned long long)transfers_request, (unsigned long long)transfers_auto);
    fprintf(out, "# HELP wasteflow_shipped_kilograms_total Kilograms shipped by this instance.\n"
                 "# TYPE wasteflow_shipped_kilograms_total counter\n");
    for (int t = 0; t < type_count; t++) {
        fprintf(out, "wasteflow_shipped_kilograms_total{waste_type=\"%s\"} %llu\n", types[t].code,
                (unsigned long long)types[t].shipped_kg);
    }
    fprintf(out,
            "# HELP wasteflow_db_retries_total Transactions retried after deadlock or "
            "serialization failure.\n"
            "# TYPE wasteflow_db_retries_total counter\n"
            "wasteflow_db_retries_total %llu\n",
            (unsigned long long)db_retries);
    fprintf(out,
            "# HELP wasteflow_transfer_rows_locked_total Storage rows locked by committed "
            "transfer transactions (divide by wasteflow_transfers_total).\n"
            "# TYPE wasteflow_transfer_rows_locked_total counter\n"
            "wasteflow_transfer_rows_locked_total %llu\n"
            "# HELP wasteflow_transfer_storages_searched_total Storages the shortest-path "
            "searches of committed transfer transactions looked at.\n"
            "# TYPE wasteflow_transfer_storages_searched_total counter\n"
            "wasteflow_transfer_storages_searched_total %llu\n"
            "# HELP wasteflow_transfer_room_reads_total Room reads of committed transfer "
            "transactions in rounds of their own (a request's first reads travel in its "
            "first round).\n"
            "# TYPE wasteflow_transfer_room_reads_total counter\n"
            "wasteflow_transfer_room_reads_total %llu\n",
            (unsigned long long)rows_locked_total, (unsigned long long)storages_searched_total,
            (unsigned long long)read_rounds_total);
    fprintf(out,
            "# HELP wasteflow_rate_limited_total Requests refused with 429 by the rate limit "
            "(per credential, or per address without valid credentials).\n"
            "# TYPE wasteflow_rate_limited_total counter\n"
            "wasteflow_rate_limited_total %llu\n",
            (unsigned long long)rate_limited);
    fprintf(out,
            "# HELP wasteflow_credential_checks_total Credentials checked with cryptography: a "
            "JWT's signature verified, an API key's secret hashed (a token already known valid "
            "costs neither).\n"
            "# TYPE wasteflow_credential_checks_total counter\n"
            "wasteflow_credential_checks_total{kind=\"jwt\"} %llu\n"
            "wasteflow_credential_checks_total{kind=\"api_key\"} %llu\n",
            (unsigned long long)jwt_checks, (unsigned long long)api_key_checks);
    fprintf(out,
            "# HELP wasteflow_key_cache_refreshes_total Database round trips of the API key "
            "cache (a version check; every key again only when they changed).\n"
            "# TYPE wasteflow_key_cache_refreshes_total counter\n"
            "wasteflow_key_cache_refreshes_total %llu\n",
            (unsigned long long)key_refreshes);
    fprintf(out,
            "# HELP wasteflow_view_nodes_settled_total Road graph nodes the storage view's "
            "searches settled (work budget units).\n"
            "# TYPE wasteflow_view_nodes_settled_total counter\n"
            "wasteflow_view_nodes_settled_total %llu\n"
            "# HELP wasteflow_view_storages_examined_total Storages the storage view asked the "
            "database to examine (work budget units).\n"
            "# TYPE wasteflow_view_storages_examined_total counter\n"
            "wasteflow_view_storages_examined_total %llu\n"
            "# HELP wasteflow_view_round_trips_total Database round trips of storage view "
            "requests.\n"
            "# TYPE wasteflow_view_round_trips_total counter\n"
            "wasteflow_view_round_trips_total %llu\n"
            "# HELP wasteflow_graph_full_reads_total Reads of every road sent because no road "
            "graph was cached (the start-up load, or a request that found none).\n"
            "# TYPE wasteflow_graph_full_reads_total counter\n"
            "wasteflow_graph_full_reads_total %llu\n"
            "# HELP wasteflow_work_budget_refused_total Requests refused with 429 because their "
            "credential's work budget was in debt.\n"
            "# TYPE wasteflow_work_budget_refused_total counter\n"
            "wasteflow_work_budget_refused_total %llu\n",
            (unsigned long long)view_nodes_settled, (unsigned long long)view_storages_examined,
            (unsigned long long)view_round_trips, (unsigned long long)graph_full_reads,
            (unsigned long long)work_refused);
}
