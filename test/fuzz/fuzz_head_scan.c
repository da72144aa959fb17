/* Fuzzes the request-head scanner with arbitrary connection bytes: it must never crash or
 * read out of bounds, must end in the same state with the same count whether the bytes
 * come all at once or one at a time (a socket splits them anywhere), and must call a body
 * oversized only when its count is over the limit. The first byte picks a small limit so
 * that chunk sums cross it often. */
#include "http/head_scan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    int64_t max_body = data[0] % 2 == 0 ? 65536 : 1 + data[0];
    const char *bytes = (const char *)data + 1;
    size_t n = size - 1;
    head_scan whole, bytewise;
    head_scan_init(&whole, max_body);
    head_scan_init(&bytewise, max_body);
    head_scan_state state = head_scan_feed(&whole, bytes, n);
    for (size_t i = 0; i < n; i++) {
        head_scan_feed(&bytewise, bytes + i, 1);
    }
    if (state != bytewise.state || whole.content_length != bytewise.content_length ||
        strcmp(whole.request_line, bytewise.request_line) != 0) {
        abort();
    }
    if (state == HEAD_SCAN_OVERSIZED && whole.content_length <= max_body) {
        abort();
    }
    if (whole.line_len >= HEAD_SCAN_LINE_MAX ||
        memchr(whole.request_line, '\0', sizeof whole.request_line) == NULL ||
        whole.chunk_left < 0) {
        abort();
    }
    return 0;
}
