/* Every HTTP handler, one group per resource file in lib/api/. The route table
 * (routes_table.c) maps method + path pattern to these. */
#ifndef WF_API_HANDLERS_H
#define WF_API_HANDLERS_H

#include "http/server.h"

void handle_healthz(http_ctx *ctx);
void handle_readyz(http_ctx *ctx);
void handle_metrics(http_ctx *ctx);

void handle_me(http_ctx *ctx);
void handle_api_keys_list(http_ctx *ctx);
void handle_api_keys_create(http_ctx *ctx);
void handle_api_keys_get(http_ctx *ctx);
void handle_api_keys_delete(http_ctx *ctx);

void handle_waste_types_list(http_ctx *ctx);
void handle_waste_types_get(http_ctx *ctx);
void handle_waste_types_create(http_ctx *ctx);

void handle_organizations_list(http_ctx *ctx);
void handle_organizations_get(http_ctx *ctx);
void handle_organizations_create(http_ctx *ctx);
void handle_organizations_patch(http_ctx *ctx);
void handle_organizations_delete(http_ctx *ctx);
void handle_organization_storages(http_ctx *ctx);
void handle_organization_storage(http_ctx *ctx);

void handle_storages_list(http_ctx *ctx);
void handle_storages_get(http_ctx *ctx);
void handle_storages_create(http_ctx *ctx);
void handle_storages_patch(http_ctx *ctx);
void handle_storages_delete(http_ctx *ctx);
void handle_storages_unload(http_ctx *ctx);
void handle_storages_history(http_ctx *ctx);
void handle_storages_forecast(http_ctx *ctx);

void handle_routes_list(http_ctx *ctx);
void handle_routes_get(http_ctx *ctx);
void handle_routes_create(http_ctx *ctx);
void handle_routes_patch(http_ctx *ctx);
void handle_routes_delete(http_ctx *ctx);

void handle_transfers_create(http_ctx *ctx);
void handle_transfers_list(http_ctx *ctx);
void handle_transfers_get(http_ctx *ctx);
void handle_movements_list(http_ctx *ctx);
void handle_movements_get(http_ctx *ctx);
void handle_movements_patch(http_ctx *ctx);
void handle_movements_receipt(http_ctx *ctx);

void handle_stats(http_ctx *ctx);

void handle_plans_create(http_ctx *ctx);

void handle_events(http_ctx *ctx);

void handle_webhooks_list(http_ctx *ctx);
void handle_webhooks_create(http_ctx *ctx);
void handle_webhooks_get(http_ctx *ctx);
void handle_webhooks_delete(http_ctx *ctx);
void handle_webhook_deliveries(http_ctx *ctx);

void handle_export_movements(http_ctx *ctx);
void handle_report_balance(http_ctx *ctx);
void handle_alerts_create(http_ctx *ctx);
void handle_alerts_list(http_ctx *ctx);
void handle_alerts_get(http_ctx *ctx);
void handle_alerts_delete(http_ctx *ctx);

#endif
