// The road network drawn with cytoscape and laid out by dagre: organizations and storages
// as nodes (storages coloured by how full their fullest type is: a storage whose plastic is
// full is red, whatever room it has for glass), roads as edges labelled with their
// distance, one-way roads with one arrow and two-way roads with an arrow at each end. The
// container's data-nodes / data-edges attributes say what is drawn, for tests and for
// anyone reading the DOM rather than the canvas.

import cytoscape from './cytoscape.esm.min.mjs';
import dagre from './cytoscape-dagre.min.mjs';
import { anyTypeFull, fillColor, fullestType, metres, nodeKey, percent } from './format.mjs';
import { t, wasteTypeName } from './i18n.mjs';

cytoscape.use(dagre);

const DAGRE_MAX_NODES = 120;
// Beyond this many nodes and roads, roads lose their labels and curves (labels come back
// when zoomed in far enough), which keeps panning and clicking quick.
const BIG_ELEMENTS = 300;

const STYLE = [
  {
    selector: 'node',
    style: {
      label: 'data(label)',
      'text-wrap': 'wrap',
      'text-valign': 'center',
      'text-halign': 'center',
      'font-family': 'system-ui, sans-serif',
      'font-size': 12,
      color: '#10212b',
      width: 74,
      height: 44,
      'border-width': 1,
      'border-color': '#35505f',
    },
  },
  {
    selector: 'node[kind = "organization"]',
    style: { shape: 'round-rectangle', 'background-color': '#2f5d7c', color: '#ffffff', 'font-weight': 'bold' },
  },
  {
    selector: 'node[kind = "storage"]',
    style: { shape: 'ellipse', 'background-color': 'data(color)' },
  },
  {
    selector: 'node[?full]',
    style: { 'border-width': 3, 'border-color': '#9b1c1c' },
  },
  {
    selector: 'node:selected',
    style: { 'overlay-color': '#1d4ed8', 'overlay-opacity': 0.18, 'overlay-padding': 6 },
  },
  {
    selector: 'node.origin',
    style: { 'border-width': 3, 'border-color': '#f59e0b' },
  },
  {
    selector: 'node.home',
    style: { 'border-width': 4, 'border-color': '#f59e0b', 'border-style': 'double' },
  },
  {
    selector: 'edge',
    style: {
      width: 2,
      'line-color': '#8aa0ad',
      'target-arrow-color': '#8aa0ad',
      'source-arrow-color': '#8aa0ad',
      'target-arrow-shape': 'triangle',
      'curve-style': 'bezier',
      label: 'data(label)',
      'font-size': 10,
      'font-family': 'system-ui, sans-serif',
      color: '#35505f',
      'text-background-color': '#ffffff',
      'text-background-opacity': 0.9,
      'text-background-padding': 2,
      'text-rotation': 'autorotate',
    },
  },
  {
    selector: 'edge[?twoWay]',
    style: { 'source-arrow-shape': 'triangle', 'line-style': 'solid', width: 3 },
  },
  {
    selector: 'edge.big',
    style: { 'curve-style': 'straight', width: 1, 'arrow-scale': 0.6, 'min-zoomed-font-size': 14 },
  },
  {
    selector: 'node.big',
    style: { 'min-zoomed-font-size': 10, width: 46, height: 28, 'font-size': 9 },
  },
  {
    selector: 'edge.path',
    style: {
      'line-color': '#f59e0b',
      'target-arrow-color': '#f59e0b',
      'source-arrow-color': '#f59e0b',
      width: 5,
      'z-index': 10,
    },
  },
];

function storageLabel(storage) {
  const fullest = fullestType(storage);
  return fullest ? `${storage.name}\n${wasteTypeName(fullest.type)} ${percent(fullest.ratio)}` : storage.name;
}

export function createNetwork(container, { onSelectStorage = () => {}, onSelectOrganization = () => {} } = {}) {
  const cy = cytoscape({
    container,
    style: STYLE,
    minZoom: 0.2,
    maxZoom: 3,
    boxSelectionEnabled: false,
    autoungrabify: false,
    textureOnViewport: true,
    hideEdgesOnViewport: true,
  });
  let topology = '';

  cy.on('tap', 'node', (event) => {
    const data = event.target.data();
    if (data.kind === 'storage') {
      onSelectStorage(data.entityId);
    } else {
      onSelectOrganization(data.entityId);
    }
  });

  // dagre takes seconds beyond a hundred or so nodes; more get rings around the focus.
  function layout() {
    // Counted, so that a test can tell a change that kept the places from one that did not.
    container.dataset.layouts = String(Number(container.dataset.layouts || 0) + 1);
    if (cy.nodes().length > DAGRE_MAX_NODES) {
      // Rings around the focus, one per road away from it.
      cy.layout({
        name: 'concentric',
        concentric: (node) => 1000 - (node.data('level') ?? 999),
        levelWidth: () => 1,
        minNodeSpacing: 6,
        animate: false,
        fit: true,
        padding: 16,
      }).run();
      return;
    }
    cy.layout({
      name: 'dagre',
      rankDir: 'LR',
      nodeSep: 28,
      rankSep: 90,
      edgeSep: 12,
      animate: false,
      fit: true,
      padding: 24,
    }).run();
  }

  // Draws the given organizations, storages (Maps by id) and routes; keeps positions
  // unless the set of nodes or roads changed.
  function update({ organizations, storages, routes, levels = null }) {
    const nodes = new Map();
    for (const org of organizations.values()) {
      nodes.set(`o${org.id}`, { id: `o${org.id}`, kind: 'organization', entityId: org.id, label: org.name });
    }
    for (const storage of storages.values()) {
      nodes.set(`s${storage.id}`, {
        id: `s${storage.id}`,
        kind: 'storage',
        entityId: storage.id,
        label: storageLabel(storage),
        color: fillColor(fullestType(storage)?.ratio ?? 0),
        full: anyTypeFull(storage),
      });
    }
    const edges = [];
    for (const route of routes.values()) {
      const source = nodeKey(route.from);
      const target = nodeKey(route.to);
      // A road may name an organization this key may not list: draw it as a bare node.
      for (const [key, ref] of [
        [source, route.from],
        [target, route.to],
      ]) {
        if (key && !nodes.has(key)) {
          const isOrg = ref.organization_id !== undefined;
          const id = isOrg ? ref.organization_id : ref.storage_id;
          nodes.set(key, {
            id: key,
            kind: isOrg ? 'organization' : 'storage',
            entityId: id,
            label: t(isOrg ? 'name.organization' : 'name.storage', { id: String(id) }),
            color: '#cbd5e1',
            full: false,
          });
        }
      }
      edges.push({
        id: `r${route.id}`,
        source,
        target,
        routeId: route.id,
        label: metres(route.distance_m),
        twoWay: !!route.two_way,
      });
    }
    if (levels) {
      for (const data of nodes.values()) {
        data.level = levels.get(data.id) ?? 999;
      }
    }
    const shape =
      [...nodes.keys()].sort().join(',') +
      '|' +
      edges
        .map((e) => `${e.id}:${e.source}>${e.target}`)
        .sort()
        .join(',');
    if (shape !== topology) {
      const selected = cy.$(':selected').map((el) => el.id());
      // Nodes keep their places across changes (a road added, a storage created): only a
      // picture that is mostly new is laid out again; a few new nodes go beside their
      // neighbours.
      const placed = new Map(cy.nodes().map((n) => [n.id(), { ...n.position() }]));
      cy.batch(() => {
        cy.elements().remove();
        cy.add(
          [...nodes.values()].map((data) =>
            placed.has(data.id) ? { group: 'nodes', data, position: placed.get(data.id) } : { group: 'nodes', data },
          ),
        );
        cy.add(edges.map((data) => ({ group: 'edges', data })));
      });
      for (const id of selected) {
        cy.getElementById(id).select();
      }
      topology = shape;
      cy.elements().toggleClass('big', cy.elements().length > BIG_ELEMENTS);
      const fresh = cy.nodes().filter((n) => !placed.has(n.id()));
      if (fresh.length * 2 > cy.nodes().length) {
        layout();
      } else {
        placeBesideNeighbours(fresh);
      }
    } else {
      // Only what changed: touching every element restyles the whole graph.
      cy.batch(() => {
        for (const data of [...nodes.values(), ...edges]) {
          const el = cy.getElementById(data.id);
          const old = el.data();
          if (Object.keys(data).some((key) => old[key] !== data[key])) {
            el.data(data);
          }
        }
      });
    }
    container.classList.toggle('big', cy.elements().length > BIG_ELEMENTS);
    container.dataset.nodes = String(cy.nodes().length);
    container.dataset.edges = String(cy.edges().length);
    container.dataset.twoWay = String(edges.filter((e) => e.twoWay).length);
  }

  function placeBesideNeighbours(fresh) {
    fresh.forEach((node, i) => {
      const known = node.neighborhood('node').filter((n) => !fresh.has(n));
      if (known.length === 0) {
        const box = cy.nodes().difference(fresh).boundingBox();
        node.position({ x: box.x2 + 90, y: box.y1 + i * 60 });
        return;
      }
      const x = known.reduce((sum, n) => sum + n.position('x'), 0) / known.length;
      const y = known.reduce((sum, n) => sum + n.position('y'), 0) / known.length;
      node.position({ x: x + 40, y: y + 60 + i * 10 });
    });
  }

  // Marks the roads along a path (a list of node references) and its first node.
  function showPath(path) {
    cy.batch(() => {
      cy.elements().removeClass('path origin');
      if (!Array.isArray(path) || path.length === 0) {
        return;
      }
      cy.getElementById(nodeKey(path[0])).addClass('origin');
      for (let i = 0; i + 1 < path.length; i++) {
        const a = nodeKey(path[i]);
        const b = nodeKey(path[i + 1]);
        const forward = cy.edges(`[source = "${a}"][target = "${b}"]`);
        const backward = cy.edges(`[source = "${b}"][target = "${a}"][?twoWay]`);
        forward.union(backward).addClass('path');
      }
    });
    container.dataset.pathEdges = String(cy.edges('.path').length);
  }

  // Marks the signed-in organization's or storage's own node.
  function setHome(key) {
    cy.nodes('.home').removeClass('home');
    if (key) {
      cy.getElementById(key).addClass('home');
    }
  }

  function select(key) {
    cy.$(':selected').unselect();
    if (key) {
      cy.getElementById(key).select();
    }
  }

  function resize() {
    cy.resize();
    cy.fit(undefined, 24);
  }

  return { update, showPath, setHome, select, resize, destroy: () => cy.destroy(), cy };
}
