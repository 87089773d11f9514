// The pages of every API family but sessions. Each page draws into main
// and may return a cleanup function (to end its streams).

import { h, clear, form, button, toast, table, when, json, badge, withoutTitle } from './dom.js';
import * as api from './api.js';

const enc = encodeURIComponent;
const ws = () => api.workspaceId();

// notAvailable is what a page or section shows when its API family is not
// on this server (its router answered 404).
export function notAvailable() {
  return h('div', { class: 'card not-available', role: 'status' }, h('strong', null, 'Not available on this server. '),
    'This server does not offer this API (it answered 404 "no such endpoint").');
}

// section adds a titled region to main and fills it with fill(el): a
// missing family shows notAvailable, another error its message.
async function section(main, title, fill, id) {
  const el = h('section', { 'aria-label': title, id }, title ? h('h2', null, title) : null);
  main.append(el);
  const body = h('div');
  el.append(body);
  const reload = async () => {
    try { clear(body); await fill(body, reload); } catch (e) {
      clear(body).append(e instanceof api.APIError && e.missing ? notAvailable() : h('p', { class: 'error', role: 'alert' }, e.message || String(e)));
    }
  };
  await reload();
  return reload;
}

function page(main, title, ...extra) { main.append(h('div', { class: 'row' }, h('h1', { class: 'grow' }, title), extra)); }

function empty(text) { return h('p', { class: 'muted' }, text); }

function confirmDo(msg, fn) { return async b => { if (confirm(msg)) await fn(b); }; }

// follow reads an SSE endpoint until stopped, re-attaching with
// Last-Event-ID after a dropped connection. onEvent gets parsed data.
function follow(path, onEvent, signal) {
  let last = 0;
  (async () => {
    for (let tries = 0; !signal.aborted && tries < 50; tries++) {
      try {
        const res = await api.openStream('GET', path, { lastEventId: last, signal });
        tries = 0;
        await api.readEvents(res, ev => {
          if (ev.id) last = Number(ev.id);
          try { onEvent(ev.event, JSON.parse(ev.data)); } catch { /* not JSON */ }
        });
      } catch (e) {
        if (signal.aborted || (e instanceof api.APIError && e.status >= 400 && e.status < 500)) return;
      }
      await new Promise(r => setTimeout(r, Math.min(500 * 2 ** tries, 5000)));
    }
  })();
}

// ---- Files and corpora -------------------------------------------------

export async function filesPage(main, args) {
  if (args[0]) return corpusPage(main, args[0]);
  page(main, 'Files & corpora');
  const edit = api.canEdit();
  await section(main, 'Files', async (el, reload) => {
    if (edit) {
      el.append(form([
        { name: 'file', label: 'File', type: 'file', required: true },
        { name: 'path', label: 'Path in the workspace (default: the file name)' },
      ], async v => {
        const fd = new FormData();
        fd.append('workspace_id', ws());
        if (v.path) fd.append('path', v.path);
        fd.append('file', v.file[0]);
        const f = await api.post('api/v1/files', fd);
        toast('Uploaded ' + f.path);
        reload();
      }, 'Upload'));
    }
    const r = await api.get('api/v1/files' + api.qs({ workspace_id: ws() }));
    const view = h('pre', { hidden: true, id: 'file-view' });
    el.append(r.data.length ? table([
      ['Path', f => h('code', null, f.path)],
      ['Size', f => String(f.size)],
      ['Type', f => f.content_type],
      ['Uploaded', f => when(f.created_at)],
      ['', f => h('div', { class: 'row' },
        button('View', async () => {
          const text = await api.get(`api/v1/files/${enc(f.id)}/content`);
          view.hidden = false;
          view.textContent = typeof text === 'string' ? text.slice(0, 65536) : json(text);
          view.focus();
        }),
        edit ? button('Delete', confirmDo(`Delete ${f.path}?`, async () => { await api.del('api/v1/files/' + enc(f.id)); reload(); }), 'danger') : null)],
    ], r.data, 'Files') : empty('No files in this workspace.'), view);
  }, 'files');
  await section(main, 'Corpora', async (el, reload) => {
    const r = await api.get('api/v1/corpora' + api.qs({ workspace_id: ws(), limit: 100 }));
    if (edit) {
      el.append(form([
        { name: 'name', label: 'New corpus name', required: true },
        { name: 'description', label: 'Description' },
      ], async v => {
        const c = await api.post('api/v1/corpora', { name: v.name, description: v.description, workspace_id: ws() });
        location.hash = '#/files/' + enc(c.id);
      }, 'Create corpus'));
    }
    el.append(r.data.length ? table([
      ['Name', c => h('a', { href: '#/files/' + enc(c.id) }, c.name)],
      ['Status', c => badge(c.status, c.status === 'completed' ? 'ok' : c.status === 'failed' ? 'err' : 'warn')],
      ['Files', c => String(c.file_counts?.total ?? 0)],
      ['Chunks', c => String(c.chunk_count ?? 0)],
      ['Updated', c => when(c.updated_at)],
    ], r.data, 'Corpora') : empty('No corpora yet.'));
  }, 'corpora');
}

async function corpusPage(main, id) {
  const c = await api.get('api/v1/corpora/' + enc(id));
  const edit = api.canEdit();
  const stop = new AbortController();
  page(main, 'Corpus: ' + c.name, h('a', { href: '#/files' }, 'All files and corpora'));
  if (c.description) main.append(h('p', { class: 'muted' }, c.description));
  const rows = new Map();
  const tbody = h('tbody');
  const progress = h('progress', { max: 1, value: 0, 'aria-label': 'Ingestion progress' });
  const summary = h('span', { id: 'corpus-summary' });
  const recount = () => {
    const all = [...rows.values()].map(r => r.status);
    const done = all.filter(s => s !== 'in_progress').length;
    progress.max = Math.max(all.length, 1);
    progress.value = done;
    summary.textContent = `${done} of ${all.length} files processed`;
  };
  const upsert = f => {
    let r = rows.get(f.file_id);
    if (!r) {
      r = { tr: h('tr', { 'data-file-id': f.file_id }), cells: [h('td'), h('td'), h('td'), h('td'), h('td'), h('td')] };
      r.tr.append(...r.cells);
      tbody.append(r.tr);
      rows.set(f.file_id, r);
    }
    Object.assign(r, { status: f.status ?? r.status });
    const [path, status, stage, chunks, err, act] = r.cells;
    if (f.path) path.replaceChildren(h('code', null, f.path));
    else if (!path.firstChild) path.textContent = f.file_id;
    status.replaceChildren(badge(r.status, r.status === 'completed' ? 'ok' : r.status === 'failed' ? 'err' : 'warn'));
    status.dataset.status = r.status;
    if (f.stage) stage.textContent = f.stage;
    if (f.chunk_count != null) chunks.textContent = String(f.chunk_count);
    err.textContent = f.last_error ? (f.last_error.message || f.last_error.code || '') : '';
    clear(act);
    if (edit && r.status === 'failed') act.append(button('Retry', async () => { await api.post(`api/v1/corpora/${enc(id)}/files/${enc(f.file_id)}/retry`); }));
    if (edit) act.append(button('Remove', async () => { await api.del(`api/v1/corpora/${enc(id)}/files/${enc(f.file_id)}`); r.tr.remove(); rows.delete(f.file_id); recount(); }, 'danger'));
    recount();
  };
  const files = (await api.get(`api/v1/corpora/${enc(id)}/files`)).data || [];
  files.forEach(upsert);
  main.append(h('section', { 'aria-label': 'Files of the corpus' }, h('h2', null, 'Files'),
    h('div', { class: 'row' }, progress, summary),
    h('table', { id: 'corpus-files' }, h('thead', null, h('tr', null, ['Path', 'Status', 'Stage', 'Chunks', 'Error', ''].map(t => h('th', { scope: 'col' }, t)))), tbody)));
  if (!files.length) tbody.append(h('tr', { class: 'placeholder' }, h('td', { colspan: 6, class: 'muted' }, 'No files yet.')));
  follow(`api/v1/corpora/${enc(id)}/events`, (event, d) => {
    if (event !== 'corpus' || !d.file_id) return;
    tbody.querySelector('.placeholder')?.remove();
    upsert(d);
  }, stop.signal);
  if (edit) {
    const add = async fileIds => {
      for (const fid of fileIds) { tbody.querySelector('.placeholder')?.remove(); upsert({ file_id: fid, status: 'in_progress', stage: 'queued' }); }
      await api.post(`api/v1/corpora/${enc(id)}/files`, { file_ids: fileIds });
    };
    main.append(h('h2', null, 'Add files'), form([
      { name: 'file', label: 'Upload a file into this corpus', type: 'file', required: true },
    ], async (v, f) => {
      const fd = new FormData();
      fd.append('workspace_id', c.workspace_id);
      fd.append('file', v.file[0]);
      const up = await api.post('api/v1/files', fd);
      await add([up.id]);
      rows.get(up.id)?.cells[0].replaceChildren(h('code', null, up.path));
      f.reset();
    }, 'Upload and add'));
    const existing = (await api.get('api/v1/files' + api.qs({ workspace_id: c.workspace_id }))).data || [];
    if (existing.length) {
      main.append(form([{ name: 'file_id', label: 'Or add a workspace file', type: 'select', options: existing.map(f => [f.id, f.path]) }],
        async v => { await add([v.file_id]); }, 'Add file'));
    }
  }
  const results = h('div', { id: 'search-results', 'aria-live': 'polite' });
  main.append(h('h2', null, 'Search'), form([
    { name: 'query', label: 'Query', type: 'search', required: true },
    { name: 'ranker', label: 'Ranker', type: 'select', options: ['auto', 'bm25', 'vector', 'hybrid'] },
  ], async v => {
    const r = await api.post(`api/v1/corpora/${enc(id)}/search`, { query: v.query, ranker: v.ranker });
    clear(results);
    for (const w of r.warnings || []) results.append(h('p', { class: 'badge warn' }, 'Warning: ' + w));
    if (!r.data.length) results.append(empty('Nothing found.'));
    for (const hit of r.data) {
      results.append(h('div', { class: 'card hit' }, h('div', { class: 'row' }, h('code', { class: 'grow' }, hit.path), badge(hit.score.toFixed(3))), h('pre', null, hit.text)));
    }
  }, 'Search'), results);
  return () => stop.abort();
}

// ---- Memories ----------------------------------------------------------

export async function memoriesPage(main) {
  page(main, 'Memories');
  const edit = api.canEdit();
  const found = h('div', { id: 'memory-results' });
  await section(main, '', async (el, reload) => {
    const r = await api.get('api/v1/memories' + api.qs({ workspace_id: ws(), limit: 100 }));
    el.append(form([
      { name: 'content', label: 'Remember', type: 'textarea', required: true },
      { name: 'scope', label: 'For', type: 'select', options: [['user', 'Me'], ['workspace', 'Everyone in the workspace']] },
      { name: 'kind', label: 'Kind', type: 'select', options: ['fact', 'preference', 'instruction', 'event'] },
    ], async v => {
      if (v.scope === 'workspace' && !edit) throw new Error('Only editors write workspace memories.');
      const out = await api.post('api/v1/memories', { content: v.content, scope: v.scope, kind: v.kind, workspace_id: ws() });
      toast(out.op === 'noop' ? 'Already remembered.' : 'Remembered.');
      reload();
    }, 'Add memory'));
    el.append(form([{ name: 'query', label: 'Search memories', type: 'search', required: true }], async v => {
      const s = await api.post('api/v1/memories/search', { query: v.query, workspace_id: ws() });
      clear(found).append(s.data.length ? table([['Memory', x => x.memory.content], ['Score', x => x.score.toFixed(3)]], s.data) : empty('Nothing found.'));
    }, 'Search'), found);
    el.append(r.data.length ? table([
      ['Memory', m => m.content],
      ['Kind', m => m.kind],
      ['Scope', m => m.scope],
      ['Status', m => badge(m.status, m.status === 'active' ? 'ok' : '')],
      ['Updated', m => when(m.updated_at)],
      ['', m => (m.scope === 'user' || edit) && m.status === 'active' ? h('div', { class: 'row' },
        button('Edit', async () => {
          const content = prompt('New content (the old memory is kept as superseded):', m.content);
          if (content && content !== m.content) { await api.patch('api/v1/memories/' + enc(m.id), { content }); reload(); }
        }),
        button('Delete', confirmDo('Delete this memory?', async () => { await api.del('api/v1/memories/' + enc(m.id)); reload(); }), 'danger')) : null],
    ], r.data, 'Memories') : empty('No memories yet.'));
  });
}

// ---- Plans -------------------------------------------------------------

export async function plansPage(main) {
  page(main, 'Plans');
  const edit = api.canEdit();
  await section(main, '', async (el, reload) => {
    const r = await api.get('api/v1/plans' + api.qs({ workspace_id: ws(), limit: 100 }));
    if (!r.data.length) { el.append(empty('No plans yet. A turn in "Plan first" mode proposes one.')); return; }
    for (const p of r.data) {
      const fb = h('input', { type: 'text', 'aria-label': 'Feedback', placeholder: 'Feedback (optional)' });
      el.append(h('div', { class: 'card plan', 'data-plan-id': p.id },
        h('div', { class: 'row' }, h('strong', { class: 'grow' }, p.title || p.id), badge('v' + p.version), badge(p.status, p.status === 'proposed' ? 'warn' : p.status === 'rejected' ? 'err' : 'ok'),
          h('a', { href: '#/sessions/' + enc(p.session_id) }, 'Session')),
        h('details', null, h('summary', null, 'Plan'), h('pre', null, withoutTitle(p.title, p.content))),
        p.feedback ? h('p', { class: 'muted' }, 'Feedback: ' + p.feedback) : null,
        edit && p.status === 'proposed' ? h('div', { class: 'row' },
          button('Approve and run', async () => {
            const out = await api.post(`api/v1/plans/${enc(p.id)}/approve`, { execute: true });
            location.hash = '#/sessions/' + enc(out.session_id);
          }, 'primary approve'),
          h('div', { class: 'grow' }, fb),
          button('Reject', async () => { await api.post(`api/v1/plans/${enc(p.id)}/reject`, fb.value ? { feedback: fb.value } : {}); reload(); }, 'danger reject')) : null));
    }
  });
}

// ---- Scheduled jobs ----------------------------------------------------

export async function jobsPage(main) {
  page(main, 'Scheduled jobs');
  const edit = api.canEdit();
  await section(main, '', async (el, reload) => {
    if (edit) {
      el.append(form([
        { name: 'name', label: 'Name', required: true },
        { name: 'schedule', label: 'Schedule', required: true, placeholder: '@every 1h, @daily or */5 * * * *' },
        { name: 'prompt', label: 'Prompt', type: 'textarea', required: true },
        { name: 'timezone', label: 'Time zone (IANA, default UTC)' },
        { name: 'permission_mode', label: 'Permission mode', type: 'select', options: ['deny_all', 'default', 'accept_all', 'plan'] },
      ], async v => {
        await api.post('api/v1/scheduler/jobs', { ...v, workspace_id: ws() });
        reload();
      }, 'Create job'));
    }
    const r = await api.get('api/v1/scheduler/jobs');
    const jobs = r.data.filter(j => !ws() || j.workspace_id === ws());
    if (!jobs.length) { el.append(empty('No jobs in this workspace.')); return; }
    for (const j of jobs) {
      const runs = h('div');
      el.append(h('div', { class: 'card job' },
        h('div', { class: 'row' }, h('strong', { class: 'grow' }, j.name), h('code', null, j.schedule), badge(j.enabled ? 'enabled' : 'disabled', j.enabled ? 'ok' : ''),
          j.last_status ? badge('last: ' + j.last_status, j.last_status === 'failed' ? 'err' : '') : null),
        h('p', { class: 'muted' }, 'Next run: ' + (when(j.next_run_at) || '—') + ' · last run: ' + (when(j.last_run_at) || '—')),
        h('pre', null, j.prompt),
        h('div', { class: 'row' },
          edit ? button('Run now', async () => { await api.post(`api/v1/scheduler/jobs/${enc(j.id)}/run`); toast('Run started.'); }) : null,
          edit ? button(j.enabled ? 'Disable' : 'Enable', async () => { await api.patch('api/v1/scheduler/jobs/' + enc(j.id), { enabled: !j.enabled }); reload(); }) : null,
          button('Runs', async () => {
            const rr = await api.get(`api/v1/scheduler/jobs/${enc(j.id)}/runs`);
            clear(runs).append(rr.data.length ? table([
              ['Started', x => when(x.started_at)], ['Status', x => badge(x.status, x.status === 'failed' ? 'err' : x.status === 'succeeded' ? 'ok' : '')],
              ['Stop', x => x.stop_reason || ''], ['Error', x => x.error || ''],
              ['Session', x => x.session_id ? h('a', { href: '#/sessions/' + enc(x.session_id) }, 'open') : ''],
            ], rr.data, 'Runs') : empty('No runs yet.'));
          }),
          edit ? button('Delete', confirmDo(`Delete job ${j.name}?`, async () => { await api.del('api/v1/scheduler/jobs/' + enc(j.id)); reload(); }), 'danger') : null),
        runs));
    }
  });
}

// ---- Agent profiles ----------------------------------------------------

export async function agentsPage(main) {
  page(main, 'Agent profiles');
  const edit = api.canEdit();
  await section(main, '', async (el, reload) => {
    const r = await api.get('api/v1/agents' + api.qs({ workspace_id: ws() }));
    if (edit) {
      el.append(form([
        { name: 'slug', label: 'Slug (a-z, 0-9, -)', required: true },
        { name: 'name', label: 'Name' },
        { name: 'description', label: 'Description' },
        { name: 'model', label: 'Model (provider:model)' },
        { name: 'system_prompt', label: 'System prompt', type: 'textarea' },
        { name: 'permission_mode', label: 'Permission mode', type: 'select', options: [['', '(session default)'], 'default', 'accept_all', 'deny_all', 'plan'] },
        api.isAdmin() ? { name: 'global', label: 'Server-wide (every workspace)', type: 'checkbox' } : null,
      ].filter(Boolean), async v => {
        const body = { ...v };
        delete body.global;
        if (!v.global) body.workspace_id = ws();
        await api.post('api/v1/agents', body);
        reload();
      }, 'Create profile'));
    }
    el.append(r.data.length ? table([
      ['Slug', a => h('code', null, a.slug)], ['Name', a => a.name || ''], ['Model', a => a.model || ''],
      ['Version', a => String(a.version)], ['Scope', a => a.workspace_id ? 'workspace' : 'server'],
      ['', a => h('div', { class: 'row' },
        button('Versions', async b => {
          const v = await api.get(`api/v1/agents/${enc(a.id)}/versions`);
          b.replaceWith(h('pre', null, v.data.map(x => `v${x.version} ${when(x.updated_at)} ${x.model || ''}`).join('\n')));
        }),
        edit && (a.workspace_id || api.isAdmin()) ? button('Delete', confirmDo(`Delete ${a.slug}?`, async () => { await api.del('api/v1/agents/' + enc(a.id)); reload(); }), 'danger') : null)],
    ], r.data, 'Agent profiles') : empty('No agent profiles yet.'));
  });
}

// ---- Skills ------------------------------------------------------------

export async function skillsPage(main) {
  page(main, 'Skills');
  const edit = api.canEdit();
  await section(main, '', async (el, reload) => {
    const r = await api.get('api/v1/skills' + api.qs({ workspace_id: ws() }));
    if (edit) {
      el.append(form([{ name: 'file', label: 'Upload a skill (.zip or .tar.gz of one folder with SKILL.md)', type: 'file', required: true, accept: '.zip,.tar.gz,.tgz' }], async v => {
        const fd = new FormData();
        fd.append('workspace_id', ws());
        fd.append('file', v.file[0]);
        await api.post('api/v1/skills', fd);
        reload();
      }, 'Upload skill'));
      el.append(form([
        { name: 'name', label: 'Name (a-z, 0-9, -)', required: true },
        { name: 'description', label: 'Description', required: true },
        { name: 'body', label: 'Instructions (Markdown)', type: 'textarea', required: true, rows: 6 },
      ], async v => { await api.post('api/v1/skills', { ...v, workspace_id: ws() }); reload(); }, 'Create skill'));
    }
    el.append(r.data.length ? table([
      ['Name', s => h('code', null, s.name)], ['Description', s => s.description], ['Scope', s => s.scope],
      ['Enabled', s => badge(s.enabled ? 'on' : 'off', s.enabled ? 'ok' : '')],
      ['', s => h('div', { class: 'row' },
        button('Show', async b => { const full = await api.get('api/v1/skills/' + enc(s.id)); b.replaceWith(h('pre', null, full.body || '')); }),
        edit && s.scope === 'workspace' ? button(s.enabled ? 'Disable' : 'Enable', async () => { await api.patch('api/v1/skills/' + enc(s.id), { enabled: !s.enabled }); reload(); }) : null,
        edit && s.scope === 'workspace' ? button('Delete', confirmDo(`Delete skill ${s.name}?`, async () => { await api.del('api/v1/skills/' + enc(s.id)); reload(); }), 'danger') : null)],
    ], r.data, 'Skills') : empty('No skills yet.'));
  });
  if (api.isAdmin()) {
    await section(main, 'Skill repositories', async (el, reload) => {
      el.append(form([
        { name: 'name', label: 'Name', required: true },
        { name: 'url', label: 'Git URL (https:// or file://)', required: true, type: 'url' },
        { name: 'ref', label: 'Ref (default main)' }, { name: 'path', label: 'Folder in the repository' },
      ], async v => { await api.post('api/v1/skills/repositories', v); reload(); }, 'Add repository'));
      const r = await api.get('api/v1/skills/repositories');
      el.append(r.data.length ? table([
        ['Name', x => x.name], ['URL', x => h('code', null, x.url)], ['Skills', x => String(x.skill_count)],
        ['Synced', x => when(x.last_synced_at)], ['Error', x => x.last_error || ''],
        ['', x => h('div', { class: 'row' },
          button('Sync', async () => { const s = await api.post(`api/v1/skills/repositories/${enc(x.id)}/sync`); toast(`Added ${s.added}, updated ${s.updated}, removed ${s.removed}.`); reload(); }),
          button('Delete', confirmDo(`Delete ${x.name} and its skills?`, async () => { await api.del('api/v1/skills/repositories/' + enc(x.id)); reload(); }), 'danger'))],
      ], r.data, 'Repositories') : empty('No repositories.'));
    });
  }
}

// ---- MCP servers -------------------------------------------------------

export async function mcpPage(main) {
  page(main, 'MCP servers');
  const admin = api.isWorkspaceAdmin() || api.isAdmin();
  await section(main, '', async (el, reload) => {
    const r = await api.get('api/v1/mcp/servers' + api.qs({ workspace_id: ws() }));
    if (admin) {
      el.append(form([
        { name: 'name', label: 'Name (tool prefix: a-z, 0-9, _, -)', required: true },
        { name: 'transport', label: 'Transport', type: 'select', options: api.isAdmin() ? ['streamable_http', 'sse', 'stdio'] : ['streamable_http', 'sse'] },
        { name: 'url', label: 'URL (HTTP transports)', type: 'url' },
        api.isAdmin() ? { name: 'command', label: 'Command (stdio)' } : null,
        api.isAdmin() ? { name: 'args', label: 'Arguments (stdio; one per line)', type: 'textarea' } : null,
        { name: 'require_approval', label: 'Ask before tool calls', type: 'select', options: ['always', 'writes', 'never'] },
      ].filter(Boolean), async v => {
        const body = { ...v, workspace_id: ws() };
        if (v.args) body.args = v.args.split('\n').map(s => s.trim()).filter(Boolean);
        await api.post('api/v1/mcp/servers', body);
        reload();
      }, 'Add server'));
    }
    const out = h('div', { id: 'mcp-out' });
    el.append(r.data.length ? table([
      ['Name', x => h('code', null, x.name)], ['Transport', x => x.transport], ['Scope', x => x.scope],
      ['Status', x => badge(x.status, x.status === 'connected' ? 'ok' : x.status === 'error' ? 'err' : '')],
      ['Tools', x => String(x.tools_count ?? '')], ['Error', x => x.last_error || ''],
      ['', x => h('div', { class: 'row' },
        button('Test', async () => { const t = await api.post(`api/v1/mcp/servers/${enc(x.id)}/test`); clear(out).append(h('pre', null, json(t))); }),
        button('Tools', async () => { const t = await api.get(`api/v1/mcp/servers/${enc(x.id)}/tools`); clear(out).append(table([['Tool', y => h('code', null, y.name)], ['Description', y => y.description || ''], ['Read-only', y => y.read_only ? 'yes' : 'no']], t.data)); }),
        admin ? button(x.enabled ? 'Disable' : 'Enable', async () => { await api.patch('api/v1/mcp/servers/' + enc(x.id), { enabled: !x.enabled }); reload(); }) : null,
        admin ? button('Delete', confirmDo(`Delete ${x.name}?`, async () => { await api.del('api/v1/mcp/servers/' + enc(x.id)); reload(); }), 'danger') : null)],
    ], r.data, 'MCP servers') : empty('No MCP servers.'), out);
  });
}

// ---- Settings ----------------------------------------------------------

export async function settingsPage(main) {
  page(main, 'Settings');
  const admin = api.isAdmin();
  await section(main, 'Account', async el => {
    el.append(h('p', null, `${api.me.user.email} · ${api.me.user.name || ''} · server role ${api.me.user.role}`));
    el.append(form([{ name: 'name', label: 'Name', value: api.me.user.name }], async v => {
      api.me.user = await api.patch('api/v1/users/me', { name: v.name || '' });
      toast('Saved.');
    }, 'Save name'));
  });
  await section(main, 'API keys', async (el, reload) => {
    const shown = h('div', { 'aria-live': 'polite' });
    el.append(form([{ name: 'name', label: 'New key name', required: true }], async v => {
      const k = await api.post('api/v1/users/me/api-keys', { name: v.name });
      clear(shown).append(h('div', { class: 'card' }, h('strong', null, 'Copy this key now; it is not shown again: '), h('code', { class: 'new-key' }, k.key)));
      await reload();
    }, 'Create key'), shown);
    const r = await api.get('api/v1/users/me/api-keys');
    el.append(r.data.length ? table([
      ['Name', k => k.name], ['Prefix', k => h('code', null, k.prefix)], ['Created', k => when(k.created_at)], ['Last used', k => when(k.last_used_at) || 'never'],
      ['', k => button('Revoke', confirmDo(`Revoke ${k.name}?`, async () => { await api.del('api/v1/users/me/api-keys/' + enc(k.id)); reload(); }), 'danger')],
    ], r.data, 'API keys') : empty('No API keys.'));
  });
  await section(main, 'Workspaces', async (el) => {
    el.append(table([['Name', w => w.name], ['Your role', w => w.role], ['Id', w => h('code', null, w.id)]], api.me.workspaces, 'Workspaces'));
    el.append(form([{ name: 'name', label: 'New workspace', required: true }], async v => {
      await api.post('api/v1/workspaces', { name: v.name });
      api.me.workspaces = (await api.get('api/v1/workspaces')).data;
      location.reload();
    }, 'Create workspace'));
  });
  await section(main, 'Model providers', async (el, reload) => {
    const r = await api.get('api/v1/settings/providers');
    el.append(r.data.length ? table([
      ['Name', p => p.name], ['Provider', p => p.provider], ['Scope', p => p.scope], ['Default model', p => p.default_model || ''],
      ['Key', p => p.api_key_set ? (p.api_key_hint || 'set') : 'none'], ['', p => h('div', { class: 'row' },
        p.is_default ? badge('your default', 'ok') : button('Make default', async () => { await api.put('api/v1/settings/providers/default', { provider_setting_id: p.id }); reload(); }),
        button('Test', async () => { const t = await api.post(`api/v1/settings/providers/${enc(p.id)}/test`); toast(t.ok ? `OK in ${t.latency_ms} ms (${t.model})` : 'Failed: ' + t.error, !t.ok); }),
        p.can_manage ? button('Delete', confirmDo(`Delete ${p.name}?`, async () => { await api.del('api/v1/settings/providers/' + enc(p.id)); reload(); }), 'danger') : null)],
    ], r.data, 'Provider settings') : empty('No provider settings: turns use the server\'s environment providers (or the offline mock).'));
    el.append(form([
      { name: 'name', label: 'Name', required: true },
      { name: 'provider', label: 'Provider', type: 'select', options: ['anthropic', 'openai', 'mock'] },
      { name: 'base_url', label: 'Base URL (optional)', type: 'url' },
      { name: 'api_key', label: 'API key', type: 'password', autocomplete: 'off' },
      { name: 'default_model', label: 'Default model' },
      { name: 'scope', label: 'Scope', type: 'select', options: admin ? ['user', 'workspace', 'server'] : api.isWorkspaceAdmin() ? ['user', 'workspace'] : ['user'] },
    ], async v => {
      const body = { ...v };
      if (v.scope === 'workspace') body.workspace_id = ws();
      await api.post('api/v1/settings/providers', body);
      reload();
    }, 'Add provider'));
  });
  await section(main, 'Web search', async (el, reload) => {
    const s = await api.get('api/v1/web/search/settings');
    el.append(h('pre', null, json(s)));
    if (!admin) return;
    el.append(form([
      { name: 'provider', label: 'Provider', type: 'select', value: s.provider, options: ['disabled', 'searxng', 'brave', 'tavily'] },
      { name: 'base_url', label: 'Base URL', type: 'url', value: s.base_url },
      { name: 'api_key', label: 'API key (leave empty to keep)', type: 'password', autocomplete: 'off' },
      { name: 'max_results', label: 'Results per search', type: 'number', value: s.max_results, min: 1, max: 20 },
    ], async v => {
      const body = { ...v };
      if (v.max_results) body.max_results = Number(v.max_results);
      await api.put('api/v1/web/search/settings', body);
      reload();
    }, 'Save web search'), h('div', { class: 'row' }, button('Test web search', async () => { const t = await api.post('api/v1/web/search/settings/test'); toast(t.ok ? `OK in ${t.latency_ms} ms` : 'Failed: ' + t.error, !t.ok); })));
  });
  await section(main, 'Embedder', async (el, reload) => {
    const s = await api.get('api/v1/settings/embedder');
    el.append(h('pre', null, json(s)));
    if (!admin) return;
    el.append(form([
      { name: 'provider', label: 'Provider', type: 'select', value: s.provider, options: ['builtin', 'openai'] },
      { name: 'base_url', label: 'Base URL (openai)', type: 'url', value: s.base_url },
      { name: 'model', label: 'Model', value: s.model },
      { name: 'api_key', label: 'API key (leave empty to keep)', type: 'password', autocomplete: 'off' },
    ], async v => { await api.put('api/v1/settings/embedder', v); reload(); }, 'Save embedder'),
    h('div', { class: 'row' }, button('Test embedder', async () => { const t = await api.post('api/v1/settings/embedder/test'); toast(t.ok ? `OK: ${t.dimensions} dimensions in ${t.latency_ms} ms` : 'Failed: ' + t.error, !t.ok); })));
  });
  if (admin) {
    await section(main, 'Storage', async el => {
      const s = await api.get('api/v1/settings/storage');
      el.append(h('pre', null, json(s)));
    });
  }
}

// ---- Server administration ---------------------------------------------

export async function usersPage(main) {
  page(main, 'Users');
  await section(main, '', async (el, reload) => {
    el.append(form([
      { name: 'email', label: 'Email', type: 'email', required: true },
      { name: 'name', label: 'Name' },
      { name: 'password', label: 'Initial password', type: 'password', required: true, autocomplete: 'new-password' },
      { name: 'role', label: 'Role', type: 'select', options: ['member', 'admin'] },
    ], async v => { await api.post('api/v1/users', v); reload(); }, 'Create user'));
    const r = await api.get('api/v1/users' + api.qs({ limit: 500 }));
    el.append(table([
      ['Email', u => u.email], ['Name', u => u.name], ['Role', u => {
        const sel = h('select', { 'aria-label': 'Role of ' + u.email, disabled: u.id === api.me.user.id }, ['member', 'admin'].map(x => h('option', { value: x, selected: x === u.role }, x)));
        sel.addEventListener('change', async () => { try { await api.patch('api/v1/users/' + enc(u.id), { role: sel.value }); toast('Role changed.'); } catch (e) { toast(e.message, true); reload(); } });
        return sel;
      }], ['Status', u => badge(u.disabled ? 'disabled' : 'active', u.disabled ? 'err' : 'ok')],
      ['Created', u => when(u.created_at)],
      ['', u => u.id === api.me.user.id ? '' : button(u.disabled ? 'Enable' : 'Disable', async () => { await api.patch('api/v1/users/' + enc(u.id), { disabled: !u.disabled }); reload(); }, u.disabled ? '' : 'danger')],
    ], r.data, 'Users'));
  });
}

export async function auditPage(main) {
  page(main, 'Audit log');
  const verdict = h('div', { id: 'audit-verdict', 'aria-live': 'polite' });
  main.append(h('div', { class: 'row' }, button('Verify the chain', async () => {
    const v = await api.get('api/v1/audit/verify');
    clear(verdict).append(h('div', { class: 'card' }, badge(v.ok ? 'intact' : 'broken', v.ok ? 'ok' : 'err'),
      ` ${v.entries} entries, seq ${v.first_seq}–${v.last_seq}`, v.broken ? ` · first failure at seq ${v.broken.seq}: ${v.broken.reason}` : ''));
  }, 'primary')), verdict);
  const filters = { action: '', actor_id: '', resource_type: '', outcome: '' };
  const list = h('div');
  let cursor = '';
  const more = h('button', { type: 'button', hidden: true }, 'Older entries');
  const load = async append => {
    const r = await api.get('api/v1/audit/logs' + api.qs({ ...filters, limit: 100, cursor: append ? cursor : '' }));
    cursor = r.next_cursor || '';
    more.hidden = !cursor;
    const t = table([
      ['Seq', e => String(e.seq)], ['When', e => when(e.at)], ['Actor', e => h('code', null, e.actor_id)], ['Action', e => e.action],
      ['Resource', e => `${e.resource_type} ${e.resource_id}`], ['Outcome', e => badge(e.outcome, e.outcome === 'success' ? 'ok' : 'err')],
      ['Details', e => Object.keys(e.details || {}).length ? h('code', null, json(e.details)) : ''],
    ], r.data, 'Audit entries');
    if (append) list.append(t); else clear(list).append(r.data.length ? t : empty('No entries match.'));
  };
  more.addEventListener('click', () => load(true).catch(e => toast(e.message, true)));
  main.append(form(Object.keys(filters).map(k => ({ name: k, label: k.replace('_', ' ') })), async v => {
    for (const k of Object.keys(filters)) filters[k] = v[k] || '';
    await load(false);
  }, 'Filter'), list, more);
  await load(false);
}

export async function quotasPage(main) {
  page(main, 'Quotas');
  const limits = ['requests_per_minute', 'tokens_per_day', 'tokens_per_month', 'concurrent_turns', 'stored_bytes'];
  const show = qs => table([
    ['Scope', q => `${q.scope} ${q.id}`],
    ...limits.map(l => [l.replaceAll('_', ' '), q => `${q.usage?.[usageKey(l)] ?? 0} / ${q.limits?.[l] || '∞'}`]),
  ], qs, 'Quotas');
  await section(main, 'Yours', async el => { el.append(show((await api.get('api/v1/quotas')).data)); });
  const out = h('div', { id: 'quota-out' });
  await section(main, 'Look up or set a quota', async el => {
    const pick = [{ name: 'scope', label: 'Scope', type: 'select', options: ['user', 'workspace', 'organization'] }, { name: 'id', label: 'Id', required: true }];
    el.append(form(pick, async v => { clear(out).append(show([await api.get(`api/v1/quotas/${enc(v.scope)}/${enc(v.id)}`)])); }, 'Look up'), out);
    el.append(form([...pick, ...limits.map(l => ({ name: l, label: l.replaceAll('_', ' ') + ' (0 = unlimited)', type: 'number', min: 0, value: 0 }))], async v => {
      const body = {};
      for (const l of limits) body[l] = Number(v[l] || 0);
      clear(out).append(show([await api.put(`api/v1/quotas/${enc(v.scope)}/${enc(v.id)}`, body)]));
      toast('Quota saved.');
    }, 'Set limits'));
  });
}

function usageKey(limit) {
  return { requests_per_minute: 'requests_this_minute', tokens_per_day: 'tokens_today', tokens_per_month: 'tokens_this_month', concurrent_turns: 'running_turns', stored_bytes: 'stored_bytes' }[limit];
}

// ---- API description ---------------------------------------------------

export async function apiPage(main) {
  const doc = await api.get('api/v1/openapi.json');
  page(main, 'API', h('a', { href: api.base + 'api/v1/openapi.json' }, 'openapi.json'));
  main.append(h('p', { class: 'muted' }, `${doc.info?.title || ''} ${doc.info?.version || ''} · OpenAPI ${doc.openapi}`));
  const filter = h('input', { type: 'search', id: 'api-filter', 'aria-label': 'Filter routes', placeholder: 'Filter by path or summary' });
  const list = h('div', { id: 'api-routes' });
  const ops = [];
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      if (!op || typeof op !== 'object' || !op.responses) continue;
      ops.push({ path, method: method.toUpperCase(), op });
    }
  }
  const draw = () => {
    const q = filter.value.toLowerCase();
    const byTag = new Map();
    for (const o of ops) {
      if (q && !(o.path.toLowerCase().includes(q) || (o.op.summary || '').toLowerCase().includes(q))) continue;
      const tag = (o.op.tags || ['other'])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(o);
    }
    clear(list);
    for (const [tag, items] of byTag) {
      list.append(h('h2', null, tag), table([
        ['Method', o => h('code', null, o.method)], ['Path', o => h('code', null, o.path)], ['Summary', o => o.op.summary || ''],
        ['Auth', o => (o.op.security && o.op.security.length === 0) ? 'public' : (o.op['x-access'] || 'bearer')],
        ['Responses', o => Object.keys(o.op.responses).join(' ')],
      ], items, tag));
    }
  };
  filter.addEventListener('input', draw);
  main.append(filter, list);
  draw();
}
