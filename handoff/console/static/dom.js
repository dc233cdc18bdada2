// Shared DOM helpers of the console's ES modules: every text goes through textContent.

/** "" for null/undefined, else String(v). */
export function str(v) { return v === null || v === undefined ? "" : String(v); }

/** Build an element; ``text`` always goes through textContent. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null && text !== "") node.textContent = String(text);
  return node;
}

/** A type=button button. */
export function button(className, text, title) {
  const b = el("button", "btn " + (className || ""), text);
  b.type = "button";
  if (title) b.title = title;
  return b;
}

/** Remove every child. */
export function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

/** The display labels of GET /agent/labels, loaded once. */
export const LABELS = { data: {}, lang: "zh" };

export function loadLabels() {
  return fetch("/agent/labels").then((r) => r.json()).then((d) => { LABELS.data = d || {}; return LABELS.data; })
    .catch(() => LABELS.data);
}

/** The localised name of ``key`` in list ``kind`` (intents, statuses, ...), else the key itself. */
export function label(kind, key) {
  const item = (LABELS.data[kind] || {})[key];
  return item ? (item[LABELS.lang] || item.zh || str(key)) : str(key);
}
