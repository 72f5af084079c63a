// One progress bar for every load in flight (CLIP and the captioner may load one after the other).

import { $ } from './dom.js';
import { fmtBytes, fmtTime } from './format.js';

const loads = new Map(); // label -> {done, total, file, started}

function render() {
  $('progress').hidden = loads.size === 0;
  let done = 0;
  let total = 0;
  let opening = false; // a load still reading headers (its total is not known yet)
  for (const l of loads.values()) {
    done += l.done;
    total += l.total;
    opening ||= l.total === 0;
  }
  const names = [...loads.keys()].join(' and ');
  $('progress-bar').value = total ? done / total : 0;
  if (!total) {
    $('progress-text').textContent = `${names}: reading headers…`;
    return;
  }
  const started = Math.min(...[...loads.values()].map((l) => l.started));
  const secs = (performance.now() - started) / 1000;
  const rate = done / Math.max(secs, 1e-3);
  const eta = rate > 0 ? (total - done) / rate : 0;
  const files = [...loads.values()].map((l) => l.file.split('/').pop()).filter(Boolean); // the name, not the folder
  $('progress-text').textContent =
    `${names}: ${fmtBytes(done)} of ${fmtBytes(total)}` +
    (files.length === 1 ? ` (${files[0]})` : '') +
    (done < total && !opening ? `, about ${fmtTime(eta)} left` : '');
}

/**
 * A load's share of the bar: `update(m)` with the worker's progress messages ({done, total,
 * file}), `done()` when it ends.
 * @param {string} label
 */
export function progress(label) {
  loads.set(label, { done: 0, total: 0, file: '', started: performance.now() });
  render();
  return {
    update(m) {
      loads.set(label, { ...loads.get(label), done: m.done, total: m.total, file: m.file });
      render();
    },
    done() {
      loads.delete(label);
      render();
    },
  };
}
