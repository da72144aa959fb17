// The console's Server-Sent Events parser, against the WHATWG parsing rules.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SseParser, backoffDelay } from '../../../lib/web/console/sse.mjs';

function parse(chunks) {
  const events = [];
  const comments = [];
  const retries = [];
  const parser = new SseParser({
    onEvent: (e) => events.push(e),
    onComment: (c) => comments.push(c),
    onRetry: (r) => retries.push(r),
  });
  for (const chunk of chunks) parser.feed(chunk);
  parser.end();
  return { events, comments, retries, parser };
}

// Streams, in chunks, and every event they dispatch.
for (const [name, chunks, events] of [
  [
    'a typed event with an id',
    ['id: 7\nevent: transfer\ndata: {"id":7}\n\n'],
    [{ type: 'transfer', data: '{"id":7}', id: '7' }],
  ],
  [
    'the default type is message, and several data lines join with newlines',
    ['data: a\ndata: b\ndata\n\n'],
    [{ type: 'message', data: 'a\nb\n', id: '' }],
  ],
  [
    'a CRLF split between chunks is one line end, not two',
    ['data: x\r', '\ndata: y\r', '\n\r', '\n'],
    [{ type: 'message', data: 'x\ny', id: '' }],
  ],
  [
    'unknown fields are ignored and a line without a colon is a field with no value',
    ['foo: bar\nevent\ndata: z\n\n'],
    [{ type: 'message', data: 'z', id: '' }],
  ],
]) {
  test(name, () => {
    assert.deepEqual(parse(chunks).events, events);
  });
}

test('only one space after the colon is dropped', () => {
  const { events } = parse(['data:  two spaces\ndata:none\n\n']);
  assert.equal(events[0].data, ' two spaces\nnone');
});

test('CRLF, CR and LF all end lines', () => {
  const { events } = parse(['event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\revent: c\ndata: 3\n\n']);
  assert.deepEqual(
    events.map((e) => `${e.type}=${e.data}`),
    ['a=1', 'b=2', 'c=3'],
  );
});

test('any split of a stream gives the same events', () => {
  const stream =
    'id: 1\r\nevent: storage\r\ndata: {"id":3}\r\n\r\n: keep-alive\n\nid: 2\nevent: transfer\ndata: {"a":\ndata: 1}\n\n';
  const whole = parse([stream]).events;
  assert.equal(whole.length, 2);
  for (let cut = 0; cut <= stream.length; cut++) {
    assert.deepEqual(parse([stream.slice(0, cut), stream.slice(cut)]).events, whole, `cut at ${cut}`);
  }
  assert.deepEqual(parse([...stream]).events, whole, 'one character at a time');
});

test('comments are reported and dispatch nothing', () => {
  const { events, comments } = parse([': keep-alive\n\n:x\n\n']);
  assert.deepEqual(events, []);
  assert.deepEqual(comments, ['keep-alive', 'x']);
});

test('an event without data lines is not dispatched, but its id is kept', () => {
  const { events, parser } = parse(['id: 5\nevent: transfer\n\ndata: later\n\n']);
  assert.deepEqual(events, [{ type: 'message', data: 'later', id: '5' }]);
  assert.equal(parser.lastEventId, '5');
});

test('the last event id carries over to later events and an empty id resets it', () => {
  const { events } = parse(['id: 9\ndata: a\n\ndata: b\n\nid\ndata: c\n\n']);
  assert.deepEqual(
    events.map((e) => e.id),
    ['9', '9', ''],
  );
});

test('an id containing NUL is ignored', () => {
  const { events } = parse(['id: 3\ndata: a\n\nid: 4\u00005\ndata: b\n\n']);
  assert.deepEqual(
    events.map((e) => e.id),
    ['3', '3'],
  );
});

test('retry takes digits only', () => {
  const { retries } = parse(['retry: 2500\n\nretry: 1s\n\nretry: -1\n\n']);
  assert.deepEqual(retries, [2500]);
});

test('a leading byte order mark is dropped, once', () => {
  const { events } = parse(['\uFEFFdata: a\n\n']);
  assert.equal(events[0].data, 'a');
  const second = parse(['\uFEFF', '\uFEFFdata: b\n\n']).events;
  assert.deepEqual(second, [], 'a second BOM makes the field name unknown');
});

test('an unfinished event at the end of the stream is dropped', () => {
  const { events } = parse(['data: done\n\ndata: unfinished\n']);
  assert.deepEqual(
    events.map((e) => e.data),
    ['done'],
  );
});

test('non-ASCII data passes through', () => {
  const { events } = parse(['event: storage\ndata: {"name":"МНО3"}\n\n']);
  assert.equal(JSON.parse(events[0].data).name, 'МНО3');
});

test('backoff doubles up to its ceiling, with jitter in [0.5, 1)', () => {
  const low = () => 0;
  const high = () => 0.999999;
  assert.equal(backoffDelay(1, { base: 1000, max: 30000, random: low }), 500);
  assert.equal(backoffDelay(2, { base: 1000, max: 30000, random: low }), 1000);
  assert.equal(backoffDelay(4, { base: 1000, max: 30000, random: high }), 8000);
  assert.equal(backoffDelay(10, { base: 1000, max: 30000, random: high }), 30000);
  assert.equal(backoffDelay(100, { base: 1000, max: 30000, random: low }), 15000);
});
