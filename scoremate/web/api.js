// API client: bearer tokens, one refresh at a time, problem+json errors.
// The access token lives in memory only; the refresh token in sessionStorage (survives a reload).

const KEY = 'scoremate.refresh';
let access = null;
let timer;
let refreshing = null; // the one refresh under way: a rotated token must never be sent twice
const listeners = [];

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || (status
      ? `Something went wrong (HTTP ${status}). Please try again.`
      : 'Could not reach the server. Check your connection and try again.'));
    Object.assign(this, { status, code: body?.code, fields: body?.fields });
  }
}

export const onSignOut = (fn) => listeners.push(fn);
export const hasSession = () => Boolean(access || sessionStorage.getItem(KEY));
export const isSignedIn = () => Boolean(access);
/** `"3"` or `W/"3"` → 3 */
export const versionOf = (response) => Number(/\d+/.exec(response.headers.get('ETag'))?.[0] ?? response.data.version);

function store({ access: token, refresh: next }) {
  access = token;
  sessionStorage.setItem(KEY, next);
  clearTimeout(timer);
  let expiry = 0;
  try {
    expiry = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).exp * 1000;
  } catch { /* not a JWT we can read: refresh on the first 401 instead */ }
  // About a minute before the access token expires.
  if (expiry) timer = setTimeout(() => refresh().catch(() => {}), Math.min(2 ** 31 - 1, Math.max(5000, expiry - Date.now() - 60000)));
}

export function clearSession() {
  access = null;
  clearTimeout(timer);
  sessionStorage.removeItem(KEY);
  listeners.forEach((fn) => fn());
}

async function send(method, url, { body, headers, auth = true }) {
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: {
        Accept: 'application/json',
        ...(body !== undefined && { 'Content-Type': 'application/json' }),
        ...(auth && access && { Authorization: `Bearer ${access}` }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0);
  }
  const data = /json/.test(response.headers.get('Content-Type')) ? await response.json().catch(() => null) : null;
  return { status: response.status, ok: response.ok, data, headers: response.headers };
}

/** Trades the refresh token for a new pair; concurrent callers share the one request. */
export function refresh() {
  const token = sessionStorage.getItem(KEY);
  if (!token) return Promise.reject(new ApiError(401, { message: 'Please log in.' }));
  refreshing ||= send('POST', '/api/v1/auth/refresh', { body: { refresh: token }, auth: false })
    .then((r) => {
      if (r.ok) return store(r.data);
      // A refusal ends the session; a network or server fault does not.
      if (r.status === 400 || r.status === 401) clearSession();
      throw new ApiError(r.status, r.data);
    })
    .finally(() => (refreshing = null));
  return refreshing;
}

/**
 * request('GET', '/scores', {query, body, headers}) → {status, data, headers}; throws ApiError.
 * `path` may be an absolute `next` link.
 */
export async function request(method, path, options = {}) {
  let url = path;
  if (/^https?:/.test(path)) {
    // Links are built on the server's public URL; stay on this page's origin (CSP connect-src).
    const link = new URL(path);
    if (link.origin !== location.origin) url = link.pathname + link.search;
  } else url = `/api/v1${path}`;
  const query = new URLSearchParams(options.query || {}).toString();
  if (query) url += (url.includes('?') ? '&' : '?') + query;
  const auth = options.auth !== false;
  if (auth && !access && hasSession()) await refresh();
  let r = await send(method, url, options);
  if (auth && r.status === 401 && r.data?.code === 'E002') {
    // Expired (or revoked): refresh once and try once more.
    await refresh();
    r = await send(method, url, options);
    if (r.status === 401) clearSession();
  }
  if (!r.ok) throw new ApiError(r.status, r.data);
  return r;
}

export const get = (path, options) => request('GET', path, options);
export const post = (path, body, options) => request('POST', path, { ...options, body });
export const patch = (path, body, options) => request('PATCH', path, { ...options, body });
export const put = (path, body, options) => request('PUT', path, { ...options, body });
export const del = (path, options) => request('DELETE', path, options);

export async function login(email, password) {
  store((await request('POST', '/auth/login', { body: { email, password }, auth: false })).data);
}

export async function logout() {
  await refreshing?.catch(() => {});
  const token = sessionStorage.getItem(KEY);
  // The session ends here whatever the server says.
  if (token) await post('/auth/logout', { refresh: token }, { auth: false }).catch(() => {});
  clearSession();
}
