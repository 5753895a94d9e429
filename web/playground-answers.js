// The playground's call answers: rules, edited on the page, that say how
// the client answers the node's calls, either for one call type or for any.

import { CallError } from "/hotpot.js";

/** The string that stands for the call's data in a reply. */
const dataPlaceholder = "$data";

/** Largest code a Reply may carry (int32 on the wire). */
const maxCode = 2 ** 31 - 1;

/**
 * The rules, as the page shows them: the first answers any call type,
 * the others one type each.
 */
export class Answers {
  /**
   * @param {HTMLElement} list where the rules are shown.
   * @param {HTMLTemplateElement} template one rule's markup.
   * @param {HTMLButtonElement} addButton adds a rule for one call type.
   */
  constructor(list, template, addButton) {
    this.list = list;
    this.template = template;
    this.addButton = addButton;
    addButton.addEventListener("click", () => this.add().querySelector(".type").focus());
    this.made = 0;
    /** @type {Map<HTMLElement, number>} how many calls each rule answered. */
    this.counts = new Map();
    this.anyRule = this.add();
    this.anyRule.classList.add("any");
    const typeField = this.anyRule.querySelector(".rule-type");
    typeField.replaceChildren(Object.assign(document.createElement("p"), { className: "any-type", textContent: "Any call type" }));
    this.anyRule.querySelector(".remove").remove();
  }

  /**
   * Adds a rule, replying {"echo": data} until edited.
   * @private
   * @returns {HTMLElement} the rule.
   */
  add() {
    const rule = /** @type {HTMLElement} */ (this.template.content.firstElementChild.cloneNode(true));
    const n = ++this.made;
    for (const label of rule.querySelectorAll("label")) {
      const control = label.nextElementSibling;
      control.id = "rule" + n + "-" + control.className;
      label.htmlFor = control.id;
    }
    const mode = rule.querySelector(".mode");
    mode.addEventListener("change", () => this.showMode(rule));
    rule.querySelector(".remove").addEventListener("click", () => {
      rule.remove();
      this.counts.delete(rule);
      this.addButton.focus();
    });
    rule.addEventListener("input", () => this.check(rule));
    this.counts.set(rule, 0);
    this.list.append(rule);
    return rule;
  }

  /**
   * Answers one call by its rule: what it returns is the Reply's data; it
   * throws a CallError for an error answer, or for a rule that cannot answer
   * (a reply that is not JSON, a bad code).
   * @param {any} data the call's data.
   * @param {{type: string}} msg the call.
   * @returns {any}
   */
  answer(data, msg) {
    const rule = this.ruleFor(msg.type);
    this.counts.set(rule, this.counts.get(rule) + 1);
    this.showCount(rule);
    const answer = this.read(rule);
    if (answer.problem) {
      this.check(rule);
      throw new CallError(500, "the playground's answer for " + msg.type + " is broken: " + answer.problem);
    }
    if (answer.error) throw new CallError(answer.error.code, answer.error.msg);
    return fill(answer.reply, data);
  }

  /**
   * The rule for a call type: the last rule naming it, else the any-type rule.
   * @private
   * @param {string} type
   * @returns {HTMLElement}
   */
  ruleFor(type) {
    let found = this.anyRule;
    for (const rule of this.counts.keys()) {
      if (rule !== this.anyRule && rule.querySelector(".type").value.trim() === type) found = rule;
    }
    return found;
  }

  /**
   * Reads a rule's answer from its fields.
   * @private
   * @param {HTMLElement} rule
   * @returns {{reply?: any, error?: {code: number, msg: string}, problem?: string}}
   */
  read(rule) {
    if (rule.querySelector(".mode").value === "error") {
      const code = Number(rule.querySelector(".code").value);
      if (!Number.isInteger(code) || code === 0 || Math.abs(code) > maxCode) {
        return { problem: "the code must be a non-zero whole number" };
      }
      return { error: { code, msg: rule.querySelector(".msg").value } };
    }
    const text = rule.querySelector(".reply").value;
    if (text.trim() === "") return { reply: undefined };
    try {
      return { reply: JSON.parse(text) };
    } catch (err) {
      return { problem: "the reply is not valid JSON (" + err.message + ")" };
    }
  }

  /**
   * Shows what is wrong with a rule, or nothing.
   * @private
   * @param {HTMLElement} rule
   */
  check(rule) {
    rule.querySelector(".rule-error").textContent = this.read(rule).problem || "";
  }

  /**
   * Shows the fields of the rule's answer mode only.
   * @private
   * @param {HTMLElement} rule
   */
  showMode(rule) {
    const error = rule.querySelector(".mode").value === "error";
    rule.querySelector(".reply-fields").hidden = error;
    rule.querySelector(".error-fields").hidden = !error;
    this.check(rule);
  }

  /**
   * @private
   * @param {HTMLElement} rule
   */
  showCount(rule) {
    const n = this.counts.get(rule);
    rule.querySelector(".count").textContent = "Answered " + n + (n === 1 ? " call" : " calls");
  }
}

/**
 * Returns reply with every string "$data" in it replaced by data.
 * @param {any} reply
 * @param {any} data
 * @returns {any}
 */
function fill(reply, data) {
  if (reply === dataPlaceholder) return data;
  if (Array.isArray(reply)) return reply.map((v) => fill(v, data));
  if (reply !== null && typeof reply === "object") {
    return Object.fromEntries(Object.entries(reply).map(([k, v]) => [k, fill(v, data)]));
  }
  return reply;
}
