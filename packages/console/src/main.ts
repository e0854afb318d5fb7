import { ApiError, type Identity, identify, savedIdentity, saveIdentity } from './api.js';
import { h, show } from './dom.js';
import {
  apiPage,
  datasetsPage,
  historyPage,
  overviewPage,
  type PageContext,
  queryPage,
  rollupsPage,
  sessionsPage,
  statementResultPage,
} from './pages.js';

const main = document.getElementById('main') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const who = document.getElementById('who') as HTMLElement;
const signOut = document.getElementById('sign-out') as HTMLButtonElement;

const PAGES: Record<string, (context: PageContext) => Promise<void>> = {
  query: queryPage,
  history: historyPage,
  sessions: sessionsPage,
  datasets: datasetsPage,
  rollups: rollupsPage,
  overview: overviewPage,
  api: apiPage,
};

let leaving: AbortController | undefined;

function signIn(): void {
  nav.hidden = true;
  signOut.hidden = true;
  show(who);
  const key = h('input', { id: 'key', type: 'password', autocomplete: 'off', required: true, 'aria-label': 'API key' });
  const message = h('p', { id: 'sign-in-error', className: 'error', role: 'alert' });
  const form = h(
    'form',
    { className: 'sign-in card' },
    h('h1', {}, 'Sign in'),
    h('label', { for: 'key' }, 'A tenant API key, or an admin key'),
    key,
    h('button', { type: 'submit', className: 'primary' }, 'Sign in'),
    message,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    identify(key.value.trim())
      .then((identity) => {
        saveIdentity(identity);
        route();
      })
      .catch((error: unknown) => {
        show(message, error instanceof ApiError && error.status === 401 ? 'This key is not valid.' : String(error));
      });
  });
  show(main, form);
  key.focus();
}

function route(): void {
  leaving?.abort();
  const identity: Identity | undefined = savedIdentity();
  if (!identity) {
    signIn();
    return;
  }
  nav.hidden = false;
  signOut.hidden = false;
  show(who, identity.admin ? 'Operator (all tenants)' : `Tenant ${identity.tenant}`);
  const [page = 'query', ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  for (const link of nav.querySelectorAll('a')) {
    if (link.getAttribute('href') === `#/${page}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  leaving = new AbortController();
  const context: PageContext = {
    main,
    who: identity,
    signal: leaving.signal,
    go: (hash) => {
      location.hash = hash;
    },
  };
  const render =
    page === 'result' ? () => statementResultPage(context, rest[0] ?? '', rest[1] ?? '') : (PAGES[page] ?? PAGES.query);
  render?.(context).catch((error: unknown) => {
    if (context.signal.aborted) return;
    if (error instanceof ApiError && error.status === 401) {
      saveIdentity(undefined);
      signIn();
      return;
    }
    show(main, h('p', { className: 'error', role: 'alert' }, String(error)));
  });
}

signOut.addEventListener('click', () => {
  saveIdentity(undefined);
  location.hash = '#/query';
  route();
});
window.addEventListener('hashchange', route);
// Leaving a page aborts its requests on purpose: an abort nobody was left waiting for is no error.
window.addEventListener('unhandledrejection', (event) => {
  if (event.reason instanceof DOMException && event.reason.name === 'AbortError') event.preventDefault();
});
route();
