/* Environment configuration: parsing with range checks, and the password redaction used
 * for every log line that mentions the database. */
#include "util/config.h"

#include "util/client_address.h"
#include "util/log.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DATABASE_URL "postgresql://wasteflow@127.0.0.1:54329/wasteflow"

typedef struct {
    const char *name;
    const char *fallback;
    const char *meaning;
} setting_doc;

static const setting_doc settings[] = {
    {"DATABASE_URL", DEFAULT_DATABASE_URL, "PostgreSQL connection (libpq URI or conninfo)"},
    {"WASTEFLOW_LISTEN", "127.0.0.1:8080", "HTTP listen address host:port"},
    {"WASTEFLOW_POOL_SIZE", "4", "database connections per instance (1-256)"},
    {"WASTEFLOW_QUEUE_MAX", "1024", "requests that may wait for a connection; more get 503"},
    {"WASTEFLOW_REQUEST_TIMEOUT_MS", "10000", "deadline of one request, then 503"},
    {"WASTEFLOW_QUERY_TIMEOUT_MS", "5000", "statement_timeout and the pool's own query timer"},
    {"WASTEFLOW_LOCK_TIMEOUT_MS", "3000", "lock_timeout of the database sessions"},
    {"WASTEFLOW_IDLE_TIMEOUT_S", "30", "client connection read/write/idle timeout"},
    {"WASTEFLOW_HEADER_TIMEOUT_MS", "10000", "deadline for receiving a whole request"},
    {"WASTEFLOW_MAX_CONNECTIONS", "1024",
     "concurrent client connections (at most the open-file limit allows)"},
    {"WASTEFLOW_MAX_IDLE_PER_CLIENT", "64",
     "connections one client address may keep idle; more close its oldest"},
    /* 100 a second: a person clicking in the console sends a few requests a page, a scale
     * or storage terminal one reading every few seconds; neither comes near it, while one
     * key can no longer take a whole instance (thousands a second) for itself. */
    {"WASTEFLOW_RATE_LIMIT", "100",
     "requests/s (bursts of as many) per credential, per address without one; 429 beyond; "
     "0: off; per instance"},
    /* 200,000 units (graph nodes settled + storages examined) a second: a page of the
     * storage view costs a few hundred, a whole 20,000-storage world walked in one request
     * tens of thousands; a person or a script paging through views never comes near it,
     * while a key asking for ever deeper or emptier pages can no longer take the machine. */
    {"WASTEFLOW_WORK_BUDGET", "200000",
     "work units/s (graph nodes the storage view settles + storages it reads) per credential, "
     "charged after the work; in debt: 429 until earned back; 0: off; per instance"},
    {"WASTEFLOW_DRAIN_TIMEOUT_MS", "10000", "how long SIGTERM waits for in-flight requests"},
    {"WASTEFLOW_DISPATCH_INTERVAL_MS", "1000",
     "how often the dispatcher looks for room it was not told of (NOTIFY wakes it at once)"},
    {"WASTEFLOW_DISPATCH_POLICY", "nearest",
     "nearest: automatic dispatch serves each organization in turn, oldest first, by the "
     "allocation rule; min_cost: a batch whose whole pending waste fits is placed at the least "
     "kg·m (a min-cost flow), one that does not fit oldest first by the rule"},
    {"WASTEFLOW_CORS_ORIGINS", "", "comma-separated allowed browser origins (empty: none)"},
    {"WASTEFLOW_LOG_LEVEL", "info", "debug, info, warn or error"},
    {"WASTEFLOW_JWT_SECRET", "", "HS256 key for JWTs, at least 32 bytes (empty: no HS256)"},
    {"WASTEFLOW_JWT_PUBLIC_KEY_FILE", "", "PEM public key for RS256/ES256 JWTs (empty: none)"},
    {"WASTEFLOW_JWT_ISSUER", "",
     "the iss a JWT must carry; required when a JWT secret or key is set"},
    {"WASTEFLOW_JWT_AUDIENCE", "",
     "the aud a JWT must carry (or list); required when a JWT secret or key is set"},
    {"WASTEFLOW_JWT_MAX_TTL_S", "86400",
     "a JWT's exp at most this many seconds ahead (plus 60 s leeway), else 401"},
    {"WASTEFLOW_APP_ROLE", "wasteflow_app", "database login role `serve` runs as (migrate grants)"},
    {"WASTEFLOW_AUDITOR_ROLE", "wasteflow_auditor", "read-only database role for auditors"},
    {"WASTEFLOW_EVENTS", "on",
     "on: the live event feed (GET /v1/events); off: nothing is written for it on any "
     "request's path and /v1/events answers 503"},
    {"WASTEFLOW_EVENTS_MAX_STREAMS", "256", "event streams (GET /v1/events) open at once; 0: none"},
    {"WASTEFLOW_EVENTS_MAX_PER_CREDENTIAL", "8", "of them, streams one credential may hold"},
    {"WASTEFLOW_EVENTS_BUFFER_KB", "256",
     "KiB a stream may have waiting for a slow reader before it is cut off"},
    {"WASTEFLOW_EVENTS_KEEPALIVE_MS", "15000",
     "a comment on a stream after this long without events"},
    {"WASTEFLOW_EXPORTS_MAX", "2",
     "movements exports (GET /v1/exports/movements.csv) streaming at once, each holding one of "
     "the pool's connections until it ends; more get 503 (0: none). Below "
     "WASTEFLOW_POOL_SIZE when set; unset, at most WASTEFLOW_POOL_SIZE - 1 (1 with a pool of "
     "1)"},
    {"WASTEFLOW_OUTPUT_BUDGET_MB", "64",
     "MiB of replies waiting for clients that do not read them, all connections together; "
     "beyond it the connections holding the most are closed"},
    {"WASTEFLOW_TRUSTED_PROXIES", "",
     "comma-separated CIDRs of reverse proxies whose Forwarded / X-Forwarded-For name the "
     "client for per-address limits and logs (empty: trust none)"},
    {"WASTEFLOW_WEBHOOK_RETRY_BASE_MS", "5000",
     "a failed webhook delivery is retried after this long, then after twice as long each "
     "time (plus up to 20 % jitter), for 24 hours"},
    {"WASTEFLOW_WEBHOOK_ALLOW_PRIVATE", "0",
     "1: webhook URLs may reach loopback, private and link-local addresses (tests, "
     "closed networks); 0 refuses them when created and when delivering"},
    {"WASTEFLOW_WEBHOOK_MAX_IN_FLIGHT", "1",
     "webhook deliveries sent at once to one endpoint (1 keeps them in order)"},
    {"WASTEFLOW_WEBHOOK_TIMEOUT_MS", "10000",
     "one webhook delivery attempt, connecting included, fails after this long"},
};

void config_print_help(FILE *out)
{
    fprintf(out, "Environment:\n");
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        fprintf(out, "  %-31s %s\n  %-31s (default: %s)\n", settings[i].name, settings[i].meaning,
                "", settings[i].fallback[0] ? settings[i].fallback : "empty");
    }
}

static const char *value_of(const char *(*getenv_fn)(const char *), const char *name)
{
    const char *value = getenv_fn(name);
    if (value != NULL && value[0] != '\0') {
        return value;
    }
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        if (strcmp(settings[i].name, name) == 0) {
            return settings[i].fallback;
        }
    }
    return "";
}

static int parse_int(const char *(*getenv_fn)(const char *), const char *name, long min, long max,
                     int *out, char *error, size_t error_size)
{
    const char *text = value_of(getenv_fn, name);
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
        snprintf(error, error_size, "%s must be an integer from %ld to %ld, got \"%s\"", name, min,
                 max, text);
        return -1;
    }
    *out = (int)value;
    return 0;
}

static int copy_setting(const char *(*getenv_fn)(const char *), const char *name, char *out,
                        size_t out_size, char *error, size_t error_size)
{
    const char *text = value_of(getenv_fn, name);
    if (strlen(text) >= out_size) {
        snprintf(error, error_size, "%s is longer than %zu characters", name, out_size - 1);
        return -1;
    }
    strcpy(out, text);
    return 0;
}

static int parse_listen(const char *text, config *cfg, char *error, size_t error_size)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text || (size_t)(colon - text) >= sizeof cfg->listen_host) {
        snprintf(error, error_size, "WASTEFLOW_LISTEN must be host:port, got \"%s\"", text);
        return -1;
    }
    const char *host_start = text;
    size_t host_len = (size_t)(colon - text);
    /* [::1]:8080 */
    if (host_len >= 2 && host_start[0] == '[' && host_start[host_len - 1] == ']') {
        host_start++;
        host_len -= 2;
    }
    memcpy(cfg->listen_host, host_start, host_len);
    cfg->listen_host[host_len] = '\0';
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port < 0 || port > 65535) {
        snprintf(error, error_size, "WASTEFLOW_LISTEN port must be 0-65535, got \"%s\"", text);
        return -1;
    }
    cfg->listen_port = (int)port;
    return 0;
}

int config_load(config *cfg, const char *(*getenv_fn)(const char *name), char *error,
                size_t error_size)
{
    memset(cfg, 0, sizeof *cfg);
    if (copy_setting(getenv_fn, "DATABASE_URL", cfg->database_url, sizeof cfg->database_url, error,
                     error_size) != 0 ||
        copy_setting(getenv_fn, "WASTEFLOW_CORS_ORIGINS", cfg->cors_origins,
                     sizeof cfg->cors_origins, error, error_size) != 0 ||
        copy_setting(getenv_fn, "WASTEFLOW_TRUSTED_PROXIES", cfg->trusted_proxies,
                     sizeof cfg->trusted_proxies, error, error_size) != 0 ||
        copy_setting(getenv_fn, "WASTEFLOW_JWT_SECRET", cfg->jwt_secret, sizeof cfg->jwt_secret,
                     error, error_size) != 0 ||
        copy_setting(getenv_fn, "WASTEFLOW_JWT_PUBLIC_KEY_FILE", cfg->jwt_public_key_file,
                     sizeof cfg->jwt_public_key_file, error, error_size) != 0 ||
        copy_setting(getenv_fn, "WASTEFLOW_JWT_ISSUER", cfg->jwt_issuer, sizeof cfg->jwt_issuer,
                     error, error_size) != 0 ||
        copy_setting(getenv_fn, "WASTEFLOW_JWT_AUDIENCE", cfg->jwt_audience,
                     sizeof cfg->jwt_audience, error, error_size) != 0 ||
        copy_setting(getenv_fn, "WASTEFLOW_APP_ROLE", cfg->app_role, sizeof cfg->app_role, error,
                     error_size) != 0 ||
        copy_setting(getenv_fn, "WASTEFLOW_AUDITOR_ROLE", cfg->auditor_role,
                     sizeof cfg->auditor_role, error, error_size) != 0 ||
        parse_listen(value_of(getenv_fn, "WASTEFLOW_LISTEN"), cfg, error, error_size) != 0 ||
        parse_int(getenv_fn, "WASTEFLOW_POOL_SIZE", 1, 256, &cfg->pool_size, error, error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_QUEUE_MAX", 0, 1000000, &cfg->queue_max, error,
                  error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_REQUEST_TIMEOUT_MS", 100, 600000, &cfg->request_timeout_ms,
                  error, error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_QUERY_TIMEOUT_MS", 100, 600000, &cfg->query_timeout_ms,
                  error, error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_LOCK_TIMEOUT_MS", 10, 600000, &cfg->lock_timeout_ms, error,
                  error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_IDLE_TIMEOUT_S", 1, 3600, &cfg->idle_timeout_s, error,
                  error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_HEADER_TIMEOUT_MS", 100, 600000, &cfg->header_timeout_ms,
                  error, error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_MAX_CONNECTIONS", 1, 1000000, &cfg->max_connections, error,
                  error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_MAX_IDLE_PER_CLIENT", 1, 1000000, &cfg->max_idle_per_client,
                  error, error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_RATE_LIMIT", 0, 1000000, &cfg->rate_limit, error,
                  error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_WORK_BUDGET", 0, 1000000000, &cfg->work_budget, error,
                  error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_DRAIN_TIMEOUT_MS", 0, 600000, &cfg->drain_timeout_ms, error,
                  error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_DISPATCH_INTERVAL_MS", 10, 60000,
                  &cfg->dispatch_interval_ms, error, error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_EVENTS_MAX_STREAMS", 0, 100000, &cfg->events_max_streams,
                  error, error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_EVENTS_MAX_PER_CREDENTIAL", 1, 100000,
                  &cfg->events_max_per_credential, error, error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_EVENTS_BUFFER_KB", 4, 1048576, &cfg->events_buffer_kb,
                  error, error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_EVENTS_KEEPALIVE_MS", 100, 600000,
                  &cfg->events_keepalive_ms, error, error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_EXPORTS_MAX", 0, 256, &cfg->exports_max, error,
                  error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_JWT_MAX_TTL_S", 1, 31622400, &cfg->jwt_max_ttl_s, error,
                  error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_OUTPUT_BUDGET_MB", 1, 1048576, &cfg->output_budget_mb,
                  error, error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_WEBHOOK_RETRY_BASE_MS", 10, 3600000,
                  &cfg->webhook_retry_base_ms, error, error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_WEBHOOK_MAX_IN_FLIGHT", 1, 64, &cfg->webhook_max_in_flight,
                  error, error_size) ||
        parse_int(getenv_fn, "WASTEFLOW_WEBHOOK_TIMEOUT_MS", 100, 120000, &cfg->webhook_timeout_ms,
                  error, error_size)) {
        return -1;
    }
    /* Each export holds one of the pool's connections while it streams: as many exports as
     * connections would leave none for the requests. Asked for explicitly, that is an
     * error; the default gives way to a small pool (keeping one export with a pool of 1). */
    if (cfg->exports_max >= cfg->pool_size) {
        const char *asked = getenv_fn("WASTEFLOW_EXPORTS_MAX");
        if (asked != NULL && asked[0] != '\0') {
            snprintf(error, error_size,
                     "WASTEFLOW_EXPORTS_MAX (%d) must be below WASTEFLOW_POOL_SIZE (%d): each "
                     "export holds one of the pool's connections while it streams",
                     cfg->exports_max, cfg->pool_size);
            return -1;
        }
        cfg->exports_max = cfg->pool_size > 1 ? cfg->pool_size - 1 : 1;
    }
    /* A token signed by the identity provider for another service (another audience), or by
     * another tenant of a shared one (another issuer), must not be accepted here: with JWT on,
     * both are checked, never skipped for want of a setting. */
    bool jwt_enabled = cfg->jwt_secret[0] != '\0' || cfg->jwt_public_key_file[0] != '\0';
    if (jwt_enabled && (cfg->jwt_issuer[0] == '\0' || cfg->jwt_audience[0] == '\0')) {
        snprintf(error, error_size,
                 "JWT is enabled (WASTEFLOW_JWT_SECRET or WASTEFLOW_JWT_PUBLIC_KEY_FILE is set): "
                 "WASTEFLOW_JWT_ISSUER and WASTEFLOW_JWT_AUDIENCE must both be set too");
        return -1;
    }
    int level = log_level_parse(value_of(getenv_fn, "WASTEFLOW_LOG_LEVEL"));
    if (level < 0) {
        snprintf(error, error_size, "WASTEFLOW_LOG_LEVEL must be debug, info, warn or error");
        return -1;
    }
    cfg->log_level = level;
    const char *events = value_of(getenv_fn, "WASTEFLOW_EVENTS");
    if (strcmp(events, "on") != 0 && strcmp(events, "off") != 0) {
        snprintf(error, error_size, "WASTEFLOW_EVENTS must be on or off, got \"%s\"", events);
        return -1;
    }
    cfg->events_enabled = strcmp(events, "on") == 0;
    const char *allow_private = value_of(getenv_fn, "WASTEFLOW_WEBHOOK_ALLOW_PRIVATE");
    if (strcmp(allow_private, "0") != 0 && strcmp(allow_private, "1") != 0) {
        snprintf(error, error_size, "WASTEFLOW_WEBHOOK_ALLOW_PRIVATE must be 0 or 1, got \"%s\"",
                 allow_private);
        return -1;
    }
    cfg->webhook_allow_private = allow_private[0] == '1';
    const char *policy = value_of(getenv_fn, "WASTEFLOW_DISPATCH_POLICY");
    if (strcmp(policy, "nearest") != 0 && strcmp(policy, "min_cost") != 0) {
        snprintf(error, error_size,
                 "WASTEFLOW_DISPATCH_POLICY must be nearest or min_cost, got \"%s\"", policy);
        return -1;
    }
    cfg->dispatch_min_cost = strcmp(policy, "min_cost") == 0;
    /* Role names go into GRANT statements as identifiers: keep them plain. */
    const char *roles[] = {cfg->app_role, cfg->auditor_role};
    const char *names[] = {"WASTEFLOW_APP_ROLE", "WASTEFLOW_AUDITOR_ROLE"};
    for (int i = 0; i < 2; i++) {
        bool plain = roles[i][0] >= 'a' && roles[i][0] <= 'z';
        for (const char *p = roles[i]; *p != '\0' && plain; p++) {
            plain = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
        }
        if (!plain || strlen(roles[i]) > 63) {
            snprintf(error, error_size,
                     "%s must be a lowercase name of letters, digits and _, got \"%s\"", names[i],
                     roles[i]);
            return -1;
        }
    }
    if (strcmp(cfg->app_role, cfg->auditor_role) == 0) {
        snprintf(error, error_size, "WASTEFLOW_APP_ROLE and WASTEFLOW_AUDITOR_ROLE must differ");
        return -1;
    }
    proxy_list proxies;
    if (proxy_list_parse(cfg->trusted_proxies, &proxies, error, error_size) != 0) {
        return -1;
    }
    proxy_list_free(&proxies);
    return 0;
}

/* Is p at a key named name (not the tail of a longer word)? */
static bool key_at(const char *url, const char *p, const char *name)
{
    size_t len = strlen(name);
    return (p == url || !isalnum((unsigned char)p[-1])) && strncmp(p, name, len) == 0;
}

/* The masking itself, on the text: the URI's userinfo password and every password= or
 * sslpassword= value, the rest kept as it was written. */
static void redact_text(const char *url, char *out, size_t out_size)
{
    size_t used = 0;
    const char *scheme_end = strstr(url, "://");
    const char *p = url;
    /* URI form: scheme://user:password@host... libpq ends the userinfo at the first '@'
     * before the first '/' ('?' and '#' included): mask up to the last '@' before it. */
    if (scheme_end != NULL) {
        const char *auth = scheme_end + 3;
        const char *auth_end = auth + strcspn(auth, "/");
        const char *at = NULL;
        for (const char *q = auth; q < auth_end; q++) {
            if (*q == '@') {
                at = q;
            }
        }
        if (at == NULL) {
            /* A raw '/' in a password ends libpq's userinfo early (it then reads no
             * password at all), but the writer meant one: a ':' in the authority and an
             * '@' before the query mask what is between them too. (A database name with
             * an '@' after a host:port is masked as well: better too much than a leak.) */
            for (const char *q = auth_end; *q != '\0' && *q != '?'; q++) {
                if (*q == '@') {
                    at = q;
                }
            }
            if (at != NULL && memchr(auth, ':', (size_t)(auth_end - auth)) == NULL) {
                at = NULL;
            }
        }
        const char *colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon != NULL) {
            used = (size_t)snprintf(out, out_size, "%.*s:***", (int)(colon - url), url);
            p = at;
        }
    }
    /* Key/value form, or ?password= in a URI query: mask each password value. */
    while (*p != '\0' && used + 1 < out_size) {
        const char *key = key_at(url, p, "sslpassword") ? "sslpassword"
                          : key_at(url, p, "password")  ? "password"
                                                        : NULL;
        if (key != NULL) {
            const char *eq = p + strlen(key);
            while (isspace((unsigned char)*eq)) {
                eq++;
            }
            if (*eq == '=') {
                const char *value = eq + 1;
                while (isspace((unsigned char)*value)) {
                    value++;
                }
                const char *value_end = value;
                if (*value == '\'') {
                    value_end++;
                    while (*value_end != '\0' && *value_end != '\'') {
                        value_end += (*value_end == '\\' && value_end[1] != '\0') ? 2 : 1;
                    }
                    if (*value_end == '\'') {
                        value_end++;
                    }
                } else {
                    value_end += strcspn(value, " \t\n\r\f\v&");
                }
                used += (size_t)snprintf(out + used, out_size - used, "%s=***", key);
                p = value_end;
                continue;
            }
        }
        out[used++] = *p++;
    }
    if (used >= out_size) {
        used = out_size - 1;
    }
    out[used] = '\0';
}

/* All of the parsed conninfo as keyword='value' pairs, secrets masked. */
static void redact_parsed(const PQconninfoOption *options, char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    for (const PQconninfoOption *o = options; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0' || used + 1 >= out_size) {
            continue;
        }
        bool secret = strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0;
        int n = snprintf(out + used, out_size - used, "%s%s='%s'", used ? " " : "", o->keyword,
                         secret ? "***" : o->val);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used >= out_size) {
        out[out_size - 1] = '\0';
    }
}

void config_redact_url(const char *url, char *out, size_t out_size)
{
    if (out_size == 0) {
        return;
    }
    redact_text(url, out, out_size);
    /* libpq's own reading is the truth: should a secret it finds still stand in the text
     * (a form the masking does not know), show the parsed options instead. Secrets of
     * fewer than three characters are too short to tell from other text. */
    char *error = NULL;
    PQconninfoOption *options = PQconninfoParse(url, &error);
    if (options == NULL) {
        PQfreemem(error);
        return;
    }
    for (const PQconninfoOption *o = options; o->keyword != NULL; o++) {
        bool secret = strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0;
        if (secret && o->val != NULL && strlen(o->val) >= 3 && strstr(out, o->val) != NULL) {
            redact_parsed(options, out, out_size);
            break;
        }
    }
    PQconninfoFree(options);
}
