// The page's entry: starts the engine (worker.js, the Rust engine on WebGPU or the CPU) and wires
// the modules in js/: rpc (the worker), state, models, zeroshot, fewshot, captions and overlay, gallery,
// search, status, banner and progress.

// First: it may reload the page once to make it cross-origin isolated (threads).
import { isolation } from './js/isolation.js';
import { showBanner } from './js/banner.js';
import { captionAll, initCaptions, recaptionStale } from './js/captions.js';
import { $ } from './js/dom.js';
import { exportText, initExport } from './js/export.js';
import { fewshotReport, fit as fitFewshot, initFewshot } from './js/fewshot.js';
import { fmtBytes } from './js/format.js';
import { initGallery, startWork } from './js/gallery.js';
import { CONFIRM_ABOVE, forget, loadAgain, loadCaptioner, loadClip, renderCaptionButton } from './js/models.js';
import { initOverlays } from './js/overlay.js';
import { backendParam, params, threadsParam } from './js/params.js';
import { call, onRestart, onWorkerFailure, startEngine } from './js/rpc.js';
import { initSearch } from './js/search.js';
import { state } from './js/state.js';
import { renderStatus } from './js/status.js';
import { embedAll, initZeroShot, rescore, updateTruth } from './js/zeroshot.js';

const WEBGPU_WHERE =
  'WebGPU works in Chrome and Edge 113+ on Windows, macOS and ChromeOS, Chrome 121+ on Android, Safari 26+, and Firefox 141+ on Windows. On Linux, start Chrome with --enable-unsafe-webgpu (or enable chrome://flags/#enable-unsafe-webgpu).';

// ---------------------------------------------------------------- the models panel

function initModelsPanel() {
  for (const [key, id] of [['peft', 'peft-url'], ['encoder', 'enc-url'], ['decoder', 'dec-url']]) if (params.get(key)) $(id).value = params.get(key);
  if (params.get('clip')) {
    $('clip-choice').value = 'custom';
    $('clip-url').hidden = false;
    $('clip-url').value = params.get('clip');
  }
  const clipNext = () => {
    const o = $('clip-choice').selectedOptions[0];
    let text = 'the model at the URL given';
    if (!params.get('clip') && o.dataset.size) text = `${o.dataset.name}, ${o.dataset.size} once${Number(o.dataset.bytes) > CONFIRM_ABOVE ? ', after you confirm' : ''}`;
    $('clip-next').textContent = text;
  };
  clipNext();
  $('clip-choice').onchange = () => {
    $('clip-url').hidden = $('clip-choice').value !== 'custom';
    clipNext();
  };
  $('clip-load').onclick = () => {
    params.delete('clip'); // the panel's choice from now on
    loadAgain('clip').catch(() => {});
  };
  $('cap-load').onclick = () => loadAgain('captioner').catch(() => {});
  $('cap-model').onchange = () => {
    if (state.captioner.phase !== 'loading') forget('captioner'); // the next caption loads the one chosen
    renderCaptionButton();
    renderStatus();
  };
  // The address may name the captioner (?model=, ?peft=, ?encoder= and ?decoder=): the menu says so.
  const named = ['model', 'peft', 'encoder', 'decoder'].filter((k) => params.get(k));
  if (named.length) {
    const o = new Option(`from this page's address (${named.map((k) => `${k}=${params.get(k)}`).join(', ')})`, params.get('model') || '');
    $('cap-model').prepend(o);
    $('cap-model').value = o.value;
    o.selected = true;
  }
  $('caption-all').onclick = () => {
    if (state.captioner.phase === 'none' || state.captioner.phase === 'failed') loadAgain('captioner').catch(() => {});
    else if (Number($('caption-all').dataset.stale)) recaptionStale()?.catch(() => {});
    else captionAll()?.catch(() => {});
  };
  $('peft-files').onchange = () => {
    if ($('peft-files').files.length) $('cap-load').focus();
    renderCaptionButton();
  };
  for (const id of ['peft-url', 'enc-url', 'dec-url']) $(id).addEventListener('input', renderCaptionButton);
  $('cache-clear').onclick = async () => {
    await call('clearCache');
    $('cache-info').textContent = 'Downloaded models removed from this browser.';
  };
}

async function showCacheSize() {
  const n = await call('cacheSize').catch(() => 0);
  $('cache-info').textContent = n ? `${fmtBytes(n)} of models kept in this browser.` : 'Downloaded models are kept in this browser.';
}

// ---------------------------------------------------------------- the engine

// A dead engine was replaced: photos and results stay; models load again when next needed.
onRestart((err, ready) => {
  state.restarts += 1;
  state.ready = false;
  forget('clip');
  forget('captioner');
  renderStatus();
  ready.then(
    () => {
      state.ready = true;
      renderStatus();
    },
    (e) => showBanner(`The engine stopped, and could not be started again: ${e.message}. Reload the page.`),
  );
  showBanner(`The engine stopped: ${err.message}. It was restarted; your photos and results are kept, and models load again when needed.`);
});
onWorkerFailure((message) => showBanner(`The worker failed: ${message}`));

async function started(info) {
  if (!info.backend) {
    state.startError = 'WebGPU is not available.';
    renderStatus();
    showBanner(`This browser offers no WebGPU adapter (asked for by ?backend=webgpu). ${WEBGPU_WHERE} Without the parameter glimpse runs on the CPU instead.`);
    return info;
  }
  if (info.why === 'no-webgpu') {
    showBanner(`No WebGPU here: glimpse runs on the CPU in WebAssembly, which is slower on large models (a caption with ViT-base + GPT-2 takes seconds). ${WEBGPU_WHERE}`);
  }
  state.ready = true;
  state.adapter = info;
  renderStatus();
  showCacheSize();
  $('caption-all').disabled = false;
  renderCaptionButton();
  await updateTruth();
  if (state.photos.length) startWork();
  return info;
}

initModelsPanel();
initZeroShot();
initFewshot();
initCaptions();
initOverlays();
initGallery();
initSearch();
initExport();
renderStatus();
// The engine starts once isolation.js has decided (it may reload the page), so no download is
// cut short by a reload.
const ready = isolation
  .then(() => startEngine(backendParam(), threadsParam()))
  .then(started, (e) => {
    state.startError = 'Could not start.';
    renderStatus();
    showBanner(`Could not start the engine: ${e.message}`);
    throw e;
  });

// For tests and the curious: the state, the worker calls, and a promise for the start.
window.glimpse = { state, call, ready, loadClip, loadCaptioner, embedAll, captionAll, rescore, exportText, fitFewshot, fewshotReport };
