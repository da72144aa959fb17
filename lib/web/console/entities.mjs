// For an admin: the form that adds or edits a storage (name, capacity per waste type, intake)
// or an organization (name, on-site limit per type). POST /v1/storages, /v1/organizations to
// add; PATCH /v1/storages/{id}, /v1/organizations/{id} to edit, sending only what changed
// (a capacity emptied is removed: null in the merge patch). The intake is sent only when
// it is chosen "weighed" or changed, so the form also works on a service without it.

import { newIdempotencyKey } from './api.mjs';
import { fill, h } from './dom.mjs';
import { parseKg } from './format.mjs';
import { t, wasteTypeName } from './i18n.mjs';
import { problemView } from './problems.mjs';

const INTAKES = ['automatic', 'weighed'];

// What the form asks of the service, or {error: message key} when the form is not valid.
// kind: 'storage' | 'organization'; entity: null to add one; form: {name, capacity: {type:
// text typed}, intake}. Pure: unit-tested.
export function entityRequest(kind, entity, form) {
  const name = form.name.trim();
  if (!name) {
    return { error: 'entity.nameMissing' };
  }
  const before = (entity && entity.capacity) || {};
  const capacity = {};
  let accepted = 0;
  for (const [type, text] of Object.entries(form.capacity)) {
    const trimmed = String(text ?? '').trim();
    if (trimmed === '') {
      if (entity && before[type] !== undefined) {
        capacity[type] = null;
      }
      continue;
    }
    const value = parseKg(trimmed);
    if (value === null) {
      return { error: 'entity.badAmount', type };
    }
    accepted++;
    if (!entity || before[type] !== value) {
      capacity[type] = value;
    }
  }
  if (kind === 'storage' && accepted === 0) {
    return { error: 'entity.noType' };
  }
  const path = kind === 'storage' ? '/v1/storages' : '/v1/organizations';
  if (!entity) {
    const body = { name, capacity };
    if (kind === 'storage' && form.intake === 'weighed') {
      body.intake = 'weighed';
    }
    return { method: 'POST', path, body };
  }
  const body = {};
  if (name !== entity.name) {
    body.name = name;
  }
  if (Object.keys(capacity).length) {
    body.capacity = capacity;
  }
  if (kind === 'storage' && form.intake && form.intake !== (entity.intake || 'automatic')) {
    body.intake = form.intake;
  }
  if (Object.keys(body).length === 0) {
    return { nothing: true };
  }
  return { method: 'PATCH', path: `${path}/${entity.id}`, body };
}

// ctx: { api, view() }; onSaved(entity) gets the service's answer.
export function entityForm(ctx, kind, entity, onSaved) {
  const prefix = `${kind}-${entity ? entity.id : 'new'}`;
  const message = h('div', { class: 'result', 'aria-live': 'polite', testid: `${prefix}-result` });
  const name = h('input', {
    id: `${prefix}-name`,
    testid: `${prefix}-name`,
    type: 'text',
    maxlength: 200,
    required: true,
    value: entity ? entity.name : '',
  });
  const inputs = new Map();
  const rows = ctx.view().wasteTypes.map((type) => {
    const current = ((entity && entity.capacity) || {})[type.code];
    const id = `${prefix}-capacity-${type.code}`;
    const input = h('input', {
      id,
      type: 'number',
      min: 0,
      step: 1,
      class: 'narrow',
      value: current === undefined ? '' : String(current),
      placeholder: t(kind === 'storage' ? 'entity.notAccepted' : 'entity.noLimit'),
      testid: id,
    });
    inputs.set(type.code, input);
    return h('div', { class: 'row' }, h('label', { for: id, text: wasteTypeName(type.code, type.name) }), input);
  });
  const intake =
    kind === 'storage'
      ? h(
          'select',
          { id: `${prefix}-intake`, testid: `${prefix}-intake` },
          INTAKES.map((value) => h('option', { value, text: t(`intake.${value}`) })),
        )
      : null;
  if (intake) {
    intake.value = (entity && entity.intake) || 'automatic';
  }

  async function save(event) {
    event.preventDefault();
    const capacity = {};
    for (const [type, input] of inputs) {
      capacity[type] = input.value;
    }
    const request = entityRequest(kind, entity, { name: name.value, capacity, intake: intake?.value });
    if (request.error) {
      fill(
        message,
        h('p', { class: 'error', text: t(request.error, { type: request.type ? wasteTypeName(request.type) : '' }) }),
      );
      return;
    }
    if (request.nothing) {
      fill(message, h('p', { class: 'muted', text: t('entity.nothing') }));
      return;
    }
    fill(message);
    try {
      const answer = await ctx.api.request(request.method, request.path, {
        body: request.body,
        idempotencyKey: request.method === 'POST' ? newIdempotencyKey() : undefined,
      });
      fill(message, h('p', { class: 'success', text: t('entity.saved', { name: answer.body?.name || '' }) }));
      if (!entity) {
        name.value = '';
        for (const input of inputs.values()) input.value = '';
      }
      onSaved(answer.body);
    } catch (error) {
      fill(message, problemView(error, 'save'));
    }
  }

  return h(
    'form',
    { class: 'entity-form', testid: `${prefix}-form`, novalidate: true, onsubmit: save },
    h('div', { class: 'row' }, h('label', { for: `${prefix}-name`, text: t('entity.name') }), name),
    h('p', { class: 'muted', text: t(kind === 'storage' ? 'entity.capacityHelp' : 'entity.limitHelp') }),
    rows,
    intake
      ? h('div', { class: 'row' }, h('label', { for: `${prefix}-intake`, text: t('entity.intake') }), intake)
      : null,
    h(
      'div',
      { class: 'actions' },
      h('button', {
        type: 'submit',
        class: 'small primary',
        testid: `${prefix}-save`,
        text: t(entity ? 'save' : kind === 'storage' ? 'entity.addStorage' : 'entity.addOrganization'),
      }),
    ),
    message,
  );
}
