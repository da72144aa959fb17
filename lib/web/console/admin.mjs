// What only an admin edits besides keys (keys.mjs) and storages and organizations
// (entities.mjs): roads (add, change, delete).

import { newIdempotencyKey } from './api.mjs';
import { fill, h } from './dom.mjs';
import { metres, nodeKey, parseKg } from './format.mjs';
import { t } from './i18n.mjs';
import { problemView } from './problems.mjs';
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
    placeholder: t('roads.metres'),
  });
  const twoWay = h('input', { id: 'road-two-way', testid: 'road-two-way', type: 'checkbox' });
  const message = h('div', { class: 'result', testid: 'road-result', 'aria-live': 'polite' });
  const list = h('div', { testid: 'roads-list' });
  const form = h(
    'form',
    { class: 'road-form', testid: 'road-form', novalidate: true, onsubmit: onCreate },
    h('div', { class: 'row' }, h('label', { for: 'road-from', text: t('roads.from') }), from),
    h('div', { class: 'row' }, h('label', { for: 'road-to', text: t('roads.to') }), to),
    h('div', { class: 'row' }, h('label', { for: 'road-distance', text: t('roads.distance') }), distance),
    h('div', { class: 'row' }, h('label', { for: 'road-two-way', text: t('roads.twoWay') }), twoWay),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', testid: 'road-create', text: t('roads.add') }),
    ),
    message,
  );
  const el = h('div', { class: 'roads' }, list, h('h4', { text: t('roads.addTitle') }), form);
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
      fill(message, h('p', { class: 'error', text: t('roads.badDistance') }));
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
      fill(message, h('p', { class: 'success', text: t('roads.added') }));
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
        note = t('roads.ofNode', { n: routes.length, node: ctx.nodeName(refOfKey(focus)), total: all.length });
      }
      if (!focus || routes.length > ROADS_MAX) {
        routes = routes.slice(0, ROADS_MAX);
        note = t('roads.first', { n: ROADS_MAX, total: all.length });
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
            ['#', t('roads.from'), t('roads.to'), t('col.distance'), t('roads.twoWay'), ''].map((label) =>
              h('th', { text: label }),
            ),
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
              'aria-label': t('roads.distanceOf', { id: String(route.id) }),
              testid: `road-${route.id}-distance`,
            });
            const both = h('input', {
              type: 'checkbox',
              checked: !!route.two_way,
              'aria-label': t('roads.twoWayOf', { id: String(route.id) }),
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
                  text: t('save'),
                  onclick: () => {
                    const value = parseKg(dist.value);
                    if (!value) {
                      fill(message, h('p', { class: 'error', text: t('roads.badDistance') }));
                      return;
                    }
                    call('PATCH', `/v1/routes/${route.id}`, { distance_m: value, two_way: both.checked });
                  },
                }),
                confirmButton(t('roads.delete'), t('roads.deleteConfirm'), `road-${route.id}-delete`, () =>
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
