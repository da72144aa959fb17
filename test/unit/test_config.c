/* Unit tests of util/config: defaults, custom values, range and syntax errors for every
 * integer setting (naming the variable), listen address forms, log level, and password
 * redaction of URI and key/value connection strings. The environment is a fake getenv
 * that reads a static table, so the real environment never matters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runner.h"
#include "util/config.h"
#include "util/log.h"

#define MAX_VARS 32

static struct {
    const char *name;
    const char *value;
} fake_env[MAX_VARS];
static int fake_env_count;

static const char *fake_getenv(const char *name)
{
    for (int i = 0; i < fake_env_count; i++) {
        if (strcmp(fake_env[i].name, name) == 0) {
            return fake_env[i].value;
        }
    }
    return NULL;
}

static void env_clear(void)
{
    fake_env_count = 0;
}

/* Sets (or replaces) one variable; value must outlive the test. */
static void env_set(const char *name, const char *value)
{
    for (int i = 0; i < fake_env_count; i++) {
        if (strcmp(fake_env[i].name, name) == 0) {
            fake_env[i].value = value;
            return;
        }
    }
    assert_true(fake_env_count < MAX_VARS);
    fake_env[fake_env_count].name = name;
    fake_env[fake_env_count].value = value;
    fake_env_count++;
}

static int setup(void **state)
{
    (void)state;
    env_clear();
    return 0;
}

static config load_ok(void)
{
    config cfg;
    char error[256] = "";
    int rc = config_load(&cfg, fake_getenv, error, sizeof error);
    if (rc != 0) {
        fail_msg("config_load failed: %s", error);
    }
    return cfg;
}

static void load_fails(const char *expected_error)
{
    config cfg;
    char error[512] = "";
    int rc = config_load(&cfg, fake_getenv, error, sizeof error);
    assert_int_equal(rc, -1);
    assert_string_equal(error, expected_error);
}

/* Every integer setting: its bounds, where it lives in config, its default, and the value
 * test_custom_values sets (NULL: left to its default there). */
static const struct {
    const char *name;
    long min, max;
    size_t offset; /* of the int in config */
    int default_value;
    const char *custom;
} int_settings[] = {
    {"WASTEFLOW_POOL_SIZE", 1, 256, offsetof(config, pool_size), 4, "16"},
    {"WASTEFLOW_QUEUE_MAX", 0, 1000000, offsetof(config, queue_max), 1024, "0"},
    {"WASTEFLOW_REQUEST_TIMEOUT_MS", 100, 600000, offsetof(config, request_timeout_ms), 10000,
     "2500"},
    {"WASTEFLOW_QUERY_TIMEOUT_MS", 100, 600000, offsetof(config, query_timeout_ms), 5000, "2000"},
    {"WASTEFLOW_LOCK_TIMEOUT_MS", 10, 600000, offsetof(config, lock_timeout_ms), 3000, "10"},
    {"WASTEFLOW_IDLE_TIMEOUT_S", 1, 3600, offsetof(config, idle_timeout_s), 30, "3600"},
    {"WASTEFLOW_HEADER_TIMEOUT_MS", 100, 600000, offsetof(config, header_timeout_ms), 10000, "100"},
    {"WASTEFLOW_MAX_CONNECTIONS", 1, 1000000, offsetof(config, max_connections), 1024, "1000000"},
    {"WASTEFLOW_MAX_IDLE_PER_CLIENT", 1, 1000000, offsetof(config, max_idle_per_client), 64, NULL},
    {"WASTEFLOW_RATE_LIMIT", 0, 1000000, offsetof(config, rate_limit), 100, "0"},
    {"WASTEFLOW_WORK_BUDGET", 0, 1000000000, offsetof(config, work_budget), 200000, NULL},
    {"WASTEFLOW_DRAIN_TIMEOUT_MS", 0, 600000, offsetof(config, drain_timeout_ms), 10000, "0"},
    {"WASTEFLOW_DISPATCH_INTERVAL_MS", 10, 60000, offsetof(config, dispatch_interval_ms), 1000,
     "60000"},
    {"WASTEFLOW_JWT_MAX_TTL_S", 1, 31622400, offsetof(config, jwt_max_ttl_s), 86400, NULL},
};

/* Setting i of int_settings as loaded into cfg. */
static int int_setting(const config *cfg, size_t i)
{
    int value;
    memcpy(&value, (const char *)cfg + int_settings[i].offset, sizeof value);
    return value;
}

/* Every integer setting holds its default, or its custom value where custom is set. */
static void assert_int_settings(const config *cfg, bool custom)
{
    for (size_t i = 0; i < sizeof int_settings / sizeof int_settings[0]; i++) {
        int expected = int_settings[i].default_value;
        if (custom && int_settings[i].custom != NULL) {
            expected = atoi(int_settings[i].custom);
        }
        if (int_setting(cfg, i) != expected) {
            fail_msg("%s is %d, not %d", int_settings[i].name, int_setting(cfg, i), expected);
        }
    }
}

#define DEFAULT_DATABASE_URL "postgresql://wasteflow@127.0.0.1:54329/wasteflow"

/* Where the service connects and listens, and how much it logs. */
static void assert_connection(const config *cfg, const char *database_url, const char *listen_host,
                              int listen_port, int level)
{
    assert_string_equal(cfg->database_url, database_url);
    assert_string_equal(cfg->listen_host, listen_host);
    assert_int_equal(cfg->listen_port, listen_port);
    assert_int_equal(cfg->log_level, level);
}

static void test_defaults(void **state)
{
    (void)state;
    config cfg = load_ok();
    assert_connection(&cfg, DEFAULT_DATABASE_URL, "127.0.0.1", 8080, LOG_INFO);
    assert_int_settings(&cfg, false);
    assert_string_equal(cfg.cors_origins, "");
    assert_true(cfg.events_enabled);
    assert_false(cfg.dispatch_min_cost);
}

/* A value of an on/off setting: whether it loads as on, or (refusal not NULL) the refusal
 * it loads as. */
typedef struct {
    const char *value;
    bool on;
    const char *refusal;
} switch_value;

/* Sets the variable name to each value in turn and checks the bool at offset in config. */
static void check_switch(const char *name, size_t offset, const switch_value *values, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        env_set(name, values[i].value);
        if (values[i].refusal != NULL) {
            load_fails(values[i].refusal);
            continue;
        }
        config cfg = load_ok();
        bool on;
        memcpy(&on, (const char *)&cfg + offset, sizeof on);
        if (on != values[i].on) {
            fail_msg("%s=\"%s\" loads as %s", name, values[i].value, on ? "on" : "off");
        }
    }
}

/* The dispatch policy: nearest (default) or min_cost, nothing else. */
static void test_dispatch_policy(void **state)
{
    (void)state;
    static const switch_value values[] = {
        {"min_cost", true, NULL},
        {"nearest", false, NULL},
        {"", false, NULL},
        {"min-cost", false,
         "WASTEFLOW_DISPATCH_POLICY must be nearest or min_cost, got \"min-cost\""},
    };
    check_switch("WASTEFLOW_DISPATCH_POLICY", offsetof(config, dispatch_min_cost), values,
                 sizeof values / sizeof values[0]);
}

/* The live feed can be turned off, and only by on or off. */
static void test_events_switch(void **state)
{
    (void)state;
    static const switch_value values[] = {
        {"off", false, NULL},
        {"on", true, NULL},
        {"no", false, "WASTEFLOW_EVENTS must be on or off, got \"no\""},
    };
    check_switch("WASTEFLOW_EVENTS", offsetof(config, events_enabled), values,
                 sizeof values / sizeof values[0]);
}

/* Webhooks: defaults, the private-target switch (0 or 1 only) and the bounds. */
static void test_webhook_settings(void **state)
{
    (void)state;
    config cfg = load_ok();
    assert_int_equal(cfg.webhook_retry_base_ms, 5000);
    assert_false(cfg.webhook_allow_private);
    assert_int_equal(cfg.webhook_max_in_flight, 1);
    assert_int_equal(cfg.webhook_timeout_ms, 10000);
    env_set("WASTEFLOW_WEBHOOK_ALLOW_PRIVATE", "1");
    env_set("WASTEFLOW_WEBHOOK_RETRY_BASE_MS", "100");
    env_set("WASTEFLOW_WEBHOOK_MAX_IN_FLIGHT", "4");
    cfg = load_ok();
    assert_true(cfg.webhook_allow_private);
    assert_int_equal(cfg.webhook_retry_base_ms, 100);
    assert_int_equal(cfg.webhook_max_in_flight, 4);
    env_set("WASTEFLOW_WEBHOOK_ALLOW_PRIVATE", "yes");
    load_fails("WASTEFLOW_WEBHOOK_ALLOW_PRIVATE must be 0 or 1, got \"yes\"");
    env_set("WASTEFLOW_WEBHOOK_ALLOW_PRIVATE", "0");
    env_set("WASTEFLOW_WEBHOOK_MAX_IN_FLIGHT", "0");
    load_fails("WASTEFLOW_WEBHOOK_MAX_IN_FLIGHT must be an integer from 1 to 64, got \"0\"");
}

/* The cap on exports streaming at once: 2 by default, 0 (none) to 256, nothing else. */
static void test_exports_max(void **state)
{
    (void)state;
    assert_int_equal(load_ok().exports_max, 2);
    env_set("WASTEFLOW_EXPORTS_MAX", "0");
    assert_int_equal(load_ok().exports_max, 0);
    env_set("WASTEFLOW_POOL_SIZE", "256");
    env_set("WASTEFLOW_EXPORTS_MAX", "255");
    assert_int_equal(load_ok().exports_max, 255);
    env_set("WASTEFLOW_EXPORTS_MAX", "257");
    load_fails("WASTEFLOW_EXPORTS_MAX must be an integer from 0 to 256, got \"257\"");
    /* Each export holds a pool connection: as many as the pool, asked for, is refused. */
    env_set("WASTEFLOW_EXPORTS_MAX", "256");
    load_fails("WASTEFLOW_EXPORTS_MAX (256) must be below WASTEFLOW_POOL_SIZE (256): each "
               "export holds one of the pool's connections while it streams");
    env_set("WASTEFLOW_POOL_SIZE", "4");
    env_set("WASTEFLOW_EXPORTS_MAX", "4");
    load_fails("WASTEFLOW_EXPORTS_MAX (4) must be below WASTEFLOW_POOL_SIZE (4): each "
               "export holds one of the pool's connections while it streams");
    env_set("WASTEFLOW_EXPORTS_MAX", "3");
    assert_int_equal(load_ok().exports_max, 3);
    /* Unset, the default gives way to a small pool. */
    const struct {
        const char *pool;
        int exports;
    } small[] = {{"1", 1}, {"2", 1}, {"3", 2}, {"16", 2}};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        env_clear();
        env_set("WASTEFLOW_POOL_SIZE", small[i].pool);
        assert_int_equal(load_ok().exports_max, small[i].exports);
    }
}

static void test_empty_values_mean_default(void **state)
{
    (void)state;
    env_set("DATABASE_URL", "");
    env_set("WASTEFLOW_LISTEN", "");
    env_set("WASTEFLOW_POOL_SIZE", "");
    env_set("WASTEFLOW_LOG_LEVEL", "");
    config cfg = load_ok();
    assert_connection(&cfg, DEFAULT_DATABASE_URL, "127.0.0.1", 8080, LOG_INFO);
    assert_int_equal(cfg.pool_size, 4);
}

static void test_custom_values(void **state)
{
    (void)state;
    env_set("DATABASE_URL", "host=db.internal port=5432 dbname=waste user=svc");
    env_set("WASTEFLOW_LISTEN", "0.0.0.0:80");
    for (size_t i = 0; i < sizeof int_settings / sizeof int_settings[0]; i++) {
        if (int_settings[i].custom != NULL) {
            env_set(int_settings[i].name, int_settings[i].custom);
        }
    }
    env_set("WASTEFLOW_CORS_ORIGINS", "https://a.example,https://b.example");
    env_set("WASTEFLOW_LOG_LEVEL", "debug");
    config cfg = load_ok();
    assert_connection(&cfg, "host=db.internal port=5432 dbname=waste user=svc", "0.0.0.0", 80,
                      LOG_DEBUG);
    assert_int_settings(&cfg, true);
    assert_string_equal(cfg.cors_origins, "https://a.example,https://b.example");
}

static void test_integer_bounds_accepted(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof int_settings / sizeof int_settings[0]; i++) {
        long bounds[2] = {int_settings[i].min, int_settings[i].max};
        for (int b = 0; b < 2; b++) {
            char value[32];
            snprintf(value, sizeof value, "%ld", bounds[b]);
            env_clear();
            env_set(int_settings[i].name, value);
            config cfg = load_ok();
            int got = int_setting(&cfg, i);
            if (got != bounds[b]) {
                fail_msg("%s=%s loaded as %d", int_settings[i].name, value, got);
            }
        }
    }
}

static void test_integer_errors_name_the_variable(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof int_settings / sizeof int_settings[0]; i++) {
        char below[32], above[32];
        snprintf(below, sizeof below, "%ld", int_settings[i].min - 1);
        snprintf(above, sizeof above, "%ld", int_settings[i].max + 1);
        const char *bad[] = {
            "abc",
            "12abc",
            "1.5",
            "1e3",
            "0x10",
            "--5",
            "-",
            "5 ",
            "99999999999999999999",
            "-99999999999999999999",
            "2147483648",
            below,
            above,
        };
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            env_clear();
            env_set(int_settings[i].name, bad[k]);
            char expected[256];
            snprintf(expected, sizeof expected, "%s must be an integer from %ld to %ld, got \"%s\"",
                     int_settings[i].name, int_settings[i].min, int_settings[i].max, bad[k]);
            load_fails(expected);
        }
    }
}

/* JWT on (a secret, a public key file, or both) needs an issuer and an audience: a token
 * minted for another service must never pass for want of a setting. */
static void test_jwt_needs_issuer_and_audience(void **state)
{
    (void)state;
    const char *expected =
        "JWT is enabled (WASTEFLOW_JWT_SECRET or WASTEFLOW_JWT_PUBLIC_KEY_FILE is set): "
        "WASTEFLOW_JWT_ISSUER and WASTEFLOW_JWT_AUDIENCE must both be set too";
    const char *enablers[][2] = {
        {"WASTEFLOW_JWT_SECRET", "0123456789abcdef0123456789abcdef"},
        {"WASTEFLOW_JWT_PUBLIC_KEY_FILE", "/etc/wasteflow/idp.pem"},
    };
    for (size_t i = 0; i < 2; i++) {
        env_clear();
        env_set(enablers[i][0], enablers[i][1]);
        load_fails(expected);
        env_set("WASTEFLOW_JWT_ISSUER", "https://idp.example");
        load_fails(expected);
        env_set("WASTEFLOW_JWT_ISSUER", "");
        env_set("WASTEFLOW_JWT_AUDIENCE", "wasteflow");
        load_fails(expected);
        env_set("WASTEFLOW_JWT_ISSUER", "https://idp.example");
        config cfg = load_ok();
        assert_string_equal(cfg.jwt_issuer, "https://idp.example");
        assert_string_equal(cfg.jwt_audience, "wasteflow");
    }
    /* JWT off: neither is needed. */
    env_clear();
    env_set("WASTEFLOW_JWT_SECRET", "");
    config cfg = load_ok();
    assert_string_equal(cfg.jwt_issuer, "");
}

static void test_listen_forms(void **state)
{
    (void)state;
    struct {
        const char *value;
        const char *host;
        int port;
    } good[] = {
        {"0.0.0.0:80", "0.0.0.0", 80},   {"127.0.0.1:8080", "127.0.0.1", 8080},
        {"[::1]:8080", "::1", 8080},     {"[::]:443", "::", 443},
        {"localhost:0", "localhost", 0}, {"example.org:65535", "example.org", 65535},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        env_set("WASTEFLOW_LISTEN", good[i].value);
        config cfg = load_ok();
        assert_string_equal(cfg.listen_host, good[i].host);
        assert_int_equal(cfg.listen_port, good[i].port);
    }

    /* Refused: values without a host, then values with a bad port, each with its rule. */
    static const char *const refused[][8] = {
        {":80", "host", "127.0.0.1", ":"},
        {"host:70000", "host:65536", "host:", "host:-1", "host:80x", "host:http", "[::1]",
         "host:99999999999999999999"},
    };
    static const char *const rules[] = {"must be host:port", "port must be 0-65535"};
    for (size_t r = 0; r < 2; r++) {
        for (size_t i = 0; i < 8 && refused[r][i] != NULL; i++) {
            env_set("WASTEFLOW_LISTEN", refused[r][i]);
            char expected[256];
            snprintf(expected, sizeof expected, "WASTEFLOW_LISTEN %s, got \"%s\"", rules[r],
                     refused[r][i]);
            load_fails(expected);
        }
    }

    /* The host must fit listen_host (255 characters). */
    static char long_listen[300];
    memset(long_listen, 'h', 255);
    strcpy(long_listen + 255, ":80");
    env_set("WASTEFLOW_LISTEN", long_listen);
    config cfg = load_ok();
    assert_int_equal(strlen(cfg.listen_host), 255);
    assert_int_equal(cfg.listen_port, 80);
    memset(long_listen, 'h', 256);
    strcpy(long_listen + 256, ":80");
    char expected[400];
    snprintf(expected, sizeof expected, "WASTEFLOW_LISTEN must be host:port, got \"%s\"",
             long_listen);
    load_fails(expected);
}

static void test_log_level(void **state)
{
    (void)state;
    const char *names[] = {"debug", "info", "warn", "error"};
    const int levels[] = {LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(log_level_parse(names[i]), levels[i]);
        env_set("WASTEFLOW_LOG_LEVEL", names[i]);
        config cfg = load_ok();
        assert_int_equal(cfg.log_level, levels[i]);
    }
    const char *bad[] = {"INFO", "Debug", "warning", "trace", "fatal", "1", "info ", "err"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(log_level_parse(bad[i]), -1);
        env_set("WASTEFLOW_LOG_LEVEL", bad[i]);
        load_fails("WASTEFLOW_LOG_LEVEL must be debug, info, warn or error");
    }
}

/* The output budget's bounds and default, and the trusted proxies' CIDRs: a bad one
 * refuses the start, naming the variable and the entry. */
static void test_output_budget_and_trusted_proxies(void **state)
{
    (void)state;
    config cfg = load_ok();
    assert_int_equal(cfg.output_budget_mb, 64);
    assert_string_equal(cfg.trusted_proxies, "");
    env_set("WASTEFLOW_OUTPUT_BUDGET_MB", "1");
    env_set("WASTEFLOW_TRUSTED_PROXIES", "10.0.0.0/8, 2001:db8::/32,127.0.0.1");
    cfg = load_ok();
    assert_int_equal(cfg.output_budget_mb, 1);
    assert_string_equal(cfg.trusted_proxies, "10.0.0.0/8, 2001:db8::/32,127.0.0.1");
    env_set("WASTEFLOW_OUTPUT_BUDGET_MB", "0");
    load_fails("WASTEFLOW_OUTPUT_BUDGET_MB must be an integer from 1 to 1048576, got \"0\"");
    env_set("WASTEFLOW_OUTPUT_BUDGET_MB", "64");
    env_set("WASTEFLOW_TRUSTED_PROXIES", "10.0.0.0/8, proxy.local");
    load_fails("WASTEFLOW_TRUSTED_PROXIES: \"proxy.local\" is not an IPv4 or IPv6 address or "
               "CIDR (address/prefix)");
    env_set("WASTEFLOW_TRUSTED_PROXIES", "10.0.0.0/33");
    load_fails("WASTEFLOW_TRUSTED_PROXIES: \"10.0.0.0/33\" is not an IPv4 or IPv6 address or "
               "CIDR (address/prefix)");
}

static void test_string_length_limits(void **state)
{
    (void)state;
    static char url[1100];
    memset(url, 'u', 1023);
    url[1023] = '\0';
    env_set("DATABASE_URL", url);
    config cfg = load_ok();
    assert_int_equal(strlen(cfg.database_url), 1023);
    url[1023] = 'u';
    url[1024] = '\0';
    load_fails("DATABASE_URL is longer than 1023 characters");

    env_clear();
    static char origins[1100];
    memset(origins, 'o', 1023);
    origins[1023] = '\0';
    env_set("WASTEFLOW_CORS_ORIGINS", origins);
    cfg = load_ok();
    assert_int_equal(strlen(cfg.cors_origins), 1023);
    origins[1023] = 'o';
    origins[1024] = '\0';
    load_fails("WASTEFLOW_CORS_ORIGINS is longer than 1023 characters");
}

static void test_error_buffer_is_bounded(void **state)
{
    (void)state;
    env_set("WASTEFLOW_POOL_SIZE", "0");
    config cfg;
    char error[12];
    memset(error, 'x', sizeof error);
    assert_int_equal(config_load(&cfg, fake_getenv, error, sizeof error), -1);
    assert_string_equal(error, "WASTEFLOW_P");
}

static void redact(const char *url, const char *expected)
{
    char out[512];
    memset(out, 'x', sizeof out);
    config_redact_url(url, out, sizeof out);
    if (strcmp(out, expected) != 0) {
        fail_msg("redact(\"%s\"): expected \"%s\", got \"%s\"", url, expected, out);
    }
}

static void test_redact_uri(void **state)
{
    (void)state;
    redact("postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db");
    redact("postgresql://u@h/db", "postgresql://u@h/db");
    redact("postgresql://h/db", "postgresql://h/db");
    redact("postgresql://wasteflow@127.0.0.1:54329/wasteflow",
           "postgresql://wasteflow@127.0.0.1:54329/wasteflow");
    redact("postgres://u:secret@h", "postgres://u:***@h");
    redact("postgresql://:secret@h/db", "postgresql://:***@h/db");
    redact("postgresql://u:se@cret@h/db", "postgresql://u:***@h/db");
    redact("postgresql://u:p%40ss@h1:5432,h2:5433/db?application_name=x",
           "postgresql://u:***@h1:5432,h2:5433/db?application_name=x");
    redact("postgresql://h/db?password=secret", "postgresql://h/db?password=***");
    redact("postgresql://h/db?sslmode=require&password=secret&user=u",
           "postgresql://h/db?sslmode=require&password=***&user=u");
    redact("postgresql://u:secret@h/db?password=other", "postgresql://u:***@h/db?password=***");
    /* An '@' after the authority (in the query) is not userinfo. */
    redact("postgresql://h/db?user=a:b@c", "postgresql://h/db?user=a:b@c");
    redact("", "");
    /* '#' and '?' in a password: libpq reads the userinfo up to the '@'. */
    redact("postgresql://u:pa#ss@h/db", "postgresql://u:***@h/db");
    redact("postgresql://u:pa?ss=1@h:5432/db", "postgresql://u:***@h:5432/db");
    redact("postgresql://u:a#b?c@h1,h2/db?sslmode=require",
           "postgresql://u:***@h1,h2/db?sslmode=require");
    /* The key's passphrase is a secret too. */
    redact("postgresql://h/db?sslpassword=k3y&sslmode=verify-full",
           "postgresql://h/db?sslpassword=***&sslmode=verify-full");
}

static void test_redact_key_value(void **state)
{
    (void)state;
    redact("host=h password=secret user=u", "host=h password=*** user=u");
    redact("password=secret", "password=***");
    redact("password=secret host=h", "password=*** host=h");
    redact("password='se cret' x=1", "password=*** x=1");
    redact("password = secret host=h", "password=*** host=h");
    redact("password='it\\'s' host=h", "password=*** host=h");
    redact("password='unterminated", "password=***");
    /* As libpq reads it: the value is the next word, "host=h". */
    redact("password= host=h", "password=***");
    redact("host=h password=a password=b", "host=h password=*** password=***");
    /* Not a password key: a value that says password, a longer key, another key. */
    redact("dbname=password host=h", "dbname=password host=h");
    redact("user=u mypassword=x", "user=u mypassword=x");
    redact("host=h passfile=/p user=u", "host=h passfile=/p user=u");
    redact("host=h sslpassword='pass phrase' user=u", "host=h sslpassword=*** user=u");
    redact("sslpassword=k3y password=s3cret", "sslpassword=*** password=***");
}

/* Passwords made of the characters that end URI parts (# ? @ /), percent-escapes, and
 * key/value values quoted or not: masked whole, and never found in what is printed. */
static void test_redact_special_characters(void **state)
{
    (void)state;
    redact("postgresql://u:pa%2Fss@h/db", "postgresql://u:***@h/db");
    redact("postgresql://u:%23%3F%40%2F%25@h:5432/db", "postgresql://u:***@h:5432/db");
    redact("postgresql://u:Se#cr?et%40x@/db?host=/run/pg&port=5432",
           "postgresql://u:***@/db?host=/run/pg&port=5432");
    /* A raw '/' ends libpq's userinfo, so libpq sees no password here; what the writer
     * meant as one is masked all the same. */
    redact("postgresql://u:pa/ss@h/db", "postgresql://u:***@h/db");
    redact("postgresql://u:a/b/c@h:5432/db?sslmode=require",
           "postgresql://u:***@h:5432/db?sslmode=require");
    redact("postgresql://h/db?password=p%26s%3Ds", "postgresql://h/db?password=***");
    redact("postgresql://h/db?password=a#b?c/d@e&user=u", "postgresql://h/db?password=***&user=u");
    redact("host=h password='a#b?c@d/e %41' user=u", "host=h password=*** user=u");
    redact("host=h password=a#b?c@d/e user=u", "host=h password=*** user=u");
    redact("host=h sslpassword='k#y?@/ x' password='p w'", "host=h sslpassword=*** password=***");
    const struct {
        const char *url;
        const char *secrets[3];
    } cases[] = {
        {"postgresql://u:Zq#9?x@h/db", {"Zq#9", "9?x"}},
        {"postgresql://u:Zq%2F9%3Fx@h/db", {"Zq%2F9", "Zq/9", "9%3Fx"}},
        {"postgresql://u:Zq/9x@h/db", {"Zq/9x", "Zq"}},
        {"postgresql://h/db?sslpassword=Zq%239&password=Wk%3F7", {"Zq%239", "Wk%3F7", "Zq#9"}},
        {"dbname=d password='Zq#9 ?@/x' sslpassword=Wk#7@/", {"Zq#9", "?@/x", "Wk#7"}},
        {"password = 'Zq\\'9' host=h", {"Zq", "'9'"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[512];
        config_redact_url(cases[i].url, out, sizeof out);
        for (size_t k = 0; k < 3 && cases[i].secrets[k] != NULL; k++) {
            if (strstr(out, cases[i].secrets[k]) != NULL) {
                fail_msg("redact(\"%s\") = \"%s\" shows \"%s\"", cases[i].url, out,
                         cases[i].secrets[k]);
            }
        }
    }
}

static void test_redact_short_buffers(void **state)
{
    (void)state;
    const char *urls[] = {
        "postgresql://user:S3CR3T@host:5432/db",
        "host=h password=S3CR3T user=u",
        "password='S3 CR3T' host=h",
        "postgresql://h/db?password=S3CR3T",
    };
    for (size_t u = 0; u < sizeof urls / sizeof urls[0]; u++) {
        for (size_t size = 1; size <= 64; size++) {
            char *out = malloc(size); /* exact size: ASan catches any overflow */
            assert_non_null(out);
            config_redact_url(urls[u], out, size);
            assert_true(strlen(out) < size);
            if (strstr(out, "S3") != NULL || strstr(out, "CR3T") != NULL) {
                fail_msg("size %zu leaks the password: \"%s\"", size, out);
            }
            free(out);
        }
    }
    char untouched = 'x';
    config_redact_url("password=S3CR3T", &untouched, 0);
    assert_int_equal(untouched, 'x');

    char out[20];
    config_redact_url("postgresql://u:secret@h/db", out, sizeof out);
    assert_string_equal(out, "postgresql://u:***@");
}

/* Regression (found by this suite, fixed in 712cbac): libpq allows any whitespace around
 * '=' and between pairs of a key/value conninfo; only spaces used to be understood, so
 * "password\t=secret" was printed in clear. */
static void test_redact_other_whitespace(void **state)
{
    (void)state;
    redact("host=h password\t=secret", "host=h password=***");
    redact("host=h password=\tsecret", "host=h password=***");
    redact("password\n=\nsecret\nuser=u", "password=***\nuser=u");
    redact("password=secret\tuser=u", "password=***\tuser=u");
    redact("password=secret\r\nuser=u", "password=***\r\nuser=u");
}

static void test_print_help(void **state)
{
    (void)state;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    config_print_help(out);
    fclose(out);
    assert_non_null(strstr(text, "Environment:\n"));
    assert_non_null(strstr(text, "  WASTEFLOW_POOL_SIZE "));
    assert_non_null(strstr(text, "(default: 4)\n"));
    assert_non_null(strstr(text, "(default: 127.0.0.1:8080)\n"));
    assert_non_null(strstr(text, "(default: empty)\n"));
    const char *names[] = {"DATABASE_URL",
                           "WASTEFLOW_LISTEN",
                           "WASTEFLOW_POOL_SIZE",
                           "WASTEFLOW_QUEUE_MAX",
                           "WASTEFLOW_REQUEST_TIMEOUT_MS",
                           "WASTEFLOW_QUERY_TIMEOUT_MS",
                           "WASTEFLOW_LOCK_TIMEOUT_MS",
                           "WASTEFLOW_IDLE_TIMEOUT_S",
                           "WASTEFLOW_HEADER_TIMEOUT_MS",
                           "WASTEFLOW_MAX_CONNECTIONS",
                           "WASTEFLOW_MAX_IDLE_PER_CLIENT",
                           "WASTEFLOW_RATE_LIMIT",
                           "WASTEFLOW_DISPATCH_POLICY",
                           "WASTEFLOW_WORK_BUDGET",
                           "WASTEFLOW_DRAIN_TIMEOUT_MS",
                           "WASTEFLOW_DISPATCH_INTERVAL_MS",
                           "WASTEFLOW_CORS_ORIGINS",
                           "WASTEFLOW_LOG_LEVEL",
                           "WASTEFLOW_JWT_ISSUER",
                           "WASTEFLOW_JWT_AUDIENCE",
                           "WASTEFLOW_JWT_MAX_TTL_S"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "\n  %s ", names[i]);
        if (strstr(text, line) == NULL) {
            fail_msg("help does not list %s", names[i]);
        }
    }
    assert_non_null(strstr(text, "required when a JWT secret or key is set"));
    assert_non_null(strstr(text, "(default: 86400)\n"));
    free(text);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test_setup(test_defaults, setup),
                cmocka_unit_test_setup(test_events_switch, setup),
                cmocka_unit_test_setup(test_webhook_settings, setup),
                cmocka_unit_test_setup(test_dispatch_policy, setup),
                cmocka_unit_test_setup(test_exports_max, setup),
                cmocka_unit_test_setup(test_empty_values_mean_default, setup),
                cmocka_unit_test_setup(test_custom_values, setup),
                cmocka_unit_test_setup(test_integer_bounds_accepted, setup),
                cmocka_unit_test_setup(test_integer_errors_name_the_variable, setup),
                cmocka_unit_test_setup(test_jwt_needs_issuer_and_audience, setup),
                cmocka_unit_test_setup(test_listen_forms, setup),
                cmocka_unit_test_setup(test_log_level, setup),
                cmocka_unit_test_setup(test_output_budget_and_trusted_proxies, setup),
                cmocka_unit_test_setup(test_string_length_limits, setup),
                cmocka_unit_test_setup(test_error_buffer_is_bounded, setup),
                cmocka_unit_test_setup(test_redact_uri, setup),
                cmocka_unit_test_setup(test_redact_key_value, setup),
                cmocka_unit_test_setup(test_redact_special_characters, setup),
                cmocka_unit_test_setup(test_redact_short_buffers, setup),
                cmocka_unit_test_setup(test_redact_other_whitespace, setup),
                cmocka_unit_test_setup(test_print_help, setup),
            })
