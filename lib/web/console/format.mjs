// Pure formatting and arithmetic shared by the views (no DOM): kilograms, distances,
// fill levels, node references, in the language i18n.mjs is set to. Unit-tested by
// test/browser/unit.

import { dateTime, decimal, number, t, wasteTypeName } from './i18n.mjs';

export function kg(amount) {
  return t('unit.kg', { n: amount });
}

export function metres(distance) {
  if (distance === null || distance === undefined) {
    return t('distance.unreachable');
  }
  if (distance >= 10000) {
    return t('unit.km', { km: decimal(distance / 1000) });
  }
  return t('unit.m', { n: distance });
}

// Per type of a storage: {type, capacity, stock, reserved, remaining, ratio}, by type code.
// Room held for loads on their way to a weighed storage (reserved) is taken room, as the
// service counts it: remaining = capacity - stock - reserved, the service's own figure
// when it sent one; ratio = (stock + reserved) / capacity.
export function fillRows(storage) {
  const capacity = storage.capacity || {};
  const stock = storage.stock || {};
  const reserved = storage.reserved || {};
  const remaining = storage.remaining || {};
  return Object.keys(capacity)
    .sort()
    .map((type) => {
      const cap = capacity[type] || 0;
      const held = stock[type] || 0;
      const held_for = reserved[type] || 0;
      const room = typeof remaining[type] === 'number' ? remaining[type] : Math.max(cap - held - held_for, 0);
      return {
        type,
        capacity: cap,
        stock: held,
        reserved: held_for,
        remaining: room,
        ratio: cap > 0 ? (held + held_for) / cap : 1,
      };
    });
}

// How full a storage is, 0..1: kilograms held or reserved over kilograms it can hold, all
// types together.
export function fillRatio(storage) {
  let capacity = 0;
  let taken = 0;
  for (const row of fillRows(storage)) {
    capacity += row.capacity;
    taken += row.stock + row.reserved;
  }
  return capacity > 0 ? taken / capacity : 0;
}

// True when some type of the storage has no room left (it accepts no more of it).
export function anyTypeFull(storage) {
  return fillRows(storage).some((row) => row.remaining === 0);
}

// The fill colour: green when empty, through yellow, to red when full.
export function fillColor(ratio) {
  const clamped = Math.min(Math.max(ratio, 0), 1);
  const hue = Math.round(130 * (1 - clamped));
  return `hsl(${hue}, 65%, ${clamped > 0.5 ? 48 : 42}%)`;
}

// 'ok' | 'warn' | 'full', for the bars' classes.
export function fillLevel(ratio) {
  if (ratio >= 1) {
    return 'full';
  }
  return ratio >= 0.75 ? 'warn' : 'ok';
}

export function percent(ratio) {
  return t('unit.percent', { n: Math.round(ratio * 100) });
}

// The fullest type of a storage ({type, ratio, remaining}), or null when it has none: a
// storage is as full as its fullest type for the waste of that type, so that is what a
// card or a node shows first.
export function fullestType(storage) {
  let fullest = null;
  for (const row of fillRows(storage)) {
    if (!fullest || row.ratio > fullest.ratio) {
      fullest = row;
    }
  }
  return fullest;
}

// {organization_id: 2} -> 'o2', {storage_id: 3} -> 's3' (graph element ids).
export function nodeKey(ref) {
  if (ref && ref.organization_id !== undefined) {
    return `o${ref.organization_id}`;
  }
  if (ref && ref.storage_id !== undefined) {
    return `s${ref.storage_id}`;
  }
  return null;
}

// Parses a whole number of kilograms typed into a field: '' is 0; anything else that is
// not 0..10^12 gives null.
export function parseKg(text) {
  const trimmed = String(text ?? '').trim();
  if (trimmed === '') {
    return 0;
  }
  if (!/^\d{1,13}$/.test(trimmed)) {
    return null;
  }
  const value = Number(trimmed);
  return value <= 1e12 ? value : null;
}

// "plastic 10 kg, glass 5 kg" of a {type: kg} map, zeros left out; '' when empty.
export function quantities(map) {
  return Object.keys(map || {})
    .sort()
    .filter((type) => map[type] > 0)
    .map((type) => `${wasteTypeName(type)} ${kg(map[type])}`)
    .join(', ');
}

// An ISO date-time in the user's language and time zone.
export function time(iso) {
  return dateTime(iso);
}

export { number };

// Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or null.
export function retryAfterSeconds(header, now = Date.now()) {
  if (header === null || header === undefined || header === '') {
    return null;
  }
  const text = String(header).trim();
  if (/^\d+$/.test(text)) {
    return Number(text);
  }
  const when = Date.parse(text);
  if (Number.isNaN(when)) {
    return null;
  }
  return Math.max(0, Math.ceil((when - now) / 1000));
}
