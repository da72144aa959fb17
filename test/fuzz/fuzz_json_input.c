/* Fuzzes the strict request-body reader: whatever the bytes, json_input_parse must
 * return a tree or NULL without crashing, leaking or reading out of bounds, and a tree
 * it returns must satisfy its promises (no duplicate keys, bounded depth). */
#include "util/json_input.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* depth counts the containers around item, item included when it is one, as the parser
 * does (32 nested arrays around a number are fine). */
static void check(const cJSON *item, int depth)
{
    if (depth > JSON_INPUT_MAX_DEPTH) {
        abort();
    }
    for (const cJSON *a = item->child; a != NULL; a = a->next) {
        if (cJSON_IsObject(item)) {
            for (const cJSON *b = a->next; b != NULL; b = b->next) {
                if (strcmp(a->string, b->string) == 0) {
                    abort();
                }
            }
            int64_t kg;
            const char *why;
            json_input_quantity(a, &kg, &why);
            json_input_name(a, &why);
        }
        check(a, depth + (cJSON_IsArray(a) || cJSON_IsObject(a) ? 1 : 0));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[160];
    /* Not NUL-terminated on purpose: the parser must honour the length. */
    char *copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    cJSON *root = json_input_parse(copy, size, why, sizeof why);
    if (root != NULL) {
        check(root, cJSON_IsArray(root) || cJSON_IsObject(root) ? 1 : 0);
        field_errors errors = {0};
        field_errors_add2(&errors, "capacity", root->string ? root->string : "", why);
        cJSON_Delete(field_errors_to_json(&errors));
        cJSON_Delete(root);
    }
    free(copy);
    return 0;
}
