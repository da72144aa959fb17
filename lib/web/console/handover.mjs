// The hand-over form: amounts per waste type; while typing, a dry run
// (POST /v1/organizations/{id}/transfers?dry_run=true) shows where each kilogram would go;
// only a preview of exactly the amounts in the form enables "Hand over", which sends the
// same body with a random Idempotency-Key (kept for a retry of that same submission after a
// network or server failure, so the retry can never record it twice).

import { ApiError, newIdempotencyKey } from './api.mjs';
import { fill, h, readKgInputs } from './dom.mjs';
import { kg, metres, quantities } from './format.mjs';

const PREVIEW_DELAY_MS = 300;

export function createHandover(ctx) {
  // ctx: { api, view(): the store's state (read only), storageName(id), organizationName(id),
  //        onTransfer(result), onActingOrgChanged(id), rateLimited(), canChooseOrg }
  const inputs = new Map();
  const orgSelect = h('select', { id: 'handover-org', testid: 'handover-org', 'aria-label': 'Organization' });
  const fields = h('div', { class: 'handover-fields' });
  const preview = h('div', {
    class: 'preview',
    testid: 'handover-preview',
    'aria-live': 'polite',
    dataset: { state: 'empty' },
  });
  const hint = () => h('p', { class: 'muted', text: 'Enter the kilograms to hand over to see where they would go.' });
  preview.append(hint());
  const submit = h('button', {
    type: 'submit',
    class: 'primary',
    testid: 'handover-submit',
    disabled: true,
    text: 'Hand over',
  });
  const result = h('div', { class: 'result', testid: 'handover-result', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'handover', testid: 'handover-form', novalidate: true, onsubmit: onSubmit },
    h('div', { class: 'row org-row' }, h('label', { for: 'handover-org', text: 'Organization' }), orgSelect),
    fields,
    h('h4', { text: 'Where it would go' }),
    preview,
    h('div', { class: 'actions' }, submit),
    result,
  );
  let previewSeq = 0;
  let previewTimer = null;
  let previewed = null; // {org, signature, plan} when the preview matches the form
  let submission = null; // {org, signature, key} of a submission that may be retried
  let sending = false;
  let typesShown = '';

  orgSelect.addEventListener('change', () => {
    ctx.onActingOrgChanged(Number(orgSelect.value) || null);
    schedulePreview();
  });

  function orgId() {
    return ctx.view().actingOrg;
  }

  function readAmounts() {
    const { amounts: waste, valid, total } = readKgInputs(inputs);
    return { waste, valid, total, signature: JSON.stringify(waste) };
  }

  function render() {
    const types = ctx.view().wasteTypes.map((t) => t.code);
    if (types.join(',') !== typesShown) {
      typesShown = types.join(',');
      inputs.clear();
      fill(
        fields,
        ctx.view().wasteTypes.map((t) => {
          const input = h('input', {
            id: `handover-${t.code}`,
            name: t.code,
            type: 'number',
            min: 0,
            step: 1,
            inputmode: 'numeric',
            placeholder: '0',
            testid: `handover-${t.code}`,
            oninput: schedulePreview,
          });
          inputs.set(t.code, input);
          return h(
            'div',
            { class: 'row' },
            h('label', { for: `handover-${t.code}`, text: `${t.name || t.code} (kg)` }),
            input,
          );
        }),
      );
    }
    form.querySelector('.org-row').hidden = !ctx.canChooseOrg;
    if (ctx.canChooseOrg) {
      const current = String(orgId() ?? '');
      fill(
        orgSelect,
        h('option', { value: '', text: 'Choose an organization' }),
        [...ctx.view().organizations.values()].map((o) => h('option', { value: String(o.id), text: o.name })),
      );
      orgSelect.value = current;
    }
    updateSubmit();
  }

  function updateSubmit() {
    const amounts = readAmounts();
    const ready =
      !sending &&
      orgId() &&
      amounts.valid &&
      amounts.total > 0 &&
      previewed &&
      previewed.org === orgId() &&
      previewed.signature === amounts.signature &&
      !ctx.rateLimited();
    submit.disabled = !ready;
  }

  function schedulePreview() {
    previewed = null;
    if (submission && submission.signature !== readAmounts().signature) {
      submission = null; // a changed form is a new submission with a new key
    }
    clearTimeout(previewTimer);
    previewTimer = setTimeout(runPreview, PREVIEW_DELAY_MS);
    updateSubmit();
  }

  function setPreview(state, ...children) {
    preview.dataset.state = state;
    fill(preview, ...children);
  }

  async function runPreview() {
    const amounts = readAmounts();
    const org = orgId();
    const seq = ++previewSeq;
    if (!org) {
      setPreview('empty', h('p', { class: 'muted', text: 'Choose an organization first.' }));
      return;
    }
    if (!amounts.valid) {
      setPreview('invalid', h('p', { class: 'error', text: 'Amounts are whole kilograms, 0 to 1,000,000,000,000.' }));
      return;
    }
    if (amounts.total === 0) {
      setPreview('empty', hint());
      return;
    }
    setPreview('loading', h('p', { class: 'muted', text: 'Working out where it would go…' }));
    try {
      const answer = await ctx.api.request('POST', `/v1/organizations/${org}/transfers`, {
        query: { dry_run: 'true' },
        body: { waste: amounts.waste },
      });
      if (seq !== previewSeq) {
        return; // the form changed meanwhile
      }
      previewed = { org, signature: amounts.signature, plan: answer.body };
      setPreview('ready', planTable(answer.body));
      preview.dataset.signature = amounts.signature;
    } catch (error) {
      if (seq !== previewSeq) {
        return;
      }
      setPreview('error', problemView(error));
      if (error instanceof ApiError && error.status === 429) {
        // Asked to wait: ask again once the wait is over, unless the form changed meanwhile.
        clearTimeout(previewTimer);
        previewTimer = setTimeout(runPreview, ((error.retryAfter ?? 1) + 0.2) * 1000);
      }
    }
    updateSubmit();
  }

  function planTable(plan) {
    const shipments = plan.shipments || [];
    const rows = shipments.map((s) =>
      h(
        'tr',
        { testid: 'preview-row', dataset: { storageId: s.storage_id, wasteType: s.waste_type, amount: s.amount } },
        h('td', { text: ctx.storageName(s.storage_id) }),
        h('td', { text: s.waste_type }),
        h('td', { class: 'num', text: kg(s.amount) }),
        h('td', { class: 'num', text: metres(s.distance_m) }),
      ),
    );
    const pending = quantities(plan.pending);
    return [
      shipments.length
        ? h(
            'table',
            { class: 'plan' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                h('th', { text: 'Storage' }),
                h('th', { text: 'Type' }),
                h('th', { class: 'num', text: 'Amount' }),
                h('th', { class: 'num', text: 'Distance' }),
              ),
            ),
            h('tbody', null, rows),
          )
        : h('p', { class: 'muted', text: 'No reachable storage has room: nothing would be placed now.' }),
      h('p', {
        class: pending ? 'warning' : 'muted',
        testid: 'preview-pending',
        text: pending ? `Would stay pending at the organization: ${pending}.` : 'Nothing would stay pending.',
      }),
    ];
  }

  async function onSubmit(event) {
    event.preventDefault();
    updateSubmit();
    if (submit.disabled) {
      return;
    }
    const org = orgId();
    const amounts = readAmounts();
    if (!submission || submission.org !== org || submission.signature !== amounts.signature) {
      submission = { org, signature: amounts.signature, key: newIdempotencyKey() };
    }
    sending = true;
    submit.textContent = 'Sending…';
    updateSubmit();
    fill(result);
    try {
      const answer = await ctx.api.request('POST', `/v1/organizations/${org}/transfers`, {
        body: { waste: amounts.waste },
        idempotencyKey: submission.key,
      });
      submission = null;
      showResult(answer.body, answer.replayed, previewed?.plan);
      for (const input of inputs.values()) {
        input.value = '';
      }
      previewed = null;
      setPreview('empty', hint());
      ctx.onTransfer(answer.body);
    } catch (error) {
      const retriable =
        error instanceof ApiError &&
        (error.status === 0 ||
          error.status >= 500 ||
          (error.status === 409 && error.problem?.type?.includes('in-flight')));
      if (!retriable) {
        submission = null;
      }
      fill(
        result,
        h(
          'div',
          { class: 'error', testid: 'handover-error' },
          problemView(error),
          retriable
            ? h('p', { class: 'muted', text: 'Press "Hand over" again to retry; it cannot be recorded twice.' })
            : null,
        ),
      );
    } finally {
      sending = false;
      submit.textContent = 'Hand over';
      updateSubmit();
    }
  }

  function showResult(transfer, replayed, plan) {
    const shipments = transfer.shipments || [];
    const differs = plan && JSON.stringify(plan.shipments || []) !== JSON.stringify(shipments);
    fill(
      result,
      h(
        'div',
        { class: 'success', dataset: { transferId: transfer.id ?? '' } },
        h('p', {
          class: 'strong',
          text: transfer.id
            ? `Transfer #${transfer.id} recorded${replayed ? ' (already recorded: replayed)' : ''}.`
            : 'Nothing to record: nothing was received or placed.',
        }),
        shipments.length
          ? h(
              'ul',
              null,
              shipments.map((s) =>
                h('li', {
                  text: `${ctx.storageName(s.storage_id)}: ${s.waste_type} ${kg(s.amount)} (${metres(s.distance_m)})`,
                }),
              ),
            )
          : null,
        h('p', {
          text: quantities(transfer.pending)
            ? `Pending at the organization: ${quantities(transfer.pending)}.`
            : 'Nothing is pending.',
        }),
        differs
          ? h('p', {
              class: 'warning',
              text: 'Others changed the storages since the preview: this is where it actually went.',
            })
          : null,
      ),
    );
  }

  return { el: form, render, refreshPreview: schedulePreview, updateSubmit };
}

export function problemView(error) {
  if (!(error instanceof ApiError)) {
    return h('p', { class: 'error', text: String(error && error.message ? error.message : error) });
  }
  const status = error.status ? `${error.status} ${error.problem.title || ''}`.trim() : 'Network error';
  return h(
    'div',
    { class: 'problem', dataset: { status: error.status } },
    h('p', { class: 'error' }, h('strong', { text: `${status}: ` }), error.detail),
    error.fieldErrors.length
      ? h(
          'ul',
          null,
          error.fieldErrors.map((text) => h('li', { text })),
        )
      : null,
  );
}
