// The weighbridge: a storage operator's loads on their way (movements in transit, kept
// current by `movement` events) and the receipt of one of them — ticket, weighed
// kilograms, refused kilograms and why — sent once (POST /v1/movements/{id}/receipt with an
// Idempotency-Key). Made for a phone or a tablet at the scale: the loads first, one column,
// big fields. The result is said in words (accepted, partly refused, refused; a weight far
// from the plan), refusals too.

import { newIdempotencyKey } from './api.mjs';
import { fill, h } from './dom.mjs';
import { kg, time } from './format.mjs';
import { t, wasteTypeName } from './i18n.mjs';
import { loadsInOrder, receiptOutcome, receiptRequest } from './movements.mjs';
import { problemView } from './problems.mjs';

// ctx: { api, view(): the store's state, organizationName(id), rateLimited(),
//        onReceipt(movement): the answer, for the store }
export function createWeighbridge(ctx) {
  const list = h('ul', { class: 'loads', testid: 'weighbridge-loads' });
  const result = h('div', { class: 'result', testid: 'receipt-result', 'aria-live': 'polite' });
  const el = h('div', { class: 'weighbridge', testid: 'weighbridge' }, result, list);
  let chosen = null; // the movement id whose form is open
  let form = null; // {id, el, inputs, errors, submit}
  let sending = false;

  function travelling() {
    return loadsInOrder(ctx.view().movements.values()).filter((m) => m.status === 'in_transit');
  }

  function render() {
    const s = ctx.view();
    if (s.loading.movements && s.movements.size === 0) {
      fill(list, h('li', { class: 'muted loading', text: t('weighbridge.loading') }));
      return;
    }
    if (s.errors.movements) {
      fill(list, h('li', null, problemView(s.errors.movements)));
      return;
    }
    const loads = travelling();
    if (chosen !== null && !loads.some((m) => m.id === chosen)) {
      chosen = null;
    }
    if (loads.length === 0) {
      fill(list, h('li', { class: 'muted', testid: 'weighbridge-none', text: t('weighbridge.none') }));
      return;
    }
    // The open form survives a redraw (another load arriving) with what was typed in it.
    fill(
      list,
      loads.map((m) => {
        const item = h(
          'li',
          { class: ['load', m.id === chosen ? 'chosen' : ''], testid: `load-${m.id}`, dataset: { id: m.id } },
          h(
            'div',
            { class: 'load-head' },
            h('strong', {
              text: t('weighbridge.load', { type: wasteTypeName(m.waste_type), amount: kg(m.planned_kg) }),
            }),
            h('span', {
              class: 'muted',
              text: t('weighbridge.from', {
                organization: ctx.organizationName(m.organization_id),
                when: time(m.created_at),
              }),
            }),
            m.carrier || m.vehicle
              ? h('span', {
                  class: 'muted',
                  text: [m.carrier, m.vehicle].filter(Boolean).join(' · '),
                })
              : null,
          ),
          m.id === chosen
            ? formFor(m).el
            : h('button', {
                type: 'button',
                class: 'primary',
                testid: `load-${m.id}-receive`,
                text: t('weighbridge.receive'),
                onclick: () => choose(m.id),
              }),
        );
        return item;
      }),
    );
  }

  function choose(id) {
    chosen = id;
    fill(result);
    render();
    form?.inputs.received.focus();
  }

  function field(id, label, input, hint) {
    return h(
      'div',
      { class: 'field' },
      h('label', { for: id, text: label }),
      input,
      hint ? h('span', { class: 'muted hint', id: `${id}-hint`, text: hint }) : null,
    );
  }

  function formFor(m) {
    if (form && form.id === m.id) {
      return form;
    }
    const ids = {
      ticket: `receipt-${m.id}-ticket`,
      received: `receipt-${m.id}-received`,
      rejected: `receipt-${m.id}-rejected`,
      reason: `receipt-${m.id}-reason`,
    };
    const inputs = {
      ticket: h('input', {
        id: ids.ticket,
        type: 'text',
        maxlength: 200,
        testid: 'receipt-ticket',
        autocomplete: 'off',
      }),
      received: h('input', {
        id: ids.received,
        type: 'text',
        inputmode: 'numeric',
        testid: 'receipt-received',
        autocomplete: 'off',
        'aria-describedby': `${ids.received}-hint`,
      }),
      rejected: h('input', {
        id: ids.rejected,
        type: 'text',
        inputmode: 'numeric',
        placeholder: '0',
        testid: 'receipt-rejected',
        autocomplete: 'off',
      }),
      reason: h('textarea', { id: ids.reason, rows: 2, maxlength: 500, testid: 'receipt-reason' }),
    };
    const errors = h('ul', { class: 'error' });
    const errorBox = h('div', { testid: 'receipt-errors', role: 'alert', hidden: true }, errors);
    const submit = h('button', {
      type: 'submit',
      class: 'primary',
      testid: 'receipt-submit',
      text: t('receipt.submit'),
    });
    const cancel = h('button', {
      type: 'button',
      class: 'small',
      text: t('receipt.cancel'),
      onclick: () => {
        chosen = null;
        form = null;
        render();
      },
    });
    const reasonField = field(ids.reason, t('receipt.reason'), inputs.reason, t('receipt.reasonHint'));
    const el = h(
      'form',
      { class: 'receipt', testid: 'receipt-form', novalidate: true, onsubmit: (e) => onSubmit(e, m.id) },
      field(ids.ticket, t('receipt.ticket'), inputs.ticket),
      field(ids.received, t('receipt.weighedKg'), inputs.received, t('receipt.planned', { amount: kg(m.planned_kg) })),
      field(ids.rejected, t('receipt.refusedKg'), inputs.rejected),
      reasonField,
      errorBox,
      h('div', { class: 'actions' }, submit, cancel),
    );
    for (const input of Object.values(inputs)) {
      input.addEventListener('input', () => check(false));
    }
    form = { id: m.id, el, inputs, errors, errorBox, submit };
    return form;
  }

  // The typed fields checked as the service would; shown when asked (on submit) or once
  // shown, kept current as the operator corrects them.
  function check(show) {
    const read = receiptRequest({
      ticket: form.inputs.ticket.value,
      received: form.inputs.received.value,
      rejected: form.inputs.rejected.value,
      reason: form.inputs.reason.value,
    });
    const fieldOf = { received_kg: 'received', rejected_kg: 'rejected', rejection_reason: 'reason', ticket: 'ticket' };
    const bad = new Set(read.errors.map((e) => fieldOf[e.field]));
    if (show || !form.errorBox.hidden) {
      for (const [name, input] of Object.entries(form.inputs)) {
        input.classList.toggle('invalid', bad.has(name));
        if (bad.has(name)) input.setAttribute('aria-invalid', 'true');
        else input.removeAttribute('aria-invalid');
      }
      fill(
        form.errors,
        read.errors.map((e) => h('li', { text: t(e.key) })),
      );
      form.errorBox.hidden = read.errors.length === 0;
    }
    form.submit.disabled = sending || !!ctx.rateLimited();
    return read;
  }

  async function onSubmit(event, id) {
    event.preventDefault();
    const read = check(true);
    if (!read.body || sending) {
      return;
    }
    sending = true;
    form.submit.disabled = true;
    fill(result);
    try {
      const answer = await ctx.api.request('POST', `/v1/movements/${id}/receipt`, {
        body: read.body,
        idempotencyKey: form.idempotencyKey || (form.idempotencyKey = newIdempotencyKey()),
      });
      const movement = answer.body;
      const outcome = receiptOutcome(movement);
      fill(
        result,
        h(
          'div',
          {
            class: movement.status === 'accepted' ? 'success' : 'warning-box',
            testid: 'receipt-outcome',
            dataset: { status: movement.status },
          },
          h('p', {
            text: t(outcome.key, {
              id: String(movement.id),
              type: wasteTypeName(movement.waste_type),
              accepted: kg(movement.accepted_kg ?? 0),
              rejected: kg(movement.rejected_kg ?? 0),
              received: kg(movement.received_kg ?? 0),
            }),
          }),
          movement.rejected_kg > 0
            ? h('p', { text: t('receipt.returned', { amount: kg(movement.rejected_kg) }) })
            : null,
          outcome.variance
            ? h('p', {
                class: 'warning',
                testid: 'receipt-variance',
                text: t('receipt.variance', {
                  planned: kg(outcome.variance.planned_kg ?? movement.planned_kg),
                  received: kg(outcome.variance.received_kg ?? movement.received_kg),
                }),
              })
            : null,
        ),
      );
      chosen = null;
      form = null;
      ctx.onReceipt(movement);
    } catch (error) {
      // A refusal keeps the form as typed, so the operator corrects it (the next attempt is
      // a new request: what was refused changed nothing).
      if (form) form.idempotencyKey = null;
      fill(result, h('div', { class: 'error', testid: 'receipt-error' }, problemView(error, 'receipt')));
    } finally {
      sending = false;
      if (form) form.submit.disabled = !!ctx.rateLimited();
      render();
    }
  }

  return { el, render };
}
