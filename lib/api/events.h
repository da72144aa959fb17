/* The api layer's side of the live events (engine/events.h): GET /v1/events (handlers.h)
 * and the policy the hub follows, the payloads (the same JSON as each resource's GET) and
 * who may see what (docs/design.md, "Access control"). */
#ifndef WF_API_EVENTS_H
#define WF_API_EVENTS_H

#include "engine/events.h"

extern const events_policy api_events_policy;

#endif
