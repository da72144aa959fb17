// An organization's loads: where each of its movements is — on its way to a weighed storage,
// accepted, partly refused or refused — with the storage, the planned and the accepted
// kilograms. Read once (GET /v1/movements?organization_id=) and kept current by `movement`
// events, so a receipt at the weighbridge shows here within a second.

import { fill, h } from './dom.mjs';
import { kg, time } from './format.mjs';
import { t, wasteTypeName } from './i18n.mjs';
import { loadsInOrder, statusKey } from './movements.mjs';
import { problemView } from './problems.mjs';

// How many loads the panel lists (the newest received after every one on its way).
const SHOWN = 50;

// ctx: { view(): the store's state, storageName(id) }
export function createLoads(ctx) {
  const body = h('div', { class: 'loads-body', testid: 'org-loads', tabindex: 0, role: 'region' });
  body.setAttribute('aria-label', t('loads.title'));
  const el = h('div', { class: 'org-loads' }, body);

  function render() {
    const s = ctx.view();
    if (s.errors.movements) {
      fill(body, problemView(s.errors.movements));
      return;
    }
    const loads = loadsInOrder(s.movements.values());
    if (loads.length === 0) {
      fill(body, h('p', { class: 'muted', text: t(s.loading.movements ? 'loads.loading' : 'loads.none') }));
      return;
    }
    const travelling = loads.filter((m) => m.status === 'in_transit').length;
    fill(
      body,
      h('p', { class: 'muted', testid: 'org-loads-summary', text: t('loads.summary', { n: travelling }) }),
      h(
        'table',
        { class: 'loads-table' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['loads.col.status', 'loads.col.storage', 'loads.col.planned', 'loads.col.accepted'].map((key) =>
              h('th', { scope: 'col', text: t(key) }),
            ),
          ),
        ),
        h(
          'tbody',
          null,
          loads.slice(0, SHOWN).map((m) =>
            h(
              'tr',
              { testid: `org-load-${m.id}`, dataset: { status: m.status } },
              h(
                'td',
                null,
                h('span', { class: ['status', `status-${m.status}`], text: t(statusKey(m.status)) }),
                h('span', { class: 'muted when', text: ` ${time(m.received_at || m.created_at)}` }),
              ),
              h('td', { text: ctx.storageName(m.storage_id), dataset: { label: t('loads.col.storage') } }),
              h('td', {
                text: `${wasteTypeName(m.waste_type)} ${kg(m.planned_kg)}`,
                dataset: { label: t('loads.col.planned') },
              }),
              h('td', {
                testid: `org-load-${m.id}-accepted`,
                dataset: { label: t('loads.col.accepted') },
                text: m.status === 'in_transit' ? '—' : kg(m.accepted_kg ?? 0),
              }),
            ),
          ),
        ),
      ),
    );
  }

  return { el, render };
}
