/* The SQLSTATE codes the service acts on, by name. PostgreSQL's own (Appendix A of its
 * manual) and the WF*** codes the schema's wf_check() raises for business rules. */
#ifndef WF_DB_SQLSTATE_H
#define WF_DB_SQLSTATE_H

#include <stdbool.h>
#include <string.h>

#define SQLSTATE_UNIQUE_VIOLATION      "23505"
#define SQLSTATE_FOREIGN_KEY_VIOLATION "23503"
#define SQLSTATE_CHECK_VIOLATION       "23514"
#define SQLSTATE_SERIALIZATION_FAILURE "40001"
#define SQLSTATE_DEADLOCK_DETECTED     "40P01"
#define SQLSTATE_LOCK_NOT_AVAILABLE    "55P03"
#define SQLSTATE_QUERY_CANCELED        "57014"
/* wf_check(..., 'WF404', detail): the resource a statement needs does not exist. */
#define SQLSTATE_WF_NOT_FOUND "WF404"
/* wf_check(..., 'WF409', detail): a business rule forbids the change. */
#define SQLSTATE_WF_CONFLICT "WF409"
/* wf_check(..., 'WF422', 'field|message'): a field's value is invalid. */
#define SQLSTATE_WF_INVALID "WF422"

static inline bool sqlstate_is(const char *sqlstate, const char *code)
{
    return sqlstate != NULL && strcmp(sqlstate, code) == 0;
}

#endif
