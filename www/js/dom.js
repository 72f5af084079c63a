// DOM helpers.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/**
 * Saves `blob` as a file named `name` (the browser's download).
 * @param {string} name
 * @param {Blob} blob
 */
export function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = el('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * A new element.
 * @param {string} tag
 * @param {string} [cls] class name
 * @param {string} [text] text content
 */
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
