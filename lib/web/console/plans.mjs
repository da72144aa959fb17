// What nearest-first costs, for an admin or auditor: the waste pending at organizations
// now (GET /v1/organizations) as one batch, evaluated by POST /v1/plans (which writes
// nothing), shown as figures, a table of shipments of both plans, and a graph of one plan
// at a time (organization -> storage, kilograms and distance; the pairs only this plan
// uses in orange).

import { fill, h } from './dom.mjs';
import { kg, metres, percent } from './format.mjs';
import { createNetwork } from './graph.mjs';
import { locale, number, t, wasteTypeName } from './i18n.mjs';
import { comparisonSummary, pendingBatch, planEdges, shipmentRows, verdictKind } from './planning.mjs';
import { problemView } from './problems.mjs';

// The API takes at most this many hand-overs in one batch.
const MAX_BATCH = 10000;

// The ratio with three decimals, as the API's examples give it (1.050).
function ratioText(ratio) {
  return new Intl.NumberFormat(locale(), { minimumFractionDigits: 3, maximumFractionDigits: 3 }).format(ratio);
}

// ctx: { api, view(): the store's state (read only), organizationName(id), storageName(id) }
export function createPlans(ctx) {
  let comparison = null;
  let organizations = new Map();
  let shown = 'min_cost';
  let network = null;
  const note = h('p', { class: 'muted', testid: 'plans-note', 'aria-live': 'polite' });
  const result = h('div', { testid: 'plans-result' });
  const button = h('button', {
    type: 'button',
    class: 'primary',
    testid: 'plans-compare',
    text: t('plans.compare'),
    onclick: compare,
  });
  const el = h('div', { class: 'plans' }, h('p', { text: t('plans.what') }), button, note, result);

  async function compare() {
    button.disabled = true;
    fill(result);
    note.textContent = t('plans.loading');
    try {
      const page = await ctx.api.listAll('/v1/organizations', {}, { pageSize: 1000, maxItems: 100000 });
      organizations = new Map(page.items.map((o) => [o.id, o]));
      let batch = pendingBatch(organizations);
      if (batch.length === 0) {
        comparison = null;
        note.textContent = t('plans.nothingPending');
        return;
      }
      const cut = batch.length > MAX_BATCH;
      if (cut) {
        batch = batch.slice(0, MAX_BATCH);
      }
      const answer = await ctx.api.request('POST', '/v1/plans', { body: { hand_overs: batch } });
      comparison = answer.body;
      note.textContent =
        t('plans.batch', { n: number(batch.length), kg: kg(batch.reduce((s, x) => s + total(x.waste), 0)) }) +
        (cut ? ` ${t('plans.cut', { n: number(MAX_BATCH) })}` : '');
      draw();
    } catch (error) {
      comparison = null;
      note.textContent = '';
      fill(result, problemView(error, 'plan'));
    } finally {
      button.disabled = false;
    }
  }

  function total(map) {
    return Object.values(map).reduce((s, n) => s + n, 0);
  }

  function orgName(id) {
    return organizations.get(id)?.name || ctx.organizationName(id);
  }

  function summaryTable(sum) {
    // The raw figures ride along in data attributes, for tests and for anyone reading the DOM.
    const row = (label, testid, a, b, format) =>
      h(
        'tr',
        { testid, dataset: { nearest: a, minCost: b } },
        h('th', { scope: 'row', text: label }),
        h('td', { text: format(a) }),
        h('td', { text: format(b) }),
      );
    return h(
      'table',
      { class: 'plans-summary', testid: 'plans-summary' },
      h('caption', { text: t('plans.summaryCaption') }),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { scope: 'col', text: '' }),
          h('th', { scope: 'col', text: t('plans.nearest') }),
          h('th', { scope: 'col', text: t('plans.minCost') }),
        ),
      ),
      h(
        'tbody',
        null,
        row(t('plans.placed'), 'plans-placed', sum.nearest.placed, sum.minCost.placed, kg),
        row(t('plans.unplaced'), 'plans-unplaced', sum.nearest.unplaced, sum.minCost.unplaced, kg),
        row(t('plans.kgM'), 'plans-kgm', sum.nearest.kgM, sum.minCost.kgM, number),
      ),
    );
  }

  function shipmentsTable(rows) {
    return h(
      'div',
      { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': t('plans.shipments') },
      h(
        'table',
        { class: 'plans-shipments', testid: 'plans-shipments' },
        h('caption', { text: t('plans.shipments') }),
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            [
              t('plans.col.organization'),
              t('plans.col.storage'),
              t('plans.col.type'),
              t('plans.col.distance'),
              t('plans.nearest'),
              t('plans.minCost'),
            ].map((label) => h('th', { scope: 'col', text: label })),
          ),
        ),
        h(
          'tbody',
          null,
          rows.map((r) =>
            h(
              'tr',
              { class: r.differs ? 'differs' : '', dataset: { differs: r.differs ? 'yes' : 'no' } },
              h('td', { text: orgName(r.organizationId) }),
              h('td', { text: ctx.storageName(r.storageId) }),
              h('td', { text: wasteTypeName(r.wasteType) }),
              h('td', { text: metres(r.distance) }),
              h('td', { text: r.nearest ? kg(r.nearest) : '—' }),
              h('td', { text: r.minCost ? kg(r.minCost) : '—' }),
            ),
          ),
        ),
      ),
    );
  }

  function draw() {
    if (!comparison) {
      fill(result);
      return;
    }
    const sum = comparisonSummary(comparison);
    // Waiting waste usually waits because nothing it can reach has room (dispatch places
    // the rest within a second or two): then there is no graph and no table to show.
    if (comparison.nearest.shipments.length === 0 && comparison.min_cost.shipments.length === 0) {
      network?.destroy();
      network = null;
      fill(
        result,
        h('p', { class: 'strong', testid: 'plans-nothing-fits', text: t('plans.nothingFits') }),
        summaryTable(sum),
      );
      return;
    }
    const kind = verdictKind(sum);
    const verdict =
      kind === 'placesMore'
        ? t('plans.placesMore', { kg: kg(sum.minCost.placed - sum.nearest.placed), ratio: ratioText(sum.ratio) })
        : kind === 'saves'
          ? t('plans.saves', { kgm: number(sum.savedKgM), share: percent(sum.savedShare), ratio: ratioText(sum.ratio) })
          : t('plans.same', { ratio: ratioText(sum.ratio) });
    const toggle = h(
      'fieldset',
      { class: 'plans-toggle' },
      h('legend', { text: t('plans.graphShows') }),
      ['nearest', 'min_cost'].map((name) =>
        h(
          'label',
          null,
          h('input', {
            type: 'radio',
            name: 'plans-shown',
            value: name,
            testid: `plans-show-${name}`,
            checked: shown === name,
            onchange: () => {
              shown = name;
              drawGraph();
            },
          }),
          ' ',
          t(name === 'nearest' ? 'plans.nearest' : 'plans.minCost'),
        ),
      ),
    );
    const graph = h('div', {
      class: 'network plan-graph',
      testid: 'plans-graph',
      role: 'img',
      'aria-label': t('plans.graphLabel'),
    });
    network?.destroy();
    network = null;
    fill(
      result,
      h('p', { class: 'strong', testid: 'plans-verdict', dataset: { ratio: sum.ratio }, text: verdict }),
      summaryTable(sum),
      toggle,
      graph,
      h('p', { class: 'muted small-print', text: t('plans.graphLegend') }),
      shipmentsTable(shipmentRows(comparison)),
    );
    network = createNetwork(graph);
    drawGraph();
  }

  // The chosen plan on its own graph: its organizations and storages, one edge per pair it
  // ships between, labelled with the kilograms and the distance.
  function drawGraph() {
    if (!comparison || !network) {
      return;
    }
    const plan = comparison[shown];
    const other = comparison[shown === 'nearest' ? 'min_cost' : 'nearest'];
    const edges = planEdges(plan, other);
    const orgs = new Map();
    const storages = new Map();
    const routes = new Map();
    for (const e of edges) {
      orgs.set(e.organizationId, { id: e.organizationId, name: orgName(e.organizationId) });
      const storage = ctx.view().storages.get(e.storageId);
      storages.set(e.storageId, storage || { id: e.storageId, name: ctx.storageName(e.storageId) });
      routes.set(`${e.organizationId}-${e.storageId}`, {
        id: `${e.organizationId}-${e.storageId}`,
        from: { organization_id: e.organizationId },
        to: { storage_id: e.storageId },
        distance_m: e.distance,
        two_way: false,
      });
    }
    network.update({ organizations: orgs, storages, routes });
    const cy = network.cy;
    cy.batch(() => {
      for (const e of edges) {
        const edge = cy.getElementById(`r${e.organizationId}-${e.storageId}`);
        edge.data('label', `${kg(e.amount)} · ${metres(e.distance)}`);
        edge.toggleClass('path', e.only);
      }
    });
    network.resize();
    const graph = network.cy.container();
    graph.dataset.plan = shown;
    graph.dataset.only = String(edges.filter((e) => e.only).length);
  }

  return { el, compare };
}
