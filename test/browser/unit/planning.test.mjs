// The plans, reports and webhooks panels' pure helpers: the batch of everything pending,
// the comparison's figures and rows, the graph's edges, the period's query.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  balanceRows,
  comparisonSummary,
  deliveryOutcome,
  exportFileName,
  pendingBatch,
  periodQuery,
  planEdges,
  shipmentRows,
  totalKg,
  verdictKind,
} from '../../../lib/web/console/planning.mjs';

// The API's own example: ОО1 and ОО2 each hand over bio 250 on the picture.
const bio = (organization_id, storage_id, amount, distance_m) => ({
  organization_id,
  storage_id,
  waste_type: 'bio',
  amount,
  distance_m,
});
const comparison = {
  nearest: {
    shipments: [bio(1, 2, 150, 50), bio(1, 5, 25, 100), bio(1, 3, 75, 600), bio(2, 3, 175, 100), bio(2, 1, 75, 250)],
    placed_kg: 500,
    unplaced: { bio: 0 },
    kg_m: 71250,
  },
  min_cost: {
    shipments: [bio(1, 2, 150, 50), bio(1, 5, 25, 100), bio(1, 1, 75, 400), bio(2, 3, 250, 100)],
    placed_kg: 500,
    unplaced: { bio: 0 },
    kg_m: 67850,
  },
  ratio: 1.0501,
};

test('the batch is every organization with pending waste, by id, positive amounts only', () => {
  const orgs = new Map([
    [3, { id: 3, pending: { glass: 5 } }],
    [1, { id: 1, pending: { bio: 250, plastic: 0 } }],
    [2, { id: 2, pending: {} }],
    [4, { id: 4 }],
  ]);
  assert.deepEqual(pendingBatch(orgs), [
    { organization_id: 1, waste: { bio: 250 } },
    { organization_id: 3, waste: { glass: 5 } },
  ]);
  assert.deepEqual(pendingBatch(new Map([[2, { id: 2, pending: {} }]])), []);
});

test('the summary gives both plans, the saving and its share', () => {
  assert.equal(totalKg({ bio: 3, glass: 4 }), 7);
  assert.equal(totalKg(undefined), 0);
  const sum = comparisonSummary(comparison);
  assert.deepEqual(sum.nearest, { placed: 500, unplaced: 0, kgM: 71250 });
  assert.deepEqual(sum.minCost, { placed: 500, unplaced: 0, kgM: 67850 });
  assert.equal(sum.savedKgM, 3400);
  assert.equal(sum.savedShare, 3400 / 71250);
  assert.equal(sum.ratio, 1.0501);
  const nothing = comparisonSummary({
    nearest: { shipments: [], placed_kg: 0, unplaced: { bio: 9 }, kg_m: 0 },
    min_cost: { shipments: [], placed_kg: 0, unplaced: { bio: 9 }, kg_m: 0 },
    ratio: 1,
  });
  assert.equal(nothing.savedShare, 0);
  assert.equal(verdictKind(sum), 'saves');
  assert.equal(verdictKind(nothing), 'same');
  // min-cost placing more may cost more kg·m: it says so, never "saves"
  const more = comparisonSummary({
    nearest: { shipments: [], placed_kg: 100, unplaced: { bio: 50 }, kg_m: 1000 },
    min_cost: { shipments: [], placed_kg: 150, unplaced: { bio: 0 }, kg_m: 4000 },
    ratio: 0.25,
  });
  assert.equal(more.savedKgM, -3000);
  assert.equal(verdictKind(more), 'placesMore');
  assert.equal(nothing.nearest.unplaced, 9);
});

test('shipment rows join both plans and mark where they differ', () => {
  const rows = shipmentRows(comparison);
  assert.deepEqual(
    rows.map((r) => [r.organizationId, r.storageId, r.distance, r.nearest, r.minCost, r.differs]),
    [
      [1, 2, 50, 150, 150, false],
      [1, 5, 100, 25, 25, false],
      [1, 1, 400, 0, 75, true],
      [1, 3, 600, 75, 0, true],
      [2, 3, 100, 175, 250, true],
      [2, 1, 250, 75, 0, true],
    ],
  );
});

test('a plan draws one edge per organization and storage, and marks the pairs only it uses', () => {
  const edges = planEdges(comparison.min_cost, comparison.nearest);
  assert.deepEqual(
    edges.map((e) => [e.id, e.amount, e.distance, e.only]),
    [
      ['o1>s1', 75, 400, true],
      ['o1>s2', 150, 50, false],
      ['o1>s5', 25, 100, false],
      ['o2>s3', 250, 100, false],
    ],
  );
  const nearest = planEdges(comparison.nearest, comparison.min_cost);
  assert.deepEqual(
    nearest.filter((e) => e.only).map((e) => e.id),
    ['o1>s3', 'o2>s1'],
  );
  // two types to the same storage are one edge
  const merged = planEdges(
    {
      shipments: [
        { organization_id: 1, storage_id: 2, waste_type: 'bio', amount: 3, distance_m: 10 },
        { organization_id: 1, storage_id: 2, waste_type: 'glass', amount: 4, distance_m: 10 },
      ],
    },
    { shipments: [] },
  );
  assert.deepEqual(
    merged.map((e) => [e.id, e.amount, e.only]),
    [['o1>s2', 7, true]],
  );
});

test('a period of dates is [start of the first day, start of the day after the last) in UTC', () => {
  // node's tests run with TZ as set; build the expected values the same way as a user would
  const start = (y, m, d) => new Date(y, m - 1, d).toISOString().replace(/\.\d+Z$/, 'Z');
  assert.deepEqual(periodQuery('2026-12-01', '2026-12-07'), {
    query: { from: start(2026, 12, 1), to: start(2026, 12, 8) },
  });
  assert.deepEqual(periodQuery('', ''), { query: {} });
  assert.deepEqual(periodQuery('', '2026-12-31'), { query: { to: start(2027, 1, 1) } });
  assert.deepEqual(periodQuery('2026-12-07', '2026-12-07'), {
    query: { from: start(2026, 12, 7), to: start(2026, 12, 8) },
  });
  assert.deepEqual(periodQuery('2026-02-30', ''), { error: 'from' });
  assert.deepEqual(periodQuery('yesterday', ''), { error: 'from' });
  assert.deepEqual(periodQuery('', '2026-13-01'), { error: 'to' });
  assert.deepEqual(periodQuery('2026-12-07', '2026-12-06'), { error: 'to' });
});

test('in UTC the period is exact, in Moscow it starts three hours earlier', () => {
  const zone = process.env.TZ;
  try {
    process.env.TZ = 'UTC'; // node takes a new TZ at once
    assert.deepEqual(periodQuery('2026-12-01', '2026-12-07'), {
      query: { from: '2026-12-01T00:00:00Z', to: '2026-12-08T00:00:00Z' },
    });
    process.env.TZ = 'Europe/Moscow';
    assert.deepEqual(periodQuery('2026-12-01', '2026-12-07'), {
      query: { from: '2026-11-30T21:00:00Z', to: '2026-12-07T21:00:00Z' },
    });
  } finally {
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
  }
});

test('file names, balance rows and delivery outcomes', () => {
  assert.equal(exportFileName('2026-12-01', '2026-12-07'), 'movements_2026-12-01_2026-12-07.csv');
  assert.equal(exportFileName('', ''), 'movements_start_now.csv');
  const entry = { generated: 1, accepted: 2, rejected: 3, unloaded: 4, variance: -5, pending: 6, in_transit: 7 };
  assert.deepEqual(
    balanceRows({ plastic: entry, bio: entry }).map((r) => [r.type, r.variance, r.in_transit]),
    [
      ['bio', -5, 7],
      ['plastic', -5, 7],
    ],
  );
  assert.deepEqual(balanceRows(null), []);
  assert.equal(deliveryOutcome({ status_code: 204 }), 'ok');
  assert.equal(deliveryOutcome({ status_code: 299 }), 'ok');
  assert.equal(deliveryOutcome({ status_code: 300 }), 'failed');
  assert.equal(deliveryOutcome({ status_code: 500 }), 'failed');
  assert.equal(deliveryOutcome({ status_code: null }), 'noAnswer');
});
