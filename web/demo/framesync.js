// framesync.js: the page of the frame-sync demo (/demo/framesync).
//
// Lockstep: the page sends only its player's input changes ("Input"), and
// moves the dots only as the frames of the backend (examples/framesync) say.
// Every frame carries every input of one tick of the room; every browser
// applies the same frames, in order, to the same integer rules (World), so
// every browser shows the same positions at the same frame number.
//
// For tests, window.framesync is a read-only view of the page's state.

import { connect } from "/hotpot.js";
import { $ } from "/dom.js";

/** Arena size and dot radius, in world units; positions are integers. */
const WIDTH = 640;
const HEIGHT = 400;
const RADIUS = 14;
/** How far a dot moves in one frame, in world units. */
const SPEED = 8;
/** Without frames for this long, the page says so and asks to join again. */
const NO_FRAMES_MS = 2000;
/** How many past frames' positions window.framesync keeps. */
const KEEP_FRAMES = 200;
/** What a room or player name may be (the node's group and id alphabet). */
const NAME = /^[A-Za-z0-9_.:@-]{1,64}$/;

/**
 * @typedef {object} Entry one thing that happened to one player in a frame.
 * @property {string} player the player's id.
 * @property {any} [input] the input the player sent.
 * @property {"join" | "leave"} [event] the player joined or left.
 */

/**
 * @typedef {object} Dot one player's state.
 * @property {number} x
 * @property {number} y
 * @property {number} dx the held direction, -1, 0 or 1.
 * @property {number} dy
 */

/**
 * FNV-1a hash of s: the same number in every browser.
 * @param {string} s
 * @returns {number} an unsigned 32-bit integer.
 */
function hash(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The color of a player's dot, the same in every browser.
 * @param {string} player
 * @returns {string} a CSS color.
 */
function colorOf(player) {
  return `hsl(${hash("color:" + player) % 360} 75% 48%)`;
}

/**
 * -1, 0 or 1: the sign of v when it is a number, else 0. Inputs come from
 * other browsers: whatever they hold, every browser reads them alike.
 * @param {any} v
 * @returns {number}
 */
function sign(v) {
  return typeof v === "number" && v > 0 ? 1 : typeof v === "number" && v < 0 ? -1 : 0;
}

/** The deterministic game: the dots, advanced one frame at a time. */
class World {
  constructor() {
    /** Number of the last frame applied. */
    this.frame = 0;
    /** @type {Map<string, Dot>} by player, in order of joining. */
    this.dots = new Map();
  }

  /**
   * Applies the next frame: its joins, leaves and inputs in order, then
   * every dot moves one step. A dot moves the way of its last input of the
   * frame that held a direction, so a tap shorter than a frame still moves
   * it; after the frame it keeps the direction held at the end.
   * @param {Entry[]} entries
   */
  step(entries) {
    /** @type {Map<string, {dx: number, dy: number}>} */
    const moved = new Map();
    for (const e of entries) {
      if (e.event === "join") {
        const h = hash(e.player);
        const x = RADIUS + (h % (WIDTH - 2 * RADIUS));
        const y = RADIUS + ((h >>> 11) % (HEIGHT - 2 * RADIUS));
        this.dots.set(e.player, { x, y, dx: 0, dy: 0 });
      } else if (e.event === "leave") {
        this.dots.delete(e.player);
      } else {
        const dot = this.dots.get(e.player);
        if (!dot) continue;
        const input = e.input && typeof e.input === "object" ? e.input : {};
        dot.dx = sign(input.dx);
        dot.dy = sign(input.dy);
        if (dot.dx || dot.dy) moved.set(e.player, { dx: dot.dx, dy: dot.dy });
      }
    }
    for (const [player, dot] of this.dots) {
      const d = moved.get(player) || dot;
      dot.x = Math.min(WIDTH - RADIUS, Math.max(RADIUS, dot.x + d.dx * SPEED));
      dot.y = Math.min(HEIGHT - RADIUS, Math.max(RADIUS, dot.y + d.dy * SPEED));
    }
    this.frame++;
  }

  /** @returns {Record<string, [number, number]>} every dot's position, by player. */
  positions() {
    /** @type {Record<string, [number, number]>} */
    const out = {};
    for (const [player, dot] of this.dots) out[player] = [dot.x, dot.y];
    return out;
  }
}

/**
 * A random player name, for a first visit.
 * @returns {string}
 */
function randomName() {
  const letters = "abcdefghijkmnpqrstuvwxyz23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return "player-" + Array.from(bytes, (b) => letters[b % letters.length]).join("");
}

/**
 * One browser's seat in the game: its connection, its room, and the world
 * as the frames made it.
 */
class Game {
  /**
   * @param {string} player
   * @param {string} room
   * @param {() => void} changed called when what the page shows has changed.
   */
  constructor(player, room, changed) {
    this.player = player;
    this.room = room;
    this.changed = changed;
    this.world = new World();
    /** When the last frame was applied (performance.now()), 0 for never. */
    this.frameAt = 0;
    /** Since when the page has been waiting for frames, if it is. */
    this.quietSince = performance.now();
    /** Whether frames stopped coming (see starved), as last shown. */
    this.wasStarved = false;
    this.hz = 20;
    /** True from sending Join until its Joined: frames before it are not ours. */
    this.joining = false;
    this.joinSentAt = 0;
    /** Frames missing from the room's History had no inputs. @type {Map<number, Entry[]>} */
    this.history = new Map();
    /** The frame Joined said the room was at, until the page caught up; -1 when caught up. */
    this.catchUpTo = -1;
    /** Why the room refused this player, if it did. */
    this.refused = "";
    /** @type {import("/hotpot.js").Disconnect | null} the last disconnection, while not connected. */
    this.down = null;
    /** @type {Map<number, Record<string, [number, number]>>} recent positions, by frame. */
    this.recent = new Map();
    /** How many Joined this page got: one per join, and one per catching up again. */
    this.joins = 0;
    /** The direction this player's input says now. */
    this.dir = { dx: 0, dy: 0 };

    this.hp = connect({ id: player });
    this.hp.on("connect", () => {
      this.down = null;
      this.dir = { dx: 0, dy: 0 }; // a new session starts still
      this.quietSince = performance.now();
      this.join();
    });
    this.hp.on("disconnect", (d) => {
      this.down = d;
      this.changed();
    });
    this.hp.on("Joined", (d) => this.joined(d));
    this.hp.on("History", (d) => {
      if (d.room !== this.room || this.catchUpTo < 0) return;
      for (const f of d.frames) this.history.set(f.frame, f.inputs);
    });
    this.hp.on("Frame", (d) => this.applyFrame(d));
    this.hp.on("JoinRefused", (d) => {
      if (d.room !== this.room) return;
      this.refused = d.reason;
      this.joining = false;
      this.changed();
    });
    this.watchdog = setInterval(() => this.watch(), 250);
  }

  /** Asks the backend to put this player in the room (again). */
  join() {
    this.joining = true;
    this.joinSentAt = performance.now();
    this.hp.send("Join", { room: this.room });
    this.changed();
  }

  /**
   * Moves to another room.
   * @param {string} room
   */
  moveTo(room) {
    this.room = room;
    this.refused = "";
    this.dir = { dx: 0, dy: 0 }; // in the new room, the dot starts still
    this.reset();
    this.join();
  }

  /** Forgets the world: a new Joined is on its way. */
  reset() {
    this.world = new World();
    this.recent.clear();
    this.history.clear();
    this.catchUpTo = -1;
    this.frameAt = 0;
    this.quietSince = performance.now();
  }

  /**
   * The backend put this player in the room, at frame d.frame.
   * @param {{room: string, player: string, hz: number, frame: number}} d
   */
  joined(d) {
    if (d.room !== this.room) return;
    this.reset();
    this.joins++;
    this.joining = false;
    this.hz = d.hz;
    this.catchUpTo = d.frame;
    this.changed();
  }

  /**
   * Applies one frame of the room. A frame that does not follow the last
   * one means frames were missed: the page asks to join again, and catches
   * up from the room's history.
   * @param {{room: string, frame: number, inputs: Entry[]}} d
   */
  applyFrame(d) {
    if (this.joining || d.room !== this.room) return;
    if (this.catchUpTo >= 0) {
      while (this.world.frame < this.catchUpTo) this.advance(this.history.get(this.world.frame + 1) || []);
      this.catchUpTo = -1;
      this.history.clear();
    }
    if (d.frame !== this.world.frame + 1) {
      this.reset();
      this.join();
      return;
    }
    this.advance(d.inputs);
    this.frameAt = this.quietSince = performance.now();
    this.changed();
  }

  /**
   * Steps the world one frame, and keeps the positions it reached.
   * @param {Entry[]} entries
   */
  advance(entries) {
    this.world.step(entries);
    this.recent.set(this.world.frame, this.world.positions());
    this.recent.delete(this.world.frame - KEEP_FRAMES);
  }

  /**
   * Sends this player's input when it changed.
   * @param {{dx: number, dy: number}} dir
   */
  steer(dir) {
    if (dir.dx === this.dir.dx && dir.dy === this.dir.dy) return;
    this.dir = dir;
    this.hp.send("Input", { room: this.room, input: dir });
  }

  /** Whether the connection is up but no frames have come for NO_FRAMES_MS. */
  starved() {
    return this.hp.state === "open" && !this.refused && performance.now() - this.quietSince > NO_FRAMES_MS;
  }

  /** Runs every 250 ms: asks again for a room that sends nothing. */
  watch() {
    const was = this.wasStarved;
    this.wasStarved = this.starved();
    if (this.wasStarved && performance.now() - this.joinSentAt > NO_FRAMES_MS) this.join();
    if (was !== this.wasStarved) this.changed();
  }

  /** Leaves for good. */
  close() {
    clearInterval(this.watchdog);
    this.hp.close();
  }
}

// The page.

const canvas = /** @type {HTMLCanvasElement} */ ($("fs-canvas"));
const ctx2d = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
const form = /** @type {HTMLFormElement} */ ($("fs-form"));
const roomInput = /** @type {HTMLInputElement} */ ($("fs-room-input"));
const playerInput = /** @type {HTMLInputElement} */ ($("fs-player-input"));

const params = new URLSearchParams(location.search);
const firstRoom = params.get("room") || "lobby";
const firstPlayer = params.get("player") || randomName();
roomInput.value = firstRoom;
playerInput.value = firstPlayer;

/** @type {Game} */
let game = new Game(firstPlayer, firstRoom, render);

form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  for (const input of [roomInput, playerInput]) input.setCustomValidity(NAME.test(input.value) ? "" : "1 to 64 letters, digits or _.:@-");
  if (!form.reportValidity()) return;
  const url = new URL(location.href);
  url.searchParams.set("room", roomInput.value);
  history.replaceState(null, "", url);
  if (playerInput.value !== game.player) {
    game.close();
    game = new Game(playerInput.value, roomInput.value, render);
    render();
  } else {
    game.moveTo(roomInput.value);
  }
  canvas.focus();
});

// Input: arrow keys, the on-screen pad, dragging in the arena.

/** @type {Set<string>} directions held by keys or pad buttons. */
const held = new Set();
/** @type {{dx: number, dy: number} | null} the direction of a drag in the arena. */
let drag = null;
const keyDirs = { ArrowUp: "up", ArrowDown: "down", ArrowLeft: "left", ArrowRight: "right" };

/** Sends the direction the keys, buttons and drag say now. */
function steer() {
  if (drag) return game.steer(drag);
  const dx = (held.has("right") ? 1 : 0) - (held.has("left") ? 1 : 0);
  const dy = (held.has("down") ? 1 : 0) - (held.has("up") ? 1 : 0);
  game.steer({ dx, dy });
}

/** Releases everything: the page lost the keyboard or the pointer. */
function releaseAll() {
  held.clear();
  drag = null;
  steer();
}

/**
 * Whether a key event belongs to a text field rather than to the game.
 * @param {KeyboardEvent} ev
 */
function typing(ev) {
  const t = /** @type {HTMLElement} */ (ev.target);
  return t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || ev.altKey || ev.ctrlKey || ev.metaKey;
}

document.addEventListener("keydown", (ev) => {
  const dir = keyDirs[/** @type {keyof keyDirs} */ (ev.key)];
  if (!dir || typing(ev)) return;
  ev.preventDefault(); // no scrolling
  held.add(dir);
  steer();
});
document.addEventListener("keyup", (ev) => {
  const dir = keyDirs[/** @type {keyof keyDirs} */ (ev.key)];
  if (!dir) return;
  held.delete(dir);
  steer();
});
window.addEventListener("blur", releaseAll);
document.addEventListener("visibilitychange", () => document.hidden && releaseAll());

for (const button of document.querySelectorAll(".fs-pad button")) {
  const b = /** @type {HTMLButtonElement} */ (button);
  const dir = /** @type {string} */ (b.dataset.dir);
  b.addEventListener("pointerdown", (ev) => {
    b.setPointerCapture(ev.pointerId);
    held.add(dir);
    steer();
  });
  /** Releases this button's direction. */
  const up = () => {
    held.delete(dir);
    steer();
  };
  b.addEventListener("pointerup", up);
  b.addEventListener("pointercancel", up);
  // Enter or Space on a focused button: a tap, one step.
  b.addEventListener("click", (ev) => {
    if (ev.detail !== 0) return; // a pointer's click: pointerdown and pointerup did it
    held.add(dir);
    steer();
    up();
  });
  b.addEventListener("contextmenu", (ev) => ev.preventDefault()); // a long touch is a hold
}

/** @type {{x: number, y: number, id: number} | null} where a drag started. */
let dragFrom = null;
canvas.addEventListener("pointerdown", (ev) => {
  canvas.setPointerCapture(ev.pointerId);
  dragFrom = { x: ev.clientX, y: ev.clientY, id: ev.pointerId };
  drag = { dx: 0, dy: 0 };
  steer();
});
canvas.addEventListener("pointermove", (ev) => {
  if (!dragFrom || ev.pointerId !== dragFrom.id) return;
  const vx = ev.clientX - dragFrom.x;
  const vy = ev.clientY - dragFrom.y;
  const len = Math.hypot(vx, vy);
  // Eight directions; a short drag is none. 0.38 is about sin(22.5°).
  drag = len < 12 ? { dx: 0, dy: 0 } : { dx: Math.abs(vx) > 0.38 * len ? Math.sign(vx) : 0, dy: Math.abs(vy) > 0.38 * len ? Math.sign(vy) : 0 };
  steer();
});
/** Ends a drag: the dot stops. */
const endDrag = () => {
  dragFrom = null;
  drag = null;
  steer();
};
canvas.addEventListener("pointerup", endDrag);
canvas.addEventListener("pointercancel", endDrag);

// Output: the status line, the players, and the arena.

/** The theme's colors, read from style.css's variables. */
let colors = readColors();
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  colors = readColors();
});

/**
 * Reads the colors of the theme in use.
 * @returns {{bg: string, line: string, fg: string, muted: string}}
 */
function readColors() {
  const style = getComputedStyle(document.documentElement);
  const v = (/** @type {string} */ name) => style.getPropertyValue(name).trim();
  return { bg: v("--bg"), line: v("--line"), fg: v("--fg"), muted: v("--muted") };
}

/** The players the list shows, as render last built it. */
let listedPlayers = "";

/** Shows the game's state outside the arena. */
function render() {
  const g = game;
  $("fs-room").textContent = g.room;
  $("fs-frame").textContent = g.world.frame ? String(g.world.frame) : "–";

  const conn = $("fs-conn");
  let text;
  let cls = "muted";
  if (g.hp.state === "open") {
    text = "connected";
    cls = "ok";
  } else if (g.down && !g.down.reconnecting) {
    text = "disconnected";
    cls = "bad";
  } else if (g.down) {
    text = `reconnecting in ${Math.ceil(g.down.delayMs / 1000)} s…`;
    cls = "bad";
  } else {
    text = "connecting…";
  }
  conn.textContent = text;
  conn.className = "fs-conn " + cls;

  const hint = $("fs-hint");
  let message = "";
  let command = ""; // what to run about it
  if (g.refused) {
    message = `The room refused you: ${g.refused}.`;
  } else if (g.down && g.down.reason === "replaced") {
    message = `Another window joined as ${g.player}: choose another name, then Join.`;
  } else if (g.down && !g.down.reconnecting) {
    message = `The node closed the connection (${g.down.reason || g.down.code}). Reload to play again.`;
  } else if (g.down) {
    message = "No connection to the node: is it running?";
    command = "go run ./cmd/server";
  } else if (g.wasStarved) {
    message = "No frames: is examples/framesync running?";
    command = "go run ./examples/framesync";
  }
  if (hint.dataset.shown !== message) {
    hint.dataset.shown = message;
    hint.replaceChildren(message);
    if (command) {
      const code = document.createElement("code");
      code.textContent = command;
      hint.append(document.createElement("br"), "Start it with ", code);
    }
    hint.hidden = message === "";
  }

  const players = [...g.world.dots.keys()];
  const key = players.join("\n") + "\n" + g.player;
  if (key !== listedPlayers) {
    listedPlayers = key;
    $("fs-count").textContent = players.length ? `(${players.length})` : "";
    const list = $("fs-list");
    list.replaceChildren(
      ...players.map((p) => {
        const li = document.createElement("li");
        const swatch = document.createElement("span");
        swatch.className = "fs-swatch";
        swatch.style.background = colorOf(p);
        const name = document.createElement("span");
        name.className = "mono";
        name.textContent = p;
        li.append(swatch, name);
        if (p === g.player) {
          const you = document.createElement("span");
          you.className = "muted";
          you.textContent = " (you)";
          li.append(you);
        }
        return li;
      }),
    );
    if (!players.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "nobody yet";
      list.append(li);
    }
  }
}

/** Draws the arena, moving each dot smoothly from one frame to the next. */
function draw() {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(canvas.clientWidth * dpr);
  const h = Math.round(canvas.clientHeight * dpr);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const scale = w / WIDTH;
  const c = ctx2d;
  c.setTransform(1, 0, 0, 1, 0, 0);
  c.fillStyle = colors.bg;
  c.fillRect(0, 0, w, h);
  c.setTransform(scale, 0, 0, scale, 0, 0);
  c.strokeStyle = colors.line;
  c.lineWidth = 1 / scale;
  c.beginPath();
  for (let x = 40; x < WIDTH; x += 40) {
    c.moveTo(x, 0);
    c.lineTo(x, HEIGHT);
  }
  for (let y = 40; y < HEIGHT; y += 40) {
    c.moveTo(0, y);
    c.lineTo(WIDTH, y);
  }
  c.stroke();

  // Text and outlines keep their size on screen; a dot is never smaller
  // than 9 CSS pixels across its radius, however narrow the screen.
  const px = dpr / scale; // one CSS pixel, in world units
  const r = Math.max(RADIUS, 9 * px);
  const g = game;
  const t = g.frameAt ? Math.min(1, (performance.now() - g.frameAt) / (1000 / g.hz)) : 1;
  c.font = `600 ${13 * px}px system-ui, sans-serif`;
  c.textAlign = "center";
  const before = g.recent.get(g.world.frame - 1) || {}; // to draw the motion between frames
  for (const [player, dot] of g.world.dots) {
    const from = before[player] || [dot.x, dot.y];
    const x = from[0] + (dot.x - from[0]) * t;
    const y = from[1] + (dot.y - from[1]) * t;
    c.beginPath();
    c.arc(x, y, r, 0, 2 * Math.PI);
    c.fillStyle = colorOf(player);
    c.fill();
    if (player === g.player) {
      c.lineWidth = 2.5 * px;
      c.strokeStyle = colors.fg;
      c.stroke();
    }
    c.fillStyle = colors.fg;
    const label = player === g.player ? player + " (you)" : player;
    c.fillText(label, x, y - r - 20 * px < 0 ? y + r + 16 * px : y - r - 6 * px);
  }
  if (!g.world.dots.size) {
    c.fillStyle = colors.muted;
    c.font = `${16 * px}px system-ui, sans-serif`;
    c.fillText(g.wasStarved ? "no frames" : "joining…", WIDTH / 2, HEIGHT / 2);
  }
  requestAnimationFrame(draw);
}

render();
requestAnimationFrame(draw);

// A read-only view for tests: window.framesync.frame, .positions (by
// player, [x, y]), .positionsAt(frame) for the last KEEP_FRAMES frames,
// .joins (Joined received), .hint (the text shown over the arena).
Object.defineProperty(window, "framesync", {
  value: Object.freeze({
    get player() {
      return game.player;
    },
    get room() {
      return game.room;
    },
    get state() {
      return game.hp.state;
    },
    get frame() {
      return game.world.frame;
    },
    get positions() {
      return game.world.positions();
    },
    get joins() {
      return game.joins;
    },
    get hint() {
      return $("fs-hint").hidden ? "" : $("fs-hint").textContent;
    },
    /** @param {number} frame */
    positionsAt(frame) {
      return game.recent.get(frame) || null;
    },
  }),
});
