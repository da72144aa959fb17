// A refusal of the service (problem+json) said in plain words: a sentence chosen by the
// problem's type and status, and by what the user was doing, in the user's language; the
// service's own detail (English, for support) stays folded under it. Never "409 Conflict".

import { ApiError } from './api.mjs';
import { h } from './dom.mjs';
import { t } from './i18n.mjs';

// The slug of a problem type URI: ".../problems/conflict" -> "conflict".
function slug(problem) {
  const type = (problem && problem.type) || '';
  return type.slice(type.lastIndexOf('/') + 1);
}

// The message key for an error met while doing `action` (handover, unload, save, signin,
// load; or none): the most specific one the catalogue has.
export function problemKey(error, action = '') {
  if (!(error instanceof ApiError)) {
    return 'problem.unexpected';
  }
  if (error.status === 0) {
    return 'problem.network';
  }
  const kind = slug(error.problem);
  const candidates = [
    `problem.${action}.${kind}`,
    `problem.${kind}`,
    `problem.${action}.${error.status}`,
    `problem.${error.status}`,
  ];
  return candidates.find((key) => t(key) !== key) || (error.status >= 500 ? 'problem.5xx' : 'problem.other');
}

export function problemText(error, action = '') {
  return t(problemKey(error, action));
}

export function problemView(error, action = '') {
  const key = problemKey(error, action);
  const detail = error instanceof ApiError ? error.detail : String(error && error.message ? error.message : error);
  const fields = error instanceof ApiError ? error.fieldErrors : [];
  return h(
    'div',
    { class: 'problem', testid: 'problem', dataset: { status: error?.status ?? '', problem: key } },
    h('p', { class: 'error', text: t(key) }),
    fields.length
      ? h(
          'ul',
          null,
          fields.map((text) => h('li', { text })),
        )
      : null,
    detail ? h('details', { class: 'problem-detail' }, h('summary', { text: t('problem.details') }), detail) : null,
  );
}
