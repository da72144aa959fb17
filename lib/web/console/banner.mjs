// The banner under the top bar, and the wait a 429 asks for: while it lasts the forms that
// send keep their submit disabled (rateLimited()) and the banner counts down.

import { t } from './i18n.mjs';

export function createBanner(el, onChange) {
  let until = 0;
  let timer = null;

  function show(kind, text) {
    el.className = `banner ${kind}`;
    el.dataset.kind = kind;
    el.textContent = text;
    el.hidden = false;
  }

  function clear() {
    clearInterval(timer);
    until = 0;
    el.hidden = true;
  }

  function rateLimited(retryAfter) {
    until = Date.now() + (retryAfter ?? 1) * 1000;
    clearInterval(timer);
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) {
        clear();
        onChange();
        return;
      }
      show('warning', t('banner.wait', { n: left }));
    };
    tick();
    timer = setInterval(tick, 250);
    onChange();
  }

  return { show, clear, rateLimited, isRateLimited: () => until > Date.now() };
}
