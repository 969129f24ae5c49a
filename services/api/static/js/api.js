// The REST API as the pages use it: JSON requests, problem documents, conditional polling.
"use strict";

const API_ROOT = "/api/v1";

// An answer that is not 2xx: the problem document (RFC 9457) with its `errors` list, if any.
class ApiProblem extends Error {
  constructor(status, problem) {
    const body = problem && typeof problem === "object" ? problem : {};
    super(body.detail || body.title || `The API answered ${status}.`);
    this.status = status;
    this.errors = Array.isArray(body.errors) ? body.errors : [];
  }
}

async function readBody(response) {
  return parseBody(await response.text());
}

function parseBody(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 300) };
  }
}

async function apiFetch(path, options = {}) {
  let response;
  try {
    response = await fetch(API_ROOT + path, { cache: "no-store", ...options });
  } catch (networkError) {
    showConnection(false);
    throw networkError;
  }
  showConnection(true);
  if (response.status === 401) {
    // The session ended (logged out, or the server's key changed): log in again, then come back here.
    window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  }
  return response;
}

async function apiGet(path) {
  const response = await apiFetch(path, { headers: { Accept: "application/json" } });
  const body = await readBody(response);
  if (!response.ok) throw new ApiProblem(response.status, body);
  return body;
}

// The session's CSRF token, which every request that changes something must carry.
function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function apiSend(method, path, payload) {
  const isForm = payload instanceof FormData;
  const headers = { Accept: "application/json", "X-CSRF-Token": csrfToken() };
  if (!isForm) headers["Content-Type"] = "application/json";
  const response = await apiFetch(path, {
    method,
    headers,
    body: isForm ? payload : JSON.stringify(payload ?? {}),
  });
  const body = await readBody(response);
  if (!response.ok) throw new ApiProblem(response.status, body);
  return { body, location: response.headers.get("Location") };
}

// Conditional GET for polling: returns the new body, or null when nothing changed since the last call
// for the same path (a 304 to our If-None-Match, or the same bytes when the API sends no ETag).
const lastAnswers = new Map();

async function apiGetIfChanged(path) {
  const previous = lastAnswers.get(path);
  const headers = { Accept: "application/json" };
  if (previous && previous.etag) headers["If-None-Match"] = previous.etag;
  const response = await apiFetch(path, { headers });
  if (response.status === 304) return null;
  const text = await response.text();
  if (!response.ok) throw new ApiProblem(response.status, parseBody(text));
  if (previous && previous.text === text) return null;
  lastAnswers.set(path, { etag: response.headers.get("ETag"), text });
  return JSON.parse(text);
}

// The next apiGetIfChanged(path) then answers in full, for a view that was cleared and must be redrawn.
function forgetLastAnswer(path) {
  lastAnswers.delete(path);
}

const HIDDEN_TAB_INTERVAL_MS = 10000;

// Runs `tick` now and then again `interval(ms)` after each run ends, until it returns false.
// A failed run (API unreachable) is retried at the same pace; the header says so meanwhile.
// A tab nobody looks at polls gently, and catches up as soon as it is shown again.
function poll(tick, intervalMs) {
  let timer = null;
  let running = false;
  let stopped = false;
  async function run() {
    clearTimeout(timer);
    running = true;
    let keepGoing = true;
    try {
      keepGoing = (await tick()) !== false;
    } catch (error) {
      if (error instanceof ApiProblem) console.warn(error);
    }
    running = false;
    if (!keepGoing) stopped = true;
    if (stopped) return;
    const wait = typeof intervalMs === "function" ? intervalMs() : intervalMs;
    timer = setTimeout(run, document.hidden ? Math.max(wait, HIDDEN_TAB_INTERVAL_MS) : wait);
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !running && !stopped) run();
  });
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function showConnection(reachable) {
  const status = document.getElementById("connection");
  if (!status) return;
  status.textContent = reachable ? "" : "API unreachable, retrying…";
  status.classList.toggle("offline", !reachable);
}
