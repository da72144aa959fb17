// The console for real dispatchers, after console.e2e.mjs on the same database: Russian by
// the browser's preference and English by the switch; an organization's dispatcher on a
// phone (390 px) with its storages nearest first, fill per type, plain-words errors, a zero
// amount; an admin at 1440 px adding a storage and an organization; the page title, skip
// links, the graph's list alternative; axe-core (vendored in node_modules, injected through
// the DevTools protocol, so the page's CSP stays as it is) with no serious or critical
// violation. Started by test/browser/run.sh.

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
  signOutIfSignedIn,
  smallestText,
  step,
  tid,
  until,
  waitAttr,
  waitSignedIn,
  withPage,
} from './harness.mjs';

const NBSP = '\u00a0';

async function main() {
  const storages = (await call(B, 'GET', '/v1/storages?limit=1000', { key: KEYS.admin, expect: 200 })).json.items;
  const view = (await call(B, 'GET', '/v1/organizations/2/storages?limit=1000', { key: KEYS.org2, expect: 200 })).json
    .items;

  // ---------------------------------------------------------------- Russian, on a phone
  {
    await withPage({ width: 390, height: 844 }, 'ru-RU', async ({ page }) => {
      await step(page, 'Russian by the browser: the sign-in card says what this is and who gives keys', async () => {
        await page.goto(`${A}/console`);
        await page.locator(tid('signin-key')).waitFor({ state: 'visible', timeout: TIMEOUT });
        if ((await page.getAttribute('html', 'lang')) !== 'ru') throw new Error('the page is not in Russian');
        const card = await page.locator('#signin').innerText();
        for (const words of ['Вход', 'администратор', 'хранилищ'])
          if (!card.includes(words)) throw new Error(`the card lacks "${words}": ${card}`);
        for (const jargon of ['JWT', 'API', 'wasteflow keys', 'CLI', 'wf_<'])
          if (card.includes(jargon)) throw new Error(`developer words on the card: ${jargon}`);
        if ((await page.title()) !== 'Вход · wasteflow') throw new Error(`title ${await page.title()}`);
        await expectOnScreen(page, ['signin-submit', 'language']);
        await expectNoAxeViolations(page, 'the sign-in card');
      });

      await step(page, 'ОО2 on a phone: forms first, nothing off screen, its storages nearest first', async () => {
        await signIn(page, KEYS.org2);
        await waitSignedIn(page, 'organization');
        const role = await page.locator(tid('whoami')).innerText();
        if (!/организация/i.test(role)) throw new Error(`role shown as ${role}`);
        await page.locator(tid(`storage-${view[0].storage_id}-distance`)).waitFor({ timeout: TIMEOUT });
        await expectOnScreen(page, ['signout', 'refresh', 'handover-submit', 'storages-search']);
        const form = await page.locator(tid('handover-form')).boundingBox();
        const map = await page.locator(tid('network')).boundingBox();
        if (!(form.y < map.y)) throw new Error('the hand-over form is below the map');
        // nearest first, as GET /v1/organizations/2/storages orders them, the unreachable last
        const shown = await page
          .locator(`${tid('storages')} li.storage`)
          .evaluateAll((items) => items.map((li) => Number(li.dataset.id)));
        const expected = view.map((v) => v.storage_id);
        if (JSON.stringify(shown) !== JSON.stringify(expected))
          throw new Error(`order ${shown.join(',')}, the API's ${expected.join(',')}`);
        const first = await page.locator(tid(`storage-${view[0].storage_id}-distance`)).textContent();
        if (!first.includes(' м')) throw new Error(`distance shown as ${first}`);
        if ((await page.locator(tid('storages-sort')).inputValue()) !== 'nearest') throw new Error('not nearest first');
        const small = await smallestText(page);
        if (small < 12) throw new Error(`text as small as ${small} px`);
        await expectNoAxeViolations(page, 'the organization console at 390 px');
      });

      await step(page, 'a storage shows its fullest type, never a whole-storage percentage', async () => {
        const fresh = (await call(B, 'GET', '/v1/storages?limit=1000', { key: KEYS.admin, expect: 200 })).json.items;
        let full = 0;
        for (const s of fresh) {
          const rows = Object.keys(s.capacity).map((type) => ({
            type,
            ratio: (s.stock[type] || 0) / s.capacity[type],
          }));
          const top = Math.max(...rows.map((r) => r.ratio));
          const badge = page.locator(tid(`storage-${s.id}-fullest`));
          const type = await badge.getAttribute('data-type');
          if (rows.find((r) => r.type === type).ratio !== top) throw new Error(`${s.name}: badge on ${type}`);
          const level = await badge.getAttribute('data-level');
          if (top >= 1 !== (level === 'full')) throw new Error(`${s.name}: level ${level} at ${top}`);
          if (level === 'full') {
            full++;
            const text = await badge.textContent();
            if (!text.includes('заполнено') || text.includes('%')) throw new Error(`${s.name}: badge says ${text}`);
          }
        }
        log(`  ${full} storages with a full type, each marked as such`);
      });

      await step(page, 'plain words: a zero, an amount out of range, too much, and no stale success', async () => {
        await page.fill(tid('handover-glass'), '0');
        await page.locator(tid('handover-zero')).waitFor({ timeout: TIMEOUT });
        // a hand-over that succeeds, then one that is refused: the success does not stay
        await page.fill(tid('handover-glass'), '1');
        await waitAttr(page, 'handover-preview', 'data-state', 'ready');
        await page.click(tid('handover-submit'));
        await page.locator(`${tid('handover-result')} .success`).waitFor({ timeout: TIMEOUT });
        const placed = await page.locator(tid('handover-placed')).allInnerTexts();
        if (!placed.length || !placed[0].includes('стекло')) throw new Error(`placed: ${placed.join(' | ')}`);
        await page.fill(tid('handover-plastic'), '1000000000001');
        await waitAttr(page, 'handover-preview', 'data-state', 'invalid');
        const range = await page.locator(tid('handover-preview')).innerText();
        if (!range.includes(`1${NBSP}000${NBSP}000${NBSP}000${NBSP}000`)) throw new Error(`range said as ${range}`);
        allowHttpError(409, '/transfers');
        await page.fill(tid('handover-plastic'), '999999999999');
        await waitAttr(page, 'handover-preview', 'data-state', 'error');
        const said = await page.locator(tid('handover-preview')).innerText();
        if (!said.includes('Слишком много')) throw new Error(`the refusal says ${said}`);
        if (/409|Conflict/.test(said)) throw new Error(`HTTP jargon: ${said}`);
        if (await page.locator(`${tid('handover-result')} .success`).count())
          throw new Error('the last success is still shown beside the error');
        await page.fill(tid('handover-plastic'), '');
      });

      await step(page, 'the title follows the view; the graph has a list; the switch turns English on', async () => {
        const id = view[0].storage_id;
        await page.click(tid(`storage-${id}`));
        const name = storages.find((s) => s.id === id).name;
        await until('the title to name the storage', async () => (await page.title()).startsWith(name));
        await page.locator(`${tid('network-list')} summary`).click();
        await page.locator(tid(`road-list-s${id}`)).waitFor({ timeout: TIMEOUT });
        await page.selectOption(tid('language'), 'en');
        await page.waitForFunction(() => document.documentElement.lang === 'en', null, { timeout: TIMEOUT });
        await waitSignedIn(page, 'organization');
        await page.locator(tid(`storage-${id}-distance`)).waitFor({ timeout: TIMEOUT });
        if ((await page.getAttribute('html', 'lang')) !== 'en') throw new Error('still not English');
        const text = await page.locator(tid(`storage-${id}-distance`)).textContent();
        if (!/ m away|km away/.test(text)) throw new Error(`distance in English: ${text}`);
        await page.selectOption(tid('language'), 'ru');
        await page.waitForFunction(() => document.documentElement.lang === 'ru', null, { timeout: TIMEOUT });
        await waitSignedIn(page, 'organization');
      });
    });
  }

  // ---------------------------------------------------------------- English, an admin at 1440 px
  {
    await withPage({ width: 1440, height: 1000 }, 'en-GB', async ({ page }) => {
      await step(page, 'an admin adds a storage and an organization; skip links; no axe violations', async () => {
        await page.goto(`${A}/console`);
        await signIn(page, KEYS.admin);
        await waitSignedIn(page, 'admin');
        await page.locator(tid('storage-3')).waitFor({ timeout: TIMEOUT });
        if (!(await page.title()).includes('dispatch console')) throw new Error(`title ${await page.title()}`);
        // a fresh page (the key stays in the tab): the first Tab stop is a skip link
        await page.reload();
        await waitSignedIn(page, 'admin');
        await page.keyboard.press('Tab');
        const skip = await page.evaluate(() => document.activeElement?.className);
        if (skip !== 'skip') throw new Error(`the first Tab stop is ${skip}, not a skip link`);
        await page.locator('#entities-slot summary').first().click();
        await page.fill(tid('storage-new-name'), 'МНО-браузер');
        await page.fill(tid('storage-new-capacity-glass'), '1500');
        await page.selectOption(tid('storage-new-intake'), 'automatic');
        await page.click(tid('storage-new-save'));
        await page.locator(tid('storage-new-result')).getByText('saved').waitFor({ timeout: TIMEOUT });
        const made = await until('the storage in the list', async () => {
          const all = (await call(B, 'GET', '/v1/storages?limit=1000', { key: KEYS.admin, expect: 200 })).json.items;
          return all.find((s) => s.name === 'МНО-браузер');
        });
        await page.locator(tid(`storage-${made.id}`)).waitFor({ timeout: TIMEOUT });
        const numbers = await page.locator(tid(`storage-${made.id}-glass`)).textContent();
        if (!numbers.includes('1,500 kg')) throw new Error(`no digit grouping: ${numbers}`);
        await page.locator('#entities-slot summary').nth(1).click();
        await page.fill(tid('organization-new-name'), 'ОО-браузер');
        await page.click(tid('organization-new-save'));
        await page.locator(tid('organization-new-result')).getByText('saved').waitFor({ timeout: TIMEOUT });
        await expectNoAxeViolations(page, 'the admin console at 1440 px');
      });

      await step(page, 'a monitoring key is told plainly why it cannot sign in', async () => {
        const monitor = await call(B, 'POST', '/v1/api-keys', {
          key: KEYS.admin,
          body: { role: 'monitor', name: 'browser test: monitor' },
          expect: 201,
        });
        await signOutIfSignedIn(page);
        allowHttpError(403, '/v1/me');
        await signIn(page, monitor.json.key);
        await page.locator(tid('signin-error')).waitFor({ state: 'visible', timeout: TIMEOUT });
        const said = await page.locator(tid('signin-error')).textContent();
        if (!said.includes('monitoring systems') || /403|GET|\/v1/.test(said)) throw new Error(`it says: ${said}`);
      });
    });
  }
}

runMain(main);
