// Which part of the road network to draw. A region's whole network (tens of thousands of
// storages) is no picture and too slow to lay out, so beyond maxNodes the console draws the
// neighbourhood of one node: the nodes nearest to it in roads (breadth first, either
// direction), up to maxNodes, with the roads among them. Pure: unit-tested by
// test/browser/unit.

import { nodeKey } from './format.mjs';

// world: {organizations, storages, routes} (Maps by id). focus: a node key ('o1', 's3') or
// null. Returns {organizations, storages, routes, total, drawn, focus, levels}; focus is the
// node the neighbourhood was grown from and levels each drawn node's distance from it in
// roads (a Map by key), both null when everything is drawn.
export function neighbourhood(world, focus, maxNodes) {
  const all = new Set();
  for (const id of world.organizations.keys()) all.add(`o${id}`);
  for (const id of world.storages.keys()) all.add(`s${id}`);
  const adjacent = new Map();
  const link = (a, b) => {
    if (!adjacent.has(a)) adjacent.set(a, []);
    adjacent.get(a).push(b);
  };
  for (const route of world.routes.values()) {
    const a = nodeKey(route.from);
    const b = nodeKey(route.to);
    all.add(a);
    all.add(b);
    link(a, b);
    link(b, a);
  }
  if (all.size <= maxNodes) {
    return { ...pick(world, null), total: all.size, drawn: all.size, focus: null, levels: null };
  }
  let start = focus && all.has(focus) ? focus : null;
  if (!start) {
    const firstOrg = Math.min(...world.organizations.keys());
    const firstStorage = Math.min(...world.storages.keys());
    start = Number.isFinite(firstOrg) ? `o${firstOrg}` : `s${firstStorage}`;
  }
  const levels = new Map([[start, 0]]);
  const queue = [start];
  for (let head = 0; head < queue.length && levels.size < maxNodes; head++) {
    const level = levels.get(queue[head]) + 1;
    for (const next of adjacent.get(queue[head]) || []) {
      if (!levels.has(next)) {
        levels.set(next, level);
        queue.push(next);
        if (levels.size >= maxNodes) break;
      }
    }
  }
  const kept = new Set(levels.keys());
  return { ...pick(world, kept), total: all.size, drawn: kept.size, focus: start, levels };
}

function pick(world, kept) {
  if (!kept) {
    return { organizations: world.organizations, storages: world.storages, routes: world.routes };
  }
  const organizations = new Map([...world.organizations].filter(([id]) => kept.has(`o${id}`)));
  const storages = new Map([...world.storages].filter(([id]) => kept.has(`s${id}`)));
  const routes = new Map([...world.routes].filter(([, r]) => kept.has(nodeKey(r.from)) && kept.has(nodeKey(r.to))));
  return { organizations, storages, routes };
}
