/* Unit tests of util/event_id: exact ids for a fixed deployment key (computed independently:
 * HMAC-SHA256 subkeys and AES-128 of Python's hashlib and cryptography), round trips, and
 * every way an id can be wrong refused: edited characters, another principal, another
 * deployment, other lengths and alphabets, a non-canonical spelling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "runner.h"
#include "util/event_id.h"

static event_id_keys keys_of(uint8_t first_byte)
{
    uint8_t deployment_key[32];
    for (int i = 0; i < 32; i++) {
        deployment_key[i] = (uint8_t)(first_byte + i);
    }
    event_id_keys keys;
    event_id_keys_derive(deployment_key, sizeof deployment_key, &keys);
    return keys;
}

static void test_exact_ids(void **state)
{
    (void)state;
    event_id_keys keys = keys_of(0);
    uint64_t admin = event_id_binding(&keys, "admin", 0, 0, "", "key:1");
    uint64_t storage = event_id_binding(&keys, "storage", 0, 3, "", "key:7");
    uint64_t person =
        event_id_binding(&keys, "organization", 2, 0, "https://idp.test", "jwt:alice");
    assert_true(admin == 0xce74ad688f1922c3ULL);
    assert_true(storage == 0x5ff3276c44d9f499ULL);
    assert_true(person == 0x4a54f32948adc5ebULL);
    const struct {
        uint64_t binding;
        int64_t position;
        const char *id;
    } cases[] = {
        {admin, 0, "XVNg0nBBiaLMlu4oAdJxZw"},
        {admin, 42, "kHv6CYxPsT-c8eMpLU-RLg"},
        {admin, 1000000000000000000LL, "2npZpsva8LP8UaXtsSsuvw"},
        {storage, 0, "JsmHHI0-YWvLGafpRJnV7g"},
        {storage, 42, "ZmLh3CP8uwOWjrWrhdNeGg"},
        {storage, 1000000000000000000LL, "b5Rd2kRkT1_gIx-_mAvz9A"},
        {person, 42, "x7HZgXFg_Z3FZnznJy4pCw"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char id[EVENT_ID_TEXT_SIZE];
        event_id_seal(&keys, cases[i].binding, cases[i].position, id);
        assert_string_equal(id, cases[i].id);
        int64_t position = -1;
        assert_true(event_id_open(&keys, cases[i].binding, cases[i].id, &position));
        assert_int_equal(position, cases[i].position);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    event_id_keys keys = keys_of(7);
    uint64_t binding = event_id_binding(&keys, "auditor", 0, 0, "", "key:99");
    const int64_t positions[] = {0, 1, 2, 255, 256, 65535, 1LL << 40, INT64_MAX};
    for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++) {
        char id[EVENT_ID_TEXT_SIZE];
        event_id_seal(&keys, binding, positions[i], id);
        assert_int_equal(strlen(id), EVENT_ID_TEXT_SIZE - 1);
        assert_int_equal(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789-_"),
                         EVENT_ID_TEXT_SIZE - 1);
        int64_t position = -1;
        assert_true(event_id_open(&keys, binding, id, &position));
        assert_int_equal(position, positions[i]);
    }
}

/* Changing any one character to any other of the alphabet is refused. */
static void test_edited_ids_are_refused(void **state)
{
    (void)state;
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    event_id_keys keys = keys_of(0);
    uint64_t admin = event_id_binding(&keys, "admin", 0, 0, "", "key:1");
    const char *id = "kHv6CYxPsT-c8eMpLU-RLg";
    int64_t position = -1;
    for (size_t at = 0; at < strlen(id); at++) {
        for (const char *c = alphabet; *c != '\0'; c++) {
            if (*c == id[at]) {
                continue;
            }
            char edited[EVENT_ID_TEXT_SIZE];
            memcpy(edited, id, sizeof edited);
            edited[at] = *c;
            assert_false(event_id_open(&keys, admin, edited, &position));
        }
    }
    assert_int_equal(position, -1);
}

/* An id is its principal's: another role, scope, issuer or actor cannot open it, and the ids
 * of two principals for one position differ. */
static void test_other_principals_are_refused(void **state)
{
    (void)state;
    event_id_keys keys = keys_of(0);
    uint64_t own = event_id_binding(&keys, "storage", 0, 3, "", "key:7");
    const uint64_t others[] = {
        event_id_binding(&keys, "storage", 0, 4, "", "key:7"),
        event_id_binding(&keys, "organization", 3, 0, "", "key:7"),
        event_id_binding(&keys, "storage", 0, 3, "", "key:8"),
        event_id_binding(&keys, "storage", 0, 3, "https://idp.test", "key:7"),
        /* The parts are framed: moving bytes between them makes another binding. */
        event_id_binding(&keys, "storage", 0, 3, "k", "ey:7"),
        event_id_binding(&keys, "storag", 0, 3, "e", "key:7"),
    };
    char id[EVENT_ID_TEXT_SIZE];
    event_id_seal(&keys, own, 42, id);
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        assert_true(others[i] != own);
        int64_t position = -1;
        assert_false(event_id_open(&keys, others[i], id, &position));
        char theirs[EVENT_ID_TEXT_SIZE];
        event_id_seal(&keys, others[i], 42, theirs);
        assert_string_not_equal(theirs, id);
    }
}

/* Another deployment's key opens none of this one's ids. */
static void test_other_deployment_is_refused(void **state)
{
    (void)state;
    event_id_keys ours = keys_of(0), theirs = keys_of(1);
    uint64_t binding = event_id_binding(&ours, "admin", 0, 0, "", "key:1");
    uint64_t their_binding = event_id_binding(&theirs, "admin", 0, 0, "", "key:1");
    assert_true(binding != their_binding);
    int64_t position = -1;
    assert_false(event_id_open(&theirs, their_binding, "kHv6CYxPsT-c8eMpLU-RLg", &position));
    assert_false(event_id_open(&theirs, binding, "kHv6CYxPsT-c8eMpLU-RLg", &position));
}

static void test_malformed_ids_are_refused(void **state)
{
    (void)state;
    event_id_keys keys = keys_of(0);
    uint64_t admin = event_id_binding(&keys, "admin", 0, 0, "", "key:1");
    const char *malformed[] = {
        "",
        "42",
        "kHv6CYxPsT-c8eMpLU-RL",    /* one short */
        "kHv6CYxPsT-c8eMpLU-RLgA",  /* one long */
        "kHv6CYxPsT-c8eMpLU-RLg==", /* padded */
        "kHv6CYxPsT+c8eMpLU/RLg",   /* base64, not base64url */
        "kHv6CYxPsT-c8eMpLU-RL.",
        "kHv6CYxPsT-c8eMpLU-RLh", /* the same block with a spare bit set */
    };
    int64_t position = -1;
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        assert_false(event_id_open(&keys, admin, malformed[i], &position));
    }
    assert_false(event_id_open(&keys, admin, NULL, &position));
    assert_int_equal(position, -1);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_exact_ids),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_edited_ids_are_refused),
                cmocka_unit_test(test_other_principals_are_refused),
                cmocka_unit_test(test_other_deployment_is_refused),
                cmocka_unit_test(test_malformed_ids_are_refused),
            })
