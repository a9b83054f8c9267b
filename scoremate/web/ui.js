// DOM helpers. Text goes in as text nodes, never as markup.

let uid = 0;
export const nextId = (prefix = 'id') => `${prefix}-${++uid}`;

/** h('button', {type: 'button', onclick: fn}, 'Text', child); false/null attributes are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  return add(el, children);
}

function add(el, children) {
  for (const child of children.flat(9)) {
    if (child != null && child !== false) el.append(child);
  }
  return el;
}

export const replace = (el, ...children) => add(el.replaceChildren() || el, children);
export const heading = (text) => h('h1', { tabindex: '-1' }, text);
export const splitList = (text) => text.split(',').map((s) => s.trim()).filter(Boolean);
export const pageRange = (b) => (b.start_page === b.end_page ? `page ${b.start_page}` : `pages ${b.start_page}–${b.end_page}`);
export const quotaChanged = () => document.dispatchEvent(new Event('scoremate:quota'));

let statusTimer;
/** Says `text` in the polite live region (visible too). */
export function announce(text) {
  const el = document.getElementById('status');
  clearTimeout(statusTimer);
  el.textContent = '';
  // Set a moment later, so a repeated message is announced again.
  setTimeout(() => (el.textContent = text), 30);
  statusTimer = setTimeout(() => el.textContent === text && (el.textContent = ''), 10000);
}

/** A place for one role=alert message, with optional controls after it. */
export function alertSlot() {
  const el = h('div');
  return {
    el,
    show: (message, ...extra) => replace(el, h('div', { role: 'alert', class: 'error' }, h('p', {}, message), extra)),
    clear: () => el.replaceChildren(),
  };
}

/** A labelled control: {label, name, type, tag, hint, attrs, options, value} → {wrap, input, error(), clear()} */
export function field({ label, name, type = 'text', tag = 'input', hint, attrs = {}, options = [], value }) {
  const id = nextId(name);
  const input = h(tag, { id, name, type: tag === 'input' && type, ...attrs }, options);
  if (value != null) input.value = value;
  const hintEl = hint && h('p', { id: `${id}-hint`, class: 'hint' }, hint);
  const err = h('p', { id: `${id}-err`, class: 'field-error', hidden: true });
  const describe = () => {
    const ids = [hintEl && hintEl.id, !err.hidden && err.id].filter(Boolean).join(' ');
    if (ids) input.setAttribute('aria-describedby', ids);
    else input.removeAttribute('aria-describedby');
  };
  describe();
  return {
    wrap: h('div', { class: 'field' }, h('label', { for: id }, label), hintEl, input, err),
    input,
    error(messages) {
      err.textContent = [messages].flat().join(' ');
      err.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      describe();
    },
    clear() {
      err.hidden = true;
      input.removeAttribute('aria-invalid');
      describe();
    },
  };
}

/**
 * Shows an API error: each `fields` message beside its control (`fields` maps API field →
 * field()), the rest in the alert slot. Focuses the first bad control, else `fallback`.
 */
export function showProblem(slot, error, fields = {}, fallback) {
  Object.values(fields).forEach((f) => f.clear());
  let first;
  const rest = [];
  for (const [name, messages] of Object.entries(error.fields || {})) {
    if (fields[name]) {
      fields[name].error(messages);
      first ||= fields[name].input;
    } else rest.push(`${name}: ${[messages].flat().join(' ')}`);
  }
  slot.show([error.message, ...rest].join(' '));
  (first || fallback)?.focus();
}

/** "12.3 MB" (binary multiples, as file managers count). */
export function formatBytes(bytes) {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let value = Number(bytes) || 0;
  let unit = 0;
  for (; value >= 1024 && unit < 4; unit++) value /= 1024;
  return unit ? `${value >= 100 ? value.toFixed(0) : value.toFixed(1).replace(/\.0$/, '')} ${units[unit]}` : `${value} bytes`;
}

/** "2026-12-24" in the reader's locale, with no time-zone shift. */
export function formatDate(text) {
  const [y, m, d] = (text || '').split('-').map(Number);
  return d ? new Date(y, m - 1, d).toLocaleDateString(undefined, { dateStyle: 'medium' }) : text || '';
}

export function debounce(fn, ms) {
  let timer;
  const run = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  run.cancel = () => clearTimeout(timer);
  return run;
}

/**
 * A 412 answer: says so in `slot` with a "Load latest version" button that calls
 * `load()` (which refills the form from the server) — edits are never overwritten silently.
 */
export function conflict(slot, what, load) {
  const button = h('button', { type: 'button', class: 'secondary' }, 'Load latest version');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await load();
      slot.clear();
      announce('Loaded the latest version.');
    } catch (error) {
      slot.show(error.message);
    }
  });
  slot.show(`This ${what} was changed elsewhere. Your edits were not saved.`, button);
  button.focus();
}

/** The page for an id that answered 404 (someone else's, or deleted). */
export function notFound(page, ctx, what, back) {
  ctx.title(`No such ${what}`);
  page.append(heading(`No such ${what}`),
    h('div', { role: 'alert', class: 'error' }, h('p', {}, `This ${what} does not exist, or it was deleted.`)),
    h('p', {}, h('a', { href: back }, 'Go back')));
}

/** Fields whose trimmed value differs from `base`, as PATCH wants them ('' → null). */
export function changes(fields, base, required = []) {
  const body = {};
  for (const [name, f] of Object.entries(fields)) {
    const value = f.input.value.trim();
    if (value !== (base[name] ?? '')) body[name] = value === '' && !required.includes(name) ? null : value;
  }
  return body;
}
