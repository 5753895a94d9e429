// dashboard-agents.js: the agents of the whole cluster, a page at a time
// (GET /agents with cursors, in id order), kept current from the event
// stream without listing again: agent.connected fetches the one agent,
// agent.disconnected removes it.

import { api, path, APIError } from "/dashboard-api.js";
import { h, clear, showError, timeEl } from "/dashboard-dom.js";
import { $ } from "/dom.js";

/** Agents per page. */
const pageSize = 100;

/** How long an agent.connected waits before its agent is fetched. */
const settleMs = 150;

/**
 * @typedef {object} Agent
 * @property {string} id
 * @property {string} node
 * @property {string} transport
 * @property {string} codec
 * @property {string} remote_addr
 * @property {string} connected_at
 * @property {string} last_seen
 * @property {string[]} groups
 */

/**
 * @typedef {object} Page one page of the list.
 * @property {string | null} cursor the cursor it was loaded with (null: the first page).
 * @property {string} after the last id of the page before (""): this page's ids are greater.
 * @property {string | null} upper its last id when more pages follow (null: the last page).
 * @property {string | null} next the cursor of the next page.
 * @property {Map<string, Agent>} agents by id.
 */

/** The agents panel. */
export class AgentsView {
  /**
   * @param {(id: string) => void} onPick called with an agent's id when its row is picked.
   */
  constructor(onPick) {
    this.onPick = onPick;
    this.el = {
      body: $("agents-body"),
      status: $("agents-status"),
      summary: $("agents-summary"),
      prev: $("agents-prev"),
      next: $("agents-next"),
      pager: $("agents-pager"),
      findForm: $("agents-find"),
      findID: $("find-id"),
      showAll: $("agents-show-all"),
      filterForm: $("agents-filter"),
      prefix: $("filter-prefix"),
      group: $("filter-group"),
      node: $("filter-node"),
    };
    /** @type {Page} */
    this.page = emptyPage();
    /** @type {Array<{cursor: string | null, after: string}>} the pages before this one. */
    this.previous = [];
    /** The group and node filters of the page shown. */
    this.filter = { group: "", node: "" };
    /** @type {string | null} the id looked up exactly, when one is shown instead of the list. */
    this.lookup = null;
    /** @type {Map<string, object>} the agents being fetched after an event, each with a
     *  token; a fetch whose token was replaced or removed since is stale, and dropped. */
    this.fetching = new Map();
    this.total = 0;
    /** Counts page loads and lookups: an answer to an older one is dropped. */
    this.loading = 0;
    /** The animation frame a render waits for; 0 when none does. */
    this.frame = 0;

    this.el.prev.addEventListener("click", () => this.load(this.previous.pop() || { cursor: null, after: "" }));
    this.el.next.addEventListener("click", () => {
      this.previous.push({ cursor: this.page.cursor, after: this.page.after });
      this.load({ cursor: this.page.next, after: this.page.upper || "" });
    });
    this.el.filterForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.filter = { group: this.el.group.value.trim(), node: this.el.node.value };
      this.previous = [];
      this.load({ cursor: null, after: "" });
    });
    this.el.prefix.addEventListener("input", () => this.render());
    this.el.findForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const id = this.el.findID.value.trim();
      if (id) this.find(id);
    });
    this.el.showAll.addEventListener("click", () => {
      this.lookup = null;
      this.el.findID.value = "";
      this.load({ cursor: this.page.cursor, after: this.page.after });
    });
  }

  /** Loads the first page. */
  start() {
    this.load({ cursor: null, after: "" });
  }

  /**
   * Takes the cluster's nodes: their agent counts make the total, and they
   * are the choices of the node filter.
   * @param {Array<{id: string, agents: number}>} nodes
   */
  setNodes(nodes) {
    const { node } = this.el;
    this.total = nodes.filter((n) => !this.filter.node || n.id === this.filter.node).reduce((sum, n) => sum + n.agents, 0);
    const ids = nodes.map((n) => n.id);
    if (ids.join("\n") !== [...node.options].slice(1).map((o) => o.value).join("\n")) {
      const chosen = node.value;
      node.replaceChildren(h("option", { value: "" }, "all nodes"), ...ids.map((id) => h("option", { value: id }, id)));
      if (ids.includes(chosen)) node.value = chosen;
    }
    this.renderSummary();
  }

  /**
   * Applies one event of the stream to the agents shown.
   * @param {string} type
   * @param {{agent: string, ts: string, reason?: string}} data
   */
  handle(type, data) {
    const id = data.agent;
    if (type === "agent.message") {
      const shown = this.page.agents.get(id);
      if (shown && this.lookup === null) {
        shown.last_seen = data.ts;
        this.scheduleRender();
      }
      return;
    }
    // A replaced session's disconnect may come after its successor's connect.
    if (type === "agent.connected" || data.reason === "replaced") {
      this.refresh(id);
      return;
    }
    this.fetching.delete(id); // a fetch waiting or in flight is stale now
    if (this.lookup === id) {
      this.el.status.hidden = false;
      this.el.status.className = "result bad";
      this.el.status.replaceChildren(h("strong", {}, `"${id}" left (${data.reason || "disconnected"}).`));
      this.renderRows([]);
    } else if (this.lookup === null && this.page.agents.delete(id)) {
      this.scheduleRender();
    }
  }

  /**
   * Shows an agent as it is now, if it is shown or belongs on the page
   * shown: after an event about it, or a change made from the forms.
   * @param {string} id
   */
  refresh(id) {
    if (this.lookup !== null) {
      if (id === this.lookup) this.find(id);
    } else if (this.page.agents.has(id) || this.inPage(id)) {
      this.fetchOne(id);
    }
  }

  /**
   * @private
   * @param {string} id
   * @returns {boolean} whether id belongs on the page shown.
   */
  inPage(id) {
    return id > this.page.after && (this.page.upper === null || id <= this.page.upper);
  }

  /**
   * Fetches one agent and shows it if it passes the filters; unless another
   * event about it comes meanwhile. It waits a moment first, so that an
   * agent that is gone at once (a reconnecting client's old session, a
   * probe) is not asked for in vain.
   * @private
   * @param {string} id
   */
  async fetchOne(id) {
    const token = {};
    this.fetching.set(id, token); // any fetch already waiting or in flight is stale now
    await new Promise((done) => setTimeout(done, settleMs));
    if (this.fetching.get(id) !== token) return;
    let agent = null;
    try {
      agent = await api("GET", path`/agents/${id}`);
    } catch (err) {
      if (!(err instanceof APIError && err.status === 404)) {
        if (this.fetching.get(id) === token) this.fetching.delete(id);
        return; // the next event or page load will tell
      }
    }
    if (this.fetching.get(id) !== token) return;
    this.fetching.delete(id);
    if (agent && this.matches(agent)) this.page.agents.set(id, agent);
    else this.page.agents.delete(id);
    this.scheduleRender();
  }

  /**
   * @private
   * @param {Agent} agent
   * @returns {boolean} whether it passes the page's group and node filters.
   */
  matches(agent) {
    return (!this.filter.group || agent.groups.includes(this.filter.group)) && (!this.filter.node || agent.node === this.filter.node);
  }

  /**
   * Loads one page of the list.
   * @private
   * @param {{cursor: string | null, after: string}} at
   */
  async load(at) {
    const load = ++this.loading;
    const q = new URLSearchParams({ limit: String(pageSize) });
    if (at.cursor) q.set("cursor", at.cursor);
    if (this.filter.group) q.set("group", this.filter.group);
    if (this.filter.node) q.set("node", this.filter.node);
    this.el.prev.disabled = this.el.next.disabled = true;
    try {
      const list = await api("GET", "/agents?" + q);
      if (load !== this.loading || this.lookup !== null) return;
      const items = /** @type {Agent[]} */ (list.items);
      this.page = {
        cursor: at.cursor,
        after: at.after,
        upper: list.next_cursor && items.length ? items[items.length - 1].id : null,
        next: list.next_cursor || null,
        agents: new Map(items.map((a) => [a.id, a])),
      };
      this.fetching.clear();
      this.el.status.hidden = true;
      this.render();
    } catch (err) {
      if (load !== this.loading || (err instanceof APIError && err.status === 401)) return;
      this.showStatus(err);
      this.renderPager();
    }
  }

  /**
   * Shows one agent, looked up by its exact id, instead of the list.
   * @param {string} id
   */
  async find(id) {
    this.lookup = id;
    this.loading++;
    this.el.showAll.hidden = false;
    this.el.pager.hidden = true;
    try {
      const agent = await api("GET", path`/agents/${id}`);
      if (this.lookup !== id) return;
      this.el.status.hidden = true;
      this.renderRows([agent]);
    } catch (err) {
      if (this.lookup !== id || (err instanceof APIError && err.status === 401)) return;
      this.showStatus(err, `"${id}"`);
      this.renderRows([]);
    }
    this.renderSummary();
  }

  /**
   * @private
   * @param {unknown} err
   * @param {string} [what] the agent looked up, named in a 404.
   */
  showStatus(err, what) {
    this.el.status.hidden = false;
    if (what && err instanceof APIError && err.status === 404) {
      this.el.status.className = "result bad";
      this.el.status.replaceChildren(h("strong", {}, `404 Not Found: no such agent ${what} (it is not connected, or has just left)`));
    } else {
      showError(this.el.status, err);
    }
  }

  /**
   * Renders at the next animation frame: many events in a burst make one render.
   * @private
   */
  scheduleRender() {
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.render();
      });
    }
  }

  /** @private */
  render() {
    if (this.lookup !== null) return;
    const prefix = this.el.prefix.value.trim();
    const agents = [...this.page.agents.values()].filter((a) => a.id.startsWith(prefix));
    agents.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.renderRows(agents);
    this.renderPager();
    this.renderSummary();
  }

  /**
   * @private
   * @param {Agent[]} agents
   */
  renderRows(agents) {
    clear(this.el.body);
    for (const a of agents) {
      const pick = h("button", { type: "button", className: "link mono", title: "Use this agent in the forms" }, a.id);
      pick.addEventListener("click", () => this.onPick(a.id));
      this.el.body.append(
        h(
          "tr",
          { "data-agent": a.id },
          h("td", {}, pick),
          h("td", { className: "mono" }, a.node),
          h("td", {}, `${a.transport} · ${a.codec}`),
          h("td", {}, a.groups.join(", ")),
          h("td", {}, timeEl(a.connected_at)),
          h("td", {}, timeEl(a.last_seen)),
        ),
      );
    }
    if (agents.length === 0) {
      let why = "No agents connected" + (this.filter.group || this.filter.node ? " that match the filters." : ".");
      if (this.lookup !== null) why = "Nothing to show.";
      else if (this.page.agents.size) why = "No agent on this page has an id with that prefix.";
      this.el.body.append(h("tr", {}, h("td", { colSpan: 6, className: "muted" }, why)));
    }
  }

  /** @private */
  renderPager() {
    this.el.pager.hidden = this.lookup !== null;
    this.el.showAll.hidden = this.lookup === null;
    this.el.prev.disabled = this.page.cursor === null;
    this.el.next.disabled = this.page.next === null;
  }

  /** @private */
  renderSummary() {
    const s = this.el.summary;
    if (this.lookup !== null) {
      s.textContent = `Exact lookup of "${this.lookup}" (GET /agents/{id}), kept current from the event stream.`;
      return;
    }
    const n = this.page.agents.size;
    const first = this.previous.length * pageSize + 1;
    const where =
      [this.filter.group && `in group ${this.filter.group}`, this.filter.node && `on node ${this.filter.node}`].filter(Boolean).join(", ") ||
      "in the cluster";
    let text = `Page ${this.previous.length + 1}: ` + (n > 1 ? `agents ${first}–${first + n - 1}` : n ? `agent ${first}` : "no agents");
    if (this.filter.group) {
      text += ` ${where}`; // the nodes count no group's members
    } else {
      // The nodes count their agents at each heartbeat: the page may know better.
      const total = Math.max(this.total, first + n - 1);
      text += ` of ${total === this.total ? "about " : ""}${total.toLocaleString()} ${where}`;
    }
    s.textContent = text + ".";
  }
}

/** @returns {Page} */
function emptyPage() {
  return { cursor: null, after: "", upper: null, next: null, agents: new Map() };
}
