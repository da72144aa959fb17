/* Role names and the role/scope rule shared by API keys, JWTs and the key admin API. */
#include "auth/principal.h"

#include <stddef.h>
#include <string.h>

static const struct {
    auth_role role;
    const char *name;
} role_names[] = {
    {ROLE_ADMIN, "admin"},     {ROLE_AUDITOR, "auditor"},
    {ROLE_MONITOR, "monitor"}, {ROLE_ORGANIZATION, "organization"},
    {ROLE_STORAGE, "storage"},
};

auth_role auth_role_parse(const char *name)
{
    if (name == NULL) {
        return 0;
    }
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++) {
        if (strcmp(name, role_names[i].name) == 0) {
            return role_names[i].role;
        }
    }
    return 0;
}

const char *auth_role_name(auth_role role)
{
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++) {
        if (role_names[i].role == role) {
            return role_names[i].name;
        }
    }
    return NULL;
}

const char *auth_scope_problem(auth_role role, int64_t organization_id, int64_t storage_id)
{
    switch (role) {
    case ROLE_ORGANIZATION:
        if (organization_id <= 0) {
            return "the organization role needs a positive organization_id";
        }
        if (storage_id != 0) {
            return "the organization role takes no storage_id";
        }
        return NULL;
    case ROLE_STORAGE:
        if (storage_id <= 0) {
            return "the storage role needs a positive storage_id";
        }
        if (organization_id != 0) {
            return "the storage role takes no organization_id";
        }
        return NULL;
    case ROLE_ADMIN:
    case ROLE_AUDITOR:
    case ROLE_MONITOR:
        if (organization_id != 0) {
            return "this role takes no organization_id";
        }
        if (storage_id != 0) {
            return "this role takes no storage_id";
        }
        return NULL;
    }
    return "unknown role";
}
