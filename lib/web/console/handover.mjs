// The hand-over form: amounts per waste type; while typing, a dry run
// (POST /v1/organizations/{id}/transfers?dry_run=true) shows where each kilogram would go;
// only a preview of exactly the amounts in the form enables "Hand over", which sends the
// same body with a random Idempotency-Key (kept for a retry of that same submission after a
// network or server failure, so the retry can never record it twice).

import { ApiError, newIdempotencyKey } from './api.mjs';
import { fill, h, readKgInputs } from './dom.mjs';
import { kg, metres, quantities } from './format.mjs';
import { t, wasteTypeName } from './i18n.mjs';
import { problemView } from './problems.mjs';

const PREVIEW_DELAY_MS = 300;

export function createHandover(ctx) {
  // ctx: { api, view(): the store's state (read only), storageName(id), organizationName(id),
  //        onTransfer(result), onActingOrgChanged(id), rateLimited(), canChooseOrg }
  const inputs = new Map();
  const orgSelect = h('select', { id: 'handover-org', testid: 'handover-org' });
  const fields = h('div', { class: 'handover-fields' });
  const preview = h('div', {
    class: 'preview',
    testid: 'handover-preview',
    'aria-live': 'polite',
    dataset: { state: 'empty' },
  });
  const hint = () => h('p', { class: 'muted', text: t('handover.hint') });
  preview.append(hint());
  const submit = h('button', {
    type: 'submit',
    class: 'primary',
    testid: 'handover-submit',
    disabled: true,
    text: t('handover.submit'),
  });
  const result = h('div', { class: 'result', testid: 'handover-result', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'handover', testid: 'handover-form', novalidate: true, onsubmit: onSubmit },
    h(
      'div',
      { class: 'row org-row' },
      h('label', { for: 'handover-org', text: t('handover.organization') }),
      orgSelect,
    ),
    fields,
    h('h4', { text: t('handover.where') }),
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
    const types = ctx.view().wasteTypes.map((type) => type.code);
    if (types.join(',') !== typesShown) {
      typesShown = types.join(',');
      inputs.clear();
      fill(
        fields,
        ctx.view().wasteTypes.map((type) => {
          const input = h('input', {
            id: `handover-${type.code}`,
            name: type.code,
            type: 'number',
            min: 0,
            step: 1,
            inputmode: 'numeric',
            placeholder: '0',
            testid: `handover-${type.code}`,
            oninput: schedulePreview,
          });
          inputs.set(type.code, input);
          return h(
            'div',
            { class: 'row' },
            h('label', {
              for: `handover-${type.code}`,
              text: t('handover.amount', { type: wasteTypeName(type.code, type.name) }),
            }),
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
        h('option', { value: '', text: t('handover.choose') }),
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
      setPreview('empty', h('p', { class: 'muted', text: t('handover.chooseFirst') }));
      return;
    }
    if (!amounts.valid) {
      setPreview('invalid', h('p', { class: 'error', text: t('amount.invalid', { max: 1e12 }) }));
      return;
    }
    if (amounts.total === 0) {
      // A typed 0 says why nothing happens; an empty form only shows the hint.
      const typed = [...inputs.values()].some((input) => input.value.trim() !== '');
      setPreview(
        'empty',
        typed ? h('p', { class: 'warning', testid: 'handover-zero', text: t('handover.zero') }) : hint(),
      );
      return;
    }
    setPreview('loading', h('p', { class: 'muted', text: t('handover.working') }));
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
      // A success shown for the last hand-over must not stay beside this error.
      fill(result);
      setPreview('error', problemView(error, 'handover'));
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
        h('td', { text: wasteTypeName(s.waste_type) }),
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
                h('th', { text: t('col.storage') }),
                h('th', { text: t('col.type') }),
                h('th', { class: 'num', text: t('col.amount') }),
                h('th', { class: 'num', text: t('col.distance') }),
              ),
            ),
            h('tbody', null, rows),
          )
        : h('p', { class: 'muted', text: t('handover.noRoom') }),
      h('p', {
        class: pending ? 'warning' : 'muted',
        testid: 'preview-pending',
        text: pending ? t('handover.wouldPend', { pending }) : t('handover.nothingWouldPend'),
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
    submit.textContent = t('handover.sending');
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
          problemView(error, 'handover'),
          retriable ? h('p', { class: 'muted', text: t('handover.retry') }) : null,
        ),
      );
    } finally {
      sending = false;
      submit.textContent = t('handover.submit');
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
            ? t(replayed ? 'handover.replayed' : 'handover.recorded', { id: String(transfer.id) })
            : t('handover.nothing'),
        }),
        shipments.length
          ? h(
              'ul',
              null,
              shipments.map((s) =>
                h('li', {
                  testid: 'handover-placed',
                  text: t('placed.line', {
                    storage: ctx.storageName(s.storage_id),
                    type: wasteTypeName(s.waste_type),
                    amount: kg(s.amount),
                    distance: metres(s.distance_m),
                  }),
                }),
              ),
            )
          : null,
        h('p', {
          text: quantities(transfer.pending)
            ? t('handover.pending', { pending: quantities(transfer.pending) })
            : t('handover.nothingPending'),
        }),
        differs
          ? h('p', {
              class: 'warning',
              text: t('handover.differs'),
            })
          : null,
      ),
    );
  }

  return { el: form, render, refreshPreview: schedulePreview, updateSubmit };
}
