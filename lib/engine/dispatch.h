/* Automatic dispatch ("no stranded waste"): whenever room may have appeared anywhere —
 * the dispatch epoch in the database moved, because some instance committed a new
 * storage, a capacity raise, an unload or a route change — every organization with
 * pending waste is dispatched again, oldest pending first, as "auto" transfers.
 * Each instance polls the epoch every interval and is kicked at once by its own
 * room-creating commits; organization row locks (SKIP LOCKED) keep two instances from
 * serving one organization at the same time, and the allocation itself runs under the
 * same locks as any transfer, so nothing is dispatched twice. */
#ifndef WF_ENGINE_DISPATCH_H
#define WF_ENGINE_DISPATCH_H

#include "engine/app.h"

#include <stdbool.h>

dispatcher *dispatcher_new(wf_app *app, int interval_ms);
/* Room appeared through this instance (a committed change): sweep as soon as possible.
 * NULL is a no-op. */
void dispatcher_kick(dispatcher *d);
/* Stops scheduling sweeps; one in progress finishes its current organization. */
void dispatcher_stop(dispatcher *d);
bool dispatcher_busy(const dispatcher *d);
void dispatcher_free(dispatcher *d);

#endif
