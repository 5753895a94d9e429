// hotpot.js: a browser client for hotpot nodes (WebSocket, JSON or msgpack).
//
//   import { connect } from "/hotpot.js";
//   const hp = connect({ id: "alice" });
//   hp.on("connect", (welcome) => console.log("I am", welcome.id, "on", welcome.node));
//   hp.on("Chat", (data) => console.log("chat", data));
//   hp.onCall("Add", ({ a, b }) => a + b);   // POST /agents/alice/call {"type":"Add",...}
//   hp.onCall("*", (data, msg) => ({ echo: data })); // every other call type
//   hp.send("Move", { dx: 1 });              // an agent.message event on /events
//
// The client answers Pings, replies to calls, notices a silent connection
// from the keepalive the node announces in its Welcome (pinging the node
// when it has been silent a while), and reconnects with jittered exponential
// backoff unless the node sent it away for good (Kicked "replaced" or
// "kicked", or a reason of the backend's own).

import { decode, encode } from "./msgpack.js";

/**
 * @typedef {object} Options
 * @property {string} [url] WebSocket URL; default ws:// or wss:// of the page's own host, path /ws.
 * @property {string} [id] agent id, sent as ?id= (a node without --jwt-secret takes it).
 * @property {string | (() => string | Promise<string>)} [token] JWT, or a function that
 *   returns a fresh one before every (re)connection; sent as ?token=.
 * @property {"json" | "msgpack"} [codec] the wire format; default "json" (text frames);
 *   "msgpack" sends binary frames (see msgpack.js for how its values map onto JSON's).
 * @property {boolean} [reconnect] reconnect after a transient close; default true.
 * @property {number} [minDelayMs] first reconnect delay; default 500.
 * @property {number} [maxDelayMs] largest reconnect delay; default 15000.
 * @property {typeof WebSocket} [WebSocket] the WebSocket class; default globalThis.WebSocket.
 */

/**
 * @typedef {object} Welcome
 * @property {string} id the agent id the node gave this connection.
 * @property {string} node the node's id.
 * @property {{interval_ms: number, limit_ms: number}} keepalive the node's keepalive.
 */

/**
 * @typedef {object} Disconnect
 * @property {number} code the WebSocket close code (1006 when the connection just dropped).
 * @property {string} reason the Kicked reason, or the close reason.
 * @property {boolean} reconnecting whether the client will connect again.
 * @property {number} delayMs how long it waits first, when reconnecting.
 */

/**
 * @typedef {object} Connecting
 * @property {string} url the WebSocket URL, without the token.
 * @property {number} attempt 0 for the first try, then how many tries have failed since the last Welcome.
 */

/**
 * @typedef {object} Frame
 * @property {"in" | "out"} direction received or sent.
 * @property {string} text the frame as it went over the wire (JSON), or for msgpack its JSON rendering.
 * @property {Date} time when.
 */

/** Kick reasons after which reconnecting is right: the next session will do. */
const transientReasons = new Set(["keepalive timeout", "slow consumer", "token expired", "rate limited", "shutdown"]);

/**
 * The codecs: the subprotocol that asks the node for one, and how a frame
 * reads (null for a frame of the other kind, text or binary) and writes.
 * @type {Record<string, {subprotocol: string, read: (data: any) => ({text: string, msg?: any, error?: Error} | null), write: (msg: object) => string | Uint8Array}>}
 */
const codecs = {
  json: {
    subprotocol: "hotpot.json",
    read(data) {
      if (typeof data !== "string") return null;
      try {
        return { text: data, msg: JSON.parse(data) };
      } catch (error) {
        return { text: data, error };
      }
    },
    write: (msg) => JSON.stringify(msg),
  },
  msgpack: {
    subprotocol: "hotpot.msgpack",
    read(data) {
      if (!(data instanceof ArrayBuffer)) return null;
      try {
        return { msg: decode(new Uint8Array(data)) }; // its text, for "frame", only if asked
      } catch (error) {
        return { text: "(" + data.byteLength + " bytes that are not msgpack)", error };
      }
    },
    write: (msg) => encode(msg),
  },
};

/** Error thrown by a call handler to fail the call with a code of its own. */
export class CallError extends Error {
  /**
   * @param {number} code non-zero; the caller's REST answer (502) carries it.
   * @param {string} msg carried with it.
   */
  constructor(code, msg) {
    super(msg);
    this.name = "CallError";
    this.code = code;
  }
}

/**
 * Connects to a hotpot node and keeps connected.
 * @param {Options} [options]
 * @returns {Client}
 */
export function connect(options = {}) {
  return new Client(options);
}

/** One agent's connection to a node, re-made when it drops. */
export class Client {
  /** @param {Options} options */
  constructor(options) {
    this.options = { codec: "json", reconnect: true, minDelayMs: 500, maxDelayMs: 15000, ...options };
    this.codec = codecs[this.options.codec];
    if (!this.codec) throw new Error("hotpot.js: unknown codec " + this.options.codec + ": want json or msgpack");
    /** @type {"connecting" | "open" | "closed"} */
    this.state = "connecting";
    /** @type {Welcome | null} the current session's Welcome. */
    this.welcome = null;
    /** @type {Map<string, Set<Function>>} */
    this.listeners = new Map();
    /** @type {Map<string, Function>} */
    this.callHandlers = new Map();
    this.attempt = 0;
    this.closedByUser = false;
    /** @type {WebSocket | null} */
    this.ws = null;
    this.retryTimer = 0;
    this.silenceTimer = 0;
    queueMicrotask(() => this.open()); // after the caller's listeners are on
  }

  /**
   * Listens for messages of one type from the node ("Welcome", "Kicked", a call or
   * event type of the backend), or for the client's own happenings:
   * "connecting" ({@link Connecting}, as each attempt starts), "connect" (the Welcome's data),
   * "disconnect" ({@link Disconnect}),
   * "frame" ({@link Frame}, every frame both ways) and "error" (a frame that is not a
   * message, or a token function that failed).
   * A message's listener gets (data, message).
   * @param {string} type
   * @param {(data: any, message?: object) => void} fn
   * @returns {() => void} a function that stops listening.
   */
  on(type, fn) {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /**
   * Answers the node's calls of one type. fn gets (data, message); what it returns
   * (or its promise resolves to) is the Reply's data. If it throws, the call fails
   * with the error's code (a non-zero integer, default 500) and message.
   * The type "*" answers every call whose type has no handler of its own;
   * a call that neither answers fails with code 404.
   * @param {string} type
   * @param {(data: any, message: object) => any} fn
   */
  onCall(type, fn) {
    this.callHandlers.set(type, fn);
  }

  /**
   * Sends a message; the node publishes it as an agent.message event.
   * @param {string} type
   * @param {any} [data]
   * @returns {boolean} false when not connected (nothing is queued: a game input
   *   is stale by the time a connection is back).
   */
  send(type, data) {
    return this.sendMessage(data === undefined ? { type } : { type, data });
  }

  /** Closes the connection for good (close code 1000); no reconnect follows. */
  close() {
    this.closedByUser = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
    this.state = "closed";
    if (this.ws) this.ws.close(1000, "bye");
  }

  /** @private */
  async open() {
    const o = this.options;
    const url = new URL(o.url || defaultURL());
    if (o.id) url.searchParams.set("id", o.id);
    if (o.token) {
      try {
        url.searchParams.set("token", typeof o.token === "function" ? await o.token() : o.token);
      } catch (err) {
        this.emit("error", err);
        this.dropped(1006, "no token: " + err.message);
        return;
      }
    }
    if (this.closedByUser) return;
    this.state = "connecting";
    const shown = new URL(url);
    shown.searchParams.delete("token");
    this.emit("connecting", { url: shown.toString(), attempt: this.attempt });
    const WS = o.WebSocket || globalThis.WebSocket;
    const ws = new WS(url.toString(), this.codec.subprotocol);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let kickedReason = "";
    ws.onmessage = (ev) => {
      const frame = this.codec.read(ev.data);
      if (!frame) return; // a codec uses one kind of frame only
      this.heard();
      const msg = frame.msg;
      if (this.listeners.get("frame")?.size) {
        this.emit("frame", { direction: "in", text: frame.text ?? JSON.stringify(msg), time: new Date() });
      }
      if (frame.error || msg === null || typeof msg !== "object") {
        this.emit("error", frame.error || new Error("a frame that is not a message: " + (frame.text ?? JSON.stringify(msg))));
        return;
      }
      if (msg.type === "Kicked") kickedReason = (msg.data && msg.data.reason) || "";
      this.receive(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.dropped(ev.code, kickedReason || ev.reason, kickedReason);
    };
  }

  /**
   * Handles one message from the node.
   * @private
   * @param {any} msg
   */
  receive(msg) {
    switch (msg.type) {
      case "Ping":
        this.sendMessage({ type: "Pong" });
        break;
      case "Welcome":
        this.welcome = msg.data;
        this.state = "open";
        this.attempt = 0;
        this.heard();
        this.emit("connect", msg.data);
        break;
    }
    this.emit(msg.type, msg.data, msg);
    if (msg.id !== undefined && msg.id !== "" && msg.type !== "Reply") this.answer(msg);
  }

  /**
   * Answers a call with its handler's result.
   * @private
   * @param {any} msg
   */
  async answer(msg) {
    const fn = this.callHandlers.get(msg.type) || this.callHandlers.get("*");
    const reply = { type: "Reply", id: msg.id };
    if (!fn) {
      reply.code = 404;
      reply.msg = "no handler for " + msg.type;
    } else {
      try {
        const data = await fn(msg.data, msg);
        if (data !== undefined) reply.data = data;
      } catch (err) {
        reply.code = Number.isInteger(err && err.code) && err.code !== 0 ? err.code : 500;
        reply.msg = String((err && err.message) || err);
      }
    }
    this.sendMessage(reply);
  }

  /**
   * @private
   * @param {object} msg
   * @returns {boolean}
   */
  sendMessage(msg) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1 || this.state !== "open") return false;
    const wire = this.codec.write(msg);
    ws.send(wire);
    if (this.listeners.get("frame")?.size) {
      this.emit("frame", { direction: "out", text: typeof wire === "string" ? wire : JSON.stringify(msg), time: new Date() });
    }
    return true;
  }

  /**
   * Restarts the silence timer. The node pings an agent that has sent nothing
   * for its keepalive interval, but never one that keeps sending, and a busy
   * node may ping late; so halfway between the interval and the limit of
   * silence the client pings the node itself (which answers Pong), and
   * nothing heard for the limit means the connection is dead even if the
   * browser has not noticed.
   * @private
   */
  heard() {
    clearTimeout(this.silenceTimer);
    if (!this.welcome) return;
    const { interval_ms: interval, limit_ms: limit } = this.welcome.keepalive;
    const ws = this.ws;
    const since = Date.now();
    const check = () => {
      if (this.ws !== ws || !ws) return;
      const quiet = Date.now() - since;
      if (quiet < limit) {
        this.sendMessage({ type: "Ping" });
        this.silenceTimer = setTimeout(check, limit - quiet);
        return;
      }
      this.ws = null;
      ws.close(4000, "silent node");
      this.dropped(1006, "nothing heard for " + limit + " ms");
    };
    this.silenceTimer = setTimeout(check, (interval + limit) / 2);
  }

  /**
   * A connection ended: tell the listeners, and try again unless it was for good.
   * @private
   * @param {number} code
   * @param {string} reason
   * @param {string} [kickedReason]
   */
  dropped(code, reason, kickedReason = "") {
    clearTimeout(this.silenceTimer);
    this.welcome = null;
    const forGood = this.closedByUser || !this.options.reconnect || (kickedReason !== "" && !transientReasons.has(kickedReason));
    let delayMs = 0;
    if (forGood) {
      this.state = "closed";
    } else {
      this.state = "connecting";
      const ceiling = Math.min(this.options.maxDelayMs, this.options.minDelayMs * 2 ** this.attempt);
      delayMs = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
      this.attempt++;
      this.retryTimer = setTimeout(() => this.open(), delayMs);
    }
    this.emit("disconnect", { code, reason, reconnecting: !forGood, delayMs });
  }

  /**
   * @private
   * @param {string} type
   * @param {...any} args
   */
  emit(type, ...args) {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (err) {
        setTimeout(() => {
          throw err;
        }); // a listener's bug shows in the console, and spares the others
      }
    }
  }
}

/** @returns {string} ws:// or wss:// of the page's host, at /ws. */
function defaultURL() {
  const scheme = globalThis.location.protocol === "https:" ? "wss:" : "ws:";
  return scheme + "//" + globalThis.location.host + "/ws";
}
