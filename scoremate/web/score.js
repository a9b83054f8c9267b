// One score: preview, PDF facts, details (saved with If-Match), bookmarks, download, delete.

import * as api from './api.js';
import { h, replace, field, alertSlot, showProblem, heading, announce, formatBytes, quotaChanged, splitList, nextId, conflict, changes, pageRange, notFound } from './ui.js';
import { thumbnailUrl, placeholder } from './library.js';

const TEXTS = { title: 'Title', composer: 'Composer', arranger: 'Arranger', genre: 'Genre', key: 'Key' };
const LISTS = { instrumentation: 'Instrumentation', tags: 'Tags' };
const mm = (pt) => Math.round((pt * 25.4) / 72);

export async function scorePage(page, [id], ctx) {
  const path = `/scores/${id}`;
  let score;
  let version;
  const adopt = (response) => {
    score = response.data;
    version = api.versionOf(response);
  };
  try {
    adopt(await api.get(path));
  } catch (error) {
    if (error.status !== 404) throw error;
    return notFound(page, ctx, 'score', '#/library');
  }

  const h1 = heading('');
  const pageAlert = alertSlot();
  const figure = h('figure', { class: 'preview' });
  const facts = h('dl', { class: 'facts' });
  const suggestion = h('div', { class: 'suggestion' });

  // ----- Preview, facts, suggestion -----
  async function preview() {
    if (figure.querySelector('img')) return;
    const url = score.thumbnail && (score.thumbnail.url || (await thumbnailUrl(id)));
    replace(figure, url
      ? h('img', { src: url, alt: `First page of ${score.title}`, width: score.thumbnail.width, height: score.thumbnail.height })
      : placeholder(score.processing?.status === 'pending' ? 'Processing…' : 'No preview'));
  }

  function showAll() {
    h1.textContent = score.title;
    ctx.title(score.title);
    const img = figure.querySelector('img');
    if (img) img.alt = `First page of ${score.title}`;
    const { pdf, file, processing } = score;
    const rows = [
      pdf && ['Pages', pdf.page_count],
      pdf?.page_width_pt && ['Page size', `${mm(pdf.page_width_pt)} × ${mm(pdf.page_height_pt)} mm`],
      file && ['File', `${file.filename} (${formatBytes(file.size_bytes)})`],
      processing?.status === 'pending' && ['Status', 'Processing…'],
      processing?.status === 'failed' && ['Status', `Could not be processed. ${processing.error || ''}`],
    ];
    replace(facts, rows.filter(Boolean).map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value))));
    const suggested = score.suggestions?.title;
    suggestion.hidden = !suggested || suggested === score.title;
    replace(suggestion, h('p', {}, `The PDF suggests the title “${suggested}”`),
      h('button', { type: 'button', onclick: () => useTitle(suggested) }, 'Use suggested title'));
    preview();
  }

  // ----- Details -----
  const fields = {};
  for (const [name, label] of Object.entries(TEXTS)) fields[name] = field({ label, name, attrs: { autocomplete: 'off' } });
  for (const [name, label] of Object.entries(LISTS)) {
    fields[name] = field({ label, name, hint: 'Separate several with commas.', attrs: { autocomplete: 'off' } });
  }
  fields.notes = field({ label: 'Notes', name: 'notes', tag: 'textarea', attrs: { rows: 4 } });
  const alert = alertSlot();
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save');
  const detailsId = nextId('details');
  const form = h('form', { class: 'card', 'aria-labelledby': detailsId, novalidate: true },
    h('h2', { id: detailsId }, 'Details'), alert.el,
    h('div', { class: 'field-grid' }, Object.values(fields).map((f) => f.wrap)), save);
  // The form compares against this: the score with its lists written as text.
  const base = () => ({ ...score, instrumentation: score.instrumentation.join(', '), tags: score.tags.join(', ') });
  function fill() {
    const b = base();
    for (const [name, f] of Object.entries(fields)) {
      f.input.value = b[name] ?? '';
      f.clear();
    }
  }
  const edits = () => {
    const body = changes(fields, base(), ['title']);
    for (const name of Object.keys(LISTS)) if (name in body) body[name] = splitList(body[name] || '');
    return body;
  };

  async function send(body) {
    alert.clear();
    try {
      adopt(await api.patch(path, body, { headers: { 'If-Match': `"${version}"` } }));
      showAll();
      announce('Saved');
      return true;
    } catch (error) {
      if (error.status !== 412) showProblem(alert, error, fields);
      else conflict(alert, 'score', async () => {
        adopt(await api.get(path));
        showAll();
        fill();
        fields.title.input.focus();
      });
    }
  }
  async function useTitle(title) {
    if (await send({ title })) {
      fields.title.input.value = title;
      h1.focus();
    }
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = edits();
    if (!Object.keys(body).length) return announce('No changes to save.');
    save.disabled = true;
    if (await send(body)) fill();
    save.disabled = false;
  });

  // ----- Actions -----
  const download = h('button', { type: 'button', class: 'primary' }, 'Download PDF');
  download.addEventListener('click', async () => {
    try {
      location.href = (await api.get(`${path}/file`, { query: { redirect: 'false' } })).data.url;
    } catch (error) {
      pageAlert.show(error.message);
    }
  });
  const remove = h('button', { type: 'button', class: 'danger' }, 'Delete score');
  remove.addEventListener('click', async () => {
    if (!confirm(`Delete “${score.title}”? This cannot be undone.`)) return;
    try {
      await api.del(path);
      quotaChanged();
      announce(`Deleted “${score.title}”`);
      location.hash = '#/library';
    } catch (error) {
      pageAlert.show(error.message);
    }
  });

  // ----- Bookmarks -----
  const marks = h('ul', { 'aria-label': 'Bookmarks' });
  const none = h('p', { class: 'muted' }, 'No bookmarks yet.');
  const markAlert = alertSlot();
  const markFields = {
    title: field({ label: 'Bookmark title', name: 'title', attrs: { autocomplete: 'off' } }),
    start_page: field({ label: 'Page', name: 'start_page', type: 'number', attrs: { min: 1, inputmode: 'numeric' } }),
  };
  markFields.end_page = markFields.start_page;
  const markId = nextId('mark');
  const markForm = h('form', { class: 'row', 'aria-labelledby': markId, novalidate: true },
    h('h3', { id: markId }, 'Add a bookmark'), markAlert.el, markFields.title.wrap, markFields.start_page.wrap,
    h('button', { type: 'submit' }, 'Add bookmark'));
  async function loadMarks() {
    try {
      const { bookmarks } = (await api.get(`${path}/bookmarks`)).data;
      replace(marks, bookmarks.map((b) => h('li', {}, h('strong', {}, b.title), ` — ${pageRange(b)}`, b.fits === false && ' (outside the file)')));
      marks.hidden = !bookmarks.length;
      none.hidden = !marks.hidden;
    } catch (error) {
      markAlert.show(error.message);
    }
  }
  markForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    markAlert.clear();
    const { title, start_page: start } = markFields;
    const pageText = start.input.value.trim();
    try {
      const response = await api.post(`${path}/bookmarks`, { title: title.input.value.trim(), start_page: pageText ? Number(pageText) : undefined });
      // The score's version moved; adopt it only if nothing else happened in between.
      if (api.versionOf(response) === version + 1) version += 1;
      title.input.value = start.input.value = '';
      title.clear();
      start.clear();
      announce(`Added bookmark “${response.data.title}”`);
      title.input.focus();
      loadMarks();
    } catch (error) {
      showProblem(markAlert, error, markFields, title.input);
    }
  });

  const marksId = nextId('marks');
  page.append(h1, pageAlert.el,
    h('div', { class: 'score-top' }, figure, h('div', {}, facts, suggestion, h('div', { class: 'actions' }, download, remove))),
    form,
    h('section', { class: 'card', 'aria-labelledby': marksId }, h('h2', { id: marksId }, 'Bookmarks'), none, marks, markForm));
  showAll();
  fill();
  loadMarks();

  // ----- While the PDF is being processed, look again every 2 s (for up to 2 minutes) -----
  if (score.processing?.status !== 'pending') return;
  const since = Date.now();
  const stop = ctx.every(2000, async () => {
    if (Date.now() - since > 120000) return stop();
    try {
      const response = await api.get(path);
      if (response.data.processing?.status === 'pending') return;
      stop();
      if (Object.keys(edits()).length) {
        // Keep the user's edits and the version they started from: saving will say what changed.
        score = { ...score, processing: response.data.processing, pdf: response.data.pdf,
          thumbnail: response.data.thumbnail, suggestions: response.data.suggestions };
      } else {
        adopt(response);
        fill();
      }
      showAll();
    } catch { /* next tick */ }
  });
}
