// The console's languages: the catalogue is complete in both, the language is chosen as
// the browser prefers, numbers and plurals follow the language, refusals read as sentences.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiError } from '../../../lib/web/console/api.mjs';
import * as f from '../../../lib/web/console/format.mjs';
import { number, pickLocale, setLocale, t, wasteTypeName } from '../../../lib/web/console/i18n.mjs';
import { MESSAGES } from '../../../lib/web/console/messages.mjs';
import { problemKey } from '../../../lib/web/console/problems.mjs';

const consoleDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../lib/web/console');

test('both languages have the same keys, and plural messages the forms each needs', () => {
  assert.deepEqual(Object.keys(MESSAGES.ru).sort(), Object.keys(MESSAGES.en).sort());
  for (const [key, value] of Object.entries(MESSAGES.ru)) {
    if (typeof value === 'object') {
      assert.deepEqual(Object.keys(value).sort(), ['few', 'many', 'one', 'other'], key);
      assert.deepEqual(Object.keys(MESSAGES.en[key]).sort(), ['one', 'other'], key);
    }
  }
});

test('every key the modules and the page use is in the catalogue', () => {
  const used = new Set();
  for (const file of fs.readdirSync(consoleDir)) {
    const text = fs.readFileSync(path.join(consoleDir, file), 'utf8');
    if (file.endsWith('.mjs') && file !== 'messages.mjs') {
      for (const m of text.matchAll(/\bt\(\s*'([a-zA-Z0-9_.-]+)'/g)) used.add(m[1]);
      for (const m of text.matchAll(/\bt\(\s*[^'`()]*\?\s*'([a-zA-Z0-9_.-]+)'\s*:\s*'([a-zA-Z0-9_.-]+)'/g)) {
        used.add(m[1]);
        used.add(m[2]);
      }
    }
    if (file.endsWith('.html')) {
      for (const m of text.matchAll(/data-i18n(?:-placeholder|-label)?="([^"]+)"/g)) used.add(m[1]);
    }
  }
  assert.ok(used.size > 150, `only ${used.size} keys found: the scan is broken`);
  const missing = [...used].filter((key) => !(key in MESSAGES.en));
  assert.deepEqual(missing, []);
  // keys built from a value: every value they can take
  for (const role of ['admin', 'auditor', 'organization', 'storage', 'monitor']) assert.ok(MESSAGES.en[`role.${role}`]);
  for (const trigger of ['request', 'auto']) assert.ok(MESSAGES.ru[`trigger.${trigger}`]);
  for (const intake of ['automatic', 'weighed']) assert.ok(MESSAGES.ru[`intake.${intake}`]);
  for (const column of ['when', 'organization', 'trigger', 'by', 'received', 'shipped', 'pending'])
    assert.ok(MESSAGES.ru[`ledger.col.${column}`]);
});

test('Russian where the browser prefers it, a saved choice first, English otherwise', () => {
  assert.equal(pickLocale(null, ['ru-RU', 'en-US']), 'ru');
  assert.equal(pickLocale(null, ['de-DE', 'ru']), 'ru');
  assert.equal(pickLocale(null, ['en-GB', 'ru-RU']), 'en');
  assert.equal(pickLocale(null, ['de-DE']), 'en');
  assert.equal(pickLocale(null, []), 'en');
  assert.equal(pickLocale('en', ['ru-RU']), 'en');
  assert.equal(pickLocale('fr', ['ru-RU']), 'ru');
});

test('numbers are grouped, plurals and waste types follow the language', () => {
  setLocale('ru', 'UTC');
  try {
    assert.equal(number(999999999464), '999\u00a0999\u00a0999\u00a0464');
    assert.equal(f.kg(1500), '1\u00a0500 кг');
    assert.equal(f.metres(12345), '12,3 км');
    assert.equal(f.percent(0.5), '50 %');
    assert.equal(t('banner.wait', { n: 1 }), 'Слишком много запросов по этому ключу: подождите 1 секунду и повторите.');
    assert.equal(t('banner.wait', { n: 3 }), 'Слишком много запросов по этому ключу: подождите 3 секунды и повторите.');
    assert.equal(t('banner.wait', { n: 5 }), 'Слишком много запросов по этому ключу: подождите 5 секунд и повторите.');
    assert.equal(wasteTypeName('plastic', 'Plastic'), 'пластик');
    assert.equal(wasteTypeName('metal', 'Metal'), 'Metal');
    assert.equal(f.quantities({ plastic: 10, bio: 1500 }), 'биоотходы 1\u00a0500 кг, пластик 10 кг');
    assert.equal(f.time('2026-12-07T04:05:06Z'), '7 дек. 2026 г., 04:05:06');
  } finally {
    setLocale('en', 'UTC');
  }
  assert.equal(number(999999999464), '999,999,999,464');
  assert.equal(t('ledger.page', { page: 1, pages: 2, n: 1 }), 'Page 1 of 2 · 1 transfer');
  assert.equal(t('ledger.page', { page: 1, pages: 2, n: 1500 }), 'Page 1 of 2 · 1,500 transfers');
  assert.equal(t('no.such.key'), 'no.such.key');
  assert.equal(f.time('2026-12-07T04:05:06Z'), 'Dec 7, 2026, 4:05:06 AM');
});

test('a refusal becomes the sentence for what the user was doing, never a status line', () => {
  const problem = (status, slug) =>
    new ApiError(status, { type: `https://wasteflow.dev/problems/${slug}`, status, detail: 'x' });
  assert.equal(problemKey(problem(409, 'conflict'), 'handover'), 'problem.handover.conflict');
  assert.equal(problemKey(problem(409, 'conflict'), 'unload'), 'problem.unload.conflict');
  assert.equal(problemKey(problem(409, 'conflict'), 'save'), 'problem.save.conflict');
  assert.equal(problemKey(problem(409, 'conflict')), 'problem.conflict');
  assert.equal(problemKey(problem(409, 'idempotency-key-in-flight'), 'handover'), 'problem.idempotency-key-in-flight');
  assert.equal(problemKey(problem(403, 'forbidden')), 'problem.forbidden');
  assert.equal(problemKey(problem(502, 'bad-gateway')), 'problem.5xx');
  assert.equal(problemKey(problem(418, 'teapot')), 'problem.other');
  assert.equal(problemKey(new ApiError(0, null)), 'problem.network');
  assert.equal(problemKey(new Error('boom')), 'problem.unexpected');
  for (const lang of ['en', 'ru']) {
    for (const [key, text] of Object.entries(MESSAGES[lang])) {
      if (key.startsWith('problem.')) assert.doesNotMatch(text, /\b\d{3}\b|Conflict|Unprocessable/, key);
    }
  }
});
