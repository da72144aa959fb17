// Pure formatting and arithmetic shared by the views (no DOM): kilograms, distances,
// fill levels, node references. Unit-tested by test/browser/unit.

const kgFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const kmFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

export function kg(amount) {
  return `${kgFormat.format(amount)} kg`;
}

export function metres(distance) {
  if (distance === null || distance === undefined) {
    return 'unreachable';
  }
  if (distance >= 10000) {
    return `${kmFormat.format(distance / 1000)} km`;
  }
  return `${kgFormat.format(distance)} m`;
}

// Per type of a storage: {type, capacity, stock, remaining, ratio}, by type code.
export function fillRows(storage) {
  const capacity = storage.capacity || {};
  const stock = storage.stock || {};
  return Object.keys(capacity)
    .sort()
    .map((type) => {
      const cap = capacity[type] || 0;
      const held = stock[type] || 0;
      return { type, capacity: cap, stock: held, remaining: Math.max(cap - held, 0), ratio: cap > 0 ? held / cap : 1 };
    });
}

// How full a storage is, 0..1: kilograms held over kilograms it can hold, all types together.
export function fillRatio(storage) {
  let capacity = 0;
  let stock = 0;
  for (const row of fillRows(storage)) {
    capacity += row.capacity;
    stock += row.stock;
  }
  return capacity > 0 ? stock / capacity : 0;
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
  return `${Math.round(ratio * 100)}%`;
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
    .map((type) => `${type} ${kg(map[type])}`)
    .join(', ');
}

export function time(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return iso || '';
  }
  return date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

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
