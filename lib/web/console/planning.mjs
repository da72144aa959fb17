// Pure helpers of the plans, webhooks and reports panels: no DOM, no I/O, so node's test
// runner checks them (test/browser/unit/planning.test.mjs).

// The batch "everything pending now": one hand-over per organization with pending waste,
// in organization id order (the order nearest-first serves them), each with only its
// positive amounts. Empty when nothing is pending.
export function pendingBatch(organizations) {
  const list = [...organizations.values()].sort((a, b) => a.id - b.id);
  const handOvers = [];
  for (const org of list) {
    const waste = {};
    for (const [type, amount] of Object.entries(org.pending || {})) {
      if (Number.isInteger(amount) && amount > 0) {
        waste[type] = amount;
      }
    }
    if (Object.keys(waste).length > 0) {
      handOvers.push({ organization_id: org.id, waste });
    }
  }
  return handOvers;
}

// Total kilograms of a quantity map.
export function totalKg(map) {
  return Object.values(map || {}).reduce((sum, n) => sum + n, 0);
}

// The figures of both plans side by side: placed, unplaced (total), kg·m, and by how much
// min-cost saves (kg·m and share of nearest's kg·m; 0 when nearest moves nothing).
export function comparisonSummary(comparison) {
  const nearest = comparison.nearest;
  const minCost = comparison.min_cost;
  const saved = nearest.kg_m - minCost.kg_m;
  return {
    nearest: { placed: nearest.placed_kg, unplaced: totalKg(nearest.unplaced), kgM: nearest.kg_m },
    minCost: { placed: minCost.placed_kg, unplaced: totalKg(minCost.unplaced), kgM: minCost.kg_m },
    ratio: comparison.ratio,
    savedKgM: saved,
    savedShare: nearest.kg_m > 0 ? saved / nearest.kg_m : 0,
  };
}

// What the comparison says first: min-cost places more kilograms ('placesMore'; then its
// kg·m may be higher and the ratio below 1), or it moves the same for fewer kg·m
// ('saves'), or nearest-first is already optimal for this batch ('same').
export function verdictKind(sum) {
  if (sum.minCost.placed > sum.nearest.placed) {
    return 'placesMore';
  }
  return sum.savedKgM > 0 ? 'saves' : 'same';
}

function shipmentKey(s) {
  return `${s.organization_id}>${s.storage_id}>${s.waste_type}`;
}

// One row per (organization, storage, waste type) that either plan ships, with the
// kilograms each plan sends there (0 when it sends none) and the distance; ordered by
// organization, type, distance, storage. `differs` marks the rows where the plans disagree.
export function shipmentRows(comparison) {
  const rows = new Map();
  for (const [plan, field] of [
    [comparison.nearest, 'nearest'],
    [comparison.min_cost, 'minCost'],
  ]) {
    for (const s of plan.shipments) {
      const key = shipmentKey(s);
      let row = rows.get(key);
      if (!row) {
        row = {
          organizationId: s.organization_id,
          storageId: s.storage_id,
          wasteType: s.waste_type,
          distance: s.distance_m,
          nearest: 0,
          minCost: 0,
        };
        rows.set(key, row);
      }
      row[field] += s.amount;
    }
  }
  return [...rows.values()]
    .map((row) => ({ ...row, differs: row.nearest !== row.minCost }))
    .sort(
      (a, b) =>
        a.organizationId - b.organizationId ||
        (a.wasteType < b.wasteType ? -1 : a.wasteType > b.wasteType ? 1 : 0) ||
        a.distance - b.distance ||
        a.storageId - b.storageId,
    );
}

// The edges a plan draws on the graph: one per (organization, storage) it ships between,
// with the kilograms (all types) and the distance; `only` when the other plan has no
// shipment between the two. Ordered by organization, then storage.
export function planEdges(plan, other) {
  const pairs = (p) => {
    const map = new Map();
    for (const s of p.shipments) {
      const key = `o${s.organization_id}>s${s.storage_id}`;
      const edge = map.get(key) || {
        id: key,
        organizationId: s.organization_id,
        storageId: s.storage_id,
        amount: 0,
        distance: s.distance_m,
      };
      edge.amount += s.amount;
      map.set(key, edge);
    }
    return map;
  };
  const mine = pairs(plan);
  const theirs = pairs(other);
  return [...mine.values()]
    .map((edge) => ({ ...edge, only: !theirs.has(edge.id) }))
    .sort((a, b) => a.organizationId - b.organizationId || a.storageId - b.storageId);
}

// The query of a period chosen as two dates (YYYY-MM-DD, either may be empty) in the
// user's time zone: from the start of the first day to the start of the day after the
// last (the API's periods are [from, to)), as RFC 3339 in UTC. An error names the field
// when a date is not a date or the period ends before it starts.
export function periodQuery(fromDate, toDate) {
  const query = {};
  const parse = (text) => {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) {
      return null;
    }
    const [y, m, d] = text.split('-').map(Number);
    const date = new Date(y, m - 1, d);
    return date.getFullYear() === y && date.getMonth() === m - 1 && date.getDate() === d ? date : null;
  };
  const iso = (date) => date.toISOString().replace(/\.\d+Z$/, 'Z');
  let from = null;
  if (fromDate) {
    from = parse(fromDate);
    if (!from) {
      return { error: 'from' };
    }
    query.from = iso(from);
  }
  if (toDate) {
    const to = parse(toDate);
    if (!to) {
      return { error: 'to' };
    }
    const end = new Date(to.getFullYear(), to.getMonth(), to.getDate() + 1);
    if (from && end <= from) {
      return { error: 'to' };
    }
    query.to = iso(end);
  }
  return { query };
}

// The file name of a download of the period: movements_2026-12-01_2026-12-07.csv, with
// "start" / "now" for an open end.
export function exportFileName(fromDate, toDate) {
  return `movements_${fromDate || 'start'}_${toDate || 'now'}.csv`;
}

// The balance's rows, one per waste type in code order, every figure kept.
export function balanceRows(balance) {
  return Object.keys(balance || {})
    .sort()
    .map((type) => ({ type, ...balance[type] }));
}

// The event types a webhook may subscribe to, in the order the form shows them.
export const WEBHOOK_EVENTS = ['transfer.created', 'movement.received', 'unload.created', 'alert.fired'];

// A delivery attempt's outcome: 'ok' (2xx), 'failed' (an answer that is not 2xx) or
// 'noAnswer' (status_code null: no connection, a refused address, a timeout).
export function deliveryOutcome(delivery) {
  const code = delivery.status_code;
  if (code === null || code === undefined) {
    return 'noAnswer';
  }
  return code >= 200 && code < 300 ? 'ok' : 'failed';
}
