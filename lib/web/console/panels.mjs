// The panels of one session, put together for the key's role: each gets view() (the store,
// read only) and callbacks into boot.mjs for what it changes; renderSection(name) draws
// again the panels that show a part of the store.

import { capacityEditor, createRoads } from './admin.mjs';
import { fill, h } from './dom.mjs';
import { createHandover } from './handover.mjs';
import { createKeys } from './keys.mjs';
import { createLedger } from './ledger.mjs';
import { createActivity, createOrganizationList, createStorageList, lazyDetails } from './lists.mjs';
import { createDetail, createNetworkPanel } from './map.mjs';
import { may } from './state.mjs';
import { createUnload } from './unload.mjs';

const $ = (id) => document.getElementById(id);

// app: { api, view, limits, rateLimited(), storageName(id), organizationName(id),
//        nodeName(ref), errorView(error, retry), describeActivity(entry), isFresh(id),
//        selectStorage(id), reload(), setActingOrg(id), setRoute(op, route),
//        setStorage(storage), setOrganization(organization), addTransfer(transfer) }
export function createPanels(app) {
  const { api, view, errorView, nodeName, organizationName, storageName } = app;
  const me = view().me;
  const role = me?.role;
  const admin = role === 'admin';
  const p = {};
  p.network = createNetworkPanel({
    el: $('network'),
    caption: $('network-caption'),
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
    editor: (storage) => capacityEditor({ api, view }, 'storage', storage, app.setStorage),
  });
  p.storages = createStorageList({
    list: $('storages'),
    note: $('storages-note'),
    filter: $('storages-filter'),
    view: () => {
      const s = view();
      return {
        storages: s.storages,
        selectedStorage: s.selectedStorage,
        ownId: me?.storage_id,
        loading: s.loading.storages,
        error: s.errors.storages,
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
        ? lazyDetails('Edit on-site limits', () =>
            capacityEditor({ api, view }, 'organization', o, app.setOrganization),
          )
        : null,
  });
  p.activity = createActivity({ box: $('activity'), describe: app.describeActivity });
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
  const actions = $('actions');
  fill(actions);
  if (may(role, 'handover')) {
    actions.append(h('section', { class: 'card' }, h('h2', { text: 'Hand over waste' }), p.handover.el));
  }
  if (may(role, 'unload')) {
    actions.append(
      h('section', { class: 'card' }, h('h2', { id: 'unload-title', text: 'Unload a storage' }), p.unload.el),
    );
  }
  $('organizations-card').hidden = !may(role, 'organizations');
  $('admin').hidden = !admin;
  fill($('keys-slot'), h('h3', { text: 'API keys' }), p.keys.el);
  fill($('roads-slot'), h('h3', { text: 'Roads' }), p.roads.el);
  $('main-panels').hidden = role === 'monitor';
  $('monitor-note').hidden = role !== 'monitor';

  const sections = {
    types: () => p.handover.render(),
    storages: () => {
      if (role === 'storage' && $('unload-title')) {
        $('unload-title').textContent = `Unload ${storageName(me.storage_id)}`;
      }
      p.storages.render();
      p.network.render();
      p.detail.render();
      p.unload.render();
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
  };
  return p;
}
