/* JSON helpers of the harness: values at dotted paths ("capacity.glass", "items.0.id") that
 * fail the test when absent or of the wrong type, and quoting text as a JSON string. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "it_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

char *it_json_quote(const char *text)
{
    cJSON *string = cJSON_CreateString(text);
    char *printed = string ? cJSON_PrintUnformatted(string) : NULL;
    cJSON_Delete(string);
    if (printed == NULL) {
        fail_msg("harness: cannot JSON-quote a string");
    }
    return printed;
}

const cJSON *it_json_at(const cJSON *root, const char *path)
{
    const cJSON *node = root;
    const char *segment = path;
    while (node != NULL && segment != NULL && *segment != '\0') {
        const char *dot = strchr(segment, '.');
        size_t length = dot ? (size_t)(dot - segment) : strlen(segment);
        char *key = strndup(segment, length);
        if (key == NULL) {
            fail_msg("harness: out of memory");
        }
        if (cJSON_IsArray(node) && length > 0 && strspn(key, "0123456789") == length) {
            node = cJSON_GetArrayItem(node, atoi(key));
        } else if (cJSON_IsObject(node)) {
            node = cJSON_GetObjectItemCaseSensitive(node, key);
        } else {
            node = NULL;
        }
        free(key);
        segment = dot ? dot + 1 : NULL;
    }
    return node;
}

static char *print_json(const cJSON *node)
{
    char *printed = node ? cJSON_PrintUnformatted(node) : NULL;
    return printed ? printed : harness_xstrdup("(absent)");
}

long long it_json_int(const cJSON *root, const char *path)
{
    const cJSON *node = it_json_at(root, path);
    if (!cJSON_IsNumber(node) || node->valuedouble != (double)(long long)node->valuedouble) {
        char *printed = print_json(root);
        fail_msg("harness: '%s' is not an integer in %.2000s", path, printed);
    }
    return (long long)node->valuedouble;
}

const char *it_json_str(const cJSON *root, const char *path)
{
    const cJSON *node = it_json_at(root, path);
    if (!cJSON_IsString(node)) {
        char *printed = print_json(root);
        fail_msg("harness: '%s' is not a string in %.2000s", path, printed);
    }
    return node->valuestring;
}
