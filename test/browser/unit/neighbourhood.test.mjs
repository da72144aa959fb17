// Which part of a big road network the console draws.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { neighbourhood } from '../../../lib/web/console/neighbourhood.mjs';

function world(orgIds, storageIds, roads) {
  return {
    organizations: new Map(orgIds.map((id) => [id, { id, name: `ОО${id}` }])),
    storages: new Map(storageIds.map((id) => [id, { id, name: `МНО${id}` }])),
    routes: new Map(
      roads.map(([id, from, to]) => [
        id,
        {
          id,
          from: from[0] === 'o' ? { organization_id: Number(from.slice(1)) } : { storage_id: Number(from.slice(1)) },
          to: to[0] === 'o' ? { organization_id: Number(to.slice(1)) } : { storage_id: Number(to.slice(1)) },
        },
      ]),
    ),
  };
}

// A chain o1 -> s1 -> s2 -> ... -> s9, and s5 -> s10 (one-way roads).
const chain = world(
  [1],
  [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  [[1, 'o1', 's1'], ...[1, 2, 3, 4, 5, 6, 7, 8].map((i) => [i + 1, `s${i}`, `s${i + 1}`]), [10, 's5', 's10']],
);

test('a small world is drawn whole', () => {
  const part = neighbourhood(chain, 's5', 100);
  assert.equal(part.drawn, 11);
  assert.equal(part.total, 11);
  assert.equal(part.focus, null);
  assert.equal(part.routes.size, 10);
});

test('a big one is the nearest nodes around the focus, either direction, with the roads among them', () => {
  const part = neighbourhood(chain, 's5', 5);
  assert.equal(part.focus, 's5');
  assert.deepEqual(
    [...part.storages.keys()].sort((a, b) => a - b),
    [3, 4, 5, 6, 10],
  );
  assert.equal(part.organizations.size, 0);
  assert.deepEqual(
    [...part.routes.keys()].sort((a, b) => a - b),
    [4, 5, 6, 10],
  );
  assert.equal(part.total, 11);
});

test('without a focus it grows from the first organization', () => {
  const part = neighbourhood(chain, null, 3);
  assert.equal(part.focus, 'o1');
  assert.deepEqual([...part.storages.keys()], [1, 2]);
  assert.deepEqual([...part.organizations.keys()], [1]);
});

test('a road to an organization the key may not list still counts as a node', () => {
  const w = world(
    [],
    [1, 2],
    [
      [1, 'o7', 's1'],
      [2, 's1', 's2'],
    ],
  );
  const part = neighbourhood(w, 's2', 2);
  assert.equal(part.total, 3);
  assert.deepEqual([...part.routes.keys()], [2]);
});
