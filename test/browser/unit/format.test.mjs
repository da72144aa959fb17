// Pure helpers of the console: quantities, fill levels, Retry-After.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as f from '../../../lib/web/console/format.mjs';

const mno3 = {
  capacity: { bio: 250, plastic: 10 },
  stock: { bio: 50, plastic: 10 },
  remaining: { bio: 200, plastic: 0 },
};

test('fill rows per type, sorted by code', () => {
  assert.deepEqual(f.fillRows(mno3), [
    { type: 'bio', capacity: 250, stock: 50, reserved: 0, remaining: 200, ratio: 0.2 },
    { type: 'plastic', capacity: 10, stock: 10, reserved: 0, remaining: 0, ratio: 1 },
  ]);
});

test('room reserved for loads on their way counts as taken', () => {
  const weighed = { capacity: { glass: 100 }, stock: { glass: 30 }, reserved: { glass: 50 }, remaining: { glass: 20 } };
  assert.deepEqual(f.fillRows(weighed), [
    { type: 'glass', capacity: 100, stock: 30, reserved: 50, remaining: 20, ratio: 0.8 },
  ]);
  // Without the service's remaining (an event's partial storage), it is computed alike.
  const partial = { capacity: { glass: 100 }, stock: { glass: 30 }, reserved: { glass: 70 } };
  assert.equal(f.fillRows(partial)[0].remaining, 0);
  assert.equal(f.anyTypeFull(partial), true);
  assert.equal(f.fillRatio(partial), 1);
});

test('overall fill is kilograms held over kilograms it can hold', () => {
  assert.equal(f.fillRatio(mno3), 60 / 260);
  assert.equal(f.fillRatio({ capacity: {}, stock: {} }), 0);
  assert.equal(f.anyTypeFull(mno3), true);
  assert.equal(f.anyTypeFull({ capacity: { glass: 5 }, stock: {} }), false);
});

test('fill colour goes from green to red, levels at 75% and 100%', () => {
  assert.equal(f.fillColor(0), 'hsl(130, 65%, 42%)');
  assert.equal(f.fillColor(1), 'hsl(0, 65%, 48%)');
  assert.equal(f.fillColor(7), 'hsl(0, 65%, 48%)');
  assert.equal(f.fillLevel(0.5), 'ok');
  assert.equal(f.fillLevel(0.75), 'warn');
  assert.equal(f.fillLevel(1), 'full');
});

test('kilograms typed into a field', () => {
  assert.equal(f.parseKg(''), 0);
  assert.equal(f.parseKg(' 60 '), 60);
  assert.equal(f.parseKg('1000000000000'), 1e12);
  assert.equal(f.parseKg('1000000000001'), null);
  for (const bad of ['-1', '1.5', '1e3', 'x', '0x10']) assert.equal(f.parseKg(bad), null, bad);
});

test('quantities and distances read as text', () => {
  assert.equal(f.quantities({ plastic: 10, glass: 0, bio: 1500 }), 'bio waste 1,500 kg, plastic 10 kg');
  assert.equal(f.quantities({}), '');
  assert.equal(f.metres(650), '650 m');
  assert.equal(f.metres(12345), '12.3 km');
  assert.equal(f.metres(null), 'unreachable');
});

test('node references become graph ids', () => {
  assert.equal(f.nodeKey({ organization_id: 2 }), 'o2');
  assert.equal(f.nodeKey({ storage_id: 3 }), 's3');
  assert.equal(f.nodeKey({}), null);
});

test('Retry-After in seconds or as an HTTP date', () => {
  assert.equal(f.retryAfterSeconds('3'), 3);
  assert.equal(f.retryAfterSeconds(null), null);
  assert.equal(f.retryAfterSeconds('soon'), null);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(f.retryAfterSeconds('Thu, 01 Jan 2026 00:00:05 GMT', now), 5);
  assert.equal(f.retryAfterSeconds('Wed, 31 Dec 2025 23:00:00 GMT', now), 0);
});
