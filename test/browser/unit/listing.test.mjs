// Which storages and transfers the lists show, and what the storage and organization forms
// ask of the service.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { entityRequest } from '../../../lib/web/console/entities.mjs';
import { fullestType } from '../../../lib/web/console/format.mjs';
import { listStorages, listTransfers } from '../../../lib/web/console/listing.mjs';

const storages = [
  // 23 % full in all, but its plastic is full
  { id: 3, name: 'МНО3', capacity: { plastic: 10, bio: 250 }, stock: { plastic: 10, bio: 50 } },
  { id: 1, name: 'МНО1', capacity: { glass: 300, plastic: 100 }, stock: { glass: 0, plastic: 95 } },
  { id: 2, name: 'МНО2', capacity: { plastic: 50 }, stock: { plastic: 0 } },
  { id: 7, name: 'Склад 7', capacity: { glass: 20 }, stock: { glass: 10 } },
];
const ids = (list) => list.map((s) => s.id);

test('a storage is as full as its fullest type', () => {
  assert.deepEqual(fullestType(storages[0]), {
    type: 'plastic',
    capacity: 10,
    stock: 10,
    reserved: 0,
    remaining: 0,
    ratio: 1,
  });
  assert.equal(fullestType({ capacity: {}, stock: {} }), null);
});

test('search by name, case-insensitive, in any script', () => {
  assert.deepEqual(ids(listStorages(storages, { query: 'мно' })), [1, 2, 3]);
  assert.deepEqual(ids(listStorages(storages, { query: ' склад ' })), [7]);
  assert.deepEqual(ids(listStorages(storages, { query: 'x' })), []);
});

test('filters: a type nearly full (90 % or more), room left', () => {
  assert.deepEqual(ids(listStorages(storages, { filter: 'nearFull' })), [1, 3]);
  assert.deepEqual(ids(listStorages(storages, { filter: 'hasRoom' })), [1, 2, 3, 7]);
  const full = [{ id: 9, name: 'F', capacity: { glass: 5 }, stock: { glass: 5 } }, ...storages];
  assert.deepEqual(ids(listStorages(full, { filter: 'hasRoom' })), [1, 2, 3, 7]);
});

test('sorts: by name, fullest type first, most room first, nearest first with the unreachable last', () => {
  assert.deepEqual(ids(listStorages(storages, { sort: 'name' })), [1, 2, 3, 7]);
  assert.deepEqual(ids(listStorages(storages, { sort: 'fullest' })), [3, 1, 7, 2]);
  assert.deepEqual(ids(listStorages(storages, { sort: 'room' })), [1, 3, 2, 7]);
  const distances = new Map([
    [3, 50],
    [1, 900],
    [2, null],
    [7, 50],
  ]);
  assert.deepEqual(ids(listStorages(storages, { sort: 'nearest', distances })), [3, 7, 1, 2]);
});

test('ledger filters: kind of transfer and a name it mentions', () => {
  const transfers = [
    { id: 3, organization_id: 2, trigger: 'auto', shipments: [{ storage_id: 3 }] },
    { id: 2, organization_id: 1, trigger: 'request', shipments: [{ storage_id: 7 }] },
    { id: 1, organization_id: 2, trigger: 'request', shipments: [] },
  ];
  const names = { organization: (id) => `ОО${id}`, storage: (id) => `МНО${id}` };
  assert.deepEqual(ids(listTransfers(transfers, { trigger: 'request' })), [2, 1]);
  assert.deepEqual(ids(listTransfers(transfers, { query: 'мно7', names })), [2]);
  assert.deepEqual(ids(listTransfers(transfers, { query: 'оо2', names })), [3, 1]);
  assert.deepEqual(ids(listTransfers(transfers, { organization: 1 })), [2]);
});

test('adding a storage: the types given, intake only when weighed', () => {
  assert.deepEqual(entityRequest('storage', null, { name: ' МНО9 ', capacity: { plastic: '100', glass: '' } }), {
    method: 'POST',
    path: '/v1/storages',
    body: { name: 'МНО9', capacity: { plastic: 100 } },
  });
  assert.deepEqual(
    entityRequest('storage', null, { name: 'МНО9', capacity: { plastic: '5' }, intake: 'weighed' }).body,
    { name: 'МНО9', capacity: { plastic: 5 }, intake: 'weighed' },
  );
  assert.deepEqual(entityRequest('storage', null, { name: 'МНО9', capacity: { plastic: '' } }), {
    error: 'entity.noType',
  });
  assert.deepEqual(entityRequest('storage', null, { name: '  ', capacity: { plastic: '1' } }), {
    error: 'entity.nameMissing',
  });
  assert.deepEqual(entityRequest('storage', null, { name: 'x', capacity: { plastic: '1.5' } }), {
    error: 'entity.badAmount',
    type: 'plastic',
  });
});

test('editing: only what changed; an emptied type removed; an organization may have no limits', () => {
  const mno3 = { id: 3, name: 'МНО3', capacity: { plastic: 10, bio: 250 } };
  assert.deepEqual(
    entityRequest('storage', mno3, {
      name: 'МНО3',
      capacity: { plastic: '20', bio: '', glass: '' },
      intake: 'automatic',
    }),
    { method: 'PATCH', path: '/v1/storages/3', body: { capacity: { plastic: 20, bio: null } } },
  );
  assert.deepEqual(
    entityRequest('storage', mno3, { name: 'МНО3', capacity: { plastic: '10', bio: '250' }, intake: 'automatic' }),
    { nothing: true },
  );
  assert.deepEqual(
    entityRequest('storage', mno3, { name: 'МНО3', capacity: { plastic: '10', bio: '250' }, intake: 'weighed' }).body,
    { intake: 'weighed' },
  );
  assert.deepEqual(entityRequest('organization', null, { name: 'ОО3', capacity: { plastic: '' } }), {
    method: 'POST',
    path: '/v1/organizations',
    body: { name: 'ОО3', capacity: {} },
  });
  assert.deepEqual(
    entityRequest('organization', { id: 2, name: 'ОО2', capacity: {} }, { name: 'ОО-2', capacity: { glass: '' } }),
    { method: 'PATCH', path: '/v1/organizations/2', body: { name: 'ОО-2' } },
  );
});
