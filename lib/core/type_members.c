/* A type's storages as a sorted id set (see type_members.h). */
#include "core/type_members.h"

#include <stdlib.h>

static int compare_ids(const void *left, const void *right)
{
    int64_t a = *(const int64_t *)left, b = *(const int64_t *)right;
    return a < b ? -1 : a > b;
}

size_t type_members_normalize(int64_t *ids, size_t count)
{
    if (count == 0) {
        return 0;
    }
    qsort(ids, count, sizeof *ids, compare_ids);
    size_t kept = 1;
    for (size_t i = 1; i < count; i++) {
        if (ids[i] != ids[kept - 1]) {
            ids[kept++] = ids[i];
        }
    }
    return kept;
}

/* Whether id is in the ascending array. */
static bool sorted_has(const int64_t *ids, size_t count, int64_t id)
{
    size_t low = 0, high = count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (ids[mid] < id) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    return low < count && ids[low] == id;
}

bool type_members_has(const type_members *members, int64_t storage_id)
{
    return sorted_has(members->ids, members->count, storage_id);
}

static bool in_graph(const graph *g, int64_t storage_id)
{
    return graph_has_node(g, (node_ref){NODE_STORAGE, storage_id});
}

size_t type_members_reachable(const type_members *members, const graph *g, const int64_t *reachable,
                              size_t reachable_count)
{
    size_t count = 0;
    for (size_t i = 0; i < members->count; i++) {
        int64_t id = members->ids[i];
        if (reachable != NULL ? sorted_has(reachable, reachable_count, id) : in_graph(g, id)) {
            count++;
        }
    }
    return count;
}

size_t type_members_unreached(const type_members *members, const graph *g, int64_t after_id,
                              const int64_t *reachable, size_t reachable_count, int64_t *out,
                              size_t cap)
{
    size_t count = 0;
    for (size_t i = 0; i < members->count; i++) {
        int64_t id = members->ids[i];
        if (id <= after_id) {
            continue;
        }
        bool reached =
            in_graph(g, id) && reachable != NULL && sorted_has(reachable, reachable_count, id);
        if (!reached) {
            if (count < cap) {
                out[count] = id;
            }
            count++;
        }
    }
    return count;
}

size_t type_members_roadless(const type_members *members, const graph *g, int64_t after_id,
                             int64_t *out, size_t cap)
{
    size_t count = 0;
    for (size_t i = 0; i < members->count; i++) {
        int64_t id = members->ids[i];
        if (id > after_id && !in_graph(g, id)) {
            if (count < cap) {
                out[count] = id;
            }
            count++;
        }
    }
    return count;
}

bool type_members_any_in_graph(const type_members *members, const graph *g)
{
    for (size_t i = 0; i < members->count; i++) {
        if (in_graph(g, members->ids[i])) {
            return true;
        }
    }
    return false;
}
