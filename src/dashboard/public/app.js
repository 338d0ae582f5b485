// The dashboard's shell: the login form, the navigation between the views (Cluster, Member,
// Store), and the token's life. The token lives in this tab's sessionStorage only (api.js); it is
// never put in a URL or a cookie. Any 401 forgets it and shows the login again.
import { api, clearToken, setToken, setUnauthorizedHandler, stream, token } from './api.js';
import { mountCluster } from './cluster.js';
import { describeError, el } from './dom.js';
import { mountStore } from './store.js';

const VIEWS = ['cluster', 'member', 'store'];

const loginSection = /** @type {HTMLElement} */ (document.getElementById('login'));
const loginForm = /** @type {HTMLFormElement} */ (document.getElementById('login-form'));
const loginInput = /** @type {HTMLInputElement} */ (document.getElementById('login-token'));
const loginError = /** @type {HTMLElement} */ (document.getElementById('login-error'));
const nav = /** @type {HTMLElement} */ (document.getElementById('nav'));
const logout = /** @type {HTMLElement} */ (document.getElementById('logout'));
const banner = /** @type {HTMLElement} */ (document.getElementById('banner'));

/** The mounted views by name; each may have show() (start polling) and hide() (stop). */
const mounted = new Map();
let currentView = null;

function section(name) {
  return /** @type {HTMLElement} */ (document.getElementById(`view-${name}`));
}

/** The member inspector is its own module (member.js); a page without it still works. */
async function mountMemberView(container) {
  try {
    const { mountMember } = await import('./member.js');
    return mountMember(container, { api, stream });
  } catch (error) {
    container.replaceChildren(el('h2', {}, ['Member']), el('p', { class: 'error' }, [`The member inspector did not load: ${describeError(error)}`]));
    return {};
  }
}

async function viewOf(name) {
  let view = mounted.get(name);
  if (view) return view;
  const container = section(name);
  if (name === 'cluster') view = mountCluster(container, { api });
  else if (name === 'store') view = mountStore(container, { api });
  else view = await mountMemberView(container);
  mounted.set(name, view);
  return view;
}

function requestedView() {
  const name = location.hash.replace(/^#/, '');
  return VIEWS.includes(name) ? name : 'cluster';
}

async function showView(name) {
  if (currentView && currentView !== name) mounted.get(currentView)?.hide?.();
  currentView = name;
  for (const other of VIEWS) section(other).hidden = other !== name;
  for (const button of nav.querySelectorAll('button[data-view]')) {
    if (button.getAttribute('data-view') === name) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
  }
  const view = await viewOf(name);
  // Another view may have been chosen while this one was loading.
  if (currentView === name) view.show?.();
}

function showLogin(message) {
  for (const view of mounted.values()) view.hide?.();
  currentView = null;
  for (const name of VIEWS) section(name).hidden = true;
  nav.hidden = true;
  logout.hidden = true;
  banner.hidden = true;
  loginSection.hidden = false;
  loginError.textContent = message ?? '';
  loginInput.value = '';
  loginInput.focus();
}

function showApp() {
  loginSection.hidden = true;
  loginError.textContent = '';
  nav.hidden = false;
  logout.hidden = false;
  void showView(requestedView());
}

setUnauthorizedHandler(() => {
  // Said once, in the login form: the views' own errors stop here.
  if (loginSection.hidden) showLogin('The admin token was refused (or is missing): sign in again.');
});

loginForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const value = loginInput.value.trim();
  if (value === '') return;
  setToken(value);
  loginInput.value = '';
  // A cheap admin read proves the token before any view polls with it.
  api('GET', '/v1/admin/rules').then(
    () => showApp(),
    (error) => {
      if (error && error.status === 401) showLogin('The admin token was refused: check ADMIN_TOKEN and try again.');
      else {
        clearToken();
        showLogin(`The service did not answer as expected: ${describeError(error)}`);
      }
    },
  );
});

nav.addEventListener('click', (event) => {
  const target = event.target instanceof Element ? event.target.closest('button[data-view]') : null;
  const name = target?.getAttribute('data-view');
  if (!name || !VIEWS.includes(name)) return;
  // The hash names the view only (so reload and back keep it); it never holds the token.
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  void showView(name);
});

window.addEventListener('hashchange', () => {
  if (token() !== null && loginSection.hidden) void showView(requestedView());
});

logout.addEventListener('click', () => {
  clearToken();
  showLogin('Signed out.');
});

if (token() === null) showLogin();
else showApp();
