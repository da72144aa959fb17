// The road network card: the graph (graph.mjs) of the part around the selection
// (neighbourhood.mjs), its caption, and the selected storage's detail (fill per type and
// the way from the acting organization). Reads through view(), reports through callbacks.

import { fillTable } from './bars.mjs';
import { fill, h } from './dom.mjs';
import { metres, nodeKey } from './format.mjs';
import { t } from './i18n.mjs';
import { fullestBadge } from './lists.mjs';
import { createNetwork } from './graph.mjs';
import { lazyDetails } from './lists.mjs';
import { neighbourhood } from './neighbourhood.mjs';

// Beyond MAX_DRAWN nodes the map shows the neighbourhood of the selected storage, the
// acting organization or the key's own storage, and moves only when the selection leaves
// what is drawn.
const MAX_DRAWN = 200;

function refOf(key) {
  return key[0] === 'o' ? { organization_id: Number(key.slice(1)) } : { storage_id: Number(key.slice(1)) };
}

// ctx: { el, caption, list: a <details> for the drawn part as a list (the keyboard's and
//        screen reader's way through the graph); view(): the store's state; nodeName(ref); errorView(error);
//        onSelectStorage(id); onSelectOrganization(id); limits: {storages, routes} }
export function createNetworkPanel(ctx) {
  const network = createNetwork(ctx.el, {
    onSelectStorage: ctx.onSelectStorage,
    onSelectOrganization: ctx.onSelectOrganization,
  });
  let drawnKeys = null;
  let focus = null;
  let queued = false;
  let lastPart = null;
  ctx.list.addEventListener('toggle', () => fillRoadList());

  function wantedFocus() {
    const v = ctx.view();
    let wanted = null;
    if (v.selectedStorage) {
      wanted = `s${v.selectedStorage}`;
    } else if (v.actingOrg) {
      wanted = `o${v.actingOrg}`;
    } else if (v.me?.role === 'storage') {
      wanted = `s${v.me.storage_id}`;
    }
    if (focus && drawnKeys && (!wanted || drawnKeys.has(wanted))) {
      return focus;
    }
    return wanted;
  }

  // Many changes can arrive in one turn (a reload, a burst of events): draw once.
  function render() {
    if (queued) {
      return;
    }
    queued = true;
    queueMicrotask(() => {
      queued = false;
      draw();
    });
  }

  function draw() {
    const v = ctx.view();
    // Drawn once storages and organizations are in (one layout, not three), with the roads
    // read so far; a refresh keeps the old picture.
    if (v.loading.storages || v.loading.organizations || (v.loading.routes && v.routes.size === 0)) {
      if (!drawnKeys) {
        ctx.caption.textContent = t('network.loading');
      }
      return;
    }
    const failed = v.errors.storages || v.errors.routes;
    if (failed) {
      fill(ctx.caption, ctx.errorView(failed));
      return;
    }
    const part = neighbourhood(v, wantedFocus(), MAX_DRAWN);
    focus = part.focus;
    drawnKeys = new Set([
      ...[...part.organizations.keys()].map((id) => `o${id}`),
      ...[...part.storages.keys()].map((id) => `s${id}`),
    ]);
    network.update(part);
    ctx.el.dataset.total = String(part.total);
    const roads = Number(ctx.el.dataset.edges);
    const nodes = Number(ctx.el.dataset.nodes);
    fill(
      ctx.caption,
      part.focus && nodes < part.total
        ? t('network.around', { n: nodes, total: part.total, node: ctx.nodeName(refOf(part.focus)), roads })
        : t('network.all', { n: nodes, roads, twoWay: Number(ctx.el.dataset.twoWay) }),
      v.storagesTruncated ? ` · ${t('network.firstStorages', { n: ctx.limits.storages })}` : '',
      v.routesTruncated ? ` · ${t('network.firstRoads', { n: ctx.limits.routes })}` : '',
      v.loading.routes ? ` · ${t('network.moreRoads')}` : '',
    );
    renderRoadList(part);
    const me = v.me;
    network.setHome(
      me?.role === 'organization' ? `o${me.organization_id}` : me?.role === 'storage' ? `s${me.storage_id}` : null,
    );
    network.select(v.selectedStorage ? `s${v.selectedStorage}` : null);
    showPath();
  }

  function renderRoadList(part) {
    lastPart = part;
    fillRoadList();
  }

  // Each drawn node with the roads leaving it; a storage's name selects it, as a click on
  // its node does. Built only while the list is open.
  function fillRoadList() {
    const body = ctx.list.querySelector('.road-list-body');
    if (!ctx.list.open || !lastPart) {
      fill(body);
      return;
    }
    const leaving = new Map();
    const add = (from, to, route) => {
      const key = nodeKey(from);
      if (!leaving.has(key)) leaving.set(key, []);
      leaving.get(key).push({ to, distance: route.distance_m });
    };
    for (const route of lastPart.routes.values()) {
      add(route.from, route.to, route);
      if (route.two_way) add(route.to, route.from, route);
    }
    const node = (ref, name) =>
      h(
        'li',
        { testid: `road-list-${nodeKey(ref)}` },
        ref.storage_id !== undefined
          ? h('button', {
              type: 'button',
              class: 'link',
              text: name,
              onclick: () => ctx.onSelectStorage(ref.storage_id),
            })
          : h('strong', { text: name }),
        h('span', {
          class: 'muted',
          text: ` ${(leaving.get(nodeKey(ref)) || [])
            .map((road) => t('network.road', { node: ctx.nodeName(road.to), distance: metres(road.distance) }))
            .join(', ')}`,
        }),
      );
    fill(
      body,
      h(
        'ul',
        { class: 'road-list' },
        [...lastPart.organizations.values()].map((o) => node({ organization_id: o.id }, o.name)),
        [...lastPart.storages.values()].map((s) => node({ storage_id: s.id }, s.name)),
      ),
    );
  }

  // The selection changed: the graph moves only when it left what is drawn.
  function select(id) {
    if (drawnKeys && !drawnKeys.has(`s${id}`)) {
      render();
    }
    network.select(`s${id}`);
  }

  function showPath() {
    const view = ctx.view().selectedView;
    network.showPath(view && view.answer ? view.answer.path : null);
  }

  return {
    render,
    select,
    showPath,
    resize: () => network.resize(),
    destroy: () => {
      network.destroy();
      // what the container said about the drawing belongs to the session that drew it
      for (const name of Object.keys(ctx.el.dataset)) {
        if (name !== 'testid') delete ctx.el.dataset[name];
      }
    },
  };
}

// ctx: { box; view(): the store's state; isAdmin; organizationName(id); nodeName(ref);
//        errorView(error, retry); retryPath(id); editor(storage): the capacity editor }
export function createDetail(ctx) {
  function pathPart(storage) {
    const v = ctx.view();
    const view = v.selectedView && v.selectedView.storage === storage.id ? v.selectedView : null;
    if (!v.actingOrg) {
      return h('p', {
        class: 'muted',
        text: t(ctx.isAdmin ? 'detail.chooseOrg' : 'detail.wayForOrg'),
      });
    }
    if (!view || view.loading) {
      return h('p', { class: 'muted loading', text: t('detail.finding') });
    }
    if (view.error) {
      return ctx.errorView(view.error, () => ctx.retryPath(storage.id));
    }
    if (!view.answer.path || view.answer.distance_m === null) {
      return h('p', {
        testid: 'storage-path',
        class: 'warning',
        text: t('detail.noRoad', { organization: ctx.organizationName(v.actingOrg), storage: storage.name }),
      });
    }
    return h(
      'p',
      { testid: 'storage-path', dataset: { distance: view.answer.distance_m } },
      h('strong', {
        text: t('detail.way', {
          distance: metres(view.answer.distance_m),
          organization: ctx.organizationName(v.actingOrg),
        }),
      }),
      ' ',
      view.answer.path.map(ctx.nodeName).join(' → '),
    );
  }

  function render() {
    const v = ctx.view();
    const id = v.selectedStorage;
    const storage = id ? v.storages.get(id) : null;
    if (!storage) {
      fill(
        ctx.box,
        h('p', {
          class: 'muted',
          text: t('detail.select'),
        }),
      );
      delete ctx.box.dataset.storageId;
      return;
    }
    // The editor is built once per selected storage, so that live updates of the fills do
    // not wipe what an admin is typing.
    if (ctx.box.dataset.storageId !== String(id) || !ctx.box.querySelector('.detail-live')) {
      fill(
        ctx.box,
        h('div', { class: 'detail-live' }),
        ctx.isAdmin ? lazyDetails(t('entity.editStorage'), () => ctx.editor(ctx.view().storages.get(id))) : null,
      );
      ctx.box.dataset.storageId = String(id);
    }
    fill(
      ctx.box.querySelector('.detail-live'),
      h('div', { class: 'detail-head' }, h('h3', { text: storage.name }), fullestBadge(storage, 'detail')),
      fillTable(storage, `detail-${id}`),
      // How the storage takes loads in: at once, or weighed (loads on their way hold room).
      h('p', {
        class: 'muted intake',
        testid: `detail-${id}-intake`,
        dataset: { intake: storage.intake || 'automatic' },
        text: t(storage.intake === 'weighed' ? 'detail.intakeWeighed' : 'detail.intakeAutomatic'),
      }),
      pathPart(storage),
    );
  }

  return { render };
}
