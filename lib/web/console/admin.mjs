// What only an admin sees: API keys (create, shown once; list; revoke), roads (add, change,
// delete) and the capacity editors of storages and organizations.

import { newIdempotencyKey } from './api.mjs';
import { fill, h } from './dom.mjs';
import { metres, nodeKey, parseKg, time } from './format.mjs';
import { problemView } from './handover.mjs';

// A button that asks once more before it acts: "Revoke" -> "Really revoke?".
function confirmButton(label, confirmLabel, testid, action) {
  let armed = false;
  let timer = null;
  const button = h('button', {
    type: 'button',
    class: 'danger small',
    testid,
    text: label,
    onclick: async () => {
      if (!armed) {
        armed = true;
        button.textContent = confirmLabel;
        timer = setTimeout(() => {
          armed = false;
          button.textContent = label;
        }, 4000);
        return;
      }
      clearTimeout(timer);
      button.disabled = true;
      await action();
      button.disabled = false;
      armed = false;
      button.textContent = label;
    },
  });
  return button;
}

export function createKeys(ctx) {
  // ctx: { api, state }
  const role = h(
    'select',
    { id: 'key-role', testid: 'key-role' },
    ['organization', 'storage', 'auditor', 'monitor', 'admin'].map((r) => h('option', { value: r, text: r })),
  );
  const scope = h('select', { id: 'key-scope', testid: 'key-scope', 'aria-label': 'Scope' });
  const name = h('input', {
    id: 'key-name',
    testid: 'key-name',
    type: 'text',
    maxlength: 200,
    placeholder: 'e.g. scale at gate 2',
  });
  const expires = h('input', { id: 'key-expires', testid: 'key-expires', type: 'date' });
  const created = h('div', { class: 'result', testid: 'key-created', 'aria-live': 'polite' });
  const list = h('div', { testid: 'keys-list' });
  const form = h(
    'form',
    { class: 'keys-form', testid: 'key-form', novalidate: true, onsubmit: onCreate },
    h('div', { class: 'row' }, h('label', { for: 'key-role', text: 'Role' }), role),
    h('div', { class: 'row scope-row' }, h('label', { for: 'key-scope', text: 'For' }), scope),
    h('div', { class: 'row' }, h('label', { for: 'key-name', text: 'Name' }), name),
    h('div', { class: 'row' }, h('label', { for: 'key-expires', text: 'Expires (optional)' }), expires),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', testid: 'key-create', text: 'Create key' }),
    ),
    created,
  );
  const el = h('div', { class: 'keys' }, form, h('h4', { text: 'Keys' }), list);
  role.addEventListener('change', renderScope);

  function renderScope() {
    const r = role.value;
    const row = form.querySelector('.scope-row');
    row.hidden = r !== 'organization' && r !== 'storage';
    const source = r === 'organization' ? ctx.state.organizations : ctx.state.storages;
    const current = scope.value;
    fill(
      scope,
      [...source.values()].map((x) => h('option', { value: String(x.id), text: x.name })),
    );
    if (current) {
      scope.value = current;
    }
  }

  async function onCreate(event) {
    event.preventDefault();
    const body = { role: role.value, name: name.value.trim() || `${role.value} key` };
    if (role.value === 'organization') {
      body.organization_id = Number(scope.value);
    } else if (role.value === 'storage') {
      body.storage_id = Number(scope.value);
    }
    if (expires.value) {
      body.expires_at = new Date(`${expires.value}T23:59:59Z`).toISOString().replace(/\.\d+Z$/, 'Z');
    }
    fill(created);
    try {
      const answer = await ctx.api.request('POST', '/v1/api-keys', { body, idempotencyKey: newIdempotencyKey() });
      const key = answer.body || {};
      const secret = h('code', { class: 'secret', testid: 'key-secret', text: key.key || '' });
      fill(
        created,
        h(
          'div',
          { class: 'success' },
          h('p', {
            class: 'strong',
            text: `Key #${key.id} (${key.role}) created. Copy it now: it is shown only this once.`,
          }),
          secret,
          h('button', {
            type: 'button',
            class: 'small',
            text: 'Copy',
            onclick: () => navigator.clipboard?.writeText(key.key || '').catch(() => {}),
          }),
        ),
      );
      name.value = '';
      await load();
    } catch (error) {
      fill(created, problemView(error));
    }
  }

  async function load() {
    try {
      const page = await ctx.api.listAll('/v1/api-keys', {}, { pageSize: 100, maxItems: 1000 });
      ctx.state.keys = page.items;
      renderList();
    } catch (error) {
      fill(list, problemView(error));
    }
  }

  function scopeText(key) {
    if (key.organization_id) {
      return ctx.state.organizations.get(key.organization_id)?.name || `organization ${key.organization_id}`;
    }
    if (key.storage_id) {
      return ctx.state.storages.get(key.storage_id)?.name || `storage ${key.storage_id}`;
    }
    return '—';
  }

  function renderList() {
    const keys = ctx.state.keys || [];
    if (keys.length === 0) {
      fill(list, h('p', { class: 'muted', text: 'No keys yet.' }));
      return;
    }
    fill(
      list,
      h(
        'table',
        { class: 'keys-table' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['#', 'Role', 'For', 'Name', 'Created', 'Expires', ''].map((t) => h('th', { text: t })),
          ),
        ),
        h(
          'tbody',
          null,
          keys.map((key) =>
            h(
              'tr',
              { testid: `key-${key.id}`, class: key.revoked_at ? 'revoked' : '' },
              h('td', { text: key.id }),
              h('td', { text: key.role }),
              h('td', { text: scopeText(key) }),
              h('td', { text: key.name || '' }),
              h('td', { text: key.created_at ? time(key.created_at) : '' }),
              h('td', {
                text: key.revoked_at
                  ? `revoked ${time(key.revoked_at)}`
                  : key.expires_at
                    ? time(key.expires_at)
                    : 'never',
              }),
              h(
                'td',
                null,
                key.revoked_at || key.id === ctx.state.me?.key_id
                  ? key.id === ctx.state.me?.key_id
                    ? h('span', { class: 'muted', text: 'this session' })
                    : null
                  : confirmButton('Revoke', 'Really revoke?', `key-revoke-${key.id}`, async () => {
                      try {
                        await ctx.api.request('DELETE', `/v1/api-keys/${key.id}`);
                        await load();
                      } catch (error) {
                        fill(created, problemView(error));
                      }
                    }),
              ),
            ),
          ),
        ),
      ),
    );
  }

  return {
    el,
    load,
    render: () => {
      renderScope();
      renderList();
    },
  };
}

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
  // ctx: { api, state, nodeName(ref), focusKey(): the selected node's key or null, onRoutes() }
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
        ctx.state.routes.delete(Number(path.split('/').pop()));
      } else if (answer.body && answer.body.id) {
        ctx.state.routes.set(answer.body.id, answer.body);
      }
      ctx.onRoutes();
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
    const options = nodeOptions(ctx.state);
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
    const all = [...ctx.state.routes.values()].sort((a, b) => a.id - b.id);
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
  const rows = ctx.state.wasteTypes.map((t) => {
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
