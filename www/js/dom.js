// DOM helpers.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

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
