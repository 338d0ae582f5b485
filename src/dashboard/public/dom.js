// DOM helpers for the dashboard's views. Every string shown came from the service (ids, addresses,
// error messages): it becomes a text node or an attribute value, never markup.

/**
 * @param {string} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs]
 * @param {(Node | string | number | null | undefined)[]} [children]
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.toLowerCase().startsWith('on')) throw new Error(`refusing an event-handler attribute: ${name}`);
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A table: `head` is the header row's labels, `rows` are arrays of cells (text or elements). */
export function table(head, rows, attrs = {}) {
  return el('table', attrs, [
    el('thead', {}, [
      el(
        'tr',
        {},
        head.map((label) => el('th', {}, [label])),
      ),
    ]),
    el(
      'tbody',
      {},
      rows.map((row) =>
        row instanceof Node
          ? row
          : el(
              'tr',
              {},
              row.map((cell) => el('td', {}, [cell])),
            ),
      ),
    ),
  ]);
}

/** A number for a person: null is "–", integers as they are, others with `digits` decimals. */
export function num(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return Number.isInteger(value) ? String(value) : Number(value).toFixed(digits);
}

/** A duration in milliseconds as "850 ms", "12.3 s", "4 min". */
export function age(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** The message of anything thrown, with the service's code when it gave one. */
export function describeError(error) {
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string') return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
