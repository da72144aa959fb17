// The ledger: transfers, newest first, a page at a time, growing live. The API lists by id
// ascending with a forward cursor only, so the console walks to the end once, keeping the
// newest KEEP transfers in memory, and then adds new ones from /v1/events.

import { fill, h } from './dom.mjs';
import { kg, metres, quantities, time } from './format.mjs';
import { t, wasteTypeName } from './i18n.mjs';
import { listTransfers } from './listing.mjs';
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
  // A wide table scrolls inside its box on a phone: the box takes focus, so that the keyboard
  // can scroll it too.
  const body = h('div', { class: 'ledger-body', tabindex: 0, role: 'region', 'aria-label': t('ledger.title') });
  const pager = h('div', { class: 'pager' });
  // Filters: a search over the names a transfer mentions, the organization, the trigger.
  const search = h('input', {
    type: 'search',
    class: 'filter',
    testid: 'ledger-search',
    'aria-label': t('ledger.search'),
    placeholder: t('ledger.search'),
    oninput: () => go(0),
  });
  const trigger = h(
    'select',
    { testid: 'ledger-trigger', 'aria-label': t('ledger.trigger'), onchange: () => go(0) },
    h('option', { value: '', text: t('ledger.allTriggers') }),
    h('option', { value: 'request', text: t('trigger.request') }),
    h('option', { value: 'auto', text: t('trigger.auto') }),
  );
  const filters = h('div', { class: 'list-tools' }, search, trigger);
  const el = h('div', { class: 'ledger', testid: 'ledger' }, filters, body, pager);

  function render() {
    const all = ctx.view().transfers;
    el.dataset.count = String(all.length);
    el.dataset.newest = all.length ? String(all[0].id) : '';
    const filtered = search.value.trim() !== '' || trigger.value !== '';
    const transfers = filtered
      ? listTransfers(all, {
          trigger: trigger.value,
          query: search.value,
          names: { organization: ctx.organizationName, storage: ctx.storageName },
        })
      : all;
    el.dataset.shown = String(transfers.length);
    if (ctx.view().loading.ledger && transfers.length === 0) {
      fill(body, h('p', { class: 'muted loading', text: t('ledger.loading') }));
      fill(pager);
      return;
    }
    if (ctx.view().errors.ledger) {
      fill(body, ctx.errorView(ctx.view().errors.ledger, ctx.reload));
      fill(pager);
      return;
    }
    if (transfers.length === 0) {
      fill(body, h('p', { class: 'muted', text: t(filtered ? 'ledger.noMatch' : 'ledger.none') }));
      fill(pager);
      return;
    }
    const unread = ctx.view().ledgerUnread
      ? h('p', {
          class: 'warning',
          testid: 'ledger-unread',
          text: t('ledger.unread', { n: MAX_PAGES * 1000 }),
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
            ['#', 'when', 'organization', 'trigger', 'by', 'received', 'shipped', 'pending'].map((column) =>
              h('th', { text: column === '#' ? '#' : t(`ledger.col.${column}`) }),
            ),
          ),
        ),
        h(
          'tbody',
          null,
          shown.map((row) =>
            h(
              'tr',
              { testid: `transfer-${row.id}`, class: ctx.isFresh(row.id) ? 'fresh' : '' },
              h('td', { class: 'num', text: row.id }),
              h('td', { class: 'nowrap', text: time(row.created_at) }),
              h('td', { text: ctx.organizationName(row.organization_id) }),
              h('td', null, h('span', { class: ['tag', `trigger-${row.trigger}`], text: t(`trigger.${row.trigger}`) })),
              h('td', { class: 'muted', text: row.actor || '' }),
              h('td', { text: quantities(row.received) || '—' }),
              h(
                'td',
                null,
                (row.shipments || []).length
                  ? h(
                      'ul',
                      { class: 'shipments' },
                      row.shipments.map((s) =>
                        h('li', {
                          text: `${ctx.storageName(s.storage_id)}: ${wasteTypeName(s.waste_type)} ${kg(s.amount)} · ${metres(s.distance_m)}`,
                        }),
                      ),
                    )
                  : '—',
              ),
              h('td', { text: quantities(row.pending) || '—' }),
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
        text: t('ledger.newer'),
        onclick: () => go(page - 1),
      }),
      h('span', {
        class: 'muted',
        testid: 'ledger-page',
        text:
          t('ledger.page', { page: page + 1, pages, n: transfers.length }) +
          (ctx.view().ledgerTruncated ? ` ${t('ledger.kept', { n: KEEP })}` : ''),
      }),
      h('button', {
        type: 'button',
        class: 'small',
        disabled: page >= pages - 1,
        testid: 'ledger-older',
        text: t('ledger.older'),
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
