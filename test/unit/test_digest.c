/* Unit tests of util/digest: SHA-256 and HMAC-SHA256 against published vectors (FIPS 180-2
 * and RFC 4231), parts hashed one after the other equal to the whole, and subkeys that
 * differ by label. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "runner.h"
#include "util/digest.h"

static void to_hex(const uint8_t *bytes, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
    }
}

static void test_sha256_abc(void **state)
{
    (void)state;
    const void *data[1] = {"abc"};
    size_t len[1] = {3};
    char hex[DIGEST_HEX_SIZE];
    digest_sha256_hex(data, len, 1, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* The raw form, twice (the algorithm is fetched once and kept). */
    for (int i = 0; i < 2; i++) {
        uint8_t raw[DIGEST_SHA256_BYTES];
        assert_true(digest_sha256("abc", 3, raw));
        to_hex(raw, sizeof raw, hex);
        assert_string_equal(hex,
                            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
    /* The empty message (FIPS 180-2's SHA-256 of ""). */
    uint8_t raw[DIGEST_SHA256_BYTES];
    assert_true(digest_sha256("", 0, raw));
    to_hex(raw, sizeof raw, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?", sent in two parts. */
static void test_hmac_rfc4231_case2(void **state)
{
    (void)state;
    const void *data[2] = {"what do ya ", "want for nothing?"};
    size_t len[2] = {11, 17};
    uint8_t mac[DIGEST_HMAC_BYTES];
    char hex[2 * DIGEST_HMAC_BYTES + 1];
    digest_hmac_sha256((const uint8_t *)"Jefe", 4, data, len, 2, mac);
    to_hex(mac, sizeof mac, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* RFC 4231, test case 6: a 131-byte key (longer than the block, so hashed first). */
static void test_hmac_rfc4231_case6(void **state)
{
    (void)state;
    uint8_t key[131];
    memset(key, 0xaa, sizeof key);
    const char *text = "Test Using Larger Than Block-Size Key - Hash Key First";
    const void *data[1] = {text};
    size_t len[1] = {strlen(text)};
    uint8_t mac[DIGEST_HMAC_BYTES];
    char hex[2 * DIGEST_HMAC_BYTES + 1];
    digest_hmac_sha256(key, sizeof key, data, len, 1, mac);
    to_hex(mac, sizeof mac, hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* A subkey is HMAC(master, label): two labels never give the same key. */
static void test_derive_key_by_label(void **state)
{
    (void)state;
    const void *data[1] = {"what do ya want for nothing?"};
    size_t len[1] = {28};
    uint8_t direct[DIGEST_HMAC_BYTES], derived[DIGEST_HMAC_BYTES], other[DIGEST_HMAC_BYTES];
    digest_hmac_sha256((const uint8_t *)"Jefe", 4, data, len, 1, direct);
    digest_derive_key((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", derived);
    digest_derive_key((const uint8_t *)"Jefe", 4, "view-cursor", other);
    assert_memory_equal(direct, derived, DIGEST_HMAC_BYTES);
    assert_memory_not_equal(derived, other, DIGEST_HMAC_BYTES);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_sha256_abc),
                cmocka_unit_test(test_hmac_rfc4231_case2),
                cmocka_unit_test(test_hmac_rfc4231_case6),
                cmocka_unit_test(test_derive_key_by_label),
            })
