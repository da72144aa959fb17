// The console's store: every kind of live event folded into the state, without changing the
// state it was given.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  FIRINGS,
  KEEP,
  applyEvent,
  initialState,
  may,
  startSession,
  withLedger,
  withTransfer,
} from '../../../lib/web/console/state.mjs';

function world() {
  const state = startSession(initialState(), { role: 'admin', organization_id: null, storage_id: null });
  state.organizations = new Map([[2, { id: 2, name: 'ОО2', pending: { plastic: 5 }, capacity: { plastic: 50 } }]]);
  state.storages = new Map([
    [3, { id: 3, name: 'МНО3', capacity: { plastic: 10, glass: 30 }, stock: { plastic: 2, glass: 0 } }],
  ]);
  state.routes = new Map([[7, { id: 7, from: { organization_id: 2 }, to: { storage_id: 3 }, distance_m: 100 }]]);
  state.transfers = [{ id: 4 }, { id: 2 }];
  return state;
}

// A deep copy that keeps Maps and Sets comparable with deepEqual.
function snapshot(state) {
  return structuredClone(state);
}

test('a new session forgets the last key and starts where the key belongs', () => {
  const old = world();
  const org = startSession(old, { role: 'organization', organization_id: 2, storage_id: null });
  assert.equal(org.session, old.session + 1);
  assert.equal(org.actingOrg, 2);
  assert.equal(org.selectedStorage, null);
  assert.equal(org.storages.size, 0);
  assert.deepEqual(org.transfers, []);
  const storage = startSession(org, { role: 'storage', organization_id: null, storage_id: 3 });
  assert.equal(storage.selectedStorage, 3);
  assert.equal(storage.actingOrg, null);
});

test('transfer: added newest first, highlighted, logged, the pending of its organization replaced', () => {
  const state = world();
  const before = snapshot(state);
  const event = {
    type: 'transfer',
    data: { id: 3, organization_id: 2, trigger: 'handover', pending: { plastic: 1 }, shipments: [{ storage_id: 3 }] },
  };
  const { state: next, effects } = applyEvent(state, event);
  assert.deepEqual(snapshot(state), before, 'the given state is unchanged');
  assert.deepEqual(
    next.transfers.map((t) => t.id),
    [4, 3, 2],
  );
  assert.deepEqual(next.organizations.get(2).pending, { plastic: 1 });
  assert.deepEqual(next.organizations.get(2).capacity, { plastic: 50 });
  assert.equal(effects.fresh, 3);
  assert.deepEqual(effects.activity, {
    kind: 'transfer',
    id: 3,
    organization_id: 2,
    trigger: 'handover',
    shipments: [{ storage_id: 3 }],
  });
  assert.deepEqual(effects.sections, ['organizations', 'ledger']);
  assert.equal(next.storages, state.storages, 'what did not change is shared');
});

test('transfer: one already in the ledger is not added twice nor logged', () => {
  const state = world();
  const { state: next, effects } = applyEvent(state, { type: 'transfer', data: { id: 4, organization_id: 9 } });
  assert.equal(next.transfers, state.transfers);
  assert.equal(effects.fresh, null);
  assert.equal(effects.activity, null);
  assert.deepEqual(effects.sections, ['ledger']);
});

test('storage: a known storage takes the fields the event carries', () => {
  const state = world();
  const before = snapshot(state);
  const { state: next, effects } = applyEvent(state, {
    type: 'storage',
    data: { id: 3, stock: { plastic: 10, glass: 0 }, remaining: { plastic: 0, glass: 30 } },
  });
  assert.deepEqual(snapshot(state), before);
  assert.deepEqual(next.storages.get(3), {
    id: 3,
    name: 'МНО3',
    capacity: { plastic: 10, glass: 30 },
    stock: { plastic: 10, glass: 0 },
    remaining: { plastic: 0, glass: 30 },
  });
  assert.equal(effects.storage, 3);
  assert.deepEqual(effects.sections, []);
  assert.equal(next.dirty.size, 0);
});

test('storage: a new one is added whole; one without a name is left for the next read', () => {
  const state = world();
  const added = applyEvent(state, { type: 'storage', data: { id: 8, name: 'МНО8', capacity: { glass: 5 } } });
  assert.deepEqual(added.state.storages.get(8), { id: 8, name: 'МНО8', capacity: { glass: 5 } });
  assert.deepEqual(added.effects.sections, ['storages']);
  const partial = applyEvent(state, { type: 'storage', data: { id: 9, stock: { glass: 1 } } });
  assert.equal(partial.state, state);
  assert.equal(partial.effects.storage, null);
});

test('storage and organization events during a read mark the part to be read again', () => {
  const state = { ...world(), loading: { storages: true, organizations: true } };
  const one = applyEvent(state, { type: 'storage', data: { id: 3, stock: { plastic: 1 } } });
  const two = applyEvent(one.state, { type: 'organization', data: { id: 2, pending: {} } });
  assert.deepEqual([...two.state.dirty].sort(), ['organizations', 'storages']);
  assert.equal(state.dirty.size, 0);
});

test('organization: pending and limits replaced; an unknown one changes nothing', () => {
  const state = world();
  const { state: next, effects } = applyEvent(state, {
    type: 'organization',
    data: { id: 2, pending: { glass: 3 }, capacity: { glass: 9 } },
  });
  assert.deepEqual(next.organizations.get(2), { id: 2, name: 'ОО2', pending: { glass: 3 }, capacity: { glass: 9 } });
  assert.deepEqual(effects.sections, ['organizations']);
  const unknown = applyEvent(state, { type: 'organization', data: { id: 99, pending: { glass: 3 } } });
  assert.equal(unknown.state, state);
  assert.deepEqual(unknown.effects.sections, []);
});

test('unload: only a line for the activity list', () => {
  const state = world();
  const { state: next, effects } = applyEvent(state, {
    type: 'unload',
    data: { storage_id: 3, unloaded: { plastic: 4 }, actor: 'key 5' },
  });
  assert.equal(next, state);
  assert.deepEqual(effects.activity, { kind: 'unload', storage_id: 3, unloaded: { plastic: 4 }, actor: 'key 5' });
});

test('route: created, changed and deleted; the way already found is forgotten', () => {
  const state = { ...world(), selectedView: { org: 2, storage: 3, answer: { distance_m: 100 } } };
  const road = { id: 8, from: { storage_id: 3 }, to: { organization_id: 2 }, distance_m: 50, two_way: false };
  const created = applyEvent(state, { type: 'route', data: road });
  assert.deepEqual([...created.state.routes.keys()], [7, 8]);
  assert.deepEqual(created.state.routes.get(8), road);
  assert.equal(created.state.selectedView, null);
  assert.deepEqual(created.effects.sections, ['routes']);
  assert.equal(state.routes.size, 1, 'the given routes are unchanged');
  const changed = applyEvent(created.state, { type: 'route', data: { ...road, distance_m: 9 } });
  assert.equal(changed.state.routes.get(8).distance_m, 9);
  const deleted = applyEvent(changed.state, { type: 'route', data: { id: 7, deleted: true } });
  assert.deepEqual([...deleted.state.routes.keys()], [8]);
  const partial = applyEvent(state, { type: 'route', data: { id: 9 } });
  assert.equal(partial.state, state, 'a route without its ends is not stored');
});

test('storage and organization deleted: gone from the lists, the selection too', () => {
  const state = { ...world(), selectedStorage: 3 };
  const storage = applyEvent(state, { type: 'storage', data: { id: 3, deleted: true } });
  assert.equal(storage.state.storages.has(3), false);
  assert.equal(storage.state.selectedStorage, null);
  assert.deepEqual(storage.effects.sections, ['storages']);
  const org = applyEvent(state, { type: 'organization', data: { id: 2, deleted: true } });
  assert.equal(org.state.organizations.has(2), false);
  assert.deepEqual(org.effects.sections, ['organizations']);
  assert.equal(state.storages.has(3), true);
});

test('resync: everything is read again', () => {
  const state = world();
  const { state: next, effects } = applyEvent(state, { type: 'resync', data: null });
  assert.equal(next, state);
  assert.equal(effects.reload, true);
});

test('an unknown kind or an event without data changes nothing', () => {
  const state = world();
  for (const event of [{ type: 'parcel', data: { id: 1 } }, { type: 'transfer', data: null }, null]) {
    const { state: next, effects } = applyEvent(state, event);
    assert.equal(next, state);
    assert.deepEqual(effects, { sections: [], storage: null, fresh: null, activity: null, reload: false });
  }
});

test('the ledger keeps the newest KEEP transfers and says it dropped older ones', () => {
  const full = Array.from({ length: KEEP }, (_, i) => ({ id: KEEP - i }));
  const step = withTransfer(full, { id: KEEP + 1 });
  assert.equal(step.added, true);
  assert.equal(step.truncated, true);
  assert.equal(step.transfers.length, KEEP);
  assert.equal(step.transfers[0].id, KEEP + 1);
  assert.equal(step.transfers[KEEP - 1].id, 2);
  assert.equal(full.length, KEEP);
});

test('a ledger read keeps the transfers that arrived live while it was read', () => {
  const state = { ...world(), transfers: [{ id: 9 }] };
  const next = withLedger(state, { items: [{ id: 5 }, { id: 1 }], truncated: false, unread: true });
  assert.deepEqual(
    next.transfers.map((t) => t.id),
    [9, 5, 1],
  );
  assert.equal(next.ledgerUnread, true);
  assert.equal(next.ledgerTruncated, false);
});

test('what each role may do in the console', () => {
  const actions = ['handover', 'unload', 'organizations', 'receipt', 'loads'];
  const table = Object.fromEntries(
    ['admin', 'auditor', 'organization', 'storage', 'monitor', null].map((role) => [
      String(role),
      actions.filter((action) => may(role, action)),
    ]),
  );
  assert.deepEqual(table, {
    admin: ['handover', 'unload', 'organizations'],
    auditor: ['organizations'],
    organization: ['handover', 'organizations', 'loads'],
    storage: ['unload', 'receipt'],
    monitor: [],
    null: [],
  });
  assert.equal(may('admin', 'anything else'), false);
});

function movement(over) {
  return {
    id: 11,
    transfer_id: 6,
    organization_id: 2,
    storage_id: 3,
    waste_type: 'plastic',
    planned_kg: 4,
    status: 'in_transit',
    accepted_kg: null,
    rejected_kg: null,
    ...over,
  };
}

test('movement: a storage keeps the loads to it, in transit then received, with a line when received', () => {
  const state = startSession(initialState(), { role: 'storage', organization_id: null, storage_id: 3 });
  const before = snapshot(state);
  const sent = applyEvent(state, { type: 'movement', data: movement() });
  assert.deepEqual(before, snapshot(state), 'the given state is unchanged');
  assert.equal(sent.state.movements.get(11).status, 'in_transit');
  assert.deepEqual(sent.effects.sections, ['movements']);
  assert.equal(sent.effects.activity, null, 'a load setting off is no news for the activity list');
  const received = applyEvent(sent.state, {
    type: 'movement',
    data: movement({ status: 'partially_rejected', received_kg: 4, accepted_kg: 3, rejected_kg: 1 }),
  });
  assert.equal(received.state.movements.size, 1);
  assert.equal(received.state.movements.get(11).status, 'partially_rejected');
  assert.equal(sent.state.movements.get(11).status, 'in_transit');
  assert.deepEqual(received.effects.activity, {
    kind: 'movement',
    id: 11,
    status: 'partially_rejected',
    storage_id: 3,
    waste_type: 'plastic',
    accepted_kg: 3,
    rejected_kg: 1,
  });
  // another storage's load (an admin's stream would carry it) is not kept
  const other = applyEvent(state, { type: 'movement', data: movement({ id: 12, storage_id: 4 }) });
  assert.equal(other.state, state);
  assert.deepEqual(other.effects.sections, []);
});

test('movement: an organization keeps its own; one read during a load is read again', () => {
  const org = startSession(initialState(), { role: 'organization', organization_id: 2, storage_id: null });
  const own = applyEvent(org, { type: 'movement', data: movement({ status: 'accepted', accepted_kg: 4 }) });
  assert.deepEqual([...own.state.movements.keys()], [11]);
  assert.equal(own.effects.activity.status, 'accepted');
  const foreign = applyEvent(org, { type: 'movement', data: movement({ organization_id: 5 }) });
  assert.equal(foreign.state.movements.size, 0);
  const loading = { ...org, loading: { movements: true } };
  const marked = applyEvent(loading, { type: 'movement', data: movement() });
  assert.deepEqual([...marked.state.dirty], ['movements']);
  // an admin's page has no loads panel: nothing kept
  const admin = applyEvent(world(), { type: 'movement', data: movement() });
  assert.equal(admin.state.movements.size, 0);
  // no id or no status: nothing
  assert.equal(applyEvent(org, { type: 'movement', data: { id: 3 } }).state, org);
});

test('alert: the firing is kept newest first (at most FIRINGS), said in the activity, its storage redrawn', () => {
  const state = world();
  const firing = {
    id: 1,
    alert_id: 4,
    storage_id: 3,
    waste_type: 'plastic',
    fill_ratio: 0.92,
    threshold: 0.9,
    fired_at: '2026-12-07T10:00:00Z',
  };
  const { state: next, effects } = applyEvent(state, { type: 'alert', data: firing });
  assert.deepEqual(next.firings, [firing]);
  assert.deepEqual(state.firings, []);
  assert.equal(effects.storage, 3);
  assert.deepEqual(effects.activity, {
    kind: 'alert',
    storage_id: 3,
    waste_type: 'plastic',
    fill_ratio: 0.92,
    threshold: 0.9,
  });
  const again = applyEvent(next, { type: 'alert', data: firing });
  assert.equal(again.state.firings.length, 1, 'the same firing twice is kept once');
  let many = next;
  for (let id = 2; id <= FIRINGS + 5; id++) {
    many = applyEvent(many, { type: 'alert', data: { ...firing, id, storage_id: 99 } }).state;
  }
  assert.equal(many.firings.length, FIRINGS);
  assert.equal(many.firings[0].id, FIRINGS + 5);
  const unknown = applyEvent(state, { type: 'alert', data: { ...firing, storage_id: 99 } });
  assert.equal(unknown.effects.storage, null, 'a storage the page does not show is not redrawn');
  assert.equal(applyEvent(state, { type: 'alert', data: { id: 2 } }).state, state);
});
