// Movements in the console, after dispatch.e2e.mjs on the same database: a storage that
// weighs its loads (added here, one metre from ОО2, with its own storage key), its operator on
// a phone (390 px, Russian) at the weighbridge — a hand-over made through B appears live, the
// receipt form refuses what the service would refuse before sending, a partly refused receipt
// is said in words with the weight warning, a 409 in plain words, stock and reserved follow
// live; ОО2's dispatcher sees where its loads are, live; an admin at 1440 px sees the storage's
// fill history as a uPlot chart with the numbers as a table, when it is full, and a near-full
// share set by an alert rule. axe-core finds no serious or critical violation on these views.
// Started by test/browser/run.sh.

import {
  A,
  B,
  KEYS,
  TIMEOUT,
  allowHttpError,
  call,
  expectNoAxeViolations,
  expectOnScreen,
  log,
  runMain,
  signIn,
  smallestText,
  step,
  tid,
  until,
  waitAttr,
  waitSignedIn,
  withPage,
} from './harness.mjs';

const CAPACITY = 100;

async function inTransit(storageId) {
  const page = await call(B, 'GET', `/v1/movements?storage_id=${storageId}&status=in_transit&limit=100`, {
    key: KEYS.admin,
    expect: 200,
  });
  return page.json.items;
}

async function main() {
  // A waste type ОО2 has nothing pending of: nothing moves into the new storage by itself
  // until this test hands it over.
  const org2 = (await call(B, 'GET', '/v1/organizations/2', { key: KEYS.admin, expect: 200 })).json;
  const types = (await call(B, 'GET', '/v1/waste-types', { key: KEYS.admin, expect: 200 })).json.items.map(
    (w) => w.code,
  );
  const type = types.find((code) => !(org2.pending?.[code] > 0));
  if (!type) throw new Error(`ОО2 has every type pending: ${JSON.stringify(org2.pending)}`);
  const other = types.find((code) => code !== type);
  const storage = (
    await call(B, 'POST', '/v1/storages', {
      key: KEYS.admin,
      body: { name: 'Весовая-1', capacity: { [type]: CAPACITY, [other]: 10 }, intake: 'weighed' },
      expect: 201,
    })
  ).json;
  const S = storage.id;
  await call(B, 'POST', '/v1/routes', {
    key: KEYS.admin,
    body: { from: { organization_id: 2 }, to: { storage_id: S }, distance_m: 1 },
    expect: 201,
  });
  const storageKey = (
    await call(B, 'POST', '/v1/api-keys', {
      key: KEYS.admin,
      body: { role: 'storage', storage_id: S, name: 'browser test: weighbridge' },
      expect: 201,
    })
  ).json.key;
  log(`weighed storage ${S} (${type} ${CAPACITY} kg), one metre from ОО2`);

  let first = null;
  let second = null;
  await withPage({ width: 390, height: 844 }, 'ru-RU', async (phone) => {
    await withPage({ width: 390, height: 844 }, 'ru-RU', async (dispatcher) => {
      const page = phone.page;
      await step(page, 'the weighbridge on a phone: the loads on their way first, nothing off screen', async () => {
        await page.goto(`${A}/console`);
        await signIn(page, storageKey);
        await waitSignedIn(page, 'storage');
        await page.locator(tid('weighbridge-none')).waitFor({ timeout: TIMEOUT });
        const bridge = await page.locator(tid('weighbridge')).boundingBox();
        const map = await page.locator(tid('network')).boundingBox();
        if (!(bridge.y < map.y)) throw new Error('the weighbridge is below the map');
        await expectOnScreen(page, ['weighbridge', 'signout']);
      });

      await step(page, 'a hand-over through B appears at the weighbridge live, its kilograms reserved', async () => {
        const made = await call(B, 'POST', '/v1/organizations/2/transfers', {
          key: KEYS.org2,
          body: { waste: { [type]: 40 } },
          expect: 201,
        });
        const shipment = made.json.shipments.find((s) => s.storage_id === S);
        if (!shipment || shipment.status !== 'in_transit')
          throw new Error(`not in transit: ${JSON.stringify(made.json)}`);
        first = shipment.movement_id;
        await page.locator(tid(`load-${first}`)).waitFor({ timeout: 5000 });
        const said = await page.locator(tid(`load-${first}`)).innerText();
        if (!said.includes('40') || !said.includes('кг')) throw new Error(`the load says: ${said}`);
        await waitAttr(page, `storage-${S}-${type}`, 'data-reserved', 40, 5000);
        await waitAttr(page, `storage-${S}-${type}`, 'data-stock', 0);
        await expectOnScreen(page, [`load-${first}-receive`]);
        const small = await smallestText(page);
        if (small < 12) throw new Error(`text as small as ${small} px`);
        await expectNoAxeViolations(page, 'the weighbridge at 390 px');
      });

      await step(page, 'the receipt form says what is missing before sending anything', async () => {
        await page.click(tid(`load-${first}-receive`));
        await page.fill(tid('receipt-ticket'), 'Т-0001');
        await page.fill(tid('receipt-received'), '50');
        await page.fill(tid('receipt-rejected'), '10');
        const sent = [];
        const listen = (r) => r.url().includes('/receipt') && sent.push(r);
        page.on('request', listen);
        await page.click(tid('receipt-submit'));
        await page.locator(tid('receipt-errors')).waitFor({ state: 'visible', timeout: TIMEOUT });
        const said = await page.locator(tid('receipt-errors')).innerText();
        if (!/причину/i.test(said)) throw new Error(`the form says: ${said}`);
        await page.fill(tid('receipt-rejected'), '60');
        await page.fill(tid('receipt-reason'), 'мокрый');
        if (!/больше, чем взвешено/.test(await page.locator(tid('receipt-errors')).innerText()))
          throw new Error('refused above weighed is not said');
        page.off('request', listen);
        if (sent.length) throw new Error('a receipt was sent from an invalid form');
        await expectOnScreen(page, ['receipt-received', 'receipt-reason', 'receipt-submit']);
        await expectNoAxeViolations(page, 'the receipt form at 390 px');
      });

      await step(page, 'a partly refused receipt in words, the weight warning; stock and reserved follow', async () => {
        await page.fill(tid('receipt-rejected'), '10');
        await page.fill(tid('receipt-reason'), 'пластик мокрый, с песком');
        await page.click(tid('receipt-submit'));
        await waitAttr(page, 'receipt-outcome', 'data-status', 'partially_rejected');
        const said = await page.locator(tid('receipt-outcome')).innerText();
        for (const words of ['40', '10', 'отказано'])
          if (!said.includes(words)) throw new Error(`the result lacks "${words}": ${said}`);
        await page.locator(tid('receipt-variance')).waitFor({ timeout: TIMEOUT });
        if (/409|422|HTTP/.test(said)) throw new Error(`jargon: ${said}`);
        await waitAttr(page, `storage-${S}-${type}`, 'data-stock', 40, 5000);
        // the operator's own fill history follows: its latest bucket holds the new stock
        await waitAttr(page, 'history-chart', 'data-stock', 40, 5000);
        // the 10 kg refused go back to ОО2 and are placed again, nearest first: here, in transit
        await until('the refused load to set off again', async () => (await inTransit(S)).length === 1, 5000);
        second = (await inTransit(S))[0].id;
        await page.locator(tid(`load-${second}`)).waitFor({ timeout: 5000 });
        if (await page.locator(tid(`load-${first}`)).count()) throw new Error('the received load is still listed');
        await waitAttr(page, `storage-${S}-${type}`, 'data-reserved', 10, 5000);
        const movement = (await call(B, 'GET', `/v1/movements/${first}`, { key: KEYS.admin, expect: 200 })).json;
        if (movement.accepted_kg !== 40 || movement.ticket !== 'Т-0001') throw new Error(JSON.stringify(movement));
      });

      const org = dispatcher.page;
      await step(org, 'ОО2 sees where its loads are: one received in part, one on its way', async () => {
        await org.goto(`${A}/console`);
        await signIn(org, KEYS.org2);
        await waitSignedIn(org, 'organization');
        await waitAttr(org, `org-load-${first}`, 'data-status', 'partially_rejected');
        await waitAttr(org, `org-load-${second}`, 'data-status', 'in_transit');
        const accepted = await org.locator(tid(`org-load-${first}-accepted`)).innerText();
        if (!accepted.includes('40')) throw new Error(`accepted shown as ${accepted}`);
        const row = await org.locator(tid(`org-load-${second}`)).innerText();
        if (!row.includes('Весовая-1') || !row.includes('в пути')) throw new Error(`the load in transit: ${row}`);
        await expectOnScreen(org, ['org-loads']);
        await expectNoAxeViolations(org, 'the organization’s loads at 390 px');
      });

      await step(page, 'a receipt the storage has no room for: 409 in plain words, nothing changed', async () => {
        await page.click(tid(`load-${second}-receive`));
        await page.fill(tid('receipt-received'), '80');
        allowHttpError(409, '/receipt');
        await page.click(tid('receipt-submit'));
        await page.locator(tid('receipt-error')).waitFor({ timeout: TIMEOUT });
        await waitAttr(page, 'problem', 'data-problem', 'problem.receipt.conflict');
        const said = await page.locator(tid('receipt-error')).innerText();
        if (/409|Conflict/.test(said.split('\n')[0])) throw new Error(`HTTP jargon: ${said}`);
        if (await page.locator(tid('receipt-outcome')).count()) throw new Error('the last success is still shown');
        const movement = (await call(B, 'GET', `/v1/movements/${second}`, { key: KEYS.admin, expect: 200 })).json;
        if (movement.status !== 'in_transit') throw new Error(`the refusal changed the load: ${movement.status}`);
        // the form keeps what was typed: refuse the excess and record it again
        if ((await page.inputValue(tid('receipt-received'))) !== '80') throw new Error('the form lost the weight');
      });

      await step(page, 'refusing the excess records it; the organization sees it live', async () => {
        await page.fill(tid('receipt-rejected'), '20');
        await page.fill(tid('receipt-reason'), 'сверх места');
        await page.click(tid('receipt-submit'));
        await waitAttr(page, 'receipt-outcome', 'data-status', 'partially_rejected');
        await waitAttr(page, `storage-${S}-${type}`, 'data-stock', CAPACITY, 5000);
        await waitAttr(org, `org-load-${second}`, 'data-status', 'partially_rejected', 5000);
        const accepted = await org.locator(tid(`org-load-${second}-accepted`)).innerText();
        if (!accepted.includes('60')) throw new Error(`accepted shown as ${accepted}`);
      });
    });
  });

  // ---------------------------------------------------------------- the fill history, admin
  const rule = (
    await call(B, 'POST', '/v1/alerts', {
      key: KEYS.admin,
      body: { storage_id: S, waste_type: other, fill_ratio_above: 0.5 },
      expect: 201,
    })
  ).json;
  try {
    await withPage({ width: 1440, height: 1000 }, 'en-US', async ({ page }) => {
      await step(
        page,
        'the fill history as a chart and a table; full, and when; near-full from an alert rule',
        async () => {
          await page.goto(`${A}/console`);
          await signIn(page, KEYS.admin);
          await waitSignedIn(page, 'admin');
          await page.fill(tid('storages-search'), 'Весовая-1');
          await page.click(tid(`storage-${S}`));
          await page.locator(`${tid('history-chart')} canvas`).waitFor({ timeout: TIMEOUT });
          if ((await page.inputValue(tid('history-type'))) !== type) throw new Error('not the fullest type first');
          await waitAttr(page, 'history-chart', 'data-points', 24);
          // the legend shows the latest bucket's numbers: the stock now
          const legend = await page.locator(`${tid('history')} .u-legend`).textContent();
          if (!/stock of/i.test(legend) || !legend.includes('100 kg')) throw new Error(`legend: ${legend}`);
          await page.locator(`${tid('history-table')} summary`).click();
          const stocks = await page
            .locator(`${tid('history-table')} tbody tr`)
            .evaluateAll((rows) => rows.map((r) => Number(r.dataset.stock)));
          if (stocks.length !== 24 || stocks[23] !== CAPACITY)
            throw new Error(`the table's stock: ${stocks.join(',')}`);
          const last = await page
            .locator(`${tid('history-table')} tbody tr`)
            .last()
            .innerText();
          if (!last.includes('100 kg')) throw new Error(`the last row: ${last}`);
          await page.locator(tid('history-near')).waitFor({ state: 'visible', timeout: TIMEOUT });
          await page.locator(tid('history-forecast')).waitFor({ state: 'visible', timeout: TIMEOUT });
          const forecast = await page.locator(tid('history-forecast')).innerText();
          if (!/is full: no room left/.test(forecast)) throw new Error(`forecast: ${forecast}`);
          // the alert rule on the other type: it stands out from 50 %, not 90 %
          await waitAttr(page, `detail-${S}-${other}`, 'data-near', 50);
          await waitAttr(page, `detail-${S}-${type}`, 'data-near', 90);
          // the intake is shown, and an admin switches it (loads already on their way stay so)
          await waitAttr(page, `detail-${S}-intake`, 'data-intake', 'weighed');
          await page.locator(`${tid('storage-detail')} details.edit summary`).click();
          if ((await page.inputValue(tid(`storage-${S}-intake`))) !== 'weighed') throw new Error('the form’s intake');
          await page.selectOption(tid(`storage-${S}-intake`), 'automatic');
          await page.click(tid(`storage-${S}-save`));
          await page
            .locator(tid(`storage-${S}-result`))
            .getByText('saved')
            .waitFor({ timeout: TIMEOUT });
          await waitAttr(page, `detail-${S}-intake`, 'data-intake', 'automatic');
          const saved = (await call(B, 'GET', `/v1/storages/${S}`, { key: KEYS.admin, expect: 200 })).json;
          if (saved.intake !== 'automatic') throw new Error(`intake is ${saved.intake}`);
          await page.selectOption(tid('history-bucket'), 'day');
          await waitAttr(page, 'history-chart', 'data-points', 30);
          await expectNoAxeViolations(page, 'the admin console with the fill history');
        },
      );

      await step(page, 'the fill history fits a phone', async () => {
        await page.setViewportSize({ width: 390, height: 844 });
        await page.waitForTimeout(300);
        await expectOnScreen(page, ['history-chart', 'history-type']);
      });
    });
  } finally {
    await call(B, 'DELETE', `/v1/alerts/${rule.id}`, { key: KEYS.admin, expect: 204 });
  }
}

runMain(main);
