// The operator console: sign-in with an API key, then what the key's role may see and do
// (GET /v1/me), kept current by the live event stream (GET /v1/events, read with fetch).
// Modules: api (HTTP), sse (the stream), graph (cytoscape), ledger, handover, unload,
// admin (keys, roads, capacities), format and dom (pure helpers).

import { ApiError, createApi } from './api.mjs';
import { createKeys, createRoads, capacityEditor } from './admin.mjs';
import { fillTable } from './bars.mjs';
import { byTestId, fill, h } from './dom.mjs';
import { fillRatio, kg, metres, nodeKey, percent, quantities } from './format.mjs';
import { createNetwork } from './graph.mjs';
import { neighbourhood } from './neighbourhood.mjs';
import { createHandover, problemView } from './handover.mjs';
import { addTransfer, createLedger, loadLedger } from './ledger.mjs';
import { EventStream } from './sse.mjs';
import { createUnload } from './unload.mjs';

const KEY_STORAGE = 'wasteflow.console.key';
// A console draws a region's neighbourhood, not a 100,000-storage world: beyond these it
// shows the first ones by id and says so.
const MAX_STORAGES = 5000;
const MAX_ROUTES = 20000;
const FRESH_MS = 6000;

const $ = (id) => document.getElementById(id);

const state = {
  key: null,
  me: null,
  openServer: false, // the server has no /v1/me: no access control, everything allowed
  wasteTypes: [],
  organizations: new Map(),
  storages: new Map(),
  routes: new Map(),
  transfers: [],
  ledgerPage: 0,
  ledgerTruncated: false,
  ledgerUnread: false,
  routesTruncated: false,
  graphFocus: null,
  session: 0, // bumped at every sign-in and sign-out
  dirty: new Set(),
  storagesTruncated: false,
  keys: [],
  fresh: new Set(),
  selectedStorage: null,
  actingOrg: null,
  selectedView: null, // {org, storage, answer} the storage as the acting organization sees it
  loading: {},
  errors: {},
  rateLimitedUntil: 0,
  activity: [],
};

const api = createApi({
  getKey: () => state.key,
  onUnauthorized: (error) => signOut(`Your key was refused: ${error.detail} Sign in again.`),
  onRateLimited: (error) => rateLimited(error.retryAfter),
});

let network = null;
let stream = null;
let handover = null;
let unload = null;
let keys = null;
let roads = null;
let ledger = null;

// ---------------------------------------------------------------- roles

function role() {
  return state.me ? state.me.role : null;
}
const isAdmin = () => role() === 'admin';
const canSeeOrganizations = () => ['admin', 'auditor', 'organization'].includes(role());
const canHandOver = () => role() === 'admin' || role() === 'organization';
const canUnload = () => role() === 'admin' || role() === 'storage';

function storageName(id) {
  return state.storages.get(id)?.name || `storage ${id}`;
}
function organizationName(id) {
  return state.organizations.get(id)?.name || `organization ${id}`;
}
function nodeName(ref) {
  return ref.organization_id !== undefined ? organizationName(ref.organization_id) : storageName(ref.storage_id);
}

// ---------------------------------------------------------------- banner, 429

let bannerTimer = null;

function banner(kind, text) {
  const el = $('banner');
  el.className = `banner ${kind}`;
  el.dataset.kind = kind;
  el.textContent = text;
  el.hidden = false;
}

function clearBanner() {
  $('banner').hidden = true;
}

function rateLimited(retryAfter) {
  const seconds = retryAfter ?? 1;
  state.rateLimitedUntil = Date.now() + seconds * 1000;
  clearInterval(bannerTimer);
  const tick = () => {
    const left = Math.ceil((state.rateLimitedUntil - Date.now()) / 1000);
    if (left <= 0) {
      clearInterval(bannerTimer);
      state.rateLimitedUntil = 0;
      clearBanner();
      handover?.updateSubmit();
      unload?.render();
      return;
    }
    banner('warning', `Too many requests for this key: the service asks to wait ${left} s before trying again.`);
  };
  tick();
  bannerTimer = setInterval(tick, 250);
  handover?.updateSubmit();
  unload?.render();
}

function errorView(error, retry) {
  return h(
    'div',
    { class: 'panel-error' },
    problemView(error),
    retry ? h('button', { type: 'button', class: 'small', text: 'Retry', onclick: retry }) : null,
  );
}

// ---------------------------------------------------------------- sign-in

function showSignIn(message) {
  $('console').hidden = true;
  $('signin').hidden = false;
  for (const id of ['who', 'live', 'signout', 'refresh']) {
    $(id).hidden = true;
  }
  const error = byTestId('signin-error');
  error.textContent = message || '';
  error.hidden = !message;
  $('signin-key').value = '';
  $('signin-key').focus();
}

async function onSignIn(event) {
  event.preventDefault();
  const key = $('signin-key').value.trim();
  const error = byTestId('signin-error');
  const button = byTestId('signin-submit');
  if (!key) {
    error.textContent = 'Enter an API key.';
    error.hidden = false;
    return;
  }
  button.disabled = true;
  button.textContent = 'Signing in…';
  error.hidden = true;
  try {
    const me = await whoAmI(key);
    state.key = key;
    try {
      sessionStorage.setItem(KEY_STORAGE, key);
    } catch {
      // storage may be off: the key then lasts until the page is closed
    }
    await start(me);
  } catch (e) {
    error.textContent =
      e instanceof ApiError && e.status === 401
        ? `This key was refused: ${e.detail}`
        : `Could not sign in: ${e.detail || e.message}`;
    error.hidden = false;
  } finally {
    button.disabled = false;
    button.textContent = 'Sign in';
  }
}

// GET /v1/me with the given key. A server without access control has no /v1/me (404):
// it lets anyone do anything, so the console then acts as admin and says so.
async function whoAmI(key) {
  try {
    const answer = await api.request('GET', '/v1/me', { key });
    return answer.body;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      return { role: 'admin', organization_id: null, storage_id: null, key_id: null, actor: 'anyone', open: true };
    }
    throw e;
  }
}

function signOut(message) {
  stream?.stop();
  stream = null;
  state.key = null;
  state.me = null;
  try {
    sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // nothing stored
  }
  clearBanner();
  forgetData();
  showSignIn(message);
}

// ---------------------------------------------------------------- loading

// Forgets everything the last key could see: the next key must not see it.
function forgetData() {
  state.session++;
  state.dirty.clear();
  Object.assign(state, {
    wasteTypes: [],
    organizations: new Map(),
    storages: new Map(),
    routes: new Map(),
    transfers: [],
    ledgerPage: 0,
    ledgerTruncated: false,
    ledgerUnread: false,
    storagesTruncated: false,
    routesTruncated: false,
    keys: [],
    selectedStorage: null,
    actingOrg: null,
    selectedView: null,
    graphFocus: null,
    activity: [],
    loading: {},
    errors: {},
  });
  state.fresh.clear();
  drawnKeys = null;
  singleStorageView = true;
  network?.destroy();
  network = null;
  for (const id of [
    'storages',
    'organizations',
    'selection',
    'ledger-slot',
    'actions',
    'keys-slot',
    'roads-slot',
    'activity',
  ]) {
    fill($(id));
  }
  $('network-caption').textContent = '';
}

async function start(me) {
  forgetData();
  state.me = me;
  state.openServer = !!me.open;
  state.actingOrg = me.role === 'organization' ? me.organization_id : null;
  state.selectedStorage = me.role === 'storage' ? me.storage_id : null;
  $('signin').hidden = true;
  $('console').hidden = false;
  document.body.dataset.role = me.role;
  renderWho();
  buildPanels();
  if (me.role === 'monitor') {
    return;
  }
  // The stream first, then the snapshot: a change committed between the two is then seen
  // (as an event during the load, which reads the part again).
  startEvents();
  await reloadAll();
}

function renderWho() {
  const me = state.me;
  let scope = '';
  if (me.role === 'organization') {
    scope = ` · ${organizationName(me.organization_id)}`;
  } else if (me.role === 'storage') {
    scope = ` · ${storageName(me.storage_id)}`;
  }
  fill(
    $('who'),
    h('span', { class: ['role', `role-${me.role}`], testid: 'whoami', dataset: { role: me.role }, text: me.role }),
    h('span', { class: 'scope', text: scope }),
    h('span', { class: 'actor muted', text: me.open ? ' · server without access control' : ` · ${me.actor || ''}` }),
  );
  for (const id of ['who', 'signout', 'refresh']) {
    $(id).hidden = false;
  }
}

// Loads one part of the state: fetch() reads it, apply(data) stores it, unless the key
// changed meanwhile (an answer for the last session must not land in this one). Events that
// touch the part while it loads mark it dirty: the snapshot may predate them, so the part
// is read once more.
async function section(name, fetch, apply) {
  const session = state.session;
  state.loading[name] = true;
  state.errors[name] = null;
  state.dirty.delete(name);
  renderSection(name);
  try {
    const data = await fetch();
    if (session !== state.session) {
      return;
    }
    apply(data);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      throw error;
    }
    if (session === state.session) {
      state.errors[name] = error;
    }
  } finally {
    if (session === state.session) {
      state.loading[name] = false;
    }
  }
  if (session !== state.session) {
    return;
  }
  renderSection(name);
  if (state.dirty.has(name)) {
    state.dirty.delete(name);
    refreshState();
  }
}

function applyLedger(answer) {
  // Transfers that arrived live while the ledger was read are kept.
  const live = state.transfers;
  state.transfers = answer.items;
  state.ledgerTruncated = answer.truncated;
  state.ledgerUnread = answer.unread;
  for (const transfer of live) {
    addTransfer(state, transfer);
  }
}

async function reloadAll() {
  const session = state.session;
  const jobs = [
    section(
      'types',
      () => api.listAll('/v1/waste-types'),
      (page) => {
        state.wasteTypes = page.items;
      },
    ),
    section(
      'storages',
      () => api.listAll('/v1/storages', {}, { maxItems: MAX_STORAGES }),
      (page) => {
        state.storages = new Map(page.items.map((s) => [s.id, s]));
        state.storagesTruncated = page.truncated;
      },
    ),
    section(
      'routes',
      () => api.listAll('/v1/routes', {}, { maxItems: MAX_ROUTES }),
      (page) => {
        state.routes = new Map(page.items.map((r) => [r.id, r]));
        state.routesTruncated = page.truncated;
      },
    ),
    section('ledger', () => loadLedger(api), applyLedger),
  ];
  if (canSeeOrganizations()) {
    jobs.push(
      section(
        'organizations',
        () => api.listAll('/v1/organizations'),
        (page) => {
          state.organizations = new Map(page.items.map((o) => [o.id, o]));
        },
      ),
    );
  }
  try {
    await Promise.all(jobs);
  } catch {
    return; // 401: signed out already
  }
  if (session !== state.session) {
    return;
  }
  renderWho();
  renderAll();
  if (isAdmin() && !state.openServer) {
    keys.load();
  }
  if (state.selectedStorage) {
    selectStorage(state.selectedStorage);
  }
}

// Reads stock and pending again: after a break in the stream (which resumes transfers, not
// states) and after events that may be newer than a snapshot being read.
async function refreshState() {
  await Promise.all([
    section(
      'storages',
      () => api.listAll('/v1/storages', {}, { maxItems: MAX_STORAGES }),
      (page) => {
        state.storages = new Map(page.items.map((s) => [s.id, s]));
        state.storagesTruncated = page.truncated;
      },
    ),
    canSeeOrganizations()
      ? section(
          'organizations',
          () => api.listAll('/v1/organizations'),
          (page) => {
            state.organizations = new Map(page.items.map((o) => [o.id, o]));
          },
        )
      : null,
  ]).catch(() => {});
}

// ---------------------------------------------------------------- live events

function setLive(stateName, text) {
  const el = $('live');
  el.hidden = false;
  el.dataset.state = stateName;
  el.textContent = text;
}

function startEvents() {
  stream?.stop();
  stream = new EventStream({
    url: '/v1/events',
    headers: () => ({ Authorization: `Bearer ${state.key}` }),
    onEvent: onLiveEvent,
    onStatus: (s, info) => {
      if (s === 'open') {
        setLive('open', 'Live');
      } else if (s === 'connecting') {
        setLive('connecting', 'Connecting…');
      } else if (s === 'reconnecting') {
        setLive(
          'reconnecting',
          info && info.delayMs ? `Reconnecting in ${Math.ceil(info.delayMs / 1000)} s` : 'Reconnecting…',
        );
      } else if (s === 'unavailable') {
        setLive(
          'unavailable',
          info && info.status === 404
            ? 'No live updates (this server has no /v1/events)'
            : 'No live updates for this key',
        );
      }
    },
    onUnauthorized: (problem) =>
      signOut(`Your key was refused: ${(problem && problem.detail) || 'unauthorized'} Sign in again.`),
    onReconnected: refreshState,
  });
  stream.start();
}

function markFresh(id) {
  state.fresh.add(id);
  setTimeout(() => {
    state.fresh.delete(id);
  }, FRESH_MS);
}

function logActivity(text) {
  state.activity.unshift({ at: new Date(), text });
  state.activity.length = Math.min(state.activity.length, 20);
  renderActivity();
}

function onLiveEvent(event) {
  let data;
  try {
    data = JSON.parse(event.data);
  } catch {
    return;
  }
  switch (event.type) {
    case 'transfer':
      if (addTransfer(state, data)) {
        markFresh(data.id);
        logActivity(`Transfer #${data.id} by ${organizationName(data.organization_id)} (${data.trigger})`);
      }
      if (data.organization_id && state.organizations.has(data.organization_id) && data.pending) {
        state.organizations.get(data.organization_id).pending = data.pending;
        renderSection('organizations');
      }
      renderSection('ledger');
      break;
    case 'storage': {
      if (state.loading.storages) {
        state.dirty.add('storages');
      }
      const storage = state.storages.get(data.id);
      if (storage) {
        if (data.stock) storage.stock = data.stock;
        if (data.remaining) storage.remaining = data.remaining;
        if (data.capacity) storage.capacity = data.capacity;
        if (data.name) storage.name = data.name;
        storageChanged(data.id);
      } else if (data.capacity && data.name) {
        state.storages.set(data.id, data);
        renderSection('storages');
      }
      break;
    }
    case 'organization': {
      if (state.loading.organizations) {
        state.dirty.add('organizations');
      }
      const org = state.organizations.get(data.id);
      if (org) {
        if (data.pending) org.pending = data.pending;
        if (data.capacity) org.capacity = data.capacity;
        renderSection('organizations');
      }
      break;
    }
    case 'unload':
      logActivity(`${storageName(data.storage_id)} unloaded ${quantities(data.unloaded)} (${data.actor || ''})`);
      break;
    case 'route':
      if (data.op === 'deleted') {
        state.routes.delete(data.route && data.route.id);
      } else if (data.route && data.route.id) {
        state.routes.set(data.route.id, data.route);
      }
      state.selectedView = null;
      renderSection('routes');
      break;
    case 'resync':
      reloadAll();
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------- panels

function buildPanels() {
  network?.destroy();
  network = createNetwork($('network'), {
    onSelectStorage: (id) => selectStorage(id),
    onSelectOrganization: (id) => {
      if (isAdmin() && state.organizations.has(id)) {
        state.actingOrg = id;
        state.selectedView = null;
        handover.render();
        handover.refreshPreview();
        renderDetail();
      }
    },
  });
  handover = createHandover({
    api,
    state,
    storageName,
    organizationName,
    canChooseOrg: isAdmin(),
    onActingOrgChanged: () => {
      state.selectedView = null;
      renderDetail();
    },
    onTransfer: (transfer) => {
      if (addTransfer(state, transfer)) {
        markFresh(transfer.id);
      }
      renderSection('ledger');
      refreshState();
    },
  });
  unload = createUnload({
    api,
    state,
    storageId: () => (role() === 'storage' ? state.me.storage_id : state.selectedStorage),
    onStorage: (storage) => {
      state.storages.set(storage.id, storage);
      storageChanged(storage.id);
    },
  });
  keys = createKeys({ api, state });
  roads = createRoads({
    api,
    state,
    nodeName,
    focusKey: () =>
      state.selectedStorage ? `s${state.selectedStorage}` : state.actingOrg ? `o${state.actingOrg}` : null,
    onRoutes: () => {
      state.selectedView = null;
      renderSection('routes');
    },
  });
  ledger = createLedger({ state, storageName, organizationName, errorView, reload: () => reloadAll() });

  fill($('ledger-slot'), ledger.el);
  const actions = $('actions');
  fill(actions);
  if (canHandOver()) {
    actions.append(h('section', { class: 'card' }, h('h2', { text: 'Hand over waste' }), handover.el));
  }
  if (canUnload()) {
    actions.append(
      h('section', { class: 'card' }, h('h2', { id: 'unload-title', text: 'Unload a storage' }), unload.el),
    );
  }
  $('organizations-card').hidden = !canSeeOrganizations();
  $('admin').hidden = !isAdmin();
  $('keys-slot').hidden = state.openServer;
  fill($('keys-slot'), h('h3', { text: 'API keys' }), keys.el);
  fill($('roads-slot'), h('h3', { text: 'Roads' }), roads.el);
  $('main-panels').hidden = role() === 'monitor';
  $('monitor-note').hidden = role() !== 'monitor';
  $('open-note').hidden = !state.openServer;
}

// One storage changed (an event, an unload answer): its item, its node, the detail.
function storageChanged(id) {
  updateStorageItem(id);
  renderGraph();
  if (state.selectedStorage === id) {
    renderDetail();
  }
  unload?.render();
}

function renderSection(name) {
  switch (name) {
    case 'types':
      handover?.render();
      break;
    case 'storages':
      if (role() === 'storage' && $('unload-title')) {
        $('unload-title').textContent = `Unload ${storageName(state.me.storage_id)}`;
      }
      renderStorages();
      renderGraph();
      renderDetail();
      unload?.render();
      break;
    case 'routes':
      renderGraph();
      renderDetail();
      if (isAdmin()) roads?.render();
      break;
    case 'organizations':
      renderOrganizations();
      renderGraph();
      handover?.render();
      break;
    case 'ledger':
      ledger?.render();
      break;
    default:
      break;
  }
}

function renderAll() {
  for (const name of ['types', 'storages', 'routes', 'organizations', 'ledger']) {
    renderSection(name);
  }
  if (isAdmin()) {
    keys.render();
    roads.render();
  }
  renderActivity();
}

// Beyond MAX_DRAWN nodes the map shows the neighbourhood of the selected storage, the
// acting organization or the key's own storage (neighbourhood.mjs), and moves only when
// the selection leaves what is drawn.
const MAX_DRAWN = 200;
let drawnKeys = null;

function graphFocus() {
  let wanted = null;
  if (state.selectedStorage) {
    wanted = `s${state.selectedStorage}`;
  } else if (state.actingOrg) {
    wanted = `o${state.actingOrg}`;
  } else if (role() === 'storage') {
    wanted = `s${state.me.storage_id}`;
  }
  if (state.graphFocus && drawnKeys && (!wanted || drawnKeys.has(wanted))) {
    return state.graphFocus;
  }
  return wanted;
}

function refOf(key) {
  return key[0] === 'o' ? { organization_id: Number(key.slice(1)) } : { storage_id: Number(key.slice(1)) };
}

// Many changes can arrive in one turn (a reload, a burst of events): draw the graph once.
let graphQueued = false;
function renderGraph() {
  if (graphQueued) {
    return;
  }
  graphQueued = true;
  queueMicrotask(() => {
    graphQueued = false;
    drawGraph();
  });
}

function drawGraph() {
  if (!network) {
    return;
  }
  const caption = $('network-caption');
  if (state.loading.storages || state.loading.routes || state.loading.organizations) {
    // Drawn once everything is in (one layout, not three); a refresh keeps the old picture.
    if (!drawnKeys) {
      caption.textContent = 'Loading the network…';
    }
    return;
  }
  const failed = state.errors.storages || state.errors.routes;
  if (failed) {
    fill(
      caption,
      errorView(failed, () => reloadAll()),
    );
    return;
  }
  const part = neighbourhood(state, graphFocus(), MAX_DRAWN);
  state.graphFocus = part.focus;
  drawnKeys = new Set([
    ...[...part.organizations.keys()].map((id) => `o${id}`),
    ...[...part.storages.keys()].map((id) => `s${id}`),
  ]);
  network.update(part);
  const el = $('network');
  el.dataset.total = String(part.total);
  const roadsCount = Number(el.dataset.edges);
  fill(
    caption,
    part.focus
      ? `${el.dataset.nodes} of ${part.total} nodes, around ${nodeName(refOf(part.focus))} · ${roadsCount} roads`
      : `${el.dataset.nodes} nodes · ${roadsCount} roads (${el.dataset.twoWay} two-way)`,
    state.storagesTruncated ? ` · the first ${MAX_STORAGES} storages` : '',
    state.routesTruncated ? ` · the first ${MAX_ROUTES} roads` : '',
  );
  network.setHome(
    role() === 'organization'
      ? `o${state.me.organization_id}`
      : role() === 'storage'
        ? `s${state.me.storage_id}`
        : null,
  );
  network.select(state.selectedStorage ? `s${state.selectedStorage}` : null);
  network.showPath(state.selectedView && state.selectedView.answer ? state.selectedView.answer.path : null);
}

// The storages list shows at most LIST_MAX of them (those matching the filter, by id), and a
// change to one storage replaces only its item.
const LIST_MAX = 300;

function storageItem(s) {
  const ratio = fillRatio(s);
  return h(
    'li',
    {
      class: ['storage', state.selectedStorage === s.id ? 'selected' : '', state.me?.storage_id === s.id ? 'own' : ''],
      testid: `storage-${s.id}`,
      dataset: { fill: ratio.toFixed(4), id: s.id },
      tabindex: 0,
      onclick: () => selectStorage(s.id),
      onkeydown: (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          selectStorage(s.id);
        }
      },
    },
    h(
      'div',
      { class: 'storage-head' },
      h('span', { class: 'storage-name', text: s.name }),
      h('span', { class: 'storage-percent', text: percent(ratio) }),
    ),
    fillTable(s, `storage-${s.id}`),
  );
}

function renderStorages() {
  const list = $('storages');
  const note = $('storages-note');
  note.textContent = '';
  if (state.loading.storages && state.storages.size === 0) {
    fill(list, h('li', { class: 'muted loading', text: 'Loading storages…' }));
    return;
  }
  if (state.errors.storages) {
    fill(
      list,
      h(
        'li',
        null,
        errorView(state.errors.storages, () => reloadAll()),
      ),
    );
    return;
  }
  const filter = $('storages-filter').value.trim().toLowerCase();
  $('storages-filter').hidden = state.storages.size <= 12;
  const storages = [...state.storages.values()]
    .filter((s) => !filter || s.name.toLowerCase().includes(filter))
    .sort((a, b) => a.id - b.id);
  if (storages.length === 0) {
    fill(list, h('li', { class: 'muted', text: filter ? 'No storage matches.' : 'No storages.' }));
    return;
  }
  fill(list, storages.slice(0, LIST_MAX).map(storageItem));
  if (storages.length > LIST_MAX) {
    note.textContent = `The first ${LIST_MAX} of ${storages.length}: filter by name to find the others.`;
  }
}

function updateStorageItem(id) {
  const storage = state.storages.get(id);
  const old = document.querySelector(`#storages [data-testid="storage-${id}"]`);
  if (storage && old) {
    old.replaceWith(storageItem(storage));
  }
}

function markSelectedStorage() {
  for (const el of document.querySelectorAll('#storages li.storage')) {
    el.classList.toggle('selected', Number(el.dataset.id) === state.selectedStorage);
  }
}

function renderOrganizations() {
  const box = $('organizations');
  if (!canSeeOrganizations()) {
    return;
  }
  if (state.loading.organizations && state.organizations.size === 0) {
    fill(box, h('p', { class: 'muted loading', text: 'Loading organizations…' }));
    return;
  }
  if (state.errors.organizations) {
    fill(
      box,
      errorView(state.errors.organizations, () => reloadAll()),
    );
    return;
  }
  // Those with waste pending first, then by id; at most ORGS_MAX of them.
  const all = [...state.organizations.values()].sort(
    (a, b) => Number(!quantities(a.pending)) - Number(!quantities(b.pending)) || a.id - b.id,
  );
  const orgs = all.slice(0, ORGS_MAX);
  fill(
    box,
    all.length > ORGS_MAX
      ? h('p', { class: 'muted', text: `${ORGS_MAX} of ${all.length}: those with pending waste first.` })
      : null,
    orgs.map((o) => {
      const types = [...new Set([...Object.keys(o.capacity || {}), ...Object.keys(o.pending || {})])].sort();
      const editor = isAdmin()
        ? lazyDetails('Edit on-site limits', () =>
            capacityEditor({ api, state }, 'organization', o, (saved) => {
              state.organizations.set(saved.id, saved);
              renderSection('organizations');
            }),
          )
        : null;
      return h(
        'div',
        { class: ['organization', state.actingOrg === o.id ? 'acting' : ''], testid: `organization-${o.id}` },
        h(
          'div',
          { class: 'storage-head' },
          h('span', { class: 'storage-name', text: o.name }),
          h('span', { class: 'muted', text: quantities(o.pending) ? 'has pending waste' : 'nothing pending' }),
        ),
        h(
          'table',
          { class: 'pending-table' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', { text: 'Type' }),
              h('th', { class: 'num', text: 'Pending' }),
              h('th', { class: 'num', text: 'On-site limit' }),
            ),
          ),
          h(
            'tbody',
            null,
            types.map((t) =>
              h(
                'tr',
                { testid: `organization-${o.id}-${t}`, dataset: { pending: (o.pending || {})[t] || 0 } },
                h('td', { text: t }),
                h('td', { class: 'num', text: kg((o.pending || {})[t] || 0) }),
                h('td', { class: 'num', text: (o.capacity || {})[t] === undefined ? 'no limit' : kg(o.capacity[t]) }),
              ),
            ),
          ),
        ),
        editor,
      );
    }),
  );
}

const ORGS_MAX = 100;

// A <details> whose content is built when it is first opened.
function lazyDetails(summary, build) {
  const details = h('details', { class: 'edit' }, h('summary', { text: summary }));
  details.addEventListener('toggle', () => {
    if (details.open && details.children.length === 1) {
      details.append(build());
    }
  });
  return details;
}

function renderActivity() {
  const box = $('activity');
  if (state.activity.length === 0) {
    fill(box, h('li', { class: 'muted', text: 'Changes pushed by the service appear here.' }));
    return;
  }
  fill(
    box,
    state.activity.map((a) =>
      h('li', null, h('span', { class: 'muted', text: `${a.at.toISOString().slice(11, 19)} ` }), a.text),
    ),
  );
}

// ---------------------------------------------------------------- the selected storage

async function selectStorage(id) {
  state.selectedStorage = id;
  markSelectedStorage();
  renderDetail();
  if (drawnKeys && !drawnKeys.has(`s${id}`)) {
    renderGraph();
  }
  if (isAdmin() && state.routes.size > 40) {
    roads.render();
  }
  unload.render();
  network.select(`s${id}`);
  const org = state.actingOrg;
  if (!org) {
    network.showPath(null);
    return;
  }
  if (
    state.selectedView &&
    state.selectedView.org === org &&
    state.selectedView.storage === id &&
    state.selectedView.answer
  ) {
    network.showPath(state.selectedView.answer.path);
    return;
  }
  state.selectedView = { org, storage: id, answer: null, loading: true };
  renderDetail();
  try {
    const answer = await storageAsSeenBy(org, id);
    if (state.selectedStorage === id && state.actingOrg === org) {
      state.selectedView = { org, storage: id, answer };
    }
  } catch (error) {
    if (state.selectedStorage === id) {
      state.selectedView = { org, storage: id, error };
    }
  }
  renderDetail();
  network.showPath(state.selectedView && state.selectedView.answer ? state.selectedView.answer.path : null);
}

// GET /v1/organizations/{org}/storages/{id} (with its path). A server without that route
// (older than v2) answers 404 for every storage: then the list view with include=path
// answers instead, and once it finds what the single view denied, the console stops asking
// the single view.
let singleStorageView = true;

async function storageAsSeenBy(org, id) {
  if (singleStorageView) {
    try {
      return await api.get(`/v1/organizations/${org}/storages/${id}`);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404) {
        throw error;
      }
    }
  }
  let cursor = null;
  for (let pages = 0; pages < 20; pages++) {
    const page = await api.get(`/v1/organizations/${org}/storages`, { include: 'path', limit: 100, cursor });
    const found = (page.items || []).find((s) => (s.storage_id ?? s.id) === id);
    if (found) {
      singleStorageView = false;
      return found;
    }
    cursor = page.next_cursor;
    if (!cursor) {
      break;
    }
  }
  return { id, distance_m: null, path: null };
}

function renderDetail() {
  const box = $('selection');
  const id = state.selectedStorage;
  const storage = id ? state.storages.get(id) : null;
  if (!storage) {
    fill(
      box,
      h('p', { class: 'muted', text: 'Click a storage in the network or the list to see its fill and the way there.' }),
    );
    delete box.dataset.storageId;
    return;
  }
  const view = state.selectedView && state.selectedView.storage === id ? state.selectedView : null;
  let pathPart;
  if (!state.actingOrg) {
    pathPart = h('p', {
      class: 'muted',
      text: isAdmin()
        ? 'Choose an organization (in the hand-over form or on the map) to see its way here.'
        : 'The way here is shown for an organization’s key.',
    });
  } else if (!view || view.loading) {
    pathPart = h('p', { class: 'muted loading', text: 'Finding the way…' });
  } else if (view.error) {
    pathPart = errorView(view.error, () => selectStorage(id));
  } else if (!view.answer.path || view.answer.distance_m === null) {
    pathPart = h('p', {
      testid: 'storage-path',
      class: 'warning',
      text: `${organizationName(state.actingOrg)} has no road to ${storage.name}.`,
    });
  } else {
    pathPart = h(
      'p',
      { testid: 'storage-path', dataset: { distance: view.answer.distance_m } },
      h('strong', { text: `${metres(view.answer.distance_m)} from ${organizationName(state.actingOrg)}: ` }),
      view.answer.path.map(nodeName).join(' → '),
    );
  }
  // The editor is built once per selected storage, so that live updates of the fills do
  // not wipe what an admin is typing.
  if (box.dataset.storageId !== String(id) || !box.querySelector('.detail-live')) {
    fill(
      box,
      h('div', { class: 'detail-live' }),
      isAdmin()
        ? lazyDetails('Edit capacity', () =>
            capacityEditor({ api, state }, 'storage', state.storages.get(id), (saved) => {
              state.storages.set(saved.id, saved);
              storageChanged(saved.id);
            }),
          )
        : null,
    );
    box.dataset.storageId = String(id);
  }
  fill(
    box.querySelector('.detail-live'),
    h(
      'div',
      { class: 'detail-head' },
      h('h3', { text: storage.name }),
      h('span', { class: 'muted', text: `${percent(fillRatio(storage))} full` }),
    ),
    fillTable(storage, `detail-${id}`),
    pathPart,
  );
}

// ---------------------------------------------------------------- boot

function boot() {
  $('signin-form').addEventListener('submit', onSignIn);
  $('signout').addEventListener('click', () => signOut(''));
  $('refresh').addEventListener('click', () => reloadAll());
  $('storages-filter').addEventListener('input', () => renderStorages());
  window.addEventListener('resize', () => network?.resize());
  let saved = null;
  try {
    saved = sessionStorage.getItem(KEY_STORAGE);
  } catch {
    saved = null;
  }
  if (!saved) {
    showSignIn('');
    return;
  }
  whoAmI(saved)
    .then((me) => {
      state.key = saved;
      return start(me);
    })
    .catch((error) =>
      signOut(
        error instanceof ApiError && error.status === 401
          ? `Your key was refused: ${error.detail} Sign in again.`
          : `Could not sign in: ${error.detail || error.message}`,
      ),
    );
}

boot();
