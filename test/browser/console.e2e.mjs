// The operator console in a real browser (Debian's Chromium, driven by playwright-core):
// the first scenario (sign-in per role, the picture, live changes through instance B, a
// hand-over with its preview, an unload, refusals), in English at 1400 px. Started by
// test/browser/run.sh; the shared harness is harness.mjs.

import {
  A,
  B,
  CSP,
  DOCS_SHOT,
  KEYS,
  TIMEOUT,
  allowHttpError,
  call,
  launch,
  log,
  newestTransfer,
  requests,
  runMain,
  signIn,
  signOutIfSignedIn,
  snap,
  step,
  stock,
  tid,
  until,
  waitAttr,
  waitSignedIn,
} from './harness.mjs';

async function main() {
  // The seed's pending waste is placed by the dispatcher within about a second.
  await until(
    'the seed to be dispatched',
    async () => {
      const org = await call(A, 'GET', '/v1/organizations/2', { key: KEYS.admin, expect: 200 });
      return Object.keys(org.json.pending || {}).length === 0;
    },
    15000,
  );

  const { context, page, close } = await launch({ width: 1400, height: 1000 }, 'en-US');

  try {
    await step(page, 'the console is served with its policy', async () => {
      const response = await page.goto(`${A}/console`);
      if (response.status() !== 200) throw new Error(`GET /console: ${response.status()}`);
      const policy = response.headers()['content-security-policy'];
      if (policy !== CSP) throw new Error(`Content-Security-Policy is ${policy}`);
      await page.locator(tid('signin-key')).waitFor({ state: 'visible', timeout: TIMEOUT });
    });

    await step(page, 'admin sees 10 nodes and 9 roads', async () => {
      await signIn(page, KEYS.admin);
      await waitSignedIn(page, 'admin');
      await waitAttr(page, 'network', 'data-nodes', 10);
      await waitAttr(page, 'network', 'data-edges', 9);
      await waitAttr(page, 'network', 'data-two-way', 3);
      for (let id = 1; id <= 8; id++) {
        await page.locator(tid(`storage-${id}`)).waitFor({ timeout: TIMEOUT });
      }
      if ((await page.locator('[data-testid^="storage-"][data-fill]').count()) !== 8)
        throw new Error('expected 8 storages in the list');
      // the seed as dispatched: МНО3 full of plastic
      await waitAttr(page, 'storage-3-plastic', 'data-stock', 10);
      await page.locator(tid('organization-1')).waitFor({ timeout: TIMEOUT });
      await page.locator(tid('organization-2')).waitFor({ timeout: TIMEOUT });
      await waitAttr(page, 'live-status', 'data-state', 'open');
    });

    await step(page, 'admin creates and revokes a key', async () => {
      await page.locator(tid('keys-list')).locator('tr').first().waitFor({ timeout: TIMEOUT });
      await page.selectOption(tid('key-role'), 'storage');
      await page.selectOption(tid('key-scope'), '6');
      await page.fill(tid('key-name'), 'browser test: МНО7 terminal');
      await page.click(tid('key-create'));
      const secret = await page.locator(tid('key-secret')).textContent({ timeout: TIMEOUT });
      const match = /^wf_(\d+)_[0-9a-f]{64}$/.exec(secret.trim());
      if (!match) throw new Error(`the new key does not look like a key: ${secret}`);
      // A new key reaches the other instance's key cache within about a second.
      const since = Date.now();
      const me = await until(
        'the new key to work on B',
        async () => {
          const answer = await call(B, 'GET', '/v1/me', { key: secret.trim() });
          return answer.status === 200 ? answer : null;
        },
        3000,
      );
      log(`  the new key worked on B after ${Date.now() - since} ms`);
      if (me.json.role !== 'storage' || me.json.storage_id !== 6)
        throw new Error(`new key is ${JSON.stringify(me.json)}`);
      await page.click(tid(`key-revoke-${match[1]}`));
      await page.click(tid(`key-revoke-${match[1]}`)); // confirm
      allowHttpError(401, '/v1/me');
      await until(
        'the revoked key to be refused',
        async () => (await call(B, 'GET', '/v1/me', { key: secret.trim() })).status === 401,
        3000,
      );
    });

    await signOutIfSignedIn(page);

    // ОО2: the scenario's organization. Without access control an admin acts for it.
    await step(page, 'ОО2 signs in and sees only its organization', async () => {
      await signIn(page, KEYS.org2);
      await waitSignedIn(page, 'organization');
      await page.locator(tid('organization-2')).waitFor({ timeout: TIMEOUT });
      if ((await page.locator(tid('organization-1')).count()) !== 0)
        throw new Error('an organization key sees another organization');
      await waitAttr(page, 'network', 'data-nodes', 10);
      await waitAttr(page, 'storage-3-plastic', 'data-stock', 10);
      // the path from ОО2 to МНО7 on the map: ОО2 → МНО3 → МНО7
      await page.click(tid('storage-6'));
      await page.locator(tid('storage-path')).waitFor({ timeout: TIMEOUT });
      const pathText = await page.locator(tid('storage-path')).textContent();
      if (!/100 m/.test(pathText) || !/ОО2 → МНО3 → МНО7/.test(pathText)) throw new Error(`path shown: ${pathText}`);
      await waitAttr(page, 'network', 'data-path-edges', 2);
      await waitAttr(page, 'live-status', 'data-state', 'open');
    });

    await step(page, 'an unload through B frees МНО3 on A, live', async () => {
      await call(B, 'POST', '/v1/storages/3/unload', {
        key: KEYS.storage3,
        body: { plastic: 10 },
        expect: 200,
      });
      await waitAttr(page, 'storage-3-plastic', 'data-stock', 0, 5000);
    });

    let previewNewest = 0;
    await step(page, 'ОО2 sees where each kilogram would go before sending', async () => {
      previewNewest = await newestTransfer(page);
      await page.fill(tid('handover-plastic'), '60');
      await page.fill(tid('handover-glass'), '20');
      await page.fill(tid('handover-bio'), '50');
      await waitAttr(page, 'handover-preview', 'data-state', 'ready');
      if (DOCS_SHOT) {
        // the README's picture: the preview beside the way to МНО7 on the map
        await page.screenshot({ path: DOCS_SHOT, clip: { x: 0, y: 0, width: 1400, height: 860 } });
        log(`README screenshot: ${DOCS_SHOT}`);
      }
      const rows = await page
        .locator(`${tid('handover-preview')} ${tid('preview-row')}`)
        .evaluateAll((trs) =>
          trs.map((tr) => `${tr.dataset.storageId}:${tr.dataset.wasteType}:${tr.dataset.amount}`).sort(),
        );
      const expected = ['3:bio:50', '3:plastic:10', '5:glass:20', '6:plastic:50'];
      if (JSON.stringify(rows) !== JSON.stringify(expected))
        throw new Error(`preview rows ${rows.join(' ')}, expected ${expected.join(' ')}`);
      const text = await page.locator(tid('handover-preview')).textContent();
      for (const name of ['МНО3', 'МНО7', 'МНО6', '650 m']) {
        if (!text.includes(name)) throw new Error(`the preview does not name ${name}: ${text}`);
      }
      if (await page.locator(tid('handover-submit')).isDisabled())
        throw new Error('the submit button is disabled after the preview');
      // nothing was sent: the ledger is as it was
      if ((await newestTransfer(page)) !== previewNewest) throw new Error('the preview changed the ledger');
      const sent = requests.filter(
        (r) => r.method() === 'POST' && r.url().includes('/transfers') && !r.url().includes('dry_run=true'),
      );
      if (sent.length) throw new Error('a real transfer was sent during the preview');
    });

    await step(page, 'ОО2 sends it with an Idempotency-Key and sees the result', async () => {
      const posted = page.waitForRequest(
        (r) => r.method() === 'POST' && /\/v1\/organizations\/2\/transfers$/.test(r.url()),
        { timeout: TIMEOUT },
      );
      await page.click(tid('handover-submit'));
      const request = await posted;
      const key = request.headers()['idempotency-key'];
      if (!key || !/^[0-9a-f-]{32,36}$/.test(key)) throw new Error(`Idempotency-Key header: ${key}`);
      await page.locator(`${tid('handover-result')} [data-transfer-id]`).waitFor({ timeout: TIMEOUT });
      const id = Number(
        await page.locator(`${tid('handover-result')} [data-transfer-id]`).getAttribute('data-transfer-id'),
      );
      if (!(id > previewNewest)) throw new Error(`transfer id ${id}`);
      await waitAttr(page, 'ledger', 'data-newest', id);
      await page.locator(tid(`transfer-${id}`)).waitFor({ timeout: TIMEOUT });
      await waitAttr(page, 'storage-3-plastic', 'data-stock', 10);
      await waitAttr(page, 'storage-3-bio', 'data-stock', 100);
      await waitAttr(page, 'storage-5-glass', 'data-stock', 40);
      await waitAttr(page, 'storage-6-plastic', 'data-stock', 100);
      const transfer = await call(A, 'GET', `/v1/transfers/${id}`, { key: KEYS.admin, expect: 200 });
      if (transfer.json.actor !== `key:${KEYS.org2.split('_')[1]}`) throw new Error(`actor ${transfer.json.actor}`);
    });

    await step(page, "a transfer through B shows in A's ledger and fills, live", async () => {
      const before = await stock(page, 3, 'bio');
      const made = await call(B, 'POST', '/v1/organizations/2/transfers', {
        key: KEYS.org2,
        body: { waste: { bio: 5 } },
        expect: 201,
      });
      await waitAttr(page, 'ledger', 'data-newest', made.json.id, 5000);
      await page.locator(tid(`transfer-${made.json.id}`)).waitFor({ timeout: 5000 });
      await waitAttr(page, 'storage-3-bio', 'data-stock', before + 5, 5000);
    });

    await step(page, 'a 429 is said plainly and Retry-After honoured', async () => {
      await page.route(
        /\/v1\/organizations\/2\/transfers\?dry_run=true$/,
        (route) =>
          route.fulfill({
            status: 429,
            headers: { 'Content-Type': 'application/problem+json', 'Retry-After': '2' },
            body: JSON.stringify({
              type: 'https://wasteflow.dev/problems/too-many-requests',
              title: 'Too Many Requests',
              status: 429,
              detail: 'Slow down.',
            }),
          }),
        { times: 1 },
      );
      allowHttpError(429, '/transfers');
      await page.fill(tid('handover-glass'), '1');
      await page.locator(tid('banner')).getByText('wait').waitFor({ timeout: TIMEOUT });
      // said in plain words, the service's own detail folded under it
      await page
        .locator(`${tid('handover-preview')} [data-problem="problem.too-many-requests"]`)
        .waitFor({ timeout: TIMEOUT });
      const said = await page.locator(tid('handover-preview')).innerText();
      if (/429|Too Many Requests/.test(said)) throw new Error(`the preview says: ${said}`);
      if (!(await page.locator(tid('handover-submit')).isDisabled()))
        throw new Error('submit enabled while rate limited');
      await snap(page, 'rate-limited');
      await page.locator(tid('banner')).waitFor({ state: 'hidden', timeout: 4000 });
      // once the wait is over the preview is asked for again, by itself
      await waitAttr(page, 'handover-preview', 'data-state', 'ready', 4000);
      await page.fill(tid('handover-glass'), '');
    });

    await signOutIfSignedIn(page);

    await step(page, "МНО3's operator unloads", async () => {
      await signIn(page, KEYS.storage3);
      await waitSignedIn(page, 'storage');
      if (await page.locator(tid('handover-form')).count()) throw new Error('a storage key sees the hand-over form');
      // nothing of the last session's data: a storage key cannot list organizations
      if ((await page.locator('body').innerText()).includes('ОО2'))
        throw new Error("the previous key's data is still shown");
      if (
        !(await page
          .locator(tid('organizations-card'))
          .isHidden()
          .catch(() => true))
      )
        throw new Error('a storage key sees organizations');
      await page.locator(tid('unload-form')).waitFor({ timeout: TIMEOUT });
      const before = await stock(page, 3, 'bio');
      await page.fill(tid('unload-bio'), '5');
      await page.click(tid('unload-submit'));
      await page.locator(tid('unload-result')).getByText('Unloaded').waitFor({ timeout: TIMEOUT });
      await waitAttr(page, 'storage-3-bio', 'data-stock', before - 5);
      // more than it holds: the problem's detail is shown
      allowHttpError(409, '/unload');
      await page.fill(tid('unload-plastic'), '999');
      await page.click(tid('unload-submit'));
      await page.locator(tid('unload-error')).waitFor({ timeout: TIMEOUT });
    });

    await signOutIfSignedIn(page);

    await step(page, 'a wrong key shows the sign-in error', async () => {
      allowHttpError(401, '/v1/me');
      await signIn(page, `wf_999999_${'0'.repeat(64)}`);
      await page.locator(tid('signin-error')).waitFor({ state: 'visible', timeout: TIMEOUT });
      const text = await page.locator(tid('signin-error')).textContent();
      if (!/refused/i.test(text)) throw new Error(`sign-in error says: ${text}`);
      if (await page.locator(tid('whoami')).isVisible()) throw new Error('signed in with a wrong key');
    });

    await step(page, 'a key revoked mid-session sends the console back to sign-in', async () => {
      const created = await call(B, 'POST', '/v1/api-keys', {
        key: KEYS.admin,
        body: { role: 'auditor', name: 'browser test: revoked mid-session' },
        expect: 201,
      });
      allowHttpError(401, '/v1/');
      await signIn(page, created.json.key);
      await waitSignedIn(page, 'auditor');
      await call(B, 'DELETE', `/v1/api-keys/${created.json.id}`, { key: KEYS.admin, expect: 204 });
      await until(
        'the revocation to reach A',
        async () => (await call(A, 'GET', '/v1/me', { key: created.json.key })).status === 401,
        3000,
      );
      await page.click(tid('refresh'));
      await page.locator(tid('signin-error')).waitFor({ state: 'visible', timeout: TIMEOUT });
      const stored = await page.evaluate(() => sessionStorage.getItem('wasteflow.console.key'));
      if (stored) throw new Error('the refused key is still stored');
    });
  } finally {
    await close();
  }
}

runMain(main);
