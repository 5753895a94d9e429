// The playground's frame log: every frame in and out, and what happened to
// the connection, newest at the bottom.

/** Lines kept; older ones are dropped so a long session stays light. */
const maxLines = 2000;

/** How close to the bottom (px) still counts as following the log. */
const followSlack = 24;

/**
 * @typedef {object} Line a line of the log.
 * @property {HTMLLIElement} item
 * @property {HTMLPreElement | null} pre where its JSON shows, if it has some.
 * @property {any} value its JSON.
 */

/** The frame log, shown in an <ol> inside a scrolling box. */
export class FrameLog {
  /**
   * @param {HTMLOListElement} list
   * @param {HTMLElement} scroller the box that scrolls.
   * @param {HTMLElement} empty shown while the log is empty.
   */
  constructor(list, scroller, empty) {
    this.list = list;
    this.scroller = scroller;
    this.empty = empty;
    this.pretty = false;
    /** @type {Line[]} */
    this.lines = [];
  }

  /**
   * Logs one frame, as hotpot.js's "frame" event gives it.
   * @param {{direction: "in" | "out", text: string, time: Date}} frame
   */
  frame({ direction, text, time }) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      this.append(time, direction, ["bad"], "not a message", null, text);
      return;
    }
    const kinds = [];
    let label = msg.type || "";
    let summary = "";
    if (msg.type === "Ping" || msg.type === "Pong") kinds.push("keepalive");
    else if (msg.type === "Welcome") {
      kinds.push("highlight");
      label = "";
      summary = welcomeSummary(msg.data);
    } else if (msg.type === "Kicked") {
      kinds.push("highlight", "bad");
      label = "";
      summary = "Kicked: " + ((msg.data && msg.data.reason) || "no reason given");
    } else if (msg.type === "Error") {
      kinds.push("bad");
      summary = "Error " + msg.code + ": " + (msg.msg || "");
    } else if (msg.type === "Reply") {
      kinds.push(msg.code ? "bad" : "reply");
      label = (msg.code ? "error reply" : "reply") + " to call " + msg.id;
    } else if (direction === "in" && msg.id !== undefined && msg.id !== "") {
      kinds.push("call");
      label = "call " + msg.type + " (id " + msg.id + ")";
    }
    this.append(time, direction, kinds, label, msg, summary);
  }

  /**
   * Logs a happening that is not a frame (connecting, a drop).
   * @param {string} text
   * @param {boolean} [bad] whether it is a failure.
   */
  note(text, bad = false) {
    this.append(new Date(), "", bad ? ["note", "bad"] : ["note"], "", null, text);
  }

  /**
   * Shows JSON pretty (indented) or compact, in every line.
   * @param {boolean} pretty
   */
  setPretty(pretty) {
    this.pretty = pretty;
    for (const line of this.lines) if (line.pre) line.pre.textContent = this.render(line.value);
  }

  /** Empties the log. */
  clear() {
    this.lines = [];
    this.list.replaceChildren();
    this.empty.hidden = false;
  }

  /**
   * @private
   * @param {Date} time
   * @param {"in" | "out" | ""} direction
   * @param {string[]} kinds classes of the line.
   * @param {string} label a short name of the frame.
   * @param {any} value the frame, shown as JSON; null for none.
   * @param {string} summary a sentence above the JSON, or the whole line.
   */
  append(time, direction, kinds, label, value, summary) {
    const follow = this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight <= followSlack;
    const item = document.createElement("li");
    item.className = ["line", direction, ...kinds].join(" ");
    const when = document.createElement("time");
    when.dateTime = time.toISOString();
    when.textContent = clock(time);
    const dir = document.createElement("span");
    dir.className = "dir";
    dir.textContent = direction;
    const body = document.createElement("div");
    body.className = "body";
    if (label) body.append(Object.assign(document.createElement("span"), { className: "label", textContent: label }));
    if (summary) body.append(Object.assign(document.createElement("p"), { className: "summary", textContent: summary }));
    let pre = null;
    if (value !== null) {
      pre = document.createElement("pre");
      pre.textContent = this.render(value);
      body.append(pre);
    }
    item.append(when, dir, body);
    this.list.append(item);
    this.lines.push({ item, pre, value });
    if (this.lines.length > maxLines) this.lines.shift().item.remove();
    this.empty.hidden = true;
    if (follow) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /**
   * @private
   * @param {any} value
   * @returns {string}
   */
  render(value) {
    return this.pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value);
  }
}

/**
 * "Welcome: you are alice on node n1, keepalive 5 s / 12 s".
 * @param {any} w the Welcome's data.
 * @returns {string}
 */
function welcomeSummary(w) {
  const k = (w && w.keepalive) || {};
  return "Welcome: you are " + w.id + " on node " + w.node + ", keepalive " + duration(k.interval_ms) + " / " + duration(k.limit_ms);
}

/**
 * "500 ms", "5 s", "1.5 s".
 * @param {number} ms
 * @returns {string}
 */
function duration(ms) {
  return ms < 1000 ? ms + " ms" : ms / 1000 + " s";
}

/**
 * The time of day with milliseconds, "14:03:07.250".
 * @param {Date} t
 * @returns {string}
 */
function clock(t) {
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return pad(t.getHours()) + ":" + pad(t.getMinutes()) + ":" + pad(t.getSeconds()) + "." + pad(t.getMilliseconds(), 3);
}
