/* Unit tests of util/json_input: the strict body parser (trailing data, truncation, UTF-8,
 * NUL, \u0000, nesting, duplicate keys), the quantity and name validators, waste codes,
 * the UTF-8 helpers, and the field-error list with its exact JSON rendering.
 *
 * Every body is copied into a heap buffer of exactly its length (no NUL terminator), so
 * ASan reports any read past the length the parser was given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "runner.h"
#include "util/json_input.h"

#define WHY_SIZE 160

static cJSON *parse_bytes(const char *data, size_t len, char *why)
{
    char *copy = malloc(len > 0 ? len : 1);
    assert_non_null(copy);
    memcpy(copy, data, len);
    strcpy(why, "(unset)");
    cJSON *root = json_input_parse(copy, len, why, WHY_SIZE);
    free(copy);
    return root;
}

/* Parses a C string (without its terminator) and expects success. */
static cJSON *parse_ok(const char *text)
{
    char why[WHY_SIZE];
    cJSON *root = parse_bytes(text, strlen(text), why);
    if (root == NULL) {
        fail_msg("expected \"%s\" to parse, rejected: %s", text, why);
    }
    return root;
}

/* Expects rejection of len bytes; checks the reason starts with why_prefix. */
static void reject_bytes(const char *data, size_t len, const char *why_prefix)
{
    char why[WHY_SIZE];
    cJSON *root = parse_bytes(data, len, why);
    if (root != NULL) {
        char *printed = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        fail_msg("expected rejection (%s) of %zu bytes, parsed as %s", why_prefix, len,
                 printed != NULL ? printed : "?");
    }
    if (strncmp(why, why_prefix, strlen(why_prefix)) != 0) {
        fail_msg("reason \"%s\" does not start with \"%s\"", why, why_prefix);
    }
}

static void reject(const char *text, const char *why_prefix)
{
    reject_bytes(text, strlen(text), why_prefix);
}

static void assert_printed(const cJSON *root, const char *expected)
{
    char *printed = cJSON_PrintUnformatted(root);
    assert_non_null(printed);
    assert_string_equal(printed, expected);
    cJSON_free(printed);
}

static void test_parse_accepts_values_and_whitespace(void **state)
{
    (void)state;
    struct {
        const char *body;
        const char *printed;
    } cases[] = {
        {"{}", "{}"},
        {"[]", "[]"},
        {"{\"a\":1}", "{\"a\":1}"},
        {" \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { \"c\" : null } } \n\t\r ",
         "{\"a\":[1,2],\"b\":{\"c\":null}}"},
        {"[1,\"x\",true,false,null,{}]", "[1,\"x\",true,false,null,{}]"},
        {"{\"name\":\"\xd0\x9e\xd0\x9e\x31\"}", "{\"name\":\"\xd0\x9e\xd0\x9e\x31\"}"},
        {"{\"e\":\"\\u0001\\n\\\"\"}", "{\"e\":\"\\u0001\\n\\\"\"}"},
        /* Scalars are valid JSON: handlers reject them with 422, not the parser with 400. */
        {"42", "42"},
        {"\"text\"", "\"text\""},
        {"null", "null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *root = parse_ok(cases[i].body);
        assert_printed(root, cases[i].printed);
        cJSON_Delete(root);
    }
}

static void test_parse_empty_body_is_empty_object(void **state)
{
    (void)state;
    const char *bodies[] = {"", " ", "\n", "\r\n", " \t \r\n  \t"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        cJSON *root = parse_ok(bodies[i]);
        assert_true(cJSON_IsObject(root));
        assert_null(root->child);
        cJSON_Delete(root);
    }
}

static void test_parse_honours_length(void **state)
{
    (void)state;
    char why[WHY_SIZE];
    /* Only the first len bytes count: what follows in memory is not part of the body. */
    const char buffer[] = "{\"a\":1}xyz";
    cJSON *root = parse_bytes(buffer, 7, why);
    assert_non_null(root);
    assert_printed(root, "{\"a\":1}");
    cJSON_Delete(root);
    /* Cut inside the value: truncated JSON. */
    reject_bytes(buffer, 6, "invalid JSON near byte ");
    /* A number that ends exactly at len. */
    root = parse_bytes("12345", 3, why);
    assert_non_null(root);
    assert_int_equal((int)root->valuedouble, 123);
    cJSON_Delete(root);
}

static void test_parse_rejects_trailing_data(void **state)
{
    (void)state;
    reject("{}x", "unexpected data after the JSON value at byte 2");
    reject("{} {}", "unexpected data after the JSON value at byte 3");
    reject("{}\n{}", "unexpected data after the JSON value at byte 3");
    reject("{}}", "unexpected data after the JSON value at byte 2");
    reject("[1] ,", "unexpected data after the JSON value at byte 4");
    reject("{\"a\":1}  x  ", "unexpected data after the JSON value at byte 9");
    reject("1 2", "unexpected data after the JSON value at byte 2");
    reject("null null", "unexpected data after the JSON value at byte 5");
}

static void test_parse_rejects_truncated_and_malformed(void **state)
{
    (void)state;
    const char *bodies[] = {
        "{",           "[",          "{\"a\"",
        "{\"a\":",     "{\"a\":1",   "{\"a\":1,",
        "[1,2",        "{\"a\":\"x", "\"abc",
        "tru",         "nul",        "{\"a\":tru}",
        "{a:1}",       "{'a':1}",    "{\"a\":1,}",
        "[1,]",        "[,1]",       "{\"a\" 1}",
        "{\"a\":+1}",  "{\"a\":.5}", "{\"a\":0x10}",
        "{\"a\":NaN}", "}",          "]",
        "x",           "\"\\x\"",    "{\"a\":\"\\u12\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        reject(bodies[i], "invalid JSON near byte ");
    }
}

static void test_parse_rejects_invalid_utf8(void **state)
{
    (void)state;
    const char *strings[] = {
        "\xc0\xaf",                 /* overlong '/' (2 bytes) */
        "\xc1\xbf",                 /* overlong U+007F */
        "\xe0\x80\xaf",             /* overlong '/' (3 bytes) */
        "\xe0\x9f\xbf",             /* overlong U+07FF */
        "\xf0\x80\x80\xaf",         /* overlong '/' (4 bytes) */
        "\xf0\x8f\xbf\xbf",         /* overlong U+FFFF */
        "\xed\xa0\x80",             /* UTF-16 surrogate U+D800 */
        "\xed\xbf\xbf",             /* UTF-16 surrogate U+DFFF */
        "\xed\xa0\xbd\xed\xb8\x80", /* a surrogate pair encoded as two 3-byte sequences */
        "\xf4\x90\x80\x80",         /* U+110000, beyond Unicode */
        "\xf5\x80\x80\x80",
        "\xf8\x88\x80\x80\x80",
        "\xff",
        "\xfe",
        "a\xff"
        "b",
        "\x80",         /* lone continuation byte */
        "\xd0",         /* truncated 2-byte sequence */
        "\xe2\x82",     /* truncated 3-byte sequence */
        "\xf0\x9f\x98", /* truncated 4-byte sequence */
        "\xd0"
        "a", /* lead byte followed by a non-continuation */
        "\xe2\x28\xa1",
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"name\":\"%s\"}", strings[i]);
        reject(body, "the body is not valid UTF-8");
        /* In a key as well. */
        snprintf(body, sizeof body, "{\"%s\":1}", strings[i]);
        reject(body, "the body is not valid UTF-8");
    }
    /* A multibyte sequence cut by the end of the body (after the JSON value). */
    reject_bytes("{}\xd0\xb6", 3, "the body is not valid UTF-8");
    reject_bytes("{} \xf0\x9f\x98\x80", 6, "the body is not valid UTF-8");
}

static void test_parse_accepts_valid_utf8(void **state)
{
    (void)state;
    const char *strings[] = {
        "\xd0\xb6",         /* ж U+0436 */
        "\xc2\x80",         /* U+0080, smallest 2-byte */
        "\xdf\xbf",         /* U+07FF */
        "\xe0\xa0\x80",     /* U+0800, smallest 3-byte */
        "\xe2\x82\xac",     /* € */
        "\xed\x9f\xbf",     /* U+D7FF, just below the surrogates */
        "\xee\x80\x80",     /* U+E000, just above */
        "\xef\xbf\xbf",     /* U+FFFF */
        "\xf0\x90\x80\x80", /* U+10000, smallest 4-byte */
        "\xf0\x9f\x98\x80", /* 😀 */
        "\xf4\x8f\xbf\xbf", /* U+10FFFF, the last code point */
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"%s\":\"%s\"}", strings[i], strings[i]);
        cJSON *root = parse_ok(body);
        assert_string_equal(root->child->string, strings[i]);
        assert_string_equal(root->child->valuestring, strings[i]);
        cJSON_Delete(root);
    }
}

static void test_parse_rejects_nul(void **state)
{
    (void)state;
    reject_bytes("{\"a\":1}\0", 8, "the body contains a NUL byte");
    reject_bytes("{\"a\":\"x\0y\"}", 11, "the body contains a NUL byte");
    reject_bytes("\0{}", 3, "the body contains a NUL byte");
    reject_bytes(" \0", 2, "the body contains a NUL byte");
    reject_bytes("\0", 1, "the body contains a NUL byte");

    reject("{\"a\":\"\\u0000\"}", "strings must not contain \\u0000");
    reject("{\"a\":\"abc\\u0000def\"}", "strings must not contain \\u0000");
    reject("{\"\\u0000\":1}", "strings must not contain \\u0000");
    reject("[\"\\u0000\"]", "strings must not contain \\u0000");
    /* An escaped backslash followed by a real \u0000 escape. */
    reject("{\"a\":\"\\\\\\u0000\"}", "strings must not contain \\u0000");
    /* The escape at the very end of a (truncated) body. */
    reject("[\"\\u0000", "strings must not contain \\u0000");
}

static void test_parse_accepts_escaped_backslash_u0000(void **state)
{
    (void)state;
    /* JSON text "\\u0000": an escaped backslash, then the characters u0000. */
    cJSON *root = parse_ok("{\"a\":\"\\\\u0000\"}");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "a")->valuestring, "\\u0000");
    cJSON_Delete(root);
    /* Two escaped backslashes, then u0000. */
    root = parse_ok("{\"a\":\"\\\\\\\\u0000\"}");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "a")->valuestring, "\\\\u0000");
    cJSON_Delete(root);
    /* Other escapes that merely start with zeros are fine. */
    root = parse_ok("{\"a\":\"\\u0001\\u00e9\\u0100\"}");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "a")->valuestring,
                        "\x01\xc3\xa9\xc4\x80");
    cJSON_Delete(root);
    /* The characters u0000 outside any escape. */
    root = parse_ok("{\"u0000\":\"u0000\"}");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "u0000")->valuestring, "u0000");
    cJSON_Delete(root);
}

/* Builds depth nested arrays around inner: "[[...inner...]]". */
static char *nested_arrays(int depth, const char *inner)
{
    size_t len = (size_t)depth * 2 + strlen(inner) + 1;
    char *text = malloc(len);
    assert_non_null(text);
    size_t at = 0;
    for (int i = 0; i < depth; i++) {
        text[at++] = '[';
    }
    strcpy(text + at, inner);
    at += strlen(inner);
    for (int i = 0; i < depth; i++) {
        text[at++] = ']';
    }
    text[at] = '\0';
    return text;
}

/* Builds depth nested objects: {"a":{"a":...{}...}}. */
static char *nested_objects(int depth)
{
    char *text = malloc((size_t)depth * 6 + 1);
    assert_non_null(text);
    size_t at = 0;
    for (int i = 0; i < depth; i++) {
        memcpy(text + at, i + 1 < depth ? "{\"a\":" : "{", i + 1 < depth ? 5 : 1);
        at += i + 1 < depth ? 5 : 1;
    }
    for (int i = 0; i < depth; i++) {
        text[at++] = '}';
    }
    text[at] = '\0';
    return text;
}

static void test_parse_nesting_limit(void **state)
{
    (void)state;
    assert_int_equal(JSON_INPUT_MAX_DEPTH, 32);
    char *text = nested_arrays(32, "");
    cJSON *root = parse_ok(text);
    cJSON_Delete(root);
    free(text);

    text = nested_arrays(33, "");
    reject(text, "JSON nesting deeper than 32 levels");
    free(text);

    text = nested_objects(32);
    root = parse_ok(text);
    cJSON_Delete(root);
    free(text);

    text = nested_objects(33);
    reject(text, "JSON nesting deeper than 32 levels");
    free(text);

    text = nested_arrays(500, "");
    reject(text, "JSON nesting deeper than 32 levels");
    free(text);
}

/* True when text (its strlen bytes) parses; frees everything, so a failing assertion
 * afterwards leaks nothing. */
static bool parses(const char *text, char *why)
{
    cJSON *root = parse_bytes(text, strlen(text), why);
    bool ok = root != NULL;
    cJSON_Delete(root);
    return ok;
}

/* Regression (found by this suite, fixed in 712cbac): scalars used to count as a nesting
 * level, so 32 nested containers holding a value were rejected. */
static void test_parse_nesting_32_with_scalar_leaf(void **state)
{
    (void)state;
    char why[WHY_SIZE];
    char *text = nested_arrays(33, "1");
    bool ok33 = parses(text, why);
    free(text);
    assert_false(ok33);
    assert_string_equal(why, "JSON nesting deeper than 32 levels");

    text = nested_arrays(32, "1");
    bool ok32 = parses(text, why);
    free(text);
    if (!ok32) {
        fail_msg("32 nested arrays around 1 rejected: %s", why);
    }
    /* 32 nested objects, the innermost with a member. */
    char *objects = nested_objects(32);
    size_t inner = (size_t)(strchr(objects, '}') - objects); /* after the last "{" */
    char body[512];
    snprintf(body, sizeof body, "%.*s\"x\":1%s", (int)inner, objects, objects + inner);
    free(objects);
    if (!parses(body, why)) {
        fail_msg("32 nested objects with a member rejected: %s", why);
    }
    /* A scalar body is at depth 0. */
    assert_true(parses("1", why));
}

/* Regression (found by this suite, fixed in 712cbac): cJSON 1.7.15 accepts text that is
 * not JSON under RFC 8259 (leading zeros, a bare trailing dot, raw control characters in
 * strings, control bytes as whitespace); json_input_parse must refuse it. */
static void test_parse_rejects_non_rfc8259_syntax(void **state)
{
    (void)state;
    const char *number = "a number is not written as JSON numbers are";
    const char *raw_control = "strings must escape control characters";
    const char *whitespace = "control characters are not JSON whitespace";
    const struct {
        const char *body;
        const char *why;
    } cases[] = {
        {"{\"a\":01}", number},            /* leading zero */
        {"{\"a\":-01}", number},           /* leading zero after minus */
        {"{\"a\":00}", number},            /* double zero */
        {"{\"a\":1.}", number},            /* no digit after the point */
        {"{\"a\":1.e5}", number},          /* no digit between point and exponent */
        {"{\"a\":1e}", number},            /* empty exponent */
        {"{\"a\":1e+}", number},           /* empty exponent after sign */
        {"[-]", number},                   /* minus alone */
        {"[-a]", number},                  /* minus without digits */
        {"[1,023]", number},               /* leading zero, not first */
        {"{\"a\":\"x\ty\"}", raw_control}, /* raw TAB inside a string */
        {"{\"a\":\"x\ny\"}", raw_control}, /* raw LF inside a string */
        {"{\"a\":\"x\x01y\"}", raw_control},
        {"{\"x\x1f\":1}", raw_control},        /* in a key */
        {"{\"a\":1,\x0b\"b\":2}", whitespace}, /* VT */
        {"[1,\x0c 2]", whitespace},            /* FF */
        {"[\x01]", whitespace},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[WHY_SIZE];
        if (parses(cases[i].body, why)) {
            fail_msg("accepted invalid JSON case #%zu", i);
        }
        if (strcmp(why, cases[i].why) != 0) {
            fail_msg("case #%zu: reason \"%s\", expected \"%s\"", i, why, cases[i].why);
        }
    }
    /* What the grammar allows still parses, with its value. */
    cJSON *root = parse_ok("[0, -0, 0.5, -1.25e+2, 1E-1, 10, 2e0, \"\\t\\u001f\"]");
    assert_printed(root, "[0,-0,0.5,-125,0.1,10,2,\"\\t\\u001f\"]");
    cJSON_Delete(root);
    /* Digits inside strings are not numbers. */
    root = parse_ok("{\"01\":\"1.\",\"-\":\"00\"}");
    assert_printed(root, "{\"01\":\"1.\",\"-\":\"00\"}");
    cJSON_Delete(root);
}

static void test_parse_rejects_duplicate_keys(void **state)
{
    (void)state;
    reject("{\"a\":1,\"a\":2}", "duplicate key \"a\"");
    reject("{\"a\":1,\"b\":2,\"a\":1}", "duplicate key \"a\"");
    reject("{\"name\":\"x\",\"capacity\":{\"glass\":1,\"plastic\":2,\"glass\":3}}",
           "duplicate key \"glass\"");
    reject("[{\"a\":1},{\"b\":1,\"b\":1}]", "duplicate key \"b\"");
    reject("{\"x\":[{\"y\":{\"z\":1,\"z\":{}}}]}", "duplicate key \"z\"");
    /* The same key spelled with an escape is the same key. */
    reject("{\"a\":1,\"\\u0061\":2}", "duplicate key \"a\"");
    reject("{\"\":1,\"\":2}", "duplicate key \"\"");

    /* Not duplicates: other objects, other case. */
    cJSON *root = parse_ok("{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}],\"A\":3}");
    assert_printed(root, "{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}],\"A\":3}");
    cJSON_Delete(root);
}

static void test_parse_rejects_lone_surrogate_escape(void **state)
{
    (void)state;
    /* A \u escape of a lone surrogate cannot become valid UTF-8. */
    reject("{\"a\":\"\\udc00\"}", "invalid JSON near byte ");
    reject("{\"a\":\"\\ud800\"}", "invalid JSON near byte ");
    cJSON *root = parse_ok("{\"a\":\"\\ud83d\\ude00\"}");
    assert_string_equal(root->child->valuestring, "\xf0\x9f\x98\x80");
    cJSON_Delete(root);
}

static void test_parse_short_why_buffer(void **state)
{
    (void)state;
    char why[8];
    memset(why, 'x', sizeof why);
    const char body[] = "{}x";
    assert_null(json_input_parse(body, 3, why, sizeof why));
    assert_string_equal(why, "unexpec");
}

/* Parses text and returns its only element, e.g. "[1e3]" -> 1000. */
static cJSON *single(const char *text)
{
    cJSON *root = parse_ok(text);
    assert_true(cJSON_IsArray(root));
    assert_int_equal(cJSON_GetArraySize(root), 1);
    return root;
}

static void quantity_ok(const char *text, int64_t expected)
{
    cJSON *root = single(text);
    int64_t out = -77;
    const char *why = "(unset)";
    if (!json_input_quantity(root->child, &out, &why)) {
        fail_msg("%s rejected: %s", text, why);
    }
    assert_int_equal(out, expected);
    cJSON_Delete(root);
}

static void quantity_bad(const char *text, const char *expected_why)
{
    cJSON *root = single(text);
    int64_t out = -77;
    const char *why = NULL;
    if (json_input_quantity(root->child, &out, &why)) {
        fail_msg("%s accepted as %lld", text, (long long)out);
    }
    assert_int_equal(out, -77);
    assert_non_null(why);
    assert_string_equal(why, expected_why);
    cJSON_Delete(root);
}

static void test_quantity(void **state)
{
    (void)state;
    const char *range = "must be an integer from 0 to 1000000000000";
    const char *fraction = "must be a whole number of kilograms, not a fraction";
    const char *type = "must be a whole number of kilograms (an integer, not a string)";
    quantity_ok("[0]", 0);
    quantity_ok("[1]", 1);
    quantity_ok("[1e3]", 1000);
    quantity_ok("[1E3]", 1000);
    quantity_ok("[1.0]", 1);
    quantity_ok("[999999999999]", 999999999999LL);
    quantity_ok("[1000000000000]", 1000000000000LL);
    quantity_ok("[1e12]", 1000000000000LL);

    quantity_bad("[-1]", range);
    quantity_bad("[-0.5]", range);
    quantity_bad("[1000000000001]", range);
    quantity_bad("[1e13]", range);
    quantity_bad("[9223372036854775808]", range);
    quantity_bad("[1e999]", range);
    quantity_bad("[-1e999]", range);
    quantity_bad("[1.5]", fraction);
    quantity_bad("[0.1]", fraction);
    quantity_bad("[1e-1]", fraction);
    quantity_bad("[999999999999.5]", fraction);
    quantity_bad("[\"5\"]", type);
    quantity_bad("[true]", type);
    quantity_bad("[false]", type);
    quantity_bad("[null]", type);
    quantity_bad("[[]]", type);
    quantity_bad("[{}]", type);

    const char *why = NULL;
    int64_t out = -77;
    assert_false(json_input_quantity(NULL, &out, &why));
    assert_string_equal(why, type);
    assert_int_equal(out, -77);
}

static void name_ok(const cJSON *item)
{
    const char *why = "(unset)";
    if (!json_input_name(item, &why)) {
        fail_msg("name rejected: %s", why);
    }
}

static void name_bad(const cJSON *item, const char *expected_why)
{
    const char *why = NULL;
    assert_false(json_input_name(item, &why));
    assert_non_null(why);
    assert_string_equal(why, expected_why);
}

/* A JSON string node of count copies of unit (bytes). */
static cJSON *repeated(const char *unit, int count)
{
    size_t unit_len = strlen(unit);
    char *text = malloc(unit_len * (size_t)count + 1);
    assert_non_null(text);
    for (int i = 0; i < count; i++) {
        memcpy(text + unit_len * (size_t)i, unit, unit_len);
    }
    text[unit_len * (size_t)count] = '\0';
    cJSON *item = cJSON_CreateString(text);
    free(text);
    assert_non_null(item);
    return item;
}

static void test_name(void **state)
{
    (void)state;
    const char *length = "must be 1 to 200 characters";
    const char *control = "must not contain control characters";
    const char *type = "must be a string";
    struct {
        const char *unit;
        int count;
        bool ok;
    } cases[] = {
        {"a", 1, true},          {"\xd0\xb6", 1, true},           {"a", 200, true},
        {"\xd0\xb6", 200, true}, {"\xf0\x9f\x98\x80", 200, true}, {"\xe2\x82\xac", 200, true},
        {"a", 201, false},       {"\xd0\xb6", 201, false},        {"a", 0, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *item = repeated(cases[i].unit, cases[i].count);
        if (cases[i].ok) {
            name_ok(item);
        } else {
            name_bad(item, length);
        }
        cJSON_Delete(item);
    }
    /* Characters, not bytes: 199 ASCII + one 4-byte character = 200 characters. */
    char text[256];
    memset(text, 'a', 199);
    strcpy(text + 199, "\xf0\x9f\x98\x80");
    cJSON *item = cJSON_CreateString(text);
    name_ok(item);
    cJSON_Delete(item);
    memset(text, 'a', 200);
    strcpy(text + 200, "\xf0\x9f\x98\x80");
    item = cJSON_CreateString(text);
    name_bad(item, length);
    cJSON_Delete(item);

    cJSON *root = parse_ok("[\" \"]");
    name_ok(root->child); /* a space is not a control character */
    cJSON_Delete(root);

    const char *controls[] = {"[\"a\\tb\"]",   "[\"a\\nb\"]",    "[\"\\r\"]", "[\"x\\u0001\"]",
                              "[\"\\u001f\"]", "[\"a\\u007f\"]", "[\"\\b\"]", "[\"\\f\"]"};
    for (size_t i = 0; i < sizeof controls / sizeof controls[0]; i++) {
        root = parse_ok(controls[i]);
        name_bad(root->child, control);
        cJSON_Delete(root);
    }
    root = parse_ok("[5, null, true, {}, []]");
    for (const cJSON *value = root->child; value != NULL; value = value->next) {
        name_bad(value, type);
    }
    cJSON_Delete(root);
    name_bad(NULL, type);
}

/* Regression (found by this suite, fixed in 712cbac): the C1 control characters
 * U+0080..U+009F used to be accepted in names. */
static void test_name_rejects_c1_controls(void **state)
{
    (void)state;
    const char *bad[] = {"a\xc2\x85"
                         "b",
                         "\xc2\x80", "x\xc2\x9f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *item = cJSON_CreateString(bad[i]);
        const char *why = NULL;
        bool ok = json_input_name(item, &why);
        cJSON_Delete(item);
        if (ok) {
            fail_msg("accepted a name with a C1 control character (#%zu)", i);
        }
        assert_string_equal(why, "must not contain control characters");
    }
    /* Neighbours that are not controls: U+00A0, U+00FF, U+0100 (0xC4 0x80), "~". */
    const char *good[] = {"\xc2\xa0", "\xc3\xbf", "\xc4\x80", "~"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        cJSON *item = cJSON_CreateString(good[i]);
        const char *why = NULL;
        bool ok = json_input_name(item, &why);
        cJSON_Delete(item);
        if (!ok) {
            fail_msg("rejected name #%zu: %s", i, why);
        }
    }
}

static void test_waste_code_valid(void **state)
{
    (void)state;
    struct {
        const char *code;
        bool valid;
    } cases[] = {
        {"bio", true},
        {"glass", true},
        {"plastic", true},
        {"a", true},
        {"z", true},
        {"e_waste", true},
        {"a1", true},
        {"a_", true},
        {"a__9", true},
        {"abcdefghijklmnopqrstuvwxyz_01234", true},   /* 32 */
        {"abcdefghijklmnopqrstuvwxyz_012345", false}, /* 33 */
        {"", false},
        {"1a", false},
        {"_a", false},
        {"Bio", false},
        {"bIo", false},
        {"a-b", false},
        {"a b", false},
        {"a.b", false},
        {" a", false},
        {"a ", false},
        {"a\n", false},
        {"\xd0\xb6", false},
        {"a\xd0\xb6", false},
        {"{code}", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (waste_code_valid(cases[i].code) != cases[i].valid) {
            fail_msg("waste_code_valid(\"%s\") should be %d", cases[i].code, cases[i].valid);
        }
    }
}

/* utf8_length: text, characters. */
static const struct {
    const char *text;
    size_t characters;
} lengths[] = {
    {"", 0},
    {"abc", 3},
    {"\xd0\xb6\xd0\xb6", 2},
    {"\xe2\x82\xac", 1},
    {"\xf0\x9f\x98\x80", 1},
    {"a\xd0\xb6\xe2\x82\xac\xf0\x9f\x98\x80z", 5},
};

/* utf8_valid: bytes, length, valid. */
static const struct {
    const char *bytes;
    size_t length;
    bool valid;
} sequences[] = {
    {"", 0, true},
    {"abc", 3, true},
    {"a\0b", 3, true}, /* NUL is valid UTF-8; the parser refuses it */
    {"\xd0\xb6", 2, true},
    {"\xf4\x8f\xbf\xbf", 4, true},
    /* A valid sequence cut by len. */
    {"\xd0\xb6", 1, false},
    {"\xe2\x82\xac", 2, false},
    {"\xe2\x82\xac", 1, false},
    {"\xf0\x9f\x98\x80", 3, false},
    {"ab\xf0\x9f\x98\x80", 4, false},
    /* The bytes before the cut are fine on their own. */
    {"ab\xf0\x9f\x98\x80", 2, true},
    {"\xc0\x80", 2, false},
    {"\xed\xa0\x80", 3, false},
    {"\xff", 1, false},
    {"\x80", 1, false},
    {"\xf4\x90\x80\x80", 4, false},
};

static void test_utf8_helpers(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(lengths); i++) {
        CHECK(utf8_length(lengths[i].text) == lengths[i].characters, "utf8_length of case %zu", i);
    }
    for (size_t i = 0; i < COUNT(sequences); i++) {
        CHECK(utf8_valid(sequences[i].bytes, sequences[i].length) == sequences[i].valid,
              "utf8_valid of case %zu should be %d", i, sequences[i].valid);
    }
}

static void test_field_errors(void **state)
{
    (void)state;
    field_errors errors = {0};
    cJSON *json = field_errors_to_json(&errors);
    assert_printed(json, "[]");
    cJSON_Delete(json);

    field_errors_add(&errors, "name", "must be 1 to 200 characters");
    field_errors_add2(&errors, "capacity", "glass", "must be an integer from 0 to 1000000000000");
    field_errors_add(&errors, "", "must be a JSON object");
    field_errors_add(&errors, "waste.plastic", "say \"hi\" \\ \xd0\xb6");
    assert_int_equal(errors.count, 4);
    assert_string_equal(errors.items[1].field, "capacity.glass");
    field_errors top = {0};
    field_errors_add2(&top, "", "glass", "m"); /* a top-level member: no leading dot */
    assert_string_equal(top.items[0].field, "glass");
    json = field_errors_to_json(&errors);
    assert_printed(json, "[{\"field\":\"name\",\"message\":\"must be 1 to 200 characters\"},"
                         "{\"field\":\"capacity.glass\",\"message\":\"must be an integer from 0 "
                         "to 1000000000000\"},"
                         "{\"field\":\"\",\"message\":\"must be a JSON object\"},"
                         "{\"field\":\"waste.plastic\",\"message\":\"say \\\"hi\\\" \\\\ "
                         "\xd0\xb6\"}]");
    cJSON_Delete(json);
}

static void test_field_errors_limits(void **state)
{
    (void)state;
    field_errors errors = {0};
    char long_key[300];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    /* add2 keeps at most 64 characters of the key. */
    field_errors_add2(&errors, "waste", long_key, "m");
    assert_int_equal(strlen(errors.items[0].field), 6 + 64);
    assert_memory_equal(errors.items[0].field, "waste.kkkk", 10);
    /* Fields and messages are cut to their buffers, NUL-terminated. */
    field_errors_add(&errors, long_key, long_key);
    assert_int_equal(strlen(errors.items[1].field), 127);
    assert_int_equal(strlen(errors.items[1].message), 191);
    /* At most 16 errors are kept; more are dropped without overflowing. */
    for (int i = 0; i < 20; i++) {
        char field[16];
        snprintf(field, sizeof field, "f%d", i);
        field_errors_add(&errors, field, "x");
    }
    assert_int_equal(errors.count, 16);
    assert_string_equal(errors.items[15].field, "f13");
    cJSON *json = field_errors_to_json(&errors);
    assert_int_equal(cJSON_GetArraySize(json), 16);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(json, 15), "field")->valuestring,
        "f13");
    cJSON_Delete(json);
}

/* An object of count members "m0000".."m<count-1>", member dup_at named as member dup_of
 * (-1: none). Caller frees. */
static char *object_of(int count, int dup_at, int dup_of)
{
    char *text = malloc((size_t)count * 12 + 3);
    assert_non_null(text);
    size_t used = 0;
    text[used++] = '{';
    for (int i = 0; i < count; i++) {
        used +=
            (size_t)sprintf(text + used, "%s\"m%04d\":1", i ? "," : "", i == dup_at ? dup_of : i);
    }
    text[used++] = '}';
    text[used] = '\0';
    return text;
}

static void test_parse_member_limit(void **state)
{
    (void)state;
    char *thousand = object_of(1000, -1, -1);
    cJSON *root = parse_ok(thousand);
    assert_int_equal(cJSON_GetArraySize(root), 1000);
    cJSON_Delete(root);
    char *more = object_of(1001, -1, -1);
    reject(more, "an object has more than 1000 members");
    /* Nested too, and however many more. */
    char *nested = malloc(strlen(more) + 16);
    assert_non_null(nested);
    sprintf(nested, "[{\"a\":%s}]", more);
    reject(nested, "an object has more than 1000 members");
    char *many = object_of(5000, -1, -1);
    reject(many, "an object has more than 1000 members");
    /* Arrays are not objects: 5,000 elements are fine. */
    char *array = malloc(5000 * 2 + 3);
    assert_non_null(array);
    size_t used = 0;
    array[used++] = '[';
    for (int i = 0; i < 5000; i++) {
        used += (size_t)sprintf(array + used, "%s1", i ? "," : "");
    }
    strcpy(array + used, "]");
    root = parse_ok(array);
    assert_int_equal(cJSON_GetArraySize(root), 5000);
    cJSON_Delete(root);
    free(thousand);
    free(more);
    free(nested);
    free(many);
    free(array);
}

static void test_parse_duplicates_in_large_objects(void **state)
{
    (void)state;
    static const int cases[][2] = {{999, 0}, {600, 400}, {999, 998}, {1, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = object_of(1000, cases[i][0], cases[i][1]);
        char expected[32];
        snprintf(expected, sizeof expected, "duplicate key \"m%04d\"", cases[i][1]);
        reject(text, expected);
        free(text);
    }
}

/* A field named after a long key is cut between characters, never inside one. */
static void test_field_cut_between_characters(void **state)
{
    (void)state;
    char key[1 + 150 * 2 + 1] = "a";
    for (int i = 0; i < 150; i++) {
        memcpy(key + 1 + 2 * i, "\xd0\xb6", 2); /* byte 64 falls inside the 32nd */
    }
    key[sizeof key - 1] = '\0';
    field_errors errors = {0};
    field_errors_add2(&errors, "capacity", key, "m");
    char expected[128];
    snprintf(expected, sizeof expected, "capacity.%.63s", key);
    assert_string_equal(errors.items[0].field, expected);
    /* Three-byte characters: 64 = 21 * 3 + 1. */
    char euros[3 * 40 + 1] = "";
    for (int i = 0; i < 40; i++) {
        strcat(euros, "\xe2\x82\xac");
    }
    field_errors_add2(&errors, "", euros, "m");
    assert_int_equal(strlen(errors.items[1].field), 63);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_parse_accepts_values_and_whitespace),
                cmocka_unit_test(test_parse_empty_body_is_empty_object),
                cmocka_unit_test(test_parse_honours_length),
                cmocka_unit_test(test_parse_rejects_trailing_data),
                cmocka_unit_test(test_parse_rejects_truncated_and_malformed),
                cmocka_unit_test(test_parse_rejects_invalid_utf8),
                cmocka_unit_test(test_parse_accepts_valid_utf8),
                cmocka_unit_test(test_parse_rejects_nul),
                cmocka_unit_test(test_parse_accepts_escaped_backslash_u0000),
                cmocka_unit_test(test_parse_nesting_limit),
                cmocka_unit_test(test_parse_member_limit),
                cmocka_unit_test(test_parse_duplicates_in_large_objects),
                cmocka_unit_test(test_field_cut_between_characters),
                cmocka_unit_test(test_parse_nesting_32_with_scalar_leaf),
                cmocka_unit_test(test_parse_rejects_non_rfc8259_syntax),
                cmocka_unit_test(test_parse_rejects_duplicate_keys),
                cmocka_unit_test(test_parse_rejects_lone_surrogate_escape),
                cmocka_unit_test(test_parse_short_why_buffer),
                cmocka_unit_test(test_quantity),
                cmocka_unit_test(test_name),
                cmocka_unit_test(test_name_rejects_c1_controls),
                cmocka_unit_test(test_waste_code_valid),
                cmocka_unit_test(test_utf8_helpers),
                cmocka_unit_test(test_field_errors),
                cmocka_unit_test(test_field_errors_limits),
            })
