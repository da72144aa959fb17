/* Unit tests of the storage view's cursor codec (core/view_cursor.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/view_cursor.h"
#include "runner.h"
#include "util/digest.h"

static const view_filter oo1 = {1, NULL, false, false};

/* The service's signer: HMAC-SHA256 truncated to the tag (api/storage_view.c). */
static void hmac_signer(const void *key, const uint8_t *message, size_t len,
                        uint8_t tag[VIEW_CURSOR_TAG_BYTES])
{
    const void *data[1] = {message};
    size_t lengths[1] = {len};
    uint8_t mac[DIGEST_HMAC_BYTES];
    digest_hmac_sha256(key, DIGEST_HMAC_BYTES, data, lengths, 1, mac);
    memcpy(tag, mac, VIEW_CURSOR_TAG_BYTES);
}

/* Key bytes 0, 1, ..., 31; and another deployment's. */
static uint8_t key_a[DIGEST_HMAC_BYTES], key_b[DIGEST_HMAC_BYTES];
static view_cursor_signer signer_a = {hmac_signer, key_a};
static view_cursor_signer signer_b = {hmac_signer, key_b};

static int setup_keys(void **state)
{
    (void)state;
    for (int i = 0; i < DIGEST_HMAC_BYTES; i++) {
        key_a[i] = (uint8_t)i;
        key_b[i] = (uint8_t)(i + 1);
    }
    return 0;
}

/* Shorthands with signer_a. */
static size_t encode(const view_filter *filter, const view_position *position,
                     char out[VIEW_CURSOR_MAX])
{
    return view_cursor_encode(&signer_a, filter, position, out);
}

static bool decode(const char *text, const view_filter *filter, view_position *out)
{
    return view_cursor_decode(&signer_a, text, filter, out);
}

static void test_round_trip(void **state)
{
    (void)state;
    char text[VIEW_CURSOR_MAX];
    view_position at = {false, 600, 8};
    size_t len = encode(&oo1, &at, text);
    assert_int_equal(len, strlen(text));
    assert_int_equal(len, strlen("r600.8.") + 32);
    assert_memory_equal(text, "r600.8.", 7);
    view_position back = {true, -1, -1};
    assert_true(decode(text, &oo1, &back));
    assert_false(back.unreachable);
    assert_int_equal(back.distance_m, 600);
    assert_int_equal(back.storage_id, 8);

    view_position tail = {true, 0, 9};
    len = encode(&oo1, &tail, text);
    assert_int_equal(len, strlen("u9.") + 32);
    assert_memory_equal(text, "u9.", 3);
    assert_true(decode(text, &oo1, &back));
    assert_true(back.unreachable);
    assert_int_equal(back.distance_m, 0);
    assert_int_equal(back.storage_id, 9);

    /* The largest values fit the bound. */
    view_position big = {false, INT64_MAX, INT64_MAX};
    len = encode(&oo1, &big, text);
    assert_true(len < VIEW_CURSOR_MAX);
    assert_true(decode(text, &oo1, &back));
    assert_int_equal(back.distance_m, INT64_MAX);
    assert_int_equal(back.storage_id, INT64_MAX);
}

/* The format is part of the contract with clients holding cursors across an upgrade. */
static void test_stable_text(void **state)
{
    (void)state;
    char a[VIEW_CURSOR_MAX], b[VIEW_CURSOR_MAX];
    view_position at = {false, 50, 2};
    encode(&oo1, &at, a);
    encode(&oo1, &at, b);
    assert_string_equal(a, b);
    /* HMAC-SHA256 under key_a of view_cursor_message's bytes, first 16 bytes in hex
     * (computed independently with Python's hmac module). */
    assert_string_equal(a, "r50.2.4e110e8d51669723c8eab49bd2914b6e");
    view_filter glass = {1, "glass", true, true};
    view_position tail = {true, 0, 9};
    encode(&glass, &tail, a);
    assert_string_equal(a, "u9.aa8204345c154d67ec98b218a00f9291");
}

/* The message: label, organization, type length and bytes, flags, position; little-endian. */
static void test_message_bytes(void **state)
{
    (void)state;
    uint8_t message[VIEW_CURSOR_MESSAGE_MAX];
    view_filter glass = {0x0102, "ab", false, true};
    view_position at = {false, 7, 9};
    size_t len = view_cursor_message(&glass, &at, message);
    const uint8_t expected[] = {
        'w', 'a', 's', 't', 'e',  'f',  'l', 'o', 'w', '.', 'v', 'i',
        'e', 'w', '.', '2', 0x02, 0x01, 0,   0,   0,   0,   0,   0, /* organization */
        2,   0,   0,   0,   0,    0,    0,   0,   'a', 'b',         /* type length, type */
        2,   0,   0,   0,   0,    0,    0,   0,                     /* flags: has_room */
        0,   0,   0,   0,   0,    0,    0,   0,                     /* reachable */
        7,   0,   0,   0,   0,    0,    0,   0,                     /* distance */
        9,   0,   0,   0,   0,    0,    0,   0,                     /* storage */
    };
    assert_int_equal(len, sizeof expected);
    assert_memory_equal(message, expected, sizeof expected);
    /* No type: length -1, no bytes. */
    view_filter none = {0x0102, NULL, false, false};
    len = view_cursor_message(&none, &at, message);
    assert_int_equal(len, 16 + 6 * 8);
    assert_memory_equal(message + 24, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
    /* A type longer than any code makes no message, hence no cursor. */
    char long_type[80];
    memset(long_type, 'a', sizeof long_type - 1);
    long_type[sizeof long_type - 1] = '\0';
    view_filter too_long = {1, long_type, false, false};
    assert_int_equal(view_cursor_message(&too_long, &at, message), 0);
    char text[VIEW_CURSOR_MAX];
    assert_int_equal(encode(&too_long, &at, text), 0);
    assert_string_equal(text, "");
}

/* A cursor of another deployment's key, or one tagged the old unkeyed way, is refused: a
 * client cannot make one it was not given. */
static void test_keyed(void **state)
{
    (void)state;
    char text[VIEW_CURSOR_MAX];
    view_position at = {false, 5000, 1234};
    view_position out = {false, 7, 7};
    view_cursor_encode(&signer_b, &oo1, &at, text);
    assert_true(view_cursor_decode(&signer_b, text, &oo1, &out));
    out = (view_position){false, 7, 7};
    assert_false(decode(text, &oo1, &out));
    assert_int_equal(out.storage_id, 7);
    /* The old format's cursor of (50, 2) for organization 1 (an FNV-1a tag a client could
     * recompute), and the same with a zero-padded tag of the new length. */
    assert_false(decode("r50.2.2a566aca87a25991", &oo1, &out));
    assert_false(decode("r50.2.2a566aca87a259910000000000000000", &oo1, &out));
    /* Upper-case hex is not the canonical text. */
    encode(&oo1, &at, text);
    for (char *c = text; *c != '\0'; c++) {
        if (*c >= 'a' && *c <= 'f') {
            *c = (char)(*c - 'a' + 'A');
        }
    }
    assert_false(decode(text, &oo1, &out));
}

static void test_bound_to_the_filter(void **state)
{
    (void)state;
    char text[VIEW_CURSOR_MAX];
    view_position at = {false, 100, 5};
    view_position out = {false, 7, 7};
    view_filter glass = {1, "glass", false, false};
    encode(&glass, &at, text);
    assert_true(decode(text, &glass, &out));

    const view_filter others[] = {
        {2, "glass", false, false}, /* another organization */
        {1, NULL, false, false},    /* no type */
        {1, "glas", false, false},  /* another type */
        {1, "glass", true, false},  /* reachable=true */
        {1, "glass", false, true},  /* has_room=true */
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        out = (view_position){false, 7, 7};
        assert_false(decode(text, &others[i], &out));
        assert_int_equal(out.distance_m, 7); /* untouched */
    }
}

static void test_refuses_edits_and_garbage(void **state)
{
    (void)state;
    char text[VIEW_CURSOR_MAX];
    view_position at = {false, 600, 8};
    encode(&oo1, &at, text);
    view_position out;

    char edited[VIEW_CURSOR_MAX];
    memcpy(edited, text, sizeof edited);
    edited[1] = '5'; /* r500.8.<tag of 600> */
    assert_false(decode(edited, &oo1, &out));
    memcpy(edited, text, sizeof edited);
    edited[strlen(edited) - 1] = edited[strlen(edited) - 1] == '0' ? '1' : '0';
    assert_false(decode(edited, &oo1, &out));
    memcpy(edited, text, sizeof edited);
    edited[0] = 'u';
    assert_false(decode(edited, &oo1, &out));

    char padded[VIEW_CURSOR_MAX + 8];
    snprintf(padded, sizeof padded, "r0600%s", text + 4); /* a leading zero */
    assert_false(decode(padded, &oo1, &out));
    snprintf(padded, sizeof padded, "%sx", text); /* trailing bytes */
    assert_false(decode(padded, &oo1, &out));

    const char *garbage[] = {
        "",
        "r",
        "u",
        "x1.2.0000000000000000",
        "r-1.2.0000000000000000",
        "r1.2",
        "u2.",
        "r99999999999999999999.1.0000000000000000",
        "u9223372036854775808.0000000000000000",
        "12",
        "r1.2.000000000000000000000000000000000000000000000000000000000000000"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        assert_false(decode(garbage[i], &oo1, &out));
    }
    assert_false(decode(NULL, &oo1, &out));
}

static void test_position_order(void **state)
{
    (void)state;
    view_position at = {false, 100, 5};
    assert_true(view_position_before(&at, 100, 6));
    assert_true(view_position_before(&at, 101, 1));
    assert_false(view_position_before(&at, 100, 5));
    assert_false(view_position_before(&at, 100, 4));
    assert_false(view_position_before(&at, 99, 9));
}

RUNNER_MAIN(setup_keys, NULL,
            {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_stable_text),
                cmocka_unit_test(test_message_bytes),
                cmocka_unit_test(test_keyed),
                cmocka_unit_test(test_bound_to_the_filter),
                cmocka_unit_test(test_refuses_edits_and_garbage),
                cmocka_unit_test(test_position_order),
            })
