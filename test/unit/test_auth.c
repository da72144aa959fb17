/* Unit tests of auth/principal (role names both ways, the scope rule) and auth/api_key
 * (format and strict parse, known SHA-256 digests, a table of malformed tokens, random
 * secrets, constant-time comparison).
 *
 * Every presented token is copied into a heap buffer of exactly its size, terminator
 * included, so ASan reports any read past the NUL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/api_key.h"
#include "auth/principal.h"
#include "auth/token_cache.h"
#include "runner.h"

/* The bytes 00 01 .. 1f, and 32 bytes of ff. Their SHA-256 digests were computed apart
 * from this code: printf %s <hex> | xxd -r -p | sha256sum. */
#define SECRET_SEQ  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define SECRET_FF   "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define SHA_SEQ_HEX "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"
#define SHA_FF_HEX  "af9613760f72635fbdb44a5a0a63c39f12af30f950a6ee5c971be188e89c4051"

static void hex_to_bytes(const char *hex, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned int byte = 0;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &byte), 1);
        out[i] = (uint8_t)byte;
    }
}

/* Parses len bytes (a NUL must be among them) from an exact-size heap copy. */
static int parse_bytes(const char *bytes, size_t len, int64_t *id, uint8_t *hash)
{
    char *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, bytes, len);
    int rc = api_key_parse(copy, id, hash);
    free(copy);
    return rc;
}

static int parse_text(const char *token, int64_t *id, uint8_t *hash)
{
    return parse_bytes(token, strlen(token) + 1, id, hash);
}

/* ---- principal ---- */

static void test_role_names_both_ways(void **state)
{
    (void)state;
    const struct {
        auth_role role;
        const char *name;
        int value;
    } roles[] = {
        {ROLE_ADMIN, "admin", 1},      {ROLE_AUDITOR, "auditor", 2},
        {ROLE_MONITOR, "monitor", 4},  {ROLE_ORGANIZATION, "organization", 8},
        {ROLE_STORAGE, "storage", 16},
    };
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        assert_int_equal(roles[i].role, roles[i].value);
        assert_int_equal(auth_role_parse(roles[i].name), roles[i].role);
        assert_non_null(auth_role_name(roles[i].role));
        assert_string_equal(auth_role_name(roles[i].role), roles[i].name);
    }
}

static void test_role_parse_unknown(void **state)
{
    (void)state;
    const char *unknown[] = {"",
                             "Admin",
                             "ADMIN",
                             "admin ",
                             " admin",
                             "admins",
                             "adm",
                             "root",
                             "owner",
                             "organisation",
                             "storage\n",
                             "auditor\t",
                             "monitor\x01",
                             "admin,auditor",
                             "1",
                             "\303\241dmin" /* \u00e1dmin */};
    assert_int_equal(auth_role_parse(NULL), 0);
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        if (auth_role_parse(unknown[i]) != 0) {
            fail_msg("\"%s\" parsed as role %d", unknown[i], auth_role_parse(unknown[i]));
        }
    }
}

static void test_role_name_unknown(void **state)
{
    (void)state;
    const int values[] = {0, 3, 5, 6, 7, 15, 17, 31, 32, -1, 1 << 30};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        assert_null(auth_role_name((auth_role)values[i]));
    }
}

static void test_scope_rules(void **state)
{
    (void)state;
    const struct {
        int role;
        int64_t organization_id, storage_id;
        const char *problem; /* NULL: consistent */
    } cases[] = {
        {ROLE_ORGANIZATION, 1, 0, NULL},
        {ROLE_ORGANIZATION, INT64_MAX, 0, NULL},
        {ROLE_ORGANIZATION, 0, 0, "the organization role needs a positive organization_id"},
        {ROLE_ORGANIZATION, -5, 0, "the organization role needs a positive organization_id"},
        {ROLE_ORGANIZATION, INT64_MIN, 0, "the organization role needs a positive organization_id"},
        {ROLE_ORGANIZATION, 0, 3, "the organization role needs a positive organization_id"},
        {ROLE_ORGANIZATION, 2, 3, "the organization role takes no storage_id"},
        {ROLE_ORGANIZATION, 2, -3, "the organization role takes no storage_id"},
        {ROLE_STORAGE, 0, 1, NULL},
        {ROLE_STORAGE, 0, INT64_MAX, NULL},
        {ROLE_STORAGE, 0, 0, "the storage role needs a positive storage_id"},
        {ROLE_STORAGE, 0, -1, "the storage role needs a positive storage_id"},
        {ROLE_STORAGE, 4, 0, "the storage role needs a positive storage_id"},
        {ROLE_STORAGE, 4, 9, "the storage role takes no organization_id"},
        {ROLE_STORAGE, -4, 9, "the storage role takes no organization_id"},
        {ROLE_ADMIN, 0, 0, NULL},
        {ROLE_AUDITOR, 0, 0, NULL},
        {ROLE_MONITOR, 0, 0, NULL},
        {ROLE_ADMIN, 1, 0, "this role takes no organization_id"},
        {ROLE_ADMIN, 0, 1, "this role takes no storage_id"},
        {ROLE_ADMIN, -1, 0, "this role takes no organization_id"},
        {ROLE_AUDITOR, 7, 0, "this role takes no organization_id"},
        {ROLE_AUDITOR, 0, 7, "this role takes no storage_id"},
        {ROLE_MONITOR, 7, 7, "this role takes no organization_id"},
        {ROLE_MONITOR, 0, -7, "this role takes no storage_id"},
        {0, 0, 0, "unknown role"},
        {3, 0, 0, "unknown role"},
        {32, 1, 0, "unknown role"},
        {-1, 0, 1, "unknown role"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *problem = auth_scope_problem((auth_role)cases[i].role, cases[i].organization_id,
                                                 cases[i].storage_id);
        if (cases[i].problem == NULL && problem != NULL) {
            fail_msg("case %zu: expected no problem, got \"%s\"", i, problem);
        }
        if (cases[i].problem != NULL) {
            if (problem == NULL) {
                fail_msg("case %zu: expected \"%s\", got none", i, cases[i].problem);
            }
            assert_string_equal(problem, cases[i].problem);
        }
    }
}

/* ---- api key ---- */

static void test_known_digests(void **state)
{
    (void)state;
    const struct {
        const char *token;
        int64_t id;
        const char *sha_hex;
    } cases[] = {
        {"wf_1_" SECRET_SEQ, 1, SHA_SEQ_HEX},
        {"wf_7_" SECRET_FF, 7, SHA_FF_HEX},
        {"wf_9223372036854775807_" SECRET_SEQ, INT64_MAX, SHA_SEQ_HEX},
        {"wf_1234567890_" SECRET_FF, 1234567890, SHA_FF_HEX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t id = 0;
        uint8_t hash[API_KEY_HASH_BYTES];
        uint8_t expected[API_KEY_HASH_BYTES];
        hex_to_bytes(cases[i].sha_hex, expected, sizeof expected);
        assert_int_equal(parse_text(cases[i].token, &id, hash), 0);
        assert_int_equal(id, cases[i].id);
        assert_memory_equal(hash, expected, sizeof expected);
    }
}

static void test_format_parse_round_trip(void **state)
{
    (void)state;
    const struct {
        int64_t id;
        const char *secret;
        const char *token;
        const char *sha_hex;
    } cases[] = {
        {1, SECRET_SEQ, "wf_1_" SECRET_SEQ, SHA_SEQ_HEX},
        {42, SECRET_FF, "wf_42_" SECRET_FF, SHA_FF_HEX},
        {1000000, SECRET_SEQ, "wf_1000000_" SECRET_SEQ, SHA_SEQ_HEX},
        {INT64_MAX, SECRET_FF, "wf_9223372036854775807_" SECRET_FF, SHA_FF_HEX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char token[API_KEY_TOKEN_MAX];
        assert_int_equal(api_key_format(cases[i].id, cases[i].secret, token, sizeof token), 0);
        assert_string_equal(token, cases[i].token);
        int64_t id = 0;
        uint8_t hash[API_KEY_HASH_BYTES];
        uint8_t expected[API_KEY_HASH_BYTES];
        hex_to_bytes(cases[i].sha_hex, expected, sizeof expected);
        assert_int_equal(parse_text(token, &id, hash), 0);
        assert_int_equal(id, cases[i].id);
        assert_memory_equal(hash, expected, sizeof expected);
    }
    /* The longest token is 88 bytes with its terminator; API_KEY_TOKEN_MAX holds it. */
    assert_int_equal(strlen("wf_9223372036854775807_" SECRET_FF) + 1, 88);
    assert_true(88 <= API_KEY_TOKEN_MAX);
}

/* Token formats refused: id, secret, buffer size. */
static const struct {
    int64_t id;
    const char *secret;
    size_t out_size;
} format_rejects[] = {
    {0, SECRET_SEQ, API_KEY_TOKEN_MAX},
    {-1, SECRET_SEQ, API_KEY_TOKEN_MAX},
    {INT64_MIN, SECRET_SEQ, API_KEY_TOKEN_MAX},
    {1, NULL, API_KEY_TOKEN_MAX},
    {1, "", API_KEY_TOKEN_MAX},
    {1, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1", API_KEY_TOKEN_MAX},
    {1, SECRET_SEQ "0", API_KEY_TOKEN_MAX},
    {1, "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", API_KEY_TOKEN_MAX},
    {1, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g", API_KEY_TOKEN_MAX},
    {1, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e 1", API_KEY_TOKEN_MAX},
    /* "wf_1_" + 64 + NUL = 70 bytes */
    {1, SECRET_SEQ, 69},
    {1, SECRET_SEQ, 1},
    {1, SECRET_SEQ, 0},
};

static void test_format_rejects(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof format_rejects / sizeof format_rejects[0]; i++) {
        char out[API_KEY_TOKEN_MAX];
        memset(out, 'x', sizeof out);
        if (api_key_format(format_rejects[i].id, format_rejects[i].secret, out,
                           format_rejects[i].out_size) != -1) {
            fail_msg("case %zu was formatted: %.96s", i, out);
        }
        for (size_t k = 0; k < sizeof out; k++) {
            assert_int_equal(out[k], 'x'); /* untouched */
        }
    }
    char exact[70];
    assert_int_equal(api_key_format(1, SECRET_SEQ, exact, sizeof exact), 0);
    assert_string_equal(exact, "wf_1_" SECRET_SEQ);
}

static void test_parse_rejects_malformed(void **state)
{
    (void)state;
    /* A secret of 63 hex digits followed by a NUL and the 64th: a parser reading past the
     * terminator would see a well-formed token. */
    static const char nul_then_digit[] = "wf_1_"
                                         "000102030405060708090a0b0c0d0e0f"
                                         "101112131415161718191a1b1c1d1e1\0f";
    static const char nul_mid_secret[] = "wf_1_"
                                         "000102030405060708090a0b0c0d0e0f\0"
                                         "101112131415161718191a1b1c1d1e1f";
    static const char nul_after_prefix[] = "wf_\0"
                                           "1_" SECRET_SEQ;
    const struct {
        const char *bytes;
        size_t len; /* 0: strlen + 1 */
    } cases[] = {
        {"", 0},
        {"w", 0},
        {"wf", 0},
        {"wf_", 0},
        {"wf_1", 0},
        {"wf_1_", 0},
        {"wf__" SECRET_SEQ, 0},
        {"wf_0_" SECRET_SEQ, 0},
        {"wf_01_" SECRET_SEQ, 0},
        {"wf_007_" SECRET_SEQ, 0},
        {"wf_-1_" SECRET_SEQ, 0},
        {"wf_+1_" SECRET_SEQ, 0},
        {"wf_ 1_" SECRET_SEQ, 0},
        {"wf_1 _" SECRET_SEQ, 0},
        {"wf_9223372036854775808_" SECRET_SEQ, 0},  /* INT64_MAX + 1 */
        {"wf_9999999999999999999_" SECRET_SEQ, 0},  /* 19 digits, too big */
        {"wf_10000000000000000000_" SECRET_SEQ, 0}, /* 20 digits */
        {"wf_12345678901234567890123_" SECRET_SEQ, 0},
        {"wf_1_000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", 0},
        {"wf_1_000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1F", 0},
        {"wf_1_A00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 0},
        {"wf_1_000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1", 0}, /* 63 */
        {"wf_1_" SECRET_SEQ "0", 0},                                                 /* 65 */
        {"wf_1_" SECRET_SEQ SECRET_SEQ, 0},
        {"wf_1_000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g", 0},
        {"wf_1_000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1-", 0},
        {"wf_1_" SECRET_SEQ " ", 0},
        {"wf_1_" SECRET_SEQ "\n", 0},
        {"wf_1_" SECRET_SEQ "\r\n", 0},
        {"wf_1_" SECRET_SEQ "_", 0},
        {" wf_1_" SECRET_SEQ, 0},
        {"Bearer wf_1_" SECRET_SEQ, 0},
        {"WF_1_" SECRET_SEQ, 0},
        {"Wf_1_" SECRET_SEQ, 0},
        {"wf-1_" SECRET_SEQ, 0},
        {"wf_1-" SECRET_SEQ, 0},
        {"wf1_" SECRET_SEQ, 0}, /* missing underscore after wf */
        {"wf_1" SECRET_SEQ, 0}, /* missing underscore before the secret */
        {"wf_1__" SECRET_SEQ, 0},
        {"wf_1_" SECRET_SEQ "wf_1_" SECRET_SEQ, 0},
        {"wf_\xef\xbc\x91_" SECRET_SEQ, 0}, /* fullwidth digit one */
        {"wf_1_\xc3\xa9"
         "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
         0},
        {"wf_1_000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e\x80\x80", 0},
        {"wf_1_\xff\xff"
         "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
         0},
        {"wf_1_" SECRET_SEQ "\xff", 0},
        {"\xffwf_1_" SECRET_SEQ, 0},
        {nul_then_digit, sizeof nul_then_digit},
        {nul_mid_secret, sizeof nul_mid_secret},
        {nul_after_prefix, sizeof nul_after_prefix},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t id = -99;
        uint8_t hash[API_KEY_HASH_BYTES];
        memset(hash, 0xa5, sizeof hash);
        size_t len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].bytes) + 1;
        int rc = parse_bytes(cases[i].bytes, len, &id, hash);
        if (rc != -1) {
            fail_msg("case %zu (\"%s\") gave %d, id %lld", i, cases[i].bytes, rc, (long long)id);
        }
        assert_int_equal(id, -99); /* outputs untouched */
        for (size_t k = 0; k < sizeof hash; k++) {
            assert_int_equal(hash[k], 0xa5);
        }
    }
    int64_t id = 0;
    uint8_t hash[API_KEY_HASH_BYTES];
    assert_int_equal(api_key_parse(NULL, &id, hash), -1);
}

static bool lower_hex(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (strchr("0123456789abcdef", text[i]) == NULL || text[i] == '\0') {
            return false;
        }
    }
    return true;
}

static void test_new_secret(void **state)
{
    (void)state;
    char first[2 * API_KEY_SECRET_BYTES + 1];
    char second[2 * API_KEY_SECRET_BYTES + 1];
    uint8_t first_hash[API_KEY_HASH_BYTES];
    uint8_t second_hash[API_KEY_HASH_BYTES];
    assert_int_equal(api_key_new_secret(first, first_hash), 0);
    assert_int_equal(api_key_new_secret(second, second_hash), 0);
    assert_int_equal(strlen(first), 64);
    assert_int_equal(strlen(second), 64);
    assert_true(lower_hex(first, 64));
    assert_true(lower_hex(second, 64));
    assert_string_not_equal(first, second);
    assert_memory_not_equal(first_hash, second_hash, API_KEY_HASH_BYTES);

    /* The hash is of the decoded bytes (parse's digest is pinned by test_known_digests),
     * not of the hex text. */
    char token[API_KEY_TOKEN_MAX];
    assert_int_equal(api_key_format(77, first, token, sizeof token), 0);
    int64_t id = 0;
    uint8_t parsed_hash[API_KEY_HASH_BYTES];
    assert_int_equal(parse_text(token, &id, parsed_hash), 0);
    assert_int_equal(id, 77);
    assert_memory_equal(parsed_hash, first_hash, API_KEY_HASH_BYTES);
}

/* Over 64 secrets (4096 hex digits) every digit shows up and no two secrets repeat: an
 * encoder that dropped a nibble or a source that repeated itself would fail. */
static void test_new_secrets_cover_every_digit(void **state)
{
    (void)state;
    enum { COUNT = 64 };
    char secrets[COUNT][2 * API_KEY_SECRET_BYTES + 1];
    bool seen[16] = {false};
    for (int i = 0; i < COUNT; i++) {
        uint8_t hash[API_KEY_HASH_BYTES];
        assert_int_equal(api_key_new_secret(secrets[i], hash), 0);
        assert_true(lower_hex(secrets[i], 64));
        assert_int_equal(secrets[i][64], '\0');
        for (int k = 0; k < 64; k++) {
            const char *digit = strchr("0123456789abcdef", secrets[i][k]);
            seen[digit - "0123456789abcdef"] = true;
        }
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(secrets[i], secrets[j]);
        }
    }
    for (int d = 0; d < 16; d++) {
        assert_true(seen[d]);
    }
}

static void test_hash_equal(void **state)
{
    (void)state;
    uint8_t a[API_KEY_HASH_BYTES];
    uint8_t b[API_KEY_HASH_BYTES];
    hex_to_bytes(SHA_SEQ_HEX, a, sizeof a);
    memcpy(b, a, sizeof b);
    assert_true(api_key_hash_equal(a, b));
    assert_true(api_key_hash_equal(a, a));
    for (size_t i = 0; i < sizeof b; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1u << bit);
            if (api_key_hash_equal(a, b)) {
                fail_msg("byte %zu bit %d flipped compares equal", i, bit);
            }
            b[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_true(api_key_hash_equal(a, b));
    uint8_t other[API_KEY_HASH_BYTES];
    hex_to_bytes(SHA_FF_HEX, other, sizeof other);
    assert_false(api_key_hash_equal(a, other));
}

/* ---- the verified-token cache ---- */

static const uint8_t cache_seed[TOKEN_CACHE_SEED_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

static token_verdict verdict_for(int64_t key_id, const char *actor, int64_t valid_until_s)
{
    token_verdict v = {.valid_until_s = valid_until_s};
    v.principal.role = ROLE_AUDITOR;
    v.principal.key_id = key_id;
    snprintf(v.principal.actor, sizeof v.principal.actor, "%s", actor);
    memset(v.key_hash, key_id > 0 ? 0xab : 0, sizeof v.key_hash);
    return v;
}

static void test_token_cache_remembers_exact_tokens(void **state)
{
    (void)state;
    token_cache *cache = token_cache_new(64, cache_seed);
    assert_int_equal(token_cache_count(cache), 0);
    const char *token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
    assert_null(token_cache_find(cache, token, strlen(token), 1000));
    token_verdict alice = verdict_for(0, "jwt:alice", 2000);
    token_cache_put(cache, token, strlen(token), &alice);
    assert_int_equal(token_cache_count(cache), 1);
    const token_verdict *found = token_cache_find(cache, token, strlen(token), 1000);
    assert_non_null(found);
    assert_string_equal(found->principal.actor, "jwt:alice");
    assert_int_equal(found->valid_until_s, 2000);
    /* Valid through valid_until_s, not a second longer. */
    assert_non_null(token_cache_find(cache, token, strlen(token), 2000));
    assert_null(token_cache_find(cache, token, strlen(token), 2001));
    /* Any other token, however close, is not known: one byte changed, one more or less. */
    char edited[128];
    snprintf(edited, sizeof edited, "%s", token);
    edited[strlen(edited) - 1] ^= 1;
    assert_null(token_cache_find(cache, edited, strlen(edited), 1000));
    assert_null(token_cache_find(cache, token, strlen(token) - 1, 1000));
    snprintf(edited, sizeof edited, "%sA", token);
    assert_null(token_cache_find(cache, edited, strlen(edited), 1000));
    /* Putting the same token again replaces its verdict. */
    token_verdict again = verdict_for(0, "jwt:alice", 3000);
    token_cache_put(cache, token, strlen(token), &again);
    assert_int_equal(token_cache_count(cache), 1);
    assert_int_equal(token_cache_find(cache, token, strlen(token), 2500)->valid_until_s, 3000);
    token_cache_free(cache);
    token_cache_free(NULL);
}

static void test_token_cache_is_bounded(void **state)
{
    (void)state;
    /* One slot: a newcomer takes the place of what was there. */
    token_cache *one = token_cache_new(1, cache_seed);
    token_verdict a = verdict_for(1, "key:1", INT64_MAX), b = verdict_for(2, "key:2", INT64_MAX);
    token_cache_put(one, "wf_1_a", 6, &a);
    token_cache_put(one, "wf_2_b", 6, &b);
    assert_int_equal(token_cache_count(one), 1);
    assert_null(token_cache_find(one, "wf_1_a", 6, 0));
    assert_int_equal(token_cache_find(one, "wf_2_b", 6, 0)->principal.key_id, 2);
    token_cache_free(one);
    /* 10,000 tokens into 256 slots: never more than 256 held, and the last one is found. */
    token_cache *small = token_cache_new(200, cache_seed); /* rounded up to 256 */
    char token[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(token, sizeof token, "wf_%d_secret", i);
        token_verdict v = verdict_for(i + 1, "key", INT64_MAX);
        token_cache_put(small, token, strlen(token), &v);
        assert_true(token_cache_count(small) <= 256);
    }
    assert_true(token_cache_count(small) > 200);
    assert_int_equal(token_cache_find(small, token, strlen(token), 0)->principal.key_id, 10000);
    token_cache_free(small);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_role_names_both_ways),
                cmocka_unit_test(test_role_parse_unknown),
                cmocka_unit_test(test_role_name_unknown),
                cmocka_unit_test(test_scope_rules),
                cmocka_unit_test(test_known_digests),
                cmocka_unit_test(test_format_parse_round_trip),
                cmocka_unit_test(test_format_rejects),
                cmocka_unit_test(test_parse_rejects_malformed),
                cmocka_unit_test(test_new_secret),
                cmocka_unit_test(test_new_secrets_cover_every_digit),
                cmocka_unit_test(test_hash_equal),
                cmocka_unit_test(test_token_cache_remembers_exact_tokens),
                cmocka_unit_test(test_token_cache_is_bounded),
            })
