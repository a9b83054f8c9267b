// Uploads: reserve (upload-url), PUT with progress, then confirm as scores.
// Rows live at module level, so leaving the library and coming back keeps them.

import * as api from './api.js';
import { h, replace, field, announce, quotaChanged, nextId } from './ui.js';

// Headers a page may not set (the browser refuses them, with a console error).
const FORBIDDEN = /^(accept-charset|accept-encoding|access-control-.*|connection|content-length|cookie2?|date|dnt|expect|host|keep-alive|origin|referer|te|trailer|transfer-encoding|upgrade|via|proxy-.*|sec-.*)$/i;
const rows = [];
let view = null; // {list, button, input, onAdded} of the section on screen

/** "Bach_-_Prelude in C.pdf" → {composer: "Bach", title: "Prelude in C"} */
export function guess(filename) {
  const base = filename.replace(/\.pdf$/i, '').replace(/_/g, ' ').replace(/\s+/g, ' ').trim();
  const [composer, ...title] = base.split(' - ');
  return title.length && composer ? { composer, title: title.join(' - ') } : { composer: '', title: base || filename };
}

const busy = () => rows.some((r) => ['requesting', 'uploading', 'confirming'].includes(r.state));

function update() {
  if (!view) return;
  view.list.hidden = view.button.hidden = !rows.length;
  view.button.disabled = busy() || !rows.some((r) => r.state === 'done');
}

function fail(row, message) {
  row.state = 'error';
  row.progress.hidden = true;
  row.status.textContent = 'Not uploaded.';
  replace(row.alert, h('p', { role: 'alert', class: 'error' }, message));
  update();
}

async function cancel(row) {
  const index = rows.indexOf(row);
  if (index < 0) return;
  const open = row.id && row.state !== 'confirmed';
  row.state = 'cancelled';
  row.xhr?.abort();
  rows.splice(index, 1);
  row.li.remove();
  update();
  // Keep keyboard users near where they were.
  ((rows[index] || rows[index - 1])?.li.querySelector('button') || view?.input)?.focus();
  announce(`Cancelled upload of ${row.name}`);
  if (open) {
    // Frees the reservation; an upload that already ended has nothing to free.
    await api.del(`/files/uploads/${row.id}`).catch(() => {});
    quotaChanged();
  }
}

// Several reservations at once are fine: the server lets commands on one quota take turns.
function reserve(row) {
  return api.post('/files/upload-url', { filename: row.name, size: row.file.size, mime_type: 'application/pdf' });
}

async function start(row) {
  let grant;
  try {
    grant = (await reserve(row)).data;
  } catch (error) {
    if (row.state !== 'cancelled') fail(row, [error.message, ...Object.values(error.fields || {}).flat()].join(' '));
    return;
  }
  row.id = grant.upload_id;
  if (row.state === 'cancelled') return api.del(`/files/uploads/${row.id}`).catch(() => {});
  row.state = 'uploading';
  quotaChanged();
  const xhr = (row.xhr = new XMLHttpRequest());
  xhr.open(grant.method || 'PUT', grant.upload_url);
  for (const [key, value] of Object.entries(grant.headers || {})) {
    if (!FORBIDDEN.test(key)) xhr.setRequestHeader(key, value);
  }
  let shown = -10;
  xhr.upload.addEventListener('progress', (event) => {
    if (!event.lengthComputable) return;
    const percent = Math.floor((100 * event.loaded) / event.total);
    row.progress.value = percent;
    // The text moves in steps of 10 %, to stay readable.
    if (percent - shown >= 10) row.status.textContent = `Uploading… ${(shown = percent)}%`;
  });
  xhr.addEventListener('loadend', () => {
    row.xhr = null;
    if (row.state === 'cancelled') return;
    if (xhr.status < 200 || xhr.status > 299) {
      return fail(row, `The upload failed (${xhr.status ? `HTTP ${xhr.status}` : 'the storage could not be reached'}). Cancel it and try again.`);
    }
    row.state = 'done';
    row.progress.value = 100;
    row.status.textContent = 'Uploaded. Check the title, then add it to the library.';
    const { title, composer } = guess(row.name);
    row.title = field({ label: `Title for ${row.name}`, name: 'title', value: title, attrs: { required: true } });
    row.composer = field({ label: `Composer for ${row.name}`, name: 'composer', value: composer });
    replace(row.details, row.title.wrap, row.composer.wrap);
    update();
  });
  xhr.send(row.file);
  row.status.textContent = 'Uploading… 0%';
  update();
}

function addFiles(files) {
  for (const file of files) {
    const name = file.name;
    const row = { file, name, state: 'requesting' };
    row.progress = h('progress', { max: 100, value: 0, 'aria-label': `Upload progress for ${name}` });
    row.status = h('p', { class: 'muted' }, 'Preparing…');
    row.alert = h('div');
    row.details = h('div', { class: 'field-grid' });
    row.li = h('li', {},
      h('div', { class: 'upload-head' }, h('span', { class: 'filename' }, name),
        h('button', { type: 'button', class: 'small', 'aria-label': `Cancel upload of ${name}`, onclick: () => cancel(row) }, 'Cancel')),
      row.progress, row.status, row.alert, row.details);
    rows.push(row);
    view?.list.append(row.li);
    if (file.type === 'application/pdf' || /\.pdf$/i.test(name)) start(row);
    else fail(row, `${name} is not a PDF file. Only PDF files can be uploaded.`);
  }
  update();
}

async function confirmAll() {
  let added = 0;
  let failed;
  for (const row of rows.filter((r) => r.state === 'done')) {
    row.state = 'confirming';
    update();
    row.alert.replaceChildren();
    row.title.clear();
    const title = row.title.input.value.trim();
    const composer = row.composer.input.value.trim();
    row.status.textContent = 'Adding…';
    try {
      await api.post('/scores', { upload_id: row.id, title, ...(composer && { composer }) },
        { headers: { 'Idempotency-Key': row.id } });
      row.state = 'confirmed';
      rows.splice(rows.indexOf(row), 1);
      row.li.remove();
      added++;
    } catch (error) {
      // Not a PDF, expired, gone: this upload cannot be added any more.
      const over = ['E003', 'E004', 'E013'].includes(error.code);
      row.state = over ? 'error' : 'done';
      row.status.textContent = 'Not added.';
      const { title: titleErrors, ...other } = error.fields || {};
      if (titleErrors) row.title.error(titleErrors);
      replace(row.alert, h('p', { role: 'alert', class: 'error' }, [error.message, ...Object.values(other).flat()].join(' ')));
      failed ||= titleErrors ? row.title.input : row.li.querySelector('button');
    }
  }
  update();
  if (added) {
    announce(`Added ${added} ${added === 1 ? 'score' : 'scores'}`);
    quotaChanged();
    view?.onAdded();
  }
  (failed || view?.input)?.focus();
}

/** The "Upload scores" section; `onAdded` runs once scores were added. */
export function uploadSection(onAdded) {
  const headingId = nextId('upload');
  const inputId = nextId('files');
  const input = h('input', { id: inputId, type: 'file', multiple: true, accept: 'application/pdf,.pdf' });
  input.addEventListener('change', () => {
    addFiles([...input.files]);
    input.value = '';
  });
  const list = h('ul', { 'aria-label': 'Uploads', class: 'uploads' });
  const button = h('button', { type: 'button', class: 'primary', onclick: () => button.disabled || confirmAll() }, 'Add to library');
  const section = h('section', { class: 'card', 'aria-labelledby': headingId, 'data-dropzone': true },
    h('h2', { id: headingId }, 'Upload scores'),
    h('div', { class: 'dropzone' }, h('p', {}, 'Drop PDF files anywhere on this page, or'), h('label', { for: inputId }, 'Choose PDF files'), input),
    list, button);
  // Files may be dropped anywhere on the page; the drop zone lights up meanwhile.
  const hasFiles = (event) => event.dataTransfer?.types.includes('Files');
  const listeners = {
    dragover(event) {
      if (!hasFiles(event)) return;
      event.preventDefault();
      section.classList.add('dragging');
    },
    dragleave(event) {
      if (!event.relatedTarget) section.classList.remove('dragging');
    },
    drop(event) {
      if (!hasFiles(event)) return;
      event.preventDefault();
      section.classList.remove('dragging');
      addFiles([...event.dataTransfer.files]);
    },
  };
  for (const [type, fn] of Object.entries(listeners)) window.addEventListener(type, fn);
  view = { list, button, input, onAdded };
  rows.forEach((row) => list.append(row.li));
  update();
  return {
    el: section,
    dispose() {
      for (const [type, fn] of Object.entries(listeners)) window.removeEventListener(type, fn);
      if (view?.list === list) view = null;
    },
  };
}

/** On log-out: stop and forget every upload. */
export function resetUploads() {
  for (const row of rows.splice(0)) {
    row.state = 'cancelled';
    row.xhr?.abort();
    row.li.remove();
  }
  update();
}
