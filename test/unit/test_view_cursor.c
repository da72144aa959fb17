/* Unit tests of the storage view's cursor codec (core/view_cursor.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/view_cursor.h"

static const view_filter oo1 = {1, NULL, false, false};

static void test_round_trip(void **state)
{
    (void)state;
    char text[VIEW_CURSOR_MAX];
    view_position at = {false, 600, 8};
    size_t len = view_cursor_encode(&oo1, &at, text);
    assert_int_equal(len, strlen(text));
    assert_int_equal(len, strlen("r600.8.") + 16);
    assert_memory_equal(text, "r600.8.", 7);
    view_position back = {true, -1, -1};
    assert_true(view_cursor_decode(text, &oo1, &back));
    assert_false(back.unreachable);
    assert_int_equal(back.distance_m, 600);
    assert_int_equal(back.storage_id, 8);

    view_position tail = {true, 0, 9};
    len = view_cursor_encode(&oo1, &tail, text);
    assert_int_equal(len, strlen("u9.") + 16);
    assert_memory_equal(text, "u9.", 3);
    assert_true(view_cursor_decode(text, &oo1, &back));
    assert_true(back.unreachable);
    assert_int_equal(back.distance_m, 0);
    assert_int_equal(back.storage_id, 9);

    /* The largest values fit the bound. */
    view_position big = {false, INT64_MAX, INT64_MAX};
    len = view_cursor_encode(&oo1, &big, text);
    assert_true(len < VIEW_CURSOR_MAX);
    assert_true(view_cursor_decode(text, &oo1, &back));
    assert_int_equal(back.distance_m, INT64_MAX);
    assert_int_equal(back.storage_id, INT64_MAX);
}

/* The format is part of the contract with clients holding cursors across an upgrade. */
static void test_stable_text(void **state)
{
    (void)state;
    char a[VIEW_CURSOR_MAX], b[VIEW_CURSOR_MAX];
    view_position at = {false, 50, 2};
    view_cursor_encode(&oo1, &at, a);
    view_cursor_encode(&oo1, &at, b);
    assert_string_equal(a, b);
    assert_string_equal(a, "r50.2.2a566aca87a25991");
}

static void test_bound_to_the_filter(void **state)
{
    (void)state;
    char text[VIEW_CURSOR_MAX];
    view_position at = {false, 100, 5};
    view_position out = {false, 7, 7};
    view_filter glass = {1, "glass", false, false};
    view_cursor_encode(&glass, &at, text);
    assert_true(view_cursor_decode(text, &glass, &out));

    const view_filter others[] = {
        {2, "glass", false, false}, /* another organization */
        {1, NULL, false, false},    /* no type */
        {1, "glas", false, false},  /* another type */
        {1, "glass", true, false},  /* reachable=true */
        {1, "glass", false, true},  /* has_room=true */
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        out = (view_position){false, 7, 7};
        assert_false(view_cursor_decode(text, &others[i], &out));
        assert_int_equal(out.distance_m, 7); /* untouched */
    }
}

static void test_refuses_edits_and_garbage(void **state)
{
    (void)state;
    char text[VIEW_CURSOR_MAX];
    view_position at = {false, 600, 8};
    view_cursor_encode(&oo1, &at, text);
    view_position out;

    char edited[VIEW_CURSOR_MAX];
    memcpy(edited, text, sizeof edited);
    edited[1] = '5'; /* r500.8.<tag of 600> */
    assert_false(view_cursor_decode(edited, &oo1, &out));
    memcpy(edited, text, sizeof edited);
    edited[strlen(edited) - 1] = edited[strlen(edited) - 1] == '0' ? '1' : '0';
    assert_false(view_cursor_decode(edited, &oo1, &out));
    memcpy(edited, text, sizeof edited);
    edited[0] = 'u';
    assert_false(view_cursor_decode(edited, &oo1, &out));

    char padded[VIEW_CURSOR_MAX + 8];
    snprintf(padded, sizeof padded, "r0600%s", text + 4); /* a leading zero */
    assert_false(view_cursor_decode(padded, &oo1, &out));
    snprintf(padded, sizeof padded, "%sx", text); /* trailing bytes */
    assert_false(view_cursor_decode(padded, &oo1, &out));

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
        assert_false(view_cursor_decode(garbage[i], &oo1, &out));
    }
    assert_false(view_cursor_decode(NULL, &oo1, &out));
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_stable_text),
        cmocka_unit_test(test_bound_to_the_filter),
        cmocka_unit_test(test_refuses_edits_and_garbage),
        cmocka_unit_test(test_position_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
