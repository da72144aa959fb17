// The side panels' lists: storages (fill per type, a filter by name), organizations (pending
// waste, on-site limits) and the live activity. Each panel reads what it shows through its
// view() callback and reports a choice through a callback; none changes the store.

import { fillTable } from './bars.mjs';
import { fill, h } from './dom.mjs';
import { fillRatio, kg, percent, quantities } from './format.mjs';

// The storages list shows at most LIST_MAX of them (those matching the filter, by id), and a
// change to one storage replaces only its item.
const LIST_MAX = 300;
// Organizations with pending waste first; at most ORGS_MAX of them.
const ORGS_MAX = 100;

// ctx: { list, note, filter: the list's elements (the owner redraws on the filter's input); view(): {storages, selectedStorage, ownId,
//        loading, error, truncated}; onSelect(id); errorView(error) }
export function createStorageList(ctx) {
  function item(s) {
    const v = ctx.view();
    const ratio = fillRatio(s);
    return h(
      'li',
      {
        class: ['storage', v.selectedStorage === s.id ? 'selected' : '', v.ownId === s.id ? 'own' : ''],
        testid: `storage-${s.id}`,
        dataset: { fill: ratio.toFixed(4), id: s.id },
        tabindex: 0,
        onclick: () => ctx.onSelect(s.id),
        onkeydown: (e) => {
          if (e.key === 'Enter' || e.key === ' ') {
            e.preventDefault();
            ctx.onSelect(s.id);
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

  function render() {
    const v = ctx.view();
    ctx.note.textContent = '';
    if (v.loading && v.storages.size === 0) {
      fill(ctx.list, h('li', { class: 'muted loading', text: 'Loading storages…' }));
      return;
    }
    if (v.error) {
      fill(ctx.list, h('li', null, ctx.errorView(v.error)));
      return;
    }
    const filter = ctx.filter.value.trim().toLowerCase();
    ctx.filter.hidden = v.storages.size <= 12;
    const storages = [...v.storages.values()]
      .filter((s) => !filter || s.name.toLowerCase().includes(filter))
      .sort((a, b) => a.id - b.id);
    if (storages.length === 0) {
      fill(ctx.list, h('li', { class: 'muted', text: filter ? 'No storage matches.' : 'No storages.' }));
      return;
    }
    fill(ctx.list, storages.slice(0, LIST_MAX).map(item));
    if (storages.length > LIST_MAX) {
      ctx.note.textContent = `The first ${LIST_MAX} of ${storages.length}: filter by name to find the others.`;
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
      ctx.editor(o),
    );
  }

  function render() {
    const v = ctx.view();
    if (v.loading && v.organizations.size === 0) {
      fill(ctx.box, h('p', { class: 'muted loading', text: 'Loading organizations…' }));
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
        ? h('p', { class: 'muted', text: `${ORGS_MAX} of ${all.length}: those with pending waste first.` })
        : null,
      all.slice(0, ORGS_MAX).map(card),
    );
  }

  return { render };
}

// The last ACTIVITY_MAX changes pushed by the service, newest first.
const ACTIVITY_MAX = 20;

// ctx: { box; describe(entry): the text of an activity entry (applyEvent's effects.activity) }
export function createActivity(ctx) {
  let entries = [];

  function render() {
    if (entries.length === 0) {
      fill(ctx.box, h('li', { class: 'muted', text: 'Changes pushed by the service appear here.' }));
      return;
    }
    fill(
      ctx.box,
      entries.map((a) =>
        h('li', null, h('span', { class: 'muted', text: `${a.at.toISOString().slice(11, 19)} ` }), a.text),
      ),
    );
  }

  function add(entry) {
    entries = [{ at: new Date(), text: ctx.describe(entry) }, ...entries].slice(0, ACTIVITY_MAX);
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
