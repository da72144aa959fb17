// The ledger: transfers, newest first, a page at a time, growing live. The API lists by id
// ascending with a forward cursor only, so the console walks to the end once, keeping the
// newest KEEP transfers in memory, and then adds new ones from /v1/events.

import { fill, h } from './dom.mjs';
import { kg, metres, quantities, time } from './format.mjs';
import { KEEP } from './state.mjs';

export const PAGE_SIZE = 15;
const MAX_PAGES = 100;

// Reads the ledger the caller may see, up to MAX_PAGES pages of 1,000; returns {items:
// newest first, truncated: older ones dropped, unread: the walk stopped before the end}.
export async function loadLedger(api) {
  let kept = [];
  let truncated = false;
  let cursor = null;
  for (let pages = 0; ; pages++) {
    if (pages === MAX_PAGES) {
      return { items: kept.reverse(), truncated, unread: true };
    }
    const page = await api.get('/v1/transfers', { limit: 1000, cursor });
    kept = kept.concat(page.items || []);
    if (kept.length > KEEP) {
      kept = kept.slice(kept.length - KEEP);
      truncated = true;
    }
    cursor = page.next_cursor;
    if (!cursor) {
      break;
    }
  }
  return { items: kept.reverse(), truncated, unread: false };
}

export function createLedger(ctx) {
  // ctx: { view(): the store's state (read only), storageName(id), organizationName(id),
  //        isFresh(id), errorView(error, retry), reload() }
  let ledgerPage = 0;
  const body = h('div', { class: 'ledger-body' });
  const pager = h('div', { class: 'pager' });
  const el = h('div', { class: 'ledger', testid: 'ledger' }, body, pager);

  function render() {
    const { transfers } = ctx.view();
    el.dataset.count = String(transfers.length);
    el.dataset.newest = transfers.length ? String(transfers[0].id) : '';
    if (ctx.view().loading.ledger && transfers.length === 0) {
      fill(body, h('p', { class: 'muted loading', text: 'Loading the ledger…' }));
      fill(pager);
      return;
    }
    if (ctx.view().errors.ledger) {
      fill(body, ctx.errorView(ctx.view().errors.ledger, ctx.reload));
      fill(pager);
      return;
    }
    if (transfers.length === 0) {
      fill(body, h('p', { class: 'muted', text: 'No transfers yet.' }));
      fill(pager);
      return;
    }
    const unread = ctx.view().ledgerUnread
      ? h('p', {
          class: 'warning',
          testid: 'ledger-unread',
          text:
            `The ledger is longer than ${MAX_PAGES * 1000} transfers and the API lists it oldest first only, ` +
            'so these are the newest of its first ones; new transfers still arrive live at the top.',
        })
      : null;
    const pages = Math.max(1, Math.ceil(transfers.length / PAGE_SIZE));
    const page = Math.min(ledgerPage, pages - 1);
    const shown = transfers.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    fill(
      body,
      unread,
      h(
        'table',
        { class: 'ledger-table' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['#', 'When', 'Organization', 'Trigger', 'By', 'Received', 'Shipped', 'Pending after'].map((t) =>
              h('th', { text: t }),
            ),
          ),
        ),
        h(
          'tbody',
          null,
          shown.map((t) =>
            h(
              'tr',
              { testid: `transfer-${t.id}`, class: ctx.isFresh(t.id) ? 'fresh' : '' },
              h('td', { class: 'num', text: t.id }),
              h('td', { class: 'nowrap', text: time(t.created_at) }),
              h('td', { text: ctx.organizationName(t.organization_id) }),
              h('td', null, h('span', { class: ['tag', `trigger-${t.trigger}`], text: t.trigger })),
              h('td', { class: 'muted', text: t.actor || '' }),
              h('td', { text: quantities(t.received) || '—' }),
              h(
                'td',
                null,
                (t.shipments || []).length
                  ? h(
                      'ul',
                      { class: 'shipments' },
                      t.shipments.map((s) =>
                        h('li', {
                          text: `${ctx.storageName(s.storage_id)} ${s.waste_type} ${kg(s.amount)} · ${metres(s.distance_m)}`,
                        }),
                      ),
                    )
                  : '—',
              ),
              h('td', { text: quantities(t.pending) || '—' }),
            ),
          ),
        ),
      ),
    );
    fill(
      pager,
      h('button', {
        type: 'button',
        class: 'small',
        disabled: page === 0,
        testid: 'ledger-newer',
        text: '← Newer',
        onclick: () => go(page - 1),
      }),
      h('span', {
        class: 'muted',
        testid: 'ledger-page',
        text: `Page ${page + 1} of ${pages} · ${transfers.length} transfers${ctx.view().ledgerTruncated ? ` (the newest ${KEEP} kept)` : ''}`,
      }),
      h('button', {
        type: 'button',
        class: 'small',
        disabled: page >= pages - 1,
        testid: 'ledger-older',
        text: 'Older →',
        onclick: () => go(page + 1),
      }),
    );
  }

  function go(page) {
    ledgerPage = Math.max(0, page);
    render();
  }

  return { el, render };
}
