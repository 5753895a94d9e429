// dashboard-sse.js: the node's /events stream, read with fetch so that it
// can carry the API key (EventSource cannot send headers), parsed as
// text/event-stream, each event's JSON data parsed once, here, and resumed
// after a cut from the last event id seen.

import { authHeaders, unauthorized, APIError } from "/dashboard-api.js";

/**
 * @typedef {object} SSEEvent
 * @property {string} event the event: line (default "message").
 * @property {string} id the last id: line seen, this event's or an earlier one's.
 * @property {string} data the data: lines, joined by newlines.
 */

/**
 * Parses a text/event-stream a chunk at a time, as the HTML standard says:
 * lines end with CRLF, LF or CR; a blank line ends an event; a line starting
 * with ":" is a comment; an event cut off by the end of the stream is dropped.
 */
export class EventStreamParser {
  constructor() {
    this.pending = "";
    this.afterCR = false;
    this.lastId = "";
    this.event = "";
    this.data = [];
  }

  /**
   * Takes the next chunk of the stream.
   * @param {string} chunk
   * @returns {Array<{event: SSEEvent} | {comment: string}>} the events and
   *   comments the chunk completed, in order.
   */
  feed(chunk) {
    const out = [];
    let text = chunk;
    if (this.afterCR && text.startsWith("\n")) text = text.slice(1); // the LF of a CRLF split across chunks
    this.afterCR = text.endsWith("\r");
    const lines = (this.pending + text).split(/\r\n|\r|\n/);
    this.pending = lines.pop(); // not ended yet
    for (const line of lines) this.line(line, out);
    return out;
  }

  /**
   * @private
   * @param {string} line
   * @param {Array<object>} out
   */
  line(line, out) {
    if (line === "") {
      if (this.data.length > 0) out.push({ event: { event: this.event || "message", id: this.lastId, data: this.data.join("\n") } });
      this.event = "";
      this.data = [];
      return;
    }
    if (line.startsWith(":")) {
      out.push({ comment: line.slice(1).trimStart() });
      return;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.event = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.lastId = value;
        break;
    }
  }
}

/**
 * @typedef {object} APIEvent an event of GET /events, its data parsed.
 * @property {string} type its event: line (agent.connected…).
 * @property {string} id its id.
 * @property {Record<string, any>} data its data: {agent, node, ts, …}.
 */

/**
 * @typedef {object} StreamCallbacks
 * @property {(ev: APIEvent) => void} onEvent each event, in the stream's order,
 *   its data parsed once here; an event whose data is not a JSON object is
 *   not the API's and is skipped (its id still counts for resuming).
 * @property {(text: string) => void} [onComment] each comment but the pings.
 * @property {(state: StreamState) => void} onState the stream's state, after every change.
 */

/**
 * @typedef {object} StreamState
 * @property {"connecting" | "live" | "retrying" | "stopped"} phase
 * @property {string} lastId the last event id seen.
 * @property {string} error why the stream is not live, while retrying.
 * @property {number} cuts how many times an open stream broke.
 * @property {Date | null} cutAt when an open stream last broke.
 * @property {string} cutReason why, as well as the page can tell.
 * @property {Date | null} resumedAt when it came back after that cut (null until it has).
 * @property {string} resumedFrom the Last-Event-ID it came back with.
 * @property {number} replayed how many events of the resumed stream happened
 *   before it came back, by the browser's clock: the ones the cut would have lost.
 */

/** A stream that sends nothing, not even its 15 s ping, for this long is dead. */
const silenceLimitMs = 45000;

/** A stream that lasted this long worked: the next attempt starts without backoff. */
const healthyMs = 1000;

/**
 * Follows GET /events until stopped. A stream that breaks, or a request
 * that fails, is tried again with backoff, with Last-Event-ID set to the
 * last id seen, so no event is lost or seen twice. A 401 stops it and
 * reports through {@link unauthorized}.
 */
export class EventStream {
  /**
   * Starts following the stream at once.
   * @param {string} lastId the id to resume after; "" for events from now on.
   * @param {StreamCallbacks} callbacks
   */
  constructor(lastId, callbacks) {
    this.callbacks = callbacks;
    /** @type {StreamState} */
    this.state = { phase: "connecting", lastId, error: "", cuts: 0, cutAt: null, cutReason: "", resumedAt: null, resumedFrom: "", replayed: 0 };
    this.stopped = false;
    /** Whether an open stream broke and has not been resumed yet. */
    this.cut = false;
    /** @type {AbortController | null} */
    this.abort = null;
    this.run();
  }

  /** Stops the stream for good. */
  stop() {
    this.stopped = true;
    if (this.abort) this.abort.abort();
    this.set({ phase: "stopped" });
  }

  /**
   * @private
   * @param {Partial<StreamState>} change
   */
  set(change) {
    Object.assign(this.state, change);
    this.callbacks.onState({ ...this.state });
  }

  /** @private */
  async run() {
    let failures = 0;
    while (!this.stopped) {
      const started = Date.now();
      const opened = await this.follow();
      if (this.stopped) return;
      failures = opened && Date.now() - started > healthyMs ? 0 : failures + 1;
      const delay = failures === 0 ? 100 : Math.min(10000, 250 * 2 ** failures) * (0.5 + Math.random() / 2);
      await new Promise((done) => setTimeout(done, delay));
    }
  }

  /**
   * Opens the stream and reads it until it ends.
   * @private
   * @returns {Promise<boolean>} whether the node answered with a stream.
   */
  async follow() {
    const abort = new AbortController();
    this.abort = abort;
    const headers = { Accept: "text/event-stream", ...authHeaders() };
    const from = this.state.lastId;
    if (from) headers["Last-Event-ID"] = from;
    let resp;
    try {
      resp = await fetch("/events", { headers, cache: "no-store", signal: abort.signal });
    } catch (err) {
      if (!this.stopped) this.set({ phase: "retrying", error: "could not reach the node: " + err.message });
      return false;
    }
    if (resp.status === 401) {
      this.stop();
      unauthorized();
      return false;
    }
    if (!resp.ok) {
      let problem = {};
      try {
        problem = await resp.json();
      } catch {
        // not a problem document: the status says it all
      }
      this.set({ phase: "retrying", error: `${resp.status}: ${new APIError(resp.status, problem).message}` });
      return false;
    }
    const resumedAt = new Date();
    let replaying = this.cut;
    if (this.cut) this.set({ phase: "live", error: "", resumedAt, resumedFrom: from, replayed: 0 });
    else this.set({ phase: "live", error: "" });
    this.cut = false;

    const parser = new EventStreamParser();
    parser.lastId = from;
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let silence = setTimeout(() => abort.abort(), silenceLimitMs);
    let reason = "the node ended the stream";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        clearTimeout(silence);
        silence = setTimeout(() => abort.abort(), silenceLimitMs);
        const replayedBefore = this.state.replayed;
        for (const item of parser.feed(value)) {
          if ("comment" in item) {
            if (item.comment !== "ping" && this.callbacks.onComment) this.callbacks.onComment(item.comment);
            continue;
          }
          this.state.lastId = item.event.id;
          const data = parseData(item.event);
          if (data === null) continue;
          if (replaying && Date.parse(data.ts) <= resumedAt.getTime()) this.state.replayed++;
          else replaying = false;
          this.callbacks.onEvent({ type: item.event.event, id: item.event.id, data });
        }
        if (this.state.replayed !== replayedBefore) this.set({});
      }
    } catch (err) {
      if (this.stopped) return true;
      reason = abort.signal.aborted ? `nothing heard for ${silenceLimitMs / 1000} s` : String(err.message || err);
    } finally {
      clearTimeout(silence);
    }
    if (!this.stopped) {
      this.cut = true;
      this.set({ phase: "retrying", error: reason, cuts: this.state.cuts + 1, cutAt: new Date(), cutReason: reason });
    }
    return true;
  }
}

/**
 * @param {SSEEvent} ev
 * @returns {Record<string, any> | null} ev's data, parsed; null when it is not a JSON object.
 */
function parseData(ev) {
  try {
    const data = JSON.parse(ev.data);
    return data !== null && typeof data === "object" ? data : null;
  } catch {
    return null;
  }
}
