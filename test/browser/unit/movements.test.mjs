// The weighbridge's and the history's pure parts: the receipt form's checks (the service's
// rules, said before a round trip), what a receipt's answer means, the loads' order, the
// near-full threshold alert rules set, and the history as the chart's columns.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  historyQuery,
  historySeries,
  loadsInOrder,
  nearFullThreshold,
  receiptOutcome,
  receiptRequest,
  statusKey,
} from '../../../lib/web/console/movements.mjs';

const fields = (over) => ({ ticket: '', received: '', rejected: '', reason: '', ...over });
const keys = (read) => read.errors.map((e) => `${e.field}:${e.key}`);

test('a receipt refusing nothing needs only the weight; refused defaults to 0', () => {
  assert.deepEqual(receiptRequest(fields({ received: ' 250 ' })), {
    body: { received_kg: 250, rejected_kg: 0 },
    errors: [],
  });
  assert.deepEqual(receiptRequest(fields({ received: '0', ticket: ' T-17 ' })).body, {
    received_kg: 0,
    rejected_kg: 0,
    ticket: 'T-17',
  });
});

test('the weight is required and whole kilograms up to 10^12', () => {
  assert.deepEqual(keys(receiptRequest(fields())), ['received_kg:receipt.receivedMissing']);
  assert.deepEqual(keys(receiptRequest(fields({ received: '12.5' }))), ['received_kg:receipt.badKg']);
  assert.deepEqual(keys(receiptRequest(fields({ received: '-3' }))), ['received_kg:receipt.badKg']);
  assert.deepEqual(keys(receiptRequest(fields({ received: '1000000000001' }))), ['received_kg:receipt.badKg']);
  assert.equal(receiptRequest(fields({ received: '1000000000000' })).body.received_kg, 1e12);
});

test('refusing anything needs a reason, and no more than was weighed', () => {
  assert.deepEqual(keys(receiptRequest(fields({ received: '100', rejected: '30' }))), [
    'rejection_reason:receipt.reasonMissing',
  ]);
  assert.deepEqual(keys(receiptRequest(fields({ received: '100', rejected: '30', reason: '   ' }))), [
    'rejection_reason:receipt.reasonMissing',
  ]);
  assert.deepEqual(keys(receiptRequest(fields({ received: '100', rejected: '101', reason: 'wet' }))), [
    'rejected_kg:receipt.rejectedOver',
  ]);
  assert.deepEqual(keys(receiptRequest(fields({ received: '100', rejected: 'x', reason: 'wet' }))), [
    'rejected_kg:receipt.badKg',
  ]);
  assert.deepEqual(receiptRequest(fields({ received: '100', rejected: '100', reason: ' mixed with glass ' })), {
    body: { received_kg: 100, rejected_kg: 100, rejection_reason: 'mixed with glass' },
    errors: [],
  });
  // a reason typed while nothing is refused is not sent (the service would keep it)
  assert.deepEqual(receiptRequest(fields({ received: '100', rejected: '0', reason: 'fine' })).body, {
    received_kg: 100,
    rejected_kg: 0,
  });
});

test('a reason and a ticket have the service’s lengths, counted in characters', () => {
  const reason = 'я'.repeat(500);
  assert.deepEqual(receiptRequest(fields({ received: '5', rejected: '1', reason })).errors, []);
  assert.deepEqual(keys(receiptRequest(fields({ received: '5', rejected: '1', reason: `${reason}я` }))), [
    'rejection_reason:receipt.reasonLong',
  ]);
  assert.deepEqual(receiptRequest(fields({ received: '5', ticket: 'Т'.repeat(200) })).errors, []);
  assert.deepEqual(keys(receiptRequest(fields({ received: '5', ticket: 'Т'.repeat(201) }))), [
    'ticket:receipt.ticketLong',
  ]);
  // every problem at once, in the form's order
  assert.deepEqual(keys(receiptRequest(fields({ received: '', rejected: '3', ticket: 'x'.repeat(201) }))), [
    'received_kg:receipt.receivedMissing',
    'rejection_reason:receipt.reasonMissing',
    'ticket:receipt.ticketLong',
  ]);
});

test('a receipt’s answer in words, with the weight variance warning when given', () => {
  assert.deepEqual(receiptOutcome({ status: 'accepted' }), { key: 'receipt.outcome.accepted', variance: null });
  assert.equal(receiptOutcome({ status: 'partially_rejected' }).key, 'receipt.outcome.partial');
  assert.equal(receiptOutcome({ status: 'rejected' }).key, 'receipt.outcome.rejected');
  assert.equal(receiptOutcome({ status: 'in_transit' }).key, 'receipt.outcome.recorded');
  const warning = { code: 'weight_variance', message: 'm', planned_kg: 100, received_kg: 120, difference_kg: 20 };
  assert.deepEqual(receiptOutcome({ status: 'accepted', warnings: [{ code: 'other' }, warning] }).variance, warning);
  assert.equal(statusKey('partially_rejected'), 'movement.partially_rejected');
  assert.equal(statusKey('lost'), 'movement.unknown');
});

test('loads on their way first, oldest first; then the received, newest first', () => {
  const m = (id, status) => ({ id, status });
  const order = loadsInOrder([m(1, 'accepted'), m(5, 'in_transit'), m(3, 'rejected'), m(2, 'in_transit')]);
  assert.deepEqual(
    order.map((x) => x.id),
    [2, 5, 3, 1],
  );
});

test('alert rules set the near-full share: the lowest matching rule, else 90 %', () => {
  const rules = [
    { storage_id: 3, waste_type: 'plastic', fill_ratio_above: 0.8 },
    { storage_id: null, waste_type: 'glass', fill_ratio_above: 0.7 },
    { storage_id: 4, waste_type: null, fill_ratio_above: 0.5 },
    { storage_id: null, waste_type: null, fill_ratio_above: 0.95 },
  ];
  assert.equal(nearFullThreshold(rules, 3, 'plastic'), 0.8);
  assert.equal(nearFullThreshold(rules, 3, 'glass'), 0.7);
  assert.equal(nearFullThreshold(rules, 4, 'glass'), 0.5);
  assert.equal(nearFullThreshold(rules, 3, 'bio'), 0.95);
  assert.equal(nearFullThreshold([], 3, 'bio'), 0.9);
  assert.equal(nearFullThreshold(undefined, 3, 'bio'), 0.9);
});

test('the history as the chart’s columns, and its query on whole hours or days', () => {
  const items = [
    { start: '2026-12-07T10:00:00.000000Z', in_kg: 150, out_kg: 0, stock_kg: 150 },
    { start: '2026-12-07T11:00:00Z', in_kg: 0, out_kg: 30, stock_kg: 120 },
  ];
  assert.deepEqual(historySeries(items), [
    [1796637600, 1796641200],
    [150, 120],
    [150, 0],
    [0, 30],
  ]);
  assert.deepEqual(historySeries([]), [[], [], [], []]);
  const now = Date.parse('2026-12-07T11:20:00Z');
  assert.deepEqual(historyQuery('plastic', 'hour', now), {
    waste_type: 'plastic',
    bucket: 'hour',
    from: '2026-12-06T12:00:00.000Z',
    to: '2026-12-07T12:00:00.000Z',
  });
  assert.deepEqual(historyQuery('glass', 'day', now), {
    waste_type: 'glass',
    bucket: 'day',
    from: '2026-11-08T00:00:00.000Z',
    to: '2026-12-08T00:00:00.000Z',
  });
});
