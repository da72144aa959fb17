// The console's message catalogue: every string the page shows, by key, in English and
// Russian. {name} is replaced by a parameter; a plural message has one/other (English) or
// one/few/many/other (Russian) forms, chosen by the parameter n with Intl.PluralRules.
// test/browser/unit/i18n.test.mjs checks that both languages have the same keys and that
// every key the modules and the page use is here.

import { EN } from './messages-en.mjs';
import { RU } from './messages-ru.mjs';

export const MESSAGES = { en: EN, ru: RU };
