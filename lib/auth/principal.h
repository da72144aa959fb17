/* Who is calling: one role and, for the scoped roles, one organization or storage. Filled
 * by the credential checks (api_key, jwt) and read by the access rules; pure, no I/O. */
#ifndef WF_AUTH_PRINCIPAL_H
#define WF_AUTH_PRINCIPAL_H

#include <stdint.h>

/* Powers of two, so an access rule can name the roles it admits as one bit mask. */
typedef enum {
    ROLE_ADMIN = 1,
    ROLE_AUDITOR = 2,
    ROLE_MONITOR = 4,
    ROLE_ORGANIZATION = 8,
    ROLE_STORAGE = 16
} auth_role;

#define AUTH_ACTOR_MAX  256 /* bytes incl. NUL */
#define AUTH_ISSUER_MAX 256 /* bytes incl. NUL */

typedef struct {
    auth_role role;
    int64_t organization_id;    /* > 0 only for ROLE_ORGANIZATION */
    int64_t storage_id;         /* > 0 only for ROLE_STORAGE */
    int64_t key_id;             /* > 0 for an API key, 0 for a JWT */
    char actor[AUTH_ACTOR_MAX]; /* "key:<id>" or "jwt:<sub>" : valid UTF-8, no control chars */
    /* A JWT's iss claim ("" when it has none, and for an API key), which with the sub names
     * the credential (the rate limit's bucket). Cut at AUTH_ISSUER_MAX - 1 bytes, possibly
     * inside a character: never shown to anyone. */
    char issuer[AUTH_ISSUER_MAX];
} auth_principal;

/* "admin","auditor","monitor","organization","storage" <-> enum; parse returns 0 for unknown.
 * Names are case-sensitive and matched whole; a NULL name is unknown. auth_role_name returns
 * a static string, or NULL for a value that is not one of the five roles. */
auth_role auth_role_parse(const char *name) __attribute__((warn_unused_result));
const char *auth_role_name(auth_role role) __attribute__((warn_unused_result));

/* Checks role/scope consistency: organization role needs organization_id > 0 and no
 * storage_id; storage role the reverse; other roles neither ("no" id means 0). Returns NULL
 * when fine, else a short static English reason (also for a role that is not one of the
 * five). */
const char *auth_scope_problem(auth_role role, int64_t organization_id, int64_t storage_id)
    __attribute__((warn_unused_result));

#endif
