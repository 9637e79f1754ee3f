// The backer web page: hash router, navigation and session wiring.
//
// Routes: #/  #/campaign/<id>  #/signin  #/signup  #/profile  #/portfolio  #/notifications
//         #/security  #/forgot  #/reset?token=…
//         #/risk/kyc  #/risk/reviews  #/risk/review/<id>  #/risk/alerts  (risk officers)
//         #/admin  (admins)
//         #/audit  #/audit/stream/<id>   (auditors: audit.js)
//         #/founder  #/founder/new  #/founder/campaign/<id>  #/founder/campaign/<id>/edit
// The server also serves the page at /campaigns/<id> (with Open Graph tags, for links
// that are shared): without a hash, that path opens the campaign.

import { h, replaceChildren, showMessage, clearMessage, startTicker, ROLE_LABELS, STAFF_ROLES } from './dom.js';
import { getToken, setUnauthenticatedHandler, TOKEN_STORAGE_KEY } from './graphql.js';
import { session, onSessionChange, refreshMe, refreshActionCount, clearSession, flash, takeFlash, goSignIn, navigate } from './session.js';
import { campaignsPage, campaignPage } from './campaigns.js';
import { signInPage, signUpPage, profilePage } from './account.js';
import { portfolioPage } from './portfolio.js';
import { notificationsPage, startBell } from './notices.js';
import { securityPage, forgotPage, resetPage, endSession } from './security.js';
import { kycQueuePage, reviewQueuePage, campaignReviewPage, amlAlertsPage } from './riskdesk.js';
import { adminPage } from './admin.js';
import { roleInForce } from './staff.js';
import { auditPage, auditStreamPage } from './audit.js';
import { myCampaignsPage, workspacePage } from './founder-workspace.js';
import { editorPage } from './founder-editor.js';

const ROUTES = [
  { pattern: /^\/?$/, page: campaignsPage, nav: 'campaigns' },
  { pattern: /^\/campaign\/([^/]+)\/?$/, page: campaignPage, nav: 'campaigns' },
  { pattern: /^\/signin\/?$/, page: signInPage, nav: 'signin' },
  { pattern: /^\/signup\/?$/, page: signUpPage, nav: 'signup' },
  { pattern: /^\/profile\/?$/, page: profilePage, nav: 'profile' },
  { pattern: /^\/portfolio\/?$/, page: portfolioPage, nav: 'portfolio' },
  { pattern: /^\/notifications\/?$/, page: notificationsPage, nav: 'notifications' },
  { pattern: /^\/security\/?$/, page: securityPage, nav: 'security' },
  { pattern: /^\/forgot\/?$/, page: forgotPage, nav: 'signin' },
  { pattern: /^\/reset\/?$/, page: resetPage, nav: 'signin' },
  { pattern: /^\/risk(?:\/kyc)?\/?$/, page: kycQueuePage, nav: 'risk' },
  { pattern: /^\/risk\/reviews\/?$/, page: reviewQueuePage, nav: 'risk' },
  { pattern: /^\/risk\/review\/([^/]+)\/?$/, page: campaignReviewPage, nav: 'risk' },
  { pattern: /^\/risk\/alerts\/?$/, page: amlAlertsPage, nav: 'risk' },
  { pattern: /^\/admin\/?$/, page: adminPage, nav: 'admin' },
  { pattern: /^\/audit\/?$/, page: auditPage, nav: 'audit' },
  { pattern: /^\/audit\/stream\/([^/]+)\/?$/, page: auditStreamPage, nav: 'audit' },
  { pattern: /^\/founder\/?$/, page: myCampaignsPage, nav: 'founder' },
  { pattern: /^\/founder\/new\/?$/, page: editorPage, nav: 'founder' },
  { pattern: /^\/founder\/campaign\/([^/]+)\/edit\/?$/, page: editorPage, nav: 'founder' },
  { pattern: /^\/founder\/campaign\/([^/]+)\/?$/, page: workspacePage, nav: 'founder' },
];

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

const view = { seq: 0, cleanups: [] };

function parseHash() {
  const shared = /^\/campaigns\/([^/]+)\/?$/.exec(location.pathname);
  const raw = location.hash.replace(/^#/, '') || (shared ? `/campaign/${shared[1]}` : '/');
  const q = raw.indexOf('?');
  const path = (q === -1 ? raw : raw.slice(0, q)) || '/';
  const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
  return { path, query };
}

function runCleanups() {
  const fns = view.cleanups.splice(0);
  for (const fn of fns) {
    try {
      fn();
    } catch {
      /* ignore */
    }
  }
}

function notFoundPage(main, _params, ctx) {
  ctx.setTitle('Page not found');
  replaceChildren(
    main,
    h('h1', { tabindex: '-1' }, 'Page not found'),
    h('p', { testid: 'not-found' }, 'There is nothing at this address. ', h('a', { href: '#/' }, 'See the live campaigns.')),
  );
}

function render({ focus = false } = {}) {
  runCleanups();
  view.seq += 1;
  const seq = view.seq;
  const ctx = {
    alive: () => seq === view.seq,
    onCleanup: (fn) => {
      if (seq === view.seq) view.cleanups.push(fn);
      else {
        try {
          fn();
        } catch {
          /* ignore */
        }
      }
    },
    setTitle: (title) => {
      if (seq === view.seq) document.title = `${title} · Crowdfund`;
    },
  };

  const { path, query } = parseHash();
  let route = null;
  let match = null;
  for (const r of ROUTES) {
    match = r.pattern.exec(path);
    if (match) {
      route = r;
      break;
    }
  }
  setActiveNav(route ? route.nav : null);
  renderNav();

  const main = document.getElementById('main');
  main.textContent = '';
  main.dataset.route = route ? route.nav : 'not-found';

  const appMessage = $('app-message');
  const f = takeFlash();
  if (f) showMessage(appMessage, f.kind, f.text);
  else clearMessage(appMessage);

  let id = null;
  if (match && match[1]) {
    try {
      id = decodeURIComponent(match[1]);
    } catch {
      id = match[1];
    }
  }
  const page = route ? route.page : notFoundPage;
  try {
    const out = page(main, { id, query }, ctx);
    if (out && typeof out.catch === 'function') out.catch(crash);
  } catch (err) {
    crash(err);
  }

  if (focus) {
    const target = main.querySelector('h1') || main;
    try {
      target.focus({ preventScroll: false });
    } catch {
      /* ignore */
    }
    window.scrollTo(0, 0);
  }
}

function crash(err) {
  // A bug in a page must not leave a blank screen.
  console.error(err); // eslint-disable-line no-console
  showMessage($('app-message'), 'error', 'Something went wrong on this page. Please reload.');
}

// ------------------------------------------------------------------ navigation bar

function setActiveNav(name) {
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.dataset.nav === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function renderNav() {
  const signedIn = !!getToken();
  for (const id of ['nav-signin', 'nav-signup']) {
    const el = $(id);
    if (el) el.closest('li').hidden = signedIn;
  }
  for (const id of ['nav-portfolio', 'nav-profile', 'nav-bell', 'nav-security', 'nav-signout', 'nav-user']) {
    const el = $(id);
    if (el) el.closest('li').hidden = !signedIn;
  }
  // Workspaces: shown only to users holding the role in force (staff: with TOTP on).
  for (const link of document.querySelectorAll('[data-nav-role]')) {
    link.closest('li').hidden = !(signedIn && roleInForce(session.me, link.dataset.navRole));
  }
  // Founders' workspace: every account holds FOUNDER; staff may not found campaigns.
  const founder = $('nav-founder');
  if (founder) {
    const roles = session.me && Array.isArray(session.me.roles) ? session.me.roles : [];
    founder.closest('li').hidden = !(signedIn && roles.includes('FOUNDER') && !roles.some((r) => STAFF_ROLES.includes(r)));
  }
  const name = $('nav-display-name');
  const roles = $('nav-roles');
  const me = session.me;
  if (name) name.textContent = me ? me.displayName : signedIn ? 'Signed in' : '';
  if (roles) {
    // Every account may back and found; only staff roles are worth a label.
    const list = me && Array.isArray(me.roles) ? me.roles.filter((r) => STAFF_ROLES.includes(r)) : [];
    roles.textContent = list.length ? list.map((r) => ROLE_LABELS[r] || r).join(', ') : '';
    roles.dataset.roles = list.join(',');
    roles.hidden = !list.length;
  }
  const count = $('nav-action-count');
  if (count) {
    const n = signedIn ? session.actionCount : 0;
    count.textContent = String(n);
    count.hidden = n === 0;
    count.setAttribute('aria-label', `${n} pledge${n === 1 ? '' : 's'} need${n === 1 ? 's' : ''} your action`);
  }
}

async function signOut() {
  await endSession();
  clearSession();
  flash('You have signed out.', 'info');
  navigate('/');
}

// ------------------------------------------------------------------ start

function boot() {
  startTicker();

  setUnauthenticatedHandler(() => {
    const hadToken = !!getToken();
    clearSession();
    goSignIn(hadToken ? 'Your session has ended. Please sign in again.' : 'Please sign in to continue.');
  });

  onSessionChange(renderNav);
  renderNav();

  const signout = $('nav-signout');
  if (signout) signout.addEventListener('click', signOut);

  const skip = document.querySelector('.skip-link');
  if (skip) {
    skip.addEventListener('click', (event) => {
      event.preventDefault();
      const main = document.getElementById('main');
      main.focus();
    });
  }

  // Another tab signed in or out.
  window.addEventListener('storage', (event) => {
    if (event.key !== TOKEN_STORAGE_KEY) return;
    refreshMe().then(() => render());
    refreshActionCount();
  });

  window.addEventListener('hashchange', () => render({ focus: true }));
  render({ focus: false });

  if (getToken()) {
    refreshMe();
    refreshActionCount();
  }
  startBell();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
