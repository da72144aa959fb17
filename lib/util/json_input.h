/* Strict reading of request bodies. cJSON alone is lenient in ways a ledger API must not
 * be: it accepts trailing garbage, keeps the first of duplicate keys, stops at NUL, and
 * does not validate UTF-8. These checks close those gaps before any handler sees input. */
#ifndef WF_UTIL_JSON_INPUT_H
#define WF_UTIL_JSON_INPUT_H

#include "util/utf8.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_INPUT_MAX_DEPTH 32
#define QUANTITY_MAX         1000000000000LL
#define NAME_MAX_CHARS       200

/* Parses body (len bytes, need not be NUL-terminated at len) into a cJSON tree, or returns
 * NULL and writes the reason into why. An empty body parses as an empty object. Rejects:
 * invalid UTF-8, NUL bytes, "\u0000" escapes, anything after the value, nesting deeper
 * than JSON_INPUT_MAX_DEPTH, and objects with duplicate keys. Caller frees the tree. */
cJSON *json_input_parse(const char *body, size_t len, char *why, size_t why_size);

/* A whole number of kilograms, 0..10^12. On failure why names the rule. */
bool json_input_quantity(const cJSON *item, int64_t *out, const char **why);
/* A name: a string of 1..200 Unicode characters with no control characters. */
bool json_input_name(const cJSON *item, const char **why);
/* An RFC 3339 date-time with a valid calendar date and time: 2026-12-01T10:00:00Z,
 * 2026-12-01T10:00:00.5+02:00 (lowercase t and z too; no leap second, years 1..9999). */
bool timestamp_valid(const char *text);
/* ^[a-z][a-z0-9_]{0,31}$ */
bool waste_code_valid(const char *code);
/* The same for the len bytes at code (not NUL-terminated). */
bool waste_code_valid_n(const char *code, size_t len);

/* Collected field errors of one request, rendered as the problem's errors array. */
typedef struct {
    struct {
        char field[128];
        char message[192];
    } items[16];
    int count;
} field_errors;

void field_errors_add(field_errors *errors, const char *field, const char *message);
/* "prefix.key" field name helper ("key" when prefix is empty). */
void field_errors_add2(field_errors *errors, const char *prefix, const char *key,
                       const char *message);
cJSON *field_errors_to_json(const field_errors *errors);

#endif
