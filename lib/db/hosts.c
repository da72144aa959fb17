/* Splits a conninfo into its hosts and plans the pool's connect rounds over them (hosts.h).
 * The list rules are libpq's (connectOptions2): hostaddr, else host, gives the number of
 * hosts; the other list must match it; port is one value or one per host; an empty element
 * means libpq's default. */
#include "db/hosts.h"

#include <libpq-fe.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct {
    char *name;     /* NULL: libpq's default (the local socket directory) */
    char *hostaddr; /* NULL unless the conninfo gave one */
    char *port;     /* NULL: libpq's default */
    char label[160];
} host_entry;

/* The parameters every attempt passes unchanged, then these, then NULL. */
enum { SLOT_HOST, SLOT_HOSTADDR, SLOT_PORT, SLOT_SESSION_ATTRS, SLOT_COUNT };

struct db_hosts {
    PQconninfoOption *options; /* owns the pass-through values */
    host_entry *hosts;
    int count;
    char *session_attrs;   /* the conninfo's (or the environment's), NULL when none */
    char *connect_timeout; /* likewise */
    const char **keywords;
    const char **values;
    int fixed; /* pass-through parameters before the slots */
};

static bool is_socket_path(const char *host)
{
    return host[0] == '/' || host[0] == '@';
}

/* The explicit value (even ""), else libpq's default from the environment, else NULL. */
static const char *option_value(const PQconninfoOption *options, const PQconninfoOption *defaults,
                                const char *keyword)
{
    for (const PQconninfoOption *o = options; o != NULL && o->keyword != NULL; o++) {
        if (strcmp(o->keyword, keyword) == 0 && o->val != NULL) {
            return o->val;
        }
    }
    for (const PQconninfoOption *o = defaults; o != NULL && o->keyword != NULL; o++) {
        if (strcmp(o->keyword, keyword) == 0) {
            return o->val;
        }
    }
    return NULL;
}

static char *dup_or_null(const char *text)
{
    return text != NULL ? strdup(text) : NULL;
}

static int count_elements(const char *list)
{
    int count = 1;
    for (const char *c = list; *c != '\0'; c++) {
        count += *c == ',';
    }
    return count;
}

/* Element i of a comma-separated list, malloc'ed; NULL when it is empty. *oom on failure. */
static char *list_element(const char *list, int index, bool *oom)
{
    const char *start = list;
    for (int i = 0; i < index; i++) {
        start = strchr(start, ',') + 1;
    }
    size_t length = strcspn(start, ",");
    if (length == 0) {
        return NULL;
    }
    char *element = strndup(start, length);
    *oom |= element == NULL;
    return element;
}

static bool non_empty(const char *text)
{
    return text != NULL && text[0] != '\0';
}

static bool is_slot_keyword(const char *keyword)
{
    return strcmp(keyword, "host") == 0 || strcmp(keyword, "hostaddr") == 0 ||
           strcmp(keyword, "port") == 0 || strcmp(keyword, "target_session_attrs") == 0;
}

static bool split_hosts(db_hosts *hosts, const char *host, const char *hostaddr, const char *port,
                        const char *default_port, char *error, size_t error_size)
{
    int count = non_empty(hostaddr) ? count_elements(hostaddr)
                : non_empty(host)   ? count_elements(host)
                                    : 1;
    if (non_empty(hostaddr) && non_empty(host) && count_elements(host) != count) {
        snprintf(error, error_size, "could not match %d host names to %d hostaddr values",
                 count_elements(host), count);
        return false;
    }
    int ports = non_empty(port) ? count_elements(port) : 0;
    if (ports > 1 && ports != count) {
        snprintf(error, error_size, "could not match %d port numbers to %d hosts", ports, count);
        return false;
    }
    hosts->hosts = calloc((size_t)count, sizeof *hosts->hosts);
    if (hosts->hosts == NULL) {
        snprintf(error, error_size, "out of memory");
        return false;
    }
    hosts->count = count;
    bool oom = false;
    for (int i = 0; i < count; i++) {
        host_entry *entry = &hosts->hosts[i];
        entry->name = non_empty(host) ? list_element(host, i, &oom) : NULL;
        entry->hostaddr = non_empty(hostaddr) ? list_element(hostaddr, i, &oom) : NULL;
        entry->port = ports > 0 ? list_element(port, ports == 1 ? 0 : i, &oom) : NULL;
        const char *shown = entry->name != NULL       ? entry->name
                            : entry->hostaddr != NULL ? entry->hostaddr
                                                      : "local socket";
        const char *shown_port = entry->port != NULL    ? entry->port
                                 : default_port != NULL ? default_port
                                                        : "5432";
        snprintf(entry->label, sizeof entry->label, "%s:%s", shown, shown_port);
    }
    if (oom) {
        snprintf(error, error_size, "out of memory");
        return false;
    }
    return true;
}

static bool build_params(db_hosts *hosts)
{
    int total = 0;
    for (const PQconninfoOption *o = hosts->options; o->keyword != NULL; o++) {
        total++;
    }
    hosts->keywords = calloc((size_t)total + SLOT_COUNT + 1, sizeof *hosts->keywords);
    hosts->values = calloc((size_t)total + SLOT_COUNT + 1, sizeof *hosts->values);
    if (hosts->keywords == NULL || hosts->values == NULL) {
        return false;
    }
    int n = 0;
    for (const PQconninfoOption *o = hosts->options; o->keyword != NULL; o++) {
        if (o->val != NULL && !is_slot_keyword(o->keyword)) {
            hosts->keywords[n] = o->keyword;
            hosts->values[n] = o->val;
            n++;
        }
    }
    hosts->fixed = n;
    hosts->keywords[n + SLOT_HOST] = "host";
    hosts->keywords[n + SLOT_HOSTADDR] = "hostaddr";
    hosts->keywords[n + SLOT_PORT] = "port";
    hosts->keywords[n + SLOT_SESSION_ATTRS] = "target_session_attrs";
    return true;
}

db_hosts *db_hosts_parse(const char *conninfo, char *error, size_t error_size)
{
    char *parse_error = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &parse_error);
    if (options == NULL) {
        snprintf(error, error_size, "%s", parse_error != NULL ? parse_error : "out of memory");
        error[strcspn(error, "\n")] = '\0';
        PQfreemem(parse_error);
        return NULL;
    }
    db_hosts *hosts = calloc(1, sizeof *hosts);
    PQconninfoOption *defaults = PQconndefaults();
    if (hosts == NULL || defaults == NULL) {
        snprintf(error, error_size, "out of memory");
        goto fail;
    }
    hosts->options = options;
    options = NULL;
    const PQconninfoOption *o = hosts->options;
    if (!split_hosts(hosts, option_value(o, defaults, "host"),
                     option_value(o, defaults, "hostaddr"), option_value(o, defaults, "port"),
                     option_value(NULL, defaults, "port"), error, error_size)) {
        goto fail;
    }
    const char *attrs = option_value(o, defaults, "target_session_attrs");
    const char *timeout = option_value(o, defaults, "connect_timeout");
    hosts->session_attrs = dup_or_null(attrs);
    hosts->connect_timeout = dup_or_null(timeout);
    if ((attrs != NULL && hosts->session_attrs == NULL) ||
        (timeout != NULL && hosts->connect_timeout == NULL) || !build_params(hosts)) {
        snprintf(error, error_size, "out of memory");
        goto fail;
    }
    PQconninfoFree(defaults);
    return hosts;
fail:
    PQconninfoFree(options);
    PQconninfoFree(defaults);
    db_hosts_free(hosts);
    return NULL;
}

void db_hosts_free(db_hosts *hosts)
{
    if (hosts == NULL) {
        return;
    }
    for (int i = 0; hosts->hosts != NULL && i < hosts->count; i++) {
        free(hosts->hosts[i].name);
        free(hosts->hosts[i].hostaddr);
        free(hosts->hosts[i].port);
    }
    free(hosts->hosts);
    free(hosts->session_attrs);
    free(hosts->connect_timeout);
    free(hosts->keywords);
    free(hosts->values);
    PQconninfoFree(hosts->options);
    free(hosts);
}

int db_hosts_count(const db_hosts *hosts)
{
    return hosts->count;
}

const char *db_hosts_label(const db_hosts *hosts, int host)
{
    return host >= 0 && host < hosts->count ? hosts->hosts[host].label : "?";
}

int db_hosts_timeout_ms(const db_hosts *hosts, int default_ms)
{
    if (hosts->connect_timeout == NULL) {
        return default_ms;
    }
    /* libpq's parse_int_param: an integer, optionally surrounded by spaces. */
    char *end;
    long seconds = strtol(hosts->connect_timeout, &end, 10);
    if (end == hosts->connect_timeout || end[strspn(end, " \t\n\r\f\v")] != '\0' || seconds <= 0) {
        return default_ms;
    }
    if (seconds < 2) {
        seconds = 2; /* as libpq: a timeout rounded to whole seconds needs at least 2 */
    }
    return seconds > 86400 ? 86400 * 1000 : (int)seconds * 1000;
}

/* The attempts for one host, appended at out (room for DB_ADDRESSES_PER_HOST). */
static int host_attempts(const db_hosts *hosts, int index, const char *preferred_address,
                         db_resolver resolve, void *resolver_arg, db_attempt *out)
{
    const host_entry *entry = &hosts->hosts[index];
    memset(out, 0, sizeof *out);
    out->host = index;
    if (entry->hostaddr != NULL || entry->name == NULL || is_socket_path(entry->name)) {
        return 1;
    }
    char addresses[DB_ADDRESSES_PER_HOST][DB_ADDRESS_MAX];
    int found = resolve(entry->name, addresses, DB_ADDRESSES_PER_HOST, out->error,
                        sizeof out->error, resolver_arg);
    if (found <= 0) {
        if (out->error[0] == '\0') {
            snprintf(out->error, sizeof out->error,
                     "could not translate host name \"%s\" to address", entry->name);
        }
        return 1;
    }
    int first = 0;
    for (int i = 0; preferred_address != NULL && i < found; i++) {
        if (strcmp(addresses[i], preferred_address) == 0) {
            first = i;
            break;
        }
    }
    for (int i = 0; i < found; i++) {
        /* The preferred address, then the others in the resolver's order. */
        int from = i == 0 ? first : (i <= first ? i - 1 : i);
        memset(&out[i], 0, sizeof out[i]);
        out[i].host = index;
        snprintf(out[i].address, sizeof out[i].address, "%s", addresses[from]);
    }
    return found;
}

db_attempt *db_hosts_round(const db_hosts *hosts, int first, const char *preferred_address,
                           db_resolver resolve, void *resolver_arg, int *count)
{
    bool prefer_standby =
        hosts->session_attrs != NULL && strcmp(hosts->session_attrs, "prefer-standby") == 0;
    size_t per_pass = (size_t)hosts->count * DB_ADDRESSES_PER_HOST;
    db_attempt *attempts = calloc(per_pass * (prefer_standby ? 2 : 1), sizeof *attempts);
    if (attempts == NULL) {
        *count = 0;
        return NULL;
    }
    if (first < 0 || first >= hosts->count) {
        first = 0;
    }
    int n = 0;
    for (int k = 0; k < hosts->count; k++) {
        int index = (first + k) % hosts->count;
        n += host_attempts(hosts, index, k == 0 ? preferred_address : NULL, resolve, resolver_arg,
                           &attempts[n]);
    }
    if (prefer_standby) {
        /* libpq's two passes: a standby if there is one, else any server. */
        for (int i = 0; i < n; i++) {
            attempts[n + i] = attempts[i];
            attempts[i].session_attrs = "standby";
            attempts[n + i].session_attrs = "any";
        }
        n *= 2;
    }
    *count = n;
    return attempts;
}

void db_hosts_params(db_hosts *hosts, const db_attempt *attempt, const char *const **keywords,
                     const char *const **values)
{
    const host_entry *entry = &hosts->hosts[attempt->host];
    const char **slot = &hosts->values[hosts->fixed];
    slot[SLOT_HOST] = entry->name;
    slot[SLOT_HOSTADDR] = attempt->address[0] != '\0' ? attempt->address : entry->hostaddr;
    slot[SLOT_PORT] = entry->port;
    slot[SLOT_SESSION_ATTRS] =
        attempt->session_attrs != NULL ? attempt->session_attrs : hosts->session_attrs;
    *keywords = hosts->keywords;
    *values = hosts->values;
}

int db_resolve_getaddrinfo(const char *host, char (*addresses)[DB_ADDRESS_MAX], int max,
                           char *error, size_t error_size, void *arg)
{
    (void)arg;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &list);
    if (rc != 0) {
        snprintf(error, error_size, "could not translate host name \"%s\" to address: %s", host,
                 gai_strerror(rc));
        return -1;
    }
    int found = 0;
    for (struct addrinfo *ai = list; ai != NULL && found < max; ai = ai->ai_next) {
        char text[DB_ADDRESS_MAX];
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof text, NULL, 0, NI_NUMERICHOST) !=
            0) {
            continue;
        }
        bool seen = false;
        for (int i = 0; i < found && !seen; i++) {
            seen = strcmp(addresses[i], text) == 0;
        }
        if (!seen) {
            snprintf(addresses[found++], DB_ADDRESS_MAX, "%s", text);
        }
    }
    freeaddrinfo(list);
    if (found == 0) {
        snprintf(error, error_size, "could not translate host name \"%s\" to address", host);
        return -1;
    }
    return found;
}

int db_backoff_jitter(int backoff_ms, uint32_t random)
{
    if (backoff_ms <= 1) {
        return backoff_ms;
    }
    int half = backoff_ms / 2;
    return half + (int)(random % (uint32_t)(backoff_ms - half + 1));
}
