/* Which kind of network an address belongs to, for the webhook sender's guard against
 * server-side request forgery: a URL an admin gives must not make the service talk to itself,
 * its database or anything on its private network. Pure: bytes in, a class out. */
#ifndef WF_UTIL_NET_CLASS_H
#define WF_UTIL_NET_CLASS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    NET_PUBLIC = 0,  /* globally routed: the only class a webhook may reach by default */
    NET_UNSPECIFIED, /* 0.0.0.0/8, :: (connects to this host on most systems) */
    NET_LOOPBACK,    /* 127/8, ::1 */
    NET_PRIVATE,     /* 10/8, 172.16/12, 192.168/16, 100.64/10 (shared CGN), fc00::/7,
                      * fec0::/10 (old site-local) */
    NET_LINK_LOCAL,  /* 169.254/16 (cloud metadata lives there), fe80::/10 */
    NET_RESERVED,    /* multicast, broadcast, documentation, benchmarking, 240/4, ::/96
                      * compatible, and the other special-purpose blocks */
} net_class;

/* Classifies an IPv4 address given as 4 bytes in network order. */
net_class net_class_v4(const uint8_t addr[4]);
/* Classifies an IPv6 address (16 bytes): IPv4-mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96)
 * and 6to4 (2002::/16) addresses are classified by the IPv4 address they carry. */
net_class net_class_v6(const uint8_t addr[16]);
/* Classifies a textual IPv4 or IPv6 address (brackets allowed around IPv6); false when text
 * is not an address literal in the standard dotted-quad or IPv6 form. */
bool net_class_literal(const char *text, net_class *out);
/* A word for logs and problems: "public", "loopback", "private", ... */
const char *net_class_name(net_class c);

#endif
