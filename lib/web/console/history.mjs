// A storage's fill history for one waste type (GET /v1/storages/{id}/history, by the hour
// over a day or by the day over 30 days) drawn with uPlot, with the same numbers as a table
// for those who do not read charts; and when the type, at its recent rate, will be full
// (GET /v1/storages/{id}/forecast: shown only while it is filling). uPlot sets its elements'
// sizes through CSSOM, which the page's Content-Security-Policy allows; its stylesheet is
// served beside it. The library is loaded on first use: most sessions never open a chart.

import { fill, h } from './dom.mjs';
import { fillRows, kg, percent, time } from './format.mjs';
import { locale, t, wasteTypeName } from './i18n.mjs';
import { historyQuery, historySeries, nearFullThreshold } from './movements.mjs';
import { problemView } from './problems.mjs';

let uplotModule = null;
function loadUplot() {
  uplotModule = uplotModule || import('./uPlot.esm.mjs').then((m) => m.default);
  return uplotModule;
}

// How soon after a change of the shown storage its chart is read again (changes in a burst
// cost one read).
const REREAD_MS = 1000;

// The steps of the kilogram axis: whole kilograms, 1, 2, 5 × 10^k.
const KG_STEPS = [];
for (let power = 1; power <= 1e12; power *= 10) KG_STEPS.push(power, 2 * power, 5 * power);

// ctx: { api, view(): the store's state, storageId(): the storage to show, or null }
export function createHistory(ctx) {
  const typeSelect = h('select', { id: 'history-type', testid: 'history-type' });
  const bucketSelect = h(
    'select',
    { id: 'history-bucket', testid: 'history-bucket' },
    h('option', { value: 'hour', text: t('history.byHour') }),
    h('option', { value: 'day', text: t('history.byDay') }),
  );
  const title = h('h2', { id: 'history-title', text: t('history.title') });
  const state = h('p', { class: 'muted', testid: 'history-state' });
  const near = h('p', { class: 'near-full', testid: 'history-near', hidden: true });
  const forecast = h('p', { testid: 'history-forecast', hidden: true });
  const chart = h('div', { class: 'history-chart', testid: 'history-chart' });
  // A region that scrolls is a keyboard stop, so its rows can be read without a mouse.
  const table = h('div', { class: 'history-table', tabindex: 0, role: 'region' });
  table.setAttribute('aria-label', t('history.asTable'));
  const tableBox = h(
    'details',
    { class: 'history-details', testid: 'history-table' },
    h('summary', { text: t('history.asTable') }),
    table,
  );
  const el = h(
    'div',
    { class: 'history', testid: 'history' },
    title,
    h(
      'div',
      { class: 'list-tools history-tools' },
      h('label', { for: 'history-type', text: t('history.type') }),
      typeSelect,
      h('label', { for: 'history-bucket', text: t('history.bucket') }),
      bucketSelect,
    ),
    state,
    near,
    forecast,
    chart,
    tableBox,
  );
  let plot = null;
  let shownFor = ''; // storage id and its types, to keep the chosen type across redraws
  let request = 0; // answers of an older choice are dropped
  let shownStock = null; // the stock of the type when the chart was read
  let rereading = null; // a timer: the chart is read again after a change

  typeSelect.addEventListener('change', () => load());
  bucketSelect.addEventListener('change', () => load());

  // The selection changed, or the storage did: the type list, then the chart when either
  // the storage or its types changed.
  function render() {
    const id = ctx.storageId();
    const storage = id ? ctx.view().storages.get(id) : null;
    el.hidden = !storage;
    if (!storage) {
      shownFor = '';
      return;
    }
    title.textContent = t('history.titleOf', { storage: storage.name });
    const types = Object.keys(storage.capacity || {}).sort();
    const key = `${id}:${types.join(',')}`;
    showNearFull(storage);
    if (key === shownFor) {
      // The storage changed (a receipt, an unload, a hand-over): the chart is read again,
      // at most every REREAD_MS, while it is the one shown.
      const stock = (storage.stock || {})[typeSelect.value] ?? 0;
      if (stock !== shownStock && !rereading) {
        rereading = setTimeout(() => {
          rereading = null;
          load();
        }, REREAD_MS);
      }
      return;
    }
    shownFor = key;
    const before = typeSelect.value;
    fill(
      typeSelect,
      types.map((type) => h('option', { value: type, text: wasteTypeName(type) })),
    );
    // Start with the fullest type: the one a dispatcher is asked about.
    const fullest = fillRows(storage).reduce((a, b) => (b.ratio > a.ratio ? b : a), fillRows(storage)[0] || null);
    typeSelect.value = types.includes(before) ? before : fullest?.type || types[0] || '';
    load();
  }

  function showNearFull(storage) {
    const row = fillRows(storage).find((r) => r.type === typeSelect.value);
    const threshold = row ? nearFullThreshold(ctx.view().alertRules, storage.id, row.type) : 1;
    near.hidden = !row || row.ratio < threshold;
    if (row && !near.hidden) {
      near.textContent = t('history.nearFull', {
        type: wasteTypeName(row.type),
        percent: percent(row.ratio),
        threshold: percent(threshold),
      });
    }
  }

  async function load() {
    const id = ctx.storageId();
    const type = typeSelect.value;
    if (!id || !type) return;
    const mine = ++request;
    const storage = ctx.view().storages.get(id);
    if (storage) showNearFull(storage);
    shownStock = (storage?.stock || {})[type] ?? 0;
    state.textContent = t('history.loading');
    state.classList.add('loading');
    let history;
    let prognosis = null;
    try {
      [history, prognosis] = await Promise.all([
        ctx.api.get(`/v1/storages/${id}/history`, historyQuery(type, bucketSelect.value)),
        ctx.api.get(`/v1/storages/${id}/forecast`, { waste_type: type }).catch(() => null),
      ]);
    } catch (error) {
      if (mine !== request) return;
      state.classList.remove('loading');
      fill(state, problemView(error));
      return;
    }
    if (mine !== request) return;
    state.classList.remove('loading');
    state.textContent = t('history.caption', {
      type: wasteTypeName(type),
      n: history.items.length,
    });
    showForecast(prognosis);
    showTable(history.items);
    await draw(historySeries(history.items), type);
  }

  function showForecast(f) {
    // Only a type that fills has a date to show; a flat or emptying one has none.
    if (!f || !(f.rate_kg_per_day > 0) || !f.full_at) {
      forecast.hidden = true;
      return;
    }
    forecast.hidden = false;
    forecast.className = 'forecast';
    forecast.dataset.fullAt = f.full_at;
    forecast.textContent = t(f.remaining === 0 ? 'history.fullNow' : 'history.fullAt', {
      type: wasteTypeName(f.waste_type),
      rate: kg(Math.round(f.rate_kg_per_day)),
      when: time(f.full_at),
    });
  }

  function showTable(items) {
    fill(
      table,
      h(
        'table',
        null,
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['history.col.start', 'history.col.in', 'history.col.out', 'history.col.stock'].map((key) =>
              h('th', { scope: 'col', text: t(key) }),
            ),
          ),
        ),
        h(
          'tbody',
          null,
          items.map((item) =>
            h(
              'tr',
              { dataset: { stock: item.stock_kg } },
              h('td', { text: time(item.start) }),
              h('td', { text: kg(item.in_kg) }),
              h('td', { text: kg(item.out_kg) }),
              h('td', { text: kg(item.stock_kg) }),
            ),
          ),
        ),
      ),
    );
  }

  async function draw(data, type) {
    const uPlot = await loadUplot();
    // The legend names the bucket in full; the axis ticks are short (hours, or days), so
    // they fit a phone.
    const byDay = bucketSelect.value === 'day';
    const when = new Intl.DateTimeFormat(
      locale(),
      byDay
        ? { month: 'short', day: 'numeric' }
        : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' },
    );
    const tick = new Intl.DateTimeFormat(
      locale(),
      byDay ? { month: 'short', day: 'numeric' } : { hour: '2-digit', minute: '2-digit' },
    );
    const width = Math.max(chart.clientWidth || 0, 260);
    const options = {
      width,
      height: 220,
      series: [
        { label: t('history.col.start'), value: (u, v) => (v === null ? '—' : when.format(new Date(v * 1000))) },
        {
          label: t('history.series.stock', { type: wasteTypeName(type) }),
          stroke: '#2f5d7c',
          fill: 'rgba(47, 93, 124, 0.12)',
          width: 2,
          value: (u, v) => (v === null ? '—' : kg(v)),
        },
        { label: t('history.col.in'), stroke: '#2f9e55', value: (u, v) => (v === null ? '—' : kg(v)) },
        { label: t('history.col.out'), stroke: '#c2372b', value: (u, v) => (v === null ? '—' : kg(v)) },
      ],
      axes: [
        { values: (u, splits) => splits.map((v) => tick.format(new Date(v * 1000))), space: 70 },
        { values: (u, splits) => splits.map((v) => kg(v)), size: 80, incrs: KG_STEPS },
      ],
      scales: { y: { range: (u, min, max) => [0, Math.max(Math.ceil(max * 1.1), 10)] } },
    };
    plot?.destroy();
    fill(chart);
    // The legend shows the latest bucket until the pointer points at another one (set once
    // uPlot is ready: its first draw clears the legend).
    const last = data[0].length - 1;
    options.hooks = { ready: [(u) => last >= 0 && u.setLegend({ idx: last })] };
    plot = new uPlot(options, data, chart);
    chart.dataset.points = String(data[0].length);
    chart.dataset.stock = last >= 0 ? String(data[1][last]) : '';
  }

  function resize() {
    if (plot && chart.clientWidth) plot.setSize({ width: chart.clientWidth, height: 220 });
  }

  function destroy() {
    clearTimeout(rereading);
    rereading = null;
    request++;
    plot?.destroy();
    plot = null;
  }

  return { el, render, resize, destroy };
}
