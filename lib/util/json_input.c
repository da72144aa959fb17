/* Strict JSON request-body parsing and the field-level validators shared by handlers. */
#include "util/json_input.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Length of the RFC 8259 number at text (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?),
 * or 0 when what starts there is not one. cJSON's strtod also takes 01, 1. and 1.e5. */
static size_t number_length(const char *text, size_t len)
{
    size_t i = 0;
    if (i < len && text[i] == '-') {
        i++;
    }
    if (i < len && text[i] == '0') {
        i++;
    } else if (i < len && is_digit(text[i])) {
        while (i < len && is_digit(text[i])) {
            i++;
        }
    } else {
        return 0;
    }
    if (i < len && text[i] == '.') {
        size_t start = ++i;
        while (i < len && is_digit(text[i])) {
            i++;
        }
        if (i == start) {
            return 0;
        }
    }
    if (i < len && (text[i] == 'e' || text[i] == 'E')) {
        i++;
        if (i < len && (text[i] == '+' || text[i] == '-')) {
            i++;
        }
        size_t start = i;
        while (i < len && is_digit(text[i])) {
            i++;
        }
        if (i == start) {
            return 0;
        }
    }
    /* A digit right after the number (as in 01) means the grammar did not match. */
    return i < len && is_digit(text[i]) ? 0 : i;
}

/* One pass over the raw text for what cJSON lets through: numbers outside the RFC 8259
 * grammar; raw control characters inside strings; "\u0000" escapes (a NUL would silently
 * truncate the string); and, outside strings, control characters other than the four
 * JSON whitespace characters (cJSON skips every byte up to 0x20). Escaped backslashes are
 * skipped, so "\\u0000" is text. */
static const char *scan_text(const char *body, size_t len)
{
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)body[i];
        if (!in_string) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                return "control characters are not JSON whitespace";
            }
            if (c == '-' || is_digit((char)c)) {
                size_t n = number_length(body + i, len - i);
                if (n == 0) {
                    return "a number is not written as JSON numbers are";
                }
                i += n - 1;
                continue;
            }
            in_string = c == '"';
            continue;
        }
        if (c < 0x20) {
            return "strings must escape control characters";
        }
        if (c == '"') {
            in_string = false;
        } else if (c == '\\' && i + 1 < len) {
            if (body[i + 1] == 'u' && i + 5 < len && strncmp(body + i + 2, "0000", 4) == 0) {
                return "strings must not contain \\u0000";
            }
            i++;
        }
    }
    return NULL;
}

/* depth: containers enclosing item, item included when it is one. */
static bool check_tree(const cJSON *item, int depth, char *why, size_t why_size)
{
    if (depth > JSON_INPUT_MAX_DEPTH) {
        snprintf(why, why_size, "JSON nesting deeper than %d levels", JSON_INPUT_MAX_DEPTH);
        return false;
    }
    if (cJSON_IsObject(item)) {
        for (const cJSON *a = item->child; a != NULL; a = a->next) {
            for (const cJSON *b = a->next; b != NULL; b = b->next) {
                if (strcmp(a->string, b->string) == 0) {
                    snprintf(why, why_size, "duplicate key \"%.64s\"", a->string);
                    return false;
                }
            }
        }
    }
    for (const cJSON *child = item->child; child != NULL; child = child->next) {
        bool container = cJSON_IsArray(child) || cJSON_IsObject(child);
        if (!check_tree(child, depth + (container ? 1 : 0), why, why_size)) {
            return false;
        }
    }
    return true;
}

cJSON *json_input_parse(const char *body, size_t len, char *why, size_t why_size)
{
    size_t start = 0;
    while (start < len && strchr(" \t\r\n", body[start]) != NULL && body[start] != '\0') {
        start++;
    }
    if (start == len) {
        return cJSON_CreateObject();
    }
    if (memchr(body, '\0', len) != NULL) {
        snprintf(why, why_size, "the body contains a NUL byte");
        return NULL;
    }
    if (!utf8_valid(body, len)) {
        snprintf(why, why_size, "the body is not valid UTF-8");
        return NULL;
    }
    const char *bad = scan_text(body, len);
    if (bad != NULL) {
        snprintf(why, why_size, "%s", bad);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (root == NULL) {
        const char *at = cJSON_GetErrorPtr();
        long offset = at != NULL && at >= body && at <= body + len ? (long)(at - body) : -1;
        snprintf(why, why_size, "invalid JSON near byte %ld", offset);
        return NULL;
    }
    size_t rest = (size_t)(end - body);
    while (rest < len && strchr(" \t\r\n", body[rest]) != NULL) {
        rest++;
    }
    if (rest != len) {
        snprintf(why, why_size, "unexpected data after the JSON value at byte %zu", rest);
        cJSON_Delete(root);
        return NULL;
    }
    if (!check_tree(root, cJSON_IsArray(root) || cJSON_IsObject(root) ? 1 : 0, why, why_size)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

bool json_input_quantity(const cJSON *item, int64_t *out, const char **why)
{
    if (!cJSON_IsNumber(item)) {
        *why = "must be a whole number of kilograms (an integer, not a string)";
        return false;
    }
    double value = item->valuedouble;
    if (!isfinite(value) || value < 0 || value > (double)QUANTITY_MAX) {
        *why = "must be an integer from 0 to 1000000000000";
        return false;
    }
    if (floor(value) != value) {
        *why = "must be a whole number of kilograms, not a fraction";
        return false;
    }
    *out = (int64_t)value;
    return true;
}

bool json_input_name(const cJSON *item, const char **why)
{
    if (!cJSON_IsString(item)) {
        *why = "must be a string";
        return false;
    }
    size_t chars = utf8_length(item->valuestring);
    if (chars < 1 || chars > NAME_MAX_CHARS) {
        *why = "must be 1 to 200 characters";
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)item->valuestring; *p; p++) {
        /* C0 controls, DEL, and C1 controls (U+0080..U+009F, encoded C2 80..C2 9F). */
        if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) {
            *why = "must not contain control characters";
            return false;
        }
    }
    return true;
}

bool waste_code_valid_n(const char *code, size_t len)
{
    if (len < 1 || len > 32 || code[0] < 'a' || code[0] > 'z') {
        return false;
    }
    for (size_t i = 1; i < len; i++) {
        char c = code[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            return false;
        }
    }
    return true;
}

bool waste_code_valid(const char *code)
{
    return waste_code_valid_n(code, strlen(code));
}

void field_errors_add(field_errors *errors, const char *field, const char *message)
{
    if (errors->count >= (int)(sizeof errors->items / sizeof errors->items[0])) {
        return;
    }
    snprintf(errors->items[errors->count].field, sizeof errors->items[0].field, "%s", field);
    snprintf(errors->items[errors->count].message, sizeof errors->items[0].message, "%s", message);
    errors->count++;
}

void field_errors_add2(field_errors *errors, const char *prefix, const char *key,
                       const char *message)
{
    char field[128];
    /* An empty prefix names a top-level member: "glass", not ".glass". */
    snprintf(field, sizeof field, "%s%s%.64s", prefix, prefix[0] ? "." : "", key);
    field_errors_add(errors, field, message);
}

cJSON *field_errors_to_json(const field_errors *errors)
{
    cJSON *array = cJSON_CreateArray();
    for (int i = 0; i < errors->count; i++) {
        cJSON *error = cJSON_CreateObject();
        cJSON_AddStringToObject(error, "field", errors->items[i].field);
        cJSON_AddStringToObject(error, "message", errors->items[i].message);
        cJSON_AddItemToArray(array, error);
    }
    return array;
}

/* count digits at text as a number, or -1 when they are not all digits. */
static int digits(const char *text, int count)
{
    int value = 0;
    for (int i = 0; i < count; i++) {
        if (!is_digit(text[i])) {
            return -1;
        }
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

bool timestamp_valid(const char *text)
{
    static const int month_days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(text) < 20 || text[4] != '-' || text[7] != '-' ||
        (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
        return false;
    }
    int year = digits(text, 4), month = digits(text + 5, 2), day = digits(text + 8, 2);
    int hour = digits(text + 11, 2), minute = digits(text + 14, 2), second = digits(text + 17, 2);
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > month_days[month - 1] || hour < 0 ||
        hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) {
        return false;
    }
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (month == 2 && day == 29 && !leap) {
        return false;
    }
    const char *p = text + 19;
    if (*p == '.') {
        const char *fraction = ++p;
        while (is_digit(*p)) {
            p++;
        }
        if (p == fraction || p - fraction > 9) {
            return false;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        return p[1] == '\0';
    }
    if ((*p != '+' && *p != '-') || strlen(p) != 6 || p[3] != ':') {
        return false;
    }
    int offset_hours = digits(p + 1, 2), offset_minutes = digits(p + 4, 2);
    return offset_hours >= 0 && offset_hours <= 23 && offset_minutes >= 0 && offset_minutes <= 59;
}
