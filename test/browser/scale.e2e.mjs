// The console on a big world: run.sh adds `wasteflow seed synthetic --organizations 200
// --storages 2000 --routes 20000` to the database the first scenarios used, then this. The
// first render within 1 s of signing in, the neighbourhood of the selection rather than
// every node, search and sorting over 2,000 storages, positions kept when a road is added.

import {
  A,
  B,
  KEYS,
  TIMEOUT,
  call,
  log,
  runMain,
  signIn,
  signOutIfSignedIn,
  step,
  tid,
  waitAttr,
  withPage,
} from './harness.mjs';

const FIRST_RENDER_MS = 1000;
const SEED = process.env.WF_SCALE_SEED || '7';

// How long after now the graph first draws a node, and how many it draws then.
async function firstRender(page) {
  const started = Date.now();
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="network"]')?.dataset.nodes) > 0, null, {
    timeout: TIMEOUT,
  });
  const drawn = Date.now() - started;
  return { drawn, nodes: Number(await page.getAttribute(tid('network'), 'data-nodes')) };
}

async function main() {
  await withPage({ width: 1440, height: 1000 }, 'ru-RU', async ({ page }) => {
    await page.goto(`${A}/console`);
    await step(page, 'at 2,000 storages the first render is within 1 s of signing in', async () => {
      await signIn(page, KEYS.admin);
      const { drawn, nodes } = await firstRender(page);
      const total = Number(await page.getAttribute(tid('network'), 'data-total'));
      log(`  first render ${drawn} ms after sign-in: ${nodes} of ${total} nodes drawn`);
      if (total < 2200) throw new Error(`only ${total} nodes in the world`);
      if (nodes > 200) throw new Error(`${nodes} nodes drawn: not a neighbourhood`);
      // where the time went: the API reads the page made before drawing
      const reads = await page.evaluate(() =>
        performance
          .getEntriesByType('resource')
          .filter((e) => e.name.includes('/v1/'))
          .map((e) => `${new URL(e.name).pathname} ${Math.round(e.startTime)}+${Math.round(e.duration)}`),
      );
      log(`  reads (start+duration ms): ${reads.join(', ')}`);
      if (drawn > FIRST_RENDER_MS) throw new Error(`first render after ${drawn} ms`);
    });

    await step(page, "a synthetic organization's dispatcher: 200 nodes around it within 1 s", async () => {
      const orgs = (await call(B, 'GET', '/v1/organizations?limit=1000', { key: KEYS.admin, expect: 200 })).json.items;
      const org = orgs.find((o) => o.name === `org-${SEED}-1`);
      const made = await call(B, 'POST', '/v1/api-keys', {
        key: KEYS.admin,
        body: { role: 'organization', organization_id: org.id, name: 'browser test: synthetic dispatcher' },
        expect: 201,
      });
      await signOutIfSignedIn(page);
      await signIn(page, made.json.key);
      const { drawn, nodes } = await firstRender(page);
      log(`  first render ${drawn} ms after sign-in: ${nodes} nodes around org-${SEED}-1`);
      if (nodes < 100 || nodes > 200) throw new Error(`${nodes} nodes drawn around the organization`);
      if (drawn > FIRST_RENDER_MS) throw new Error(`first render after ${drawn} ms`);
      // its storages nearest first, with distances, as the API orders them
      await page
        .locator(`${tid('storages')} li.storage`)
        .first()
        .waitFor({ timeout: TIMEOUT });
      await page.waitForFunction(() => document.querySelector('[data-testid="storages"] .storage-distance'), null, {
        timeout: TIMEOUT,
      });
      const distances = await page
        .locator(`${tid('storages')} .storage-distance`)
        .evaluateAll((items) => items.map((p) => Number(p.dataset.distance)));
      if (distances.some((d, i) => i > 0 && d < distances[i - 1])) throw new Error('not nearest first');
      await signOutIfSignedIn(page);
      await signIn(page, KEYS.admin);
      await page.locator(tid('storage-1')).waitFor({ timeout: TIMEOUT });
    });

    await step(page, 'search, filter and sort over 2,000 storages; the map follows the selection', async () => {
      const name = `storage-${SEED}-1234`;
      await page.fill(tid('storages-search'), name);
      await waitAttr(page, 'storages', 'data-count', 1);
      const item = page.locator(`${tid('storages')} li.storage`).first();
      if ((await item.locator('.storage-name').textContent()) !== name) throw new Error('search found another');
      await item.click();
      await page.locator(tid('network-caption')).getByText(name).waitFor({ timeout: TIMEOUT });
      await page.fill(tid('storages-search'), `storage-${SEED}-`);
      await waitAttr(page, 'storages', 'data-count', 2000);
      await page.selectOption(tid('storages-sort'), 'room');
      const rooms = await page
        .locator(`${tid('storages')} li.storage .fill-row`)
        .evaluateAll((rows) => rows.slice(0, 40).map((r) => r.closest('li').dataset.id));
      if (rooms.length === 0) throw new Error('nothing listed');
      await page.selectOption(tid('storages-filter'), 'nearFull');
      await page.waitForFunction(() => Number(document.querySelector('[data-testid="storages"]').dataset.count) < 2000);
    });

    await step(page, 'a road added elsewhere keeps the places of the drawn nodes', async () => {
      const layouts = await page.getAttribute(tid('network'), 'data-layouts');
      const drawn = await page.evaluate(() => document.querySelector('[data-testid="network"]').dataset.nodes);
      // two storages that are drawn, from the graph's list alternative
      await page.locator(`${tid('network-list')} summary`).click();
      const ids = await page
        .locator('[data-testid^="road-list-s"]')
        .evaluateAll((items) => items.map((li) => Number(li.dataset.testid.slice('road-list-s'.length))));
      if (ids.length < 3) throw new Error(`the list names ${ids.length} storages`);
      const [from, to] = [ids[1], ids[ids.length - 1]];
      await call(B, 'POST', '/v1/routes', {
        key: KEYS.admin,
        body: { from: { storage_id: from }, to: { storage_id: to }, distance_m: 123457 },
        expect: 201,
      });
      await page
        .locator(tid(`road-list-s${from}`))
        .getByText('123,5')
        .waitFor({ timeout: TIMEOUT });
      if ((await page.getAttribute(tid('network'), 'data-layouts')) !== layouts)
        throw new Error('the whole graph was laid out again');
      log(`  ${drawn} nodes drawn, ${layouts} layout(s) before and after the new road`);
    });
  });
}

runMain(main);
