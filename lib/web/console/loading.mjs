// Reading the store's parts from the API for boot.mjs: each part is a section that is
// marked loading, kept only for the session that asked, and read once more when an event
// touched it during the read (applyEvent marks it dirty).

import { ApiError } from './api.mjs';
import { loadLedger } from './ledger.mjs';
import { may, withLedger } from './state.mjs';

// app: { api, limits, get(): the state, set(state), render(part), onRoutesSoFar() }
export function createLoader(app) {
  const { get, set } = app;

  // Loads one part of the state: read() fetches it, apply(state, data) returns the state with
  // it, unless the key changed meanwhile (an answer for the last session must not land in
  // this one). Events that touch the part while it loads mark it dirty (applyEvent): the
  // snapshot may predate them, so the part is read once more.
  async function section(name, read, apply) {
    const session = get().session;
    const mark = (loading, error) => {
      const dirty = new Set(get().dirty);
      if (loading) dirty.delete(name);
      set({
        ...get(),
        dirty,
        loading: { ...get().loading, [name]: loading },
        errors: error === undefined ? get().errors : { ...get().errors, [name]: error },
      });
    };
    mark(true, null);
    app.render(name);
    try {
      const data = await read();
      if (session !== get().session) {
        return;
      }
      set(apply(get(), data));
      mark(false);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        throw error;
      }
      if (session === get().session) {
        mark(false, error);
      }
    }
    if (session !== get().session) {
      return;
    }
    app.render(name);
    if (get().dirty.has(name)) {
      set({ ...get(), dirty: new Set([...get().dirty].filter((d) => d !== name)) });
      refresh();
    }
  }

  const byId = (items) => new Map(items.map((x) => [x.id, x]));

  function storages() {
    return section(
      'storages',
      () => app.api.listAll('/v1/storages', {}, { maxItems: app.limits.storages }),
      (s, page) => ({ ...s, storages: byId(page.items), storagesTruncated: page.truncated }),
    );
  }

  // For an organization's key: the distance to each storage (GET
  // /v1/organizations/{id}/storages, nearest first), so that its list shows them nearest first.
  function distances() {
    if (get().me?.role !== 'organization') {
      return null;
    }
    return section(
      'distances',
      () =>
        app.api.listAll(
          `/v1/organizations/${get().me.organization_id}/storages`,
          {},
          { maxItems: app.limits.storages },
        ),
      (s, page) => ({ ...s, distances: new Map(page.items.map((v) => [v.storage_id ?? v.id, v.distance_m])) }),
    );
  }

  // The roads, a page at a time (the API lists them by id with a forward cursor only). Each
  // page is shown as it comes: on a big network the map draws the neighbourhood it has long
  // before the last page, and grows (keeping places) as the others arrive.
  function routes() {
    const session = get().session;
    return section(
      'routes',
      async () => {
        const routes = new Map();
        let cursor = null;
        for (;;) {
          const page = await app.api.get('/v1/routes', { limit: 1000, cursor });
          for (const route of page.items || []) routes.set(route.id, route);
          cursor = page.next_cursor;
          if (!cursor || routes.size >= app.limits.routes) {
            return { routes, truncated: !!cursor };
          }
          if (session !== get().session) {
            return { routes, truncated: true };
          }
          set({ ...get(), routes: new Map(routes) });
          app.onRoutesSoFar();
        }
      },
      (s, read) => ({ ...s, routes: read.routes, routesTruncated: read.truncated }),
    );
  }

  function organizations() {
    if (!may(get().me?.role, 'organizations')) {
      return null;
    }
    return section(
      'organizations',
      () => app.api.listAll('/v1/organizations'),
      (s, page) => ({ ...s, organizations: byId(page.items) }),
    );
  }

  // The loads a storage's operator waits for (those on their way to it) or an organization
  // follows (its own, the newest MOVEMENTS of them); other roles have no such panel.
  function movements() {
    const me = get().me;
    let query = null;
    if (me?.role === 'storage') query = { storage_id: me.storage_id, status: 'in_transit' };
    if (me?.role === 'organization') query = { organization_id: me.organization_id };
    if (!query) {
      return null;
    }
    return section(
      'movements',
      () => app.api.listAll('/v1/movements', query, { maxItems: app.limits.movements }),
      (s, page) => {
        // Events that arrived during the read are newer than the page: they stay.
        const movements = byId(page.items);
        for (const [id, m] of s.movements) {
          const read = movements.get(id);
          if (!read || (read.status === 'in_transit' && m.status !== 'in_transit')) movements.set(id, m);
        }
        return { ...s, movements };
      },
    );
  }

  // An admin's alert rules: they set the share at which a type counts as nearly full.
  function alertRules() {
    if (get().me?.role !== 'admin') {
      return null;
    }
    return section(
      'alertRules',
      () => app.api.listAll('/v1/alerts'),
      (s, page) => ({ ...s, alertRules: page.items }),
    );
  }

  // Reads stock and pending again: after a break in the stream (which resumes transfers, not
  // states) and after events that may be newer than a snapshot being read.
  async function refresh() {
    await Promise.all([storages(), organizations()]).catch(() => {});
  }

  return {
    section,
    storages,
    routes,
    organizations,
    distances,
    movements,
    alertRules,
    refresh,
    types: () =>
      section(
        'types',
        () => app.api.listAll('/v1/waste-types'),
        (s, page) => ({ ...s, wasteTypes: page.items }),
      ),
    ledger: () => section('ledger', () => loadLedger(app.api), withLedger),
  };
}
