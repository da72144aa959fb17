/* Unit tests of util/webhook_sign: the Standard Webhooks reference vector, secrets that are
 * refused, sealing round trips and tampering, and the retry schedule's exact delays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "runner.h"
#include "util/webhook_sign.h"

static void test_reference_vector(void **state)
{
    (void)state;
    /* The example of the Standard Webhooks specification and its reference libraries. */
    static const char body[] = "{\"test\": 2432232314}";
    char signature[WEBHOOK_SIGNATURE_MAX];
    assert_int_equal(webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                  "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, sizeof body - 1,
                                  signature),
                     0);
    assert_string_equal(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

static void test_bad_secrets(void **state)
{
    (void)state;
    char signature[WEBHOOK_SIGNATURE_MAX];
    assert_int_equal(webhook_sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", 1, "", 0, signature),
                     -1);
    assert_int_equal(webhook_sign("whsec_", "m", 1, "", 0, signature), -1);
    assert_int_equal(webhook_sign("whsec_c2hvcnQ=", "m", 1, "", 0, signature), -1); /* 5 bytes */
    assert_int_equal(
        webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!", "m", 1, "", 0, signature), -1);
}

static void test_new_secret_signs(void **state)
{
    (void)state;
    char secret[WEBHOOK_SECRET_MAX];
    assert_int_equal(webhook_secret_new(secret), 0);
    assert_int_equal(strncmp(secret, "whsec_", 6), 0);
    assert_int_equal(strlen(secret), 6 + 44);
    char signature[WEBHOOK_SIGNATURE_MAX];
    assert_int_equal(webhook_sign(secret, "msg_1", 1700000000, "{}", 2, signature), 0);
    assert_int_equal(strlen(signature), 3 + 44);
}

static void test_seal_round_trip(void **state)
{
    (void)state;
    uint8_t key[32] = {1, 2, 3};
    uint8_t other[32] = {1, 2, 4};
    char sealed[WEBHOOK_SEALED_MAX], opened[WEBHOOK_SECRET_MAX];
    const char *secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert_int_equal(webhook_secret_seal(key, secret, sealed), 0);
    assert_int_equal(strlen(sealed), 2 * (12 + strlen(secret) + 16));
    assert_null(strstr(sealed, "whsec"));
    assert_int_equal(webhook_secret_open(key, sealed, opened), 0);
    assert_string_equal(opened, secret);
    assert_int_equal(webhook_secret_open(other, sealed, opened), -1);
    assert_string_equal(opened, "");
    sealed[30] = sealed[30] == '0' ? '1' : '0';
    assert_int_equal(webhook_secret_open(key, sealed, opened), -1);
    assert_int_equal(webhook_secret_open(key, "zz", opened), -1);
    /* Two seals of one secret differ (a fresh nonce each time). */
    char again[WEBHOOK_SEALED_MAX], first[WEBHOOK_SEALED_MAX];
    assert_int_equal(webhook_secret_seal(key, secret, first), 0);
    assert_int_equal(webhook_secret_seal(key, secret, again), 0);
    assert_string_not_equal(first, again);
}

static void test_retry_schedule(void **state)
{
    (void)state;
    assert_int_equal(webhook_retry_delay_ms(1, 5000, 0), 5000);
    assert_int_equal(webhook_retry_delay_ms(2, 5000, 0), 10000);
    assert_int_equal(webhook_retry_delay_ms(3, 5000, 0), 20000);
    assert_int_equal(webhook_retry_delay_ms(10, 5000, 0), 2560000);
    assert_int_equal(webhook_retry_delay_ms(1, 5000, 0.5), 5500);
    assert_int_equal(webhook_retry_delay_ms(3, 100, 0.5), 440);
    assert_int_equal(webhook_retry_delay_ms(0, 100, 0), 100);
    assert_int_equal(webhook_retry_delay_ms(1, 100, 1.5), 100); /* jitter out of range: none */
    assert_int_equal(webhook_retry_delay_ms(40, 5000, 0.9), 86400000);
    assert_int_equal(webhook_retry_delay_ms(1000, 5000, 0), 86400000);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_reference_vector),
                cmocka_unit_test(test_bad_secrets),
                cmocka_unit_test(test_new_secret_signs),
                cmocka_unit_test(test_seal_round_trip),
                cmocka_unit_test(test_retry_schedule),
            })
