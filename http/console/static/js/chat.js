// Sessions: the list with search, and the chat, which streams a turn's
// text and shows its runtime events as a timeline.

import { h, clear, form, button, toast, when, json, badge, withoutTitle } from './dom.js';
import * as api from './api.js';

const sleep = (ms, signal) => new Promise(res => {
  const t = setTimeout(res, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); res(); }, { once: true });
});

// sessionsPage lists the workspace's sessions, newest first, with search.
export async function sessionsPage(main) {
  const list = h('div', { id: 'session-list', role: 'region', 'aria-label': 'Sessions' });
  const search = h('input', { type: 'search', id: 'session-q', placeholder: 'Search titles and messages', 'aria-label': 'Search sessions' });
  let cursor = '';
  const more = h('button', { type: 'button', hidden: true }, 'More');
  const load = async (append) => {
    const r = await api.get('api/v1/sessions' + api.qs({ q: search.value, workspace_id: api.workspaceId(), limit: 50, cursor: append ? cursor : '' }));
    if (!append) clear(list);
    cursor = r.next_cursor || '';
    more.hidden = !cursor;
    if (!r.data.length && !append) list.append(h('p', { class: 'muted' }, search.value ? 'No session matches.' : 'No sessions yet. Start a chat.'));
    for (const s of r.data) {
      list.append(h('div', { class: 'list-item' },
        h('a', { href: '#/sessions/' + encodeURIComponent(s.id), class: 'grow' }, s.title || s.id),
        badge(s.status, s.status === 'idle' ? '' : 'warn'),
        h('span', { class: 'muted mono' }, s.model),
        h('span', { class: 'muted' }, when(s.updated_at))));
    }
  };
  more.addEventListener('click', () => load(true));
  let timer;
  search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => load(false), 250); });
  main.append(h('div', { class: 'row' }, h('h1', { class: 'grow' }, 'Sessions'),
    api.canEdit() ? button('New chat', newChat, 'primary') : null),
  h('div', { class: 'row' }, search), list, more);
  await load(false);
}

async function newChat() {
  const s = await api.post('api/v1/sessions', { workspace_id: api.workspaceId() });
  location.hash = '#/sessions/' + encodeURIComponent(s.id);
}

// chatPage shows one session: its history, then a live turn if one runs
// (re-attached from its first event, so a reload redraws it whole).
export async function chatPage(main, [id]) {
  const s = await api.get('api/v1/sessions/' + encodeURIComponent(id));
  const view = new ChatView(main, s);
  view.history(s.messages || [], s.status !== 'idle');
  if (s.status !== 'idle') view.follow(view.attachFn, 0);
  else view.setState('idle');
  return () => view.close();
}

// ChatView owns the page of one session and at most one stream.
class ChatView {
  constructor(main, s) {
    this.s = s;
    this.abort = new AbortController();
    this.attachFn = n => this.attach(n);
    this.editable = api.canEdit();
    this.log = h('div', { class: 'chat', id: 'transcript', role: 'log', 'aria-label': 'Conversation' });
    this.state = h('span', { id: 'turn-state', 'aria-live': 'polite', class: 'muted' });
    const title = h('h1', { class: 'grow' }, s.title || 'Untitled session');
    main.append(h('div', { class: 'row' }, title, badge(s.model, ''), this.state), this.log);
    this.composer(main);
  }

  close() { this.abort.abort(); this.following = false; }

  setState(st, text) {
    this.state.dataset.state = st;
    this.state.textContent = text || { idle: 'Idle', running: 'Running…', waiting: 'Waiting for you', reconnecting: 'Reconnecting…' }[st] || st;
    this.log.setAttribute('aria-busy', String(st === 'running'));
    if (this.interruptBtn) this.interruptBtn.disabled = !(st === 'running' || st === 'waiting' || st === 'reconnecting');
    if (this.sendBtn) this.sendBtn.disabled = st !== 'idle';
  }

  composer(main) {
    if (!this.editable) {
      main.append(h('p', { class: 'muted' }, 'You can read this session; your role in the workspace does not allow sending messages.'));
      return;
    }
    const ta = h('textarea', { id: 'prompt', name: 'prompt', rows: 3, placeholder: 'Message (Ctrl+Enter to send)' });
    const mode = h('select', { id: 'mode', 'aria-label': 'Permission mode' },
      [['default', 'Ask before changes'], ['accept_all', 'Accept all'], ['deny_all', 'Deny all'], ['plan', 'Plan first']]
        .map(([v, t]) => h('option', { value: v, selected: v === this.s.permission_mode }, t)));
    this.corpus = h('select', { id: 'corpus', 'aria-label': 'Corpus for retrieval', hidden: true }, h('option', { value: '' }, 'No corpus'));
    this.sendBtn = h('button', { class: 'primary', type: 'submit', id: 'send' }, 'Send');
    this.interruptBtn = h('button', { type: 'button', id: 'interrupt', disabled: true, onclick: () => this.interrupt() }, 'Interrupt');
    const f = h('form', { class: 'composer', id: 'composer', 'aria-label': 'Send a message' },
      h('label', { for: 'prompt', class: 'sr-only' }, 'Message'), ta,
      h('div', { class: 'row' }, this.sendBtn, this.interruptBtn, h('span', { class: 'grow' }), this.corpus, mode));
    f.addEventListener('submit', ev => {
      ev.preventDefault();
      const text = ta.value.trim();
      if (!text || this.following) return;
      ta.value = '';
      this.send(text, mode.value);
    });
    ta.addEventListener('keydown', ev => { if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); f.requestSubmit(); } });
    main.append(f);
    this.loadCorpora();
  }

  async loadCorpora() {
    try {
      const r = await api.get('api/v1/corpora' + api.qs({ workspace_id: api.workspaceId(), limit: 100 }));
      for (const c of r.data || []) this.corpus.append(h('option', { value: c.id, selected: (this.s.corpus_ids || []).includes(c.id) }, c.name));
      this.corpus.hidden = !(r.data || []).length;
    } catch { /* no knowledge family on this server: no picker */ }
  }

  // history draws committed messages. With a turn running, the messages
  // after its prompt are left out: the replay of the turn draws them.
  history(messages, running) {
    let end = messages.length;
    if (running) {
      for (let i = messages.length - 1; i >= 0; i--) {
        const m = messages[i];
        if (m.role === 'user' && m.content.some(b => b.type === 'text')) { end = i + 1; break; }
      }
    }
    this.tools = new Map();
    for (const m of messages.slice(0, end)) {
      for (const b of m.content) {
        if (b.type === 'text') this.bubble(m.role, b.text);
        else if (b.type === 'tool_use') this.toolCard(b.id, b.name, b.input).finish(null);
        else if (b.type === 'tool_result') this.tools.get(b.tool_use_id)?.finish(!!b.is_error, b.content);
      }
    }
    if (!messages.length) this.log.append(h('p', { class: 'muted', id: 'empty-note' }, 'No messages yet.'));
  }

  bubble(role, text) {
    document.getElementById('empty-note')?.remove();
    const t = document.createTextNode(text || '');
    const el = h('div', { class: 'msg ' + role }, h('span', { class: 'who-label' }, role === 'user' ? 'You' : 'Assistant'), t);
    this.log.append(el);
    el.scrollIntoView({ block: 'end' });
    return t;
  }

  send(text, mode) {
    this.bubble('user', text);
    const body = { prompt: text, session_id: this.s.id };
    if (mode) body.permission_mode = mode;
    if (this.corpus && this.corpus.value) body.corpus_id = this.corpus.value;
    this.follow(n => n === 0 ? api.openStream('POST', 'api/v1/query/stream', { body, signal: this.abort.signal }) : this.attach(n), 0);
  }

  attach(n) {
    return api.openStream('GET', `api/v1/sessions/${encodeURIComponent(this.s.id)}/stream`, { lastEventId: n, signal: this.abort.signal });
  }

  async interrupt() {
    const r = await api.post(`api/v1/sessions/${encodeURIComponent(this.s.id)}/interrupt`);
    if (!r.interrupted) toast('No turn was running.');
  }

  // follow reads one turn: open(lastEventId) starts or resumes its stream.
  // A stream that ends without the turn's done or error event (a dropped
  // connection, a server restart, the idle timeout) is re-attached with
  // Last-Event-ID set to the last event seen, so nothing is drawn twice.
  async follow(open, last) {
    this.following = true;
    this.text = null;
    this.setState('running');
    let tries = 0;
    const first = open;
    while (this.following) {
      let res = null;
      try {
        res = await open(last);
      } catch (e) {
        if (this.abort.signal.aborted) return;
        // A refusal is final; so is a new turn's request that never got
        // an answer (re-attaching would show the previous turn).
        if ((e instanceof api.APIError && e.status >= 400 && e.status < 500 && e.status !== 408) || (open === first && last === 0 && first !== this.attachFn)) {
          this.note(e.message, 'error');
          break;
        }
      }
      let ended = false;
      if (res) {
        tries = 0;
        if (this.state.dataset.state === 'reconnecting') this.setState('running');
        try {
          await api.readEvents(res, ev => {
            if (ev.id != null && ev.id !== '') last = Number(ev.id);
            else if (ev.event === 'error') { this.note('Connection interrupted: ' + parse(ev.data).error, 'note'); return; }
            if (this.onEvent(ev)) ended = true;
          });
        } catch (e) {
          if (this.abort.signal.aborted) return;
        }
      }
      if (ended) break;
      if (++tries > 30) { this.note('The stream was lost; reload the page to try again.', 'error'); break; }
      this.setState('reconnecting');
      await sleep(Math.min(250 * 2 ** (tries - 1), 5000), this.abort.signal);
      if (this.abort.signal.aborted) return;
      open = this.attachFn;
    }
    this.following = false;
    this.setState('idle');
    if (this.pendingFollow) { this.pendingFollow = false; this.follow(this.attachFn, 0); }
  }

  // onEvent draws one event and reports whether the turn ended.
  onEvent(ev) {
    const d = parse(ev.data);
    switch (ev.event) {
      case 'message':
        if (d.type === 'thinking_delta') { this.thinking(d.text); return false; }
        if (!this.text) this.text = this.bubble('assistant', '');
        this.text.appendData(d.text || '');
        return false;
      case 'runtime':
        this.runtime(d);
        return false;
      case 'done':
        this.text = null;
        this.setState('idle');
        this.note(`Turn ended (${d.stop_reason}); ${d.usage?.input_tokens ?? 0} tokens in, ${d.usage?.output_tokens ?? 0} out.`, 'done');
        return true;
      case 'error':
        this.setState('idle');
        this.note('The turn failed: ' + (d.error || 'unknown error'), 'error');
        return true;
    }
    return false;
  }

  thinking(text) {
    if (!this.think) {
      this.thinkText = document.createTextNode('');
      this.think = h('details', { class: 'ev note' }, h('summary', null, 'Thinking'), h('pre', null, this.thinkText));
      this.log.append(this.think);
    }
    this.thinkText.appendData(text || '');
  }

  runtime(d) {
    // Text after an event starts a new bubble, so the timeline reads in order.
    this.text = null;
    this.think = null;
    switch (d.type) {
      case 'session': this.turnId = d.turn_id; break;
      case 'tool_started': this.toolCard(d.tool_use_id, d.name, d.input); break;
      case 'tool_progress': this.tools.get(d.tool_use_id)?.progress(d.message); break;
      case 'tool_finished': (this.tools.get(d.tool_use_id) || this.toolCard(d.tool_use_id, d.name, null)).finish(!!d.is_error, d.output); break;
      case 'permission_request': this.permission(d); break;
      case 'permission_resolved': this.resolved(d.request_id, d.decision === 'allow' ? 'Allowed' : 'Denied'); break;
      case 'prompt_request': this.prompt(d); break;
      case 'prompt_resolved': this.resolved(d.request_id, 'Answered'); break;
      case 'interrupted': this.note('Interrupted.', 'note'); break;
      case 'rag_results': this.rag(d); break;
      case 'memory_recalled': this.note(`Recalled ${(d.memory_ids || []).length} memories: ${(d.memory_ids || []).join(', ')}`, 'memories'); break;
      case 'plan_proposed': this.plan(d); break;
      case 'skills_truncated': this.note(`Skills catalogue truncated: ${d.shown} of ${d.total} shown.`, 'note'); break;
      case 'resync': this.note('Some early events of this turn are no longer held by the server; showing what it has.', 'note'); break;
      case 'idle_timeout': this.note('The stream idled out; re-attaching.', 'note'); break;
      default: this.note('Event: ' + d.type, 'note');
    }
  }

  note(text, kind) {
    const el = h('div', { class: 'ev note ' + (kind || ''), role: kind === 'error' ? 'alert' : null }, text);
    if (kind === 'error') el.classList.add('error');
    this.log.append(el);
    el.scrollIntoView({ block: 'end' });
  }

  // toolCard is a tool call's card; it always closes, with finish(),
  // whether the tool ran, failed or was denied.
  toolCard(id, name, input) {
    const status = badge('running', 'warn');
    const out = h('pre', { class: 'output', hidden: true });
    const card = h('div', { class: 'ev tool running', 'data-tool-use-id': id },
      h('div', { class: 'row' }, h('span', { class: 'title grow' }, 'Tool ', h('code', null, name || '?')), status),
      input != null ? h('details', null, h('summary', null, 'Input'), h('pre', null, json(input))) : null, out);
    this.log.append(card);
    card.scrollIntoView({ block: 'end' });
    const c = {
      progress: msg => card.insertBefore(h('div', { class: 'muted' }, msg), out),
      finish: (isError, output) => {
        card.classList.remove('running');
        card.classList.add(isError ? 'failed' : 'ok');
        status.className = 'badge ' + (isError ? 'err' : 'ok');
        status.textContent = isError === null ? 'called' : isError ? 'failed' : 'done';
        if (output != null && output !== '') { out.hidden = false; out.textContent = output; }
      },
    };
    this.tools.set(id, c);
    return c;
  }

  askCard(d, cls, title, body, actions) {
    const state = h('span', { class: 'badge warn' }, 'open');
    const card = h('div', { class: 'ev ask ' + cls, 'data-request-id': d.request_id, role: 'group', 'aria-label': title },
      h('div', { class: 'row' }, h('span', { class: 'title grow' }, title), state), body, h('div', { class: 'row actions' }, actions));
    card.state = state;
    this.asks = this.asks || new Map();
    this.asks.set(d.request_id, card);
    this.log.append(card);
    card.scrollIntoView({ block: 'end' });
    this.setState('waiting');
    return card;
  }

  resolved(requestId, label) {
    const card = this.asks?.get(requestId);
    if (!card) return;
    card.classList.add('resolved');
    card.state.textContent = label;
    card.state.className = 'badge ' + (label === 'Denied' ? 'err' : 'ok');
    for (const el of card.querySelectorAll('button, input')) { el.disabled = true; el.dataset.final = '1'; }
    if ([...this.asks.values()].every(c => c.classList.contains('resolved'))) this.setState('running');
  }

  permission(d) {
    const sid = encodeURIComponent(this.s.id);
    const remember = h('input', { type: 'checkbox', id: 'remember-' + d.request_id });
    const decide = decision => async () => {
      await api.post(`api/v1/sessions/${sid}/permissions/${encodeURIComponent(d.request_id)}`, { decision, remember: remember.checked });
      this.resolved(d.request_id, decision === 'allow' ? 'Allowed' : 'Denied');
    };
    const actions = this.editable ? [
      button('Approve', decide('allow'), 'primary approve'),
      button('Deny', decide('deny'), 'danger deny'),
      h('label', { class: 'inline', for: remember.id }, remember, 'Remember for this session'),
    ] : [h('span', { class: 'muted' }, 'An editor of this workspace can answer.')];
    const card = this.askCard(d, 'permission', 'Permission needed: ' + (d.tool_name || 'tool'),
      h('pre', null, json(d.input)), actions);
    card.querySelector('button.approve')?.focus();
  }

  prompt(d) {
    const sid = encodeURIComponent(this.s.id);
    const input = h('input', { type: 'text', id: 'answer-' + d.request_id, 'aria-label': 'Your answer' });
    const answer = async () => {
      await api.post(`api/v1/sessions/${sid}/prompts/${encodeURIComponent(d.request_id)}`, { answer: input.value });
      this.resolved(d.request_id, 'Answered');
    };
    const send = button('Answer', answer, 'primary answer');
    input.addEventListener('keydown', ev => { if (ev.key === 'Enter') { ev.preventDefault(); send.click(); } });
    const card = this.askCard(d, 'prompt', 'The assistant asks', h('p', { class: 'question' }, d.question || ''),
      this.editable ? [h('div', { class: 'grow' }, input), send] : [h('span', { class: 'muted' }, 'An editor of this workspace can answer.')]);
    card.querySelector('input')?.focus();
  }

  rag(d) {
    const items = (d.results || []).map(r => h('li', null, h('code', null, r.path || r.file_id), ' ', h('span', { class: 'muted' }, (r.score ?? 0).toFixed(2))));
    this.log.append(h('details', { class: 'ev note rag' }, h('summary', null, `Retrieved ${items.length} sources`), h('ul', null, items)));
  }

  plan(d) {
    const id = encodeURIComponent(d.plan_id);
    const content = h('pre', { class: 'plan-content' }, 'Loading the plan…');
    const feedback = h('input', { type: 'text', 'aria-label': 'Feedback for the rejection', placeholder: 'Feedback (optional)' });
    const canDecide = this.editable;
    const card = this.askCard({ request_id: d.plan_id }, 'plan', `Plan proposed (version ${d.version || 1})`, content,
      canDecide ? [
        button('Approve', async () => {
          const r = await api.post(`api/v1/plans/${id}/approve`, { execute: true });
          this.resolved(d.plan_id, 'Approved');
          if (r.turn_id && !this.following) this.follow(this.attachFn, 0);
          else if (r.turn_id) this.pendingFollow = true;
        }, 'primary approve'),
        h('div', { class: 'grow' }, feedback),
        button('Reject', async () => {
          await api.post(`api/v1/plans/${id}/reject`, feedback.value ? { feedback: feedback.value } : {});
          this.resolved(d.plan_id, 'Denied');
        }, 'danger reject'),
      ] : []);
    api.get(`api/v1/plans/${id}`).then(p => {
      content.textContent = (p.title ? p.title + '\n\n' : '') + withoutTitle(p.title, p.content);
      if (p.status !== 'proposed') this.resolved(d.plan_id, p.status === 'rejected' ? 'Denied' : p.status);
    }).catch(e => { content.textContent = e.missing ? 'Plans are not available on this server.' : e.message; });
    // A plan ends its turn: the card waits for a decision without holding
    // the state at "waiting".
    card.querySelector('button.approve')?.focus();
  }
}

function parse(data) {
  try { return JSON.parse(data); } catch { return { text: data }; }
}
