/* Unit tests of util/net_class: every class of IPv4 and IPv6 address the webhook guard
 * refuses, the edges of each block, and IPv6 forms that carry an IPv4 address. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runner.h"
#include "util/net_class.h"

static net_class classify(const char *text)
{
    net_class c = (net_class)-1;
    assert_true(net_class_literal(text, &c));
    return c;
}

static void test_v4_blocks(void **state)
{
    (void)state;
    assert_int_equal(classify("0.0.0.0"), NET_UNSPECIFIED);
    assert_int_equal(classify("0.255.255.255"), NET_UNSPECIFIED);
    assert_int_equal(classify("127.0.0.1"), NET_LOOPBACK);
    assert_int_equal(classify("127.255.255.254"), NET_LOOPBACK);
    assert_int_equal(classify("10.0.0.1"), NET_PRIVATE);
    assert_int_equal(classify("10.255.255.255"), NET_PRIVATE);
    assert_int_equal(classify("172.16.0.1"), NET_PRIVATE);
    assert_int_equal(classify("172.31.255.255"), NET_PRIVATE);
    assert_int_equal(classify("172.15.255.255"), NET_PUBLIC);
    assert_int_equal(classify("172.32.0.0"), NET_PUBLIC);
    assert_int_equal(classify("192.168.1.1"), NET_PRIVATE);
    assert_int_equal(classify("192.169.0.1"), NET_PUBLIC);
    assert_int_equal(classify("100.64.0.1"), NET_PRIVATE);
    assert_int_equal(classify("100.127.255.255"), NET_PRIVATE);
    assert_int_equal(classify("100.128.0.0"), NET_PUBLIC);
    assert_int_equal(classify("100.63.255.255"), NET_PUBLIC);
    assert_int_equal(classify("169.254.169.254"), NET_LINK_LOCAL);
    assert_int_equal(classify("169.253.0.1"), NET_PUBLIC);
    assert_int_equal(classify("224.0.0.1"), NET_RESERVED);
    assert_int_equal(classify("240.0.0.1"), NET_RESERVED);
    assert_int_equal(classify("255.255.255.255"), NET_RESERVED);
    assert_int_equal(classify("192.0.2.10"), NET_RESERVED);
    assert_int_equal(classify("198.18.0.1"), NET_RESERVED);
    assert_int_equal(classify("198.19.255.255"), NET_RESERVED);
    assert_int_equal(classify("198.20.0.0"), NET_PUBLIC);
    assert_int_equal(classify("198.51.100.7"), NET_RESERVED);
    assert_int_equal(classify("203.0.113.9"), NET_RESERVED);
    assert_int_equal(classify("8.8.8.8"), NET_PUBLIC);
    assert_int_equal(classify("93.184.216.34"), NET_PUBLIC);
    assert_int_equal(classify("223.255.255.255"), NET_PUBLIC);
}

static void test_v6_blocks(void **state)
{
    (void)state;
    assert_int_equal(classify("::"), NET_UNSPECIFIED);
    assert_int_equal(classify("[::]"), NET_UNSPECIFIED);
    assert_int_equal(classify("::1"), NET_LOOPBACK);
    assert_int_equal(classify("[::1]"), NET_LOOPBACK);
    assert_int_equal(classify("::2"), NET_RESERVED);
    assert_int_equal(classify("::8.8.8.8"), NET_RESERVED);
    assert_int_equal(classify("fe80::1"), NET_LINK_LOCAL);
    assert_int_equal(classify("febf:ffff::1"), NET_LINK_LOCAL);
    assert_int_equal(classify("fec0::1"), NET_PRIVATE);
    assert_int_equal(classify("fc00::1"), NET_PRIVATE);
    assert_int_equal(classify("fdff:ffff::1"), NET_PRIVATE);
    assert_int_equal(classify("fe00::1"), NET_RESERVED);
    assert_int_equal(classify("ff02::1"), NET_RESERVED);
    assert_int_equal(classify("2001:db8::1"), NET_RESERVED);
    assert_int_equal(classify("2001::1"), NET_RESERVED);
    assert_int_equal(classify("100::1"), NET_RESERVED);
    assert_int_equal(classify("4000::1"), NET_RESERVED);
    assert_int_equal(classify("2606:4700:4700::1111"), NET_PUBLIC);
    assert_int_equal(classify("2a00:1450:4001::200e"), NET_PUBLIC);
}

static void test_v6_carrying_v4(void **state)
{
    (void)state;
    assert_int_equal(classify("::ffff:127.0.0.1"), NET_LOOPBACK);
    assert_int_equal(classify("::ffff:7f00:1"), NET_LOOPBACK);
    assert_int_equal(classify("::ffff:10.1.2.3"), NET_PRIVATE);
    assert_int_equal(classify("::ffff:169.254.169.254"), NET_LINK_LOCAL);
    assert_int_equal(classify("::ffff:0.0.0.0"), NET_UNSPECIFIED);
    assert_int_equal(classify("::ffff:8.8.8.8"), NET_PUBLIC);
    assert_int_equal(classify("64:ff9b::127.0.0.1"), NET_LOOPBACK);
    assert_int_equal(classify("64:ff9b::8.8.4.4"), NET_PUBLIC);
    assert_int_equal(classify("2002:7f00:1::"), NET_LOOPBACK);
    assert_int_equal(classify("2002:c0a8:101::1"), NET_PRIVATE);
    assert_int_equal(classify("2002:808:808::1"), NET_PUBLIC);
}

static void test_not_literals(void **state)
{
    (void)state;
    net_class c;
    assert_false(net_class_literal("localhost", &c));
    assert_false(net_class_literal("example.com", &c));
    assert_false(net_class_literal("", &c));
    assert_false(net_class_literal("[]", &c));
    assert_false(net_class_literal("127.1", &c));
    assert_false(net_class_literal("0x7f.0.0.1", &c));
    assert_false(net_class_literal("fe80::1%eth0", &c));
    assert_string_equal(net_class_name(NET_LINK_LOCAL), "link-local");
    assert_string_equal(net_class_name(NET_PUBLIC), "public");
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_v4_blocks),
                cmocka_unit_test(test_v6_blocks),
                cmocka_unit_test(test_v6_carrying_v4),
                cmocka_unit_test(test_not_literals),
            })
