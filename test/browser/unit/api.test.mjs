// The console's API client with a stand-in fetch: headers sent, problem details, 401, 429.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError, createApi, newIdempotencyKey } from '../../../lib/web/console/api.mjs';

function fakeFetch(answers) {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push({ url, init });
    const a = answers.shift();
    return new Response(a.body === undefined ? null : typeof a.body === 'string' ? a.body : JSON.stringify(a.body), {
      status: a.status,
      headers: a.headers || {},
    });
  };
  return { calls, fetchImpl };
}

const problem = (status, detail, extra = {}) => ({
  status,
  headers: { 'Content-Type': 'application/problem+json', ...(extra.headers || {}) },
  body: { type: 'x', title: 't', status, detail, ...(extra.body || {}) },
});

test('a call sends the key, JSON and the idempotency key, and reads JSON', async () => {
  const { calls, fetchImpl } = fakeFetch([
    { status: 201, headers: { 'Content-Type': 'application/json', 'Idempotent-Replayed': 'true' }, body: { id: 5 } },
  ]);
  const api = createApi({ getKey: () => 'wf_1_abc', fetchImpl });
  const answer = await api.request('POST', '/v1/organizations/2/transfers', {
    query: { dry_run: 'true', skip: '' },
    body: { waste: { bio: 1 } },
    idempotencyKey: 'k1',
  });
  assert.deepEqual(answer, { status: 201, body: { id: 5 }, replayed: true });
  assert.equal(calls[0].url, '/v1/organizations/2/transfers?dry_run=true');
  assert.equal(calls[0].init.headers.Authorization, 'Bearer wf_1_abc');
  assert.equal(calls[0].init.headers['Content-Type'], 'application/json');
  assert.equal(calls[0].init.headers['Idempotency-Key'], 'k1');
  assert.equal(calls[0].init.body, '{"waste":{"bio":1}}');
});

test('an error answer becomes an ApiError with the problem detail and field errors', async () => {
  const { fetchImpl } = fakeFetch([
    problem(422, 'waste.plastic: must be a whole number', {
      body: { errors: [{ field: 'waste.plastic', message: 'must be a whole number' }] },
    }),
  ]);
  const api = createApi({ getKey: () => 'k', fetchImpl });
  await assert.rejects(api.get('/v1/x'), (e) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.status, 422);
    assert.equal(e.detail, 'waste.plastic: must be a whole number');
    assert.deepEqual(e.fieldErrors, ['waste.plastic: must be a whole number']);
    return true;
  });
});

test('401 tells the app (sign in again), except for a sign-in attempt with its own key', async () => {
  const refused = [];
  const { fetchImpl } = fakeFetch([problem(401, 'unknown key'), problem(401, 'unknown key')]);
  const api = createApi({ getKey: () => 'k', fetchImpl, onUnauthorized: (e) => refused.push(e.detail) });
  await assert.rejects(api.get('/v1/storages'));
  await assert.rejects(api.request('GET', '/v1/me', { key: 'other' }));
  assert.deepEqual(refused, ['unknown key']);
});

test('429 reports Retry-After', async () => {
  const waits = [];
  const { fetchImpl } = fakeFetch([problem(429, 'slow down', { headers: { 'Retry-After': '4' } })]);
  const api = createApi({ getKey: () => 'k', fetchImpl, onRateLimited: (e) => waits.push(e.retryAfter) });
  await assert.rejects(api.get('/v1/storages'), (e) => e.status === 429 && e.retryAfter === 4);
  assert.deepEqual(waits, [4]);
});

test('204 has no body; a network failure is status 0', async () => {
  const { fetchImpl } = fakeFetch([{ status: 204 }]);
  const api = createApi({ getKey: () => 'k', fetchImpl });
  assert.deepEqual(await api.request('DELETE', '/v1/api-keys/3'), { status: 204, body: null, replayed: false });
  const down = createApi({
    getKey: () => 'k',
    fetchImpl: async () => {
      throw new TypeError('fetch failed');
    },
  });
  await assert.rejects(down.get('/v1/me'), (e) => e.status === 0 && /could not be reached/.test(e.detail));
});

test('listAll follows next_cursor', async () => {
  const { calls, fetchImpl } = fakeFetch([
    { status: 200, headers: { 'Content-Type': 'application/json' }, body: { items: [1, 2], next_cursor: 'c1' } },
    { status: 200, headers: { 'Content-Type': 'application/json' }, body: { items: [3], next_cursor: null } },
  ]);
  const api = createApi({ getKey: () => 'k', fetchImpl });
  assert.deepEqual(await api.listAll('/v1/routes', {}, { pageSize: 2 }), { items: [1, 2, 3], truncated: false });
  assert.equal(calls[1].url, '/v1/routes?limit=2&cursor=c1');
});

test('idempotency keys are random', () => {
  const a = newIdempotencyKey();
  assert.match(a, /^[0-9a-f-]{32,36}$/);
  assert.notEqual(a, newIdempotencyKey());
});
