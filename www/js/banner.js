// Messages under the status line: each kept until the user dismisses it (newest first), with
// buttons for the next steps it offers (Retry, a smaller model, ...).

import { $, el } from './dom.js';

/**
 * A next step a banner offers: pressing it dismisses the banner, then runs `run`.
 * @typedef {{label: string, run: () => void}} Action
 */

/**
 * Shows `text` with its `actions`. The same text shown again replaces its older banner.
 * @param {string} text
 * @param {Action[]} [actions]
 * @returns {HTMLElement} the banner
 */
export function showBanner(text, actions = []) {
  const list = $('banners');
  for (const old of list.querySelectorAll('.banner')) if (old.dataset.text === text) old.remove();
  const b = el('div', 'banner');
  b.setAttribute('role', 'alert');
  b.dataset.text = text;
  const close = el('button', 'banner-close', '×');
  close.type = 'button';
  close.setAttribute('aria-label', 'Dismiss');
  close.onclick = () => b.remove();
  b.append(el('span', 'banner-text', text));
  for (const a of actions) {
    const button = el('button', 'banner-action', a.label);
    button.type = 'button';
    button.onclick = () => {
      b.remove();
      a.run();
    };
    b.append(' ', button);
  }
  b.append(' ', close);
  list.prepend(b);
  return b;
}

/** Dismisses every banner. */
export function hideBanners() {
  $('banners').replaceChildren();
}
