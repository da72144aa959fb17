// Unload: a storage ships waste out for recycling (POST /v1/storages/{id}/unload), freeing
// room. A storage's operator unloads their own storage; an admin the selected one. The room
// freed is often filled again within a second by waste pending at organizations (automatic
// placements, transfers with trigger "auto"): the result says so, or the unload would look
// as if it had failed.

import { newIdempotencyKey } from './api.mjs';
import { fill, h, readKgInputs } from './dom.mjs';
import { kg, metres, quantities } from './format.mjs';
import { t, wasteTypeName } from './i18n.mjs';
import { problemView } from './problems.mjs';

// How long after an unload automatic placements into the storage are told in its result.
const FOLLOW_MS = 30000;

export function createUnload(ctx) {
  // ctx: { api, view(): the store's state (read only), storageId(), onStorage(storage), rateLimited(),
  //        organizationName(id) }
  const title = h('p', { class: 'muted', testid: 'unload-storage' });
  const fields = h('div', { class: 'unload-fields' });
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'unload-submit', text: t('unload.submit') });
  const result = h('div', { class: 'result', testid: 'unload-result', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'unload', testid: 'unload-form', novalidate: true, onsubmit: onSubmit },
    title,
    fields,
    h('div', { class: 'actions' }, submit),
    result,
  );
  const inputs = new Map();
  const zero = h('p', { class: 'warning', testid: 'unload-zero', hidden: true, text: t('unload.zero') });
  fields.after(zero);
  let shownFor = '';
  let sending = false;
  let unloaded = null; // {id, at, list}: the last unload, to which automatic placements are added

  function render() {
    const id = ctx.storageId();
    const storage = id ? ctx.view().storages.get(id) : null;
    if (!storage) {
      title.textContent = t('unload.select');
      fill(fields);
      inputs.clear();
      shownFor = '';
      submit.disabled = true;
      return;
    }
    title.textContent = quantities(storage.stock)
      ? t('unload.holds', { storage: storage.name, stock: quantities(storage.stock) })
      : t('unload.empty', { storage: storage.name });
    const types = Object.keys(storage.capacity || {}).sort();
    const key = `${id}:${types.join(',')}`;
    if (key !== shownFor) {
      shownFor = key;
      inputs.clear();
      fill(
        fields,
        types.map((type) => {
          const input = h('input', {
            id: `unload-${type}`,
            type: 'number',
            min: 0,
            step: 1,
            placeholder: '0',
            testid: `unload-${type}`,
            oninput: () => updateSubmit(),
          });
          inputs.set(type, input);
          return h(
            'div',
            { class: 'row' },
            h('label', { for: `unload-${type}`, text: t('handover.amount', { type: wasteTypeName(type) }) }),
            input,
            h('span', { class: 'muted holds', dataset: { type } }),
          );
        }),
      );
    }
    for (const holds of fields.querySelectorAll('.holds')) {
      holds.textContent = t('unload.typeHolds', { amount: kg((storage.stock || {})[holds.dataset.type] || 0) });
    }
    for (const [type, input] of inputs) {
      input.max = String((storage.stock || {})[type] || 0);
    }
    updateSubmit();
  }

  function amounts() {
    const { amounts: body, valid, total } = readKgInputs(inputs);
    return { body, valid, total };
  }

  function updateSubmit() {
    const a = amounts();
    submit.disabled = sending || !a.valid || a.total === 0 || !!ctx.rateLimited();
    // A typed 0 says why nothing happens.
    const typed = [...inputs.values()].some((input) => input.value.trim() !== '');
    zero.hidden = !(a.valid && a.total === 0 && typed);
  }

  async function onSubmit(event) {
    event.preventDefault();
    const id = ctx.storageId();
    const a = amounts();
    if (!id || !a.valid || a.total === 0) {
      return;
    }
    sending = true;
    updateSubmit();
    fill(result);
    try {
      const answer = await ctx.api.request('POST', `/v1/storages/${id}/unload`, {
        body: a.body,
        idempotencyKey: newIdempotencyKey(),
      });
      for (const input of inputs.values()) {
        input.value = '';
      }
      const list = h('ul', { testid: 'unload-automatic' });
      unloaded = { id, at: Date.now(), list };
      fill(
        result,
        h(
          'div',
          { class: 'success' },
          h('p', { text: t('unload.done', { storage: answer.body?.name || '', amounts: quantities(a.body) }) }),
          list,
        ),
      );
      if (answer.body && answer.body.id) {
        ctx.onStorage(answer.body);
      }
    } catch (error) {
      unloaded = null;
      fill(result, h('div', { class: 'error', testid: 'unload-error' }, problemView(error, 'unload')));
    } finally {
      sending = false;
      updateSubmit();
    }
  }

  // A transfer arrived (live): when it is an automatic placement into the storage just
  // unloaded, the unload's result says what moved in.
  function noteTransfer(transfer) {
    if (!unloaded || transfer.trigger !== 'auto' || Date.now() - unloaded.at > FOLLOW_MS) {
      return;
    }
    for (const s of transfer.shipments || []) {
      if (s.storage_id === unloaded.id) {
        unloaded.list.append(
          h('li', {
            text: t('unload.automatic', {
              amount: kg(s.amount),
              type: wasteTypeName(s.waste_type),
              organization: ctx.organizationName(transfer.organization_id),
              distance: metres(s.distance_m),
            }),
          }),
        );
      }
    }
  }

  return { el: form, render, noteTransfer };
}
