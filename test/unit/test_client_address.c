/* Unit tests of util/client_address: the trusted proxies' CIDRs (parsing, errors, matching
 * IPv4, IPv6 and IPv4-mapped addresses at prefix boundaries) and the client address a request
 * resolves to from Forwarded and X-Forwarded-For, with exact values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "runner.h"
#include "util/client_address.h"

static proxy_list parsed(const char *text)
{
    proxy_list list;
    char error[256] = "";
    if (proxy_list_parse(text, &list, error, sizeof error) != 0) {
        fail_msg("%s: %s", text, error);
    }
    return list;
}

static void test_parse_and_match(void **state)
{
    (void)state;
    proxy_list list = parsed(" 10.0.0.0/8 , 192.168.1.7,2001:db8:aa::/48, ::ffff:172.16.0.0/108 ");
    assert_int_equal(list.count, 4);
    assert_true(proxy_list_contains(&list, "10.0.0.1"));
    assert_true(proxy_list_contains(&list, "10.255.255.255"));
    assert_false(proxy_list_contains(&list, "11.0.0.0"));
    assert_true(proxy_list_contains(&list, "192.168.1.7"));
    assert_false(proxy_list_contains(&list, "192.168.1.8"));
    assert_true(proxy_list_contains(&list, "2001:db8:aa:ffff::1"));
    assert_false(proxy_list_contains(&list, "2001:db8:ab::1"));
    /* ::ffff:172.16.0.0/108 is 172.16.0.0/12; a mapped address matches as IPv4. */
    assert_true(proxy_list_contains(&list, "172.31.255.1"));
    assert_false(proxy_list_contains(&list, "172.32.0.1"));
    assert_true(proxy_list_contains(&list, "::ffff:10.1.2.3"));
    assert_false(proxy_list_contains(&list, "not an address"));
    proxy_list_free(&list);

    /* Host bits are cleared; /0 matches every address of its family. */
    list = parsed("10.1.2.3/8,::/0");
    assert_true(proxy_list_contains(&list, "10.9.9.9"));
    assert_true(proxy_list_contains(&list, "fe80::1"));
    assert_false(proxy_list_contains(&list, "9.0.0.1"));
    proxy_list_free(&list);

    list = parsed("");
    assert_int_equal(list.count, 0);
    assert_false(proxy_list_contains(&list, "127.0.0.1"));
    proxy_list_free(&list);

    list = parsed(" , ");
    assert_int_equal(list.count, 0);
    proxy_list_free(&list);
}

static void test_parse_errors(void **state)
{
    (void)state;
    const char *bad[] = {"10.0.0.0/33", "2001:db8::/129", "10.0.0.0/",          "10.0.0.0/x",
                         "localhost",   "10.0.0.0/8/8",   "::ffff:10.0.0.0/95", "10.0.0.256"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        proxy_list list;
        char error[256] = "";
        assert_int_equal(proxy_list_parse(bad[i], &list, error, sizeof error), -1);
        assert_int_equal(list.count, 0);
        assert_non_null(strstr(error, "WASTEFLOW_TRUSTED_PROXIES"));
        assert_non_null(strstr(error, bad[i]));
    }
}

/* resolve, asserting the address and whether it came from a header. */
static void expect(const proxy_list *list, const char *peer, const char *forwarded, const char *xff,
                   const char *address, bool from_header)
{
    char out[CLIENT_ADDRESS_MAX];
    bool header = client_address_resolve(list, peer, forwarded, xff, out);
    if (strcmp(out, address) != 0 || header != from_header) {
        fail_msg("peer %s, Forwarded %s, X-Forwarded-For %s: got %s (%s), want %s (%s)", peer,
                 forwarded ? forwarded : "-", xff ? xff : "-", out, header ? "header" : "peer",
                 address, from_header ? "header" : "peer");
    }
}

static void test_x_forwarded_for(void **state)
{
    (void)state;
    proxy_list list = parsed("127.0.0.1,10.0.0.0/8");
    expect(&list, "127.0.0.1", NULL, "203.0.113.7", "203.0.113.7", true);
    /* The rightmost address that is not a trusted proxy. */
    expect(&list, "127.0.0.1", NULL, "198.51.100.1, 203.0.113.7, 10.0.0.5", "203.0.113.7", true);
    expect(&list, "127.0.0.1", NULL, "198.51.100.1,203.0.113.7", "203.0.113.7", true);
    /* All trusted: the leftmost. */
    expect(&list, "127.0.0.1", NULL, "10.0.0.9, 10.0.0.5", "10.0.0.9", true);
    /* Ports, brackets, a mapped address. */
    expect(&list, "127.0.0.1", NULL, "203.0.113.7:5000", "203.0.113.7", true);
    expect(&list, "127.0.0.1", NULL, "[2001:db8::1]:443", "2001:db8::1", true);
    expect(&list, "127.0.0.1", NULL, "2001:DB8:0::1", "2001:db8::1", true);
    expect(&list, "127.0.0.1", NULL, "::ffff:203.0.113.9", "203.0.113.9", true);
    /* Malformed: the peer. */
    expect(&list, "127.0.0.1", NULL, "garbage", "127.0.0.1", false);
    expect(&list, "127.0.0.1", NULL, "203.0.113.7,", "127.0.0.1", false);
    expect(&list, "127.0.0.1", NULL, ",10.0.0.5", "127.0.0.1", false);
    expect(&list, "127.0.0.1", NULL, "203.0.113.7,,10.0.0.1", "127.0.0.1", false);
    expect(&list, "127.0.0.1", NULL, "203.0.113.7:", "127.0.0.1", false);
    expect(&list, "127.0.0.1", NULL, "[2001:db8::1", "127.0.0.1", false);
    expect(&list, "127.0.0.1", NULL, "[203.0.113.7]", "127.0.0.1", false);
    /* A malformed element left of the client is never reached. */
    expect(&list, "127.0.0.1", NULL, "garbage, 203.0.113.7", "203.0.113.7", true);
    expect(&list, "127.0.0.1", NULL, ",203.0.113.7", "203.0.113.7", true);
    expect(&list, "127.0.0.1", NULL, "   ", "127.0.0.1", false);
    expect(&list, "127.0.0.1", NULL, NULL, "127.0.0.1", false);
    /* An untrusted peer's header is ignored. */
    expect(&list, "192.0.2.1", NULL, "203.0.113.7", "192.0.2.1", false);
    expect(&list, "::ffff:192.0.2.1", NULL, "203.0.113.7", "192.0.2.1", false);
    proxy_list_free(&list);
}

static void test_forwarded(void **state)
{
    (void)state;
    proxy_list list = parsed("127.0.0.1,10.0.0.0/8");
    expect(&list, "127.0.0.1", "for=192.0.2.60;proto=http;by=203.0.113.43", NULL, "192.0.2.60",
           true);
    expect(&list, "127.0.0.1", "for=\"[2001:db8:cafe::17]:4711\"", NULL, "2001:db8:cafe::17", true);
    expect(&list, "127.0.0.1", "For=\"192.0.2.43:47011\", for=10.0.0.3", NULL, "192.0.2.43", true);
    expect(&list, "127.0.0.1", "for=192.0.2.43, for=198.51.100.17;by=10.0.0.1", NULL,
           "198.51.100.17", true);
    /* Forwarded wins over X-Forwarded-For. */
    expect(&list, "127.0.0.1", "for=192.0.2.60", "203.0.113.7", "192.0.2.60", true);
    /* Unknown, obfuscated, missing, doubled or broken: the peer. */
    expect(&list, "127.0.0.1", "for=unknown", NULL, "127.0.0.1", false);
    expect(&list, "127.0.0.1", "for=_hidden", NULL, "127.0.0.1", false);
    expect(&list, "127.0.0.1", "proto=https", NULL, "127.0.0.1", false);
    expect(&list, "127.0.0.1", "for=192.0.2.1;for=192.0.2.2", NULL, "127.0.0.1", false);
    expect(&list, "127.0.0.1", "for=\"192.0.2.1", NULL, "127.0.0.1", false);
    expect(&list, "127.0.0.1", "for=2001:db8::1", NULL, "2001:db8::1", true);
    expect(&list, "127.0.0.1", "for", NULL, "127.0.0.1", false);
    /* Not from a trusted proxy: ignored. */
    expect(&list, "198.51.100.5", "for=192.0.2.60", NULL, "198.51.100.5", false);
    proxy_list_free(&list);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_parse_and_match),
                cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_x_forwarded_for),
                cmocka_unit_test(test_forwarded),
            })
