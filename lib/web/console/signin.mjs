// The sign-in card, and the key kept in this tab's session storage (forgotten at sign-out
// or when the service refuses it).

import { ApiError } from './api.mjs';
import { byTestId } from './dom.mjs';
import { t } from './i18n.mjs';
import { problemText } from './problems.mjs';

const KEY_STORAGE = 'wasteflow.console.key';
const $ = (id) => document.getElementById(id);

export function savedKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null; // storage may be off
  }
}

export function forgetKey() {
  try {
    sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // nothing stored
  }
}

function keepKey(key) {
  try {
    sessionStorage.setItem(KEY_STORAGE, key);
  } catch {
    // storage may be off: the key then lasts until the page is closed
  }
}

// Shows the card (and hides the console), with a message why when there is one.
export function showSignIn(message) {
  $('console').hidden = true;
  $('signin').hidden = false;
  for (const id of ['who', 'live', 'signout', 'refresh']) {
    $(id).hidden = true;
  }
  const error = byTestId('signin-error');
  error.textContent = message || '';
  error.hidden = !message;
  $('signin-key').value = '';
  $('signin-key').focus();
}

// Why a key did not sign in, in plain words: refused (401), a monitoring key (403: it may
// not read /v1/me), the service out of reach, or the service's refusal.
export function refusalText(error) {
  if (!(error instanceof ApiError) || error.status === 0) return t('signin.failed');
  if (error.status === 401) return t('signin.refused');
  if (error.status === 403) return t('signin.monitor');
  return problemText(error, 'signin');
}

// On submit: GET /v1/me with the typed key; when it is accepted, keeps it and calls
// onSignedIn(key, me).
export function listenForSignIn(api, onSignedIn) {
  $('signin-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const typed = $('signin-key').value.trim();
    const error = byTestId('signin-error');
    const button = byTestId('signin-submit');
    if (!typed) {
      error.textContent = t('signin.empty');
      error.hidden = false;
      return;
    }
    button.disabled = true;
    button.textContent = t('signin.busy');
    error.hidden = true;
    try {
      const answer = await api.request('GET', '/v1/me', { key: typed });
      keepKey(typed);
      await onSignedIn(typed, answer.body);
    } catch (e) {
      error.textContent = refusalText(e);
      error.hidden = false;
    } finally {
      button.disabled = false;
      button.textContent = t('signin.submit');
    }
  });
}
