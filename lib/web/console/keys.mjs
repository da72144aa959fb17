// API keys, for an admin: create one (its secret is shown once), list them, revoke one.

import { newIdempotencyKey } from './api.mjs';
import { fill, h } from './dom.mjs';
import { time } from './format.mjs';
import { t } from './i18n.mjs';
import { problemView } from './problems.mjs';

// A button that asks once more before it acts: "Revoke" -> "Really revoke?".
export function confirmButton(label, confirmLabel, testid, action) {
  let armed = false;
  let timer = null;
  const button = h('button', {
    type: 'button',
    class: 'danger small',
    testid,
    text: label,
    onclick: async () => {
      if (!armed) {
        armed = true;
        button.textContent = confirmLabel;
        timer = setTimeout(() => {
          armed = false;
          button.textContent = label;
        }, 4000);
        return;
      }
      clearTimeout(timer);
      button.disabled = true;
      await action();
      button.disabled = false;
      armed = false;
      button.textContent = label;
    },
  });
  return button;
}

export function createKeys(ctx) {
  // ctx: { api, view(): the store's state (read only) }
  let keys = [];
  const role = h(
    'select',
    { id: 'key-role', testid: 'key-role' },
    ['organization', 'storage', 'auditor', 'monitor', 'admin'].map((r) =>
      h('option', { value: r, text: t(`role.${r}`) }),
    ),
  );
  const scope = h('select', { id: 'key-scope', testid: 'key-scope' });
  const name = h('input', {
    id: 'key-name',
    testid: 'key-name',
    type: 'text',
    maxlength: 200,
    placeholder: t('keys.namePlaceholder'),
  });
  const expires = h('input', { id: 'key-expires', testid: 'key-expires', type: 'date' });
  const created = h('div', { class: 'result', testid: 'key-created', 'aria-live': 'polite' });
  const list = h('div', { testid: 'keys-list' });
  const form = h(
    'form',
    { class: 'keys-form', testid: 'key-form', novalidate: true, onsubmit: onCreate },
    h('div', { class: 'row' }, h('label', { for: 'key-role', text: t('keys.role') }), role),
    h('div', { class: 'row scope-row' }, h('label', { for: 'key-scope', text: t('keys.for') }), scope),
    h('div', { class: 'row' }, h('label', { for: 'key-name', text: t('keys.name') }), name),
    h('div', { class: 'row' }, h('label', { for: 'key-expires', text: t('keys.expires') }), expires),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', testid: 'key-create', text: t('keys.create') }),
    ),
    created,
  );
  const el = h('div', { class: 'keys' }, form, h('h4', { text: t('keys.list') }), list);
  role.addEventListener('change', renderScope);

  function renderScope() {
    const r = role.value;
    const row = form.querySelector('.scope-row');
    row.hidden = r !== 'organization' && r !== 'storage';
    const source = r === 'organization' ? ctx.view().organizations : ctx.view().storages;
    const current = scope.value;
    fill(
      scope,
      [...source.values()].map((x) => h('option', { value: String(x.id), text: x.name })),
    );
    if (current) {
      scope.value = current;
    }
  }

  async function onCreate(event) {
    event.preventDefault();
    const body = {
      role: role.value,
      name: name.value.trim() || t('keys.defaultName', { role: t(`role.${role.value}`) }),
    };
    if (role.value === 'organization') {
      body.organization_id = Number(scope.value);
    } else if (role.value === 'storage') {
      body.storage_id = Number(scope.value);
    }
    if (expires.value) {
      // valid through the chosen day, in the admin's own time zone
      body.expires_at = new Date(`${expires.value}T23:59:59`).toISOString().replace(/\.\d+Z$/, 'Z');
    }
    fill(created);
    try {
      const answer = await ctx.api.request('POST', '/v1/api-keys', { body, idempotencyKey: newIdempotencyKey() });
      const key = answer.body || {};
      const secret = h('code', { class: 'secret', testid: 'key-secret', text: key.key || '' });
      fill(
        created,
        h(
          'div',
          { class: 'success' },
          h('p', {
            class: 'strong',
            text: t('keys.created', { id: String(key.id), role: t(`role.${key.role}`) }),
          }),
          secret,
          h('button', {
            type: 'button',
            class: 'small',
            text: t('keys.copy'),
            onclick: () => navigator.clipboard?.writeText(key.key || '').catch(() => {}),
          }),
        ),
      );
      name.value = '';
      await load();
    } catch (error) {
      fill(created, problemView(error));
    }
  }

  async function load() {
    try {
      const page = await ctx.api.listAll('/v1/api-keys', {}, { pageSize: 100, maxItems: 1000 });
      keys = page.items;
      renderList();
    } catch (error) {
      fill(list, problemView(error));
    }
  }

  function scopeText(key) {
    if (key.organization_id) {
      return (
        ctx.view().organizations.get(key.organization_id)?.name ||
        t('name.organization', { id: String(key.organization_id) })
      );
    }
    if (key.storage_id) {
      return ctx.view().storages.get(key.storage_id)?.name || t('name.storage', { id: String(key.storage_id) });
    }
    return '—';
  }

  function renderList() {
    if (keys.length === 0) {
      fill(list, h('p', { class: 'muted', text: t('keys.none') }));
      return;
    }
    fill(
      list,
      h(
        'table',
        { class: 'keys-table' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['#', t('keys.role'), t('keys.for'), t('keys.name'), t('keys.createdAt'), t('keys.validUntil'), ''].map(
              (label) => h('th', { text: label }),
            ),
          ),
        ),
        h(
          'tbody',
          null,
          keys.map((key) =>
            h(
              'tr',
              { testid: `key-${key.id}`, class: key.revoked_at ? 'revoked' : '' },
              h('td', { text: key.id }),
              h('td', { text: t(`role.${key.role}`) }),
              h('td', { text: scopeText(key) }),
              h('td', { text: key.name || '' }),
              h('td', { text: key.created_at ? time(key.created_at) : '' }),
              h('td', {
                text: key.revoked_at
                  ? t('keys.revoked', { at: time(key.revoked_at) })
                  : key.expires_at
                    ? time(key.expires_at)
                    : t('keys.never'),
              }),
              h(
                'td',
                null,
                key.revoked_at || key.id === ctx.view().me?.key_id
                  ? key.id === ctx.view().me?.key_id
                    ? h('span', { class: 'muted', text: t('keys.thisSession') })
                    : null
                  : confirmButton(t('keys.revoke'), t('keys.revokeConfirm'), `key-revoke-${key.id}`, async () => {
                      try {
                        await ctx.api.request('DELETE', `/v1/api-keys/${key.id}`);
                        await load();
                      } catch (error) {
                        fill(created, problemView(error));
                      }
                    }),
              ),
            ),
          ),
        ),
      ),
    );
  }

  return {
    el,
    load,
    render: () => {
      renderScope();
      renderList();
    },
  };
}
