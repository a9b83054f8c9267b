// The library: uploads, filters, and a grid of score cards that loads more as you scroll.

import * as api from './api.js';
import { h, field, alertSlot, heading, debounce, nextId } from './ui.js';
import { uploadSection } from './upload.js';

const ORDER = { '-updated_at': 'Recently updated', '-created_at': 'Recently added', created_at: 'Oldest first',
  title: 'Title A–Z', '-title': 'Title Z–A' };
// The filters stay as they were when you come back.
const saved = { search: '', composer: '', tags: '', instrumentation: '', ordering: '-updated_at' };

/** A fresh presigned link to a score's thumbnail, or null. */
export const thumbnailUrl = (id) =>
  api.get(`/scores/${id}/thumbnail`, { query: { redirect: 'false' } }).then((r) => r.data.url, () => null);

export const placeholder = (text) => h('div', { class: 'thumb placeholder' }, text);

export async function libraryPage(page, _params, ctx) {
  ctx.title('Library');
  const alert = alertSlot();
  const cards = new Map(); // id → li
  let next = null;
  let loading = false;
  let generation = 0;

  // ----- Filters, each text filter with a datalist of the values seen so far -----
  const seen = {};
  const filter = (label, name) => {
    const list = h('datalist', { id: nextId('dl') });
    seen[name] = { list, values: new Set() };
    const f = field({ label, name, value: saved[name], attrs: { autocomplete: 'off', list: list.id } });
    f.wrap.append(list);
    return f;
  };
  const fields = {
    search: field({ label: 'Search', name: 'search', type: 'search', value: saved.search, attrs: { autocomplete: 'off' } }),
    composer: filter('Composer', 'composer'),
    tags: filter('Tag', 'tags'),
    instrumentation: filter('Instrument', 'instrumentation'),
    ordering: field({ label: 'Order by', name: 'ordering', tag: 'select',
      options: Object.entries(ORDER).map(([value, text]) => h('option', { value }, text)) }),
  };
  fields.ordering.input.value = saved.ordering;
  const later = debounce(() => loadFirst(), 250);
  ctx.onCleanup(later.cancel);
  const filters = h('form', { role: 'search', class: 'filters', 'aria-label': 'Filter scores' },
    Object.values(fields).map((f) => f.wrap));
  filters.addEventListener('input', (event) => event.target.tagName === 'INPUT' && later());
  filters.addEventListener('change', (event) => event.target.tagName === 'SELECT' && loadFirst());
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    loadFirst();
  });
  function remember(scores) {
    for (const [name, pick] of [['composer', (s) => [s.composer]], ['tags', (s) => s.tags], ['instrumentation', (s) => s.instrumentation]]) {
      const { list, values } = seen[name];
      for (const value of scores.flatMap(pick)) {
        if (value && !values.has(value.toLowerCase())) {
          values.add(value.toLowerCase());
          list.append(h('option', { value }));
        }
      }
    }
  }

  // ----- Results -----
  const count = h('p', { class: 'count', 'aria-live': 'polite' });
  const grid = h('ul', { 'aria-label': 'Scores', class: 'grid' });
  const empty = h('p', { class: 'empty', hidden: true });
  const sentinel = h('div');
  const more = h('button', { type: 'button', hidden: true, onclick: () => loadNext() }, 'Load more');
  const uploads = uploadSection(() => loadFirst());
  ctx.onCleanup(uploads.dispose);
  page.append(heading('Library'), uploads.el,
    h('section', { class: 'card', 'aria-labelledby': 'scores-h' },
      h('h2', { id: 'scores-h' }, 'Scores'), filters, count, alert.el, grid, empty, sentinel, more));

  async function fill(img) {
    const url = await thumbnailUrl(img.dataset.id);
    if (url) img.src = url;
    else img.replaceWith(placeholder('No preview'));
  }

  // The first screen's images (four rows on a laptop, more than a tablet shows) load at
  // once and first; the rest of a page of 50 waits until it comes near the screen.
  const FIRST_SCREEN = 24;

  function card(score, first) {
    const t = score.thumbnail;
    let thumb;
    if (t) {
      const priority = first ? { loading: 'eager', fetchpriority: 'high' } : { loading: 'lazy' };
      thumb = h('img', { class: 'thumb', alt: '', decoding: 'async', width: t.width, height: t.height, 'data-id': score.id, ...priority });
      // An expired link: ask once for a fresh one.
      let retried = false;
      thumb.addEventListener('error', () => {
        if (retried) return thumb.replaceWith(placeholder('No preview'));
        retried = true;
        fill(thumb);
      });
      if (t.url) thumb.src = t.url;
      else fill(thumb); // a server without thumbnail_urls
    } else if (score.processing?.status === 'pending') {
      watch(score.id);
      thumb = placeholder('Processing…');
    } else thumb = placeholder('No preview');
    const li = h('li', {}, h('a', { href: `#/scores/${score.id}` },
      thumb, h('span', { class: 'title' }, score.title), h('span', { class: 'muted' }, score.composer)));
    cards.set(score.id, li);
    return li;
  }

  function show(data, gen) {
    if (gen !== generation || !ctx.alive) return;
    const frag = document.createDocumentFragment();
    for (const score of data.results) if (!cards.has(score.id)) frag.append(card(score, cards.size < FIRST_SCREEN));
    grid.append(frag);
    remember(data.results);
    next = data.next;
    more.hidden = !next;
    empty.hidden = cards.size > 0;
    empty.textContent = saved.search || saved.composer || saved.tags || saved.instrumentation
      ? 'No scores match these filters.' : 'No scores yet — upload a PDF to start.';
  }

  async function loadFirst() {
    later.cancel();
    const gen = ++generation;
    const query = { ordering: fields.ordering.input.value, page_size: 50, cursor: '', thumbnail_urls: 'true' };
    for (const name of ['search', 'composer', 'tags', 'instrumentation']) {
      saved[name] = fields[name].input.value.trim();
      if (saved[name]) query[name] = saved[name];
    }
    saved.ordering = query.ordering;
    loading = true;
    try {
      const { data } = await api.get('/scores', { query });
      if (gen !== generation || !ctx.alive) return;
      alert.clear();
      grid.replaceChildren();
      cards.clear();
      const n = data.count;
      count.textContent = `${n.toLocaleString()}${data.count_is_exact === false ? ' or more' : ''} ${n === 1 ? 'score' : 'scores'}`;
      show(data, gen);
    } catch (error) {
      if (gen === generation) alert.show(error.message);
    }
    if (gen === generation) loading = false;
    keepGoing();
  }

  async function loadNext() {
    if (loading || !next) return;
    const gen = generation;
    loading = more.disabled = true;
    try {
      show((await api.get(next)).data, gen);
    } catch (error) {
      if (gen === generation) alert.show(error.message);
    }
    if (gen === generation) loading = more.disabled = false;
  }

  // Infinite scroll: while the sentinel after the grid is near the screen, load the next page.
  // Nearness is measured when asked, not remembered from the observer: right after the
  // first page fills the grid, the observer's last word (an empty grid) is stale, and a
  // second page would compete with the first screen's images.
  const MARGIN = 600;
  const scroll = new IntersectionObserver(() => keepGoing(), { rootMargin: `${MARGIN}px` });
  scroll.observe(sentinel);
  ctx.onCleanup(() => scroll.disconnect());
  function keepGoing() {
    if (!next || loading || !ctx.alive) return;
    if (sentinel.getBoundingClientRect().top > innerHeight + MARGIN) return;
    loadNext().then(() => requestAnimationFrame(keepGoing));
  }

  // ----- Scores being processed: one list request every 2 s tells which are done -----
  const pending = new Map(); // id → since
  let stopPolling = null;
  function watch(id) {
    if (!pending.has(id)) pending.set(id, Date.now());
    stopPolling ||= ctx.every(2000, poll);
  }
  let polling = false;
  async function poll() {
    for (const [id, since] of pending) if (Date.now() - since > 120000 || !cards.has(id)) pending.delete(id);
    if (!pending.size) {
      stopPolling();
      stopPolling = null;
    }
    if (polling || !pending.size) return;
    polling = true;
    try {
      const { data } = await api.get('/scores', { query: { status: 'pending', page_size: 100 } });
      const still = new Set(data.results.map((s) => s.id));
      // With more than one page still pending, an id not seen may be on a later page.
      if (!data.next) await Promise.all([...pending.keys()].filter((id) => !still.has(id)).map(refresh));
    } catch { /* next tick */ }
    polling = false;
  }
  async function refresh(id) {
    pending.delete(id);
    try {
      const { data: score } = await api.get(`/scores/${id}`);
      if (score.thumbnail && !score.thumbnail.url) score.thumbnail.url = await thumbnailUrl(id);
      const old = cards.get(id);
      if (!ctx.alive || !old) return;
      const focused = old.contains(document.activeElement);
      old.replaceWith(card(score));
      if (focused) cards.get(id).firstChild.focus();
    } catch { /* deleted meanwhile */ }
  }

  await loadFirst();
}
