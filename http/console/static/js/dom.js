// DOM helpers. Everything that reaches the page goes through h(), which
// adds text as Text nodes: model and user text is never parsed as HTML.

// h builds an element. attrs: "class", "on<event>" listeners, boolean
// attributes as true/false, properties for "value"/"checked"/"disabled",
// the rest as attributes. children: nodes, strings (as text), arrays, null.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

// add appends children to el as h does.
export function add(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// clear empties el without touching HTML parsing.
export function clear(el) { el.replaceChildren(); return el; }

// field is a labelled input. opts: {label, name, type, value, options,
// required, placeholder, help, rows}. It returns the wrapper; the control
// is wrapper.control.
let seq = 0;
export function field(opts) {
  const id = 'f' + (++seq);
  let control;
  const common = { id, name: opts.name, required: !!opts.required, placeholder: opts.placeholder };
  if (opts.type === 'textarea') {
    control = h('textarea', { ...common, rows: opts.rows || 3 });
    if (opts.value != null) control.value = opts.value;
  } else if (opts.type === 'select') {
    control = h('select', common, (opts.options || []).map(o => {
      const [val, text] = Array.isArray(o) ? o : [o, o];
      return h('option', { value: val, selected: String(val) === String(opts.value ?? '') }, text);
    }));
  } else if (opts.type === 'checkbox') {
    control = h('input', { ...common, type: 'checkbox', checked: !!opts.value });
    const w = h('div', { class: 'field' }, h('label', { class: 'inline', for: id }, control, opts.label));
    w.control = control;
    return w;
  } else {
    control = h('input', { ...common, type: opts.type || 'text', value: opts.value ?? '', autocomplete: opts.autocomplete, min: opts.min, max: opts.max, accept: opts.accept });
  }
  const w = h('div', { class: 'field' }, h('label', { for: id }, opts.label), control,
    opts.help ? h('div', { class: 'muted' }, opts.help) : null);
  w.control = control;
  return w;
}

// form builds a form of fields and calls submit(values, form) on submit;
// errors thrown by submit are shown in the form. values holds strings,
// booleans for checkboxes and File lists for file inputs; empty strings
// are left out.
export function form(fields, submit, label = 'Save', extra) {
  const err = h('p', { class: 'error', role: 'alert' });
  const btn = h('button', { class: 'primary', type: 'submit' }, label);
  const wraps = fields.map(field);
  const f = h('form', { class: 'card' }, wraps, extra, h('div', { class: 'row' }, btn), err);
  f.addEventListener('submit', async ev => {
    ev.preventDefault();
    err.textContent = '';
    const values = {};
    for (const w of wraps) {
      const c = w.control;
      if (c.type === 'checkbox') values[c.name] = c.checked;
      else if (c.type === 'file') values[c.name] = c.files;
      else if (c.value !== '') values[c.name] = c.value;
    }
    btn.disabled = true;
    try { await submit(values, f); } catch (e) { err.textContent = e.message || String(e); }
    finally { btn.disabled = false; }
  });
  return f;
}

// button is a button that runs fn, disabled while fn runs; an error goes
// to toast.
export function button(label, fn, cls) {
  const b = h('button', { type: 'button', class: cls });
  b.textContent = label;
  b.addEventListener('click', async () => {
    b.disabled = true;
    try { await fn(b); } catch (e) { toast(e.message || String(e), true); }
    finally { if (b.isConnected && !b.dataset.final) b.disabled = false; }
  });
  return b;
}

// toast shows a short message in the live region.
export function toast(msg, isError) {
  const box = document.getElementById('toast');
  const m = h('div', { class: isError ? 'error' : '' }, msg);
  box.append(m);
  setTimeout(() => m.remove(), isError ? 8000 : 4000);
}

// table renders rows with columns [[header, row => node|text], ...].
export function table(columns, rows, caption) {
  return h('table', null,
    caption ? h('caption', { class: 'sr-only' }, caption) : null,
    h('thead', null, h('tr', null, columns.map(c => h('th', { scope: 'col' }, c[0])))),
    h('tbody', null, rows.map(r => h('tr', null, columns.map(c => h('td', null, c[1](r)))))));
}

// when formats a timestamp in the reader's locale, "" for none.
export function when(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  return isNaN(d) ? String(ts) : d.toLocaleString();
}

// json pretty-prints a value for a <pre>.
export function json(v) {
  try { return JSON.stringify(v, null, 2); } catch { return String(v); }
}

// badge is a small status label.
export function badge(text, kind) { return h('span', { class: 'badge ' + (kind || '') }, text); }

// withoutTitle returns a plan's content without a first line that only
// repeats its title (a Markdown heading of it, or the line the server made
// the title of), so that a card shows the title once.
export function withoutTitle(title, content) {
  const text = content || '';
  const bare = s => s.trim().replace(/^[#*\-\s]+/, '').replace(/[#*\s]+$/, '').toLowerCase();
  const t = bare(title || '');
  const first = /^\s*([^\n]*)(?:\n|$)/.exec(text);
  if (!t || bare(first[1]) !== t) return text;
  return text.slice(first[0].length).replace(/^\s*\n/, '');
}
