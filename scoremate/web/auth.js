// "Log in" and "Create account".

import * as api from './api.js';
import { h, field, alertSlot, showProblem, heading } from './ui.js';

let flash = null;
/** A message for the next login page ("your session has ended"). */
export const setFlash = (text) => (flash = text);

function page(el, ctx, { title, fields, submit, link, send }) {
  ctx.title(title);
  const alert = alertSlot();
  const button = h('button', { type: 'submit', class: 'primary' }, submit);
  const form = h('form', { class: 'card narrow', novalidate: true },
    alert.el, Object.values(fields).map((f) => f.wrap), h('div', { class: 'actions' }, button));
  if (flash) alert.show(flash);
  flash = null;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    alert.clear();
    Object.values(fields).forEach((f) => f.clear());
    button.disabled = true;
    try {
      const email = fields.email.input.value.trim();
      const password = fields.password.input.value;
      await send(email, password);
      await api.login(email, password);
      location.hash = ctx.returnTo || '#/library';
    } catch (error) {
      showProblem(alert, error, fields, fields.email.input);
    }
    button.disabled = false;
  });
  el.append(heading(title), form, h('p', {}, link[0], h('a', { href: link[1] }, link[2])));
}

const email = () => field({ label: 'Email', name: 'email', type: 'email',
  attrs: { autocomplete: 'username', required: true, spellcheck: 'false' } });

export function loginPage(el, _params, ctx) {
  page(el, ctx, {
    title: 'Log in',
    submit: 'Log in',
    fields: {
      email: email(),
      password: field({ label: 'Password', name: 'password', type: 'password',
        attrs: { autocomplete: 'current-password', required: true } }),
    },
    send: async () => {},
    link: ['New to ScoreMate? ', '#/register', 'Create an account'],
  });
}

export function registerPage(el, _params, ctx) {
  const fields = {
    email: email(),
    password: field({ label: 'Password', name: 'password', type: 'password', hint: 'At least 10 characters.',
      attrs: { autocomplete: 'new-password', required: true } }),
    display_name: field({ label: 'Display name', name: 'display_name', hint: 'Optional.', attrs: { autocomplete: 'nickname' } }),
  };
  page(el, ctx, {
    title: 'Create account',
    submit: 'Create account',
    fields,
    send: (email, password) => {
      const name = fields.display_name.input.value.trim();
      return api.post('/auth/register', { email, password, ...(name && { display_name: name }) }, { auth: false });
    },
    link: ['Already have an account? ', '#/login', 'Log in'],
  });
}
