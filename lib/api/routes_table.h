/* The route table (routes_table.c): every endpoint of the service, for the HTTP server. */
#ifndef WF_API_ROUTES_TABLE_H
#define WF_API_ROUTES_TABLE_H

#include "http/router.h"

extern const router_route api_routes[];
extern const int api_route_count;

#endif
