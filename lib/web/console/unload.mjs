// Unload: a storage ships waste out for recycling (POST /v1/storages/{id}/unload), freeing
// room. A storage's operator unloads their own storage; an admin the selected one.

import { newIdempotencyKey } from './api.mjs';
import { fill, h, readKgInputs } from './dom.mjs';
import { kg, quantities } from './format.mjs';
import { problemView } from './handover.mjs';

export function createUnload(ctx) {
  // ctx: { api, view(): the store's state (read only), storageId(), onStorage(storage), rateLimited() }
  const title = h('p', { class: 'muted', testid: 'unload-storage' });
  const fields = h('div', { class: 'unload-fields' });
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'unload-submit', text: 'Unload' });
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
  let shownFor = '';
  let sending = false;

  function render() {
    const id = ctx.storageId();
    const storage = id ? ctx.view().storages.get(id) : null;
    if (!storage) {
      title.textContent = 'Select a storage in the network or the list to unload it.';
      fill(fields);
      inputs.clear();
      shownFor = '';
      submit.disabled = true;
      return;
    }
    title.textContent = `${storage.name} holds ${quantities(storage.stock) || 'nothing'}.`;
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
            h('label', { for: `unload-${type}`, text: `${type} (kg)` }),
            input,
            h('span', { class: 'muted holds', dataset: { type } }),
          );
        }),
      );
    }
    for (const holds of fields.querySelectorAll('.holds')) {
      holds.textContent = `holds ${kg((storage.stock || {})[holds.dataset.type] || 0)}`;
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
      fill(result, h('p', { class: 'success', text: `Unloaded ${quantities(a.body)}.` }));
      if (answer.body && answer.body.id) {
        ctx.onStorage(answer.body);
      }
    } catch (error) {
      fill(result, h('div', { class: 'error', testid: 'unload-error' }, problemView(error)));
    } finally {
      sending = false;
      updateSubmit();
    }
  }

  return { el: form, render };
}
