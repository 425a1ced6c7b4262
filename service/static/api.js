// The page's door to the service: the same public endpoints as every other client, same error body.

const KEY_STORAGE = "roadlens-api-key";
const RETRIES = 3; // on 429 and 503, after waiting what Retry-After asks (at most MAX_WAIT_S)
const MAX_WAIT_S = 10;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

function request(path, { method = "GET", params = {}, image = null } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, String(value));
  const headers = {};
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  let body;
  if (image) {
    body = new FormData();
    body.append("file", image, image.name || "image.png");
  }
  return fetch(url, { method, headers, body });
}

async function errorOf(response) {
  try {
    const { error } = await response.json();
    return new ApiError(response.status, error.code, error.message);
  } catch {
    return new ApiError(response.status, `http_${response.status}`, response.statusText || "request failed");
  }
}

function delayOf(response, attempt) {
  const asked = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  if (Number.isFinite(asked)) return asked <= MAX_WAIT_S ? asked * 1000 : null;
  return 250 * 2 ** attempt;
}

// One call: the response when it succeeded, else an ApiError carrying the server's code and message.
export async function call(path, options = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const response = await request(path, options);
    if (response.ok) return response;
    const wait = attempt < RETRIES && [429, 503].includes(response.status) ? delayOf(response, attempt) : null;
    if (wait === null) throw await errorOf(response);
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

export async function getJSON(path) {
  return (await call(path)).json();
}

export async function postJSON(path, image, params = {}) {
  return (await call(path, { method: "POST", image, params })).json();
}

export async function postBlob(path, image, params = {}) {
  return (await call(path, { method: "POST", image, params })).blob();
}

// Milliseconds an async function took, with its result.
export async function timed(work) {
  const started = performance.now();
  const result = await work();
  return { result, ms: performance.now() - started };
}
