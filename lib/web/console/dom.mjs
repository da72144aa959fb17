// A tiny DOM builder: h('div', {class: 'x', dataset: {testid: 'y'}, onclick: f}, child, ...).
// Text goes in as text nodes, never as HTML, so data from the API cannot inject markup; and
// no style attribute is ever written (the page's Content-Security-Policy forbids inline
// style), only classes and CSSOM properties (el.style.width = ...).

import { parseKg } from './format.mjs';

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) {
        continue;
      }
      if (name === 'class') {
        el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
      } else if (name === 'dataset') {
        for (const [key, data] of Object.entries(value)) {
          if (data !== undefined && data !== null) {
            el.dataset[key] = String(data);
          }
        }
      } else if (name === 'testid') {
        el.dataset.testid = value;
      } else if (name.startsWith('on') && typeof value === 'function') {
        el.addEventListener(name.slice(2), value);
      } else if (name === 'text') {
        el.textContent = value;
      } else if (name === 'value' || name === 'checked' || name === 'disabled' || name === 'hidden') {
        el[name] = value;
      } else if (value === true) {
        el.setAttribute(name, '');
      } else {
        el.setAttribute(name, String(value));
      }
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) {
      continue;
    }
    if (Array.isArray(child)) {
      append(el, child);
    } else if (child instanceof Node) {
      el.appendChild(child);
    } else {
      el.appendChild(document.createTextNode(String(child)));
    }
  }
}

// Replaces everything inside el with children.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function byTestId(id, root = document) {
  return root.querySelector(`[data-testid="${id}"]`);
}

// The kilograms typed into a form's inputs ([type, input] pairs): each input that is not a
// whole number of kilograms is marked invalid; amounts holds the positive ones by type.
export function readKgInputs(inputs) {
  const amounts = {};
  let valid = true;
  let total = 0;
  for (const [type, input] of inputs) {
    const value = parseKg(input.value);
    input.classList.toggle('invalid', value === null);
    if (value === null) {
      valid = false;
    } else if (value > 0) {
      amounts[type] = value;
      total += value;
    }
  }
  return { amounts, valid, total };
}
