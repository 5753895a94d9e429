// dashboard-forms.js: the action forms (call, push, group push, broadcast,
// groups, kick), each showing the node's answer or what its refusal means.

import { api, path } from "/dashboard-api.js";
import { showError, showOK, count } from "/dashboard-dom.js";
import { $ } from "/dom.js";

/** A mistake in a form, caught before anything is sent. */
class InputError extends Error {
  /**
   * @param {HTMLElement} field the field to fix; it gets the focus.
   * @param {string} message
   */
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

/**
 * @param {string} id an input's id.
 * @returns {string} its value, trimmed.
 */
const value = (id) => $(id).value.trim();

/**
 * Reads a JSON data field.
 * @param {string} id the textarea's id.
 * @returns {any} the parsed value; undefined when the field is empty (no data).
 * @throws {InputError} when it is not valid JSON.
 */
function jsonField(id) {
  const field = $(id);
  const text = field.value.trim();
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(field, `Data is not valid JSON, so nothing was sent: ${err.message}`);
  }
}

/**
 * Reads a required text field.
 * @param {string} id
 * @param {string} what its name, for the message.
 * @returns {string}
 * @throws {InputError} when it is empty.
 */
function required(id, what) {
  const v = value(id);
  if (!v) throw new InputError($(id), `Enter ${what}.`);
  return v;
}

/**
 * @param {string} type
 * @param {any} data undefined for none.
 * @returns {{type: string, data?: any}} a message body.
 */
function message(type, data) {
  return data === undefined ? { type } : { type, data };
}

/**
 * Makes a form send its request on submit and show the outcome in its
 * result box (the element with the form's id and "-result").
 * @param {string} formId
 * @param {(submitter: HTMLButtonElement | null) => Promise<{text: string, json?: any}>} send
 *   does the request and says what came of it; an {@link InputError} is shown
 *   without sending, anything else as the node's refusal.
 */
function bind(formId, send) {
  const form = $(formId);
  const result = $(formId + "-result");
  form.addEventListener("input", (e) => e.target.removeAttribute("aria-invalid"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    result.className = "result";
    result.textContent = "Sending…";
    const started = performance.now();
    try {
      const { text, json } = await send(/** @type {any} */ (e).submitter);
      showOK(result, `${text} (${Math.round(performance.now() - started)} ms)`, json);
    } catch (err) {
      if (err instanceof InputError) {
        result.className = "result bad";
        result.textContent = err.message;
        err.field.setAttribute("aria-invalid", "true");
        err.field.focus();
      } else {
        showError(result, err);
      }
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  });
}

/**
 * Wires the action forms and their tabs.
 * @param {(id: string) => void} onAgentChanged called with an agent's id after
 *   a form changed it in a way no event tells (its groups).
 */
export function setupForms(onAgentChanged) {
  setupTabs();
  bind("call", async () => {
    const id = required("call-agent", "the agent id");
    const type = required("call-type", "the message type");
    const data = jsonField("call-data");
    const timeout = Number(value("call-timeout") || 5000);
    const reply = await api("POST", path`/agents/${id}/call`, { ...message(type, data), timeout_ms: timeout });
    return { text: `200 OK: ${id} replied`, json: reply };
  });
  bind("push", async () => {
    const id = required("push-agent", "the agent id");
    const type = required("push-type", "the message type");
    await api("POST", path`/agents/${id}/events`, message(type, jsonField("push-data")));
    return { text: `202 Accepted: queued for ${id}` };
  });
  bind("gpush", async () => {
    const group = required("gpush-group", "the group");
    const type = required("gpush-type", "the message type");
    const res = await api("POST", path`/groups/${group}/events`, message(type, jsonField("gpush-data")));
    return { text: `200 OK: delivered to ${count(res.delivered, "agent")} of ${group}` };
  });
  bind("bcast", async () => {
    const type = required("bcast-type", "the message type");
    const async = $("bcast-async").checked;
    const res = await api("POST", "/broadcast" + (async ? "?async=true" : ""), message(type, jsonField("bcast-data")));
    if (async) return { text: "202 Accepted: the broadcast is on its way (async: no counts)" };
    let text = `200 OK: delivered to ${count(res.delivered, "agent")} on ${count(res.nodes, "node")}`;
    if (res.partial) text += " (partial: some nodes did not answer in time)";
    return { text, json: res };
  });
  bind("groups", async (submitter) => {
    const id = required("groups-agent", "the agent id");
    const group = required("groups-group", "the group");
    const leave = submitter && submitter.value === "leave";
    await api(leave ? "DELETE" : "PUT", path`/agents/${id}/groups/${group}`);
    onAgentChanged(id);
    return { text: `204: ${id} ${leave ? "left" : "joined"} ${group}` };
  });
  bind("kick", async () => {
    const id = required("kick-agent", "the agent id");
    const reason = value("kick-reason");
    await api("DELETE", path`/agents/${id}` + (reason ? "?reason=" + encodeURIComponent(reason) : ""));
    return { text: `204: ${id} was kicked` + (reason ? ` (${reason})` : "") };
  });
}

/**
 * Puts an agent's id in every form that takes one.
 * @param {string} id
 */
export function pickAgent(id) {
  for (const field of ["call-agent", "push-agent", "groups-agent", "kick-agent"]) {
    $(field).value = id;
    $(field).removeAttribute("aria-invalid");
  }
  $("picked").textContent = `Agent ${id} is filled in the forms.`;
}

/** Makes the tab buttons show one form at a time; arrow keys move between them. */
function setupTabs() {
  const tabs = [...document.querySelectorAll('#action-tabs [role="tab"]')];
  const select = (tab) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
    }
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
      let to = null;
      if (e.key === "Home") to = tabs[0];
      else if (e.key === "End") to = tabs[tabs.length - 1];
      else if (step) to = tabs[(i + step + tabs.length) % tabs.length];
      if (!to) return;
      e.preventDefault();
      select(to);
      to.focus();
    });
  });
  select(tabs[0]);
}
