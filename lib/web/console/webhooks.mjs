// Webhook subscriptions: an admin creates one (URL and events; its whsec_ signing secret is
// shown this once), lists and deletes them; an admin or auditor reads one's delivery
// attempts. The auditor sees the same list without the form and the delete buttons.

import { fill, h } from './dom.mjs';
import { time } from './format.mjs';
import { t } from './i18n.mjs';
import { confirmButton } from './keys.mjs';
import { deliveryOutcome, WEBHOOK_EVENTS } from './planning.mjs';
import { problemView } from './problems.mjs';

// ctx: { api, canEdit: true for an admin }
export function createWebhooks(ctx) {
  let hooks = [];
  const created = h('div', { class: 'result', testid: 'webhook-created', 'aria-live': 'polite' });
  const list = h('div', { testid: 'webhooks-list' });
  const deliveries = h('div', { testid: 'webhook-deliveries', 'aria-live': 'polite' });
  const url = h('input', {
    id: 'webhook-url',
    testid: 'webhook-url',
    type: 'url',
    maxlength: 2000,
    placeholder: 'https://erp.example.com/wasteflow',
  });
  const boxes = WEBHOOK_EVENTS.map((event) => [
    event,
    h('input', {
      type: 'checkbox',
      value: event,
      testid: `webhook-event-${event}`,
      checked: event === 'transfer.created',
    }),
  ]);
  const form = ctx.canEdit
    ? h(
        'form',
        { class: 'webhook-form', testid: 'webhook-form', novalidate: true, onsubmit: onCreate },
        h('div', { class: 'row' }, h('label', { for: 'webhook-url', text: t('webhooks.url') }), url),
        h(
          'fieldset',
          { class: 'webhook-events' },
          h('legend', { text: t('webhooks.events') }),
          boxes.map(([event, box]) => h('label', null, box, ' ', event)),
        ),
        h(
          'div',
          { class: 'actions' },
          h('button', { type: 'submit', class: 'primary', testid: 'webhook-create', text: t('webhooks.create') }),
        ),
        created,
      )
    : null;
  const el = h(
    'div',
    { class: 'webhooks' },
    h('p', { class: 'muted', text: t('webhooks.what') }),
    form,
    h('h4', { text: t('webhooks.list') }),
    list,
    deliveries,
  );

  async function onCreate(event) {
    event.preventDefault();
    const events = boxes.filter(([, box]) => box.checked).map(([name]) => name);
    fill(created);
    if (!url.value.trim()) {
      fill(created, h('p', { class: 'error', text: t('webhooks.noUrl') }));
      return;
    }
    if (events.length === 0) {
      fill(created, h('p', { class: 'error', text: t('webhooks.noEvents') }));
      return;
    }
    try {
      const answer = await ctx.api.request('POST', '/v1/webhooks', { body: { url: url.value.trim(), events } });
      const hook = answer.body || {};
      fill(
        created,
        h(
          'div',
          { class: 'success' },
          h('p', { class: 'strong', text: t('webhooks.created', { id: String(hook.id) }) }),
          h('p', { text: t('webhooks.secretOnce') }),
          h('code', { class: 'secret', testid: 'webhook-secret', text: hook.secret || '' }),
          h('button', {
            type: 'button',
            class: 'small',
            text: t('webhooks.copy'),
            onclick: () => navigator.clipboard?.writeText(hook.secret || '').catch(() => {}),
          }),
        ),
      );
      url.value = '';
      await load();
    } catch (error) {
      fill(created, problemView(error, 'webhook'));
    }
  }

  async function load() {
    try {
      const page = await ctx.api.listAll('/v1/webhooks', {}, { pageSize: 100, maxItems: 1000 });
      hooks = page.items;
      renderList();
    } catch (error) {
      fill(list, problemView(error));
    }
  }

  async function showDeliveries(hook) {
    fill(deliveries, h('p', { class: 'muted', text: t('webhooks.loadingDeliveries') }));
    try {
      const page = await ctx.api.listAll(`/v1/webhooks/${hook.id}/deliveries`, {}, { pageSize: 200, maxItems: 1000 });
      const items = page.items;
      fill(
        deliveries,
        h('h4', { text: t('webhooks.deliveriesOf', { url: hook.url }) }),
        items.length === 0
          ? h('p', { class: 'muted', testid: 'webhook-deliveries-none', text: t('webhooks.noDeliveries') })
          : h(
              'div',
              { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': t('webhooks.deliveries') },
              h(
                'table',
                { class: 'webhook-deliveries', testid: 'webhook-deliveries-table' },
                h(
                  'thead',
                  null,
                  h(
                    'tr',
                    null,
                    [
                      t('webhooks.col.at'),
                      t('webhooks.col.message'),
                      t('webhooks.col.event'),
                      t('webhooks.col.attempt'),
                      t('webhooks.col.outcome'),
                    ].map((label) => h('th', { scope: 'col', text: label })),
                  ),
                ),
                h(
                  'tbody',
                  null,
                  items.map((d) => {
                    const outcome = deliveryOutcome(d);
                    return h(
                      'tr',
                      { class: `delivery-${outcome}`, dataset: { outcome } },
                      h('td', { text: time(d.at) }),
                      h('td', { text: d.message_id }),
                      h('td', { text: d.event_type }),
                      h('td', { text: d.attempt }),
                      h('td', {
                        text:
                          outcome === 'noAnswer'
                            ? t('webhooks.outcome.noAnswer')
                            : t(outcome === 'ok' ? 'webhooks.outcome.ok' : 'webhooks.outcome.failed', {
                                code: String(d.status_code),
                              }),
                      }),
                    );
                  }),
                ),
              ),
            ),
        page.truncated ? h('p', { class: 'muted', text: t('webhooks.firstDeliveries', { n: items.length }) }) : null,
      );
    } catch (error) {
      fill(deliveries, problemView(error));
    }
  }

  function renderList() {
    if (hooks.length === 0) {
      fill(list, h('p', { class: 'muted', testid: 'webhooks-none', text: t('webhooks.none') }));
      return;
    }
    fill(
      list,
      h(
        'div',
        { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': t('webhooks.list') },
        h(
          'table',
          { class: 'webhooks-table' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              ['#', t('webhooks.url'), t('webhooks.events'), t('webhooks.col.created'), ''].map((label) =>
                h('th', { scope: 'col', text: label }),
              ),
            ),
          ),
          h(
            'tbody',
            null,
            hooks.map((hook) =>
              h(
                'tr',
                { testid: `webhook-${hook.id}` },
                h('td', { text: hook.id }),
                h('td', { class: 'url', text: hook.url }),
                h('td', { text: hook.events.join(', ') }),
                h('td', { text: time(hook.created_at) }),
                h(
                  'td',
                  { class: 'buttons' },
                  h('button', {
                    type: 'button',
                    class: 'small',
                    testid: `webhook-deliveries-${hook.id}`,
                    text: t('webhooks.deliveries'),
                    onclick: () => showDeliveries(hook),
                  }),
                  ctx.canEdit
                    ? confirmButton(
                        t('webhooks.delete'),
                        t('webhooks.deleteConfirm'),
                        `webhook-delete-${hook.id}`,
                        async () => {
                          try {
                            await ctx.api.request('DELETE', `/v1/webhooks/${hook.id}`);
                            fill(deliveries);
                            await load();
                          } catch (error) {
                            fill(deliveries, problemView(error));
                          }
                        },
                      )
                    : null,
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  return { el, load };
}
