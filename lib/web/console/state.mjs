// The console's store: what the signed-in key may see, and the pure step that folds one
// live event into it. No DOM, no timers, no I/O, so node's test runner checks every event
// kind (test/browser/unit/state.test.mjs). applyEvent never changes the state it is given:
// it returns the next state (sharing what did not change) and the effects the page must
// show (which parts to draw again, a line for the activity list, a transfer to highlight).

// What each role may do in the console (the service checks it again on every request).
const MAY = {
  handover: ['admin', 'organization'],
  unload: ['admin', 'storage'],
  receipt: ['storage'],
  loads: ['organization'],
  organizations: ['admin', 'auditor', 'organization'],
};

export function may(role, action) {
  return (MAY[action] || []).includes(role);
}

// The ledger keeps the newest KEEP transfers in memory.
export const KEEP = 5000;
// The alert firings kept for the page, newest first.
export const FIRINGS = 50;

// Everything a key's session holds; `session` counts sign-ins and sign-outs so that an
// answer for the last session never lands in this one.
export function initialState(session = 0) {
  return {
    session,
    me: null,
    wasteTypes: [],
    organizations: new Map(),
    storages: new Map(),
    routes: new Map(),
    transfers: [],
    keys: [],
    movements: new Map(), // id -> movement (GET /v1/movements, `movement` events): a storage's or an organization's loads
    alertRules: [], // admin: GET /v1/alerts, which set the near-full thresholds
    firings: [], // `alert` events, newest first (at most FIRINGS)
    ledgerPage: 0,
    ledgerTruncated: false,
    ledgerUnread: false,
    storagesTruncated: false,
    routesTruncated: false,
    distances: null, // for an organization's key: Map storage id -> metres (null: no road)
    selectedStorage: null,
    actingOrg: null,
    selectedView: null, // {org, storage, answer | error | loading}: the storage as the acting organization sees it
    loading: {},
    errors: {},
    dirty: new Set(), // parts an event touched while they were being read: read them again
  };
}

// The state of a new session for `me` (GET /v1/me): nothing of the last key's data.
export function startSession(state, me) {
  const next = initialState(state.session + 1);
  next.me = me;
  next.actingOrg = me && me.role === 'organization' ? me.organization_id : null;
  next.selectedStorage = me && me.role === 'storage' ? me.storage_id : null;
  return next;
}

// The ledger with `transfer` in place (newest first, no duplicates, at most KEEP):
// {transfers, added, truncated}. `transfers` is a new array when the transfer was added.
export function withTransfer(transfers, transfer) {
  if (!transfer || transfer.id === null || transfer.id === undefined || transfers.some((t) => t.id === transfer.id)) {
    return { transfers, added: false, truncated: false };
  }
  let index = 0;
  while (index < transfers.length && transfers[index].id > transfer.id) {
    index++;
  }
  const next = [...transfers.slice(0, index), transfer, ...transfers.slice(index)];
  const truncated = next.length > KEEP;
  if (truncated) {
    next.length = KEEP;
  }
  return { transfers: next, added: true, truncated };
}

// The state after a ledger read (newest first): transfers that arrived live meanwhile stay.
export function withLedger(state, answer) {
  let transfers = answer.items;
  let truncated = answer.truncated;
  for (const transfer of state.transfers) {
    const step = withTransfer(transfers, transfer);
    transfers = step.transfers;
    truncated = truncated || step.truncated;
  }
  return { ...state, transfers, ledgerTruncated: truncated, ledgerUnread: answer.unread };
}

// A copy of `map` with the entry `id` replaced by `value`.
function withEntry(map, id, value) {
  const next = new Map(map);
  next.set(id, value);
  return next;
}

// The fields of `data` that an event carries (absent or null ones keep the old value).
function merged(old, data, fields) {
  const next = { ...old };
  for (const field of fields) {
    if (data[field]) {
      next[field] = data[field];
    }
  }
  return next;
}

function noEffects() {
  return { sections: [], storage: null, fresh: null, activity: null, reload: false };
}

// Folds one event of GET /v1/events ({type, data} with data already parsed) into the state.
// Returns {state, effects}; effects: {sections: parts to draw again, storage: the id of the
// one storage that changed (its item, node and detail), fresh: a transfer id to highlight,
// activity: {kind, ...} for the activity list, reload: read everything again}.
export function applyEvent(state, event) {
  const data = event && event.data && typeof event.data === 'object' ? event.data : null;
  const effects = noEffects();
  if (!data && event?.type !== 'resync') {
    return { state, effects };
  }
  switch (event.type) {
    case 'transfer':
      return applyTransfer(state, data, effects);
    case 'storage':
      return applyStorage(state, data, effects);
    case 'organization': {
      let next = state;
      if (state.loading.organizations) {
        next = { ...next, dirty: new Set([...state.dirty, 'organizations']) };
      }
      const org = state.organizations.get(data.id);
      if (org && data.deleted) {
        const organizations = new Map(state.organizations);
        organizations.delete(data.id);
        next = { ...next, organizations };
        effects.sections.push('organizations');
      } else if (org) {
        const changed = merged(org, data, ['pending', 'capacity', 'name']);
        next = { ...next, organizations: withEntry(state.organizations, data.id, changed) };
        effects.sections.push('organizations');
      }
      return { state: next, effects };
    }
    case 'unload':
      effects.activity = {
        kind: 'unload',
        storage_id: data.storage_id,
        unloaded: data.unloaded || {},
        actor: data.actor || '',
      };
      return { state, effects };
    case 'route': {
      // The route as GET /v1/routes/{id} shows it, or {id, deleted: true}.
      const routes = new Map(state.routes);
      if (data.deleted) {
        routes.delete(data.id);
      } else if (data.id && data.from && data.to) {
        routes.set(data.id, data);
      } else {
        return { state, effects };
      }
      // A road changed: the way from the acting organization may be another one now.
      effects.sections.push('routes');
      return { state: { ...state, routes, selectedView: null }, effects };
    }
    case 'movement':
      return applyMovement(state, data, effects);
    case 'alert': {
      // A rule fired: the type stands out until the page is read again; the activity says it.
      if (!data.id || !data.storage_id || !data.waste_type) {
        return { state, effects };
      }
      const firings = [data, ...state.firings.filter((f) => f.id !== data.id)].slice(0, FIRINGS);
      effects.activity = {
        kind: 'alert',
        storage_id: data.storage_id,
        waste_type: data.waste_type,
        fill_ratio: data.fill_ratio,
        threshold: data.threshold,
      };
      effects.storage = state.storages.has(data.storage_id) ? data.storage_id : null;
      return { state: { ...state, firings }, effects };
    }
    case 'resync':
      effects.reload = true;
      return { state, effects };
    default:
      return { state, effects };
  }
}

function applyTransfer(state, data, effects) {
  const step = withTransfer(state.transfers, data);
  let next = state;
  if (step.added) {
    next = { ...next, transfers: step.transfers, ledgerTruncated: state.ledgerTruncated || step.truncated };
    effects.fresh = data.id;
    effects.activity = {
      kind: 'transfer',
      id: data.id,
      organization_id: data.organization_id,
      trigger: data.trigger,
      shipments: data.shipments || [],
    };
  }
  const org = data.organization_id ? state.organizations.get(data.organization_id) : null;
  if (org && data.pending) {
    next = { ...next, organizations: withEntry(state.organizations, org.id, { ...org, pending: data.pending }) };
    effects.sections.push('organizations');
  }
  effects.sections.push('ledger');
  return { state: next, effects };
}

function applyStorage(state, data, effects) {
  let next = state;
  if (state.loading.storages) {
    next = { ...next, dirty: new Set([...state.dirty, 'storages']) };
  }
  const storage = state.storages.get(data.id);
  if (storage && data.deleted) {
    const storages = new Map(state.storages);
    storages.delete(data.id);
    next = { ...next, storages, selectedStorage: state.selectedStorage === data.id ? null : state.selectedStorage };
    effects.sections.push('storages');
  } else if (storage) {
    const changed = merged(storage, data, ['stock', 'reserved', 'remaining', 'capacity', 'name', 'intake']);
    next = { ...next, storages: withEntry(state.storages, data.id, changed) };
    effects.storage = data.id;
  } else if (data.capacity && data.name) {
    next = { ...next, storages: withEntry(state.storages, data.id, data) };
    effects.sections.push('storages');
  }
  return { state: next, effects };
}

// A movement as the feed reads it: new (a load set off) or changed (received). Only the
// loads the page follows are kept: a storage's key those to it, an organization's its own
// (the service sends no others, but an admin's page keeps none: it has no such panel).
function applyMovement(state, data, effects) {
  const me = state.me;
  if (!data.id || !data.status) {
    return { state, effects };
  }
  const mine =
    (me?.role === 'storage' && data.storage_id === me.storage_id) ||
    (me?.role === 'organization' && data.organization_id === me.organization_id);
  if (!mine) {
    return { state, effects };
  }
  let next = { ...state, movements: withEntry(state.movements, data.id, data) };
  if (state.loading.movements) {
    next = { ...next, dirty: new Set([...state.dirty, 'movements']) };
  }
  effects.sections.push('movements');
  if (data.status !== 'in_transit') {
    effects.activity = {
      kind: 'movement',
      id: data.id,
      status: data.status,
      storage_id: data.storage_id,
      waste_type: data.waste_type,
      accepted_kg: data.accepted_kg,
      rejected_kg: data.rejected_kg,
    };
  }
  return { state: next, effects };
}
