// dashboard-events.js: the event log: every event of the stream, newest
// first, the last 1000 kept in memory, filtered by type and agent, with
// pause and resume.

import { h, clear, clockTime, count, timeEl } from "/dashboard-dom.js";
import { $ } from "/dom.js";

/** How many events the log keeps. */
const logCapacity = 1000;

/** How much of a message's data a row shows. */
const dataPreviewChars = 160;

/**
 * @typedef {object} Entry one event of the log.
 * @property {string} id
 * @property {string} type
 * @property {any} data the event's parsed data.
 * @property {HTMLElement | null} row its row, while shown.
 * @property {boolean} dropped whether it was pushed out of the log.
 */

/** The event log panel. */
export class EventLog {
  /**
   * @param {(id: string) => void} onPick called with an agent's id when it is picked in a row.
   */
  constructor(onPick) {
    this.onPick = onPick;
    this.el = {
      body: $("events-body"),
      empty: $("events-empty"),
      type: $("events-type"),
      agent: $("events-agent"),
      pause: $("events-pause"),
      clear: $("events-clear"),
      count: $("events-count"),
    };
    /** @type {Entry[]} oldest first. */
    this.entries = [];
    /** @type {Entry[]} added since the last render. */
    this.fresh = [];
    this.paused = false;
    this.missedWhilePaused = 0;
    this.frame = 0;

    this.el.type.addEventListener("change", () => this.renderAll());
    this.el.agent.addEventListener("input", () => this.renderAll());
    this.el.pause.addEventListener("click", () => this.setPaused(!this.paused));
    this.el.clear.addEventListener("click", () => {
      this.entries = [];
      this.fresh = [];
      this.missedWhilePaused = 0;
      this.renderAll();
    });
    this.renderAll();
  }

  /**
   * Adds an event of the stream; it shows at the next animation frame.
   * @param {string} id
   * @param {string} type
   * @param {any} data
   */
  add(id, type, data) {
    const entry = { id, type, data, row: null, dropped: false };
    this.entries.push(entry);
    if (this.entries.length > logCapacity) {
      const gone = this.entries.shift();
      gone.dropped = true;
      if (gone.row) gone.row.remove();
    }
    if (this.paused) {
      this.missedWhilePaused++;
      this.renderCount();
      return;
    }
    this.fresh.push(entry);
    if (this.fresh.length > logCapacity) this.fresh.shift(); // a hidden tab renders no frames
    if (!this.frame) this.frame = requestAnimationFrame(() => this.renderFresh());
  }

  /**
   * @private
   * @param {boolean} paused
   */
  setPaused(paused) {
    this.paused = paused;
    this.el.pause.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      this.missedWhilePaused = 0;
      this.renderAll();
    } else {
      this.renderCount();
    }
  }

  /**
   * @private
   * @param {Entry} e
   * @returns {boolean} whether the filters let e show.
   */
  shows(e) {
    const type = this.el.type.value;
    const agent = this.el.agent.value.trim();
    return (!type || e.type === type) && (!agent || String(e.data.agent).startsWith(agent));
  }

  /** @private */
  renderFresh() {
    this.frame = 0;
    for (const e of this.fresh) {
      if (e.dropped) continue; // pushed out of the log before it could show
      if (this.shows(e)) this.el.body.prepend(this.row(e));
    }
    this.fresh = [];
    this.renderCount();
  }

  /** @private */
  renderAll() {
    for (const e of this.entries) e.row = null;
    this.fresh = [];
    clear(this.el.body);
    const rows = [];
    for (let i = this.entries.length - 1; i >= 0; i--) {
      if (this.shows(this.entries[i])) rows.push(this.row(this.entries[i]));
    }
    this.el.body.append(...rows);
    this.renderCount();
  }

  /** @private */
  renderCount() {
    const shown = this.el.body.childElementCount;
    let text = `${shown} shown of ${this.entries.length} kept (the last ${logCapacity}).`;
    if (this.paused) text += ` Paused: ${count(this.missedWhilePaused, "new event")} not shown yet.`;
    this.el.count.textContent = text;
    this.el.empty.hidden = shown > 0;
    this.el.empty.textContent = this.entries.length
      ? "No event kept matches the filters."
      : "No events yet: they show here as agents connect, send messages and leave.";
  }

  /**
   * @private
   * @param {Entry} e
   * @returns {HTMLElement}
   */
  row(e) {
    const d = e.data;
    const pick = h("button", { type: "button", className: "link mono", title: "Use this agent in the forms" }, String(d.agent));
    pick.addEventListener("click", () => this.onPick(String(d.agent)));
    e.row = h(
      "tr",
      { "data-id": e.id, "data-type": e.type },
      h("td", {}, timeEl(d.ts, clockTime(d.ts, true)), h("br"), h("span", { className: "mono muted small" }, e.id)),
      h("td", {}, pick, h("br"), h("span", { className: "mono muted small" }, d.node)),
      h("td", { className: "detail" }, h("span", { className: "tag " + e.type.replace(".", "-") }, e.type.slice("agent.".length)), " ", describe(e)),
    );
    return e.row;
  }
}

/**
 * @param {Entry} e
 * @returns {HTMLElement | string} what happened, in short.
 */
function describe(e) {
  const d = e.data;
  switch (e.type) {
    case "agent.disconnected":
      return "reason: " + (d.reason || "?");
    case "agent.message": {
      let data = d.data_base64 !== undefined ? "base64 " + d.data_base64 : d.data === undefined ? "" : JSON.stringify(d.data);
      if (data.length > dataPreviewChars) data = data.slice(0, dataPreviewChars) + "…";
      return h("span", {}, h("strong", {}, d.type), d.id ? ` #${d.id} ` : " ", h("code", {}, data));
    }
    default:
      return "";
  }
}
