// The console's client of the wasteflow API: every call carries the signed-in key as a
// Bearer token; an error answer becomes an ApiError holding the problem+json body, so a
// view can show its `detail`. 401 and 429 are also reported to the app (sign-in again; wait
// for Retry-After), whoever made the call.

import { retryAfterSeconds } from './format.mjs';

export class ApiError extends Error {
  constructor(status, problem, retryAfter = null) {
    const detail = (problem && (problem.detail || problem.title)) || `HTTP ${status}`;
    super(detail);
    this.status = status; // 0: the service could not be reached
    this.problem = problem || {};
    this.retryAfter = retryAfter; // seconds, or null
  }

  get detail() {
    return this.message;
  }

  // Field errors of a 422, as "field: message" strings.
  get fieldErrors() {
    const errors = Array.isArray(this.problem.errors) ? this.problem.errors : [];
    return errors.map((e) => `${e.field}: ${e.message}`);
  }
}

export function newIdempotencyKey() {
  if (globalThis.crypto && typeof globalThis.crypto.randomUUID === 'function') {
    return globalThis.crypto.randomUUID();
  }
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function createApi({ getKey, onUnauthorized = () => {}, onRateLimited = () => {}, fetchImpl } = {}) {
  const doFetch = fetchImpl || ((...args) => globalThis.fetch(...args));

  async function request(method, path, { query, body, idempotencyKey, key } = {}) {
    let url = path;
    if (query) {
      const params = new URLSearchParams();
      for (const [name, value] of Object.entries(query)) {
        if (value !== undefined && value !== null && value !== '') {
          params.set(name, String(value));
        }
      }
      const text = params.toString();
      if (text) {
        url += (url.includes('?') ? '&' : '?') + text;
      }
    }
    const headers = { Accept: 'application/json' };
    const token = key ?? getKey();
    if (token) {
      headers.Authorization = `Bearer ${token}`;
    }
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
    }
    if (idempotencyKey) {
      headers['Idempotency-Key'] = idempotencyKey;
    }
    let response;
    try {
      response = await doFetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch {
      throw new ApiError(0, { title: 'Network error', detail: 'The service could not be reached.' });
    }
    const type = response.headers.get('Content-Type') || '';
    let payload = null;
    if (response.status !== 204) {
      const text = await response.text();
      if (type.includes('json') && text) {
        try {
          payload = JSON.parse(text);
        } catch {
          payload = null;
        }
      } else if (text) {
        payload = { detail: text.slice(0, 300) };
      }
    }
    if (!response.ok) {
      const retryAfter = retryAfterSeconds(response.headers.get('Retry-After'));
      const problem = payload && typeof payload === 'object' ? payload : { title: response.statusText };
      const error = new ApiError(response.status, problem, retryAfter);
      if (response.status === 401 && key === undefined) {
        onUnauthorized(error);
      } else if (response.status === 429) {
        onRateLimited(error);
      }
      throw error;
    }
    return { status: response.status, body: payload, replayed: response.headers.get('Idempotent-Replayed') === 'true' };
  }

  async function get(path, query) {
    return (await request('GET', path, { query })).body;
  }

  // Every item of a paginated list, following next_cursor; stops after maxItems (then
  // `truncated` is true).
  async function listAll(path, query = {}, { pageSize = 1000, maxItems = Infinity } = {}) {
    const items = [];
    let cursor = null;
    for (;;) {
      const page = await get(path, { ...query, limit: pageSize, cursor });
      items.push(...(page.items || []));
      cursor = page.next_cursor;
      if (!cursor) {
        return { items, truncated: false };
      }
      if (items.length >= maxItems) {
        return { items, truncated: true };
      }
    }
  }

  // A file to save (a CSV export): the answer's body as a Blob, fetched with the key in the
  // Authorization header so that the key never appears in a URL; an error answer throws an
  // ApiError as request() does.
  async function download(path, query = {}) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== '') {
        params.set(name, String(value));
      }
    }
    const text = params.toString();
    const url = text ? `${path}?${text}` : path;
    let response;
    try {
      response = await doFetch(url, {
        method: 'GET',
        headers: { Accept: 'text/csv, application/problem+json', Authorization: `Bearer ${getKey()}` },
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch {
      throw new ApiError(0, { title: 'Network error', detail: 'The service could not be reached.' });
    }
    if (!response.ok) {
      let problem = { title: response.statusText };
      try {
        problem = JSON.parse(await response.text());
      } catch {
        // not JSON: keep the status text
      }
      const error = new ApiError(response.status, problem, retryAfterSeconds(response.headers.get('Retry-After')));
      if (response.status === 401) {
        onUnauthorized(error);
      } else if (response.status === 429) {
        onRateLimited(error);
      }
      throw error;
    }
    return response.blob();
  }

  return { request, get, listAll, download };
}
