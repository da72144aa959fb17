// The side panels' lists: storages (fill per type; search, filter, sort; nearest first for
// an organization's key), organizations (pending
// waste, on-site limits) and the live activity. Each panel reads what it shows through its
// view() callback and reports a choice through a callback; none changes the store.

import { fillTable, getAlertRules } from './bars.mjs';
import { fill, h } from './dom.mjs';
import { fullestType, kg, metres, percent, quantities } from './format.mjs';
import { clock, t, wasteTypeName } from './i18n.mjs';
import { listStorages, nearFullThreshold } from './listing.mjs';

// The storages list shows LIST_PAGE of them at first (those matching the search and filter,
// in the chosen order) and LIST_PAGE more at each "show more": drawing 2,000 cards would
// hold up the first render. A change to one storage replaces only its item. Each item is
// one Tab stop; the skip links above the panels jump past the list.
const LIST_PAGE = 100;
// Organizations with pending waste first; at most ORGS_MAX of them.
const ORGS_MAX = 100;

// The fullest type of a storage as a badge: a storage is as full as its fullest type for
// that waste, so the list never shows a whole-storage percentage that hides a full type.
export function fullestBadge(storage, prefix = 'storage') {
  const fullest = fullestType(storage);
  if (!fullest) {
    return null;
  }
  const near = nearFullThreshold(getAlertRules(), storage.id, fullest.type);
  const level = fullest.ratio >= 1 ? 'full' : fullest.ratio >= near ? 'near' : 'ok';
  return h('span', {
    class: ['storage-percent', `level-${level}`],
    testid: `${prefix}-${storage.id}-fullest`,
    dataset: { type: fullest.type, level },
    text: t(level === 'full' ? 'fill.typeFull' : 'fill.type', {
      type: wasteTypeName(fullest.type),
      percent: percent(fullest.ratio),
    }),
  });
}

// ctx: { list, note, search, filter, sort: the list's elements (the owner redraws on their
//        input); view(): {storages, selectedStorage, ownId, loading, error, distances: Map
//        id -> metres for an organization's key, or null}; onSelect(id); errorView(error) }
export function createStorageList(ctx) {
  let limit = LIST_PAGE;
  let shownFor = '';
  const more = h('button', {
    type: 'button',
    class: 'small',
    testid: 'storages-more',
    text: t('storages.more', { n: LIST_PAGE }),
    onclick: () => {
      limit += LIST_PAGE;
      render();
    },
  });

  function item(s) {
    const v = ctx.view();
    const fullest = fullestType(s);
    const distance = v.distances ? v.distances.get(s.id) : undefined;
    return h(
      'li',
      {
        class: ['storage', v.selectedStorage === s.id ? 'selected' : '', v.ownId === s.id ? 'own' : ''],
        testid: `storage-${s.id}`,
        dataset: { fill: (fullest ? fullest.ratio : 0).toFixed(4), id: s.id },
        tabindex: 0,
        onclick: () => ctx.onSelect(s.id),
        onkeydown: (e) => {
          if (e.key === 'Enter' || e.key === ' ') {
            e.preventDefault();
            ctx.onSelect(s.id);
          }
        },
      },
      h('div', { class: 'storage-head' }, h('span', { class: 'storage-name', text: s.name }), fullestBadge(s)),
      distance !== undefined
        ? h('p', {
            class: 'storage-distance',
            testid: `storage-${s.id}-distance`,
            dataset: { distance: distance ?? '' },
            text: distance === null ? t('distance.noRoad') : t('distance.away', { distance: metres(distance) }),
          })
        : null,
      fillTable(s, `storage-${s.id}`),
    );
  }

  function render() {
    const v = ctx.view();
    fill(ctx.note);
    if (v.loading && v.storages.size === 0) {
      fill(ctx.list, h('li', { class: 'muted loading', text: t('storages.loading') }));
      return;
    }
    if (v.error) {
      fill(ctx.list, h('li', null, ctx.errorView(v.error)));
      return;
    }
    const nearest = ctx.sort.querySelector('option[value="nearest"]');
    nearest.hidden = !v.distances;
    nearest.disabled = !v.distances;
    // Nearest first for an organization's key, until the user picks another order.
    if (v.distances && !ctx.sort.dataset.chosen) {
      ctx.sort.value = 'nearest';
    } else if (!v.distances && ctx.sort.value === 'nearest') {
      ctx.sort.value = 'name';
    }
    const storages = listStorages(v.storages.values(), {
      query: ctx.search.value,
      filter: ctx.filter.value,
      sort: ctx.sort.value,
      distances: v.distances,
      rules: getAlertRules(),
    });
    ctx.list.dataset.count = String(storages.length);
    if (storages.length === 0) {
      fill(ctx.list, h('li', { class: 'muted', text: t(v.storages.size ? 'storages.noMatch' : 'storages.none') }));
      return;
    }
    // Another search, filter or order starts from the first page again.
    const signature = [ctx.search.value, ctx.filter.value, ctx.sort.value].join('|');
    if (signature !== shownFor) {
      shownFor = signature;
      limit = LIST_PAGE;
    }
    fill(ctx.list, storages.slice(0, limit).map(item));
    if (storages.length > limit) {
      fill(ctx.note, t('storages.first', { n: limit, total: storages.length }), ' ', more);
    }
  }

  function update(id) {
    const storage = ctx.view().storages.get(id);
    const old = ctx.list.querySelector(`[data-testid="storage-${id}"]`);
    if (storage && old) {
      old.replaceWith(item(storage));
    }
  }

  function markSelected() {
    const selected = ctx.view().selectedStorage;
    for (const el of ctx.list.querySelectorAll('li.storage')) {
      el.classList.toggle('selected', Number(el.dataset.id) === selected);
    }
  }

  return { render, update, markSelected };
}

// ctx: { box; view(): {organizations, actingOrg, loading, error}; errorView(error);
//        editor(organization): an element to edit its limits, or null }
export function createOrganizationList(ctx) {
  function card(o) {
    const types = [...new Set([...Object.keys(o.capacity || {}), ...Object.keys(o.pending || {})])].sort();
    return h(
      'div',
      { class: ['organization', ctx.view().actingOrg === o.id ? 'acting' : ''], testid: `organization-${o.id}` },
      h(
        'div',
        { class: 'storage-head' },
        h('span', { class: 'storage-name', text: o.name }),
        h('span', { class: 'muted', text: t(quantities(o.pending) ? 'orgs.hasPending' : 'orgs.nothingPending') }),
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
            h('th', { text: t('col.type') }),
            h('th', { class: 'num', text: t('orgs.pending') }),
            h('th', { class: 'num', text: t('orgs.limit') }),
          ),
        ),
        h(
          'tbody',
          null,
          types.map((type) =>
            h(
              'tr',
              { testid: `organization-${o.id}-${type}`, dataset: { pending: (o.pending || {})[type] || 0 } },
              h('td', { text: wasteTypeName(type) }),
              h('td', { class: 'num', text: kg((o.pending || {})[type] || 0) }),
              h('td', {
                class: 'num',
                text: (o.capacity || {})[type] === undefined ? t('entity.noLimit') : kg(o.capacity[type]),
              }),
            ),
          ),
        ),
      ),
      ctx.editor(o),
    );
  }

  function render() {
    const v = ctx.view();
    if (v.loading && v.organizations.size === 0) {
      fill(ctx.box, h('p', { class: 'muted loading', text: t('orgs.loading') }));
      return;
    }
    if (v.error) {
      fill(ctx.box, ctx.errorView(v.error));
      return;
    }
    const all = [...v.organizations.values()].sort(
      (a, b) => Number(!quantities(a.pending)) - Number(!quantities(b.pending)) || a.id - b.id,
    );
    fill(
      ctx.box,
      all.length > ORGS_MAX
        ? h('p', { class: 'muted', text: t('orgs.first', { n: ORGS_MAX, total: all.length }) })
        : null,
      all.slice(0, ORGS_MAX).map(card),
    );
  }

  return { render };
}

// The last ACTIVITY_MAX changes pushed by the service, newest first.
const ACTIVITY_MAX = 20;

// The text of an activity entry (applyEvent's effects.activity): what was placed where.
function describe(a, names) {
  if (a.kind === 'transfer') {
    const placed = a.shipments
      .map((s) =>
        t('placed.line', {
          storage: names.storageName(s.storage_id),
          type: wasteTypeName(s.waste_type),
          amount: kg(s.amount),
          distance: metres(s.distance_m),
        }),
      )
      .join('; ');
    return t(a.trigger === 'auto' ? 'activity.auto' : 'activity.transfer', {
      id: String(a.id),
      organization: names.organizationName(a.organization_id),
      placed: placed || t('activity.nothingPlaced'),
    });
  }
  if (a.kind === 'movement') {
    return t(statusActivity(a.status), {
      id: String(a.id),
      storage: names.storageName(a.storage_id),
      type: wasteTypeName(a.waste_type),
      accepted: kg(a.accepted_kg ?? 0),
      rejected: kg(a.rejected_kg ?? 0),
    });
  }
  if (a.kind === 'alert') {
    return t('activity.alert', {
      storage: names.storageName(a.storage_id),
      type: wasteTypeName(a.waste_type),
      percent: percent(Number(a.fill_ratio) || 0),
      threshold: percent(Number(a.threshold) || 0),
    });
  }
  return t('activity.unload', { storage: names.storageName(a.storage_id), amounts: quantities(a.unloaded) });
}

function statusActivity(status) {
  if (status === 'rejected') return 'activity.movementRejected';
  if (status === 'partially_rejected') return 'activity.movementPartial';
  return 'activity.movementAccepted';
}

// ctx: { box; storageName(id), organizationName(id) }
export function createActivity(ctx) {
  let entries = [];

  function render() {
    if (entries.length === 0) {
      fill(ctx.box, h('li', { class: 'muted', text: t('activity.empty') }));
      return;
    }
    fill(
      ctx.box,
      entries.map((a) => h('li', null, h('span', { class: 'muted', text: `${clock(a.at)} ` }), a.text)),
    );
  }

  function add(entry) {
    entries = [{ at: new Date(), text: describe(entry, ctx) }, ...entries].slice(0, ACTIVITY_MAX);
    render();
  }

  return { render, add };
}

// A <details> whose content is built when it is first opened.
export function lazyDetails(summary, build) {
  const details = h('details', { class: 'edit' }, h('summary', { text: summary }));
  details.addEventListener('toggle', () => {
    if (details.open && details.children.length === 1) {
      details.append(build());
    }
  });
  return details;
}
