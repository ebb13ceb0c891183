// The console's entry point: the sign-in form, the shell (left navigation, header with
// the signed-in ARN and sign-out) and the hash router (#/keys, #/buckets/<name>, ...).

import { ApiError, clearSession, loadSession, signIn } from './api.js';
import { button, clear, errorBanner, field, h, input } from './ui.js';
import { renderKeys } from './pages/keys.js';
import { renderGrants } from './pages/grants.js';
import { renderIam } from './pages/iam.js';
import { renderBuckets } from './pages/buckets.js';
import { renderBucket } from './pages/bucket.js';
import { renderAudit } from './pages/audit.js';
import { renderUsage } from './pages/usage.js';
import type { Route } from './route.js';


type Page = (main: HTMLElement, route: Route) => Promise<void>;

const NAV: Array<{ id: string; label: string; page: Page }> = [
  { id: 'keys', label: 'Keys', page: renderKeys },
  { id: 'grants', label: 'Grants', page: renderGrants },
  { id: 'iam', label: 'Users, groups & roles', page: renderIam },
  { id: 'buckets', label: 'Buckets', page: (main, r) => (r.parts[1] ? renderBucket(main, r) : renderBuckets(main, r)) },
  { id: 'audit', label: 'Audit', page: renderAudit },
  { id: 'usage', label: 'Usage', page: renderUsage },
];

const app = document.getElementById('app')!;

function currentRoute(): Route {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, qs] = raw.split('?', 2) as [string, string | undefined];
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(qs ?? '') };
}

/**
 * Shows the sign-in form, unless it is already shown: a later route() without a session
 * (a hashchange, a page of the signed-out session failing with NotSignedIn) must not
 * replace a form the user may already be typing into.
 */
function renderSignIn(): void {
  if (signingOut || app.querySelector('[data-testid=signin]')) return;
  const errors = h('div', { class: 'errors' });
  const region = input('region', { value: 'us-east-1' });
  const form = h(
    'form',
    { class: 'signin-form', 'data-testid': 'signin' },
    h('div', { class: 'brand brand-large' }, h('span', { class: 'brand-mark' }, 'C'), 'Coffer'),
    h('p', { class: 'subtitle' }, 'Sign in with an access key: the root credentials or an IAM user\u2019s. The console acts with exactly that principal\u2019s permissions.'),
    field('Access key ID', input('accessKeyId', { required: true, autocomplete: 'username' })),
    field('Secret access key', input('secretAccessKey', { type: 'password', required: true, autocomplete: 'current-password' })),
    h('details', { class: 'advanced' }, h('summary', {}, 'More options'), field('Session token (optional)', input('sessionToken')), field('Region', region, 'The server\u2019s region is found automatically when this one is wrong.')),
    errors,
    h('button', { type: 'submit', class: 'btn btn-primary btn-wide' }, 'Sign in'),
    h('p', { class: 'fineprint' }, 'Your secret stays in this browser tab (session storage) and is only used to sign requests.'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = new FormData(form);
    clear(errors);
    signIn(String(v.get('accessKeyId')).trim(), String(v.get('secretAccessKey')).trim(), String(v.get('sessionToken') ?? '').trim() || undefined, String(v.get('region')).trim() || 'us-east-1')
      .then(() => {
        // Without firing hashchange, which would render the shell a second time.
        if (!location.hash || location.hash === '#/') history.replaceState(null, '', '#/keys');
        void route();
      })
      .catch((err: unknown) => clear(errors, errorBanner(err)));
  });
  clear(app, h('main', { class: 'signin' }, form));
}

/** Set by sign-out: this document is on its way out, and draws nothing more. */
let signingOut = false;

/**
 * Signing out ends this document. A page still loading would otherwise go on: each call
 * reads the session when it is made, so after the next sign-in its later calls would be
 * signed with the next principal's keys (and land in the audit trail under that
 * principal), and it would draw into the next session's shell. The fresh document, at
 * the same address without its page (so no hashchange follows), finds the tab's session
 * storage already cleared and shows the sign-in form. Until it comes, the old page's
 * calls fail with NotSignedIn and it draws only into nodes no longer shown.
 */
function signOut(): void {
  signingOut = true;
  clearSession();
  clear(app);
  location.replace(location.pathname + location.search);
}

async function route(): Promise<void> {
  if (signingOut) return;
  const s = loadSession();
  if (!s) {
    renderSignIn();
    return;
  }
  const r = currentRoute();
  const current = NAV.find((n) => n.id === r.parts[0]) ?? NAV[0]!;
  document.querySelector('.panel-backdrop')?.remove();
  const main = h('main', { class: 'content', id: 'main' });
  const nav = h(
    'nav',
    { class: 'sidebar', 'aria-label': 'Sections' },
    h('div', { class: 'brand' }, h('span', { class: 'brand-mark' }, 'C'), 'Coffer'),
    h('ul', {}, ...NAV.map((n) => h('li', {}, h('a', { href: `#/${n.id}`, class: n === current ? 'active' : undefined, 'aria-current': n === current ? 'page' : undefined }, n.label)))),
  );
  const header = h(
    'header',
    { class: 'topbar' },
    h('span', { class: 'whoami' }, 'Signed in as ', h('code', { class: 'mono', 'data-testid': 'whoami' }, s.arn)),
    h('span', { class: 'region' }, s.region),
    button('Sign out', signOut),
  );
  clear(app, h('div', { class: 'shell' }, nav, h('div', { class: 'main-col' }, header, main)));
  document.title = `${current.label} \u2014 Coffer`;
  main.append(h('div', { class: 'loading' }, 'Loading\u2026'));
  try {
    await current.page(main, r);
  } catch (e) {
    if (e instanceof ApiError && e.code === 'NotSignedIn') return renderSignIn();
    clear(main, errorBanner(e));
  }
}

window.addEventListener('hashchange', () => void route());
void route();
