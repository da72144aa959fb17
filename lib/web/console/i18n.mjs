// The console's languages: Russian and English, one catalogue (messages.mjs), numbers and
// dates through Intl in the chosen language and the browser's time zone. Russian is chosen
// when the browser prefers it over English (navigator.languages), or when the user picked
// it with the switch (kept in localStorage). No DOM here except through the arguments.

import { MESSAGES } from './messages.mjs';

export const LOCALES = ['ru', 'en'];
const FALLBACK = 'en';

let current = FALLBACK;
let numbers = new Intl.NumberFormat(FALLBACK, { maximumFractionDigits: 0 });
let decimals = new Intl.NumberFormat(FALLBACK, { maximumFractionDigits: 1 });
let plurals = new Intl.PluralRules(FALLBACK);
let dates = new Intl.DateTimeFormat(FALLBACK, { dateStyle: 'medium', timeStyle: 'medium' });
let times = new Intl.DateTimeFormat(FALLBACK, { timeStyle: 'medium' });

// The language for a saved choice (or none) and the browser's list of preferred languages:
// the saved one when it is known, else the first of the list that we have, else English.
export function pickLocale(saved, languages) {
  if (LOCALES.includes(saved)) {
    return saved;
  }
  for (const tag of languages || []) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (LOCALES.includes(base)) {
      return base;
    }
  }
  return FALLBACK;
}

export function setLocale(locale, timeZone) {
  current = LOCALES.includes(locale) ? locale : FALLBACK;
  const zone = timeZone ? { timeZone } : {};
  numbers = new Intl.NumberFormat(current, { maximumFractionDigits: 0 });
  decimals = new Intl.NumberFormat(current, { maximumFractionDigits: 1 });
  plurals = new Intl.PluralRules(current);
  dates = new Intl.DateTimeFormat(current, { dateStyle: 'medium', timeStyle: 'medium', ...zone });
  times = new Intl.DateTimeFormat(current, { timeStyle: 'medium', ...zone });
}

export function locale() {
  return current;
}

// The message `key` in the current language with {name} replaced by params.name (numbers
// with digit grouping). A message may be plural: {one, few, many, other}, chosen by
// params.n. An unknown key shows itself, so a missing translation is seen, not hidden.
export function t(key, params = {}) {
  let message = MESSAGES[current][key] ?? MESSAGES[FALLBACK][key] ?? key;
  if (typeof message === 'object') {
    message = message[plurals.select(Number(params.n) || 0)] ?? message.other;
  }
  return message.replace(/\{(\w+)\}/g, (whole, name) => {
    const value = params[name];
    if (value === undefined || value === null) {
      return whole;
    }
    return typeof value === 'number' ? numbers.format(value) : String(value);
  });
}

// 1234567 -> "1,234,567" (en) or "1 234 567" (ru, with no-break spaces).
export function number(value) {
  return numbers.format(value);
}

export function decimal(value) {
  return decimals.format(value);
}

// An ISO date-time in the user's language and time zone; '' or the text itself when it is
// not a date.
export function dateTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso || '' : dates.format(date);
}

export function clock(date) {
  return times.format(date);
}

// A waste type's name in the current language (the codes of the seed's types), else the
// name the service gives, else the code.
export function wasteTypeName(code, serviceName) {
  const key = `waste.${code}`;
  const known = MESSAGES[current][key];
  return known || serviceName || code;
}
