// dashboard-nodes.js: the nodes of the cluster, polled from GET /nodes.

import { api, APIError } from "/dashboard-api.js";
import { h, clear, showError, ago, timeEl } from "/dashboard-dom.js";
import { $ } from "/dom.js";

/** How often the nodes are polled. */
const refreshMs = 3000;

/**
 * @typedef {object} NodeInfo
 * @property {string} id
 * @property {string} address
 * @property {number} agents may lag by one heartbeat.
 * @property {string} started_at
 * @property {string} last_heartbeat
 */

/** The nodes panel: a table of GET /nodes, refreshed every few seconds. */
export class NodesView {
  /**
   * @param {(nodes: NodeInfo[]) => void} onNodes called after every refresh that worked.
   */
  constructor(onNodes) {
    this.onNodes = onNodes;
    this.body = /** @type {HTMLElement} */ (document.querySelector("#nodes-table tbody"));
    this.status = /** @type {HTMLElement} */ ($("nodes-status"));
    this.timer = 0;
    this.stopped = true;
  }

  /** Starts polling, at once. */
  start() {
    this.stopped = false;
    this.refresh();
  }

  /** Stops polling. */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** @private */
  async refresh() {
    clearTimeout(this.timer);
    try {
      const { items } = await api("GET", "/nodes");
      if (this.stopped) return;
      items.sort((a, b) => a.id.localeCompare(b.id));
      this.render(items);
      this.status.hidden = true;
      this.onNodes(items);
    } catch (err) {
      if (this.stopped || (err instanceof APIError && err.status === 401)) return;
      this.status.hidden = false;
      showError(this.status, err);
    }
    if (!this.stopped) this.timer = setTimeout(() => this.refresh(), refreshMs);
  }

  /**
   * @private
   * @param {NodeInfo[]} nodes
   */
  render(nodes) {
    clear(this.body);
    for (const n of nodes) {
      this.body.append(
        h(
          "tr",
          { "data-node": n.id },
          h("td", {}, h("span", { className: "mono" }, n.id), h("br"), h("span", { className: "mono muted small" }, n.address)),
          h("td", { className: "num" }, n.agents.toLocaleString()),
          h("td", {}, timeEl(n.started_at)),
          h("td", {}, timeEl(n.last_heartbeat, ago(n.last_heartbeat))),
        ),
      );
    }
  }
}
