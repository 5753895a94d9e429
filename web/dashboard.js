// dashboard.js: the node's dashboard at /. It asks for the API key when
// the node wants one, then shows the cluster live: nodes, agents and the
// event stream, with forms to call, push to, group and kick agents.

import { api, apiKey, setAPIKey, onUnauthorized, APIError } from "/dashboard-api.js";
import { showError, clockTime, count } from "/dashboard-dom.js";
import { EventStream } from "/dashboard-sse.js";
import { NodesView } from "/dashboard-nodes.js";
import { AgentsView } from "/dashboard-agents.js";
import { EventLog } from "/dashboard-events.js";
import { setupForms, pickAgent } from "/dashboard-forms.js";
import { $ } from "/dom.js";

const nodes = new NodesView((list) => {
  agents.setNodes(list);
  const total = list.reduce((sum, n) => sum + n.agents, 0);
  $("summary-cluster").textContent = `${count(list.length, "node")}, ${count(total, "agent")}`;
});
const agents = new AgentsView(pickAgent);
const log = new EventLog(pickAgent);

/** @type {EventStream | null} */
let stream = null;
/** The last event id of a stream that was stopped: the next one resumes after it. */
let lastEventID = "";

/** Shows the dashboard and starts following the node. */
function start() {
  $("boot").hidden = true;
  $("key-panel").hidden = true;
  $("dashboard").hidden = false;
  $("forget-key").hidden = apiKey() === "";
  nodes.start();
  agents.start();
  stream = new EventStream(lastEventID, {
    onEvent(ev) {
      log.add(ev.id, ev.type, ev.data);
      agents.handle(ev.type, ev.data);
    },
    onComment: showStreamComment,
    onState: showStreamState,
  });
}

/** Stops everything that talks to the node. */
function stop() {
  nodes.stop();
  if (stream) {
    stream.stop();
    lastEventID = stream.state.lastId;
  }
  stream = null;
}

/**
 * Asks for the API key.
 * @param {string} why shown above the field; "" for none.
 */
function askForKey(why) {
  stop();
  $("boot").hidden = true;
  $("dashboard").hidden = true;
  $("key-panel").hidden = false;
  const msg = $("key-message");
  msg.hidden = why === "";
  msg.textContent = why;
  $("key-input").value = "";
  $("key-input").focus();
}

/**
 * Tries the node: with the key in use, if any, GET /nodes must work.
 * @returns {Promise<void>}
 */
async function connect() {
  try {
    await api("GET", "/nodes");
    start();
  } catch (err) {
    if (err instanceof APIError && err.status === 401) return; // the 401 handler asked for a key
    $("boot").hidden = false;
    $("boot-retry").hidden = false;
    showError($("boot-message"), err);
  }
}

onUnauthorized(() => {
  const key = apiKey();
  if (!key && !$("key-panel").hidden) return; // asked already, by another request's 401
  setAPIKey("");
  askForKey(key ? "The node refused that key (401 Unauthorized: wrong or missing API key). Check the node's --api-key and try again." : "");
});

$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const key = $("key-input").value.trim();
  if (!key) {
    askForKey("Enter the key first.");
    return;
  }
  setAPIKey(key);
  $("key-message").hidden = false;
  $("key-message").textContent = "Checking the key…";
  connect();
});
$("forget-key").addEventListener("click", () => {
  setAPIKey("");
  askForKey("The key is forgotten in this tab. Enter it again to go on.");
});
$("boot-retry").addEventListener("click", () => {
  $("boot-retry").hidden = true;
  $("boot-message").className = "muted";
  $("boot-message").textContent = "Connecting to the node…";
  connect();
});

/**
 * Shows the event stream's state in the summary and the event log.
 * @param {import("/dashboard-sse.js").StreamState} s
 */
function showStreamState(s) {
  const live = s.phase === "live";
  const pill = $("stream-state");
  pill.className = "pill " + (live ? "ok" : "bad");
  pill.textContent = { live: "events live", stopped: "events stopped", connecting: "events connecting…", retrying: "events reconnecting…" }[s.phase];
  const notice = $("stream-notice");
  let text = "";
  if (s.phase === "retrying") {
    text = `The event stream is down (${s.error}); retrying` + (s.lastId ? `, to resume after id ${s.lastId}.` : ".");
  } else if (live && s.resumedAt) {
    const times = s.cuts === 1 ? "once" : `${s.cuts} times`;
    text = `The event stream was cut ${times}; last at ${clockTime(s.cutAt)} (${s.cutReason}), resumed at ${clockTime(s.resumedAt)}`;
    if (s.resumedFrom) {
      text += ` from id ${s.resumedFrom}: ${count(s.replayed, "event")} replayed, none lost.`;
    } else {
      text += `. No event had come before the cut, so there was no id to resume from: events during the cut are not shown.`;
    }
  }
  notice.hidden = text === "";
  notice.textContent = text;
}

/**
 * Shows what the node said in a comment of the stream (pings aside).
 * @param {string} text
 */
function showStreamComment(text) {
  const warn = $("stream-warning");
  warn.hidden = false;
  const at = clockTime(new Date());
  warn.textContent = /replaying from the oldest/.test(text)
    ? `At ${at} the node no longer kept every event after the last one seen, so some were lost; ` +
      `it replayed from the oldest it keeps (it said: ${text}).`
    : `At ${at} the node said: ${text}`;
}

setupForms((id) => agents.refresh(id));
connect();
