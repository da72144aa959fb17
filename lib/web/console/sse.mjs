// Server-Sent Events over fetch(): EventSource cannot send an Authorization header, so the
// console reads GET /v1/events with fetch and parses the stream itself.
//
// SseParser follows the WHATWG "event stream interpretation" rules: lines end in CRLF, LF
// or CR (also when a CRLF is split between two chunks), a leading BOM is dropped, lines
// starting with ':' are comments, "field: value" loses one space after the colon, data
// lines join with '\n', an empty line dispatches, an event without data lines is not
// dispatched, an id containing NUL is ignored, retry takes digits only, and an unfinished
// event at the end of the stream is dropped.
//
// EventStream keeps one such stream open: it reconnects with exponential backoff and
// jitter (or the server's retry: / Retry-After), sends Last-Event-ID, cuts a stream that has
// been silent for longer than idleMs (the server comments every 15 s), and stops for good
// on 401 (onUnauthorized), 403 and 404 (onStatus 'unavailable').

export class SseParser {
  constructor({ onEvent, onComment, onRetry } = {}) {
    this.onEvent = onEvent || (() => {});
    this.onComment = onComment || (() => {});
    this.onRetry = onRetry || (() => {});
    this.lastEventId = '';
    this.buffer = '';
    this.started = false;
    this.skipLeadingLF = false;
    this.reset();
  }

  reset() {
    this.eventType = '';
    this.dataLines = [];
  }

  feed(chunk) {
    let text = chunk;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) {
        text = text.slice(1);
      }
    }
    if (this.skipLeadingLF && text.length > 0) {
      if (text[0] === '\n') {
        text = text.slice(1);
      }
      this.skipLeadingLF = false;
    }
    const buffer = this.buffer + text;
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer[i];
      if (c !== '\n' && c !== '\r') {
        continue;
      }
      this.line(buffer.slice(start, i));
      if (c === '\r') {
        if (i + 1 < buffer.length) {
          if (buffer[i + 1] === '\n') {
            i++;
          }
        } else {
          // A CR at the very end may be the first half of a CRLF.
          this.skipLeadingLF = true;
        }
      }
      start = i + 1;
    }
    this.buffer = buffer.slice(start);
  }

  // The stream ended: an event not yet terminated by an empty line is discarded.
  end() {
    this.buffer = '';
    this.reset();
  }

  line(line) {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line[0] === ':') {
      this.onComment(line.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = line.indexOf(':');
    let field = line;
    let value = '';
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value[0] === ' ') {
        value = value.slice(1);
      }
    }
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.dataLines.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.lastEventId = value;
        }
        break;
      case 'retry':
        if (/^\d+$/.test(value)) {
          this.onRetry(Number(value));
        }
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  dispatch() {
    if (this.dataLines.length === 0) {
      this.reset();
      return;
    }
    const event = { type: this.eventType || 'message', data: this.dataLines.join('\n'), id: this.lastEventId };
    this.reset();
    this.onEvent(event);
  }
}

// The delay before reconnect attempt `failures` (1, 2, ...): base * 2^(failures-1), at most
// max (or base, when the server's retry: asks for more), times a random factor in [0.5, 1) so that many consoles do not reconnect in step.
export function backoffDelay(failures, { base = 1000, max = 30000, random = Math.random } = {}) {
  const exponent = Math.min(Math.max(failures - 1, 0), 20);
  const ceiling = Math.min(Math.max(max, base), base * 2 ** exponent);
  return Math.round(ceiling * (0.5 + random() / 2));
}

function retryAfterMs(response) {
  const header = response.headers.get('Retry-After');
  if (header && /^\d+$/.test(header.trim())) {
    return Number(header.trim()) * 1000;
  }
  return null;
}

async function problemOf(response) {
  try {
    const body = await response.json();
    return body && typeof body === 'object' ? body : null;
  } catch {
    return null;
  }
}

export class EventStream {
  // url: the stream; headers(): the request headers (Authorization); onEvent({type, data,
  // id}); onStatus(state, info) with state 'connecting' | 'open' | 'reconnecting' |
  // 'unavailable' | 'stopped'; onUnauthorized(problem); onReconnected(): the stream is open
  // again after a break (events may have been missed: refetch what is not resumed).
  constructor(options) {
    this.url = options.url;
    this.headers = options.headers || (() => ({}));
    this.onEvent = options.onEvent || (() => {});
    this.onStatus = options.onStatus || (() => {});
    this.onUnauthorized = options.onUnauthorized || (() => {});
    this.onReconnected = options.onReconnected || (() => {});
    this.fetch = options.fetch || ((...args) => globalThis.fetch(...args));
    this.baseDelay = options.baseDelay ?? 1000;
    this.maxDelay = options.maxDelay ?? 30000;
    this.idleMs = options.idleMs ?? 45000;
    this.random = options.random || Math.random;
    this.lastEventId = options.lastEventId || '';
    this.failures = 0;
    this.running = false;
    this.controller = null;
    this.wake = null;
    this.everOpened = false;
  }

  start() {
    if (this.running) {
      return;
    }
    this.running = true;
    this.loop().catch(() => {});
  }

  stop() {
    this.running = false;
    if (this.controller) {
      this.controller.abort();
    }
    if (this.wake) {
      this.wake();
    }
    this.onStatus('stopped');
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  async loop() {
    while (this.running) {
      const wait = await this.connectOnce();
      if (!this.running || wait === null) {
        return;
      }
      this.onStatus('reconnecting', { delayMs: wait });
      await this.sleep(wait);
    }
  }

  // One connection, read to its end. Returns the delay before the next attempt, or null
  // to stop for good.
  async connectOnce() {
    const controller = new AbortController();
    this.controller = controller;
    let serverDelay = null;
    let idleTimer = null;
    const armIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => controller.abort(), this.idleMs);
    };
    this.onStatus(this.everOpened ? 'reconnecting' : 'connecting', { delayMs: 0 });
    try {
      const headers = { Accept: 'text/event-stream', ...this.headers() };
      if (this.lastEventId) {
        headers['Last-Event-ID'] = this.lastEventId;
      }
      armIdle();
      const response = await this.fetch(this.url, { headers, signal: controller.signal, cache: 'no-store' });
      if (response.status === 401) {
        clearTimeout(idleTimer);
        this.running = false;
        this.onUnauthorized(await problemOf(response));
        return null;
      }
      if (response.status === 403 || response.status === 404) {
        clearTimeout(idleTimer);
        this.running = false;
        const problem = await problemOf(response);
        this.onStatus('unavailable', { status: response.status, problem });
        return null;
      }
      if (response.status === 400 && headers['Last-Event-ID']) {
        // The server no longer takes the id (ids are opaque and sealed with the deployment's
        // key: one made before an upgrade or a key change is refused). Start afresh without
        // it at once; onReconnected refetches what may have been missed.
        clearTimeout(idleTimer);
        await response.body?.cancel().catch(() => {});
        this.lastEventId = '';
        this.failures = 0;
        return 0;
      }
      const type = response.headers.get('Content-Type') || '';
      if (!response.ok || !type.startsWith('text/event-stream') || !response.body) {
        serverDelay = retryAfterMs(response);
        await response.body?.cancel().catch(() => {});
        throw new Error(`stream answered ${response.status} ${type}`);
      }
      const parser = new SseParser({
        onEvent: (event) => {
          this.lastEventId = event.id;
          this.healthy();
          this.onEvent(event);
        },
        onComment: () => this.healthy(),
        onRetry: (ms) => {
          this.baseDelay = ms;
        },
      });
      const reopened = this.everOpened;
      this.everOpened = true;
      this.onStatus('open');
      if (reopened) {
        this.onReconnected();
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        armIdle();
        const { value, done } = await reader.read();
        if (done) {
          break;
        }
        parser.feed(value);
      }
      parser.end();
    } catch {
      // a network error, an abort (idle or stop), or a refused answer: reconnect below
    } finally {
      clearTimeout(idleTimer);
      this.controller = null;
    }
    if (!this.running) {
      return null;
    }
    this.failures++;
    return (
      serverDelay ?? backoffDelay(this.failures, { base: this.baseDelay, max: this.maxDelay, random: this.random })
    );
  }

  // Something arrived: the connection works, so the next break starts the backoff afresh.
  healthy() {
    this.failures = 0;
  }
}
