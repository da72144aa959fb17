// The road network card: the graph (graph.mjs) of the part around the selection
// (neighbourhood.mjs), its caption, and the selected storage's detail (fill per type and
// the way from the acting organization). Reads through view(), reports through callbacks.

import { fillTable } from './bars.mjs';
import { fill, h } from './dom.mjs';
import { fillRatio, metres, percent } from './format.mjs';
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

// ctx: { el, caption; view(): the store's state; nodeName(ref); errorView(error);
//        onSelectStorage(id); onSelectOrganization(id); limits: {storages, routes} }
export function createNetworkPanel(ctx) {
  const network = createNetwork(ctx.el, {
    onSelectStorage: ctx.onSelectStorage,
    onSelectOrganization: ctx.onSelectOrganization,
  });
  let drawnKeys = null;
  let focus = null;
  let queued = false;

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
    if (v.loading.storages || v.loading.routes || v.loading.organizations) {
      // Drawn once everything is in (one layout, not three); a refresh keeps the old picture.
      if (!drawnKeys) {
        ctx.caption.textContent = 'Loading the network…';
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
    fill(
      ctx.caption,
      part.focus
        ? `${ctx.el.dataset.nodes} of ${part.total} nodes, around ${ctx.nodeName(refOf(part.focus))} · ${roads} roads`
        : `${ctx.el.dataset.nodes} nodes · ${roads} roads (${ctx.el.dataset.twoWay} two-way)`,
      v.storagesTruncated ? ` · the first ${ctx.limits.storages} storages` : '',
      v.routesTruncated ? ` · the first ${ctx.limits.routes} roads` : '',
    );
    const me = v.me;
    network.setHome(
      me?.role === 'organization' ? `o${me.organization_id}` : me?.role === 'storage' ? `s${me.storage_id}` : null,
    );
    network.select(v.selectedStorage ? `s${v.selectedStorage}` : null);
    showPath();
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
    destroy: () => network.destroy(),
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
        text: ctx.isAdmin
          ? 'Choose an organization (in the hand-over form or on the map) to see its way here.'
          : 'The way here is shown for an organization’s key.',
      });
    }
    if (!view || view.loading) {
      return h('p', { class: 'muted loading', text: 'Finding the way…' });
    }
    if (view.error) {
      return ctx.errorView(view.error, () => ctx.retryPath(storage.id));
    }
    if (!view.answer.path || view.answer.distance_m === null) {
      return h('p', {
        testid: 'storage-path',
        class: 'warning',
        text: `${ctx.organizationName(v.actingOrg)} has no road to ${storage.name}.`,
      });
    }
    return h(
      'p',
      { testid: 'storage-path', dataset: { distance: view.answer.distance_m } },
      h('strong', { text: `${metres(view.answer.distance_m)} from ${ctx.organizationName(v.actingOrg)}: ` }),
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
          text: 'Click a storage in the network or the list to see its fill and the way there.',
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
        ctx.isAdmin ? lazyDetails('Edit capacity', () => ctx.editor(ctx.view().storages.get(id))) : null,
      );
      ctx.box.dataset.storageId = String(id);
    }
    fill(
      ctx.box.querySelector('.detail-live'),
      h(
        'div',
        { class: 'detail-head' },
        h('h3', { text: storage.name }),
        h('span', { class: 'muted', text: `${percent(fillRatio(storage))} full` }),
      ),
      fillTable(storage, `detail-${id}`),
      pathPart(storage),
    );
  }

  return { render };
}
