/* Unit tests of util/net_class: every class of IPv4 and IPv6 address the webhook guard
 * refuses, the edges of each block, and IPv6 forms that carry an IPv4 address. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "check.h"
#include "runner.h"
#include "util/net_class.h"

static net_class classify(const char *text)
{
    net_class c = (net_class)-1;
    assert_true(net_class_literal(text, &c));
    return c;
}

/* Every class of address, the edges of each block, and literals in the forms the guard reads. */
static const struct {
    const char *text;
    net_class want;
} literals[] = {
    /* IPv4. */
    {"0.0.0.0", NET_UNSPECIFIED},
    {"0.255.255.255", NET_UNSPECIFIED},
    {"127.0.0.1", NET_LOOPBACK},
    {"127.255.255.254", NET_LOOPBACK},
    {"10.0.0.1", NET_PRIVATE},
    {"10.255.255.255", NET_PRIVATE},
    {"172.16.0.1", NET_PRIVATE},
    {"172.31.255.255", NET_PRIVATE},
    {"172.15.255.255", NET_PUBLIC},
    {"172.32.0.0", NET_PUBLIC},
    {"192.168.1.1", NET_PRIVATE},
    {"192.169.0.1", NET_PUBLIC},
    {"100.64.0.1", NET_PRIVATE},
    {"100.127.255.255", NET_PRIVATE},
    {"100.128.0.0", NET_PUBLIC},
    {"100.63.255.255", NET_PUBLIC},
    {"169.254.169.254", NET_LINK_LOCAL},
    {"169.253.0.1", NET_PUBLIC},
    {"224.0.0.1", NET_RESERVED},
    {"240.0.0.1", NET_RESERVED},
    {"255.255.255.255", NET_RESERVED},
    {"192.0.2.10", NET_RESERVED},
    {"198.18.0.1", NET_RESERVED},
    {"198.19.255.255", NET_RESERVED},
    {"198.20.0.0", NET_PUBLIC},
    {"198.51.100.7", NET_RESERVED},
    {"203.0.113.9", NET_RESERVED},
    {"8.8.8.8", NET_PUBLIC},
    {"93.184.216.34", NET_PUBLIC},
    {"223.255.255.255", NET_PUBLIC},
    /* IPv6. */
    {"::", NET_UNSPECIFIED},
    {"[::]", NET_UNSPECIFIED},
    {"::1", NET_LOOPBACK},
    {"[::1]", NET_LOOPBACK},
    {"::2", NET_RESERVED},
    {"::8.8.8.8", NET_RESERVED},
    {"fe80::1", NET_LINK_LOCAL},
    {"febf:ffff::1", NET_LINK_LOCAL},
    {"fec0::1", NET_PRIVATE},
    {"fc00::1", NET_PRIVATE},
    {"fdff:ffff::1", NET_PRIVATE},
    {"fe00::1", NET_RESERVED},
    {"ff02::1", NET_RESERVED},
    {"2001:db8::1", NET_RESERVED},
    {"2001::1", NET_RESERVED},
    {"100::1", NET_RESERVED},
    {"4000::1", NET_RESERVED},
    {"2606:4700:4700::1111", NET_PUBLIC},
    {"2a00:1450:4001::200e", NET_PUBLIC},
    /* IPv6 forms that carry an IPv4 address. */
    {"::ffff:127.0.0.1", NET_LOOPBACK},
    {"::ffff:7f00:1", NET_LOOPBACK},
    {"::ffff:10.1.2.3", NET_PRIVATE},
    {"::ffff:169.254.169.254", NET_LINK_LOCAL},
    {"::ffff:0.0.0.0", NET_UNSPECIFIED},
    {"::ffff:8.8.8.8", NET_PUBLIC},
    {"64:ff9b::127.0.0.1", NET_LOOPBACK},
    {"64:ff9b::8.8.4.4", NET_PUBLIC},
    {"2002:7f00:1::", NET_LOOPBACK},
    {"2002:c0a8:101::1", NET_PRIVATE},
    {"2002:808:808::1", NET_PUBLIC},
};

static void test_literals(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(literals); i++) {
        net_class got = classify(literals[i].text);
        CHECK(got == literals[i].want, "%s: %s, want %s", literals[i].text, net_class_name(got),
              net_class_name(literals[i].want));
    }
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
                cmocka_unit_test(test_literals),
                cmocka_unit_test(test_not_literals),
            })
