/* Unit tests of util/strbuf: appends across growth, printf, int64 extremes, JSON string
 * escaping (quotes, backslash, every control character, UTF-8 passed through) and the
 * take/free ownership rules, including the sticky failure flag. */
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
#include "util/strbuf.h"

/* Takes the contents, checks them (length included) and frees them. */
static void assert_take(strbuf *sb, const char *expected, size_t expected_len)
{
    assert_false(strbuf_failed(sb));
    assert_int_equal(sb->len, expected_len);
    char *text = strbuf_take(sb);
    assert_non_null(text);
    assert_memory_equal(text, expected, expected_len + 1); /* terminator included */
    free(text);
    assert_null(sb->data);
    assert_int_equal(sb->len, 0);
    assert_int_equal(sb->cap, 0);
}

static void assert_json_string(const char *input, const char *expected)
{
    strbuf sb = {0};
    strbuf_json_string(&sb, input);
    assert_take(&sb, expected, strlen(expected));
}

static void test_append_and_puts(void **state)
{
    (void)state;
    strbuf sb = {0};
    strbuf_puts(&sb, "hello");
    assert_int_equal(sb.len, 5);
    assert_string_equal(sb.data, "hello");
    strbuf_append(&sb, ", world!!!", 7);
    strbuf_puts(&sb, "");
    strbuf_append(&sb, "ignored", 0);
    assert_take(&sb, "hello, world", 12);
}

static void test_append_embedded_nul(void **state)
{
    (void)state;
    strbuf sb = {0};
    strbuf_append(&sb, "a\0b", 3);
    assert_int_equal(sb.len, 3);
    assert_memory_equal(sb.data, "a\0b\0", 4);
    strbuf_free(&sb);
}

static void test_growth_keeps_contents(void **state)
{
    (void)state;
    strbuf sb = {0};
    char expected[10001];
    for (int i = 0; i < 10000; i++) {
        char c = (char)('a' + i % 26);
        strbuf_append(&sb, &c, 1);
        expected[i] = c;
        assert_true(sb.cap > sb.len); /* room for the terminator */
        assert_int_equal(sb.data[sb.len], '\0');
    }
    expected[10000] = '\0';
    /* One append bigger than several doublings. */
    char big[70000];
    memset(big, 'Z', sizeof big);
    strbuf_append(&sb, big, sizeof big);
    assert_int_equal(sb.len, 80000);
    assert_true(sb.cap >= 80001);
    assert_memory_equal(sb.data, expected, 10000);
    assert_memory_equal(sb.data + 10000, big, sizeof big);
    assert_int_equal(sb.data[80000], '\0');
    strbuf_free(&sb);
    assert_null(sb.data);
    assert_int_equal(sb.len, 0);
    assert_int_equal(sb.cap, 0);
}

static void test_printf(void **state)
{
    (void)state;
    strbuf sb = {0};
    strbuf_printf(&sb, "%s=%d;", "a", 42);
    strbuf_printf(&sb, "%05.1f|%-4s|%x", 3.14159, "ab", 255);
    strbuf_printf(&sb, "%s", "");
    assert_take(&sb, "a=42;003.1|ab  |ff", 18);

    /* Output longer than the first allocation, in one call. */
    char long_text[1000];
    memset(long_text, 'q', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    strbuf_puts(&sb, "<");
    strbuf_printf(&sb, "%s>%lld", long_text, (long long)INT64_MIN);
    assert_int_equal(sb.len, 1 + 999 + 1 + 20);
    assert_int_equal(sb.data[0], '<');
    assert_int_equal(sb.data[1000], '>');
    assert_string_equal(sb.data + 1001, "-9223372036854775808");
    strbuf_free(&sb);
}

static void test_int(void **state)
{
    (void)state;
    strbuf sb = {0};
    strbuf_int(&sb, 0);
    strbuf_puts(&sb, " ");
    strbuf_int(&sb, -1);
    strbuf_puts(&sb, " ");
    strbuf_int(&sb, 1000000000000LL);
    strbuf_puts(&sb, " ");
    strbuf_int(&sb, INT64_MAX);
    strbuf_puts(&sb, " ");
    strbuf_int(&sb, INT64_MIN);
    const char *expected = "0 -1 1000000000000 9223372036854775807 -9223372036854775808";
    assert_take(&sb, expected, strlen(expected));
}

static void test_json_string_escapes(void **state)
{
    (void)state;
    assert_json_string("", "\"\"");
    assert_json_string("plain", "\"plain\"");
    assert_json_string("say \"hi\"", "\"say \\\"hi\\\"\"");
    assert_json_string("C:\\dir\\", "\"C:\\\\dir\\\\\"");
    assert_json_string("\\\"", "\"\\\\\\\"\"");
    assert_json_string("a\nb\tc\rd", "\"a\\nb\\tc\\rd\"");
    assert_json_string("\x01", "\"\\u0001\"");
    assert_json_string("\x08\x0c", "\"\\u0008\\u000c\"");
    assert_json_string("x\x1fy", "\"x\\u001fy\"");
    assert_json_string("\x7f", "\"\x7f\""); /* DEL needs no escape in JSON */
    assert_json_string("/", "\"/\"");
    assert_json_string("</script>", "\"</script>\"");
}

static void test_json_string_every_control_character(void **state)
{
    (void)state;
    for (int c = 1; c < 0x20; c++) {
        char input[4] = {'<', (char)c, '>', '\0'};
        char expected[16];
        switch (c) {
        case '\n':
            strcpy(expected, "\"<\\n>\"");
            break;
        case '\t':
            strcpy(expected, "\"<\\t>\"");
            break;
        case '\r':
            strcpy(expected, "\"<\\r>\"");
            break;
        default:
            snprintf(expected, sizeof expected, "\"<\\u%04x>\"", c);
            break;
        }
        assert_json_string(input, expected);
    }
}

static void test_json_string_utf8_passthrough(void **state)
{
    (void)state;
    assert_json_string("\xd0\x9e\xd0\x9e\x31", "\"\xd0\x9e\xd0\x9e\x31\""); /* ОО1 */
    assert_json_string("\xd0\x9c\xd0\x9d\xd0\x9e\x35",
                       "\"\xd0\x9c\xd0\x9d\xd0\x9e\x35\""); /* МНО5 */
    assert_json_string("\xe2\x82\xac \xf0\x9f\x98\x80", "\"\xe2\x82\xac \xf0\x9f\x98\x80\"");
    assert_json_string("\xc2\x85", "\"\xc2\x85\""); /* bytes >= 0x80 are never \u-escaped */
}

static void test_json_string_appends(void **state)
{
    (void)state;
    strbuf sb = {0};
    strbuf_puts(&sb, "{");
    strbuf_json_string(&sb, "name");
    strbuf_puts(&sb, ":");
    strbuf_json_string(&sb, "a\"b");
    strbuf_puts(&sb, "}");
    const char *expected = "{\"name\":\"a\\\"b\"}";
    assert_take(&sb, expected, strlen(expected));

    /* A long string with escapes spread over several growths. */
    char input[3001];
    for (int i = 0; i < 3000; i++) {
        input[i] = i % 3 == 0 ? '"' : 'x';
    }
    input[3000] = '\0';
    strbuf_json_string(&sb, input);
    assert_int_equal(sb.len, 2 + 3000 + 1000);
    size_t quotes = 0;
    for (size_t i = 1; i + 1 < sb.len; i++) {
        quotes += sb.data[i] == '"';
        if (sb.data[i] == '"') {
            assert_int_equal(sb.data[i - 1], '\\');
        }
    }
    assert_int_equal(quotes, 1000);
    strbuf_free(&sb);
}

static void test_take_semantics(void **state)
{
    (void)state;
    /* Taking from a buffer that never grew gives an empty, freeable string. */
    strbuf sb = {0};
    char *text = strbuf_take(&sb);
    assert_non_null(text);
    assert_string_equal(text, "");
    free(text);

    /* After a take the buffer is empty and reusable; the taken text is independent. */
    strbuf_puts(&sb, "first");
    char *first = strbuf_take(&sb);
    strbuf_puts(&sb, "second");
    char *second = strbuf_take(&sb);
    assert_string_equal(first, "first");
    assert_string_equal(second, "second");
    assert_ptr_not_equal(first, second);
    free(first);
    free(second);

    /* free is idempotent and leaves an empty, reusable buffer. */
    strbuf_puts(&sb, "x");
    strbuf_free(&sb);
    strbuf_free(&sb);
    assert_null(sb.data);
    strbuf_puts(&sb, "again");
    assert_take(&sb, "again", 5);
}

static void test_failure_is_sticky(void **state)
{
    (void)state;
    /* An allocation failure cannot be provoked portably; set the flag as reserve() does. */
    strbuf sb = {0};
    strbuf_puts(&sb, "before");
    sb.failed = true;
    strbuf_puts(&sb, "after");
    strbuf_printf(&sb, "%d", 5);
    strbuf_int(&sb, 7);
    strbuf_json_string(&sb, "x");
    assert_true(strbuf_failed(&sb));
    assert_int_equal(sb.len, 6); /* nothing was appended after the failure */
    assert_null(strbuf_take(&sb));
    /* take on a failed buffer frees it and resets it, failure included. */
    assert_null(sb.data);
    assert_int_equal(sb.len, 0);
    assert_int_equal(sb.cap, 0);
    assert_false(strbuf_failed(&sb));
    strbuf_puts(&sb, "ok");
    assert_take(&sb, "ok", 2);

    sb.failed = true;
    strbuf_free(&sb);
    assert_false(strbuf_failed(&sb));
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_append_and_puts),
                cmocka_unit_test(test_append_embedded_nul),
                cmocka_unit_test(test_growth_keeps_contents),
                cmocka_unit_test(test_printf),
                cmocka_unit_test(test_int),
                cmocka_unit_test(test_json_string_escapes),
                cmocka_unit_test(test_json_string_every_control_character),
                cmocka_unit_test(test_json_string_utf8_passthrough),
                cmocka_unit_test(test_json_string_appends),
                cmocka_unit_test(test_take_semantics),
                cmocka_unit_test(test_failure_is_sticky),
            })
