// The photos: added by drag and drop (files or folders) or the pickers, shown as cards; adding
// photos starts what they need (CLIP, and the captioner when one is configured).

import { showBanner } from './banner.js';
import { cancelCurrent, captionAll, rescoreCaption } from './captions.js';
import { makeCard } from './cards.js';
import { render as renderFewshot, toggleSplit } from './fewshot.js';
import { $ } from './dom.js';
import { captionerConfigured, loadCaptioner, loadClip } from './models.js';
import { isReady, state } from './state.js';
import { embedAll, renderAccuracy, setLabelsText, updateTruth } from './zeroshot.js';

const IMAGE_NAME = /\.(png|jpe?g|webp|gif|bmp)$/i;
const LABELS_NAME = /^id2label\.json$/i;
let photoId = 0;

/**
 * Adds photos (and takes an id2label.json among them as the labels).
 * @param {{file: File, path: string}[]} entries
 * @param {{clip?: boolean}} [how] `clip: false`: do not start loading CLIP for them (the demo
 *   works offline; "Load CLIP" adds zero-shot and CLIPScore)
 */
export async function addFiles(entries, { clip = true } = {}) {
  const images = entries.filter(({ file }) => file.type.startsWith('image/') || IMAGE_NAME.test(file.name));
  const labelFile = entries.find(({ file }) => LABELS_NAME.test(file.name));
  if (labelFile) await setLabelsText(await labelFile.file.text(), labelFile.file.name);
  for (const { file, path } of images) {
    const ph = { id: ++photoId, name: file.name, path: path || file.name, file, url: URL.createObjectURL(file), embed: null, truth: null };
    state.photos.push(ph);
    makeCard(ph, (text) => rescoreCaption(ph, text).catch(() => {}), () => toggleSplit(ph));
    $('gallery').append(ph.card.root);
  }
  await updateTruth();
  if (images.length) startWork({ clip });
}

/**
 * Starts what the photos need: CLIP embeddings, and captions (loading the models first).
 * @param {{clip?: boolean}} [how] `clip: false`: embed only with a CLIP already loaded
 */
export function startWork({ clip = true } = {}) {
  if (!state.ready) return;
  if (isReady(state.clip)) embedAll().catch(() => {});
  else if (clip || ['loading', 'confirm'].includes(state.clip.phase)) loadClip().catch(() => {});
  if (captionerConfigured() && state.captioner.phase === 'none') loadCaptioner().catch(() => {});
  else captionAll()?.catch(() => {});
}

// A dropped folder, walked: its files with their paths (a folder named after a label gives the
// true label of the photos in it).
async function walk(entry, prefix = '') {
  if (entry.isFile) return [{ file: await new Promise((res, rej) => entry.file(res, rej)), path: prefix + entry.name }];
  const reader = entry.createReader();
  const out = [];
  for (;;) {
    const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
    if (!batch.length) break;
    for (const e of batch) out.push(...(await walk(e, `${prefix}${entry.name}/`)));
  }
  return out;
}

// What was dropped: files, or the files of folders, walked. (The entries are taken before the
// first await: a DataTransfer is readable only during its event.)
async function droppedFiles(dt) {
  const entries = [...(dt.items || [])].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
  const files = [...dt.files];
  if (entries.some((x) => x.isDirectory)) return (await Promise.all(entries.map((x) => walk(x)))).flat();
  return files.map((file) => ({ file, path: file.name }));
}

const failed = (e) => showBanner(`Could not add the files: ${e.message}`);

function removeAll() {
  cancelCurrent(); // the caption being made is of a photo no longer there
  for (const ph of state.photos) URL.revokeObjectURL(ph.url);
  state.photos = [];
  state.accuracy = [];
  state.fewshot.result = null;
  $('gallery').replaceChildren();
  renderAccuracy();
  renderFewshot();
}

/** Adds the sample photos shipped with the page (samples/samples.json lists them and their licences). */
export async function addSamples() {
  const list = await (await fetch(new URL('../samples/samples.json', import.meta.url))).json();
  const entries = await Promise.all(
    list.map(async (s) => {
      const r = await fetch(new URL(`../samples/${s.file}`, import.meta.url));
      if (!r.ok) throw new Error(`sample ${s.file}: HTTP ${r.status}`);
      const blob = await r.blob();
      return { file: new File([blob], s.file, { type: blob.type || 'image/jpeg' }), path: `samples/${s.file}` };
    }),
  );
  await addFiles(entries);
}

/**
 * The demo: its shapes photos (demo/images/) with the demo captioner chosen and loaded; nothing
 * is downloaded for the captions.
 */
export async function addDemo() {
  const base = new URL('../demo/images/', import.meta.url);
  const names = await (await fetch(new URL('index.json', base))).json();
  const entries = await Promise.all(
    names.map(async (n) => {
      const r = await fetch(new URL(n, base));
      if (!r.ok) throw new Error(`demo photo ${n}: HTTP ${r.status}`);
      return { file: new File([await r.blob()], n, { type: 'image/png' }), path: `demo/${n}` };
    }),
  );
  if ($('cap-model').value !== 'demo') {
    $('cap-model').value = 'demo';
    $('cap-model').dispatchEvent(new Event('change'));
  }
  await addFiles(entries, { clip: false }); // the demo captioner is configured now: adding photos loads it
}

/** Wires the drop zone, the pickers, the samples, the demo and "Remove all". */
export function initGallery() {
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    droppedFiles(e.dataTransfer).then(addFiles).catch(failed);
  });
  drop.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      $('file-input').click();
    }
  });
  $('file-input').onchange = (e) => {
    addFiles([...e.target.files].map((file) => ({ file, path: file.name }))).catch(failed);
    e.target.value = '';
  };
  $('folder-input').onchange = (e) => {
    addFiles([...e.target.files].map((file) => ({ file, path: file.webkitRelativePath || file.name }))).catch(failed);
    e.target.value = '';
  };
  $('clear-photos').onclick = removeAll;
  $('samples').onclick = () => addSamples().catch(failed);
  $('demo').onclick = () => addDemo().catch(failed);
}
