// Which storages a list shows and in what order: search by name, a filter, a sort. Pure
// (no DOM), so node's test runner checks it; the lists (lists.mjs) draw what it returns.

import { fillRows, fullestType } from './format.mjs';

// A type at or above this share of its capacity is "nearly full" and stands out.
export const NEAR_FULL = 0.9;

export const SORTS = ['nearest', 'name', 'fullest', 'room'];
export const FILTERS = ['all', 'nearFull', 'hasRoom'];

// The share of capacity at which a storage's type counts as nearly full: the lowest
// threshold of the alert rules that match it (a rule without a storage or a type matches
// every one), else NEAR_FULL.
export function nearFullThreshold(rules, storageId, type) {
  let threshold = null;
  for (const rule of rules || []) {
    const storageMatches = rule.storage_id === null || rule.storage_id === undefined || rule.storage_id === storageId;
    const typeMatches = rule.waste_type === null || rule.waste_type === undefined || rule.waste_type === type;
    if (storageMatches && typeMatches && typeof rule.fill_ratio_above === 'number') {
      threshold = threshold === null ? rule.fill_ratio_above : Math.min(threshold, rule.fill_ratio_above);
    }
  }
  return threshold === null ? NEAR_FULL : threshold;
}

function hasNearFull(storage, rules) {
  return fillRows(storage).some((row) => row.ratio >= nearFullThreshold(rules, storage.id, row.type));
}

function roomLeft(storage) {
  return fillRows(storage).reduce((sum, row) => sum + row.remaining, 0);
}

// storages: iterable of storages; options: {query, filter, sort, distances: Map id ->
// distance in metres (null: unreachable), for 'nearest'; rules: the alert rules that set
// what "nearly full" means, for 'nearFull'}. Returns the storages to show,
// in order; ties are broken by id.
export function listStorages(
  storages,
  { query = '', filter = 'all', sort = 'name', distances = null, rules = [] } = {},
) {
  const q = query.trim().toLocaleLowerCase();
  const shown = [...storages].filter((s) => {
    if (q && !s.name.toLocaleLowerCase().includes(q)) return false;
    if (filter === 'nearFull') return hasNearFull(s, rules);
    if (filter === 'hasRoom') return roomLeft(s) > 0;
    return true;
  });
  const distance = (s) => {
    const d = distances ? distances.get(s.id) : undefined;
    return d === null || d === undefined ? Infinity : d;
  };
  const compare = {
    nearest: (a, b) => distance(a) - distance(b),
    name: (a, b) => a.name.localeCompare(b.name),
    fullest: (a, b) => (fullestType(b)?.ratio ?? 0) - (fullestType(a)?.ratio ?? 0),
    room: (a, b) => roomLeft(b) - roomLeft(a),
  }[sort];
  return shown.sort((a, b) => (compare ? compare(a, b) : 0) || a.id - b.id);
}

// The transfers a ledger shows: those of an organization, a trigger, or naming a storage
// or an organization whose name contains the query.
export function listTransfers(transfers, { organization = null, trigger = '', query = '', names = null } = {}) {
  const q = query.trim().toLocaleLowerCase();
  return transfers.filter((transfer) => {
    if (organization && transfer.organization_id !== organization) return false;
    if (trigger && transfer.trigger !== trigger) return false;
    if (!q) return true;
    const named = [names?.organization(transfer.organization_id)].concat(
      (transfer.shipments || []).map((s) => names?.storage(s.storage_id)),
    );
    return named.some((name) => name && name.toLocaleLowerCase().includes(q));
  });
}
