/* See tx_problem.h. */
#include "engine/tx_problem.h"

#include "db/sqlstate.h"

#include <string.h>

const char *tx_outcome_name(tx_outcome outcome)
{
    switch (outcome) {
    case TX_OK:
        return "ok";
    case TX_REFUSED:
        return "refused";
    case TX_UNAVAILABLE:
        return "unavailable";
    case TX_TIMED_OUT:
        return "timed_out";
    case TX_FAILED:
        return "failed";
    }
    return "failed";
}

tx_outcome tx_outcome_of_problem(problem_kind kind, bool timed_out)
{
    if (timed_out) {
        return TX_TIMED_OUT;
    }
    int status = problem_of(kind)->status;
    return status == 503 ? TX_UNAVAILABLE : status >= 500 ? TX_FAILED : TX_REFUSED;
}

const char *tx_unavailable_detail(db_status status)
{
    switch (status) {
    case DB_ERROR_BUSY:
        return "Too many requests are waiting for the database; retry shortly.";
    case DB_ERROR_TIMEOUT:
        return "The request deadline passed while waiting for the database.";
    case DB_ERROR_CLOSED:
        return "The service is shutting down.";
    default:
        return "The database is unavailable; retry shortly.";
    }
}

tx_problem tx_problem_of_sql(const db_result *result, const tx_conflict *conflicts, arena *mem)
{
    const char *state = result->sqlstate;
    if (sqlstate_is(state, SQLSTATE_WF_NOT_FOUND)) {
        return (tx_problem){PROBLEM_NOT_FOUND, NULL, result->message, false};
    }
    if (sqlstate_is(state, SQLSTATE_WF_CONFLICT)) {
        return (tx_problem){PROBLEM_CONFLICT, NULL, result->message, false};
    }
    if (sqlstate_is(state, SQLSTATE_WF_INVALID)) {
        /* wf_check messages for 422 are "field|message". */
        const char *bar = strchr(result->message, '|');
        if (bar == NULL) {
            return (tx_problem){PROBLEM_VALIDATION, "", result->message, false};
        }
        return (tx_problem){PROBLEM_VALIDATION,
                            arena_strndup(mem, result->message, (size_t)(bar - result->message)),
                            bar + 1, false};
    }
    bool unique = sqlstate_is(state, SQLSTATE_UNIQUE_VIOLATION);
    if (unique || sqlstate_is(state, SQLSTATE_FOREIGN_KEY_VIOLATION) ||
        sqlstate_is(state, SQLSTATE_CHECK_VIOLATION)) {
        for (const tx_conflict *c = conflicts; c != NULL && c->constraint != NULL; c++) {
            if (strcmp(c->constraint, result->constraint) == 0) {
                return (tx_problem){c->kind, c->field, c->detail, false};
            }
        }
        return (tx_problem){PROBLEM_CONFLICT, NULL,
                            arena_printf(mem,
                                         unique ? "That conflicts with an existing resource (%s)."
                                                : "The change would break a rule of the data (%s).",
                                         result->constraint),
                            false};
    }
    if (sqlstate_is(state, SQLSTATE_LOCK_NOT_AVAILABLE) ||
        sqlstate_is(state, SQLSTATE_QUERY_CANCELED)) {
        return (tx_problem){PROBLEM_UNAVAILABLE, NULL, "The database is busy; retry shortly.",
                            false};
    }
    return (tx_problem){PROBLEM_INTERNAL, NULL,
                        "The request failed inside the service; it changed nothing.", true};
}
