/* The request-head scanner (see head_scan.h): a byte-at-a-time state machine over a
 * request's head lines and, for a chunked body, its chunk-size lines; chunk data is
 * skipped in one step. */
#include "http/head_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void head_scan_init(head_scan *scan, int64_t max_body)
{
    memset(scan, 0, sizeof *scan);
    scan->state = HEAD_SCAN_START;
    scan->max_body = max_body;
    scan->default_max = max_body;
}

void head_scan_limit_by(head_scan *scan, int64_t (*limit_of)(const char *request_line))
{
    scan->limit_of = limit_of;
}

/* One complete line of a head (without its CR LF). */
static void head_line(head_scan *scan)
{
    char *line = scan->line;
    line[scan->line_len] = '\0';
    if (scan->first_line) {
        scan->first_line = false;
        snprintf(scan->request_line, sizeof scan->request_line, "%s", line);
        scan->max_body = scan->limit_of != NULL ? scan->limit_of(line) : scan->default_max;
        return;
    }
    if (scan->line_len == 0) {
        /* The end of the head: evhttp decides everything else about the request. */
        scan->state = scan->chunked ? HEAD_SCAN_CHUNKS : HEAD_SCAN_WAIT;
        scan->chunk = CHUNK_SIZE;
        if (scan->chunked) {
            scan->content_length = 0; /* counted from the chunks now */
        }
        if (scan->content_length > scan->max_body) {
            scan->state = HEAD_SCAN_OVERSIZED;
        }
        return;
    }
    if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strcasestr(line, "chunked") != NULL) {
        scan->chunked = true;
    }
    if (strncasecmp(line, "Content-Length:", 15) == 0) {
        /* The largest value counts; conflicting ones are refused later (server.c). */
        char *end = NULL;
        long long value = strtoll(line + 15, &end, 10);
        if (end != line + 15 && value > scan->content_length) {
            scan->content_length = value;
        }
    }
}

/* The end of one line of the chunked framing (a chunk's size, or a trailer). */
static void chunk_line(head_scan *scan)
{
    char *line = scan->line;
    line[scan->line_len] = '\0';
    if (scan->chunk == CHUNK_TRAILER) {
        if (scan->line_len == 0) {
            scan->state = HEAD_SCAN_WAIT; /* the body is complete */
        }
        return;
    }
    char *end = NULL;
    long long size = strtoll(line, &end, 16);
    if (end == line || size < 0 || (*end != '\0' && *end != ';' && *end != ' ')) {
        scan->state = HEAD_SCAN_OFF; /* broken framing: evhttp refuses it */
        return;
    }
    if (size == 0) {
        scan->chunk = CHUNK_TRAILER;
        return;
    }
    if (size > scan->max_body || scan->content_length + size > scan->max_body) {
        /* A chunk over the limit by itself counts as one byte over it: the sum stays over
         * the limit, as the 413 says, and cannot overflow. */
        scan->content_length += size > scan->max_body ? scan->max_body + 1 : size;
        scan->state = HEAD_SCAN_OVERSIZED;
        return;
    }
    scan->content_length += size;
    scan->chunk_left = size;
    scan->chunk = CHUNK_DATA;
}

/* Adds a byte to the line being read, or ends the line at its LF (a CR before it is
 * dropped); longer lines are cut. Returns true at the end of a line. */
static bool line_byte(head_scan *scan, char c)
{
    if (c == '\n') {
        if (scan->line_len > 0 && scan->line[scan->line_len - 1] == '\r') {
            scan->line_len--;
        }
        return true;
    }
    if (scan->line_len + 1 < sizeof scan->line) {
        scan->line[scan->line_len++] = c;
    }
    return false;
}

/* Reads from bytes[*at]: a run of chunk data at once, else one byte of the framing. */
static void chunk_bytes(head_scan *scan, const char *bytes, size_t n, size_t *at)
{
    if (scan->chunk == CHUNK_DATA) {
        size_t take = n - *at < (size_t)scan->chunk_left ? n - *at : (size_t)scan->chunk_left;
        scan->chunk_left -= (int64_t)take;
        *at += take;
        if (scan->chunk_left == 0) {
            scan->chunk = CHUNK_DATA_END;
        }
        return;
    }
    char c = bytes[(*at)++];
    if (scan->chunk == CHUNK_DATA_END) {
        /* The CR LF after a chunk's data. */
        if (c == '\n') {
            scan->chunk = CHUNK_SIZE;
            scan->line_len = 0;
        } else if (c != '\r') {
            scan->state = HEAD_SCAN_OFF;
        }
        return;
    }
    if (line_byte(scan, c)) {
        chunk_line(scan);
        scan->line_len = 0;
    }
}

head_scan_state head_scan_feed(head_scan *scan, const char *bytes, size_t n)
{
    for (size_t at = 0; at < n && head_scan_reading(scan);) {
        if (scan->state == HEAD_SCAN_CHUNKS) {
            chunk_bytes(scan, bytes, n, &at);
            continue;
        }
        char c = bytes[at++];
        if (scan->state == HEAD_SCAN_START) {
            if (c == '\r' || c == '\n') {
                continue; /* blank lines between requests (RFC 9112 2.2) */
            }
            scan->state = HEAD_SCAN_LINE;
            scan->first_line = true;
            scan->line_len = 0;
            scan->content_length = 0;
            scan->chunked = false;
        }
        if (line_byte(scan, c)) {
            head_line(scan);
            scan->line_len = 0;
        }
    }
    return scan->state;
}
