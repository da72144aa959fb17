/* Unit tests of db/hosts: splitting a conninfo into its hosts by libpq's rules, the order of
 * one connect round (rotation, preferred address, prefer-standby's two passes), each
 * attempt's libpq parameters, connect_timeout's meaning, and the backoff's jitter. Name
 * lookups go through a fake resolver, so nothing here touches the network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db/hosts.h"
#include "runner.h"

/* ---- a fake resolver: a fixed table, and a count of lookups ---- */

static int lookups;

static int fake_resolve(const char *host, char (*addresses)[DB_ADDRESS_MAX], int max, char *error,
                        size_t error_size, void *arg)
{
    (void)arg;
    lookups++;
    static const struct {
        const char *host;
        const char *addresses[3];
    } table[] = {
        {"db1", {"10.0.0.1", "10.0.0.2", NULL}},
        {"db2", {"10.0.1.1", NULL, NULL}},
        {"db3", {"fd00::3", "10.0.3.1", NULL}},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(table[i].host, host) == 0) {
            int n = 0;
            while (n < 3 && n < max && table[i].addresses[n] != NULL) {
                snprintf(addresses[n], DB_ADDRESS_MAX, "%s", table[i].addresses[n]);
                n++;
            }
            return n;
        }
    }
    snprintf(error, error_size, "could not translate host name \"%s\" to address: Name unknown",
             host);
    return -1;
}

/* The environment libpq reads defaults from must not leak into the expected values. */
static int clean_environment(void **state)
{
    (void)state;
    const char *names[] = {"PGHOST",     "PGHOSTADDR",        "PGPORT", "PGSERVICE",
                           "PGDATABASE", "PGCONNECT_TIMEOUT", "PGUSER", "PGTARGETSESSIONATTRS"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        unsetenv(names[i]);
    }
    lookups = 0;
    return 0;
}

static db_hosts *parse_ok(const char *conninfo)
{
    char error[256] = "";
    db_hosts *hosts = db_hosts_parse(conninfo, error, sizeof error);
    if (hosts == NULL) {
        fail_msg("db_hosts_parse(\"%s\") failed: %s", conninfo, error);
    }
    return hosts;
}

/* "host/address/session_attrs" per attempt, joined with " | ". */
static void round_text(db_hosts *hosts, int first, const char *preferred, char *out, size_t size)
{
    int count = -1;
    db_attempt *round = db_hosts_round(hosts, first, preferred, fake_resolve, NULL, &count);
    assert_non_null(round);
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < count; i++) {
        used += (size_t)snprintf(out + used, size - used, "%s%d/%s/%s%s%s", i ? " | " : "",
                                 round[i].host, round[i].address,
                                 round[i].session_attrs ? round[i].session_attrs : "-",
                                 round[i].error[0] ? " error: " : "", round[i].error);
    }
    free(round);
}

/* The value of keyword in an attempt's parameters ("<absent>" when it is not there or NULL);
 * fails when the keyword appears twice. */
static const char *param(const char *const *keywords, const char *const *values,
                         const char *keyword)
{
    const char *found = NULL;
    int times = 0;
    for (int i = 0; keywords[i] != NULL; i++) {
        if (strcmp(keywords[i], keyword) == 0) {
            times++;
            found = values[i];
        }
    }
    if (times > 1) {
        fail_msg("keyword %s passed %d times", keyword, times);
    }
    return found != NULL ? found : "<absent>";
}

/* The hosts, in order, as their labels say them (host:port): their count and each label. */
#define ASSERT_LABELS(hosts, ...)                                                                  \
    assert_labels((hosts), (const char *const[]){__VA_ARGS__},                                     \
                  (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))
static void assert_labels(db_hosts *hosts, const char *const *labels, int count)
{
    assert_int_equal(db_hosts_count(hosts), count);
    for (int i = 0; i < count; i++) {
        assert_string_equal(db_hosts_label(hosts, i), labels[i]);
    }
}

/* The round from host first (preferred: the address that worked last) is expected, as
 * round_text writes it. */
static void assert_round(db_hosts *hosts, int first, const char *preferred, const char *expected)
{
    char text[1024];
    round_text(hosts, first, preferred, text, sizeof text);
    assert_string_equal(text, expected);
}

/* The libpq parameters of attempt `attempt` of the round from host first: each keyword of the
 * pairs (keyword, value, ..., NULL) has that value ("<absent>": not passed). */
#define ASSERT_PARAMS(hosts, first, attempt, ...)                                                  \
    assert_params((hosts), (first), (attempt), (const char *const[]){__VA_ARGS__, NULL})
static void assert_params(db_hosts *hosts, int first, int attempt, const char *const *pairs)
{
    int count = 0;
    db_attempt *round = db_hosts_round(hosts, first, NULL, fake_resolve, NULL, &count);
    assert_non_null(round);
    assert_in_range(attempt, 0, count - 1);
    const char *const *keywords;
    const char *const *values;
    db_hosts_params(hosts, &round[attempt], &keywords, &values);
    for (size_t i = 0; pairs[i] != NULL; i += 2) {
        const char *value = param(keywords, values, pairs[i]);
        if (strcmp(value, pairs[i + 1]) != 0) {
            fail_msg("attempt %d of the round from host %d: %s is \"%s\", expected \"%s\"", attempt,
                     first, pairs[i], value, pairs[i + 1]);
        }
    }
    free(round);
}

static void test_uri_with_two_hosts(void **state)
{
    (void)state;
    db_hosts *hosts = parse_ok("postgresql://app@db1:5432,db2:5433/wasteflow"
                               "?target_session_attrs=read-write&connect_timeout=3");
    ASSERT_LABELS(hosts, "db1:5432", "db2:5433");
    assert_string_equal(db_hosts_label(hosts, 2), "?");
    assert_int_equal(db_hosts_timeout_ms(hosts, 5000), 3000);

    assert_round(hosts, 0, NULL, "0/10.0.0.1/- | 0/10.0.0.2/- | 1/10.0.1.1/-");
    /* After db1 failed, the round starts at db2 and comes back to db1. */
    assert_round(hosts, 1, NULL, "1/10.0.1.1/- | 0/10.0.0.1/- | 0/10.0.0.2/-");
    /* The address that worked last comes first for the host that worked last. */
    assert_round(hosts, 0, "10.0.0.2", "0/10.0.0.2/- | 0/10.0.0.1/- | 1/10.0.1.1/-");
    /* ... and only for that host. */
    assert_round(hosts, 1, "10.0.0.2", "1/10.0.1.1/- | 0/10.0.0.1/- | 0/10.0.0.2/-");
    /* A start out of range is the first host. */
    assert_round(hosts, 7, NULL, "0/10.0.0.1/- | 0/10.0.0.2/- | 1/10.0.1.1/-");

    /* The round from db2 (three attempts, above): its first and last attempts' parameters. */
    ASSERT_PARAMS(hosts, 1, 0, "host", "db2", "hostaddr", "10.0.1.1", "port", "5433", "user", "app",
                  "dbname", "wasteflow", "target_session_attrs", "read-write", "connect_timeout",
                  "3", "password", "<absent>");
    ASSERT_PARAMS(hosts, 1, 2, "host", "db1", "hostaddr", "10.0.0.2", "port", "5432");
    db_hosts_free(hosts);
}

static void test_one_port_for_every_host(void **state)
{
    (void)state;
    db_hosts *hosts = parse_ok("host=db1,db2,db3 port=7000 dbname=x user=u");
    ASSERT_LABELS(hosts, "db1:7000", "db2:7000", "db3:7000");
    assert_int_equal(db_hosts_timeout_ms(hosts, 5000), 5000);
    assert_round(hosts, 2, NULL,
                 "2/fd00::3/- | 2/10.0.3.1/- | 0/10.0.0.1/- | 0/10.0.0.2/- | "
                 "1/10.0.1.1/-");
    assert_int_equal(lookups, 3);
    /* target_session_attrs not given: libpq's default, passed as such. */
    ASSERT_PARAMS(hosts, 0, 4, "port", "7000", "target_session_attrs", "any");
    db_hosts_free(hosts);
}

static void test_lists_that_do_not_match(void **state)
{
    (void)state;
    char error[256];
    assert_null(db_hosts_parse("host=a,b port=1,2,3 dbname=x", error, sizeof error));
    assert_string_equal(error, "could not match 3 port numbers to 2 hosts");
    assert_null(db_hosts_parse("host=a,b hostaddr=10.0.0.1 dbname=x", error, sizeof error));
    assert_string_equal(error, "could not match 2 host names to 1 hostaddr values");
    /* libpq's own parse errors come through, on one line. */
    assert_null(db_hosts_parse("host=a dbname", error, sizeof error));
    assert_string_equal(error, "missing \"=\" after \"dbname\" in connection info string");
    /* PostgreSQL 16's load_balance_hosts: Debian 12's libpq 15 does not know it. */
    assert_null(
        db_hosts_parse("postgresql://db1,db2/x?load_balance_hosts=random", error, sizeof error));
    assert_string_equal(error, "invalid URI query parameter: \"load_balance_hosts\"");
}

static void test_given_addresses_and_sockets_are_not_looked_up(void **state)
{
    (void)state;
    db_hosts *hosts = parse_ok("host=db1,db2 hostaddr=192.0.2.1,192.0.2.2 port=5,6 dbname=x");
    assert_round(hosts, 0, NULL, "0//- | 1//-");
    assert_int_equal(lookups, 0);
    ASSERT_PARAMS(hosts, 0, 1, "host", "db2", "hostaddr", "192.0.2.2", "port", "6");
    db_hosts_free(hosts);

    /* hostaddr alone names the hosts. */
    hosts = parse_ok("hostaddr=192.0.2.7,192.0.2.8 dbname=x");
    ASSERT_LABELS(hosts, "192.0.2.7:5432", "192.0.2.8:5432");
    db_hosts_free(hosts);

    /* A socket directory, an empty element (libpq's default), then a name. */
    hosts = parse_ok("host=/run/postgresql,,db2 dbname=x");
    ASSERT_LABELS(hosts, "/run/postgresql:5432", "local socket:5432", "db2:5432");
    assert_round(hosts, 0, NULL, "0//- | 1//- | 2/10.0.1.1/-");
    assert_int_equal(lookups, 1);
    ASSERT_PARAMS(hosts, 0, 1, "host", "<absent>", "hostaddr", "<absent>");
    db_hosts_free(hosts);
}

static void test_failed_lookup_is_an_attempt_with_its_error(void **state)
{
    (void)state;
    db_hosts *hosts = parse_ok("host=nowhere,db2 dbname=x");
    assert_round(hosts, 0, NULL,
                 "0//- error: could not translate host name \"nowhere\" to address: "
                 "Name unknown | 1/10.0.1.1/-");
    db_hosts_free(hosts);
}

static void test_prefer_standby_makes_two_passes(void **state)
{
    (void)state;
    db_hosts *hosts = parse_ok("host=db2,db1 dbname=x target_session_attrs=prefer-standby");
    assert_round(hosts, 0, NULL,
                 "0/10.0.1.1/standby | 1/10.0.0.1/standby | 1/10.0.0.2/standby | "
                 "0/10.0.1.1/any | 1/10.0.0.1/any | 1/10.0.0.2/any");
    /* Each host is looked up once per round. */
    assert_int_equal(lookups, 2);
    ASSERT_PARAMS(hosts, 0, 3, "target_session_attrs", "any");
    db_hosts_free(hosts);
}

static void test_connect_timeout_as_libpq_means_it(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        int expected_ms;
    } cases[] = {
        {"1", 2000},       {"2", 2000}, {"10", 10000}, {" 7 ", 7000}, {"0", 4321},
        {"-3", 4321},      {"", 4321},  {"abc", 4321}, {"5s", 4321},  {"99999999", 86400000},
        {"3600", 3600000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char conninfo[128];
        snprintf(conninfo, sizeof conninfo, "host=db1 connect_timeout='%s'", cases[i].value);
        db_hosts *hosts = parse_ok(conninfo);
        int got = db_hosts_timeout_ms(hosts, 4321);
        db_hosts_free(hosts);
        if (got != cases[i].expected_ms) {
            fail_msg("connect_timeout '%s': %d ms, expected %d", cases[i].value, got,
                     cases[i].expected_ms);
        }
    }
}

static void test_environment_fills_what_the_conninfo_leaves_out(void **state)
{
    (void)state;
    setenv("PGHOST", "db1,db2", 1);
    setenv("PGPORT", "6000,6001", 1);
    setenv("PGCONNECT_TIMEOUT", "4", 1);
    setenv("PGTARGETSESSIONATTRS", "read-write", 1);
    db_hosts *hosts = parse_ok("dbname=x");
    ASSERT_LABELS(hosts, "db1:6000", "db2:6001");
    assert_int_equal(db_hosts_timeout_ms(hosts, 5000), 4000);
    ASSERT_PARAMS(hosts, 0, 2, "host", "db2", "port", "6001", "target_session_attrs", "read-write");
    db_hosts_free(hosts);
    /* What the conninfo says wins over the environment. */
    hosts = parse_ok("host=db3 port=7 dbname=x");
    ASSERT_LABELS(hosts, "db3:7");
    db_hosts_free(hosts);
    clean_environment(NULL);
}

static void test_getaddrinfo_resolver_on_numeric_hosts(void **state)
{
    (void)state;
    char addresses[DB_ADDRESSES_PER_HOST][DB_ADDRESS_MAX];
    char error[256] = "";
    assert_int_equal(db_resolve_getaddrinfo("127.0.0.1", addresses, DB_ADDRESSES_PER_HOST, error,
                                            sizeof error, NULL),
                     1);
    assert_string_equal(addresses[0], "127.0.0.1");
    assert_int_equal(
        db_resolve_getaddrinfo("::1", addresses, DB_ADDRESSES_PER_HOST, error, sizeof error, NULL),
        1);
    assert_string_equal(addresses[0], "::1");
}

static void test_backoff_jitter(void **state)
{
    (void)state;
    assert_int_equal(db_backoff_jitter(100, 0), 50);
    assert_int_equal(db_backoff_jitter(100, 50), 100);
    assert_int_equal(db_backoff_jitter(100, 51), 50);
    assert_int_equal(db_backoff_jitter(100, 75), 74);
    assert_int_equal(db_backoff_jitter(5000, 7), 2507);
    assert_int_equal(db_backoff_jitter(5000, UINT32_MAX), 2500 + (int)(UINT32_MAX % 2501));
    assert_int_equal(db_backoff_jitter(3, 1), 2);
    assert_int_equal(db_backoff_jitter(1, 12345), 1);
    assert_int_equal(db_backoff_jitter(0, 12345), 0);
}

RUNNER_MAIN(
    NULL, NULL,
    {
        cmocka_unit_test_setup(test_uri_with_two_hosts, clean_environment),
        cmocka_unit_test_setup(test_one_port_for_every_host, clean_environment),
        cmocka_unit_test_setup(test_lists_that_do_not_match, clean_environment),
        cmocka_unit_test_setup(test_given_addresses_and_sockets_are_not_looked_up,
                               clean_environment),
        cmocka_unit_test_setup(test_failed_lookup_is_an_attempt_with_its_error, clean_environment),
        cmocka_unit_test_setup(test_prefer_standby_makes_two_passes, clean_environment),
        cmocka_unit_test_setup(test_connect_timeout_as_libpq_means_it, clean_environment),
        cmocka_unit_test_setup(test_environment_fills_what_the_conninfo_leaves_out,
                               clean_environment),
        cmocka_unit_test_setup(test_getaddrinfo_resolver_on_numeric_hosts, clean_environment),
        cmocka_unit_test(test_backoff_jitter),
    })
