/* The client behind a reverse proxy. A proxy's connection carries its own address, not its
 * client's; the proxy names the client in a Forwarded (RFC 7239) or X-Forwarded-For header,
 * which any client can also write itself. So the header is believed only from a peer whose
 * address is in the operator's list of trusted proxies (CIDRs), and read from its right end:
 * each trusted proxy appends the address it saw, so the rightmost address that is not itself
 * a trusted proxy is the client as far as anyone trusted can tell. Pure: no I/O, no globals. */
#ifndef WF_UTIL_CLIENT_ADDRESS_H
#define WF_UTIL_CLIENT_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for any address's text (INET6_ADDRSTRLEN) and a NUL. */
#define CLIENT_ADDRESS_MAX 64

typedef struct {
    int family;        /* 4 or 6 */
    uint8_t bytes[16]; /* the network (4 bytes for IPv4) */
    int prefix;        /* bits that must match: 0-32 or 0-128 */
} address_range;

typedef struct {
    address_range *ranges;
    size_t count;
} proxy_list;

/* Parses a comma-separated list of CIDRs ("10.0.0.0/8, 2001:db8::/32, 127.0.0.1"; an address
 * without a prefix is that one address; an IPv4-mapped IPv6 range is its IPv4 range) into
 * list (freed with proxy_list_free). Empty text: an empty list (trust no one). Returns 0, or
 * -1 with a message naming the bad entry in error (list then empty). */
int proxy_list_parse(const char *text, proxy_list *list, char *error, size_t error_size)
    __attribute__((warn_unused_result));
void proxy_list_free(proxy_list *list);

/* Whether address (numeric IPv4 or IPv6 text) is in one of the list's ranges. */
bool proxy_list_contains(const proxy_list *list, const char *address);

/* The client address of a request from peer: peer itself unless peer is a trusted proxy;
 * then the rightmost address of forwarded (the Forwarded header's for= parameters, every
 * field of it joined by commas) or, without one, of x_forwarded_for, that is not a trusted
 * proxy (the leftmost when all are). A header that is malformed, or names an address this
 * way cannot use ("unknown", an obfuscated name), gives peer. Either header may be NULL.
 * Writes the address's canonical text (an IPv4-mapped IPv6 address as IPv4) into out; returns
 * true when it came from a header. */
bool client_address_resolve(const proxy_list *list, const char *peer, const char *forwarded,
                            const char *x_forwarded_for, char out[CLIENT_ADDRESS_MAX]);

#endif
