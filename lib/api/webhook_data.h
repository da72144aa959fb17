/* The renderer of webhook data the sender uses (engine/webhook_sender.h). */
#ifndef WF_API_WEBHOOK_DATA_H
#define WF_API_WEBHOOK_DATA_H

#include "engine/webhook_sender.h"

extern const webhook_renderer api_webhook_renderer;

#endif
