// What the browser tests share: calls to the API, the browser with its guards (every step
// fails on a browser console error other than the HTTP errors the step provokes, an uncaught
// page error, a Content-Security-Policy violation, or a request to a host other than
// instance A), page helpers and steps with one screenshot each. The environment comes from
// test/browser/run.sh:
//   WF_A, WF_B            base URLs of the two instances (same database)
//   WF_KEY_ADMIN, WF_KEY_ORG2, WF_KEY_STORAGE3   keys from `wasteflow keys create`
//   WF_SHOTS              directory for one screenshot per step
//   WF_DOCS_SHOT          optional: where to write the README's screenshot (docs/console.png)

import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const A = process.env.WF_A;
export const B = process.env.WF_B;
export const KEYS = {
  admin: process.env.WF_KEY_ADMIN,
  org2: process.env.WF_KEY_ORG2,
  storage3: process.env.WF_KEY_STORAGE3,
};
export const SHOTS = process.env.WF_SHOTS || path.join(os.tmpdir(), 'wasteflow-console-shots');
export const DOCS_SHOT = process.env.WF_DOCS_SHOT || ''; // also write docs/console.png there
const CHROMIUM = process.env.WF_CHROMIUM || '/usr/bin/chromium';
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const ORIGIN = new URL(A).origin;
export const TIMEOUT = 8000;

export function log(...args) {
  console.log('browser:', ...args);
}

// ------------------------------------------------------------------ direct API calls (B)

export async function call(base, method, urlPath, { key, body, expect } = {}) {
  const headers = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(base + urlPath, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (expect !== undefined && response.status !== expect) {
    throw new Error(`${method} ${base}${urlPath}: expected ${expect}, got ${response.status} ${text.slice(0, 300)}`);
  }
  return { status: response.status, json };
}

export async function until(what, check, timeout = TIMEOUT) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// ------------------------------------------------------------------ the browser and guards

const problems = []; // unexpected things seen by the page, drained by each step
let allowedErrors = []; // [{status, urlPart}] HTTP errors the current step provokes on purpose
export const requests = [];

export function allowHttpError(status, urlPart) {
  allowedErrors.push({ status, urlPart });
}

export function watch(context, page) {
  context.route(
    (url) => url.origin !== ORIGIN,
    (route) => route.abort('blockedbyclient'),
  );
  page.on('request', (request) => {
    requests.push(request);
    const url = request.url();
    if (!url.startsWith('data:') && new URL(url).origin !== ORIGIN) {
      problems.push(`request to another host: ${url}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    const where = message.location()?.url || '';
    const status = /status of (\d{3})/.exec(text);
    if (status && allowedErrors.some((a) => a.status === Number(status[1]) && where.includes(a.urlPart))) {
      return;
    }
    problems.push(`console error: ${text}${where ? ` (${where})` : ''}`);
  });
}

async function cspViolations(page) {
  return page.evaluate(() => window.__cspViolations || []).catch(() => []);
}

// ------------------------------------------------------------------ page helpers

export const tid = (id) => `[data-testid="${id}"]`;

export async function attr(page, id, name) {
  return page.locator(tid(id)).first().getAttribute(name);
}

export async function waitAttr(page, id, name, expected, timeout = TIMEOUT) {
  await page
    .waitForFunction(
      ([sel, attrName, value]) => {
        const el = document.querySelector(sel);
        return el && el.getAttribute(attrName) === value;
      },
      [tid(id), name, String(expected)],
      { timeout },
    )
    .catch(async () => {
      const now = await attr(page, id, name).catch(() => null);
      throw new Error(`${id} ${name}: expected ${expected}, still ${now}`);
    });
}

export async function signIn(page, key) {
  await page.locator(tid('signin-key')).waitFor({ state: 'visible', timeout: TIMEOUT });
  await page.fill(tid('signin-key'), key);
  await page.click(tid('signin-submit'));
}

export async function signOut(page) {
  await page.click(tid('signout'));
  await page.locator(tid('signin-key')).waitFor({ state: 'visible', timeout: TIMEOUT });
}

export async function waitSignedIn(page, role) {
  await page.locator(tid('whoami')).waitFor({ state: 'visible', timeout: TIMEOUT });
  await waitAttr(page, 'whoami', 'data-role', role);
  // the first paint of the lists
  await page.locator(tid('storage-1')).waitFor({ timeout: TIMEOUT });
}

export async function stock(page, storageId, type) {
  return Number(await attr(page, `storage-${storageId}-${type}`, 'data-stock'));
}

export async function newestTransfer(page) {
  return Number((await attr(page, 'ledger', 'data-newest')) || 0);
}

// ------------------------------------------------------------------ axe-core and layout

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// axe-core on the page as it is: the serious and critical violations, as text.
export async function axeViolations(page) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      nodes: v.nodes.length,
      target: v.nodes[0]?.target?.join(' '),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export async function expectNoAxeViolations(page, where) {
  const bad = await axeViolations(page);
  log(`  axe-core on ${where}: ${bad.length} serious or critical`);
  if (bad.length) throw new Error(`axe-core on ${where}: ${JSON.stringify(bad)}`);
}

// Nothing wider than the viewport: the document does not scroll sideways, and the given
// elements are wholly inside it.
export async function expectOnScreen(page, ids) {
  const width = page.viewportSize().width;
  const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
  if (scroll > width) throw new Error(`the page is ${scroll} px wide at a ${width} px viewport`);
  for (const id of ids) {
    const box = await page.locator(tid(id)).boundingBox();
    if (!box || box.x < 0 || box.x + box.width > width) throw new Error(`${id} is off screen: ${JSON.stringify(box)}`);
  }
}

// Every text node on the page at least 12 px.
export async function smallestText(page) {
  return page.evaluate(() => {
    let smallest = Infinity;
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement;
      if (!node.textContent.trim() || !el || !el.getClientRects().length) continue;
      smallest = Math.min(smallest, parseFloat(getComputedStyle(el).fontSize));
    }
    return smallest;
  });
}

// ------------------------------------------------------------------ steps

const results = [];
let shotNumber = 0;

// An extra screenshot in the middle of the current step.
export async function snap(page, label) {
  const file = `${String(shotNumber).padStart(2, '0')}b-${label}.png`;
  await page.screenshot({ path: path.join(SHOTS, file), fullPage: true });
}

export async function step(page, name, fn) {
  shotNumber++;
  const latin = name.replace(/[ОНМ]/g, (c) => ({ О: 'O', Н: 'N', М: 'M' })[c]);
  const slug = latin
    .replace(/[^a-z0-9]+/gi, '-')
    .replace(/^-|-$/g, '')
    .toLowerCase();
  const shot = path.join(SHOTS, `${String(shotNumber).padStart(2, '0')}-${slug}.png`);
  problems.length = 0;
  allowedErrors = [];
  const started = Date.now();
  let error = null;
  try {
    await fn(page);
  } catch (e) {
    error = e;
  }
  await page.waitForTimeout(150); // let late console messages arrive
  const violations = await cspViolations(page);
  await page
    .evaluate(() => {
      window.__cspViolations = [];
    })
    .catch(() => {});
  for (const v of violations) problems.push(`CSP violation: ${v}`);
  await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (error || problems.length) {
    const why = [error ? error.message : null, ...problems].filter(Boolean).join('\n    ');
    results.push({ name, status: 'failed', reason: why, shot });
    log(`FAIL ${name} (${seconds} s)\n    ${why}\n    screenshot: ${shot}`);
  } else {
    results.push({ name, status: 'passed', shot });
    log(`ok   ${name} (${seconds} s) screenshot: ${shot}`);
  }
}

// ------------------------------------------------------------------ the browser

// Debian's Chromium with a throwaway profile, at the given viewport and language, watched by
// the guards above. Returns {context, page, close}.
export async function launch(viewport, locale) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wasteflow-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    locale,
    timezoneId: 'UTC',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(
        `${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile || ''}:${e.lineNumber || ''})`,
      );
    });
  });
  const page = context.pages()[0] || (await context.newPage());
  watch(context, page);
  return {
    context,
    page,
    close: async () => {
      await context.close().catch(() => {});
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Prints the steps' results and sets the exit code.
export function report() {
  const count = (s) => results.filter((r) => r.status === s).length;
  log(`screenshots: ${SHOTS}`);
  for (const r of results.filter((x) => x.status !== 'passed'))
    log(`  ${r.status}: ${r.name}${r.reason ? ` — ${r.reason.split('\n')[0]}` : ''}`);
  console.log(`browser: ${count('passed')} passed, ${count('failed')} failed`);
  process.exitCode = count('failed') ? 1 : 0;
}

export async function signOutIfSignedIn(page) {
  if (
    await page
      .locator(tid('signout'))
      .isVisible()
      .catch(() => false)
  ) {
    await signOut(page);
  }
}

// One browser window for a block of steps: launched at that viewport and locale, given to fn
// (what launch returns: { context, page, close }), then signed out and closed whatever
// happened.
export async function withPage(viewport, locale, fn) {
  const launched = await launch(viewport, locale);
  try {
    return await fn(launched);
  } finally {
    await signOutIfSignedIn(launched.page).catch(() => {});
    await launched.close();
  }
}

// Runs a test script's main and reports its steps; a failure outside any step (before the
// first, or in the set-up between them) is one failure.
export function runMain(main) {
  main().then(report, (error) => {
    console.error('browser:', error);
    console.log('browser: 0 passed, 1 failed');
    process.exitCode = 1;
  });
}
