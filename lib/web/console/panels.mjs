// The panels of one session, put together for the key's role: each gets view() (the store,
// read only) and callbacks into boot.mjs for what it changes; renderSection(name) draws
// again the panels that show a part of the store.

import { createRoads } from './admin.mjs';
import { setAlertRules } from './bars.mjs';
import { fill, h } from './dom.mjs';
import { entityForm } from './entities.mjs';
import { createHandover } from './handover.mjs';
import { createHistory } from './history.mjs';
import { t } from './i18n.mjs';
import { createKeys } from './keys.mjs';
import { createLedger } from './ledger.mjs';
import { createLoads } from './loads.mjs';
import { createActivity, createOrganizationList, createStorageList, lazyDetails } from './lists.mjs';
import { createDetail, createNetworkPanel } from './map.mjs';
import { may } from './state.mjs';
import { createUnload } from './unload.mjs';
import { createWeighbridge } from './weighbridge.mjs';
import { createExports } from './exports.mjs';
import { createPlans } from './plans.mjs';
import { createWebhooks } from './webhooks.mjs';

const $ = (id) => document.getElementById(id);

// app: { api, view, limits, rateLimited(), storageName(id), organizationName(id),
//        nodeName(ref), errorView(error, retry), isFresh(id),
//        selectStorage(id), reload(), setActingOrg(id), setRoute(op, route),
//        setStorage(storage), setOrganization(organization), addTransfer(transfer),
//        addMovement(movement) }
// The language is set before (i18n.mjs): panels build their labels once.
export function createPanels(app) {
  const { api, view, errorView, nodeName, organizationName, storageName } = app;
  const me = view().me;
  const role = me?.role;
  const admin = role === 'admin';
  const p = {};
  p.network = createNetworkPanel({
    el: $('network'),
    caption: $('network-caption'),
    list: $('network-list'),
    view,
    nodeName,
    errorView,
    limits: app.limits,
    onSelectStorage: app.selectStorage,
    onSelectOrganization: (id) => {
      if (admin && view().organizations.has(id)) {
        app.setActingOrg(id);
        p.handover.render();
        p.handover.refreshPreview();
      }
    },
  });
  p.detail = createDetail({
    box: $('selection'),
    view,
    isAdmin: admin,
    organizationName,
    nodeName,
    errorView,
    retryPath: app.selectStorage,
    editor: (storage) => entityForm({ api, view }, 'storage', storage, app.setStorage),
  });
  p.storages = createStorageList({
    list: $('storages'),
    note: $('storages-note'),
    search: $('storages-search'),
    filter: $('storages-filter'),
    sort: $('storages-sort'),
    view: () => {
      const s = view();
      return {
        storages: s.storages,
        selectedStorage: s.selectedStorage,
        ownId: me?.storage_id,
        loading: s.loading.storages,
        error: s.errors.storages,
        distances: s.distances,
      };
    },
    onSelect: app.selectStorage,
    errorView,
  });
  p.organizations = createOrganizationList({
    box: $('organizations'),
    view: () => {
      const s = view();
      return {
        organizations: s.organizations,
        actingOrg: s.actingOrg,
        loading: s.loading.organizations,
        error: s.errors.organizations,
      };
    },
    errorView,
    editor: (o) =>
      admin
        ? lazyDetails(t('entity.editOrganization'), () =>
            entityForm({ api, view }, 'organization', o, app.setOrganization),
          )
        : null,
  });
  p.activity = createActivity({ box: $('activity'), storageName, organizationName });
  p.handover = createHandover({
    api,
    view,
    storageName,
    organizationName,
    rateLimited: app.rateLimited,
    canChooseOrg: admin,
    onActingOrgChanged: app.setActingOrg,
    onTransfer: app.addTransfer,
  });
  p.unload = createUnload({
    api,
    view,
    rateLimited: app.rateLimited,
    storageId: () => (role === 'storage' ? me.storage_id : view().selectedStorage),
    onStorage: app.setStorage,
  });
  p.weighbridge = createWeighbridge({
    api,
    view,
    organizationName,
    rateLimited: app.rateLimited,
    onReceipt: app.addMovement,
  });
  p.loads = createLoads({ view, storageName });
  p.history = createHistory({
    api,
    view,
    storageId: () => (role === 'storage' ? me.storage_id : view().selectedStorage),
  });
  p.keys = createKeys({ api, view });
  p.roads = createRoads({
    api,
    view,
    nodeName,
    focusKey: () => {
      const s = view();
      return s.selectedStorage ? `s${s.selectedStorage}` : s.actingOrg ? `o${s.actingOrg}` : null;
    },
    onRoute: app.setRoute,
  });
  p.ledger = createLedger({
    view,
    storageName,
    organizationName,
    errorView,
    isFresh: app.isFresh,
    reload: app.reload,
  });

  fill($('ledger-slot'), p.ledger.el);
  fill($('history-slot'), p.history.el);
  const actions = $('actions');
  fill(actions);
  // At the weighbridge the loads on their way come first: that is what the operator is there for.
  if (may(role, 'receipt')) {
    actions.append(
      h(
        'section',
        { class: 'card weighbridge-card' },
        h('h2', { id: 'weighbridge-title', text: t('weighbridge.title') }),
        p.weighbridge.el,
      ),
    );
  }
  if (may(role, 'handover')) {
    actions.append(
      h('section', { class: 'card' }, h('h2', { id: 'handover-title', text: t('handover.title') }), p.handover.el),
    );
  }
  if (may(role, 'loads')) {
    actions.append(
      h('section', { class: 'card loads-card' }, h('h2', { id: 'loads-title', text: t('loads.title') }), p.loads.el),
    );
  }
  if (may(role, 'unload')) {
    actions.append(
      h('section', { class: 'card' }, h('h2', { id: 'unload-title', text: t('unload.title') }), p.unload.el),
    );
  }
  $('organizations-card').hidden = !may(role, 'organizations');
  $('admin').hidden = !admin;
  fill($('keys-slot'), h('h3', { text: t('keys.title') }), p.keys.el);
  fill($('roads-slot'), h('h3', { text: t('roads.title') }), p.roads.el);
  // Adding storages and organizations: the forms are built when first opened.
  fill(
    $('entities-slot'),
    lazyDetails(t('entity.addStorageTitle'), () => entityForm({ api, view }, 'storage', null, app.setStorage)),
    lazyDetails(t('entity.addOrganizationTitle'), () =>
      entityForm({ api, view }, 'organization', null, app.setOrganization),
    ),
  );
  $('main-panels').hidden = role === 'monitor';
  $('monitor-note').hidden = role !== 'monitor';

  const sections = {
    types: () => p.handover.render(),
    storages: () => {
      if (role === 'storage' && $('unload-title')) {
        $('unload-title').textContent = t('unload.titleOf', { storage: storageName(me.storage_id) });
      }
      p.storages.render();
      p.network.render();
      p.detail.render();
      p.unload.render();
      p.history.render();
    },
    movements: () => {
      if (may(role, 'receipt')) p.weighbridge.render();
      if (may(role, 'loads')) p.loads.render();
    },
    alertRules: () => {
      setAlertRules(view().alertRules);
      p.storages.render();
      p.detail.render();
      p.history.render();
    },
    routes: () => {
      p.network.render();
      p.detail.render();
      if (admin) p.roads.render();
    },
    organizations: () => {
      if (may(role, 'organizations')) p.organizations.render();
      p.network.render();
      p.handover.render();
    },
    ledger: () => p.ledger.render(),
    distances: () => p.storages.render(),
  };

  p.renderSection = (name) => sections[name]?.();
  p.renderAll = () => {
    for (const draw of Object.values(sections)) draw();
    if (admin) {
      p.keys.render();
      p.roads.render();
    }
    p.activity.render();
  };
  // One storage changed (an event, an unload answer): its item, its node, the detail.
  p.storageChanged = (id) => {
    p.storages.update(id);
    p.network.render();
    if (view().selectedStorage === id) p.detail.render();
    p.unload.render();
    if (id === (role === 'storage' ? me.storage_id : view().selectedStorage)) p.history.render();
  };
  // Plans, reports and webhooks: an admin or auditor (only an admin changes webhooks).
  const reports = role === 'admin' || role === 'auditor';
  $('reports').hidden = !reports;
  // What the last session's key saw goes with it, whatever this key may see.
  for (const slot of ['plans-slot', 'exports-slot', 'webhooks-slot']) fill($(slot));
  if (reports) {
    p.plans = createPlans({ api, view, organizationName, storageName });
    p.exports = createExports({ api });
    p.webhooks = createWebhooks({ api, canEdit: admin });
    fill($('plans-slot'), h('h3', { text: t('plans.title') }), p.plans.el);
    fill($('exports-slot'), h('h3', { text: t('reports.periodTitle') }), p.exports.el);
    fill($('webhooks-slot'), h('h3', { text: t('webhooks.title') }), p.webhooks.el);
    p.webhooks.load();
  }
  return p;
}
