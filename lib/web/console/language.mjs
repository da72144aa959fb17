// The page's language (the DOM side of i18n.mjs): chosen at start, applied to the page's
// static text, switched with the top bar's select.

import { locale, pickLocale, setLocale, t } from './i18n.mjs';

const $ = (id) => document.getElementById(id);

const LOCALE_STORAGE = 'wasteflow.console.locale';

// The language: the one chosen with the switch, else the browser's preference. Static text
// of the page carries data-i18n (its text), data-i18n-placeholder or data-i18n-label.
export function startLanguage() {
  let saved = null;
  try {
    saved = localStorage.getItem(LOCALE_STORAGE);
  } catch {
    saved = null;
  }
  setLocale(pickLocale(saved, navigator.languages || [navigator.language]));
  document.documentElement.lang = locale();
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of document.querySelectorAll('[data-i18n-label]'))
    el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  const select = $('language');
  select.value = locale();
  // Everything on the page is drawn in one language: a switch draws the page again (the
  // key stays in this tab, so the user stays signed in).
  select.addEventListener('change', () => {
    try {
      localStorage.setItem(LOCALE_STORAGE, select.value);
    } catch {
      // without storage the choice lasts for this page only
    }
    location.reload();
  });
}
