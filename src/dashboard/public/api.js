// The one way the page reads the service: fetch with the admin token from sessionStorage in the
// Authorization header (never in a URL, never in a cookie), JSON in and out. A 401 means the token
// is missing or wrong: it is forgotten and the login form comes back.

const TOKEN_KEY = 'license-dashboard-token';

/** @type {() => void} */
let onUnauthorized = () => {};

/** app.js tells what to do when the service answers 401 (show the login again). */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** An answer other than 2xx: the service's error code and message, and the HTTP status. */
export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/**
 * Opens a streamed answer (the debug API's NDJSON event history) with the token, as api() sends
 * it; resolves to the Response once its status is 2xx, so the caller reads the body as it comes.
 * @param {string} path
 * @returns {Promise<Response>}
 */
export async function stream(path) {
  const response = await send('GET', path, undefined, 'application/x-ndjson');
  if (response.ok) return response;
  return failed('GET', path, response);
}

/**
 * Calls the service. `path` is a path on this origin ("/v1/admin/cluster"); `body`, when given,
 * is sent as JSON. Resolves to the parsed JSON answer (or null for an empty one); throws an
 * ApiError with the service's code and message otherwise.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 */
export async function api(method, path, body) {
  const response = await send(method, path, body, 'application/json');
  if (!response.ok) return failed(method, path, response);
  const text = await response.text();
  return text === '' ? null : JSON.parse(text);
}

/** The fetch itself: the token in the Authorization header, no cookie, no referrer, no cache. */
async function send(method, path, body, accept) {
  if (!path.startsWith('/')) throw new Error(`api: a path on this origin, got ${path}`);
  const current = token();
  if (current === null) {
    onUnauthorized();
    throw new ApiError(401, 'UNAUTHORIZED', 'sign in with the admin token');
  }
  const headers = { authorization: `Bearer ${current}`, accept };
  const init = { method, headers, credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(path, init);
  } catch (cause) {
    throw new ApiError(0, 'NETWORK', `the service did not answer (${cause instanceof Error ? cause.message : String(cause)})`);
  }
}

/** Throws what a non-2xx answer says; a 401 also forgets the token and shows the login. */
async function failed(method, path, response) {
  let parsed;
  try {
    parsed = JSON.parse(await response.text());
  } catch {
    parsed = null; // not JSON (a proxy's page): the status says what happened
  }
  if (response.status === 401) {
    clearToken();
    onUnauthorized();
    throw new ApiError(401, 'UNAUTHORIZED', 'the admin token was refused: sign in again', parsed);
  }
  const code = parsed && typeof parsed.code === 'string' ? parsed.code : `HTTP_${response.status}`;
  const message = parsed && typeof parsed.message === 'string' ? parsed.message : `${method} ${path} answered ${response.status}`;
  throw new ApiError(response.status, code, message, parsed);
}
