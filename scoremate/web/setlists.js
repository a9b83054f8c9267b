// Setlists: the list, and one setlist with its running order (drag and drop, Alt+arrows, buttons).

import * as api from './api.js';
import { h, replace, field, alertSlot, showProblem, heading, announce, formatDate, nextId, conflict, changes, pageRange, notFound } from './ui.js';

export async function setlistsPage(page, _params, ctx) {
  ctx.title('Setlists');
  const alert = alertSlot();
  const name = field({ label: 'Name', name: 'name', attrs: { autocomplete: 'off' } });
  const newId = nextId('new');
  const form = h('form', { class: 'card row', 'aria-labelledby': newId, novalidate: true },
    h('h2', { id: newId }, 'New setlist'), alert.el, name.wrap,
    h('button', { type: 'submit', class: 'primary' }, 'Create setlist'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    alert.clear();
    try {
      const { data } = await api.post('/setlists', { name: name.input.value.trim() });
      announce(`Created setlist “${data.name}”`);
      location.hash = `#/setlists/${data.id}`;
    } catch (error) {
      showProblem(alert, error, { name }, name.input);
    }
  });
  const list = h('ul', { 'aria-label': 'Setlists', class: 'setlists' });
  const empty = h('p', { class: 'muted', hidden: true }, 'No setlists yet.');
  page.append(heading('Setlists'), form, list, empty);
  try {
    // Most recently changed first; up to 1,000.
    let url = '/setlists?page_size=100&cursor=';
    for (let n = 0; url && n < 10; n++) {
      const { data } = await api.get(url);
      for (const s of data.results) {
        const when = s.event_date ? ` · ${formatDate(s.event_date)}` : '';
        list.append(h('li', {}, h('a', { href: `#/setlists/${s.id}` }, s.name),
          h('span', { class: 'muted' }, `${s.item_count} ${s.item_count === 1 ? 'item' : 'items'}${when}`)));
      }
      url = data.next;
    }
    empty.hidden = list.children.length > 0;
  } catch (error) {
    alert.show(error.message);
  }
}

/** "3-5, 7" → [3, 4, 5, 7]; null when it does not read as pages. */
export function parsePages(text) {
  const pages = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [, from, to = from] = /^(\d+)\s*(?:[-–]\s*(\d+))?$/.exec(part) || [];
    if (!from || +from < 1 || +to < +from || to - from >= 500) return null;
    for (let p = +from; p <= +to; p++) pages.push(p);
  }
  return pages.length ? pages : null;
}

/** [3, 4, 5, 7] → "3–5, 7" */
const pagesText = (pages) => pages.reduce((out, p, i) => {
  if (p === pages[i - 1] + 1 && p !== pages[i + 1] - 1) out[out.length - 1] += `–${p}`;
  else if (p !== pages[i - 1] + 1) out.push(String(p));
  return out;
}, []).join(', ');

export async function setlistPage(page, [id], ctx) {
  const path = `/setlists/${id}`;
  let setlist;
  let version;
  const adopt = (response) => {
    setlist = response.data;
    version = api.versionOf(response);
  };
  const ifMatch = () => ({ headers: { 'If-Match': `"${version}"` } });
  try {
    adopt(await api.get(path));
  } catch (error) {
    if (error.status !== 404) throw error;
    return notFound(page, ctx, 'setlist', '#/setlists');
  }
  const h1 = heading('');
  const date = h('p', { class: 'muted' });
  function showName() {
    h1.textContent = setlist.name;
    ctx.title(setlist.name);
    date.textContent = formatDate(setlist.event_date);
  }
  /** Shows the latest version; the details form is refilled only when asked (it may hold edits). */
  async function load(refill) {
    adopt(await api.get(path));
    showName();
    renderItems();
    if (refill) fill();
  }

  // Changes run one after another, each with the version the one before left.
  let queue = Promise.resolve();
  const enqueue = (fn) => (queue = queue.then(fn, fn));

  // ----- Running order -----
  const itemsAlert = alertSlot();
  const ol = h('ol', { 'aria-label': 'Items', class: 'items' });
  const none = h('p', { class: 'muted' }, 'Nothing here yet. Add a score below.');
  const rows = new Map(); // item id → li
  let dragged = null;
  const index = (itemId) => setlist.items.findIndex((it) => it.id === itemId);

  function row(item) {
    const { title, score, bookmark, pages } = item;
    // Buttons named "Move <title> up" etc.; the arrows are what sighted users see.
    const button = (shown, named, onclick) =>
      h('button', { type: 'button', class: 'small', onclick }, shown, h('span', { class: 'visually-hidden' }, named));
    const arrow = (text) => h('span', { 'aria-hidden': 'true' }, text);
    const up = button(arrow('↑'), `Move ${title} up`, () => moveBy(item, -1, up));
    const down = button(arrow('↓'), `Move ${title} down`, () => moveBy(item, 1, down));
    const detail = [
      bookmark && `from ${score.title}, ${pageRange(bookmark)}`,
      pages && `pages ${pagesText(pages)}`,
      item.fits === false && 'outside the file',
    ].filter(Boolean).join(' · ');
    const li = h('li', { class: 'item', draggable: 'true', tabindex: 0 },
      h('span', { class: 'grip', 'aria-hidden': 'true' }, '⠿'),
      score?.thumbnail?.url && h('img', { src: score.thumbnail.url, alt: '', width: score.thumbnail.width, height: score.thumbnail.height, loading: 'lazy' }),
      h('div', { class: 'item-text' }, h('strong', {}, title), detail && h('span', { class: 'muted' }, detail), item.note && h('em', {}, item.note)),
      h('div', { class: 'actions' }, up, down, button('Remove', ` ${title}`, () => removeItem(item))));
    li.addEventListener('keydown', (event) => {
      if (event.target !== li || !event.altKey || !['ArrowUp', 'ArrowDown'].includes(event.key)) return;
      event.preventDefault();
      moveBy(item, event.key === 'ArrowUp' ? -1 : 1, li);
    });
    // Dropping one item on another puts it at that item's position.
    li.addEventListener('dragstart', (event) => {
      dragged = item;
      event.dataTransfer.effectAllowed = 'move';
      event.dataTransfer.setData('text/plain', title);
      li.classList.add('dragging');
    });
    li.addEventListener('dragend', () => {
      dragged = null;
      li.classList.remove('dragging');
    });
    li.addEventListener('dragover', (event) => {
      if (!dragged) return;
      event.preventDefault();
      li.classList.toggle('drop-target', dragged !== item);
    });
    li.addEventListener('dragleave', (event) => li.contains(event.relatedTarget) || li.classList.remove('drop-target'));
    li.addEventListener('drop', (event) => {
      event.preventDefault();
      li.classList.remove('drop-target');
      if (dragged) move(index(dragged.id), index(item.id), rows.get(dragged.id));
    });
    return li;
  }

  function label() {
    const total = setlist.items.length;
    setlist.items.forEach((item, i) => {
      const li = rows.get(item.id);
      li.setAttribute('aria-label', `${item.title}, position ${i + 1} of ${total}`);
      const [up, down] = li.querySelectorAll('.actions button');
      up.setAttribute('aria-disabled', i === 0);
      down.setAttribute('aria-disabled', i === total - 1);
    });
    none.hidden = total > 0;
    ol.hidden = !total;
  }

  function renderItems() {
    // Focus stays on the same item (or the same button of it).
    const active = document.activeElement;
    const li = active?.closest('.item');
    const focus = li && ol.contains(li) && [li.dataset.id, [...li.querySelectorAll('button')].indexOf(active)];
    rows.clear();
    replace(ol, setlist.items.map((item) => {
      const el = row(item);
      el.dataset.id = item.id;
      rows.set(item.id, el);
      return el;
    }));
    label();
    const again = focus && rows.get(focus[0]);
    if (again) (again.querySelectorAll('button')[focus[1]] || again).focus();
  }

  function moveBy(item, delta, focus) {
    const from = index(item.id);
    if (setlist.items[from + delta]) move(from, from + delta, focus);
    else announce(`${item.title} is already ${delta < 0 ? 'first' : 'last'}.`);
  }

  function move(from, to, focus) {
    if (from === to || from < 0 || to < 0) return;
    const [item] = setlist.items.splice(from, 1);
    setlist.items.splice(to, 0, item);
    ol.insertBefore(rows.get(item.id), rows.get(setlist.items[to + 1]?.id) || null);
    label();
    focus?.focus();
    announce(`Moved ${item.title} to position ${to + 1} of ${setlist.items.length}`);
    saveOrder();
  }

  // Moves made while a save is under way go together in the next one.
  let orderDirty = false;
  let orderSaving = false;
  function saveOrder() {
    orderDirty = true;
    if (orderSaving) return;
    orderSaving = true;
    enqueue(async () => {
      while (orderDirty && ctx.alive) {
        orderDirty = false;
        const mine = setlist.items;
        try {
          adopt(await api.put(`${path}/items/order`, { item_ids: mine.map((it) => it.id) }, ifMatch()));
          if (orderDirty || setlist.items.map((it) => it.id).join() === mine.map((it) => it.id).join()) setlist.items = mine;
          else renderItems(); // someone else's change came along
        } catch (error) {
          orderDirty = false;
          await reload(error, 'The new order was not saved.');
        }
      }
      orderSaving = false;
    });
  }

  /** After a failed change: load the latest version and say what happened. */
  async function reload(error, what) {
    const message = `${error.status === 412 ? 'This setlist was changed elsewhere, so the latest version is shown.' : error.message} ${what}`;
    await load().catch(() => {});
    itemsAlert.show(message);
  }

  function removeItem(item) {
    enqueue(async () => {
      const at = index(item.id);
      try {
        await api.del(`${path}/items/${item.id}`, ifMatch());
        await load();
        announce(`Removed ${item.title}`);
        (rows.get((setlist.items[at] || setlist.items[at - 1])?.id) || itemsHeading).focus();
      } catch (error) {
        await reload(error, `${item.title} was not removed.`);
      }
    });
  }

  const itemsId = nextId('items');
  const itemsHeading = h('h2', { id: itemsId, tabindex: -1 }, 'Running order');

  // ----- Add a score -----
  const addAlert = alertSlot();
  const add = {
    score_id: field({ label: 'Score', name: 'score_id', tag: 'select' }),
    bookmark_id: field({ label: 'Bookmark', name: 'bookmark_id', tag: 'select' }),
    pages: field({ label: 'Pages', name: 'pages', hint: 'Optional, e.g. 3-5 or 1, 2, 5', attrs: { autocomplete: 'off' } }),
    note: field({ label: 'Note', name: 'note', attrs: { autocomplete: 'off' } }),
  };
  const addButton = h('button', { type: 'submit', class: 'primary', disabled: true }, 'Add to setlist');
  const addId = nextId('add');
  const addForm = h('form', { class: 'card', 'aria-labelledby': addId, novalidate: true },
    h('h2', { id: addId }, 'Add a score'), addAlert.el,
    h('div', { class: 'field-grid' }, Object.values(add).map((f) => f.wrap)), addButton);
  const marks = new Map(); // score id → bookmark_count

  async function loadScores() {
    const options = [];
    try {
      // Up to 500 scores, by title.
      let url = '/scores?ordering=title&page_size=100&cursor=';
      for (let n = 0; url && n < 5; n++) {
        const { data } = await api.get(url);
        for (const s of data.results) {
          marks.set(s.id, s.bookmark_count);
          options.push(h('option', { value: s.id }, s.title));
        }
        url = data.next;
      }
    } catch (error) {
      addAlert.show(error.message);
    }
    replace(add.score_id.input, options.length ? options : h('option', { value: '' }, 'No scores in your library yet'));
    addButton.disabled = add.score_id.input.disabled = !options.length;
    loadBookmarks();
  }

  let bookmarkSeq = 0;
  async function loadBookmarks() {
    const seq = ++bookmarkSeq;
    const scoreId = add.score_id.input.value;
    const options = [h('option', { value: '' }, 'Whole score')];
    if (scoreId && marks.get(scoreId) !== 0) {
      try {
        for (const b of (await api.get(`/scores/${scoreId}/bookmarks`)).data.bookmarks) {
          options.push(h('option', { value: b.id }, `${b.title} (${pageRange(b)})`));
        }
      } catch { /* the whole score stays available */ }
    }
    if (seq === bookmarkSeq) replace(add.bookmark_id.input, options);
  }
  add.score_id.input.addEventListener('change', loadBookmarks);

  addForm.addEventListener('submit', (event) => {
    event.preventDefault();
    addAlert.clear();
    const pagesTyped = add.pages.input.value.trim();
    const pages = pagesTyped && parsePages(pagesTyped);
    if (pages === null) {
      add.pages.error('Write pages like 3-5 or 1, 2, 5.');
      return add.pages.input.focus();
    }
    add.pages.clear();
    const body = { score_id: add.score_id.input.value, bookmark_id: add.bookmark_id.input.value || undefined,
      pages: pages || undefined, note: add.note.input.value.trim() || undefined };
    addButton.disabled = true;
    enqueue(async () => {
      try {
        const { data: item } = await api.post(`${path}/items`, body);
        await load();
        add.pages.input.value = add.note.input.value = '';
        announce(`Added ${item.title} at position ${item.position + 1}`);
      } catch (error) {
        showProblem(addAlert, error, add);
      }
      addButton.disabled = false;
    });
  });

  // ----- Details -----
  const detailsAlert = alertSlot();
  const details = {
    name: field({ label: 'Name', name: 'name', attrs: { autocomplete: 'off' } }),
    event_date: field({ label: 'Event date', name: 'event_date', type: 'date' }),
    description: field({ label: 'Description', name: 'description', attrs: { autocomplete: 'off' } }),
    notes: field({ label: 'Notes', name: 'notes', tag: 'textarea', attrs: { rows: 4 } }),
  };
  const detailsId = nextId('details');
  const detailsForm = h('form', { class: 'card', 'aria-labelledby': detailsId, novalidate: true },
    h('h2', { id: detailsId }, 'Details'), detailsAlert.el,
    h('div', { class: 'field-grid' }, Object.values(details).map((f) => f.wrap)),
    h('button', { type: 'submit', class: 'primary' }, 'Save details'));
  let base = {};
  function fill() {
    base = { ...setlist };
    for (const [name, f] of Object.entries(details)) {
      f.input.value = setlist[name] ?? '';
      f.clear();
    }
  }
  detailsForm.addEventListener('submit', (event) => {
    event.preventDefault();
    detailsAlert.clear();
    const body = changes(details, base, ['name']);
    if (!Object.keys(body).length) return announce('No changes to save.');
    enqueue(async () => {
      try {
        adopt(await api.patch(path, body, ifMatch()));
        showName();
        fill();
        renderItems();
        announce('Saved');
      } catch (error) {
        if (error.status !== 412) return showProblem(detailsAlert, error, details);
        conflict(detailsAlert, 'setlist', async () => {
          await load(true);
          details.name.input.focus();
        });
      }
    });
  });

  // ----- Delete -----
  const pageAlert = alertSlot();
  const remove = h('button', { type: 'button', class: 'danger' }, 'Delete setlist');
  remove.addEventListener('click', () => {
    if (!confirm(`Delete the setlist “${setlist.name}”? Its scores stay in your library.`)) return;
    enqueue(async () => {
      try {
        await api.del(path);
        announce(`Deleted setlist “${setlist.name}”`);
        location.hash = '#/setlists';
      } catch (error) {
        pageAlert.show(error.message);
      }
    });
  });

  page.append(h1, date, pageAlert.el,
    h('section', { class: 'card', 'aria-labelledby': itemsId }, itemsHeading,
      h('p', { class: 'hint' }, 'Drag items to reorder them, or focus one and press Alt+Up or Alt+Down.'),
      itemsAlert.el, none, ol),
    addForm, detailsForm, remove);
  showName();
  renderItems();
  fill();
  await loadScores();
}
