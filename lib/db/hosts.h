/* The hosts a conninfo names and the order a pool connection tries them in.
 *
 * libpq walks a multi-host conninfo by itself, but only its blocking connects enforce
 * connect_timeout: under PQconnectPoll a host that drops packets holds the whole attempt
 * until the kernel gives up (minutes), and the hosts after it are never tried. So the pool
 * connects to one address at a time, each with its own timer. This module splits the
 * conninfo (PQconninfoParse, with libpq's environment defaults for what it leaves out) into
 * its hosts, turns one round over them into a list of attempts, and gives each attempt's
 * parameters for PQconnectStartParams. It does no I/O: name lookups go through the resolver
 * the caller passes in. */
#ifndef WF_DB_HOSTS_H
#define WF_DB_HOSTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct db_hosts db_hosts;

enum { DB_ADDRESS_MAX = 64, DB_ADDRESSES_PER_HOST = 16 };

typedef struct {
    int host; /* index in the conninfo's host list */
    /* Numeric address to connect to (passed as hostaddr, the host name still serves TLS and
     * the passfile); "" when libpq needs none: a socket directory, a hostaddr the conninfo
     * gave, a failed lookup. */
    char address[DB_ADDRESS_MAX];
    /* target_session_attrs for this attempt; NULL: the conninfo's own. */
    const char *session_attrs;
    /* Not "" when the lookup of the host failed: the attempt is not made, this is why. */
    char error[192];
} db_attempt;

/* Writes up to max numeric addresses of host, in the order to try them, into addresses;
 * returns how many, or -1 with a message in error. */
typedef int (*db_resolver)(const char *host, char (*addresses)[DB_ADDRESS_MAX], int max,
                           char *error, size_t error_size, void *arg);

/* Parses a URI or key=value conninfo. NULL, with a message in error, when libpq cannot parse
 * it or its host, hostaddr and port lists do not match (libpq's own rules). */
db_hosts *db_hosts_parse(const char *conninfo, char *error, size_t error_size);
void db_hosts_free(db_hosts *hosts);

int db_hosts_count(const db_hosts *hosts);
/* "name:port" of host i, for logs. */
const char *db_hosts_label(const db_hosts *hosts, int host);
/* The time one attempt may take: connect_timeout with libpq's meaning (seconds, each host
 * and address separately, at least 2), or default_ms when it is absent, 0 or negative (libpq
 * would then wait as long as the kernel does; a pool must not). */
int db_hosts_timeout_ms(const db_hosts *hosts, int default_ms);

/* One round: every host once, from host `first` on and wrapping around, each of its
 * addresses in the resolver's order, except that preferred_address (when not NULL and among
 * them) comes first for host `first`. With target_session_attrs=prefer-standby the round
 * makes two passes, as libpq does: standbys only, then any server. Returns a malloc'ed array
 * (caller frees) and its length in *count; NULL when out of memory. */
db_attempt *db_hosts_round(const db_hosts *hosts, int first, const char *preferred_address,
                           db_resolver resolve, void *resolver_arg, int *count);

/* NULL-terminated keyword and value arrays for PQconnectStartParams(keywords, values, 0) of
 * one attempt: every parameter of the conninfo, with this attempt's host, hostaddr, port and
 * target_session_attrs. Owned by hosts, valid until the next call. */
void db_hosts_params(db_hosts *hosts, const db_attempt *attempt, const char *const **keywords,
                     const char *const **values);

/* The resolver for real lookups: getaddrinfo, which blocks, as libpq's own lookups do. */
int db_resolve_getaddrinfo(const char *host, char (*addresses)[DB_ADDRESS_MAX], int max,
                           char *error, size_t error_size, void *arg);

/* The wait before the next round, with jitter so that connections (and instances) that
 * failed together do not retry in lockstep: a value in [backoff_ms / 2, backoff_ms], picked
 * by random. */
int db_backoff_jitter(int backoff_ms, uint32_t random);

#endif
