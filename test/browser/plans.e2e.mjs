// Plans, reports and webhooks in the console, after dispatch.e2e.mjs on the same database:
// an admin compares nearest-first with the least kg·m for everything pending now (the
// figures are the API's for the same batch, the graph draws the chosen plan), downloads
// the movements CSV through a Blob URL (the key never in a URL), reads the balance, adds a
// webhook (the secret shown once; a private address refused in plain words, nothing
// added), reads its deliveries and deletes it; an auditor sees the same read only; an
// organization's key sees none of it. axe-core: no serious or critical violation.
// Started by test/browser/run.sh.

import fs from 'node:fs';
import {
  A,
  B,
  KEYS,
  TIMEOUT,
  allowHttpError,
  call,
  expectNoAxeViolations,
  log,
  requests,
  runMain,
  signIn,
  signOutIfSignedIn,
  step,
  tid,
  until,
  waitAttr,
  waitSignedIn,
  withPage,
} from './harness.mjs';

const CSV_HEADER =
  'movement_id,transfer_id,created_at,organization_id,organization_name,storage_id,storage_name,waste_type,' +
  'planned_kg,status,received_kg,accepted_kg,rejected_kg,distance_m,actor';

// The batch the console builds, built here from the API: every organization with pending
// waste, by id.
async function pendingBatch() {
  const orgs = (await call(B, 'GET', '/v1/organizations?limit=1000', { key: KEYS.admin, expect: 200 })).json.items;
  return orgs
    .sort((a, b) => a.id - b.id)
    .filter((o) => Object.keys(o.pending || {}).length > 0)
    .map((o) => ({ organization_id: o.id, waste: o.pending }));
}

async function summaryOf(page, id) {
  const row = page.locator(tid(id));
  return [Number(await row.getAttribute('data-nearest')), Number(await row.getAttribute('data-min-cost'))];
}

// The summary rows show the two plans' placed kg, unplaced kg and kg·m as the API answered
// them (expected: the POST /v1/plans body); what was compared.
async function expectSummaryOf(page, expected) {
  const total = (m) => Object.values(m).reduce((sum, n) => sum + n, 0);
  const want = {
    'plans-placed': [expected.nearest.placed_kg, expected.min_cost.placed_kg],
    'plans-unplaced': [total(expected.nearest.unplaced), total(expected.min_cost.unplaced)],
    'plans-kgm': [expected.nearest.kg_m, expected.min_cost.kg_m],
  };
  for (const [id, values] of Object.entries(want)) {
    const shown = await summaryOf(page, id);
    if (JSON.stringify(shown) !== JSON.stringify(values)) throw new Error(`${id}: shown ${shown}, API ${values}`);
  }
  return want;
}

// One shipment row per (organization, storage, type) of either plan.
async function expectShipmentRows(page, expected) {
  const keys = new Set(
    [...expected.nearest.shipments, ...expected.min_cost.shipments].map(
      (s) => `${s.organization_id}>${s.storage_id}>${s.waste_type}`,
    ),
  );
  const rows = await page.locator(`${tid('plans-shipments')} tbody tr`).count();
  if (rows !== keys.size) throw new Error(`${rows} shipment rows, expected ${keys.size}`);
}

async function main() {
  // Waste that cannot be placed: an organization with no road hands some over, so the
  // batch has at least this pending whatever the scenarios before left.
  const lonely = await call(B, 'POST', '/v1/organizations', {
    key: KEYS.admin,
    body: { name: 'browser test: no roads' },
    expect: 201,
  });
  const handed = await call(B, 'POST', `/v1/organizations/${lonely.json.id}/transfers`, {
    key: KEYS.admin,
    body: { waste: { glass: 40 } },
  });
  if (handed.status !== 201 && handed.status !== 200)
    throw new Error(`hand-over of the lonely organization: ${handed.status} ${JSON.stringify(handed.json)}`);
  const auditor = await call(B, 'POST', '/v1/api-keys', {
    key: KEYS.admin,
    body: { role: 'auditor', name: 'browser test: auditor' },
    expect: 201,
  });

  let webhookId = null;
  await withPage({ width: 1440, height: 1000 }, 'en-US', async ({ page }) => {
    await step(page, 'an admin compares the plans for everything pending now', async () => {
      await page.goto(`${A}/console`);
      await signIn(page, KEYS.admin);
      await waitSignedIn(page, 'admin');
      await page.locator(tid('reports')).waitFor({ state: 'visible', timeout: TIMEOUT });
      const batch = await pendingBatch();
      if (!batch.some((x) => x.organization_id === lonely.json.id))
        throw new Error('the lonely organization waits for nothing');
      const expected = (
        await call(B, 'POST', '/v1/plans', { key: KEYS.admin, body: { hand_overs: batch }, expect: 200 })
      ).json;
      await page.click(tid('plans-compare'));
      await page.locator(tid('plans-summary')).waitFor({ timeout: TIMEOUT });
      const want = await expectSummaryOf(page, expected);
      if (want['plans-unplaced'][0] < 40) throw new Error('the 40 kg that cannot be placed are not unplaced');
      const note = await page.locator(tid('plans-note')).innerText();
      if (!note.includes(`${batch.length} organization`)) throw new Error(`the note says: ${note}`);
      if (expected.nearest.shipments.length === 0 && expected.min_cost.shipments.length === 0) {
        // what waits usually cannot be placed (dispatch would have placed it): said in words
        await page.locator(tid('plans-nothing-fits')).waitFor({ timeout: TIMEOUT });
        if (await page.locator(tid('plans-graph')).count()) throw new Error('an empty graph is drawn');
        await expectNoAxeViolations(page, 'the admin view with the plans compared');
        return;
      }
      const ratio = Number(await page.locator(tid('plans-verdict')).getAttribute('data-ratio'));
      if (Math.abs(ratio - expected.ratio) > 1e-9) throw new Error(`ratio ${ratio}, API ${expected.ratio}`);
      await expectShipmentRows(page, expected);
      // the graph draws the least-kg·m plan: an edge per organization and storage it ships between
      const pairs = (plan) => new Set(plan.shipments.map((s) => `${s.organization_id}>${s.storage_id}`));
      await waitAttr(page, 'plans-graph', 'data-plan', 'min_cost');
      await waitAttr(page, 'plans-graph', 'data-edges', pairs(expected.min_cost).size);
      await page.check(tid('plans-show-nearest'));
      await waitAttr(page, 'plans-graph', 'data-plan', 'nearest');
      await waitAttr(page, 'plans-graph', 'data-edges', pairs(expected.nearest).size);
      const onlyNearest = [...pairs(expected.nearest)].filter((p) => !pairs(expected.min_cost).has(p)).length;
      await waitAttr(page, 'plans-graph', 'data-only', onlyNearest);
      await page.locator(tid('reports')).scrollIntoViewIfNeeded();
      await expectNoAxeViolations(page, 'the admin view with the plans compared');
    });

    await step(page, 'a batch that can be placed: both plans as a table and on the graph', async () => {
      // Waiting waste that has room is placed by dispatch within moments, so the service is
      // asked here for a batch of its own (ОО1 and ОО2 each bio 250) and the page gets that
      // real answer for its request.
      const batch = [
        { organization_id: 1, waste: { bio: 250 } },
        { organization_id: 2, waste: { bio: 250 } },
      ];
      const expected = (
        await call(B, 'POST', '/v1/plans', { key: KEYS.admin, body: { hand_overs: batch }, expect: 200 })
      ).json;
      if (expected.min_cost.shipments.length === 0) throw new Error('the picture has no room for bio any more');
      await page.route('**/v1/plans', (route) =>
        route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(expected) }),
      );
      try {
        await page.click(tid('plans-compare'));
        await page.locator(tid('plans-graph')).waitFor({ timeout: TIMEOUT });
      } finally {
        await page.unroute('**/v1/plans');
      }
      await expectSummaryOf(page, expected);
      await expectShipmentRows(page, expected);
      const pairs = (plan) => new Set(plan.shipments.map((x) => `${x.organization_id}>${x.storage_id}`));
      const only = (a, b) => [...pairs(a)].filter((x) => !pairs(b).has(x)).length;
      await waitAttr(page, 'plans-graph', 'data-plan', 'min_cost');
      await waitAttr(page, 'plans-graph', 'data-edges', pairs(expected.min_cost).size);
      await waitAttr(page, 'plans-graph', 'data-only', only(expected.min_cost, expected.nearest));
      await page.check(tid('plans-show-nearest'));
      await waitAttr(page, 'plans-graph', 'data-plan', 'nearest');
      await waitAttr(page, 'plans-graph', 'data-edges', pairs(expected.nearest).size);
      await waitAttr(page, 'plans-graph', 'data-only', only(expected.nearest, expected.min_cost));
      const verdict = await page.locator(tid('plans-verdict')).innerText();
      if (!verdict.includes(expected.ratio.toFixed(3))) throw new Error(`the verdict says: ${verdict}`);
      await page.locator(tid('plans-graph')).scrollIntoViewIfNeeded();
      await expectNoAxeViolations(page, 'the admin view with a graph of both plans');
    });

    await step(page, 'the movements CSV downloads with the key in a header only', async () => {
      const before = requests.length;
      await page.fill(tid('report-from'), '2020-01-01');
      await page.fill(tid('report-to'), new Date().toISOString().slice(0, 10));
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: TIMEOUT }),
        page.click(tid('report-download')),
      ]);
      if (download.suggestedFilename() !== `movements_2020-01-01_${new Date().toISOString().slice(0, 10)}.csv`)
        throw new Error(`file name ${download.suggestedFilename()}`);
      const text = fs.readFileSync(await download.path(), 'utf8');
      if (!text.startsWith(`${CSV_HEADER}\r\n`)) throw new Error(`the file starts: ${text.slice(0, 200)}`);
      const api = await fetch(
        `${B}/v1/exports/movements.csv?from=2020-01-01T00:00:00Z&to=${encodeURIComponent(
          `${new Date(Date.now() + 86400000).toISOString().slice(0, 10)}T00:00:00Z`,
        )}`,
        { headers: { Authorization: `Bearer ${KEYS.admin}` } },
      ).then((r) => r.text());
      if (text.split('\r\n').length !== api.split('\r\n').length)
        throw new Error(`${text.split('\r\n').length} lines saved, the API has ${api.split('\r\n').length}`);
      await page.locator(tid('report-downloaded')).waitFor({ timeout: TIMEOUT });
      const urls = requests.slice(before).map((r) => r.url());
      if (!urls.some((u) => u.includes('/v1/exports/movements.csv?from=2020-01-01T00%3A00%3A00Z')))
        throw new Error(`no export request among ${urls.join(' ')}`);
      if (urls.some((u) => u.includes(KEYS.admin) || u.includes('wf_'))) throw new Error('a key in a URL');
    });

    await step(page, 'a period that ends before it starts is refused before any request', async () => {
      const before = requests.length;
      await page.fill(tid('report-from'), '2026-12-07');
      await page.fill(tid('report-to'), '2026-12-01');
      await page.click(tid('report-show-balance'));
      const said = await page.locator(tid('report-status')).innerText();
      if (!said.includes('before the first day')) throw new Error(`it says: ${said}`);
      if (requests.length !== before) throw new Error('a request was sent');
    });

    await step(page, 'the balance per waste type is the API’s', async () => {
      await page.fill(tid('report-from'), '');
      await page.fill(tid('report-to'), '');
      await page.click(tid('report-show-balance'));
      await page.locator(tid('balance-table')).waitFor({ timeout: TIMEOUT });
      const balance = (await call(B, 'GET', '/v1/reports/balance', { key: KEYS.admin, expect: 200 })).json;
      const types = Object.keys(balance).sort();
      const shown = await page
        .locator(`${tid('balance-table')} tbody tr`)
        .evaluateAll((rows) => rows.map((r) => r.dataset.testid));
      if (JSON.stringify(shown) !== JSON.stringify(types.map((x) => `balance-${x}`)))
        throw new Error(`rows ${shown}, types ${types}`);
      const glass = await page.locator(`${tid('balance-glass')} td[data-figure="generated"]`).innerText();
      if (Number(glass.replace(/\D/g, '')) !== balance.glass.generated)
        throw new Error(`glass handed over shown ${glass}, API ${balance.glass.generated}`);
    });

    await step(page, 'an admin adds a webhook, sees its secret once; a private address is refused', async () => {
      const count = async () =>
        (await call(B, 'GET', '/v1/webhooks?limit=100', { key: KEYS.admin, expect: 200 })).json.items.length;
      const hooksBefore = await count();
      allowHttpError(422, '/v1/webhooks');
      await page.fill(tid('webhook-url'), 'http://127.0.0.1:9/hook');
      await page.click(tid('webhook-create'));
      await page.locator(`${tid('webhook-created')} ${tid('problem')}`).waitFor({ timeout: TIMEOUT });
      const said = await page.locator(tid('webhook-created')).innerText();
      if (!said.includes('public host')) throw new Error(`the refusal says: ${said}`);
      if ((await count()) !== hooksBefore) throw new Error('a refused webhook was added');
      await page.fill(tid('webhook-url'), 'https://erp.example.com/wasteflow');
      await page.check(tid('webhook-event-unload.created'));
      await page.click(tid('webhook-create'));
      const secret = await page.locator(tid('webhook-secret')).innerText({ timeout: TIMEOUT });
      if (!/^whsec_[A-Za-z0-9+/]{43}=$/.test(secret)) throw new Error(`secret shown as ${secret}`);
      const hooks = (await call(B, 'GET', '/v1/webhooks?limit=100', { key: KEYS.admin, expect: 200 })).json.items;
      const hook = hooks.find((x) => x.url === 'https://erp.example.com/wasteflow');
      if (!hook || JSON.stringify(hook.events) !== JSON.stringify(['transfer.created', 'unload.created']))
        throw new Error(`the webhook is ${JSON.stringify(hook)}`);
      webhookId = hook.id;
      await page.locator(tid(`webhook-${hook.id}`)).waitFor({ timeout: TIMEOUT });
      if ((await page.content()).split(secret).length !== 2) throw new Error('the secret is shown more than once');
    });

    await step(page, 'its deliveries are listed as the API lists them', async () => {
      // a transfer makes a message to deliver
      await call(B, 'POST', `/v1/organizations/${lonely.json.id}/transfers`, {
        key: KEYS.admin,
        body: { waste: { glass: 1 } },
      });
      await until(
        'a delivery attempt',
        async () => {
          const items = (
            await call(B, 'GET', `/v1/webhooks/${webhookId}/deliveries?limit=100`, { key: KEYS.admin, expect: 200 })
          ).json.items;
          return items.length > 0;
        },
        15000,
      ).catch(() => log('  no attempt within 15 s: the list may be empty'));
      await until('the deliveries shown equal the API’s', async () => {
        await page.click(tid(`webhook-deliveries-${webhookId}`));
        const api = (
          await call(B, 'GET', `/v1/webhooks/${webhookId}/deliveries?limit=100`, { key: KEYS.admin, expect: 200 })
        ).json.items;
        await page.waitForTimeout(300);
        if (api.length === 0) return page.locator(tid('webhook-deliveries-none')).isVisible();
        const rows = await page.locator(`${tid('webhook-deliveries-table')} tbody tr`).count();
        return rows === api.length;
      });
    });

    await step(page, 'an admin deletes the webhook', async () => {
      await page.click(tid(`webhook-delete-${webhookId}`));
      await page.click(tid(`webhook-delete-${webhookId}`));
      await page.locator(tid(`webhook-${webhookId}`)).waitFor({ state: 'detached', timeout: TIMEOUT });
      await call(B, 'GET', `/v1/webhooks/${webhookId}`, { key: KEYS.admin, expect: 404 });
    });

    await step(page, 'an auditor compares plans and reads reports and webhooks, changes nothing', async () => {
      const kept = await call(B, 'POST', '/v1/webhooks', {
        key: KEYS.admin,
        body: { url: 'https://erp.example.com/audit', events: ['alert.fired'] },
        expect: 201,
      });
      await signOutIfSignedIn(page);
      await signIn(page, auditor.json.key);
      await waitSignedIn(page, 'auditor');
      await page.locator(tid('reports')).waitFor({ state: 'visible', timeout: TIMEOUT });
      await page.locator(tid(`webhook-${kept.json.id}`)).waitFor({ timeout: TIMEOUT });
      if (await page.locator(tid('webhook-form')).count()) throw new Error('the auditor has the webhook form');
      if (await page.locator(tid(`webhook-delete-${kept.json.id}`)).count()) throw new Error('the auditor can delete');
      await page.click(tid('plans-compare'));
      await page.locator(tid('plans-summary')).waitFor({ timeout: TIMEOUT });
      await page.click(tid('report-show-balance'));
      await page.locator(tid('balance-table')).waitFor({ timeout: TIMEOUT });
      await expectNoAxeViolations(page, 'the auditor view');
    });

    await step(page, 'an organization sees no plans, reports or webhooks', async () => {
      await signOutIfSignedIn(page);
      await signIn(page, KEYS.org2);
      await waitSignedIn(page, 'organization');
      if (await page.locator(tid('reports')).isVisible()) throw new Error('the reports card is shown');
      if (await page.locator(tid('plans-compare')).count()) throw new Error('the plans panel is built');
    });
  });

  // An auditor in Russian on a phone: the same card, in words of its language, nothing
  // wider than the screen (the tables scroll inside their card).
  {
    await withPage({ width: 390, height: 844 }, 'ru-RU', async (phone) => {
      await step(phone.page, 'an auditor in Russian on a phone: the card fits the screen', async (p) => {
        await p.goto(`${A}/console`);
        await signIn(p, auditor.json.key);
        await waitSignedIn(p, 'auditor');
        await p.click(tid('plans-compare'));
        await p.locator(tid('plans-summary')).waitFor({ timeout: TIMEOUT });
        await p.click(tid('report-show-balance'));
        await p.locator(tid('balance-table')).waitFor({ timeout: TIMEOUT });
        const card = await p.locator(tid('reports')).textContent();
        for (const words of ['Планы, отчёты и вебхуки', 'Скачать перевозки (CSV)', 'Наименьшие кг·м'])
          if (!card.includes(words)) throw new Error(`the card lacks "${words}"`);
        const scroll = await p.evaluate(() => document.documentElement.scrollWidth);
        if (scroll > 390) throw new Error(`the page is ${scroll} px wide at 390 px`);
        await p.locator(tid('reports')).scrollIntoViewIfNeeded();
        await expectNoAxeViolations(p, 'the auditor on a phone, in Russian');
      });
    });
  }
}

runMain(main);
