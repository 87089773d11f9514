// The console's shell: sign-in, navigation, the workspace picker and the
// hash router (#/sessions, #/sessions/ID, …).

import { h, clear, form, toast } from './dom.js';
import * as api from './api.js';
import { sessionsPage, chatPage } from './chat.js';
import * as pages from './pages.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

// Sections in the order of the navigation; admin marks server-admin ones.
const sections = [
  ['sessions', 'Sessions', sessionsPage],
  ['files', 'Files & corpora', pages.filesPage],
  ['memories', 'Memories', pages.memoriesPage],
  ['plans', 'Plans', pages.plansPage],
  ['jobs', 'Jobs', pages.jobsPage],
  ['agents', 'Agents', pages.agentsPage],
  ['skills', 'Skills', pages.skillsPage],
  ['mcp', 'MCP servers', pages.mcpPage],
  ['settings', 'Settings', pages.settingsPage],
  ['users', 'Users', pages.usersPage, true],
  ['audit', 'Audit', pages.auditPage, true],
  ['quotas', 'Quotas', pages.quotasPage, true],
  ['api', 'API', pages.apiPage],
];

let current = null; // the page's cleanup function, if any

function route() {
  const hash = location.hash;
  if (!hash.startsWith('#/')) return null;
  const [name, ...rest] = hash.slice(2).split('/').map(decodeURIComponent);
  return { name: name || 'sessions', args: rest };
}

async function render() {
  if (!api.hasToken()) { signIn(); return; }
  if (!api.me.user) {
    try { await loadIdentity(); } catch (e) { if (e.status !== 401) showFatal(e); return; }
  }
  const r = route() || { name: 'sessions', args: [] };
  let sec = sections.find(s => s[0] === r.name) || sections[0];
  if (sec[3] && !api.isAdmin()) sec = sections[0];
  drawNav(sec[0]);
  if (current) { try { current(); } catch { /* page already gone */ } current = null; }
  // Each page draws into a root of its own: a page still loading when the
  // reader moves on keeps drawing into its detached root, not the new page.
  const root = h('div', { class: 'page' });
  clear(main).append(root);
  const page = sec[0] === 'sessions' && r.args[0] ? chatPage : sec[2];
  try {
    const cleanup = await page(root, r.args) || null;
    if (root.isConnected) current = cleanup;
    else if (cleanup) cleanup();
  } catch (e) {
    if (!root.isConnected) return;
    if (e instanceof api.APIError && e.missing) {
      clear(root).append(h('h1', null, sec[1]), pages.notAvailable());
    } else if (e.status !== 401) {
      root.append(h('p', { class: 'error', role: 'alert' }, e.message || String(e)));
    }
  }
  if (!root.isConnected) return;
  // Move focus to the new page for keyboard and screen-reader users,
  // unless the page already focused something of its own.
  if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

function drawNav(active) {
  clear(nav);
  for (const [name, label, , admin] of sections) {
    if (admin && !api.isAdmin()) continue;
    nav.append(h('a', { href: '#/' + name, 'aria-current': name === active ? 'page' : null }, label));
  }
  clear(who);
  const ws = api.me.workspaces;
  const pick = h('select', { 'aria-label': 'Workspace', id: 'workspace' },
    ws.map(w => h('option', { value: w.id, selected: w.id === api.me.workspace?.id }, `${w.name} (${w.role})`)));
  pick.addEventListener('change', () => {
    api.me.workspace = ws.find(w => w.id === pick.value) || null;
    sessionStorage.setItem('seshat.workspace', pick.value);
    render();
  });
  who.append(ws.length > 1 ? pick : h('span', { class: 'muted' }, api.me.workspace ? `${api.me.workspace.name} (${api.me.workspace.role})` : ''),
    h('span', { id: 'whoami' }, api.me.user.email),
    h('button', { type: 'button', onclick: signOut }, 'Sign out'));
}

async function loadIdentity() {
  const user = await api.get('api/v1/users/me');
  let workspaces = [];
  try { workspaces = (await api.get('api/v1/workspaces')).data || []; } catch (e) { if (!(e instanceof api.APIError)) throw e; }
  if (!workspaces.length && user.default_workspace_id) {
    workspaces = [{ id: user.default_workspace_id, name: 'Personal', role: 'admin' }];
  }
  api.me.user = user;
  api.me.workspaces = workspaces;
  const saved = sessionStorage.getItem('seshat.workspace');
  api.me.workspace = workspaces.find(w => w.id === saved) || workspaces.find(w => w.id === user.default_workspace_id) || workspaces[0] || null;
}

function signOut() {
  api.setToken('', false);
  api.me.user = null;
  location.hash = '#/sessions';
  signIn();
}

function showFatal(e) {
  clear(main).append(h('p', { class: 'error', role: 'alert' }, 'The console could not start: ' + (e.message || e)));
}

function signIn(message) {
  clear(nav); clear(who);
  clear(main);
  let mode = 'password';
  const body = h('div');
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Sign-in method' });
  const keep = { name: 'keep', label: 'Stay signed in when this tab reloads (kept in this tab only)', type: 'checkbox', value: true };
  const draw = () => {
    clear(tabs);
    for (const [m, label] of [['password', 'Password'], ['key', 'API key'], ['register', 'Create account']]) {
      tabs.append(h('button', { type: 'button', role: 'tab', 'aria-selected': String(m === mode), onclick: () => { mode = m; draw(); body.querySelector('input')?.focus(); } }, label));
    }
    clear(body);
    if (mode === 'password') {
      body.append(form([
        { name: 'email', label: 'Email', type: 'email', required: true, autocomplete: 'username' },
        { name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'current-password' }, keep,
      ], async v => {
        const r = await api.post('api/v1/auth/login', { email: v.email, password: v.password });
        await signedIn(r.token, v.keep);
      }, 'Sign in'));
    } else if (mode === 'key') {
      body.append(form([
        { name: 'key', label: 'API key (sk-…)', type: 'password', required: true, autocomplete: 'off' }, keep,
      ], async v => { await signedIn(v.key.trim(), v.keep); }, 'Sign in'));
    } else {
      body.append(form([
        { name: 'email', label: 'Email', type: 'email', required: true, autocomplete: 'username' },
        { name: 'name', label: 'Name' },
        { name: 'password', label: 'Password (8 characters or more)', type: 'password', required: true, autocomplete: 'new-password' }, keep,
      ], async v => {
        const r = await api.post('api/v1/auth/register', { email: v.email, password: v.password, name: v.name });
        await signedIn(r.token, v.keep);
      }, 'Create account'));
    }
  };
  draw();
  main.append(h('section', { class: 'signin', 'aria-labelledby': 'signin-h' },
    h('h1', { id: 'signin-h' }, 'Sign in to Seshat'),
    message ? h('p', { class: 'error', role: 'alert' }, message) : null,
    tabs, body,
    h('p', { class: 'muted' }, 'The first account on a new server becomes its admin.')));
  main.querySelector('input')?.focus();
}

async function signedIn(token, keep) {
  api.setToken(token, keep);
  api.me.user = null;
  try {
    await loadIdentity();
  } catch (e) {
    api.setToken('', false);
    throw e;
  }
  // A new hash renders through hashchange; the same hash needs a call.
  if (!route()) location.hash = '#/sessions';
  else render();
}

api.setUnauthorizedHandler(() => {
  api.setToken('', false);
  api.me.user = null;
  signIn('Your sign-in has expired or was revoked. Sign in again.');
});

window.addEventListener('hashchange', render);
window.addEventListener('unhandledrejection', ev => { toast(ev.reason?.message || String(ev.reason), true); });
document.getElementById('skip').addEventListener('click', ev => { ev.preventDefault(); main.focus(); });
render();
