// Fill bars: one row per waste type of a storage, "type [#####-----] stock / capacity, room";
// a nearly full or full type stands out (its row's class), whatever the other types hold.
// The bar's width is set through CSSOM, which the Content-Security-Policy allows (a style
// attribute would not be).

import { h } from './dom.mjs';
import { fillLevel, fillRows, kg, number } from './format.mjs';
import { t, wasteTypeName } from './i18n.mjs';
import { NEAR_FULL } from './listing.mjs';

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
// "<prefix>-<type>" with data-stock / data-capacity.
export function fillTable(storage, testPrefix) {
  return h(
    'div',
    { class: 'fills' },
    fillRows(storage).map((row) =>
      h(
        'div',
        {
          class: ['fill-row', row.ratio >= 1 ? 'type-full' : row.ratio >= NEAR_FULL ? 'type-near' : ''],
          testid: testPrefix ? `${testPrefix}-${row.type}` : undefined,
          dataset: { stock: row.stock, capacity: row.capacity, remaining: row.remaining },
        },
        h('span', { class: 'fill-type', text: wasteTypeName(row.type) }),
        fillBar(
          row.ratio,
          t('fill.meter', { type: wasteTypeName(row.type), stock: row.stock, capacity: kg(row.capacity) }),
        ),
        h('span', {
          class: 'fill-numbers',
          text: t('fill.numbers', { stock: number(row.stock), capacity: kg(row.capacity), room: kg(row.remaining) }),
        }),
      ),
    ),
  );
}
