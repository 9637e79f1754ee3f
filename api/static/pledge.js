// The pledge panel of the campaign page: the amount (typed in the reader's locale), then a
// review-and-confirm step (shares and money, the terms, the documents read, the risk
// representation, the cancellation right with its exact deadline), then Confirm.
//
// Buttons are never `disabled` while a request runs (a disabled button loses focus and
// keyboard users land at the top of the page): they carry aria-disabled and are ignored.

import {
  h,
  append,
  replaceChildren,
  timeEl,
  field,
  messageBox,
  showMessage,
  humanize,
  normalizeField,
  newKey,
  uid,
  fmtDateTime,
  focusQuietly,
  REGIME_LABELS,
  SECURITY_LABELS,
  DOCUMENT_LABELS,
} from './dom.js';
import { gql, caughtUp, getToken, GraphQLRequestError, NetworkError } from './graphql.js';
import {
  toCents,
  readAmount,
  formatCents,
  formatInput,
  displayMoney,
  sharesFor,
  firstValidAmount,
  normalizeDecimal,
} from './money.js';
import { ME_FIELDS, updateMe, signInHref, signUpHref, refreshActionCount } from './session.js';
import { PLEDGE_RESULT, problemText, amountProblemText, errorText, isProblem, RISK_WARNING } from './problems.js';
import { offeringStatement } from './offering.js';

const ME_QUERY = `query Me { me { ${ME_FIELDS} } }`;
const LIMIT_QUERY = `
query InvestmentLimit($regime: Regime!) {
  investmentLimit(regime: $regime) { regime limit used remaining canBearToLose knowledgeTestPassed }
}`;
const WINDOW_QUERY = `query PledgeWindow($id: ID!) { campaign(id: $id) { id status deadline pledgeCancellableUntil } }`;
const PLEDGE_MUTATION = `mutation Pledge($input: PledgeInput!) { pledge(input: $input) { ${PLEDGE_RESULT} } }`;

const KYC_TEXT = { NOT_SUBMITTED: 'Not submitted', PENDING: 'Pending review', VERIFIED: 'Verified', REJECTED: 'Rejected' };

export function kycBadge(status, testid = 'kyc-status') {
  const s = status || 'NOT_SUBMITTED';
  return h('span', { class: `badge kyc-${s.toLowerCase()}`, testid, dataset: { status: s } }, KYC_TEXT[s] || humanize(s));
}

function plural(n, word) {
  const num = typeof n === 'bigint' ? n : BigInt(n || 0);
  return `${num} ${word}${num === 1n ? '' : 's'}`;
}

/** A button that ignores presses while `busy` without losing focus. */
function setBusy(button, busy, label) {
  button.setAttribute('aria-disabled', busy ? 'true' : 'false');
  button.classList.toggle('is-busy', busy);
  if (label) button.textContent = label;
}

const REPRESENTATION = {
  REG_CF: 'I understand that I may lose the entire amount of this investment, that the shares may be impossible to sell, and I can bear that loss (17 CFR 227.303(b)(2)).',
  ECSP: 'I have read the risk warning above: I may lose all of the money I invest, it is not covered by any deposit guarantee or investor compensation scheme, and I may not be able to sell the shares.',
};

export function pledgePanel(c, ctx, { onPledged }) {
  const headingId = uid('pledge');
  const el = h('aside', { class: 'panel pledge-panel', testid: 'pledge-section', 'aria-labelledby': headingId }, h('h2', { id: headingId }, 'Back this campaign'));
  const here = `/campaign/${encodeURIComponent(c.id)}`;
  const cur = c.currency;

  if (c.status !== 'LIVE') {
    const closed = h('p', { class: 'notice', testid: 'pledge-closed' }, closedText(c.status));
    append(el, [closed]);
    return { el, setStatus: (s) => { closed.textContent = closedText(s); } };
  }

  if (!getToken()) {
    append(el, [
      h('p', {}, 'Sign in to see your investment limit and to pledge.'),
      h(
        'p',
        { class: 'actions' },
        h('a', { class: 'button', href: signInHref(here), testid: 'pledge-signin' }, 'Sign in to pledge'),
        h('a', { class: 'button secondary', href: signUpHref(here), testid: 'pledge-signup' }, 'Create an account'),
      ),
    ]);
    return { el, setStatus() {} };
  }

  const priceC = toCents(c.pricePerShare);
  const minC = toCents(c.minPledge);
  const first = firstValidAmount(minC, priceC);
  const validPrice = priceC !== null && priceC > 0n;

  const closed = h('p', { class: 'notice', testid: 'pledge-closed', hidden: true });
  const kycLine = h('p', { class: 'kyc-line', testid: 'pledge-kyc' }, 'Identity check: ', h('span', { class: 'muted' }, 'loading…'));
  const gate = h('div', { class: 'notice', testid: 'pledge-kyc-required', hidden: true });
  const limitBox = h('div', { class: 'limit-box', testid: 'limit-box', 'aria-live': 'polite', hidden: true });
  const msg = messageBox('pledge-message', 'pledge-message');

  // ---- step 1: the amount
  const form = h('form', { class: 'pledge-form', testid: 'pledge-form', novalidate: true, hidden: true });
  const minHint = h('span', { testid: 'pledge-min', dataset: { value: normalizeDecimal(c.minPledge) } }, `Minimum pledge ${displayMoney(c.minPledge, cur)}`);
  const priceHint = h('span', { testid: 'pledge-price', dataset: { value: normalizeDecimal(c.pricePerShare) } }, `${displayMoney(c.pricePerShare, cur)} per share`);
  const amount = field({
    name: 'amount',
    label: `Amount (${cur})`,
    testid: 'pledge-amount',
    type: 'text',
    required: true,
    hint: [minHint, ' · ', priceHint, '. Amounts are rounded down to whole shares.'],
    attrs: { inputmode: 'decimal', autocomplete: 'off', spellcheck: 'false', value: formatInput(first) },
  });
  const less = h('button', { type: 'button', class: 'button secondary stepper', testid: 'pledge-less', 'aria-label': 'One share less' }, '−');
  const more = h('button', { type: 'button', class: 'button secondary stepper', testid: 'pledge-more', 'aria-label': 'One share more' }, '+');
  const sharesOut = h('output', { class: 'shares', testid: 'pledge-shares', for: amount.input.id, 'aria-live': 'polite' });
  const snappedOut = h('span', { class: 'muted', testid: 'pledge-snapped' });
  const inputRow = h('div', { class: 'amount-row' });
  amount.input.replaceWith(inputRow);
  append(inputRow, [less, amount.input, more]);
  amount.wrap.insertBefore(h('p', { class: 'shares-line' }, sharesOut, ' ', snappedOut), amount.error);
  const submit = h('button', { type: 'submit', class: 'button primary', testid: 'pledge-submit' }, 'Review pledge');
  append(form, [amount.wrap, h('p', { class: 'actions' }, submit)]);

  // ---- step 2: review and confirm
  const reviewHeadingId = uid('review');
  const review = h('section', { class: 'pledge-review', testid: 'pledge-review', 'aria-labelledby': reviewHeadingId, hidden: true });

  function readTyped() {
    const read = readAmount(amount.input.value, undefined, cur);
    if (read.error) return { ok: false, error: read.error, code: read.code };
    const cents = read.cents;
    if (cents <= 0n) return { ok: false, cents, error: 'Enter an amount greater than zero.' };
    if (!validPrice) return { ok: true, cents, shares: null, snapped: cents };
    const { shares, snapped } = sharesFor(cents, priceC);
    if (shares < 1n) {
      return { ok: false, cents, shares, snapped, error: `The amount must buy at least one share (${displayMoney(priceC, cur)} each).` };
    }
    if (minC !== null && snapped < minC) {
      const buys = snapped !== cents ? ` ${displayMoney(cents, cur)} buys ${plural(shares, 'share')} (${displayMoney(snapped, cur)}).` : '';
      return { ok: false, cents, shares, snapped, error: `The minimum pledge is ${displayMoney(minC, cur)}.${buys} The smallest possible pledge is ${displayMoney(first, cur)}.` };
    }
    return { ok: true, cents, shares, snapped };
  }

  function renderShares(r) {
    if (r.shares === null || r.shares === undefined) {
      sharesOut.textContent = validPrice ? '0 shares' : '';
      sharesOut.dataset.shares = '0';
      snappedOut.textContent = '';
      delete snappedOut.dataset.value;
      return;
    }
    sharesOut.textContent = plural(r.shares, 'share');
    sharesOut.dataset.shares = r.shares.toString();
    snappedOut.dataset.value = formatCents(r.snapped);
    snappedOut.textContent = r.cents !== undefined && r.snapped !== r.cents
      ? `— rounded down to ${displayMoney(r.snapped, cur)} (whole shares only)`
      : `= ${displayMoney(r.snapped, cur)}`;
  }

  // One idempotency key per pledge attempt: a retried confirm cannot pledge twice.
  let key = newKey();
  let keyCents = first;
  const rekey = (cents) => {
    key = newKey();
    keyCents = cents;
    form.dataset.idempotencyKey = key;
  };
  form.dataset.idempotencyKey = key;

  amount.input.addEventListener('input', () => {
    const r = readTyped();
    renderShares(r);
    amount.clearError();
    if (r.snapped !== undefined && r.snapped !== keyCents) rekey(r.snapped);
  });
  amount.input.addEventListener('change', () => {
    const r = readTyped();
    if (r.cents !== undefined && r.shares !== null && r.shares >= 1n && r.snapped !== r.cents) {
      amount.input.value = formatInput(r.snapped);
      renderShares(r);
      if (r.snapped !== keyCents) rekey(r.snapped);
    }
  });
  const stepBy = (dir) => {
    const r = readTyped();
    const base = r.snapped !== undefined ? r.snapped : null;
    let next = base === null || base <= 0n || !validPrice ? first : base + BigInt(dir) * priceC;
    if (next < first) next = first;
    amount.input.value = formatInput(next);
    amount.input.dispatchEvent(new Event('input'));
  };
  less.addEventListener('click', () => stepBy(-1));
  more.addEventListener('click', () => stepBy(1));
  renderShares(readTyped());

  // ---- KYC and the limit
  let limitRemainingEl = null;
  function renderKyc(me) {
    const status = me && me.investorProfile ? me.investorProfile.kycStatus : 'NOT_SUBMITTED';
    replaceChildren(
      kycLine,
      'Identity check (KYC): ',
      kycBadge(status),
      status !== 'VERIFIED'
        ? h('span', {}, ' — ', h('a', { href: '#/profile', testid: 'kyc-link' }, status === 'PENDING' ? 'view your profile' : 'complete your investor profile'))
        : null,
    );
    const verified = status === 'VERIFIED';
    kycVerified = verified;
    form.hidden = !verified || !review.hidden;
    limitBox.hidden = !verified;
    gate.hidden = verified;
    if (!verified) {
      replaceChildren(gate, status === 'PENDING'
        ? 'You can pledge once a risk officer has verified your identity. Your profile is waiting for review.'
        : 'Before you pledge, submit your investor profile for the identity check (KYC). ',
      status === 'PENDING' ? null : h('a', { href: '#/profile', testid: 'pledge-profile-link' }, 'Go to your investor profile'));
    }
  }

  let bearable = null; // ECSP: what the investor can bear to lose (Art. 21(5))
  let kycVerified = false;
  const testGate = h('div', { class: 'notice', testid: 'pledge-test-required', hidden: true });
  const testWarning = h('p', { class: 'notice', testid: 'pledge-test-warning', hidden: true },
    'You have not passed the ECSP knowledge test: read the risk warning carefully, you will acknowledge it on every pledge. ',
    h('a', { href: '#/profile' }, 'Take the test'));

  function renderTest(lim) {
    const passed = !!(lim && lim.knowledgeTestPassed);
    // 17 CFR 227.303(b)(2): a passed test before the first Reg CF pledge; ECSP warns.
    const blocked = c.regime === 'REG_CF' && !passed && kycVerified;
    testGate.hidden = !blocked;
    if (blocked) {
      replaceChildren(testGate, 'Before your first Reg CF pledge, pass the knowledge test about the risks of crowdfunding. ',
        h('a', { href: '#/profile', testid: 'pledge-test-link' }, 'Take the knowledge test'));
      form.hidden = true;
    }
    testWarning.hidden = !(c.regime === 'ECSP' && !passed && kycVerified);
  }

  function renderLimit(lim, problem) {
    if (lim && !problem) {
      bearable = lim.canBearToLose ?? null;
      renderTest(lim);
    }
    if (problem) {
      limitRemainingEl = h('span', { testid: 'limit-remaining', dataset: { value: '', unavailable: 'true' } }, 'unavailable');
      replaceChildren(limitBox, h('p', {}, 'Remaining investment limit: ', limitRemainingEl), h('p', { class: 'hint' }, problem));
      return;
    }
    const regimeLabel = REGIME_LABELS[lim.regime || c.regime] || c.regime;
    if (lim.limit === null || lim.limit === undefined) {
      limitRemainingEl = h('strong', { testid: 'limit-remaining', dataset: { value: '', unlimited: 'true' } }, 'No limit');
      replaceChildren(
        limitBox,
        h('p', {}, `Remaining investment limit under ${regimeLabel}: `, limitRemainingEl),
        h('p', { class: 'hint', testid: 'limit-detail' }, 'No investment limit applies to you under this regime.', lim.used && toCents(lim.used) > 0n ? ` You have invested ${displayMoney(lim.used, cur)} in the last 12 months.` : ''),
        lossSimulation(lim),
      );
      return;
    }
    limitRemainingEl = h('strong', { testid: 'limit-remaining', dataset: { value: normalizeDecimal(lim.remaining) } }, displayMoney(lim.remaining, cur));
    replaceChildren(
      limitBox,
      h('p', {}, `Remaining investment limit under ${regimeLabel}: `, limitRemainingEl),
      h('p', { class: 'hint', testid: 'limit-detail' }, `Limit ${displayMoney(lim.limit, cur)} over 12 months; used ${displayMoney(lim.used, cur)} (including declared investments on other platforms).`),
    );
  }

  function lossSimulation(lim) {
    if (lim.canBearToLose === null || lim.canBearToLose === undefined) return null;
    return h('p', { class: 'hint loss-simulation', testid: 'loss-simulation', dataset: { value: normalizeDecimal(lim.canBearToLose) } },
      'Loss-bearing simulation (ECSP Art. 21(5)): with the net worth you declared, you can bear to lose up to ',
      h('strong', {}, displayMoney(lim.canBearToLose, cur)), ' (10% of your net worth).');
  }

  function setRemaining(remaining) {
    if (limitRemainingEl && remaining !== undefined && remaining !== null) {
      limitRemainingEl.textContent = displayMoney(remaining, cur);
      limitRemainingEl.dataset.value = normalizeDecimal(remaining);
    }
  }

  async function loadMeAndLimit() {
    const [meRes, limRes] = await Promise.allSettled([gql(ME_QUERY, {}, { allowPartial: true }), gql(LIMIT_QUERY, { regime: c.regime })]);
    if (!ctx.alive()) return;
    if (meRes.status === 'fulfilled') {
      if (meRes.value.me) updateMe(meRes.value.me);
      renderKyc(meRes.value.me);
    } else {
      replaceChildren(kycLine, 'Identity check (KYC): ', h('span', { testid: 'kyc-status', dataset: { status: '' } }, 'unavailable'));
    }
    if (limRes.status === 'fulfilled' && limRes.value.investmentLimit) {
      renderLimit(limRes.value.investmentLimit);
    } else {
      const err = limRes.status === 'rejected' ? limRes.reason : null;
      let why = 'Your investment limit could not be loaded.';
      if (err instanceof GraphQLRequestError && !err.unauthenticated) why = `Your investment limit is not available: ${err.message}`;
      else if (err instanceof NetworkError) why = `Your investment limit could not be loaded: ${err.message}`;
      renderLimit(null, why);
    }
  }

  // ---- moving between the steps
  let chosen = null; // { cents, shares } under review
  const docsBox = h('input', { type: 'checkbox', name: 'documentsRead' });
  const docsField = field({ name: 'documentsRead', type: 'checkbox', testid: 'review-documents-read', control: docsBox, label: '' });
  const riskCheck = h('input', { type: 'checkbox', name: 'acknowledgeRisk' });
  const riskField = field({ name: 'acknowledgeRisk', type: 'checkbox', testid: 'review-risk', control: riskCheck, label: REPRESENTATION[c.regime] || REPRESENTATION.REG_CF });
  const confirm = h('button', { type: 'button', class: 'button primary', testid: 'pledge-confirm' }, 'Confirm pledge');
  const back = h('button', { type: 'button', class: 'button secondary', testid: 'pledge-back' }, 'Change amount');
  const cancelRight = h('p', { class: 'cancel-right', testid: 'review-cancel-right' });

  function showReview(r, window) {
    chosen = { cents: r.snapped, shares: r.shares };
    const statement = offeringStatement(c);
    const docLabel = statement ? DOCUMENT_LABELS[statement.kind] : 'offering statement';
    replaceChildren(
      docsField.wrap.querySelector('label'),
      statement
        ? ['I have read the ', h('a', { href: statement.url, target: '_blank', rel: 'noopener', testid: 'review-statement-link' }, `${docLabel} (${statement.name})`), ' and the risks of this offering.']
        : 'I have read the offering’s documents and its risks.',
    );
    const until = window && window.pledgeCancellableUntil;
    replaceChildren(
      cancelRight,
      until
        ? [
            h('strong', {}, 'Your right to cancel: '),
            'you can cancel this pledge without giving a reason until ',
            timeEl(until, { testid: 'review-cancel-until' }),
            c.regime === 'ECSP' ? ' (the 4-day reflection period).' : ' (48 hours before the deadline).',
          ]
        : [h('strong', {}, 'No right to cancel: '), h('span', { testid: 'review-cancel-until', dataset: { none: 'true' } }, 'the deadline is less than 48 hours away, so this pledge cannot be cancelled once confirmed.')],
    );
    replaceChildren(
      review,
      h('h3', { id: reviewHeadingId, tabindex: '-1' }, 'Review your pledge'),
      h(
        'dl',
        { class: 'facts review-facts' },
        h('div', {}, h('dt', {}, 'You pledge'), h('dd', { testid: 'review-amount', dataset: { value: formatCents(r.snapped) } }, displayMoney(r.snapped, cur))),
        h('div', {}, h('dt', {}, 'You receive'), h('dd', { testid: 'review-shares', dataset: { value: String(r.shares) } }, `${plural(r.shares, 'share')} of ${SECURITY_LABELS[c.securityType] ? SECURITY_LABELS[c.securityType].toLowerCase() : 'stock'} at ${displayMoney(c.pricePerShare, cur)} each`)),
        h('div', {}, h('dt', {}, 'Terms'), h('dd', { testid: 'review-terms' },
          `All or nothing: if ${displayMoney(c.minTarget, cur)} is not raised by `, timeEl(c.deadline), ', every pledge is refunded. ',
          c.valuation ? `Pre-money valuation ${displayMoney(c.valuation, cur)}.` : 'No valuation is stated.')),
      ),
      c.regime === 'ECSP' ? h('div', { class: 'risk-warning', testid: 'risk-warning' }, RISK_WARNING.map((t) => h('p', {}, t))) : null,
      bearable !== null && toCents(bearable) !== null && r.snapped > toCents(bearable)
        ? h('p', { class: 'notice', testid: 'review-loss-warning' }, `This pledge is more than you can bear to lose by the loss-bearing simulation (${displayMoney(bearable, cur)}, 10% of your net worth).`)
        : null,
      docsField.wrap,
      riskField.wrap,
      cancelRight,
      h('p', { class: 'actions' }, confirm, ' ', back),
    );
    review.hidden = false;
    form.hidden = true;
    focusQuietly(review.querySelector('h3'));
  }

  function showAmount({ focus = true } = {}) {
    review.hidden = true;
    form.hidden = false;
    chosen = null;
    if (focus) focusQuietly(amount.input);
  }

  back.addEventListener('click', () => showAmount());

  let inFlight = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (inFlight) return;
    amount.clearError();
    const r = readTyped();
    if (!r.ok) {
      amount.setError(r.error);
      showMessage(msg, 'error', r.error, { typename: 'ClientValidation', code: r.code || 'CLIENT_VALIDATION' });
      amount.input.focus();
      return;
    }
    if (r.snapped !== r.cents) {
      amount.input.value = formatInput(r.snapped);
      renderShares(readTyped());
    }
    if (keyCents !== r.snapped) rekey(r.snapped);
    inFlight = true;
    setBusy(submit, true);
    let window = null;
    try {
      window = (await gql(WINDOW_QUERY, { id: c.id }, { quietAuth: true })).campaign;
    } catch {
      /* shown as unknown below; the server still enforces the rules */
    }
    inFlight = false;
    setBusy(submit, false);
    if (!ctx.alive()) return;
    showMessage(msg, '', '');
    docsBox.checked = false;
    riskCheck.checked = false;
    docsField.clearError();
    riskField.clearError();
    showReview(r, window);
  });

  confirm.addEventListener('click', async () => {
    if (inFlight || !chosen) return;
    docsField.clearError();
    riskField.clearError();
    const missing = [];
    if (!docsBox.checked) missing.push([docsField, docsBox, 'Confirm that you have read the offering statement.']);
    if (!riskCheck.checked) missing.push([riskField, riskCheck, 'Confirm that you understand and can bear the risk of losing this money.']);
    if (missing.length) {
      for (const [f, , text] of missing) f.setError(text);
      showMessage(msg, 'error', missing.map(([, , t]) => t).join(' '), { typename: 'ClientValidation', code: 'REVIEW_INCOMPLETE' });
      missing[0][1].focus();
      return;
    }
    const input = { campaignId: c.id, amount: formatCents(chosen.cents), idempotencyKey: key, acknowledgeRisk: true };
    inFlight = true;
    setBusy(confirm, true, 'Pledging…');
    showMessage(msg, 'info', 'Placing your pledge…');
    let result;
    try {
      result = (await gql(PLEDGE_MUTATION, { input }, { retries: 2 })).pledge;
    } catch (err) {
      inFlight = false;
      setBusy(confirm, false, 'Confirm pledge');
      if (!ctx.alive()) return;
      if (err instanceof NetworkError) {
        showMessage(msg, 'error', `${err.message} Your pledge may or may not have been placed. Press “Confirm pledge” again to retry — it will not be placed twice.`, { typename: 'NetworkError', code: 'NETWORK' });
      } else {
        showMessage(msg, 'error', errorText(err), { typename: 'GraphQLError', code: err && err.code });
      }
      return;
    }
    if (!ctx.alive()) return;
    if (result && !isProblem(result) && (result.__typename === 'PledgeSaved' || result.pledge)) {
      const p = result.pledge || {};
      const shares = p.shares !== undefined && p.shares !== null ? plural(BigInt(p.shares), 'share') : '';
      const until = p.cancellableUntil ? ` You can cancel it until ${fmtDateTime(p.cancellableUntil)}.` : '';
      await caughtUp(result.position);
      inFlight = false;
      setBusy(confirm, false, 'Confirm pledge');
      if (!ctx.alive()) return;
      amount.input.value = formatInput(first);
      renderShares(readTyped());
      rekey(first);
      showAmount({ focus: false });
      showMessage(msg, 'success', `Pledge placed: ${shares} for ${displayMoney(p.amount, cur)} (${humanize(p.status)}).${until}`, {
        typename: 'PledgeSaved',
        extra: h('a', { href: '#/portfolio', testid: 'pledge-portfolio-link' }, 'View your portfolio'),
      });
      if (p.id) msg.dataset.pledgeId = p.id;
      focusQuietly(msg);
      onPledged();
      loadMeAndLimit();
      refreshActionCount();
      return;
    }
    inFlight = false;
    setBusy(confirm, false, 'Confirm pledge');
    // A Problem: nothing was placed, so the next attempt gets a new key.
    rekey(chosen.cents);
    showProblem(result);
  });

  const suggestButton = (remainingDec, label) => {
    const rem = toCents(remainingDec);
    if (rem === null || !validPrice) return null;
    const { snapped } = sharesFor(rem, priceC);
    if (snapped < first) return null;
    return h('button', {
      type: 'button',
      class: 'button small secondary',
      testid: 'pledge-suggest',
      onclick: () => {
        amount.input.value = formatInput(snapped);
        amount.input.dispatchEvent(new Event('input'));
        showAmount();
      },
    }, `${label} ${displayMoney(snapped, cur)}`);
  };

  function showProblem(p) {
    const text = problemText(p, cur);
    const opts = { typename: p && p.__typename, code: p && p.code };
    switch (p && p.__typename) {
      case 'InvestmentLimitExceeded':
        showAmount();
        amount.setError(amountProblemText(p, cur));
        setRemaining(p.remaining);
        showMessage(msg, 'error', text, { ...opts, extra: suggestButton(p.remaining, 'Pledge') });
        break;
      case 'MaxTargetExceeded':
        showAmount();
        amount.setError(amountProblemText(p, cur));
        showMessage(msg, 'error', text, { ...opts, extra: suggestButton(p.remaining, 'Pledge') });
        break;
      case 'RiskAcknowledgementRequired':
        riskField.setError(text);
        showMessage(msg, 'error', text, opts);
        riskCheck.focus();
        break;
      case 'ValidationProblem':
        if (normalizeField(p.field) === 'amount') {
          showAmount();
          amount.setError(text);
        }
        showMessage(msg, 'error', text, opts);
        break;
      case 'InvalidState': {
        const needsProfile = /kyc|verif|profile|identity|knowledge/i.test(`${p.code} ${p.message}`);
        showMessage(msg, 'error', text, { ...opts, extra: needsProfile ? h('a', { href: '#/profile', testid: 'pledge-profile-link' }, 'Go to your investor profile') : null });
        focusQuietly(msg);
        break;
      }
      default:
        showMessage(msg, 'error', text, opts);
        focusQuietly(msg);
    }
  }

  append(el, [closed, kycLine, gate, testGate, limitBox, testWarning, form, review, msg]);
  loadMeAndLimit();

  return {
    el,
    setStatus(s) {
      if (s !== 'LIVE') {
        closed.textContent = closedText(s);
        closed.hidden = false;
        form.hidden = true;
        review.hidden = true;
      }
    },
  };
}

function closedText(status) {
  if (status === 'DRAFT' || status === 'IN_REVIEW' || status === 'APPROVED' || status === 'REJECTED') {
    return `This campaign is not open for pledges yet (${humanize(status).toLowerCase()}).`;
  }
  return `This campaign is not accepting pledges (status: ${humanize(status)}).`;
}
