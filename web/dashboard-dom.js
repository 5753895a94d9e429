// dashboard-dom.js: small DOM helpers the dashboard's panels share.

import { explain } from "/dashboard-api.js";

/**
 * Creates an element.
 * @param {string} tag
 * @param {Record<string, any>} [props] properties set on the element (className,
 *   title, type…); keys starting with "data-" or "aria-" become attributes.
 * @param {...(Node | string | null | undefined)} children null and undefined are skipped.
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k.startsWith("data-") || k.startsWith("aria-")) el.setAttribute(k, v);
    else el[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

/**
 * @param {HTMLElement} el
 * @returns {HTMLElement} el, emptied.
 */
export function clear(el) {
  el.replaceChildren();
  return el;
}

/**
 * Shows in el that a request failed: the status, what it means, and the
 * node's own words.
 * @param {HTMLElement} el
 * @param {unknown} err
 */
export function showError(el, err) {
  const { headline, detail } = explain(err);
  el.className = "result bad";
  el.replaceChildren(h("strong", {}, headline), detail ? h("span", { className: "detail" }, "The node said: " + detail) : null);
}

/**
 * Shows in el that a request worked.
 * @param {HTMLElement} el
 * @param {string} text
 * @param {any} [json] shown pretty-printed below the text, when given.
 */
export function showOK(el, text, json) {
  el.className = "result ok";
  el.replaceChildren(h("strong", {}, text), json === undefined ? null : h("pre", {}, JSON.stringify(json, null, 2)));
}

/**
 * @param {number} n
 * @param {string} noun its singular.
 * @returns {string} n and the noun, in the plural unless n is 1 ("3 agents").
 */
export function count(n, noun) {
  return `${n.toLocaleString()} ${noun}${n === 1 ? "" : "s"}`;
}

/**
 * @param {string | Date} t
 * @param {boolean} [ms] with milliseconds.
 * @returns {string} the time of day, 24-hour, in the browser's zone.
 */
export function clockTime(t, ms = false) {
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  const s = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return ms ? s + "." + pad(d.getMilliseconds(), 3) : s;
}

/**
 * @param {string | Date} t
 * @returns {string} how long ago t was, roughly ("3 s ago", "5 min ago").
 */
export function ago(t) {
  const s = Math.max(0, Math.round((Date.now() - new Date(t).getTime()) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/**
 * A <time> element showing t as a clock time, with the full date in its
 * datetime and title.
 * @param {string} t an RFC 3339 time.
 * @param {string} [text] what to show instead of the clock time.
 * @returns {HTMLElement}
 */
export function timeEl(t, text) {
  return h("time", { dateTime: t, title: new Date(t).toLocaleString() }, text ?? clockTime(t));
}
