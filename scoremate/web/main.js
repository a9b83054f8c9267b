// Hash router, header (navigation, storage used, log out), start-up.

import * as api from './api.js';
import { h, replace, heading, formatBytes, announce } from './ui.js';
import { loginPage, registerPage, setFlash } from './auth.js';
import { libraryPage } from './library.js';
import { resetUploads } from './upload.js';
import { scorePage } from './score.js';
import { setlistsPage, setlistPage } from './setlists.js';

const routes = [
  [/^#\/login$/, loginPage],
  [/^#\/register$/, registerPage],
  [/^#\/library$/, libraryPage, 'library'],
  [/^#\/scores\/([\w-]+)$/, scorePage, 'library'],
  [/^#\/setlists$/, setlistsPage, 'setlists'],
  [/^#\/setlists\/([\w-]+)$/, setlistPage, 'setlists'],
];
const pageEl = document.getElementById('page');
const account = document.getElementById('account');
let ctx = null;
let returnTo = null;
let quietSignOut = false;

function notFound(page, _params, c) {
  c.title('Page not found');
  page.append(heading('Page not found'), h('p', {}, h('a', { href: '#/library' }, 'Go to the library')));
}

function toLogin(message) {
  returnTo = location.hash;
  setFlash(message);
  location.replace('#/login');
}

async function render() {
  const hash = location.hash;
  const [re, page, nav] = routes.find(([re]) => re.test(hash)) || [null, notFound, 'none'];
  const needsAuth = Boolean(nav);
  if (!re && !/^#\/.+/.test(hash)) return location.replace(api.hasSession() ? '#/library' : '#/login');
  if (needsAuth && !api.hasSession()) return toLogin();
  if (!needsAuth && api.hasSession()) return location.replace('#/library');
  if (needsAuth && !api.isSignedIn()) {
    // After a reload: trade the stored refresh token for an access token first.
    try {
      await api.refresh();
    } catch (error) {
      if (!api.hasSession()) return toLogin('Your session has ended. Please log in again.');
    }
    if (hash !== location.hash) return;
  }
  ctx?.dispose();
  const cleanups = [];
  const c = (ctx = {
    alive: true,
    returnTo,
    title: (text) => (document.title = `${text} · ScoreMate`),
    onCleanup: (fn) => cleanups.push(fn),
    every(ms, fn) {
      const id = setInterval(fn, ms);
      const stop = () => clearInterval(id);
      cleanups.push(stop);
      return stop;
    },
    dispose() {
      this.alive = false;
      cleanups.forEach((fn) => fn());
    },
  });
  if (needsAuth) returnTo = null;
  header(needsAuth, nav);
  pageEl.replaceChildren();
  try {
    await page(pageEl, re ? hash.match(re).slice(1) : [], c);
  } catch (error) {
    if (!c.alive) return;
    c.title('Error');
    replace(pageEl, heading('Something went wrong'), h('div', { role: 'alert', class: 'error' }, h('p', {}, error.message)));
  }
  // Focus the new page's heading, unless the user already moved into the page.
  if (c.alive && !pageEl.contains(document.activeElement)) pageEl.querySelector('h1')?.focus();
}

// ----- Header -----
const quotaText = h('span');
const meter = h('meter', { 'aria-label': 'Storage used', min: 0, max: 1, value: 0 });

function header(signedIn, nav) {
  if (!signedIn) return account.replaceChildren();
  if (!account.firstChild) {
    const out = h('button', { type: 'button' }, 'Log out');
    out.addEventListener('click', async () => {
      out.disabled = true;
      quietSignOut = true;
      await api.logout();
      quietSignOut = false;
      location.hash = '#/login';
      announce('You are logged out.');
    });
    const link = (name, text) => h('li', {}, h('a', { href: `#/${name}`, 'data-nav': name }, text));
    replace(account,
      h('nav', { 'aria-label': 'Main' }, h('ul', {}, link('library', 'Library'), link('setlists', 'Setlists'))),
      h('div', { class: 'quota' }, meter, quotaText),
      out);
    loadQuota();
  }
  for (const a of account.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

let quotaSeq = 0;
async function loadQuota() {
  const seq = ++quotaSeq;
  try {
    const { used_bytes: used, limit_bytes: limit, reserved_bytes: reserved } = (await api.get('/quota')).data;
    if (seq !== quotaSeq) return;
    Object.assign(meter, { max: Math.max(1, limit), low: limit * 0.75, high: limit * 0.9, optimum: 0, value: used });
    quotaText.textContent = `${formatBytes(used)} of ${formatBytes(limit)} used${reserved ? ` · ${formatBytes(reserved)} reserved` : ''}`;
  } catch {
    if (seq === quotaSeq) quotaText.textContent = 'Storage use unavailable';
  }
}
document.addEventListener('scoremate:quota', () => account.firstChild && loadQuota());

api.onSignOut(() => {
  resetUploads();
  account.replaceChildren();
  if (!quietSignOut && routes.some(([re, , nav]) => nav && re.test(location.hash))) {
    toLogin('Your session has ended. Please log in again.');
  }
});

document.getElementById('skip').addEventListener('click', (event) => {
  event.preventDefault();
  (pageEl.querySelector('h1') || document.getElementById('main')).focus();
});
window.addEventListener('hashchange', render);
render();
