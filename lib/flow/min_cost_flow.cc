// The C API of min_cost_flow.h over LEMON. StaticDigraph: the network is built once from
// the arc list (arcs sorted by source node, as StaticDigraph::build wants) and never
// changed, which is LEMON's most compact and fastest graph for that.
#include "flow/min_cost_flow.h"

#include <lemon/network_simplex.h>
#include <lemon/preflow.h>
#include <lemon/static_graph.h>

#include <algorithm>
#include <limits>
#include <new>
#include <numeric>
#include <utility>
#include <vector>

namespace
{

using Graph = lemon::StaticDigraph;
using Value = long long;

bool add_overflows(Value a, Value b)
{
    return b > std::numeric_limits<Value>::max() - a;
}

mcf_status solve(size_t node_count, const mcf_arc *arcs, size_t arc_count, uint32_t source,
                 uint32_t sink, int64_t *flows, int64_t *value_out, int64_t *cost_out)
{
    if (source >= node_count || sink >= node_count || source == sink ||
        node_count > static_cast<size_t>(std::numeric_limits<int>::max()) ||
        arc_count > static_cast<size_t>(std::numeric_limits<int>::max()) ||
        (arcs == nullptr && arc_count > 0)) {
        return MCF_INVALID;
    }
    Value capacity_out_of_source = 0;
    for (size_t i = 0; i < arc_count; i++) {
        const mcf_arc &a = arcs[i];
        if (a.from >= node_count || a.to >= node_count || a.capacity < 0 || a.cost < 0) {
            return MCF_INVALID;
        }
        if (a.from == source) {
            if (add_overflows(capacity_out_of_source, a.capacity)) {
                return MCF_OVERFLOW;
            }
            capacity_out_of_source += a.capacity;
        }
    }
    // StaticDigraph::build takes arcs ordered by source node; order[k] is the caller's arc
    // index of the k-th arc built.
    std::vector<size_t> order(arc_count);
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [arcs](size_t a, size_t b) { return arcs[a].from < arcs[b].from; });
    std::vector<std::pair<int, int>> ends(arc_count);
    for (size_t k = 0; k < arc_count; k++) {
        ends[k] = {static_cast<int>(arcs[order[k]].from), static_cast<int>(arcs[order[k]].to)};
    }
    Graph g;
    g.build(static_cast<int>(node_count), ends.begin(), ends.end());
    Graph::ArcMap<Value> capacity(g), cost(g);
    for (size_t k = 0; k < arc_count; k++) {
        Graph::Arc arc = g.arc(static_cast<int>(k));
        capacity[arc] = arcs[order[k]].capacity;
        cost[arc] = arcs[order[k]].cost;
    }

    // Phase 1: how much can flow at all.
    lemon::Preflow<Graph, Graph::ArcMap<Value>> preflow(g, capacity, g.node(source), g.node(sink));
    preflow.runMinCut();
    Value max_flow = preflow.flowValue();

    // Phase 2: that much, at the least cost. No arc has negative cost, so the problem is
    // bounded; a flow of max_flow exists, so it is feasible.
    lemon::NetworkSimplex<Graph, Value, Value> simplex(g);
    simplex.upperMap(capacity).costMap(cost).stSupply(g.node(source), g.node(sink), max_flow);
    if (simplex.run() != lemon::NetworkSimplex<Graph, Value, Value>::OPTIMAL) {
        return MCF_FAILED;
    }
    // totalCost sums in Value; recompute it checked, so an overflow is refused, not wrapped.
    Value total = 0;
    for (size_t k = 0; k < arc_count; k++) {
        Value f = simplex.flow(g.arc(static_cast<int>(k)));
        Value c = arcs[order[k]].cost;
        if (f > 0 && c > 0) {
            if (f > std::numeric_limits<Value>::max() / c || add_overflows(total, f * c)) {
                return MCF_OVERFLOW;
            }
            total += f * c;
        }
    }
    for (size_t k = 0; k < arc_count; k++) {
        flows[order[k]] = simplex.flow(g.arc(static_cast<int>(k)));
    }
    *value_out = max_flow;
    *cost_out = total;
    return MCF_OK;
}

} // namespace

extern "C" mcf_status mcf_solve(size_t node_count, const mcf_arc *arcs, size_t arc_count,
                                uint32_t source, uint32_t sink, int64_t *flows, int64_t *value,
                                int64_t *cost)
{
    try {
        return solve(node_count, arcs, arc_count, source, sink, flows, value, cost);
    } catch (const std::bad_alloc &) {
        return MCF_NO_MEMORY;
    } catch (...) {
        return MCF_FAILED;
    }
}
