/* The rate limit at admission (see http_rate_admit_credential): one table of buckets for
 * credentials and one for the addresses of clients without valid credentials, answering
 * 429 with Retry-After when a bucket is empty. The buckets themselves are pure
 * (util/rate_limit.h); this file adds the clock, the per-process hash key and the reply. */
#include "http/internal.h"

#include "util/log.h"
#include "util/metrics.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Credentials active within one second, and addresses, that the tables tell apart; beyond
 * them the least recently used is forgotten (util/rate_limit.h). 16,384 * 48 bytes and
 * 65,536 * 48 bytes: at most about 3.8 MiB, touched only as identities come. */
#define RATE_CREDENTIALS_MAX 16384
#define RATE_ADDRESSES_MAX   65536

void rate_limits_new(http_server *server)
{
    int rate = server->options.rate_limit;
    if (rate <= 0) {
        return;
    }
    /* A key no client knows, so no client can choose identities that share a slot. */
    uint8_t seed[RATE_SEED_BYTES];
    if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
        uint64_t fallback[2] = {(uint64_t)clock_us() * 0x9e3779b97f4a7c15ULL,
                                (uint64_t)getpid() ^ server->id_salt};
        memcpy(seed, fallback, sizeof seed);
    }
    server->rate_credentials = rate_table_new(rate, rate, RATE_CREDENTIALS_MAX, seed);
    seed[0] ^= 0x5a; /* the two tables' keys differ */
    server->rate_addresses = rate_table_new(rate, rate, RATE_ADDRESSES_MAX, seed);
}

void rate_limits_free(http_server *server)
{
    rate_table_free(server->rate_credentials);
    rate_table_free(server->rate_addresses);
    server->rate_credentials = server->rate_addresses = NULL;
}

static void refuse(http_ctx *ctx, int64_t wait_ms, const char *whose)
{
    char retry_after[16];
    snprintf(retry_after, sizeof retry_after, "%d", rate_retry_after_s(wait_ms));
    http_add_header(ctx, "Retry-After", retry_after);
    metrics_count_rate_limited();
    int rate = ctx->server->options.rate_limit;
    http_problem(ctx, PROBLEM_TOO_MANY_REQUESTS,
                 "Too many requests %s: at most %d a second, in bursts of up to %d. The next "
                 "one is allowed in %lld ms.",
                 whose, rate, rate, (long long)wait_ms);
}

bool http_rate_admit_credential(http_ctx *ctx, const void *identity, size_t len)
{
    rate_table *table = ctx->server->rate_credentials;
    if (table == NULL) {
        return true;
    }
    int64_t wait_ms = rate_table_take(table, identity, len, clock_ms());
    if (wait_ms > 0) {
        refuse(ctx, wait_ms, "with these credentials");
        return false;
    }
    return true;
}

bool http_rate_admit_address(http_ctx *ctx)
{
    rate_table *table = ctx->server->rate_addresses;
    if (table == NULL) {
        return true;
    }
    /* Behind a trusted proxy, the client it forwarded (conn_request_arrived). */
    uint8_t identity[RATE_ADDRESS_MAX];
    size_t len = rate_address_identity(ctx->client_address, identity);
    int64_t wait_ms = rate_table_take(table, identity, len, clock_ms());
    if (wait_ms > 0) {
        refuse(ctx, wait_ms, "from this address without valid credentials");
        return false;
    }
    return true;
}
