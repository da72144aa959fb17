/* Movement rules (see movement.h). */
#include "core/movement.h"

#include <string.h>

movement_status movement_status_of(bool in_transit, bool received, int64_t received_kg,
                                   int64_t rejected_kg)
{
    if (!in_transit) {
        return MOVEMENT_ACCEPTED; /* an automatic storage takes a load at once */
    }
    if (!received) {
        return MOVEMENT_IN_TRANSIT;
    }
    if (rejected_kg == 0) {
        return MOVEMENT_ACCEPTED;
    }
    /* Everything weighed was refused (a load weighed at 0 kg with nothing refused is
     * accepted above: there was nothing to refuse). */
    return received_kg - rejected_kg == 0 ? MOVEMENT_REJECTED : MOVEMENT_PARTIALLY_REJECTED;
}

static const char *const names[] = {
    [MOVEMENT_IN_TRANSIT] = "in_transit",
    [MOVEMENT_ACCEPTED] = "accepted",
    [MOVEMENT_PARTIALLY_REJECTED] = "partially_rejected",
    [MOVEMENT_REJECTED] = "rejected",
};

const char *movement_status_name(movement_status status)
{
    return names[status];
}

bool movement_status_parse(const char *name, movement_status *out)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (movement_status)i;
            return true;
        }
    }
    return false;
}

bool movement_weight_varies(int64_t planned_kg, int64_t received_kg)
{
    /* Both are at most 10^12, so the product stays far inside int64_t. */
    int64_t difference =
        received_kg > planned_kg ? received_kg - planned_kg : planned_kg - received_kg;
    return difference * 10 > planned_kg;
}

const char *movement_receipt_invalid(int64_t received_kg, int64_t rejected_kg, bool has_reason,
                                     const char **why)
{
    if (received_kg < 0 || received_kg > MOVEMENT_MAX_KG) {
        *why = "must be a whole number of kilograms from 0 to 10^12";
        return "received_kg";
    }
    if (rejected_kg < 0 || rejected_kg > MOVEMENT_MAX_KG) {
        *why = "must be a whole number of kilograms from 0 to 10^12";
        return "rejected_kg";
    }
    if (rejected_kg > received_kg) {
        *why = "cannot be more than received_kg";
        return "rejected_kg";
    }
    if (rejected_kg > 0 && !has_reason) {
        *why = "is required when rejected_kg is more than 0";
        return "rejection_reason";
    }
    return NULL;
}
