/* Unit tests of http/head_scan: the declared body size of a head (one, several, none,
 * garbage), chunked bodies counted chunk by chunk and refused once over the limit, the
 * request line kept for the log, bytes fed one at a time giving the same result as all at
 * once, blank lines between requests, cut long lines, and broken chunk framing handed
 * back to evhttp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "http/head_scan.h"
#include "runner.h"

#define LIMIT 65536

static head_scan_state feed_text(head_scan *scan, const char *text)
{
    return head_scan_feed(scan, text, strlen(text));
}

/* The same bytes fed one at a time. */
static head_scan_state feed_bytewise(head_scan *scan, const char *text)
{
    head_scan_state state = scan->state;
    for (size_t i = 0; text[i] != '\0'; i++) {
        state = head_scan_feed(scan, text + i, 1);
    }
    return state;
}

/* A scanner between requests, with the default limit. */
static head_scan fresh_scan(void)
{
    head_scan scan;
    head_scan_init(&scan, LIMIT);
    return scan;
}

/* One request fed whole to a fresh scanner: the state it ends in, its content_length and, unless
 * line is NULL, its request line. */
static void expect_whole(const char *text, head_scan_state state, int64_t content_length,
                         const char *line)
{
    head_scan scan = fresh_scan();
    head_scan_state got = feed_text(&scan, text);
    CHECK(got == state, "%s: state %d, not %d", text, (int)got, (int)state);
    CHECK(scan.content_length == content_length, "%s: content_length %lld, not %lld", text,
          (long long)scan.content_length, (long long)content_length);
    CHECK(line == NULL || strcmp(scan.request_line, line) == 0, "%s: request line \"%s\"", text,
          scan.request_line);
}

static void test_a_declared_body_within_the_limit_waits(void **unused)
{
    head_scan scan = fresh_scan();
    assert_int_equal(scan.state, HEAD_SCAN_START);
    assert_int_equal(feed_text(&scan, "POST /v1/organizations HTTP/1.1\r\nHost: a\r\n"),
                     HEAD_SCAN_LINE);
    assert_int_equal(feed_text(&scan, "Content-Length: 65536\r\n\r\n"), HEAD_SCAN_WAIT);
    assert_int_equal(scan.content_length, 65536);
    assert_string_equal(scan.request_line, "POST /v1/organizations HTTP/1.1");
    /* Once waiting, the body's bytes are not looked at. */
    assert_int_equal(feed_text(&scan, "Content-Length: 99999999\r\n\r\n"), HEAD_SCAN_WAIT);
    assert_int_equal(scan.content_length, 65536);
}

static void test_a_declared_body_over_the_limit_is_oversized(void **unused)
{
    expect_whole("PUT /x HTTP/1.1\r\ncontent-length:   65537\r\n\r\n{", HEAD_SCAN_OVERSIZED, 65537,
                 "PUT /x HTTP/1.1");
}

static void test_the_largest_of_several_lengths_counts(void **unused)
{
    expect_whole("POST /a HTTP/1.1\r\nContent-Length: 10\r\n"
                 "Content-Length: 70000\r\nContent-Length: 5\r\n\r\n",
                 HEAD_SCAN_OVERSIZED, 70000, NULL);
}

static void test_lengths_that_are_not_numbers_count_as_none(void **unused)
{
    expect_whole("POST /a HTTP/1.1\r\nContent-Length: lots\r\nContent-Length: -80000\r\n\r\n",
                 HEAD_SCAN_WAIT, 0, NULL);
    /* The field name must start the line. */
    expect_whole("GET / HTTP/1.1\r\nX-Content-Length: 90000\r\n\r\n", HEAD_SCAN_WAIT, 0, NULL);
}

static void test_bare_line_feeds_end_lines_too(void **unused)
{
    expect_whole("POST /a HTTP/1.1\nContent-Length: 65537\n\n", HEAD_SCAN_OVERSIZED, 65537,
                 "POST /a HTTP/1.1");
}

static void test_blank_lines_before_a_request_are_skipped(void **unused)
{
    head_scan scan = fresh_scan();
    assert_int_equal(feed_text(&scan, "\r\n\r\n\n"), HEAD_SCAN_START);
    assert_int_equal(feed_text(&scan, "GET /healthz HTTP/1.1\r\n\r\n"), HEAD_SCAN_WAIT);
    assert_string_equal(scan.request_line, "GET /healthz HTTP/1.1");
}

static void test_a_new_request_starts_afresh(void **unused)
{
    head_scan scan = fresh_scan();
    assert_int_equal(feed_text(&scan, "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                                      "Content-Length: 65000\r\n\r\n0\r\n\r\n"),
                     HEAD_SCAN_WAIT);
    scan.state = HEAD_SCAN_START; /* its reply was written */
    assert_int_equal(feed_text(&scan, "GET /b HTTP/1.1\r\n\r\n"), HEAD_SCAN_WAIT);
    assert_int_equal(scan.content_length, 0);
    assert_false(scan.chunked);
    assert_string_equal(scan.request_line, "GET /b HTTP/1.1");
}

static void test_chunks_are_summed_until_the_trailer(void **unused)
{
    const char *request = "POST /c HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
                          "a\r\n0123456789\r\n"
                          "10;name=value\r\n0123456789abcdef\r\n"
                          "0\r\nTrailer: x\r\n\r\n";
    head_scan whole, bytewise;
    head_scan_init(&whole, LIMIT);
    head_scan_init(&bytewise, LIMIT);
    assert_int_equal(feed_text(&whole, request), HEAD_SCAN_WAIT);
    assert_int_equal(feed_bytewise(&bytewise, request), HEAD_SCAN_WAIT);
    assert_int_equal(whole.content_length, 26);
    assert_int_equal(bytewise.content_length, 26);
    assert_true(whole.chunked);
}

static void test_chunks_over_the_limit_are_oversized(void **unused)
{
    head_scan scan = fresh_scan();
    /* 0x8000 + 0x8000 is the limit itself; one byte more is over it. */
    const char *head = "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(feed_text(&scan, head), HEAD_SCAN_CHUNKS);
    static char data[0x8000];
    memset(data, 'x', sizeof data);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(feed_text(&scan, "8000\r\n"), HEAD_SCAN_CHUNKS);
        assert_int_equal(head_scan_feed(&scan, data, sizeof data), HEAD_SCAN_CHUNKS);
        assert_int_equal(feed_text(&scan, "\r\n"), HEAD_SCAN_CHUNKS);
    }
    assert_int_equal(scan.content_length, LIMIT);
    assert_int_equal(feed_text(&scan, "1\r\n"), HEAD_SCAN_OVERSIZED);
    assert_int_equal(scan.content_length, LIMIT + 1);
}

static void test_one_huge_chunk_counts_as_one_byte_over_the_limit(void **unused)
{
    expect_whole("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\nffffffffffff\r\n",
                 HEAD_SCAN_OVERSIZED, 5 + LIMIT + 1, NULL);
}

static void test_broken_chunk_framing_is_left_to_evhttp(void **unused)
{
    const char *broken[] = {
        "zz\r\n",     /* not a hex size */
        "-5\r\n",     /* negative */
        "5x\r\n",     /* junk after the size */
        "3\r\nabcXY", /* no CR LF after the data */
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        head_scan scan = fresh_scan();
        feed_text(&scan, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_int_equal(feed_text(&scan, broken[i]), HEAD_SCAN_OFF);
        /* Off stays off: later bytes are not read. */
        assert_int_equal(feed_text(&scan, "ffffffff\r\n"), HEAD_SCAN_OFF);
    }
}

static void test_long_lines_are_cut(void **unused)
{
    head_scan scan = fresh_scan();
    char line[400];
    memset(line, 'p', sizeof line);
    memcpy(line, "GET /", 5);
    assert_int_equal(head_scan_feed(&scan, line, sizeof line), HEAD_SCAN_LINE);
    assert_int_equal(feed_text(&scan, " HTTP/1.1\r\nContent-Length: 70000\r\n\r\n"),
                     HEAD_SCAN_OVERSIZED);
    assert_int_equal(strlen(scan.request_line), HEAD_SCAN_LINE_MAX - 1);
    assert_memory_equal(scan.request_line, "GET /ppp", 8);
    assert_int_equal(scan.content_length, 70000);
}

static void test_bytes_after_a_state_the_caller_owns_are_ignored(void **unused)
{
    head_scan scan = fresh_scan();
    scan.state = HEAD_SCAN_OFF;
    assert_int_equal(feed_text(&scan, "POST /a HTTP/1.1\r\nContent-Length: 70000\r\n\r\n"),
                     HEAD_SCAN_OFF);
    assert_int_equal(scan.content_length, 0);
    assert_string_equal(scan.request_line, "");
}

/* A request's limit by its first line: the batch route gets more, others the default,
 * and the next request on the connection is judged by its own line. */
static int64_t limit_by_line(const char *line)
{
    return strncmp(line, "POST /v1/plans", 14) == 0 ? 4 * LIMIT : LIMIT;
}

static void test_each_request_gets_its_own_limit(void **unused)
{
    (void)unused;
    head_scan scan = fresh_scan();
    head_scan_limit_by(&scan, limit_by_line);
    assert_int_equal(feed_text(&scan, "POST /v1/plans HTTP/1.1\r\nContent-Length: 200000\r\n\r\n"),
                     HEAD_SCAN_WAIT);
    assert_int_equal(scan.max_body, 4 * LIMIT);
    scan.state = HEAD_SCAN_START;
    assert_int_equal(
        feed_text(&scan, "POST /v1/organizations HTTP/1.1\r\nContent-Length: 200000\r\n\r\n"),
        HEAD_SCAN_OVERSIZED);
    assert_int_equal(scan.max_body, LIMIT);
    assert_int_equal(scan.content_length, 200000);
    scan.state = HEAD_SCAN_START;
    assert_int_equal(
        feed_bytewise(&scan, "POST /v1/plans HTTP/1.1\r\nContent-Length: 262145\r\n\r\n"),
        HEAD_SCAN_OVERSIZED);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_a_declared_body_within_the_limit_waits),
                cmocka_unit_test(test_a_declared_body_over_the_limit_is_oversized),
                cmocka_unit_test(test_the_largest_of_several_lengths_counts),
                cmocka_unit_test(test_lengths_that_are_not_numbers_count_as_none),
                cmocka_unit_test(test_bare_line_feeds_end_lines_too),
                cmocka_unit_test(test_blank_lines_before_a_request_are_skipped),
                cmocka_unit_test(test_a_new_request_starts_afresh),
                cmocka_unit_test(test_chunks_are_summed_until_the_trailer),
                cmocka_unit_test(test_chunks_over_the_limit_are_oversized),
                cmocka_unit_test(test_one_huge_chunk_counts_as_one_byte_over_the_limit),
                cmocka_unit_test(test_broken_chunk_framing_is_left_to_evhttp),
                cmocka_unit_test(test_long_lines_are_cut),
                cmocka_unit_test(test_bytes_after_a_state_the_caller_owns_are_ignored),
                cmocka_unit_test(test_each_request_gets_its_own_limit),
            })
