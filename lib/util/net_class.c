/* The address classes of net_class.h, after the IANA special-purpose registries (RFC 6890 and
 * its updates). Anything special-purpose that is not plainly loopback, private or link-local
 * counts as reserved: the guard refuses all of them alike. */
#include "util/net_class.h"

#include <arpa/inet.h>
#include <string.h>

net_class net_class_v4(const uint8_t a[4])
{
    if (a[0] == 0) {
        return NET_UNSPECIFIED;
    }
    if (a[0] == 127) {
        return NET_LOOPBACK;
    }
    if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
        (a[0] == 100 && (a[1] & 0xc0) == 64)) {
        return NET_PRIVATE;
    }
    if (a[0] == 169 && a[1] == 254) {
        return NET_LINK_LOCAL;
    }
    if (a[0] >= 224 ||                                            /* multicast, 240/4, broadcast */
        (a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2)) || /* IETF, TEST-NET-1 */
        (a[0] == 192 && a[1] == 88 && a[2] == 99) ||              /* 6to4 relay anycast */
        (a[0] == 198 && (a[1] & 0xfe) == 18) ||                   /* benchmarking */
        (a[0] == 198 && a[1] == 51 && a[2] == 100) ||             /* TEST-NET-2 */
        (a[0] == 203 && a[1] == 0 && a[2] == 113)) {              /* TEST-NET-3 */
        return NET_RESERVED;
    }
    return NET_PUBLIC;
}

static bool all_zero(const uint8_t *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (bytes[i] != 0) {
            return false;
        }
    }
    return true;
}

net_class net_class_v6(const uint8_t a[16])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0) {
        return net_class_v4(a + 12);
    }
    if (a[0] == 0x20 && a[1] == 0x02) {
        return net_class_v4(a + 2);
    }
    if (all_zero(a, 15)) {
        return a[15] == 0 ? NET_UNSPECIFIED : a[15] == 1 ? NET_LOOPBACK : NET_RESERVED;
    }
    if (all_zero(a, 12)) {
        return NET_RESERVED; /* IPv4-compatible (deprecated): not routed */
    }
    if ((a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)) {
        return NET_PRIVATE; /* unique-local fc00::/7, site-local fec0::/10 */
    }
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) {
        return NET_LINK_LOCAL;
    }
    if (a[0] == 0xff ||                                      /* multicast */
        (a[0] == 0x01 && a[1] == 0 && all_zero(a + 2, 6)) || /* discard-only 100::/64 */
        (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) ||    /* documentation */
        (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && (a[3] & 0xfe) == 0)) { /* 2001::/23 */
        return NET_RESERVED;
    }
    if ((a[0] & 0xe0) != 0x20) {
        return NET_RESERVED; /* outside 2000::/3, nothing is globally allocated */
    }
    return NET_PUBLIC;
}

bool net_class_literal(const char *text, net_class *out)
{
    char buffer[64];
    size_t len = strlen(text);
    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        text++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof buffer) {
        return false;
    }
    memcpy(buffer, text, len);
    buffer[len] = '\0';
    uint8_t bytes[16];
    if (inet_pton(AF_INET, buffer, bytes) == 1) {
        *out = net_class_v4(bytes);
        return true;
    }
    if (inet_pton(AF_INET6, buffer, bytes) == 1) {
        *out = net_class_v6(bytes);
        return true;
    }
    return false;
}

const char *net_class_name(net_class c)
{
    switch (c) {
    case NET_PUBLIC:
        return "public";
    case NET_UNSPECIFIED:
        return "unspecified";
    case NET_LOOPBACK:
        return "loopback";
    case NET_PRIVATE:
        return "private";
    case NET_LINK_LOCAL:
        return "link-local";
    case NET_RESERVED:
        return "reserved";
    }
    return "reserved";
}
