// The operator console's entry: sign-in with an API key, then what the key's role may see
// and do (GET /v1/me), kept current by the live event stream (GET /v1/events, read with
// fetch). This module owns the store (state.mjs) and is the only one that replaces it: it
// reads the API, folds events in with applyEvent, and tells the panels what to draw again.
// Panels (lists, map, ledger, handover, unload, admin) read through view() callbacks and
// report through callbacks.

import { ApiError, createApi } from './api.mjs';
import { createBanner } from './banner.mjs';
import { fill, h } from './dom.mjs';
import { t } from './i18n.mjs';
import { startLanguage } from './language.mjs';
import { problemView } from './problems.mjs';
import { createLoader } from './loading.mjs';
import { createPanels } from './panels.mjs';
import { forgetKey, listenForSignIn, refusalText, savedKey, showSignIn } from './signin.mjs';
import { EventStream } from './sse.mjs';
import { applyEvent, initialState, startSession, withTransfer } from './state.mjs';

// A console draws a region's neighbourhood, not a 100,000-storage world: beyond these it
// shows the first ones by id and says so.
const LIMITS = { storages: 5000, routes: 20000, movements: 5000 };
// How long a new transfer stays highlighted in the ledger.
const FRESH_MS = 6000;

const $ = (id) => document.getElementById(id);

let state = initialState();
let key = null;
const view = () => state;
const fresh = new Set();

const banner = createBanner($('banner'), () => {
  panels?.handover?.updateSubmit();
  panels?.unload?.render();
});

const api = createApi({
  getKey: () => key,
  onUnauthorized: () => signOut(t('signin.expired')),
  onRateLimited: (error) => banner.rateLimited(error.retryAfter),
});

let stream = null;
let panels = null; // built per session by buildPanels()

const loader = createLoader({
  api,
  limits: LIMITS,
  get: view,
  set: (next) => {
    state = next;
  },
  render: (name) => panels?.renderSection(name),
  onRoutesSoFar: () => panels?.network.render(),
});
const refreshState = () => loader.refresh();
const loadDistances = () => loader.distances();

// ---------------------------------------------------------------- roles and names

const role = () => (state.me ? state.me.role : null);
const isAdmin = () => role() === 'admin';

const storageName = (id) => state.storages.get(id)?.name || t('name.storage', { id: String(id) });
const organizationName = (id) => state.organizations.get(id)?.name || t('name.organization', { id: String(id) });
const nodeName = (ref) =>
  ref.organization_id !== undefined ? organizationName(ref.organization_id) : storageName(ref.storage_id);

function errorView(error, retry = () => reloadAll()) {
  return h(
    'div',
    { class: 'panel-error' },
    problemView(error),
    h('button', { type: 'button', class: 'small', text: t('retry'), onclick: retry }),
  );
}

// ---------------------------------------------------------------- sign-in and out

function signOut(message) {
  stream?.stop();
  stream = null;
  key = null;
  forgetKey();
  banner.clear();
  forgetData(null);
  showSignIn(message);
  updateTitle();
}

// Forgets everything the last key could see: the next key must not see it.
function forgetData(me) {
  state = startSession(state, me);
  fresh.clear();
  panels?.network.destroy();
  panels = null;
  panels?.history.destroy();
  for (const id of [
    'storages',
    'organizations',
    'selection',
    'ledger-slot',
    'actions',
    'keys-slot',
    'roads-slot',
    'history-slot',
  ]) {
    fill($(id));
  }
  $('network-caption').textContent = '';
  // The next key starts with the lists as they come.
  $('storages-search').value = '';
  $('storages-filter').value = 'all';
  delete $('storages-sort').dataset.chosen;
}

async function start(me) {
  forgetData(me);
  $('signin').hidden = true;
  $('console').hidden = false;
  document.body.dataset.role = me.role;
  if (me.role === 'monitor') {
    renderWho();
    buildPanels();
    return;
  }
  // The stream first, then the snapshot: a change committed between the two is then seen
  // (as an event during the load, which reads the part again). The reads are under way
  // before the panels are built, which takes a while (the graph's library).
  startEvents();
  const loaded = reloadAll();
  renderWho();
  buildPanels();
  await loaded;
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
    h('span', {
      class: ['role', `role-${me.role}`],
      testid: 'whoami',
      dataset: { role: me.role },
      text: t(`role.${me.role}`),
    }),
    h('span', { class: 'scope', text: scope }),
  );
  for (const id of ['who', 'signout', 'refresh']) {
    $(id).hidden = false;
  }
  updateTitle();
}

// The tab's title follows the view: sign-in, the console of a role and scope, the selected
// storage.
function updateTitle() {
  const me = state.me;
  if (!me) {
    document.title = t('title.signin');
    return;
  }
  const parts = [t('title.console')];
  if (me.role === 'organization') parts.unshift(organizationName(me.organization_id));
  if (me.role === 'storage') parts.unshift(storageName(me.storage_id));
  if (state.selectedStorage && me.role !== 'storage') parts.unshift(storageName(state.selectedStorage));
  document.title = parts.join(' · ');
}

// ---------------------------------------------------------------- loading

async function reloadAll() {
  const session = state.session;
  const jobs = [
    loader.types(),
    loader.storages(),
    loader.routes(),
    loader.ledger(),
    loader.organizations(),
    loader.distances(),
    loader.alertRules(),
  ];
  // At the weighbridge the loads on their way are what the page is for: read with the rest.
  // An organization's loads are below its forms and the map: read once those are in, so
  // they never delay the first render.
  if (role() === 'storage') jobs.push(loader.movements());
  try {
    await Promise.all(jobs);
    if (role() === 'organization') await loader.movements();
  } catch {
    return; // 401: signed out already
  }
  if (session !== state.session) {
    return;
  }
  renderWho();
  panels.renderAll();
  if (isAdmin()) {
    panels.keys.load();
  }
  if (state.selectedStorage) {
    selectStorage(state.selectedStorage);
  }
}

// ---------------------------------------------------------------- live events

function setLive(name, text) {
  const el = $('live');
  el.hidden = false;
  el.dataset.state = name;
  el.textContent = text;
}

const LIVE = {
  open: () => t('live.open'),
  connecting: () => t('live.connecting'),
  reconnecting: (info) =>
    info && info.delayMs ? t('live.reconnectingIn', { n: Math.ceil(info.delayMs / 1000) }) : t('live.reconnecting'),
  unavailable: () => t('live.unavailable'),
};

function startEvents() {
  stream?.stop();
  stream = new EventStream({
    url: '/v1/events',
    headers: () => ({ Authorization: `Bearer ${key}` }),
    onEvent: onLiveEvent,
    onStatus: (s, info) => LIVE[s] && setLive(s, LIVE[s](info)),
    onUnauthorized: () => signOut(t('signin.expired')),
    onReconnected: refreshState,
  });
  stream.start();
}

function markFresh(id) {
  fresh.add(id);
  setTimeout(() => fresh.delete(id), FRESH_MS);
}

function onLiveEvent(event) {
  let data;
  try {
    data = JSON.parse(event.data);
  } catch {
    return;
  }
  const step = applyEvent(state, { type: event.type, data });
  state = step.state;
  const { effects } = step;
  if (effects.fresh !== null) markFresh(effects.fresh);
  if (effects.activity) panels?.activity.add(effects.activity);
  if (effects.activity?.kind === 'transfer') panels?.unload.noteTransfer(data);
  if (effects.storage !== null) storageChanged(effects.storage);
  for (const name of effects.sections) renderSection(name);
  if (effects.sections.includes('routes')) loadDistances();
  if (effects.reload) reloadAll();
}

// ---------------------------------------------------------------- panels

function setActingOrg(id) {
  state = { ...state, actingOrg: id, selectedView: null };
  panels.detail.render();
}

function setRoute(op, route) {
  const routes = new Map(state.routes);
  if (op === 'deleted') routes.delete(route.id);
  else routes.set(route.id, route);
  state = { ...state, routes, selectedView: null };
  panels.renderSection('routes');
  loadDistances();
}

function setStorage(storage) {
  const added = !state.storages.has(storage.id);
  state = { ...state, storages: new Map(state.storages).set(storage.id, storage) };
  if (added) renderSection('storages');
  else storageChanged(storage.id);
}

function buildPanels() {
  panels = createPanels({
    api,
    view,
    limits: LIMITS,
    rateLimited: banner.isRateLimited,
    storageName,
    organizationName,
    nodeName,
    errorView,
    isFresh: (id) => fresh.has(id),
    selectStorage,
    reload: () => reloadAll(),
    setActingOrg,
    setRoute,
    setStorage,
    addMovement: (movement) => {
      // The receipt's answer, before its event: the load leaves the list at once.
      state = { ...state, movements: new Map(state.movements).set(movement.id, movement) };
      panels.renderSection('movements');
    },
    setOrganization: (saved) => {
      state = { ...state, organizations: new Map(state.organizations).set(saved.id, saved) };
      panels.renderSection('organizations');
    },
    addTransfer: (transfer) => {
      const step = withTransfer(state.transfers, transfer);
      if (step.added) {
        state = { ...state, transfers: step.transfers, ledgerTruncated: state.ledgerTruncated || step.truncated };
        markFresh(transfer.id);
      }
      panels.renderSection('ledger');
      refreshState();
    },
  });
}

const renderSection = (name) => panels?.renderSection(name);
const storageChanged = (id) => panels?.storageChanged(id);

// ---------------------------------------------------------------- the selected storage

// Selects a storage; for an acting organization, reads the way there
// (GET /v1/organizations/{org}/storages/{id}, with its path).
async function selectStorage(id) {
  state = { ...state, selectedStorage: id };
  updateTitle();
  const p = panels;
  p.storages.markSelected();
  p.detail.render();
  p.network.select(id);
  if (isAdmin() && state.routes.size > 40) {
    p.roads.render();
  }
  p.unload.render();
  p.history.render();
  const org = state.actingOrg;
  const seen = state.selectedView;
  if (!org || (seen && seen.org === org && seen.storage === id && seen.answer)) {
    p.network.showPath();
    return;
  }
  const session = state.session;
  state = { ...state, selectedView: { org, storage: id, loading: true } };
  p.detail.render();
  let selectedView;
  try {
    selectedView = { org, storage: id, answer: await api.get(`/v1/organizations/${org}/storages/${id}`) };
  } catch (error) {
    selectedView = { org, storage: id, error };
  }
  if (session !== state.session || state.selectedStorage !== id || state.actingOrg !== org) {
    return;
  }
  state = { ...state, selectedView };
  p.detail.render();
  p.network.showPath();
}

// ---------------------------------------------------------------- boot

function boot() {
  startLanguage();
  updateTitle();
  listenForSignIn(api, async (typed, me) => {
    key = typed;
    await start(me);
  });
  $('signout').addEventListener('click', () => signOut(''));
  $('refresh').addEventListener('click', () => reloadAll());
  for (const id of ['storages-search', 'storages-filter', 'storages-sort']) {
    $(id).addEventListener('input', () => panels?.storages.render());
  }
  $('storages-sort').addEventListener('change', () => {
    $('storages-sort').dataset.chosen = '1';
  });
  window.addEventListener('resize', () => {
    panels?.network.resize();
    panels?.history.resize();
  });
  const saved = savedKey();
  if (!saved) {
    showSignIn('');
    return;
  }
  api
    .request('GET', '/v1/me', { key: saved })
    .then((answer) => {
      key = saved;
      return start(answer.body);
    })
    .catch((error) =>
      signOut(error instanceof ApiError && error.status === 401 ? t('signin.expired') : refusalText(error)),
    );
}

boot();
