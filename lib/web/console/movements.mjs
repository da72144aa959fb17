// Pure helpers of the weighbridge, the organization's loads and the fill history (no DOM):
// the receipt form's checks and request, what a receipt's answer means in words, the
// near-full threshold that alert rules set, and the history's series for the chart.
// Unit-tested by test/browser/unit/movements.test.mjs.

import { parseKg } from './format.mjs';
import { nearFullThreshold } from './listing.mjs';

// Where the weighbridge's and the history's callers expect it.
export { nearFullThreshold };

// The service's limits of a receipt (POST /v1/movements/{id}/receipt).
export const REASON_MAX = 500;
export const TICKET_MAX = 200;

// The receipt form's fields as typed ({ticket, received, rejected, reason}: strings) →
// {body, errors}: errors is a list of {field, key} (message keys), empty when the body may
// be sent. The same rules as the service, so an operator learns at the scale, not after
// a round trip: weighed kilograms are required, refused ones default to 0 and may not
// exceed them, and refusing anything needs a reason.
export function receiptRequest(fields) {
  const errors = [];
  const receivedText = String(fields.received ?? '').trim();
  const received = receivedText === '' ? null : parseKg(receivedText);
  if (receivedText === '') {
    errors.push({ field: 'received_kg', key: 'receipt.receivedMissing' });
  } else if (received === null) {
    errors.push({ field: 'received_kg', key: 'receipt.badKg' });
  }
  const rejected = parseKg(fields.rejected);
  if (rejected === null) {
    errors.push({ field: 'rejected_kg', key: 'receipt.badKg' });
  } else if (received !== null && rejected > received) {
    errors.push({ field: 'rejected_kg', key: 'receipt.rejectedOver' });
  }
  const reason = String(fields.reason ?? '').trim();
  if (rejected !== null && rejected > 0 && reason === '') {
    errors.push({ field: 'rejection_reason', key: 'receipt.reasonMissing' });
  } else if ([...reason].length > REASON_MAX) {
    errors.push({ field: 'rejection_reason', key: 'receipt.reasonLong' });
  }
  const ticket = String(fields.ticket ?? '').trim();
  if ([...ticket].length > TICKET_MAX) {
    errors.push({ field: 'ticket', key: 'receipt.ticketLong' });
  }
  if (errors.length) {
    return { body: null, errors };
  }
  const body = { received_kg: received, rejected_kg: rejected };
  if (rejected > 0) {
    body.rejection_reason = reason;
  }
  if (ticket) {
    body.ticket = ticket;
  }
  return { body, errors };
}

// What a movement's status says, as a message key.
export function statusKey(status) {
  return (
    {
      in_transit: 'movement.in_transit',
      accepted: 'movement.accepted',
      partially_rejected: 'movement.partially_rejected',
      rejected: 'movement.rejected',
    }[status] || 'movement.unknown'
  );
}

// The answer of a receipt (the movement, maybe with warnings) → {key, variance}: the
// sentence for its status, and the weight_variance warning ({planned_kg, received_kg,
// difference_kg}) when the service gave one.
export function receiptOutcome(answer) {
  const key =
    {
      accepted: 'receipt.outcome.accepted',
      partially_rejected: 'receipt.outcome.partial',
      rejected: 'receipt.outcome.rejected',
    }[answer?.status] || 'receipt.outcome.recorded';
  const warning = (answer?.warnings || []).find((w) => w && w.code === 'weight_variance') || null;
  return { key, variance: warning };
}

// The loads in the order a reader needs them: those on their way first (oldest first: the
// next truck to arrive), then those received, newest first.
export function loadsInOrder(movements) {
  const list = [...movements];
  const travelling = list.filter((m) => m.status === 'in_transit').sort((a, b) => a.id - b.id);
  const received = list.filter((m) => m.status !== 'in_transit').sort((a, b) => b.id - a.id);
  return [...travelling, ...received];
}

// A history (GET /v1/storages/{id}/history items) as uPlot's columns: x in Unix seconds
// at each bucket's start, then stock, in and out in kilograms.
export function historySeries(items) {
  const x = [];
  const stock = [];
  const into = [];
  const out = [];
  for (const item of items || []) {
    const at = Date.parse(item.start);
    if (Number.isNaN(at)) continue;
    x.push(at / 1000);
    stock.push(item.stock_kg);
    into.push(item.in_kg);
    out.push(item.out_kg);
  }
  return [x, stock, into, out];
}

// The history's query for a bucket width: the last 24 hours by the hour, or the last 30
// days by the day, aligned to whole hours or whole days (UTC) so the buckets are the
// clock's and the calendar's; the last bucket holds now.
export function historyQuery(type, bucket, now = Date.now()) {
  const hour = 3600 * 1000;
  const width = bucket === 'day' ? 24 * hour : hour;
  const count = bucket === 'day' ? 30 : 24;
  const end = Math.floor(now / width) * width + width;
  return {
    waste_type: type,
    bucket: bucket === 'day' ? 'day' : 'hour',
    from: new Date(end - count * width).toISOString(),
    to: new Date(end).toISOString(),
  };
}
