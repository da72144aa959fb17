/* The route table: every endpoint of the service — its method, path, name (for logs and
 * metrics), handler, and who may call it (docs/design.md, "Access control"): the roles admitted
 * and the scope rule for organization and storage principals (api/access.h). Rows that a
 * scoped principal may not see are filtered by the handlers themselves (lists, GET of a
 * transfer). */
#include "api/routes_table.h"
#include "api/access.h"
#include "api/handlers.h"
#include "web/web.h"

#define ROUTE(method, pattern, name, fn, roles, scope)                                             \
    {                                                                                              \
        method, pattern, name, (void *)&(const http_endpoint)                                      \
        {                                                                                          \
            fn, roles, scope                                                                       \
        }                                                                                          \
    }
/* No credentials needed. */
#define OPEN(method, pattern, name, fn) ROUTE(method, pattern, name, fn, 0, SCOPE_NONE)

#define ADMIN           ROLE_ADMIN
#define ADMIN_AUDITOR   (ROLE_ADMIN | ROLE_AUDITOR)
#define OWN_ORG_READ    (ROLE_ADMIN | ROLE_AUDITOR | ROLE_ORGANIZATION)
#define OWN_ORG_WRITE   (ROLE_ADMIN | ROLE_ORGANIZATION)
#define OWN_STORE_WRITE (ROLE_ADMIN | ROLE_STORAGE)

const router_route api_routes[] = {
    OPEN(HTTP_GET, "/healthz", "healthz", handle_healthz),
    OPEN(HTTP_GET, "/readyz", "readyz", handle_readyz),
    OPEN(HTTP_GET, "/openapi.json", "openapi", handle_web_asset),
    OPEN(HTTP_GET, "/docs", "docs", handle_web_asset),
    OPEN(HTTP_GET, "/docs/{file}", "docs.asset", handle_web_asset),
    OPEN(HTTP_GET, "/console", "console", handle_web_asset),
    OPEN(HTTP_GET, "/console/{file}", "console.asset", handle_web_asset),
    ROUTE(HTTP_GET, "/metrics", "metrics", handle_metrics, ADMIN_AUDITOR | ROLE_MONITOR,
          SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/me", "me", handle_me, ROLES_READERS, SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/api-keys", "api_keys.list", handle_api_keys_list, ADMIN, SCOPE_NONE),
    ROUTE(HTTP_POST, "/v1/api-keys", "api_keys.create", handle_api_keys_create, ADMIN, SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/api-keys/{id}", "api_keys.get", handle_api_keys_get, ADMIN, SCOPE_NONE),
    ROUTE(HTTP_DELETE, "/v1/api-keys/{id}", "api_keys.delete", handle_api_keys_delete, ADMIN,
          SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/waste-types", "waste_types.list", handle_waste_types_list, ROLES_READERS,
          SCOPE_NONE),
    ROUTE(HTTP_POST, "/v1/waste-types", "waste_types.create", handle_waste_types_create, ADMIN,
          SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/waste-types/{code}", "waste_types.get", handle_waste_types_get,
          ROLES_READERS, SCOPE_NONE),
    /* An organization lists only itself; a storage may not list organizations. */
    ROUTE(HTTP_GET, "/v1/organizations", "organizations.list", handle_organizations_list,
          OWN_ORG_READ, SCOPE_NONE),
    ROUTE(HTTP_POST, "/v1/organizations", "organizations.create", handle_organizations_create,
          ADMIN, SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/organizations/{id}", "organizations.get", handle_organizations_get,
          OWN_ORG_READ, SCOPE_OWN_ORGANIZATION),
    ROUTE(HTTP_PATCH, "/v1/organizations/{id}", "organizations.patch", handle_organizations_patch,
          ADMIN, SCOPE_NONE),
    ROUTE(HTTP_DELETE, "/v1/organizations/{id}", "organizations.delete",
          handle_organizations_delete, ADMIN, SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/organizations/{id}/storages", "organizations.storages",
          handle_organization_storages, OWN_ORG_READ, SCOPE_OWN_ORGANIZATION),
    ROUTE(HTTP_GET, "/v1/organizations/{id}/storages/{id}", "organizations.storage",
          handle_organization_storage, OWN_ORG_READ, SCOPE_OWN_ORGANIZATION),
    ROUTE(HTTP_POST, "/v1/organizations/{id}/transfers", "transfers.create",
          handle_transfers_create, OWN_ORG_WRITE, SCOPE_OWN_ORGANIZATION),
    ROUTE(HTTP_GET, "/v1/storages", "storages.list", handle_storages_list, ROLES_READERS,
          SCOPE_NONE),
    ROUTE(HTTP_POST, "/v1/storages", "storages.create", handle_storages_create, ADMIN, SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/storages/{id}", "storages.get", handle_storages_get, ROLES_READERS,
          SCOPE_NONE),
    ROUTE(HTTP_PATCH, "/v1/storages/{id}", "storages.patch", handle_storages_patch, ADMIN,
          SCOPE_NONE),
    ROUTE(HTTP_DELETE, "/v1/storages/{id}", "storages.delete", handle_storages_delete, ADMIN,
          SCOPE_NONE),
    ROUTE(HTTP_POST, "/v1/storages/{id}/unload", "storages.unload", handle_storages_unload,
          OWN_STORE_WRITE, SCOPE_OWN_STORAGE),
    /* Whoever may read the storage may read its history and forecast. */
    ROUTE(HTTP_GET, "/v1/storages/{id}/history", "storages.history", handle_storages_history,
          ROLES_READERS, SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/storages/{id}/forecast", "storages.forecast", handle_storages_forecast,
          ROLES_READERS, SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/routes", "routes.list", handle_routes_list, ROLES_READERS, SCOPE_NONE),
    ROUTE(HTTP_POST, "/v1/routes", "routes.create", handle_routes_create, ADMIN, SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/routes/{id}", "routes.get", handle_routes_get, ROLES_READERS, SCOPE_NONE),
    ROUTE(HTTP_PATCH, "/v1/routes/{id}", "routes.patch", handle_routes_patch, ADMIN, SCOPE_NONE),
    ROUTE(HTTP_DELETE, "/v1/routes/{id}", "routes.delete", handle_routes_delete, ADMIN, SCOPE_NONE),
    /* Organizations see their own transfers, storages those that shipped to them. */
    ROUTE(HTTP_GET, "/v1/transfers", "transfers.list", handle_transfers_list, ROLES_READERS,
          SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/transfers/{id}", "transfers.get", handle_transfers_get, ROLES_READERS,
          SCOPE_NONE),
    /* Movements are scoped as transfers are; a receipt is its storage's own (the handler
     * answers 403 for another storage's, as it must read the movement to know). */
    ROUTE(HTTP_GET, "/v1/movements", "movements.list", handle_movements_list, ROLES_READERS,
          SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/movements/{id}", "movements.get", handle_movements_get, ROLES_READERS,
          SCOPE_NONE),
    ROUTE(HTTP_PATCH, "/v1/movements/{id}", "movements.patch", handle_movements_patch,
          OWN_ORG_WRITE, SCOPE_NONE),
    ROUTE(HTTP_POST, "/v1/movements/{id}/receipt", "movements.receipt", handle_movements_receipt,
          OWN_STORE_WRITE, SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/stats", "stats", handle_stats, ADMIN_AUDITOR, SCOPE_NONE),
    /* Evaluates a batch on one snapshot and writes nothing (api/plans.c). */
    ROUTE(HTTP_POST, "/v1/plans", "plans.create", handle_plans_create, ADMIN_AUDITOR, SCOPE_NONE),
    /* Each stream shows what its principal may read (api/events.c). */
    ROUTE(HTTP_GET, "/v1/events", "events", handle_events, ROLES_READERS, SCOPE_NONE),
    /* Webhooks and alert rules are managed by admins; the auditor, who may read everything but
     * API keys, reads them too (a webhook's secret is shown only when it is created). */
    ROUTE(HTTP_GET, "/v1/webhooks", "webhooks.list", handle_webhooks_list, ADMIN_AUDITOR,
          SCOPE_NONE),
    ROUTE(HTTP_POST, "/v1/webhooks", "webhooks.create", handle_webhooks_create, ADMIN, SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/webhooks/{id}", "webhooks.get", handle_webhooks_get, ADMIN_AUDITOR,
          SCOPE_NONE),
    ROUTE(HTTP_DELETE, "/v1/webhooks/{id}", "webhooks.delete", handle_webhooks_delete, ADMIN,
          SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/webhooks/{id}/deliveries", "webhooks.deliveries",
          handle_webhook_deliveries, ADMIN_AUDITOR, SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/exports/movements.csv", "exports.movements", handle_export_movements,
          ADMIN_AUDITOR, SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/reports/balance", "reports.balance", handle_report_balance, ADMIN_AUDITOR,
          SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/alerts", "alerts.list", handle_alerts_list, ADMIN_AUDITOR, SCOPE_NONE),
    ROUTE(HTTP_POST, "/v1/alerts", "alerts.create", handle_alerts_create, ADMIN, SCOPE_NONE),
    ROUTE(HTTP_GET, "/v1/alerts/{id}", "alerts.get", handle_alerts_get, ADMIN_AUDITOR, SCOPE_NONE),
    ROUTE(HTTP_DELETE, "/v1/alerts/{id}", "alerts.delete", handle_alerts_delete, ADMIN, SCOPE_NONE),
};

const int api_route_count = sizeof api_routes / sizeof api_routes[0];
