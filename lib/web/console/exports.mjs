// Reports for an admin or auditor over a period chosen as two dates: the movements as a
// CSV file (GET /v1/exports/movements.csv, saved through a Blob URL, the key only ever in
// the Authorization header) and the balance per waste type (GET /v1/reports/balance) as
// a table.

import { fill, h } from './dom.mjs';
import { t, number, wasteTypeName } from './i18n.mjs';
import { balanceRows, exportFileName, periodQuery } from './planning.mjs';
import { problemView } from './problems.mjs';

const FIGURES = ['generated', 'accepted', 'rejected', 'unloaded', 'variance', 'pending', 'in_transit'];

// ctx: { api }
export function createExports(ctx) {
  const from = h('input', { id: 'report-from', testid: 'report-from', type: 'date' });
  const to = h('input', { id: 'report-to', testid: 'report-to', type: 'date' });
  const status = h('div', { class: 'result', testid: 'report-status', 'aria-live': 'polite' });
  const balance = h('div', { testid: 'report-balance' });
  const downloadButton = h('button', {
    type: 'button',
    class: 'primary',
    testid: 'report-download',
    text: t('reports.download'),
    onclick: download,
  });
  const balanceButton = h('button', {
    type: 'button',
    testid: 'report-show-balance',
    text: t('reports.showBalance'),
    onclick: showBalance,
  });
  const el = h(
    'div',
    { class: 'exports' },
    h('p', { class: 'muted', text: t('reports.what') }),
    h(
      'div',
      { class: 'report-period' },
      h('div', { class: 'row' }, h('label', { for: 'report-from', text: t('reports.from') }), from),
      h('div', { class: 'row' }, h('label', { for: 'report-to', text: t('reports.to') }), to),
    ),
    h('div', { class: 'actions' }, downloadButton, balanceButton),
    status,
    balance,
  );

  // The period's query, or null after saying which date is wrong.
  function period() {
    const { query, error } = periodQuery(from.value, to.value);
    from.classList.toggle('invalid', error === 'from');
    to.classList.toggle('invalid', error === 'to');
    if (error) {
      fill(status, h('p', { class: 'error', text: t(error === 'from' ? 'reports.badFrom' : 'reports.badTo') }));
      return null;
    }
    return query;
  }

  async function download() {
    const query = period();
    if (!query) {
      return;
    }
    downloadButton.disabled = true;
    fill(status, h('p', { class: 'muted', text: t('reports.downloading') }));
    try {
      const blob = await ctx.api.download('/v1/exports/movements.csv', query);
      const name = exportFileName(from.value, to.value);
      const link = h('a', { href: URL.createObjectURL(blob), download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      // The browser has taken the file once the click is handled; the URL can go.
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
      fill(
        status,
        h('p', {
          class: 'success',
          testid: 'report-downloaded',
          dataset: { bytes: blob.size },
          text: t('reports.downloaded', { name, n: number(blob.size) }),
        }),
      );
    } catch (error) {
      fill(status, problemView(error, 'report'));
    } finally {
      downloadButton.disabled = false;
    }
  }

  async function showBalance() {
    const query = period();
    if (!query) {
      return;
    }
    fill(status);
    try {
      const rows = balanceRows(await ctx.api.get('/v1/reports/balance', query));
      fill(
        balance,
        h(
          'div',
          { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': t('reports.balance') },
          h(
            'table',
            { class: 'balance-table', testid: 'balance-table' },
            h('caption', { text: t('reports.balance') }),
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                h('th', { scope: 'col', text: t('reports.col.type') }),
                FIGURES.map((f) => h('th', { scope: 'col', text: t(`reports.col.${f}`) })),
              ),
            ),
            h(
              'tbody',
              null,
              rows.map((row) =>
                h(
                  'tr',
                  { testid: `balance-${row.type}` },
                  h('th', { scope: 'row', text: wasteTypeName(row.type) }),
                  FIGURES.map((f) => h('td', { dataset: { figure: f }, text: number(row[f]) })),
                ),
              ),
            ),
          ),
        ),
      );
    } catch (error) {
      fill(balance);
      fill(status, problemView(error, 'report'));
    }
  }

  return { el };
}
