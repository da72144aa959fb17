/* Movements: the rules of a shipment's journey from hand-over to the storage's weighbridge.
 * Pure: the status a movement has, what a receipt may say, and when the weight read differs
 * enough from the plan to warn. The engine and the API apply them; nothing here touches the
 * database. */
#ifndef WF_CORE_MOVEMENT_H
#define WF_CORE_MOVEMENT_H

#include <stdbool.h>
#include <stdint.h>

/* The largest quantity the service counts (kilograms). */
#define MOVEMENT_MAX_KG INT64_C(1000000000000)

typedef enum {
    MOVEMENT_IN_TRANSIT,
    MOVEMENT_ACCEPTED,
    MOVEMENT_PARTIALLY_REJECTED,
    MOVEMENT_REJECTED,
} movement_status;

/* A shipment to an automatic storage (in_transit false) was accepted when it was written;
 * one to a weighed storage is in transit until its receipt, and then accepted (nothing
 * rejected), rejected (nothing accepted) or partially rejected. */
movement_status movement_status_of(bool in_transit, bool received, int64_t received_kg,
                                   int64_t rejected_kg);
/* "in_transit", "accepted", "partially_rejected", "rejected". */
const char *movement_status_name(movement_status status);
/* Parses a name as movement_status_name writes it; false for anything else. */
bool movement_status_parse(const char *name, movement_status *out);

/* Whether a weighed load differs from its plan by more than 10 % of the plan (a warning,
 * never a refusal). Exact in integers: |received - planned| * 10 > planned. */
bool movement_weight_varies(int64_t planned_kg, int64_t received_kg);

/* The receipt's quantities, checked: 0 <= rejected <= received <= MOVEMENT_MAX_KG, and a
 * reason whenever something is rejected. Returns NULL when valid, else the field the
 * client must correct ("received_kg", "rejected_kg", "rejection_reason") and sets *why. */
const char *movement_receipt_invalid(int64_t received_kg, int64_t rejected_kg, bool has_reason,
                                     const char **why);

#endif
