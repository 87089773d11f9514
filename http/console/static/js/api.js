// The API client: the base URL, the credential, JSON calls and streams.

import { readEvents } from './sse.js';

// base is the server's root as this page reaches it: everything before
// /console/ in the page's path, so a path prefix in front of the host
// (SESHAT_PUBLIC_URL) needs no configuration here.
export const base = location.pathname.replace(/\/console(\/.*)?$/, '/');

const tokenKey = 'seshat.token';
// The credential lives in memory, and in sessionStorage (this tab only,
// gone when it closes) if the user asked to stay signed in across
// reloads. It is never put in a cookie.
let token = sessionStorage.getItem(tokenKey) || '';

export function hasToken() { return token !== ''; }

export function setToken(t, keep) {
  token = t;
  if (t && keep) sessionStorage.setItem(tokenKey, t);
  else sessionStorage.removeItem(tokenKey);
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

// APIError is a failed call in API.md's error shape.
export class APIError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code || '';
    this.requestId = requestId || '';
  }
  // missing tells a route the server does not have (its router's 404),
  // as opposed to an unknown id.
  get missing() { return this.status === 404 && this.message === 'no such endpoint'; }
}

function headers(extra) {
  const hd = { ...extra };
  if (token) hd.Authorization = 'Bearer ' + token;
  return hd;
}

function url(path) { return base + path.replace(/^\//, ''); }

async function failure(res) {
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  const e = new APIError(res.status, body?.code, body?.error || ('HTTP ' + res.status), body?.request_id);
  if (res.status === 401 && token) onUnauthorized(e);
  return e;
}

// call sends a request; body is JSON unless it is FormData. It resolves
// to the decoded JSON (null for 204) and rejects with an APIError.
export async function call(method, path, body, opts = {}) {
  const init = { method, headers: headers(opts.headers), signal: opts.signal };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
  let res;
  try { res = await fetch(url(path), init); } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, 'network', 'the server cannot be reached');
  }
  if (!res.ok) throw await failure(res);
  if (res.status === 204) return null;
  const ct = res.headers.get('Content-Type') || '';
  return ct.includes('json') ? res.json() : res.text();
}

export const get = (p, o) => call('GET', p, undefined, o);
export const post = (p, b, o) => call('POST', p, b === undefined ? {} : b, o);
export const patch = (p, b) => call('PATCH', p, b);
export const put = (p, b) => call('PUT', p, b);
export const del = p => call('DELETE', p);

// qs builds a query string from the set values of params.
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  const s = u.toString();
  return s ? '?' + s : '';
}

// openStream starts an SSE response: a POST with a JSON body, or a GET
// with Last-Event-ID. It resolves to the Response once the server has
// accepted it, and rejects with an APIError for a refusal (409, 429, …).
export async function openStream(method, path, { body, lastEventId, signal } = {}) {
  const hd = headers({ Accept: 'text/event-stream' });
  if (lastEventId != null) hd['Last-Event-ID'] = String(lastEventId);
  const init = { method, headers: hd, signal, cache: 'no-store' };
  if (body !== undefined) { hd['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
  const res = await fetch(url(path), init);
  if (!res.ok) throw await failure(res);
  return res;
}

export { readEvents };

// Identity and role.
export const me = { user: null, workspaces: [], workspace: null };

// canEdit tells whether the caller may change things in the current
// workspace (editor or admin); viewers only read.
export function canEdit() { const r = me.workspace?.role; return r === 'editor' || r === 'admin'; }
export function isWorkspaceAdmin() { return me.workspace?.role === 'admin'; }
export function isAdmin() { return me.user?.role === 'admin'; }
export function workspaceId() { return me.workspace?.id || ''; }
