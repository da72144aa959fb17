/* Trusted proxies and the addresses they forward (see client_address.h). */
#include "util/client_address.h"

#include "util/mem.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    int family; /* 4 or 6 */
    uint8_t bytes[16];
} ip_address;

/* Numeric text of len bytes to an address; an IPv4-mapped IPv6 address becomes IPv4. */
static bool parse_ip(const char *text, size_t len, ip_address *out)
{
    char buf[CLIENT_ADDRESS_MAX];
    if (len == 0 || len >= sizeof buf) {
        return false;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, out->bytes) == 1) {
        out->family = 4;
        return true;
    }
    if (inet_pton(AF_INET6, buf, out->bytes) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(out->bytes, mapped, sizeof mapped) == 0) {
            memmove(out->bytes, out->bytes + 12, 4);
            out->family = 4;
        } else {
            out->family = 6;
        }
        return true;
    }
    return false;
}

static void format_ip(const ip_address *address, char out[CLIENT_ADDRESS_MAX])
{
    if (inet_ntop(address->family == 4 ? AF_INET : AF_INET6, address->bytes, out,
                  CLIENT_ADDRESS_MAX) == NULL) {
        out[0] = '\0';
    }
}

static bool in_range(const address_range *range, const ip_address *address)
{
    if (range->family != address->family) {
        return false;
    }
    int whole = range->prefix / 8, rest = range->prefix % 8;
    if (memcmp(range->bytes, address->bytes, (size_t)whole) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (range->bytes[whole] & mask) == (address->bytes[whole] & mask);
}

static bool trusted(const proxy_list *list, const ip_address *address)
{
    for (size_t i = 0; list != NULL && i < list->count; i++) {
        if (in_range(&list->ranges[i], address)) {
            return true;
        }
    }
    return false;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* One CIDR of len bytes, trimmed. */
static bool parse_range(const char *text, size_t len, address_range *out)
{
    const char *slash = memchr(text, '/', len);
    size_t address_len = slash != NULL ? (size_t)(slash - text) : len;
    ip_address address;
    if (!parse_ip(text, address_len, &address)) {
        return false;
    }
    bool was_mapped = address.family == 4 && memchr(text, ':', address_len) != NULL;
    int max = address.family == 4 ? 32 : 128;
    int prefix = max;
    if (slash != NULL) {
        const char *digits = slash + 1;
        size_t digits_len = len - address_len - 1;
        if (digits_len == 0 || digits_len > 3) {
            return false;
        }
        prefix = 0;
        for (size_t i = 0; i < digits_len; i++) {
            if (!isdigit((unsigned char)digits[i])) {
                return false;
            }
            prefix = prefix * 10 + (digits[i] - '0');
        }
        if (was_mapped) {
            /* ::ffff:10.0.0.0/104 is 10.0.0.0/8. */
            if (prefix < 96) {
                return false;
            }
            prefix -= 96;
        }
        if (prefix > max) {
            return false;
        }
    }
    out->family = address.family;
    memset(out->bytes, 0, sizeof out->bytes);
    memcpy(out->bytes, address.bytes, address.family == 4 ? 4 : 16);
    out->prefix = prefix;
    /* The network: host bits cleared, so 10.1.2.3/8 means 10.0.0.0/8. */
    for (int bit = prefix; bit < max; bit++) {
        out->bytes[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
    }
    return true;
}

int proxy_list_parse(const char *text, proxy_list *list, char *error, size_t error_size)
{
    *list = (proxy_list){0};
    if (text == NULL) {
        return 0;
    }
    size_t capacity = 1;
    for (const char *p = text; *p != '\0'; p++) {
        capacity += *p == ',';
    }
    address_range *ranges = xcalloc(capacity, sizeof *ranges);
    size_t count = 0;
    for (const char *p = text; *p != '\0';) {
        size_t len = strcspn(p, ",");
        const char *start = p, *end = p + len;
        while (start < end && is_space(*start)) {
            start++;
        }
        while (end > start && is_space(end[-1])) {
            end--;
        }
        if (end > start) {
            if (!parse_range(start, (size_t)(end - start), &ranges[count])) {
                snprintf(error, error_size,
                         "WASTEFLOW_TRUSTED_PROXIES: \"%.*s\" is not an IPv4 or IPv6 address or "
                         "CIDR (address/prefix)",
                         (int)(end - start < 64 ? end - start : 64), start);
                free(ranges);
                return -1;
            }
            count++;
        }
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    if (count == 0) {
        free(ranges);
        return 0;
    }
    list->ranges = ranges;
    list->count = count;
    return 0;
}

void proxy_list_free(proxy_list *list)
{
    free(list->ranges);
    *list = (proxy_list){0};
}

bool proxy_list_contains(const proxy_list *list, const char *address)
{
    ip_address parsed;
    return parse_ip(address, strlen(address), &parsed) && trusted(list, &parsed);
}

/* An address as a header writes it: IPv4, IPv6, either with a port ("192.0.2.1:80",
 * "[2001:db8::1]:80"), IPv6 in brackets. */
static bool parse_node(const char *text, size_t len, ip_address *out)
{
    if (len > 0 && text[0] == '[') {
        const char *close = memchr(text, ']', len);
        if (close == NULL) {
            return false;
        }
        size_t after = len - (size_t)(close + 1 - text);
        if (after > 0) {
            /* Only a port may follow. */
            const char *port = close + 1;
            if (port[0] != ':' || after == 1) {
                return false;
            }
            for (size_t i = 1; i < after; i++) {
                if (!isdigit((unsigned char)port[i])) {
                    return false;
                }
            }
        }
        return parse_ip(text + 1, (size_t)(close - text - 1), out) && out->family == 6;
    }
    if (parse_ip(text, len, out)) {
        return true;
    }
    /* IPv4 with a port. */
    const char *colon = memchr(text, ':', len);
    if (colon == NULL || memchr(colon + 1, ':', len - (size_t)(colon + 1 - text)) != NULL ||
        colon + 1 == text + len) {
        return false;
    }
    for (const char *d = colon + 1; d < text + len; d++) {
        if (!isdigit((unsigned char)*d)) {
            return false;
        }
    }
    return parse_ip(text, (size_t)(colon - text), out) && out->family == 4;
}

/* The for= value of one Forwarded element (pairs separated by ';'), quotes removed, into
 * value; false when it has none or is malformed. */
static bool forwarded_for(const char *element, size_t len, char *value, size_t value_size)
{
    const char *end = element + len;
    bool found = false;
    for (const char *p = element; p < end;) {
        while (p < end && is_space(*p)) {
            p++;
        }
        const char *equals = memchr(p, '=', (size_t)(end - p));
        if (equals == NULL) {
            return false;
        }
        const char *name_end = equals;
        while (name_end > p && is_space(name_end[-1])) {
            name_end--;
        }
        bool is_for = name_end - p == 3 && strncasecmp(p, "for", 3) == 0;
        const char *v = equals + 1;
        const char *v_end;
        size_t out_len = 0;
        if (v < end && *v == '"') {
            /* quoted-string: backslash escapes a character. */
            v++;
            bool closed = false;
            for (; v < end; v++) {
                if (*v == '\\' && v + 1 < end) {
                    v++;
                } else if (*v == '"') {
                    closed = true;
                    break;
                }
                if (is_for && out_len + 1 < value_size) {
                    value[out_len++] = *v;
                } else if (is_for) {
                    return false;
                }
            }
            if (!closed) {
                return false;
            }
            v_end = v + 1;
        } else {
            v_end = v;
            while (v_end < end && *v_end != ';' && !is_space(*v_end)) {
                v_end++;
            }
            if (v_end == v) {
                return false;
            }
            if (is_for) {
                if ((size_t)(v_end - v) + 1 > value_size) {
                    return false;
                }
                memcpy(value, v, (size_t)(v_end - v));
                out_len = (size_t)(v_end - v);
            }
        }
        if (is_for) {
            if (found) {
                return false; /* two for= in one element */
            }
            found = true;
            value[out_len] = '\0';
        }
        p = v_end;
        while (p < end && is_space(*p)) {
            p++;
        }
        if (p < end) {
            if (*p != ';') {
                return false;
            }
            p++;
        }
    }
    return found;
}

/* The elements of a comma-separated header, right to left: the client as described above;
 * false when the header is malformed or names what cannot be used. */
static bool walk(const proxy_list *list, const char *header, bool is_forwarded, ip_address *client)
{
    size_t end = strlen(header);
    for (;;) {
        size_t start = end;
        bool quoted = false;
        /* Commas inside a quoted string do not split (Forwarded). */
        while (start > 0 && (header[start - 1] != ',' || quoted)) {
            if (is_forwarded && header[start - 1] == '"') {
                quoted = !quoted;
            }
            start--;
        }
        const char *element = header + start;
        size_t element_len = end - start;
        while (element_len > 0 && is_space(*element)) {
            element++;
            element_len--;
        }
        while (element_len > 0 && is_space(element[element_len - 1])) {
            element_len--;
        }
        if (element_len == 0) {
            return false;
        }
        ip_address address;
        if (is_forwarded) {
            char value[CLIENT_ADDRESS_MAX + 8];
            if (!forwarded_for(element, element_len, value, sizeof value) ||
                !parse_node(value, strlen(value), &address)) {
                return false;
            }
        } else if (!parse_node(element, element_len, &address)) {
            return false;
        }
        *client = address;
        if (!trusted(list, &address)) {
            return true;
        }
        if (start == 0) {
            return true; /* every one a trusted proxy: the leftmost */
        }
        end = start - 1;
    }
}

static bool present(const char *header)
{
    if (header == NULL) {
        return false;
    }
    while (is_space(*header)) {
        header++;
    }
    return *header != '\0';
}

bool client_address_resolve(const proxy_list *list, const char *peer, const char *forwarded,
                            const char *x_forwarded_for, char out[CLIENT_ADDRESS_MAX])
{
    ip_address peer_address, client;
    if (!parse_ip(peer, strlen(peer), &peer_address)) {
        snprintf(out, CLIENT_ADDRESS_MAX, "%s", peer);
        return false;
    }
    if (trusted(list, &peer_address)) {
        bool resolved = present(forwarded)         ? walk(list, forwarded, true, &client)
                        : present(x_forwarded_for) ? walk(list, x_forwarded_for, false, &client)
                                                   : false;
        if (resolved) {
            format_ip(&client, out);
            return true;
        }
    }
    format_ip(&peer_address, out);
    return false;
}
