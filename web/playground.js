// The playground: be a game client in the browser. It connects to this
// node's /ws with hotpot.js, sends what the user writes, answers calls by
// the rules of the "Call answers" panel and logs every frame.

import { connect } from "/hotpot.js";
import { Answers } from "/playground-answers.js";
import { FrameLog } from "/playground-log.js";
import { $ } from "/dom.js";

/** An agent id the node takes (DESIGN §5). */
const idPattern = /^[A-Za-z0-9_.:@-]{1,128}$/;

const log = new FrameLog($("log"), $("log-scroll"), $("log-empty"));
const answers = new Answers($("rules"), $("rule-template"), $("add-rule"));

/** @type {import("/hotpot.js").Client | null} the client the page shows. */
let client = null;
/** @type {(() => void)[]} stop listening to client. */
let unlisten = [];

$("agent-id").value = "player-" + Math.random().toString(36).slice(2, 6);

$("connect-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const id = $("agent-id").value.trim();
  if (id !== "" && !idPattern.test(id)) {
    $("connect-error").textContent = "An agent id is 1 to 128 of A-Z a-z 0-9 _ . : @ - (or empty).";
    $("agent-id").setAttribute("aria-invalid", "true");
    return;
  }
  $("connect-error").textContent = "";
  $("agent-id").removeAttribute("aria-invalid");
  forget();
  const token = $("token").value.trim();
  const codec = $("codec").value;
  client = connect({ id: id || undefined, token: token || undefined, codec, reconnect: $("reconnect").checked });
  follow(client, codec);
  client.onCall("*", (data, msg) => answers.answer(data, msg));
  showControls();
});

$("disconnect").addEventListener("click", () => {
  client.close();
  forget();
  setState("closed", "disconnected: closed by you");
  log.note("closed by you");
  showControls();
});

/**
 * Shows what client does: its frames in the log, its connection in the state line.
 * @param {import("/hotpot.js").Client} hp
 * @param {string} codec
 */
function follow(hp, codec) {
  let welcomed = false; // in the current attempt
  let attempts = 0;
  unlisten = [
    hp.on("frame", (frame) => log.frame(frame)),
    hp.on("connecting", ({ url, attempt }) => {
      welcomed = false;
      attempts++;
      setState("connecting", "connecting to " + url + "…");
      log.note("connecting to " + url + " with " + codec + (attempt > 0 ? " (retry " + attempt + ")" : ""));
    }),
    hp.on("connect", (w) => {
      welcomed = true;
      setState("open", "connected as " + w.id + " on node " + w.node);
      showControls();
    }),
    hp.on("disconnect", async (d) => {
      showControls();
      const attempt = attempts;
      let reason = d.reason;
      if (!welcomed && d.code === 1006 && !reason) {
        // The browser hides why a handshake failed: ask whether the node is up.
        reason = (await nodeIsUp()) ? "refused: bad or missing token?" : "the node cannot be reached";
      }
      if (client !== hp || attempt !== attempts) return; // the page has moved on
      reason = reason || "connection closed (code " + d.code + ")";
      const again = d.reconnecting ? ", reconnecting in " + d.delayMs + " ms" : "";
      setState("closed", "disconnected: " + reason + again);
      log.note("disconnected: " + reason + again, true);
    }),
  ];
}

/** Stops showing the current client, if any. */
function forget() {
  for (const stop of unlisten) stop();
  unlisten = [];
  client = null;
}

/** @returns {Promise<boolean>} whether this node answers /healthz. */
async function nodeIsUp() {
  try {
    return (await fetch("/healthz", { cache: "no-store" })).ok;
  } catch {
    return false;
  }
}

/**
 * @param {"connecting" | "open" | "closed"} state
 * @param {string} text
 */
function setState(state, text) {
  $("state").dataset.state = state;
  $("state").textContent = text;
}

/**
 * Enables what can be done now: editing and connecting, or disconnecting.
 * The focus, if on a control it disables, moves to the button that undoes it.
 */
function showControls() {
  const live = client !== null && client.state !== "closed";
  for (const id of ["agent-id", "codec", "token", "reconnect", "connect"]) $(id).disabled = live;
  $("disconnect").disabled = !live;
  if (document.activeElement.disabled) $(live ? "disconnect" : "connect").focus();
}

$("send-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const type = $("send-type").value.trim();
  const { data, problem } = parseData($("send-data").value);
  $("send-data").setAttribute("aria-invalid", String(problem !== ""));
  if (type === "") $("send-error").textContent = "A message needs a type.";
  else if (problem) $("send-error").textContent = "The data is not valid JSON, nothing was sent: " + problem;
  else if (!client || !client.send(type, data)) $("send-error").textContent = "Not connected, nothing was sent.";
  else $("send-error").textContent = "";
});

$("send-data").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    $("send-form").requestSubmit();
  }
});

/**
 * Parses a message's data.
 * @param {string} text JSON, or empty for no data.
 * @returns {{data: any, problem: string}} the data, or what is wrong with the text.
 */
function parseData(text) {
  if (text.trim() === "") return { data: undefined, problem: "" };
  try {
    return { data: JSON.parse(text), problem: "" };
  } catch (err) {
    return { data: undefined, problem: err.message };
  }
}

$("pretty").addEventListener("change", (e) => log.setPretty(e.target.checked));
$("hide-keepalive").addEventListener("change", (e) => $("log").classList.toggle("hide-keepalive", e.target.checked));
$("clear-log").addEventListener("click", () => log.clear());
