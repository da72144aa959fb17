/* The route table: every endpoint of the API, its method, and its handler. */
#include "api/routes_table.h"
#include "api/handlers.h"
#include "web/web.h"

#define R(method, pattern, name, fn)                                                               \
    {                                                                                              \
        method, pattern, name, (void *)fn                                                          \
    }

const router_route api_routes[] = {
    R(HTTP_GET, "/healthz", "healthz", handle_healthz),
    R(HTTP_GET, "/readyz", "readyz", handle_readyz),
    R(HTTP_GET, "/metrics", "metrics", handle_metrics),
    R(HTTP_GET, "/openapi.json", "openapi", handle_web_asset),
    R(HTTP_GET, "/docs", "docs", handle_web_asset),
    R(HTTP_GET, "/docs/{file}", "docs.asset", handle_web_asset),
    R(HTTP_GET, "/console", "console", handle_web_asset),
    R(HTTP_GET, "/console/{file}", "console.asset", handle_web_asset),
    R(HTTP_GET, "/v1/waste-types", "waste_types.list", handle_waste_types_list),
    R(HTTP_POST, "/v1/waste-types", "waste_types.create", handle_waste_types_create),
    R(HTTP_GET, "/v1/waste-types/{code}", "waste_types.get", handle_waste_types_get),
    R(HTTP_GET, "/v1/organizations", "organizations.list", handle_organizations_list),
    R(HTTP_POST, "/v1/organizations", "organizations.create", handle_organizations_create),
    R(HTTP_GET, "/v1/organizations/{id}", "organizations.get", handle_organizations_get),
    R(HTTP_PATCH, "/v1/organizations/{id}", "organizations.patch", handle_organizations_patch),
    R(HTTP_DELETE, "/v1/organizations/{id}", "organizations.delete", handle_organizations_delete),
    R(HTTP_GET, "/v1/organizations/{id}/storages", "organizations.storages",
      handle_organization_storages),
    R(HTTP_POST, "/v1/organizations/{id}/transfers", "transfers.create", handle_transfers_create),
    R(HTTP_GET, "/v1/storages", "storages.list", handle_storages_list),
    R(HTTP_POST, "/v1/storages", "storages.create", handle_storages_create),
    R(HTTP_GET, "/v1/storages/{id}", "storages.get", handle_storages_get),
    R(HTTP_PATCH, "/v1/storages/{id}", "storages.patch", handle_storages_patch),
    R(HTTP_DELETE, "/v1/storages/{id}", "storages.delete", handle_storages_delete),
    R(HTTP_POST, "/v1/storages/{id}/unload", "storages.unload", handle_storages_unload),
    R(HTTP_GET, "/v1/routes", "routes.list", handle_routes_list),
    R(HTTP_POST, "/v1/routes", "routes.create", handle_routes_create),
    R(HTTP_GET, "/v1/routes/{id}", "routes.get", handle_routes_get),
    R(HTTP_PATCH, "/v1/routes/{id}", "routes.patch", handle_routes_patch),
    R(HTTP_DELETE, "/v1/routes/{id}", "routes.delete", handle_routes_delete),
    R(HTTP_GET, "/v1/transfers", "transfers.list", handle_transfers_list),
    R(HTTP_GET, "/v1/transfers/{id}", "transfers.get", handle_transfers_get),
    R(HTTP_GET, "/v1/stats", "stats", handle_stats),
};

const int api_route_count = sizeof api_routes / sizeof api_routes[0];
