// Who is signed in, plus small navigation helpers shared by the pages.

import { gql, getToken, setToken, GraphQLRequestError } from './graphql.js';

export const ME_FIELDS = `id email displayName roles totpEnabled investorProfile { kycStatus country accredited sophisticated knowledgeTestPassed }`;

// `actionCount`: the signed-in backer's pledges waiting for them (reconfirmations).
export const session = { me: null, actionCount: 0 };

const listeners = new Set();

export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit() {
  for (const fn of listeners) {
    try {
      fn(session.me);
    } catch {
      /* ignore */
    }
  }
}

export function isSignedIn() {
  return !!getToken();
}

export function setSession(token, user) {
  setToken(token);
  session.me = user || null;
  emit();
  refreshActionCount();
}

export function updateMe(user) {
  session.me = user || null;
  emit();
}

export function clearSession() {
  setToken(null);
  session.me = null;
  session.actionCount = 0;
  emit();
}

/** Count the pledges that need the backer (pending reconfirmation) for the nav badge. */
export async function refreshActionCount() {
  if (!getToken()) {
    session.actionCount = 0;
    emit();
    return 0;
  }
  try {
    const data = await gql('query ActionNeeded { myPledges { id status } }', {}, { quietAuth: true });
    session.actionCount = (data.myPledges || []).filter((p) => p.status === 'PENDING_RECONFIRMATION').length;
  } catch {
    /* keep the last count */
  }
  emit();
  return session.actionCount;
}

/** Re-read `me`. A token the server does not accept any more is dropped. */
export async function refreshMe({ quiet = true } = {}) {
  if (!getToken()) {
    session.me = null;
    emit();
    return null;
  }
  try {
    const data = await gql(`query Me { me { ${ME_FIELDS} } }`, {}, { quietAuth: quiet, allowPartial: true });
    if (!data.me) {
      clearSession();
      return null;
    }
    session.me = data.me;
    emit();
    return session.me;
  } catch (err) {
    if (err instanceof GraphQLRequestError && err.unauthenticated) clearSession();
    return session.me;
  }
}

// ------------------------------------------------------------------ navigation

let flashMessage = null;

/** A message shown once, after the next page render. */
export function flash(text, kind = 'info') {
  flashMessage = text ? { text, kind } : null;
}

export function takeFlash() {
  const f = flashMessage;
  flashMessage = null;
  return f;
}

/** The current route, e.g. "/campaign/abc" (query string included). */
export function currentPath() {
  return location.hash.replace(/^#/, '') || '/';
}

/** Only same-app routes are accepted as a place to return to after sign-in. */
export function safeNext(next) {
  if (!next || typeof next !== 'string') return null;
  if (!next.startsWith('/') || next.startsWith('//')) return null;
  if (next.startsWith('/signin') || next.startsWith('/signup')) return null;
  return next;
}

export function navigate(path) {
  const target = `#${path}`;
  if (location.hash === target) {
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = target;
  }
}

/** Send the user to the sign-in page, coming back here afterwards. */
export function goSignIn(message) {
  const here = currentPath();
  if (here.startsWith('/signin') || here.startsWith('/signup')) return;
  flash(message || 'Please sign in to continue.');
  const next = safeNext(here.split('?')[0]);
  navigate(next ? `/signin?next=${encodeURIComponent(next)}` : '/signin');
}

export function signInHref(next) {
  const n = safeNext(next);
  return n ? `#/signin?next=${encodeURIComponent(n)}` : '#/signin';
}

export function signUpHref(next) {
  const n = safeNext(next);
  return n ? `#/signup?next=${encodeURIComponent(n)}` : '#/signup';
}
