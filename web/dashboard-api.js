// dashboard-api.js: the dashboard's calls to the node's REST API, the API
// key they carry, and what a failed call means in plain words.

/** Where the API key is kept: for this tab only, gone when it closes. */
const keyStorageName = "hotpot.apiKey";

/** @type {() => void} called when the node answers 401. */
let unauthorizedHandler = () => {};

/** @returns {string} the API key in use, or "" when none was given. */
export function apiKey() {
  return sessionStorage.getItem(keyStorageName) || "";
}

/**
 * Sets the API key every later request carries; "" forgets it.
 * @param {string} key
 */
export function setAPIKey(key) {
  if (key) sessionStorage.setItem(keyStorageName, key);
  else sessionStorage.removeItem(keyStorageName);
}

/**
 * Sets what to do when the node answers 401 to any request: the key is
 * missing or wrong, so the dashboard has to ask for one.
 * @param {() => void} fn
 */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

/**
 * Reports a 401 answer to the handler set with {@link onUnauthorized}; the
 * event stream, which does not go through {@link api}, calls it too.
 */
export function unauthorized() {
  unauthorizedHandler();
}

/** @returns {Record<string, string>} the Authorization header, when a key is set. */
export function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: "Bearer " + key } : {};
}

/**
 * A request the node refused (an RFC 9457 problem), or one that never got
 * an answer (status 0).
 */
export class APIError extends Error {
  /**
   * @param {number} status the HTTP status; 0 when the node could not be reached.
   * @param {{title?: string, detail?: string, code?: number, msg?: string}} problem
   * @param {number | null} retryAfter the Retry-After header, in seconds.
   */
  constructor(status, problem, retryAfter = null) {
    super(problem.detail || problem.title || "HTTP " + status);
    this.name = "APIError";
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

/**
 * Sends one request to the node's REST API with the API key, if any.
 * @param {string} method
 * @param {string} path the path and query, already escaped.
 * @param {any} [body] sent as JSON when given.
 * @param {AbortSignal} [signal]
 * @returns {Promise<any>} the JSON body of a 2xx answer; null when it has none (202, 204).
 * @throws {APIError} for any other answer, or when the node cannot be reached.
 */
export async function api(method, path, body, signal) {
  const headers = { Accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      signal,
    });
  } catch (err) {
    if (signal && signal.aborted) throw err;
    throw new APIError(0, { title: "No answer", detail: String(err.message || err) });
  }
  const text = await resp.text();
  if (resp.ok) return text ? JSON.parse(text) : null;
  let problem;
  try {
    problem = JSON.parse(text);
  } catch {
    problem = { title: resp.statusText, detail: text.trim() };
  }
  const retryAfter = resp.headers.has("Retry-After") ? Number(resp.headers.get("Retry-After")) : null;
  if (resp.status === 401) unauthorized();
  throw new APIError(resp.status, problem, retryAfter);
}

/**
 * Builds a path from a template's parts, escaping each value.
 * @param {TemplateStringsArray} strings
 * @param {...string} values
 * @returns {string}
 */
export function path(strings, ...values) {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]) : ""), "");
}

/**
 * Says what a failed request means, for a person.
 * @param {unknown} err an {@link APIError}, or anything else that was thrown.
 * @returns {{headline: string, detail: string}} the status and its meaning, and
 *   the node's own words (the problem's detail), when it said more.
 */
export function explain(err) {
  if (!(err instanceof APIError)) return { headline: "Something went wrong in the page", detail: String(err) };
  const p = err.problem;
  const detail = p.detail || "";
  const status = err.status === 0 ? "" : `${err.status} ${p.title || ""}`.trim() + ": ";
  let meaning;
  switch (err.status) {
    case 0:
      meaning = "could not reach the node (is it running? is the network up?)";
      break;
    case 400:
      meaning = "the node refused the request as malformed";
      break;
    case 401:
      meaning = "wrong or missing API key";
      break;
    case 404:
      meaning = "no such agent: it is not connected (or has just left)";
      break;
    case 410:
      meaning =
        "the agent is gone: it left (or its node died) before answering, " +
        "or its send queue is full and it is being closed as a slow consumer";
      break;
    case 413:
      meaning = "the message is larger than the node accepts (--max-message-bytes)";
      break;
    case 429:
      meaning = "the agent is at a limit; nothing was sent or changed";
      break;
    case 502:
      meaning = `the client answered with an error: code ${p.code ?? "?"}, msg "${p.msg ?? ""}"`;
      break;
    case 503:
      meaning =
        err.retryAfter !== null
          ? `the node is overloaded, nothing was sent: try again in ${err.retryAfter} s`
          : "the node or the cluster is unavailable right now";
      break;
    case 504:
      meaning = "the client did not answer in time";
      break;
    default:
      meaning = "the node could not do it";
  }
  return { headline: status + meaning, detail: meaning.includes(detail) ? "" : detail };
}
