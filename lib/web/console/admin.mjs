// What only an admin edits besides keys (keys.mjs): roads (add, change, delete) and the
// capacity editors of storages and organizations.

import { newIdempotencyKey } from './api.mjs';
import { fill, h } from './dom.mjs';
import { metres, nodeKey, parseKg } from './format.mjs';
import { problemView } from './handover.mjs';
import { confirmButton } from './keys.mjs';

function nodeOptions(state) {
  const options = [];
  for (const o of state.organizations.values()) {
    options.push({ value: `organization:${o.id}`, text: o.name });
  }
  for (const s of state.storages.values()) {
    options.push({ value: `storage:${s.id}`, text: s.name });
  }
  return options;
}

function refOf(value) {
  const [kind, id] = value.split(':');
  return kind === 'organization' ? { organization_id: Number(id) } : { storage_id: Number(id) };
}

const ROADS_MAX = 40;

function refOfKey(key) {
  return key[0] === 'o' ? { organization_id: Number(key.slice(1)) } : { storage_id: Number(key.slice(1)) };
}

export function createRoads(ctx) {
  // ctx: { api, view(), nodeName(ref), focusKey(): the selected node's key or null,
  //        onRoute(op: 'saved' | 'deleted', route): a road the admin changed }
  const from = h('select', { id: 'road-from', testid: 'road-from' });
  const to = h('select', { id: 'road-to', testid: 'road-to' });
  const distance = h('input', {
    id: 'road-distance',
    testid: 'road-distance',
    type: 'number',
    min: 1,
    step: 1,
    placeholder: 'metres',
  });
  const twoWay = h('input', { id: 'road-two-way', testid: 'road-two-way', type: 'checkbox' });
  const message = h('div', { class: 'result', testid: 'road-result', 'aria-live': 'polite' });
  const list = h('div', { testid: 'roads-list' });
  const form = h(
    'form',
    { class: 'road-form', testid: 'road-form', novalidate: true, onsubmit: onCreate },
    h('div', { class: 'row' }, h('label', { for: 'road-from', text: 'From' }), from),
    h('div', { class: 'row' }, h('label', { for: 'road-to', text: 'To' }), to),
    h('div', { class: 'row' }, h('label', { for: 'road-distance', text: 'Distance (m)' }), distance),
    h('div', { class: 'row' }, h('label', { for: 'road-two-way', text: 'Two-way' }), twoWay),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', testid: 'road-create', text: 'Add road' }),
    ),
    message,
  );
  const el = h('div', { class: 'roads' }, list, h('h4', { text: 'Add a road' }), form);
  let optionsShown = '';

  async function call(method, path, body) {
    fill(message);
    try {
      const answer = await ctx.api.request(method, path, {
        body,
        idempotencyKey: method === 'POST' ? newIdempotencyKey() : undefined,
      });
      if (method === 'DELETE') {
        ctx.onRoute('deleted', { id: Number(path.split('/').pop()) });
      } else if (answer.body && answer.body.id) {
        ctx.onRoute('saved', answer.body);
      }
      return true;
    } catch (error) {
      fill(message, problemView(error));
      return false;
    }
  }

  async function onCreate(event) {
    event.preventDefault();
    const metresValue = parseKg(distance.value);
    if (!metresValue) {
      fill(message, h('p', { class: 'error', text: 'The distance is a whole number of metres, at least 1.' }));
      return;
    }
    if (
      await call('POST', '/v1/routes', {
        from: refOf(from.value),
        to: refOf(to.value),
        distance_m: metresValue,
        two_way: twoWay.checked,
      })
    ) {
      distance.value = '';
      twoWay.checked = false;
      fill(message, h('p', { class: 'success', text: 'Road added.' }));
    }
  }

  function render() {
    const options = nodeOptions(ctx.view());
    const signature = options.map((o) => o.value + o.text).join();
    if (signature !== optionsShown) {
      optionsShown = signature;
      for (const select of [from, to]) {
        const current = select.value;
        fill(
          select,
          options.map((o) => h('option', { value: o.value, text: o.text })),
        );
        if (current) {
          select.value = current;
        }
      }
    }
    // A big network lists the roads of the selected node, or the first ones by id.
    const all = [...ctx.view().routes.values()].sort((a, b) => a.id - b.id);
    const focus = ctx.focusKey();
    let routes = all;
    let note = null;
    if (all.length > ROADS_MAX) {
      if (focus) {
        routes = all.filter((r) => nodeKey(r.from) === focus || nodeKey(r.to) === focus);
        note = `The ${routes.length} roads of ${ctx.nodeName(refOfKey(focus))}, of ${all.length}: select another node to see its roads.`;
      }
      if (!focus || routes.length > ROADS_MAX) {
        routes = routes.slice(0, ROADS_MAX);
        note = `The first ${ROADS_MAX} of ${all.length} roads: select a storage or an organization to see its roads.`;
      }
    }
    fill(
      list,
      note ? h('p', { class: 'muted', testid: 'roads-note', text: note }) : null,
      h(
        'table',
        { class: 'roads-table' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['#', 'From', 'To', 'Distance', 'Two-way', ''].map((t) => h('th', { text: t })),
          ),
        ),
        h(
          'tbody',
          null,
          routes.map((route) => {
            const dist = h('input', {
              type: 'number',
              min: 1,
              step: 1,
              class: 'narrow',
              value: String(route.distance_m),
              'aria-label': `distance of road ${route.id}`,
              testid: `road-${route.id}-distance`,
            });
            const both = h('input', {
              type: 'checkbox',
              checked: !!route.two_way,
              'aria-label': `road ${route.id} two-way`,
              testid: `road-${route.id}-two-way`,
            });
            return h(
              'tr',
              { testid: `road-${route.id}`, dataset: { from: nodeKey(route.from), to: nodeKey(route.to) } },
              h('td', { text: route.id }),
              h('td', { text: ctx.nodeName(route.from) }),
              h('td', { text: ctx.nodeName(route.to) }),
              h('td', null, dist, h('span', { class: 'muted', text: ` (${metres(route.distance_m)})` })),
              h('td', null, both),
              h(
                'td',
                { class: 'buttons' },
                h('button', {
                  type: 'button',
                  class: 'small',
                  testid: `road-${route.id}-save`,
                  text: 'Save',
                  onclick: () => {
                    const value = parseKg(dist.value);
                    if (!value) {
                      fill(
                        message,
                        h('p', { class: 'error', text: 'The distance is a whole number of metres, at least 1.' }),
                      );
                      return;
                    }
                    call('PATCH', `/v1/routes/${route.id}`, { distance_m: value, two_way: both.checked });
                  },
                }),
                confirmButton('Delete', 'Really delete?', `road-${route.id}-delete`, () =>
                  call('DELETE', `/v1/routes/${route.id}`),
                ),
              ),
            );
          }),
        ),
      ),
    );
  }

  return { el, render };
}

// The capacity editor of a storage or an organization: one field per type (empty removes
// the type: null in the PATCH), plus a new type. kind: 'storage' | 'organization'.
export function capacityEditor(ctx, kind, entity, onSaved) {
  const path = kind === 'storage' ? `/v1/storages/${entity.id}` : `/v1/organizations/${entity.id}`;
  const inputs = new Map();
  const message = h('div', { class: 'result', 'aria-live': 'polite', testid: `${kind}-capacity-result` });
  const rows = ctx.view().wasteTypes.map((t) => {
    const current = (entity.capacity || {})[t.code];
    const input = h('input', {
      type: 'number',
      min: 0,
      step: 1,
      class: 'narrow',
      value: current === undefined ? '' : String(current),
      placeholder: kind === 'storage' ? 'not accepted' : 'no limit',
      testid: `${kind}-capacity-${t.code}`,
      'aria-label': `${t.code} capacity`,
    });
    inputs.set(t.code, input);
    return h('div', { class: 'row' }, h('label', { text: t.code }), input);
  });
  async function save(event) {
    event.preventDefault();
    const capacity = {};
    for (const [type, input] of inputs) {
      const had = (entity.capacity || {})[type] !== undefined;
      const text = input.value.trim();
      if (text === '') {
        if (had) {
          capacity[type] = null;
        }
        continue;
      }
      const value = parseKg(text);
      if (value === null) {
        fill(message, h('p', { class: 'error', text: `${type}: a whole number of kilograms` }));
        return;
      }
      if (!had || (entity.capacity || {})[type] !== value) {
        capacity[type] = value;
      }
    }
    if (Object.keys(capacity).length === 0) {
      fill(message, h('p', { class: 'muted', text: 'Nothing changed.' }));
      return;
    }
    try {
      const answer = await ctx.api.request('PATCH', path, { body: { capacity } });
      fill(message, h('p', { class: 'success', text: 'Saved.' }));
      onSaved(answer.body);
    } catch (error) {
      fill(message, problemView(error));
    }
  }
  return h(
    'form',
    { class: 'capacity-form', testid: `${kind}-capacity-form`, novalidate: true, onsubmit: save },
    h('h4', {
      text:
        kind === 'storage'
          ? 'Capacity (kg per type; empty: not accepted)'
          : 'On-site limits (kg per type; empty: no limit)',
    }),
    rows,
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'small primary', text: 'Save', testid: `${kind}-capacity-save` }),
    ),
    message,
  );
}
