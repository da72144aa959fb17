// Fill bars: one row per waste type of a storage, "type [#####-----] stock / capacity, room";
// a nearly full or full type stands out (its row's class), whatever the other types hold.
// The bar's width is set through CSSOM, which the Content-Security-Policy allows (a style
// attribute would not be).

import { h } from './dom.mjs';
import { fillLevel, fillRows, kg, number } from './format.mjs';
import { t, wasteTypeName } from './i18n.mjs';
import { nearFullThreshold } from './listing.mjs';

// The admin's alert rules (GET /v1/alerts), which say when a type is nearly full; other
// keys may not read them and use NEAR_FULL. Set by panels.mjs for the session.
let alertRules = [];
export function setAlertRules(rules) {
  alertRules = rules || [];
}
export function getAlertRules() {
  return alertRules;
}

export function fillBar(ratio, label) {
  const inner = h('span', { class: ['bar-fill', `level-${fillLevel(ratio)}`] });
  inner.style.width = `${Math.min(Math.max(ratio, 0), 1) * 100}%`;
  return h(
    'span',
    {
      class: 'bar',
      role: 'meter',
      'aria-label': label,
      'aria-valuemin': 0,
      'aria-valuemax': 100,
      'aria-valuenow': Math.round(ratio * 100),
    },
    inner,
  );
}

// The per-type rows of a storage; testPrefix gives each row data-testid
// "<prefix>-<type>" with data-stock / data-reserved / data-capacity. Kilograms on their
// way to a weighed storage (reserved) are drawn as a second, hatched part of the bar.
export function fillTable(storage, testPrefix) {
  return h(
    'div',
    { class: 'fills' },
    fillRows(storage).map((row) => {
      const near = nearFullThreshold(alertRules, storage.id, row.type);
      const bar = fillBar(
        row.ratio,
        t(row.reserved ? 'fill.meterReserved' : 'fill.meter', {
          type: wasteTypeName(row.type),
          stock: row.stock,
          reserved: kg(row.reserved),
          capacity: kg(row.capacity),
        }),
      );
      if (row.reserved > 0 && row.capacity > 0) {
        const part = h('span', { class: 'bar-reserved' });
        part.style.left = `${Math.min(row.stock / row.capacity, 1) * 100}%`;
        part.style.width = `${Math.min(row.reserved / row.capacity, 1) * 100}%`;
        bar.append(part);
        bar.firstChild.style.width = `${Math.min(row.stock / row.capacity, 1) * 100}%`;
      }
      return h(
        'div',
        {
          class: ['fill-row', row.ratio >= 1 ? 'type-full' : row.ratio >= near ? 'type-near' : ''],
          testid: testPrefix ? `${testPrefix}-${row.type}` : undefined,
          dataset: {
            stock: row.stock,
            reserved: row.reserved,
            capacity: row.capacity,
            remaining: row.remaining,
            near: Math.round(near * 100),
          },
        },
        h('span', { class: 'fill-type', text: wasteTypeName(row.type) }),
        bar,
        h('span', {
          class: 'fill-numbers',
          text: row.reserved
            ? t('fill.numbersReserved', {
                stock: number(row.stock),
                reserved: kg(row.reserved),
                capacity: kg(row.capacity),
                room: kg(row.remaining),
              })
            : t('fill.numbers', { stock: number(row.stock), capacity: kg(row.capacity), room: kg(row.remaining) }),
        }),
      );
    }),
  );
}
