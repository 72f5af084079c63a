// The banner under the status line: one message at a time, with a Retry button when there is
// something to retry.

import { $ } from './dom.js';

let retryAction = null;

/**
 * Shows `text`; `retry`, when given, is run by the Retry button.
 * @param {string} text
 * @param {(() => void)|null} [retry]
 */
export function showBanner(text, retry = null) {
  $('banner-text').textContent = text;
  $('banner').hidden = false;
  retryAction = retry;
  $('banner-retry').hidden = !retry;
}

export function hideBanner() {
  $('banner').hidden = true;
}

export function initBanner() {
  $('banner-close').onclick = hideBanner;
  $('banner-retry').onclick = () => {
    hideBanner();
    retryAction?.();
  };
}
