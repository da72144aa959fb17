/* The request-head scanner of the connection guard (connections.c): it reads the bytes of a
 * connection as they arrive, before evhttp parses them, just far enough to learn how big the
 * body will be, so that a body over the limit is refused before it is read — evhttp reads
 * any declared body into memory before anyone may look at it.
 *
 * It looks at a head's first line (kept for the log line), its Content-Length and
 * Transfer-Encoding: chunked fields, and, for a chunked body, the sizes of its chunks. It
 * decides nothing else about a request: evhttp parses the request itself and refuses
 * malformed ones; when the scanner cannot follow the bytes (broken chunk framing) it steps
 * aside (HEAD_SCAN_OFF) and evhttp's own limit applies.
 *
 * Pure: no I/O, no allocation, no clock; bytes in, a state out. Lines longer than
 * HEAD_SCAN_LINE_MAX - 1 bytes are cut (none of the fields it reads needs more). */
#ifndef WF_HTTP_HEAD_SCAN_H
#define WF_HTTP_HEAD_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEAD_SCAN_LINE_MAX 128

typedef enum {
    HEAD_SCAN_START,     /* between requests: the next byte starts a head */
    HEAD_SCAN_LINE,      /* inside a head */
    HEAD_SCAN_CHUNKS,    /* inside a chunked body: its size is counted */
    HEAD_SCAN_WAIT,      /* the head (and a chunked body) is read: nothing more to see */
    HEAD_SCAN_OFF,       /* not followed (pipelined or broken framing): evhttp's limit */
    HEAD_SCAN_OVERSIZED, /* the body is over the limit: the caller refuses the request */
} head_scan_state;

typedef enum { CHUNK_SIZE, CHUNK_DATA, CHUNK_DATA_END, CHUNK_TRAILER } head_scan_chunk;

typedef struct {
    head_scan_state state;
    int64_t max_body; /* the limit of the request being read */
    /* The limit of a request by its first line (NULL: default_max for every request). */
    int64_t (*limit_of)(const char *request_line);
    int64_t default_max;
    char request_line[HEAD_SCAN_LINE_MAX]; /* the head's first line, cut */
    /* The declared Content-Length (the largest, when several are sent), or the sum of the
     * chunks so far; when over the limit, what made it so (a single chunk over the limit
     * counts as max_body + 1). */
    int64_t content_length;
    /* The scanner's own place in the bytes. */
    bool first_line;
    bool chunked;
    head_scan_chunk chunk;
    int64_t chunk_left; /* bytes of the current chunk's data still to come */
    char line[HEAD_SCAN_LINE_MAX];
    size_t line_len;
} head_scan;

/* A scanner between requests, for bodies of at most max_body bytes. */
void head_scan_init(head_scan *scan, int64_t max_body);

/* From the next request on, each request's limit is limit_of(its first line) (a pure
 * function of the line: the scanner stays pure). */
void head_scan_limit_by(head_scan *scan, int64_t (*limit_of)(const char *request_line));

/* Reads n more bytes of the connection; returns the state after them. Bytes fed in a state
 * past HEAD_SCAN_CHUNKS are ignored: the caller sets the state again (HEAD_SCAN_START for
 * the next request, HEAD_SCAN_OFF to stop following) when it knows where the connection
 * stands. */
head_scan_state head_scan_feed(head_scan *scan, const char *bytes, size_t n);

/* Whether the scanner still reads bytes (it is in a head or a chunked body, or before one). */
static inline bool head_scan_reading(const head_scan *scan)
{
    return scan->state <= HEAD_SCAN_CHUNKS;
}

#endif
