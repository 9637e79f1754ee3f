// Account security (#/security): two-factor authentication (TOTP) with its QR code
// and recovery codes, and the password change. Also signing out on the server.
//
// Staff (risk officers, auditors, admins) act only once TOTP is on: after they sign
// in without it, the page brings them here first.

import { h, replaceChildren, field, messageBox, showMessage, clearMessage } from './dom.js';
import { gql, getToken } from './graphql.js';
import { ME_FIELDS, session, setSession, refreshMe, flash, navigate, goSignIn } from './session.js';
import { problemText, errorText } from './problems.js';

const STAFF = ['RISK_OFFICER', 'AUDITOR', 'ADMIN'];
const PROBLEM = '... on Problem { code message } ... on ValidationProblem { field }';
const ENROLL = `mutation EnrollTotp { enrollTotp { __typename
  ... on TotpEnrollment { secret otpauthUri qrCode recoveryCodes } ... on Problem { code message } } }`;
const CONFIRM = `mutation ConfirmTotp($code: String!) { confirmTotp(code: $code) { __typename
  ... on AuthPayload { token user { ${ME_FIELDS} } } ${PROBLEM} } }`;
const CHANGE = `mutation ChangePassword($current: String!, $next: String!) {
  changePassword(currentPassword: $current, newPassword: $next) { __typename
  ... on AuthPayload { token user { ${ME_FIELDS} } } ${PROBLEM} } }`;
const SIGN_OUT = 'mutation SignOut { signOut { __typename } }';

/** Run a mutation with `button` disabled; its field of `data`, or null after showing
 * why in `msg` (a request that failed: network, GraphQL error). */
export async function send(query, variables, { msg, ctx, button, options }) {
  clearMessage(msg);
  if (button) button.disabled = true;
  try {
    const data = await gql(query, variables, options);
    return ctx.alive() ? Object.values(data)[0] : null;
  } catch (err) {
    if (ctx.alive()) showMessage(msg, 'error', errorText(err), { typename: 'GraphQLError' });
    return null;
  } finally {
    if (button) button.disabled = false;
  }
}

/** A Problem shown in `msg` (and beside `input` when given). */
export function refuse(result, msg, input) {
  if (input) input.setError(problemText(result));
  showMessage(msg, 'error', problemText(result), { typename: result.__typename, code: result.code });
}

/** Staff who hold a role they cannot use before TOTP is on. */
export function needsTotp(me) {
  return !!me && !me.totpEnabled && (me.roles || []).some((r) => STAFF.includes(r));
}

/** Revoke this token on the server (every replica refuses it afterwards). */
export async function endSession() {
  try {
    await gql(SIGN_OUT, {}, { quietAuth: true });
  } catch {
    /* the token is dropped locally anyway */
  }
}

export async function securityPage(main, _params, ctx) {
  ctx.setTitle('Security');
  const me = session.me || (getToken() ? await refreshMe() : null);
  if (!ctx.alive()) return;
  if (!me) {
    goSignIn('Please sign in to manage your account security.');
    return;
  }
  const heading = h('h1', { tabindex: '-1' }, 'Security');
  const notice = needsTotp(me)
    ? h('p', { class: 'notice', testid: 'security-staff-notice' },
      'Your staff role needs two-factor authentication. Set it up now to start using it.')
    : null;
  replaceChildren(main, heading, notice, totpSection(me, ctx), passwordSection(ctx));
}

function totpSection(me, ctx) {
  const msg = messageBox('totp-message');
  const status = h('p', { testid: 'totp-status' }, me.totpEnabled
    ? 'Two-factor authentication is on.'
    : 'Two-factor authentication is off.');
  const start = h('button', { type: 'button', class: 'button primary', testid: 'totp-start' },
    me.totpEnabled ? 'Move to a new device' : 'Set up an authenticator app');
  const slot = h('div', { testid: 'totp-enrollment' });
  const section = h('section', { class: 'panel', 'aria-labelledby': 'totp-heading' },
    h('h2', { id: 'totp-heading' }, 'Two-factor authentication'), status, start, slot, msg);
  start.addEventListener('click', async () => {
    const result = await send(ENROLL, {}, { msg, ctx, button: start });
    if (!result) return;
    if (result.__typename !== 'TotpEnrollment') {
      refuse(result, msg);
      return;
    }
    start.hidden = true;
    replaceChildren(slot, enrollmentView(result, msg, ctx));
  });
  return section;
}

function enrollmentView(enrollment, msg, ctx) {
  const code = field({ name: 'code', label: 'The 6-digit code your app shows', testid: 'totp-code', required: true,
    attrs: { inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9 ]*', maxlength: '8' } });
  const confirm = h('button', { type: 'submit', class: 'button primary', testid: 'totp-confirm' }, 'Turn on');
  const form = h('form', { class: 'form', novalidate: true, testid: 'totp-confirm-form' }, code.wrap, h('p', { class: 'actions' }, confirm));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    code.clearError();
    const value = code.input.value.replace(/\s/g, '');
    if (!/^\d{6}$/.test(value)) {
      code.setError('Enter the 6 digits your app shows.');
      code.input.focus();
      return;
    }
    const result = await send(CONFIRM, { code: value }, { msg, ctx, button: confirm });
    if (!result) return;
    if (result.__typename !== 'AuthPayload') {
      refuse(result, msg, code);
      return;
    }
    setSession(result.token, result.user);
    flash('Two-factor authentication is on. Keep your recovery codes somewhere safe.', 'success');
    navigate('/security');
  });
  return h('div', { class: 'totp-enrollment' },
    h('p', {}, 'Scan this code with an authenticator app (or type the key below), then enter the code it shows.'),
    h('img', { src: enrollment.qrCode, alt: 'QR code for your authenticator app', class: 'totp-qr', testid: 'totp-qr', width: '200', height: '200' }),
    h('p', {}, 'Key: ', h('code', { testid: 'totp-secret' }, enrollment.secret)),
    h('h3', {}, 'Recovery codes'),
    h('p', { class: 'hint' }, 'Each signs you in once if you lose the device. They are shown only now.'),
    h('ul', { class: 'recovery-codes', testid: 'totp-recovery-codes' }, enrollment.recoveryCodes.map((c) => h('li', {}, h('code', {}, c)))),
    form);
}

function passwordSection(ctx) {
  const msg = messageBox('password-message');
  const current = field({ name: 'currentPassword', label: 'Current password', type: 'password', testid: 'password-current', required: true, attrs: { autocomplete: 'current-password' } });
  const next = field({ name: 'newPassword', label: 'New password', type: 'password', testid: 'password-new', required: true, hint: 'At least 10 characters. Every other session is signed out.', attrs: { autocomplete: 'new-password' } });
  const submit = h('button', { type: 'submit', class: 'button', testid: 'password-submit' }, 'Change password');
  const form = h('form', { class: 'panel form narrow', novalidate: true, testid: 'password-form', 'aria-labelledby': 'password-heading' },
    h('h2', { id: 'password-heading' }, 'Password'), current.wrap, next.wrap, h('p', { class: 'actions' }, submit), msg);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    current.clearError();
    next.clearError();
    const result = await send(CHANGE, { current: current.input.value, next: next.input.value }, { msg, ctx, button: submit });
    if (!result) return;
    if (result.__typename !== 'AuthPayload') {
      refuse(result, msg, result.code === 'WEAK_PASSWORD' ? next : current);
      return;
    }
    setSession(result.token, result.user);
    current.input.value = '';
    next.input.value = '';
    showMessage(msg, 'success', 'Your password is changed; your other sessions are signed out.', { typename: 'AuthPayload' });
  });
  return form;
}

// ------------------------------------------------------------------ password reset

const REQUEST_RESET = 'mutation RequestReset($email: String!) { requestPasswordReset(email: $email) { ok } }';
const RESET = `mutation ResetPassword($token: String!, $password: String!, $totp: String) {
  resetPassword(token: $token, newPassword: $password, totp: $totp) { __typename
  ... on AuthPayload { token user { ${ME_FIELDS} } } ${PROBLEM} } }`;

/** #/forgot: ask for a reset link (the answer never says whether the account exists). */
export function forgotPage(main, _params, ctx) {
  ctx.setTitle('Reset your password');
  const email = field({ name: 'email', label: 'E-mail', type: 'email', testid: 'forgot-email', required: true, attrs: { autocomplete: 'username' } });
  const submit = h('button', { type: 'submit', class: 'button primary', testid: 'forgot-submit' }, 'Send a reset link');
  const msg = messageBox('forgot-message');
  const form = h('form', { class: 'panel form narrow', novalidate: true, testid: 'forgot-form' }, email.wrap, h('p', { class: 'actions' }, submit), msg);
  replaceChildren(main, h('h1', { tabindex: '-1' }, 'Reset your password'), form);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!(await send(REQUEST_RESET, { email: email.input.value.trim() }, { msg, ctx, button: submit }))) return;
    showMessage(msg, 'success', 'If an account uses this address, a link valid for 30 minutes is on its way.', { typename: 'PasswordResetRequested' });
  });
}

/** #/reset?token=…: the link from the mail (the token stays in the fragment: never sent
 * to a server log or as a referrer). */
export function resetPage(main, params, ctx) {
  ctx.setTitle('Choose a new password');
  const token = params.query.get('token') || '';
  const password = field({ name: 'newPassword', label: 'New password', type: 'password', testid: 'reset-password', required: true, hint: 'At least 10 characters. Every session is signed out.', attrs: { autocomplete: 'new-password' } });
  const totp = field({ name: 'totp', label: 'Code from your authenticator app (or a recovery code)', testid: 'reset-totp', attrs: { autocomplete: 'one-time-code' } });
  totp.wrap.hidden = true;
  const submit = h('button', { type: 'submit', class: 'button primary', testid: 'reset-submit' }, 'Set the new password');
  const msg = messageBox('reset-message');
  const form = h('form', { class: 'panel form narrow', novalidate: true, testid: 'reset-form' }, password.wrap, totp.wrap, h('p', { class: 'actions' }, submit), msg);
  replaceChildren(main, h('h1', { tabindex: '-1' }, 'Choose a new password'), form);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    password.clearError();
    const code = totp.wrap.hidden ? null : totp.input.value.trim() || null;
    const result = await send(RESET, { token, password: password.input.value, totp: code },
      { msg, ctx, button: submit, options: { quietAuth: true } });
    if (!result) return;
    if (result.__typename === 'AuthPayload') {
      setSession(result.token, result.user);
      flash('Your password is changed; every other session is signed out.', 'success');
      navigate('/');
      return;
    }
    if (result.code === 'TOTP_REQUIRED') totp.wrap.hidden = false;
    refuse(result, msg, result.code === 'WEAK_PASSWORD' ? password : null);
  });
}
