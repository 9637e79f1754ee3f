// Sign in (#/signin), sign up (#/signup) and the investor profile (#/profile).

import {
  h,
  replaceChildren,
  field,
  messageBox,
  showMessage,
  clearMessage,
  normalizeField,
  uid,
  ROLE_LABELS,
  STAFF_ROLES,
} from './dom.js';
import { gql, caughtUp, getToken, GraphQLRequestError } from './graphql.js';
import { parseMoney, formatCents, formatInput, toCents } from './money.js';
import { ME_FIELDS, session, setSession, updateMe, clearSession, flash, navigate, safeNext, goSignIn, signInHref, signUpHref } from './session.js';
import { problemText, errorText } from './problems.js';
import { kycBadge } from './pledge.js';
import { knowledgeTestSection } from './knowledge.js';
import { needsTotp } from './security.js';

const AUTH_RESULT = `
  __typename
  ... on AuthPayload { token user { ${ME_FIELDS} } }
  ... on Problem { code message }
  ... on ValidationProblem { field }
`;

const SIGN_IN = `mutation SignIn($email: String!, $password: String!, $totp: String) { signIn(email: $email, password: $password, totp: $totp) { ${AUTH_RESULT} } }`;
const SIGN_UP = `mutation SignUp($input: SignUpInput!) { signUp(input: $input) { ${AUTH_RESULT} } }`;
const ME_QUERY = `query Me { me { ${ME_FIELDS} } }`;
// The user's own declarations, to fill the form in again (visible to them alone).
const MY_PROFILE_QUERY = `query MyProfile { me { ${ME_FIELDS} investorProfile {
  legalName dateOfBirth annualIncome netWorth otherRegCfInvestments12m } } }`;
const SUBMIT_PROFILE = `
mutation SubmitInvestorProfile($input: InvestorProfileInput!) {
  submitInvestorProfile(input: $input) {
    __typename
    ... on InvestorProfileSaved { position user { ${ME_FIELDS} } }
    ... on Problem { code message }
    ... on ValidationProblem { field }
  }
}`;

export function rolesText(roles) {
  return (roles || []).map((r) => ROLE_LABELS[r] || r).join(', ');
}

/** A declared amount as the person would type it in their locale ("85000,00" in de-DE). */
function typed(value) {
  const cents = toCents(value);
  return cents === null ? '' : formatInput(cents);
}

/** Place a Problem next to its field when the field is known, else in the form message. */
function placeProblem(problem, fields, msg) {
  const text = problemText(problem);
  const f = normalizeField(problem.field);
  const target = f && fields[f];
  if (target) {
    target.setError(text);
    if (target.input && typeof target.input.focus === 'function') target.input.focus();
  }
  showMessage(msg, 'error', text, { typename: problem.__typename, code: problem.code });
}

function submitButton(testid, label) {
  return h('button', { type: 'submit', class: 'button primary', testid }, label);
}

function setBusy(button, busy, idle, working) {
  button.disabled = busy;
  button.textContent = busy ? working : idle;
}

// ------------------------------------------------------------------ sign in

export function signInPage(main, params, ctx) {
  ctx.setTitle('Sign in');
  const next = safeNext(params.query.get('next'));
  const heading = h('h1', { tabindex: '-1' }, 'Sign in');
  const email = field({ name: 'email', label: 'E-mail', type: 'email', testid: 'signin-email', required: true, attrs: { autocomplete: 'username', spellcheck: 'false', autocapitalize: 'none' } });
  const password = field({ name: 'password', label: 'Password', type: 'password', testid: 'signin-password', required: true, attrs: { autocomplete: 'current-password' } });
  // Asked for once the server answers TOTP_REQUIRED: a code, or a recovery code.
  const totp = field({ name: 'totp', label: 'Code from your authenticator app (or a recovery code)', testid: 'signin-totp', attrs: { autocomplete: 'one-time-code', inputmode: 'text', spellcheck: 'false', autocapitalize: 'none' } });
  totp.wrap.hidden = true;
  const submit = submitButton('signin-submit', 'Sign in');
  const msg = messageBox('signin-message');
  const form = h('form', { class: 'panel form narrow', testid: 'signin-form', novalidate: true }, email.wrap, password.wrap, totp.wrap, h('p', { class: 'actions' }, submit), msg);
  const already = session.me
    ? h('p', { class: 'notice', testid: 'signin-already' }, `You are signed in as ${session.me.displayName}. Signing in again replaces that session.`)
    : null;
  replaceChildren(
    main,
    heading,
    already,
    form,
    h('p', {}, 'New here? ', h('a', { href: signUpHref(next), testid: 'signin-signup-link' }, 'Create an account')),
    h('p', {}, h('a', { href: '#/forgot', testid: 'signin-forgot-link' }, 'Forgot your password?')),
  );

  let busy = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (busy) return;
    email.clearError();
    password.clearError();
    clearMessage(msg);
    const emailValue = email.input.value.trim();
    const passwordValue = password.input.value;
    let invalid = false;
    if (!emailValue) {
      email.setError('Enter your e-mail address.');
      invalid = true;
    }
    if (!passwordValue) {
      password.setError('Enter your password.');
      invalid = true;
    }
    if (invalid) {
      showMessage(msg, 'error', 'Please fill in both fields.', { typename: 'ClientValidation' });
      (emailValue ? password : email).input.focus();
      return;
    }
    busy = true;
    setBusy(submit, true, 'Sign in', 'Signing in…');
    let result;
    try {
      const code = totp.wrap.hidden ? null : totp.input.value.trim() || null;
      const data = await gql(SIGN_IN, { email: emailValue, password: passwordValue, totp: code }, { quietAuth: true });
      result = data.signIn;
    } catch (err) {
      busy = false;
      setBusy(submit, false, 'Sign in', 'Signing in…');
      if (ctx.alive()) showMessage(msg, 'error', errorText(err), { typename: 'GraphQLError', code: err && err.code });
      return;
    }
    busy = false;
    setBusy(submit, false, 'Sign in', 'Signing in…');
    if (!ctx.alive()) return;
    if (result && result.token) {
      setSession(result.token, result.user);
      if (needsTotp(result.user)) {
        flash('Set up two-factor authentication to use your staff role.', 'info');
        navigate('/security');
        return;
      }
      flash(`Welcome back, ${result.user ? result.user.displayName : ''}.`, 'success');
      navigate(next || '/');
      return;
    }
    if (result && result.code === 'TOTP_REQUIRED') {
      totp.wrap.hidden = false;
      showMessage(msg, 'info', problemText(result), { typename: result.__typename, code: result.code });
      totp.input.focus();
      return;
    }
    placeProblem(result || {}, { email, password, totp }, msg);
  });
}

// ------------------------------------------------------------------ sign up

export function signUpPage(main, params, ctx) {
  ctx.setTitle('Create an account');
  const next = safeNext(params.query.get('next'));
  const heading = h('h1', { tabindex: '-1' }, 'Create an account');
  const displayName = field({ name: 'displayName', label: 'Display name', testid: 'signup-display-name', required: true, hint: 'Shown to founders of campaigns you back.', attrs: { autocomplete: 'nickname' } });
  const email = field({ name: 'email', label: 'E-mail', type: 'email', testid: 'signup-email', required: true, attrs: { autocomplete: 'email', spellcheck: 'false', autocapitalize: 'none' } });
  const password = field({ name: 'password', label: 'Password', type: 'password', testid: 'signup-password', required: true, hint: 'At least 10 characters. A passphrase works well.', attrs: { autocomplete: 'new-password' } });
  const submit = submitButton('signup-submit', 'Create account');
  const msg = messageBox('signup-message');
  const form = h('form', { class: 'panel form narrow', testid: 'signup-form', novalidate: true }, displayName.wrap, email.wrap, password.wrap, h('p', { class: 'actions' }, submit), msg);
  replaceChildren(main, heading, form, h('p', {}, 'Already have an account? ', h('a', { href: signInHref(next), testid: 'signup-signin-link' }, 'Sign in')));

  let busy = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (busy) return;
    for (const f of [displayName, email, password]) f.clearError();
    clearMessage(msg);
    const input = {
      displayName: displayName.input.value.trim(),
      email: email.input.value.trim(),
      password: password.input.value,
    };
    const missing = [];
    if (!input.displayName) missing.push([displayName, 'Enter a display name.']);
    if (!input.email) missing.push([email, 'Enter your e-mail address.']);
    if (!input.password) missing.push([password, 'Choose a password.']);
    if (missing.length) {
      for (const [f, text] of missing) f.setError(text);
      showMessage(msg, 'error', 'Please fill in every field.', { typename: 'ClientValidation' });
      missing[0][0].input.focus();
      return;
    }
    busy = true;
    setBusy(submit, true, 'Create account', 'Creating account…');
    let result;
    try {
      const data = await gql(SIGN_UP, { input }, { quietAuth: true });
      result = data.signUp;
    } catch (err) {
      busy = false;
      setBusy(submit, false, 'Create account', 'Creating account…');
      if (ctx.alive()) showMessage(msg, 'error', errorText(err), { typename: 'GraphQLError', code: err && err.code });
      return;
    }
    busy = false;
    setBusy(submit, false, 'Create account', 'Creating account…');
    if (!ctx.alive()) return;
    if (result && result.token) {
      setSession(result.token, result.user);
      flash('Your account is ready. Complete your investor profile before you pledge.', 'success');
      navigate(next || '/profile');
      return;
    }
    placeProblem(result || {}, { displayName, email, password }, msg);
  });
}

// ------------------------------------------------------------------ investor profile

const KYC_EXPLANATION = {
  NOT_SUBMITTED: 'Submit your investor profile below to start the identity check. You need a verified profile to pledge.',
  PENDING: 'Your profile is waiting for review by a risk officer.',
  VERIFIED: 'Your identity is verified: you can pledge.',
  REJECTED: 'Your identity check was rejected. Correct your details and submit the profile again.',
};

export function profilePage(main, _params, ctx) {
  ctx.setTitle('Your profile');
  if (!getToken()) {
    goSignIn('Sign in to see your investor profile.');
    return;
  }
  const heading = h('h1', { tabindex: '-1' }, 'Your profile');
  const status = messageBox('profile-page-message');
  const body = h('div', { class: 'profile' });
  replaceChildren(main, heading, status, body);

  async function load() {
    showMessage(status, 'info', 'Loading your profile…');
    let me;
    try {
      const data = await gql(MY_PROFILE_QUERY, {}, { allowPartial: true });
      me = data.me;
    } catch (err) {
      if (!ctx.alive()) return;
      if (err instanceof GraphQLRequestError && err.unauthenticated) return; // redirected to sign in
      const retry = h('button', { type: 'button', class: 'button small', testid: 'profile-retry', onclick: load }, 'Try again');
      showMessage(status, 'error', `Could not load your profile. ${errorText(err)}`, { extra: retry });
      return;
    }
    if (!ctx.alive()) return;
    if (!me) {
      clearSession();
      goSignIn('Your session has ended. Please sign in again.');
      return;
    }
    clearMessage(status);
    updateMe(me);
    render(me);
  }

  function render(me) {
    const profile = me.investorProfile || null;
    const kyc = profile ? profile.kycStatus : 'NOT_SUBMITTED';
    const kycHolder = h('span', {}, kycBadge(kyc));
    const kycText = h('p', { class: 'hint', testid: 'kyc-explanation' }, KYC_EXPLANATION[kyc] || '');

    const account = h(
      'section',
      { class: 'panel', 'aria-label': 'Account' },
      h('h2', {}, 'Account'),
      h(
        'dl',
        { class: 'facts' },
        h('div', {}, h('dt', {}, 'Display name'), h('dd', { testid: 'profile-display-name' }, me.displayName)),
        h('div', {}, h('dt', {}, 'E-mail'), h('dd', { testid: 'profile-email' }, me.email || '—')),
        h('div', {}, h('dt', {}, 'Roles'), h('dd', { testid: 'profile-roles', dataset: { roles: (me.roles || []).join(',') } }, rolesText((me.roles || []).filter((r) => STAFF_ROLES.includes(r))) || 'Backer and founder: you can pledge and raise')),
        h('div', {}, h('dt', {}, 'Identity check (KYC)'), h('dd', {}, kycHolder, kycText)),
      ),
    );

    // ---- form
    const declared = profile || {};
    const legalName = field({ name: 'legalName', label: 'Legal name', testid: 'profile-legal-name', required: true, hint: 'As shown on your passport or ID card.', attrs: { autocomplete: 'name', value: declared.legalName || '' } });
    const today = new Date().toISOString().slice(0, 10);
    const dateOfBirth = field({ name: 'dateOfBirth', label: 'Date of birth', type: 'date', testid: 'profile-dob', required: true, attrs: { autocomplete: 'bday', max: today, value: declared.dateOfBirth || '' } });
    const country = field({
      name: 'country',
      label: 'Country of residence',
      testid: 'profile-country',
      required: true,
      hint: 'Two-letter ISO code, for example US, DE or FR.',
      attrs: { maxlength: '2', autocomplete: 'country', autocapitalize: 'characters', spellcheck: 'false', class: 'short', value: profile ? profile.country : '' },
    });
    country.input.addEventListener('input', () => {
      const up = country.input.value.toUpperCase();
      if (up !== country.input.value) country.input.value = up;
    });
    const moneyAttrs = { inputmode: 'decimal', autocomplete: 'off', class: 'medium' };
    const annualIncome = field({ name: 'annualIncome', label: 'Annual income', testid: 'profile-annual-income', required: true, hint: `In USD for Reg CF, EUR for ECSP; e.g. ${formatInput(8500000n)}.`, attrs: { ...moneyAttrs, value: typed(declared.annualIncome) } });
    const netWorth = field({ name: 'netWorth', label: 'Net worth', testid: 'profile-net-worth', required: true, hint: `Excluding your primary residence; e.g. ${formatInput(15000000n)}.`, attrs: { ...moneyAttrs, value: typed(declared.netWorth) } });
    const other = field({
      name: 'otherRegCfInvestments12m',
      label: 'Reg CF investments on other platforms in the last 12 months (USD)',
      testid: 'profile-other-investments',
      attrs: { ...moneyAttrs, value: typed(declared.otherRegCfInvestments12m ?? '0.00') },
    });
    const accredited = field({
      name: 'accredited',
      type: 'checkbox',
      label: 'I am a US accredited investor',
      testid: 'profile-accredited',
      hint: 'Reg CF investment limits do not apply to accredited investors.',
      attrs: { checked: !!(profile && profile.accredited) },
    });
    const sophisticated = field({
      name: 'sophisticated',
      type: 'checkbox',
      label: 'I am an EU sophisticated investor',
      testid: 'profile-sophisticated',
      hint: 'ECSP risk warnings and the knowledge test do not apply to sophisticated investors.',
      attrs: { checked: !!(profile && profile.sophisticated) },
    });
    const submit = submitButton('profile-submit', profile ? 'Submit updated profile' : 'Submit profile');
    const msg = messageBox('profile-message');
    const form = h(
      'form',
      { class: 'panel form', testid: 'profile-form', novalidate: true, 'aria-labelledby': 'profile-form-heading' },
      h('h2', { id: 'profile-form-heading' }, 'Investor profile'),
      h('p', { class: 'hint', testid: 'profile-form-hint' }, profile ? 'Your profile as you last submitted it: change what is out of date and submit it again.' : 'Needed before your first pledge. A risk officer reviews it.'),
      legalName.wrap,
      dateOfBirth.wrap,
      country.wrap,
      annualIncome.wrap,
      netWorth.wrap,
      other.wrap,
      h('fieldset', { class: 'checks' }, h('legend', {}, 'Investor status'), accredited.wrap, sophisticated.wrap),
      h('p', { class: 'actions' }, submit),
      msg,
    );

    // The knowledge tests are served and graded by the server, one per regime.
    replaceChildren(body, account, form, knowledgeTestSection('REG_CF', ctx), knowledgeTestSection('ECSP', ctx));

    const fields = {
      legalName,
      dateOfBirth,
      country,
      annualIncome,
      netWorth,
      otherRegCfInvestments12m: other,
      accredited,
      sophisticated,
    };

    let busy = false;
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (busy) return;
      for (const f of Object.values(fields)) if (f.clearError) f.clearError();
      clearMessage(msg);

      const errors = [];
      const name = legalName.input.value.trim();
      if (!name) errors.push([legalName, 'Enter your legal name.']);
      const dob = dateOfBirth.input.value.trim();
      if (!/^\d{4}-\d{2}-\d{2}$/.test(dob)) errors.push([dateOfBirth, 'Enter your date of birth (YYYY-MM-DD).']);
      const cc = country.input.value.trim().toUpperCase();
      if (!/^[A-Z]{2}$/.test(cc)) errors.push([country, 'Enter a two-letter country code, for example US or DE.']);
      const income = parseMoney(annualIncome.input.value);
      if (income === null || income < 0n) errors.push([annualIncome, 'Enter your annual income as an amount, for example 85000.00.']);
      const worth = parseMoney(netWorth.input.value);
      if (worth === null || worth < 0n) errors.push([netWorth, 'Enter your net worth as an amount, for example 150000.00.']);
      const otherRaw = other.input.value.trim();
      const otherCents = otherRaw === '' ? 0n : parseMoney(otherRaw);
      if (otherCents === null || otherCents < 0n) errors.push([other, 'Enter an amount, or 0.']);
      if (errors.length) {
        for (const [f, text] of errors) f.setError(text);
        showMessage(msg, 'error', `Please correct ${errors.length === 1 ? 'the highlighted field' : `the ${errors.length} highlighted fields`}.`, { typename: 'ClientValidation' });
        errors[0][0].input.focus();
        return;
      }

      const input = {
        legalName: name,
        dateOfBirth: dob,
        country: cc,
        annualIncome: formatCents(income),
        netWorth: formatCents(worth),
        accredited: accredited.input.checked,
        sophisticated: sophisticated.input.checked,
        otherRegCfInvestments12m: formatCents(otherCents),
      };
      busy = true;
      setBusy(submit, true, submit.textContent, 'Submitting…');
      const idleLabel = profile ? 'Submit updated profile' : 'Submit profile';
      let result;
      try {
        const data = await gql(SUBMIT_PROFILE, { input });
        result = data.submitInvestorProfile;
      } catch (err) {
        busy = false;
        setBusy(submit, false, idleLabel, 'Submitting…');
        if (ctx.alive()) showMessage(msg, 'error', errorText(err), { typename: 'GraphQLError', code: err && err.code });
        return;
      }
      if (!ctx.alive()) return;
      if (result && result.__typename === 'InvestorProfileSaved') {
        await caughtUp(result.position);
        let user = result.user;
        try {
          const data = await gql(ME_QUERY, {}, { allowPartial: true });
          if (data.me) user = data.me;
        } catch {
          /* keep the mutation's answer */
        }
        busy = false;
        setBusy(submit, false, 'Submit updated profile', 'Submitting…');
        if (!ctx.alive()) return;
        if (user) {
          updateMe(user);
          const k = user.investorProfile ? user.investorProfile.kycStatus : 'PENDING';
          replaceChildren(kycHolder, kycBadge(k));
          kycText.textContent = KYC_EXPLANATION[k] || '';
        }
        showMessage(msg, 'success', `Profile submitted. Your identity check is ${user && user.investorProfile ? String(user.investorProfile.kycStatus).toLowerCase().replace(/_/g, ' ') : 'pending'}.`, {
          typename: 'InvestorProfileSaved',
        });
        return;
      }
      busy = false;
      setBusy(submit, false, idleLabel, 'Submitting…');
      placeProblem(result || {}, fields, msg);
    });
  }

  load();
}

