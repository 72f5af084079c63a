// The browser suite's harness: paths, the native CLI, steps and their results, the browser, and
// waiting on the page.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { scratch, withProfile } from './scratch.mjs';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const fixtures = path.join(repo, 'tests/fixtures');
export const zsDir = path.join(fixtures, 'zeroshot');
export const shots = path.join(repo, 'target/browser');
mkdirSync(shots, { recursive: true });
export const tmp = scratch('glimpse-browser-');
const WAIT = Number(process.env.GLIMPSE_BROWSER_TIMEOUT || 300) * 1000;

// Flags from ../shared/REFERENCE.md §2 (playwright adds the headless flag itself).
export const FLAGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];

// ---------------------------------------------------------------- the native CLI

const exe = path.join(repo, 'target/release/glimpse');

/** Runs the CLI (on the CPU) and parses the JSON it prints. */
export function native(args) {
  return JSON.parse(execFileSync(exe, [...args, '--backend', 'cpu'], { encoding: 'utf8', maxBuffer: 1 << 28 }));
}

let captionRuns = 0;
/**
 * `glimpse caption ARGS --details FILE` on `images` (on the CPU): the details (tokens, text) by
 * image name without extension.
 */
export function nativeCaptions(args, images) {
  const n = ++captionRuns;
  const details = path.join(tmp, `details_${n}.json`);
  execFileSync(exe, ['caption', ...args, '--details', details, '--out', path.join(tmp, `captions_${n}.json`), '--backend', 'cpu', ...images]);
  return JSON.parse(readFileSync(details, 'utf8'));
}

// ---------------------------------------------------------------- steps

export const results = [];

/**
 * Runs one named step; a failure is logged and counted, and the suite goes on. GLIMPSE_STEPS (a
 * regular expression) runs only the steps whose names match (while working on one).
 */
export async function step(name, fn) {
  if (process.env.GLIMPSE_STEPS && !new RegExp(process.env.GLIMPSE_STEPS).test(name)) return;
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}: ${e.stack || e}`);
  }
}

/** A fresh browser (its own profile: an empty cache, removed when the browser closes). */
export async function launch(extra = {}) {
  return withProfile('glimpse-profile-', (dir) => chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: extra.args || FLAGS,
    viewport: { width: 1280, height: 900 },
  }));
}

// ---------------------------------------------------------------- the page

// Waits for `fn(arg)` in the page; stops early (failing) when the page shows an error banner,
// unless `banner` is true (the step expects one).
export async function until(page, fn, arg, what, banner = false) {
  const status = () =>
    page.evaluate(() => `${document.getElementById('status').textContent} | banner: ${document.querySelector('#banners .banner') ? document.querySelector('#banners .banner-text').textContent : '-'}`);
  try {
    const handle = await page.waitForFunction(
      ([src, a, allowBanner]) => {
        if (!allowBanner && Boolean(document.querySelector('#banners .banner'))) return 'banner';
        return new Function('return ' + src)()(a) && 'ok';
      },
      [fn.toString(), arg, banner],
      { timeout: WAIT, polling: 250 },
    );
    if ((await handle.jsonValue()) === 'banner') throw new Error('error banner');
  } catch (e) {
    throw new Error(`${e.message.startsWith('error banner') ? 'error' : 'timed out'} while waiting for ${what} (page: ${await status()})`);
  }
}

export function maxDiff(a, b) {
  assert.equal(a.length, b.length, 'lengths differ');
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

/** Sets the page's decoding fields (the user's choice: sent with every caption). */
export async function captionOptions(p, o) {
  await p.selectOption('#beams', String(o.beams));
  await p.fill('#max-tokens', String(o.maxTokens));
}

/** Hovers word `i` of a card's caption and waits until its attention map is drawn; the overlay's pixels. */
export async function hoverWord(card, i) {
  await card.locator('.chip').nth(i).hover();
  return overlayOf(card, String(i));
}

/** Waits until a card's overlay shows `word` ('' for none); its pixels. */
export async function overlayOf(card, word) {
  const canvas = card.locator('canvas.overlay');
  await canvas.evaluate((c, w) => new Promise((done, fail) => {
    const t0 = Date.now();
    const check = () => {
      if (c.dataset.word === w) done();
      else if (Date.now() - t0 > 30000) fail(new Error(`the overlay shows word "${c.dataset.word}", not "${w}"`));
      else setTimeout(check, 50);
    };
    check();
  }), word);
  return canvas.evaluate((c) => c.toDataURL());
}

/** Opens a page of the suite's server with query `q` and waits for the engine. */
export async function open(browser, url, q) {
  const p = await browser.newPage();
  await p.goto(url + q);
  await p.evaluate(() => window.glimpse.ready);
  return p;
}

/**
 * Goes to `u` and waits for the engine, through the one reload js/isolation.js may make to isolate the
 * page: {info (what init said), loads (how many times the page loaded)}.
 */
export async function gotoAndStart(p, u) {
  let loads = 0;
  const count = (f) => f === p.mainFrame() && loads++;
  p.on('framenavigated', count);
  await p.goto(u);
  for (;;) {
    try {
      const info = await p.evaluate(() => window.glimpse.ready);
      p.off('framenavigated', count);
      return { info, loads };
    } catch (e) {
      if (!/context was destroyed|navigat|glimpse is undefined|reading 'ready'/i.test(e.message)) throw e;
      await p.waitForLoadState('load');
    }
  }
}

/** The photos of a page with their state (what the steps compare). */
export function photos(p) {
  return p.evaluate(() => window.glimpse.state.photos.map((x) => ({ name: x.name, probs: x.probs && [...x.probs], tokens: x.caption?.tokens, options: x.captionOptions })));
}

// ---------------------------------------------------------------- threads

/**
 * CPU seconds used so far by each Web Worker thread of the browser's processes (Linux /proc:
 * Chromium names them "DedicatedWorker"), by "pid/tid". With `busyWorkers` it tells whether the
 * threaded build really ran on more than one thread.
 */
export function workerCpu() {
  const tick = 100; // USER_HZ on Linux
  const out = new Map();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let tids;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('chrom')) continue;
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const tid of tids) {
      try {
        if (!readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').startsWith('DedicatedWorker')) continue;
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from the 3rd on
        out.set(`${pid}/${tid}`, (Number(fields[11]) + Number(fields[12])) / tick); // utime + stime
      } catch {}
    }
  }
  return out;
}

/** The worker threads that used at least `min` CPU seconds between two `workerCpu` readings. */
export function busyWorkers(before, after, min = 0.2) {
  return [...after].filter(([k, s]) => s - (before.get(k) || 0) >= min).map(([k, s]) => ({ thread: k, seconds: s - (before.get(k) || 0) }));
}
