/* What a failed database round means to whoever waits for it: the one mapping engine/tx.c
 * applies to every error (by SQLSTATE, and for constraint violations by the handler's
 * tx_conflict table), and the outcome background work hears. Pure: no I/O, no tx. */
#ifndef WF_ENGINE_TX_PROBLEM_H
#define WF_ENGINE_TX_PROBLEM_H

#include "db/pool.h"
#include "engine/tx.h"
#include "util/arena.h"

#include <stdbool.h>

typedef struct {
    problem_kind kind;
    const char *field;  /* PROBLEM_VALIDATION: the field named, else NULL */
    const char *detail; /* static, or in the arena given */
    bool unexpected;    /* not a rule of the data nor a busy database: a bug of ours, logged */
} tx_problem;

/* The problem of a statement that failed (result->status DB_ERROR_SQL): the service's own
 * codes (wf_check: WF404, WF409, WF422 "field|message"); a unique, foreign-key or check
 * violation by conflicts (terminated by a NULL constraint; may be NULL), else a generic
 * 409; a lock or statement timeout 503; anything else 500. */
tx_problem tx_problem_of_sql(const db_result *result, const tx_conflict *conflicts, arena *mem);

/* The 503 detail for a round that got no answer (status: DB_ERROR_BUSY, _TIMEOUT, _CLOSED,
 * or anything else: unavailable). */
const char *tx_unavailable_detail(db_status status);

#endif
