// EventStream against a real HTTP server on loopback: events, Last-Event-ID on reconnect,
// backoff after a break, 401 / 404 ends, Retry-After, and the idle cut.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { EventStream } from '../../../lib/web/console/sse.mjs';

async function serve(handler) {
  const server = http.createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    url: `http://127.0.0.1:${server.address().port}/v1/events`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

// A server that answers every request with this status and problem body; count() is how many
// requests it had.
async function serveProblem(status, body) {
  let count = 0;
  const server = await serve((req, res) => {
    count++;
    res.writeHead(status, { 'Content-Type': 'application/problem+json' });
    res.end(body);
  });
  return { ...server, count: () => count };
}

function collect(options) {
  const seen = { events: [], statuses: [], unauthorized: [], reconnected: 0 };
  const stream = new EventStream({
    baseDelay: 20,
    maxDelay: 100,
    random: () => 0.5,
    ...options,
    onEvent: (e) => seen.events.push(e),
    onStatus: (s) => seen.statuses.push(s),
    onUnauthorized: (p) => seen.unauthorized.push(p),
    onReconnected: () => seen.reconnected++,
  });
  return { stream, seen };
}

async function until(check, ms = 3000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('reads events, and after the server closes reconnects with Last-Event-ID', async () => {
  const requests = [];
  const server = await serve((req, res) => {
    requests.push({ auth: req.headers.authorization, last: req.headers['last-event-id'], accept: req.headers.accept });
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    if (requests.length === 1) {
      res.end(': hello\n\nid: 41\nevent: transfer\ndata: {"id":41}\n\nid: 42\nevent: storage\ndata: {"id":3}\n\n');
    } else {
      res.write('id: 43\nevent: transfer\ndata: {"id":43}\n\n');
    }
  });
  const { stream, seen } = collect({ url: server.url, headers: () => ({ Authorization: 'Bearer wf_1_x' }) });
  stream.start();
  await until(() => seen.events.length === 3);
  stream.stop();
  await server.close();
  assert.deepEqual(
    seen.events.map((e) => `${e.type}:${e.id}`),
    ['transfer:41', 'storage:42', 'transfer:43'],
  );
  assert.equal(requests[0].auth, 'Bearer wf_1_x');
  assert.equal(requests[0].accept, 'text/event-stream');
  assert.equal(requests[0].last, undefined);
  assert.equal(requests[1].last, '42');
  assert.equal(seen.reconnected, 1);
  assert.ok(seen.statuses.includes('open') && seen.statuses.includes('reconnecting'));
});

test('an id the server refuses (400) is dropped: the stream reconnects at once without it', async () => {
  const requests = [];
  const server = await serve((req, res) => {
    requests.push(req.headers['last-event-id']);
    if (requests.length === 2) {
      res.writeHead(400, { 'Content-Type': 'application/problem+json' });
      res.end('{"status":400,"detail":"Last-Event-ID must be an id a stream of this credential was sent, unchanged."}');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.end(`id: sealed-${requests.length}\nevent: transfer\ndata: {"id":${requests.length}}\n\n`);
  });
  const { stream, seen } = collect({ url: server.url });
  stream.start();
  await until(() => seen.events.length === 2, 2000);
  stream.stop();
  await server.close();
  assert.deepEqual(requests.slice(0, 3), [undefined, 'sealed-1', undefined]);
  assert.deepEqual(
    seen.events.map((e) => `${e.type}:${e.id}`),
    ['transfer:sealed-1', 'transfer:sealed-3'],
  );
  assert.ok(seen.reconnected >= 1);
});

test('401 stops the stream and reports it; nothing reconnects', async () => {
  const server = await serveProblem(401, '{"status":401,"detail":"revoked"}');
  const { stream, seen } = collect({ url: server.url });
  stream.start();
  await until(() => seen.unauthorized.length === 1);
  await new Promise((r) => setTimeout(r, 100));
  await server.close();
  assert.equal(server.count(), 1);
  assert.equal(seen.unauthorized[0].detail, 'revoked');
});

test('404 means the server has no stream: unavailable, no retries', async () => {
  const server = await serveProblem(404, '{}');
  const { stream, seen } = collect({ url: server.url });
  stream.start();
  await until(() => seen.statuses.includes('unavailable'));
  await new Promise((r) => setTimeout(r, 100));
  await server.close();
  assert.equal(server.count(), 1);
});

test('a refused answer backs off, honouring Retry-After', async () => {
  const times = [];
  const server = await serve((req, res) => {
    times.push(Date.now());
    if (times.length === 1) {
      res.writeHead(503, { 'Retry-After': '1', 'Content-Type': 'application/problem+json' });
      res.end('{}');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write('data: ok\n\n');
  });
  const { stream, seen } = collect({ url: server.url });
  stream.start();
  await until(() => seen.events.length === 1);
  stream.stop();
  await server.close();
  assert.ok(times[1] - times[0] >= 950, `waited ${times[1] - times[0]} ms`);
});

test('consecutive failures back off exponentially; an event resets the backoff', async () => {
  const times = [];
  const server = await serve((req, res) => {
    times.push(Date.now());
    if (times.length <= 3) {
      req.socket.destroy(); // a network error
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write('data: ok\n\n');
  });
  const { stream, seen } = collect({ url: server.url, baseDelay: 40, maxDelay: 1000, random: () => 0.999 });
  stream.start();
  await until(() => seen.events.length === 1);
  stream.stop();
  await server.close();
  const gaps = [times[1] - times[0], times[2] - times[1], times[3] - times[2]];
  assert.ok(gaps[0] >= 35 && gaps[1] >= 75 && gaps[2] >= 155, `gaps ${gaps}`);
  assert.equal(stream.failures, 0);
});

test('a stream silent for longer than idleMs is cut and reopened', async () => {
  let count = 0;
  const server = await serve((req, res) => {
    count++;
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    if (count === 2) res.write('data: second\n\n');
    // the first connection stays silent
  });
  const { stream, seen } = collect({ url: server.url, idleMs: 150 });
  stream.start();
  await until(() => seen.events.length === 1);
  stream.stop();
  await server.close();
  assert.equal(count, 2);
  assert.equal(seen.events[0].data, 'second');
});

test('a retry: field sets the reconnection delay', async () => {
  const times = [];
  const server = await serve((req, res) => {
    times.push(Date.now());
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    if (times.length === 1) res.end('retry: 300\n\n');
    else res.write('data: back\n\n');
  });
  const { stream, seen } = collect({ url: server.url, random: () => 0.999 });
  stream.start();
  await until(() => seen.events.length === 1);
  stream.stop();
  await server.close();
  assert.ok(times[1] - times[0] >= 280, `waited ${times[1] - times[0]} ms`);
});
