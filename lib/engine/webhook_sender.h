/* The webhook sender: delivers the outbox (sql/migrations/015_webhooks.sql) to the subscribed
 * endpoints by the Standard Webhooks convention, at least once.
 *
 * One instance at a time sends — the holder of webhook_sender_lease (a row, as for the
 * dispatcher; never an advisory lock), renewed at its polls and given up at shutdown; the
 * others try for it every LEASE/3 and take it once expired. The holder polls the outbox
 * every WEBHOOK_POLL_MS on the control connection: per endpoint the oldest undelivered
 * messages, at most WASTEFLOW_WEBHOOK_MAX_IN_FLIGHT of them in flight (1: strictly in
 * order), a message waiting for its retry holding back the ones after it. Each message is
 * rendered (the service's own JSON of the entity, through the renderer the API layer
 * gives), signed and POSTed with libcurl's multi interface on the event loop (its sockets
 * and timer are libevent events: no thread of ours, no blocking call), TLS verified,
 * redirects not followed, bounded in time and in the response body read. An attempt's
 * outcome is recorded under the lease's term (an instance that lost the lease records
 * nothing, and the new holder sends again): a 2xx ends the message; anything else is
 * retried after WASTEFLOW_WEBHOOK_RETRY_BASE_MS, doubling, with jitter, for 24 h.
 * Unless WASTEFLOW_WEBHOOK_ALLOW_PRIVATE=1, every address a URL resolves to is checked as
 * the connection opens: loopback, private, link-local and reserved ones are refused. */
#ifndef WF_ENGINE_WEBHOOK_SENDER_H
#define WF_ENGINE_WEBHOOK_SENDER_H

#include "engine/app.h"
#include "engine/tx.h"
#include "util/strbuf.h"

#include <stdbool.h>

typedef struct webhook_sender webhook_sender;

/* How the sender gets an event's data: queue queues the statements that read the entity
 * (returns how many, 0 for a type it cannot read), render writes its JSON from those
 * statements' results (starting at query first); false when the entity is not there. */
typedef struct {
    int (*queue)(tx *t, const char *event_type, const char *entity_id);
    bool (*render)(strbuf *out, tx *t, const char *event_type, const db_result *result, int first);
} webhook_renderer;

webhook_sender *webhook_sender_new(wf_app *app, const webhook_renderer *renderer);
/* Stops polling, abandons deliveries in flight (they are sent again by the next holder) and
 * gives the lease up. */
void webhook_sender_stop(webhook_sender *s);
bool webhook_sender_busy(const webhook_sender *s);
void webhook_sender_free(webhook_sender *s);

#endif
