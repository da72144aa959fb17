/* Every SQL statement the service sends, prepared on each pool connection. One list, so
 * the SQL behind any request can be read (and benchmarked with pgbench) in one place.
 * Statements return plain rows: JSON is written in C (lib/api/repr.c). */
#ifndef WF_ENGINE_STATEMENTS_H
#define WF_ENGINE_STATEMENTS_H

#include "db/pool.h"

#include <stdbool.h>

/* Rows a FETCH of the movements export reads (ST_EX_FETCH). */
#define ST_EX_FETCH_ROWS 1000
#define WF_STRINGIFY_(x) #x
#define WF_STRINGIFY(x)  WF_STRINGIFY_(x)

#define WF_STATEMENTS(X)                                                                           \
    X(ST_IDEM_LOCK)                                                                                \
    X(ST_IDEM_LOOKUP)                                                                              \
    X(ST_IDEM_STORE)                                                                               \
    X(ST_IDEM_CLEANUP)                                                                             \
    X(ST_CHECK_TYPES)                                                                              \
    X(ST_CHECK_TYPE)                                                                               \
    X(ST_GRAPH_LOCK)                                                                               \
    X(ST_GRAPH_VERSION)                                                                            \
    X(ST_GRAPH_SYNC)                                                                               \
    X(ST_GRAPH_LOAD)                                                                               \
    X(ST_WT_LIST)                                                                                  \
    X(ST_WT_GET)                                                                                   \
    X(ST_WT_CREATE)                                                                                \
    X(ST_ORG_LIST)                                                                                 \
    X(ST_ORG_GET)                                                                                  \
    X(ST_ORG_GET_NEW)                                                                              \
    X(ST_ORG_CREATE)                                                                               \
    X(ST_ORG_PATCH)                                                                                \
    X(ST_ORG_LIMIT_CHECK)                                                                          \
    X(ST_ORG_LOCK)                                                                                 \
    X(ST_ORG_DELETE)                                                                               \
    X(ST_ST_LIST)                                                                                  \
    X(ST_ST_GET)                                                                                   \
    X(ST_ST_GET_NEW)                                                                               \
    X(ST_ST_CREATE)                                                                                \
    X(ST_ST_PATCH)                                                                                 \
    X(ST_ST_REMOVE_TYPES)                                                                          \
    X(ST_ST_HAS_TYPES)                                                                             \
    X(ST_ST_LOCK)                                                                                  \
    X(ST_ST_LOCK_UNLOAD)                                                                           \
    X(ST_ST_DELETE)                                                                                \
    X(ST_ST_UNLOAD_CHECK)                                                                          \
    X(ST_ST_UNLOAD)                                                                                \
    X(ST_RT_LIST)                                                                                  \
    X(ST_RT_GET)                                                                                   \
    X(ST_RT_REVERSE_CHECK)                                                                         \
    X(ST_RT_CREATE)                                                                                \
    X(ST_RT_PATCH_CHECK)                                                                           \
    X(ST_RT_PATCH)                                                                                 \
    X(ST_RT_DELETE)                                                                                \
    X(ST_VIEW_HEAD)                                                                                \
    X(ST_VIEW_STORAGES)                                                                            \
    X(ST_VIEW_TYPE_MEMBERS)                                                                        \
    X(ST_TR_LOCK_ORG)                                                                              \
    X(ST_TR_SHIPMENT_BLOCKS)                                                                       \
    X(ST_TR_PEEK_ORG)                                                                              \
    X(ST_TR_ORG_WASTE)                                                                             \
    X(ST_TR_ROOMS)                                                                                 \
    X(ST_TR_ROOMS_NOWAIT)                                                                          \
    X(ST_TR_ROOMS_PEEK)                                                                            \
    X(ST_TR_RECORD)                                                                                \
    X(ST_TR_RECORD_PENDING)                                                                        \
    X(ST_TR_LIST)                                                                                  \
    X(ST_TR_GET)                                                                                   \
    X(ST_MV_LIST)                                                                                  \
    X(ST_MV_GET)                                                                                   \
    X(ST_MV_LOCK)                                                                                  \
    X(ST_MV_LOCK_ORG)                                                                              \
    X(ST_MV_HEAD)                                                                                  \
    X(ST_MV_CARRIER)                                                                               \
    X(ST_MV_RECEIVE)                                                                               \
    X(ST_STATS)                                                                                    \
    X(ST_WH_CREATE)                                                                                \
    X(ST_WH_LIST)                                                                                  \
    X(ST_WH_GET)                                                                                   \
    X(ST_WH_DELETE)                                                                                \
    X(ST_WH_EXISTS)                                                                                \
    X(ST_WH_DELIVERIES)                                                                            \
    X(ST_WH_LEASE)                                                                                 \
    X(ST_WH_RELEASE)                                                                               \
    X(ST_WH_DUE)                                                                                   \
    X(ST_WH_PRUNE)                                                                                 \
    X(ST_WH_RECORD)                                                                                \
    X(ST_WH_UNLOAD)                                                                                \
    X(ST_EX_MOVEMENTS)                                                                             \
    X(ST_EX_FETCH)                                                                                 \
    X(ST_BALANCE)                                                                                  \
    X(ST_BALANCE_ALL)                                                                              \
    X(ST_BALANCE_PLANS)                                                                            \
    X(ST_BALANCE_DAYS)                                                                             \
    X(ST_BD_NEXT)                                                                                  \
    X(ST_BD_FILL)                                                                                  \
    X(ST_PING)                                                                                     \
    X(ST_PLAN_UNKNOWN_ORG)                                                                         \
    X(ST_PLAN_ROOMS)                                                                               \
    X(ST_GENERIC_PLANS)                                                                            \
    X(ST_TX_BEGIN)                                                                                 \
    X(ST_TX_BEGIN_SNAPSHOT)                                                                        \
    X(ST_TX_COMMIT)                                                                                \
    X(ST_PENDING_BY_TYPE)                                                                          \
    X(ST_DISPATCH_POLL)                                                                            \
    X(ST_DISPATCH_RENEW)                                                                           \
    X(ST_DISPATCH_RELEASE)                                                                         \
    X(ST_DISPATCH_HINT)                                                                            \
    X(ST_DISPATCH_TAKE)                                                                            \
    X(ST_DISPATCH_CLEAR)                                                                           \
    X(ST_DISPATCH_PENDING)                                                                         \
    X(ST_DISPATCH_LOCK)                                                                            \
    X(ST_DISPATCH_WASTE)                                                                           \
    X(ST_ROOMS_PAGE)                                                                               \
    X(ST_KEYS_SNAPSHOT)                                                                            \
    X(ST_KEY_EXPIRY_CHECK)                                                                         \
    X(ST_KEY_CREATE)                                                                               \
    X(ST_KEY_LIST)                                                                                 \
    X(ST_KEY_GET)                                                                                  \
    X(ST_KEY_REVOKE)                                                                               \
    X(ST_ROLE_CHECK)                                                                               \
    X(ST_FEED_START)                                                                               \
    X(ST_FEED_TRANSFERS)                                                                           \
    X(ST_FEED_POSITION)                                                                            \
    X(ST_FEED_LOG)                                                                                 \
    X(ST_FEED_PRUNE)                                                                               \
    X(ST_EV_UNLOADS)                                                                               \
    X(ST_EV_STORAGES)                                                                              \
    X(ST_EV_ORGANIZATIONS)                                                                         \
    X(ST_EV_ROUTES)                                                                                \
    X(ST_EV_MOVEMENTS)                                                                             \
    X(ST_EV_LOG_MOVEMENTS)                                                                         \
    X(ST_VIEW_UNREACHABLE)                                                                         \
    X(ST_NO_JIT)                                                                                   \
    X(ST_HIST_CHECK)                                                                               \
    X(ST_HISTORY)                                                                                  \
    X(ST_FORECAST)                                                                                 \
    X(ST_ALERT_CREATE)                                                                             \
    X(ST_ALERT_LIST)                                                                               \
    X(ST_ALERT_GET)                                                                                \
    X(ST_ALERT_DELETE)                                                                             \
    X(ST_ALERT_EVALUATE)                                                                           \
    X(ST_ALERT_RELEASE)                                                                            \
    X(ST_EV_ALERTS)

#define WF_STATEMENT_ENUM(name) name,
enum { WF_STATEMENTS(WF_STATEMENT_ENUM) ST__COUNT };
#undef WF_STATEMENT_ENUM

/* Indexed by the ST_* constants. */
extern const db_statement engine_statements[ST__COUNT];

/* The number of parameters statement takes: its highest $n. Every call site must pass
 * exactly that many (tx_q checks). */
int statement_param_count(int statement);

/* Whether a read (TX_READ) sends statement with generic plans forced for its round: a
 * statement whose best plan does not depend on the values but whose custom plans look
 * cheaper, so that PostgreSQL would otherwise plan it again on every call. */
bool statement_wants_generic_plan(int statement);

#endif
