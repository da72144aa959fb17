/* Automatic dispatch ("no stranded waste"): when room appears — a storage created, a
 * capacity raised, an unload, a road added or shortened, on any instance or in psql —
 * pending waste that can now be placed is placed, oldest pending first, as "auto"
 * transfers.
 *
 * Room appearing is recorded by triggers in room_events (sql/migrations/004), in the
 * transaction that made it. One instance at a time is the dispatcher — the one holding
 * the lease (dispatcher_lease, sql/migrations/007): a row only the app role can write,
 * renewed by its holder at its polls (once a third of it has passed) and at every page of
 * a sweep, given up at shutdown;
 * the others try for it every 2 s and take it over once it has expired (5 s, or three
 * dispatch intervals if longer, after a leader crashed). No other database session can
 * hold leadership away from the service. The leader polls room_events every
 * interval (and at once when this instance made room itself), takes what is there, looks
 * at the rooms that appeared, and revisits only the pending organizations that hold a type
 * that gained room — or all of them after a road change, a hand-made sweep
 * (UPDATE dispatch_state), or when it becomes leader. It keeps its own view of every
 * storage's room, so it can tell without a transaction which organizations some storage
 * could now serve: organizations that cannot place anything cost no transaction at all,
 * however many there are, and an idle service does no dispatch work. The others are served
 * in batches of one transaction each, oldest first, with the same result as one at a time
 * (transfer_dispatch). A periodic full sweep, backing off while it places nothing, is the
 * safety net. */
#ifndef WF_ENGINE_DISPATCH_H
#define WF_ENGINE_DISPATCH_H

#include "engine/app.h"

#include <stdbool.h>

dispatcher *dispatcher_new(wf_app *app, int interval_ms);
/* Room appeared (this instance committed it, or NOTIFY wasteflow_room said so), or an
 * announcement may have been missed: the leader looks as soon as possible. NULL is a
 * no-op; so is a follower. */
void dispatcher_kick(dispatcher *d);
/* Room this instance committed (an unload, a capacity raised, a storage or road added):
 * the leader looks at once; a follower tells the leader by NOTIFY wasteflow_room, sent after
 * the commit in a transaction of its own on the control connection (the service's sessions
 * set wasteflow.room_hint so their triggers do not notify inside the commit). At most one
 * such hint is in flight; room committed meanwhile is told by one more. NULL is a no-op. */
void dispatcher_room_appeared(dispatcher *d);
/* Stops scheduling work; a step in progress finishes. */
void dispatcher_stop(dispatcher *d);
bool dispatcher_busy(const dispatcher *d);
/* Whether this instance is the dispatcher now. */
bool dispatcher_leads(const dispatcher *d);
void dispatcher_free(dispatcher *d);

#endif
