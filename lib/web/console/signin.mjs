// The sign-in card, and the key kept in this tab's session storage (forgotten at sign-out
// or when the service refuses it).

import { ApiError } from './api.mjs';
import { byTestId } from './dom.mjs';
import { t } from './i18n.mjs';

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
      error.textContent = e instanceof ApiError && e.status === 401 ? t('signin.refused') : t('signin.failed');
      error.hidden = false;
    } finally {
      button.disabled = false;
      button.textContent = t('signin.submit');
    }
  });
}
