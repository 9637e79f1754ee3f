// The campaign list (#/) and the campaign page with the pledge form (#/campaign/<id>).

import {
  h,
  append,
  replaceChildren,
  timeEl,
  countdownEl,
  field,
  messageBox,
  showMessage,
  clearMessage,
  humanize,
  normalizeField,
  newKey,
  uid,
  fmtDateTime,
  REGIME_LABELS,
} from './dom.js';
import { gql, subscribe, caughtUp, getToken, GraphQLRequestError, NetworkError } from './graphql.js';
import {
  toCents,
  parseMoney,
  formatCents,
  displayMoney,
  sharesFor,
  firstValidAmount,
  percentOf,
  normalizeDecimal,
} from './money.js';
import { ME_FIELDS, updateMe, signInHref, signUpHref } from './session.js';
import { questionsSection } from './notices.js';
import { PLEDGE_RESULT, problemText, amountProblemText, errorText, isProblem, RISK_WARNING } from './problems.js';

const CARD_FIELDS = 'id title summary regime currency status minTarget maxTarget minPledge pricePerShare raised backerCount deadline';

const LIST_QUERY = `
query LiveCampaigns($after: String) {
  campaigns(status: LIVE, first: 20, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { ${CARD_FIELDS} } }
  }
}`;

const CAMPAIGN_QUERY = `
query Campaign($id: ID!) {
  campaign(id: $id) {
    ${CARD_FIELDS}
    launchedAt
    founder { id displayName }
    updates { id postedAt title body material }
  }
}`;

const PROGRESS_QUERY = `
query CampaignProgress($id: ID!) {
  campaign(id: $id) { id status raised backerCount }
}`;

const PROGRESS_SUBSCRIPTION = `
subscription CampaignProgress($id: ID!) {
  campaignProgress(campaignId: $id) { campaignId status raised backerCount position }
}`;

const ME_QUERY = `query Me { me { ${ME_FIELDS} } }`;

const LIMIT_QUERY = `
query InvestmentLimit($regime: Regime!) {
  investmentLimit(regime: $regime) { regime limit used remaining }
}`;

const PLEDGE_MUTATION = `
mutation Pledge($input: PledgeInput!) {
  pledge(input: $input) { ${PLEDGE_RESULT} }
}`;

const KYC_TEXT = {
  NOT_SUBMITTED: 'Not submitted',
  PENDING: 'Pending review',
  VERIFIED: 'Verified',
  REJECTED: 'Rejected',
};

export function kycBadge(status, testid = 'kyc-status') {
  const s = status || 'NOT_SUBMITTED';
  return h('span', { class: `badge kyc-${s.toLowerCase()}`, testid, dataset: { status: s } }, KYC_TEXT[s] || humanize(s));
}

export function statusBadge(status, testid = 'campaign-status') {
  return h('span', { class: `badge status-${String(status || '').toLowerCase()}`, testid, dataset: { status } }, humanize(status));
}

function regimeBadge(regime) {
  return h('span', { class: 'badge regime', testid: 'campaign-regime', dataset: { regime } }, REGIME_LABELS[regime] || regime);
}

function plural(n, word) {
  const num = typeof n === 'bigint' ? n : BigInt(n || 0);
  return `${num} ${word}${num === 1n ? '' : 's'}`;
}

// ------------------------------------------------------------------ progress bar

/** Progress bar with the raised amount and min/max target marks; update() applies new numbers. */
export function progressView(campaign) {
  let state = { ...campaign };
  const fill = h('div', { class: 'progress-fill' });
  const minMark = h('div', { class: 'progress-mark', 'aria-hidden': 'true' });
  const bar = h(
    'div',
    {
      class: 'progress',
      role: 'progressbar',
      testid: 'progress-bar',
      'aria-label': 'Funding progress towards the maximum target',
      'aria-valuemin': '0',
      'aria-valuemax': '100',
    },
    fill,
    minMark,
  );
  const raised = h('strong', { class: 'raised', testid: 'raised' });
  const ofMin = h('span', { class: 'of-min', testid: 'progress-percent' });
  const minLabel = h('span', { testid: 'min-target' });
  const maxLabel = h('span', { testid: 'max-target' });
  const backers = h('span', { testid: 'backer-count' });
  const el = h(
    'div',
    { class: 'progress-block' },
    h('p', { class: 'progress-headline' }, raised, ' raised ', ofMin),
    bar,
    h(
      'p',
      { class: 'progress-legend' },
      h('span', { class: 'legend-min' }, h('span', { class: 'legend-swatch', 'aria-hidden': 'true' }), 'Minimum target ', minLabel),
      h('span', { class: 'legend-max' }, 'Maximum ', maxLabel),
    ),
    h('p', { class: 'backers' }, backers),
  );

  function update(next) {
    state = { ...state, ...(next || {}) };
    const cur = state.currency;
    const r = toCents(state.raised) ?? 0n;
    const mn = toCents(state.minTarget);
    const mx = toCents(state.maxTarget);
    const pct = percentOf(r, mx);
    const minPct = percentOf(mn, mx);
    fill.style.width = `${pct}%`;
    minMark.style.left = `${minPct}%`;
    const reached = mn !== null && r >= mn;
    bar.classList.toggle('min-reached', reached);
    bar.setAttribute('aria-valuenow', String(pct));
    bar.setAttribute(
      'aria-valuetext',
      `${displayMoney(r, cur)} raised of ${displayMoney(mx, cur)} maximum; minimum target ${displayMoney(mn, cur)}${reached ? ' reached' : ''}`,
    );
    bar.dataset.raised = formatCents(r);
    bar.dataset.minTarget = normalizeDecimal(state.minTarget);
    bar.dataset.maxTarget = normalizeDecimal(state.maxTarget);
    raised.textContent = displayMoney(r, cur);
    raised.dataset.value = formatCents(r);
    const ofMinPct = mn && mn > 0n ? Number((r * 100n) / mn) : 0;
    ofMin.textContent = mn && mn > 0n ? `· ${ofMinPct}% of the minimum target${reached ? ' ✓' : ''}` : '';
    minLabel.textContent = displayMoney(mn, cur);
    minLabel.dataset.value = normalizeDecimal(state.minTarget);
    maxLabel.textContent = displayMoney(mx, cur);
    maxLabel.dataset.value = normalizeDecimal(state.maxTarget);
    const count = Number(state.backerCount) || 0;
    backers.textContent = `${count} backer${count === 1 ? '' : 's'}`;
    backers.dataset.value = String(count);
  }

  update();
  return { el, update };
}

// ------------------------------------------------------------------ list page

function campaignCard(c) {
  const progress = progressView(c);
  return h(
    'article',
    { class: 'card campaign-card', testid: 'campaign-card', dataset: { campaignId: c.id } },
    h('h2', { class: 'card-title' }, h('a', { href: `#/campaign/${encodeURIComponent(c.id)}`, class: 'stretched-link', testid: 'campaign-link' }, c.title)),
    h('p', { class: 'badges' }, regimeBadge(c.regime)),
    h('p', { class: 'summary', testid: 'campaign-summary' }, c.summary),
    progress.el,
    h(
      'p',
      { class: 'deadline' },
      countdownEl(c.deadline, { testid: 'time-left', future: '{t} left', past: 'Deadline passed' }),
      h('span', { class: 'muted' }, ' · ends '),
      timeEl(c.deadline, { class: 'muted' }),
    ),
  );
}

export function campaignsPage(main, _params, ctx) {
  ctx.setTitle('Live campaigns');
  const heading = h('h1', { tabindex: '-1' }, 'Live campaigns');
  const intro = h('p', { class: 'lead' }, 'Back early-stage companies with as little as one share. Every pledge can be cancelled during its cooling-off period.');
  const status = messageBox('campaigns-message');
  const list = h('ul', { class: 'card-grid', testid: 'campaign-list', 'aria-label': 'Live campaigns' });
  const empty = h('p', { class: 'empty', testid: 'campaigns-empty', hidden: true }, 'There are no live campaigns right now. Please check back soon.');
  const more = h('button', { type: 'button', class: 'button secondary', testid: 'load-more', hidden: true }, 'Load more campaigns');
  replaceChildren(main, heading, intro, status, list, empty, more);

  let cursor = null;
  let loading = false;

  async function load() {
    if (loading) return;
    loading = true;
    more.disabled = true;
    list.setAttribute('aria-busy', 'true');
    showMessage(status, 'info', cursor ? 'Loading more campaigns…' : 'Loading campaigns…');
    try {
      const data = await gql(LIST_QUERY, { after: cursor });
      if (!ctx.alive()) return;
      const conn = data.campaigns || { edges: [], pageInfo: { hasNextPage: false } };
      for (const edge of conn.edges || []) {
        if (edge && edge.node) list.append(h('li', {}, campaignCard(edge.node)));
      }
      cursor = conn.pageInfo ? conn.pageInfo.endCursor : null;
      more.hidden = !(conn.pageInfo && conn.pageInfo.hasNextPage && cursor);
      empty.hidden = list.children.length > 0;
      clearMessage(status);
    } catch (err) {
      if (!ctx.alive()) return;
      const retry = h('button', { type: 'button', class: 'button small', testid: 'campaigns-retry', onclick: load }, 'Try again');
      showMessage(status, 'error', `Could not load campaigns. ${errorText(err)}`, { extra: retry });
    } finally {
      loading = false;
      more.disabled = false;
      list.removeAttribute('aria-busy');
    }
  }

  more.addEventListener('click', load);
  load();
}

// ------------------------------------------------------------------ campaign page

export function campaignPage(main, params, ctx) {
  const id = params.id;
  ctx.setTitle('Campaign');
  const back = h('p', { class: 'back' }, h('a', { href: '#/', testid: 'back-to-list' }, '← All campaigns'));
  const heading = h('h1', { tabindex: '-1', testid: 'campaign-title' }, 'Loading campaign…');
  const status = messageBox('campaign-message');
  const body = h('div', { class: 'campaign-body' });
  replaceChildren(main, back, heading, status, body);

  async function load() {
    showMessage(status, 'info', 'Loading…');
    let campaign;
    try {
      const data = await gql(CAMPAIGN_QUERY, { id });
      campaign = data.campaign;
    } catch (err) {
      if (!ctx.alive()) return;
      heading.textContent = 'Campaign unavailable';
      const retry = h('button', { type: 'button', class: 'button small', testid: 'campaign-retry', onclick: load }, 'Try again');
      showMessage(status, 'error', `Could not load the campaign. ${errorText(err)}`, { extra: retry });
      return;
    }
    if (!ctx.alive()) return;
    clearMessage(status);
    if (!campaign) {
      heading.textContent = 'Campaign not found';
      ctx.setTitle('Campaign not found');
      replaceChildren(body, h('p', { testid: 'campaign-not-found' }, 'There is no campaign at this address. ', h('a', { href: '#/' }, 'See the live campaigns.')));
      return;
    }
    renderCampaign(campaign);
  }

  function renderCampaign(c) {
    heading.textContent = c.title;
    ctx.setTitle(c.title);
    const badge = statusBadge(c.status);
    const progress = progressView(c);
    const live = h('p', { class: 'live-status', testid: 'live-status', dataset: { mode: 'connecting' } }, 'Connecting to live updates…');
    const cur = c.currency;

    const facts = h(
      'dl',
      { class: 'facts' },
      h('div', {}, h('dt', {}, 'Price per share'), h('dd', { testid: 'price-per-share', dataset: { value: normalizeDecimal(c.pricePerShare) } }, displayMoney(c.pricePerShare, cur))),
      h('div', {}, h('dt', {}, 'Minimum pledge'), h('dd', { testid: 'min-pledge', dataset: { value: normalizeDecimal(c.minPledge) } }, displayMoney(c.minPledge, cur))),
      h(
        'div',
        {},
        h('dt', {}, 'Deadline'),
        h('dd', {}, timeEl(c.deadline, { testid: 'deadline' }), h('br'), countdownEl(c.deadline, { testid: 'time-left', future: '{t} left', past: 'Deadline passed' })),
      ),
      c.launchedAt ? h('div', {}, h('dt', {}, 'Launched'), h('dd', {}, timeEl(c.launchedAt, { testid: 'launched-at' }))) : null,
      h('div', {}, h('dt', {}, 'Offered under'), h('dd', {}, REGIME_LABELS[c.regime] || c.regime, ` · ${c.currency}`)),
      c.founder ? h('div', {}, h('dt', {}, 'Founder'), h('dd', { testid: 'campaign-founder' }, c.founder.displayName)) : null,
    );

    const updates = (c.updates || []).slice().sort((a, b) => String(b.postedAt).localeCompare(String(a.postedAt)));
    const updatesHeadingId = uid('updates');
    const updatesSection = h(
      'section',
      { class: 'updates campaign-updates', testid: 'updates', 'aria-labelledby': updatesHeadingId },
      h('h2', { id: updatesHeadingId }, 'Updates from the founder'),
      updates.length
        ? h(
            'ol',
            { class: 'update-list' },
            updates.map((u) =>
              h(
                'li',
                {},
                h(
                  'article',
                  { class: `update${u.material ? ' material' : ''}`, testid: 'update-item', dataset: { updateId: u.id, material: String(!!u.material) } },
                  h('h3', {}, u.title, u.material ? h('span', { class: 'badge material-badge', testid: 'update-material' }, 'Material change') : null),
                  h('p', { class: 'muted' }, 'Posted ', timeEl(u.postedAt)),
                  h('p', { class: 'update-body' }, u.body),
                ),
              ),
            ),
          )
        : h('p', { class: 'empty', testid: 'updates-empty' }, 'No updates yet.'),
    );

    const panel = pledgePanel(c, ctx, {
      onPledged: () => refreshProgress(),
    });

    replaceChildren(
      body,
      h('p', { class: 'badges' }, badge, ' ', regimeBadge(c.regime)),
      h(
        'div',
        { class: 'campaign-grid' },
        h(
          'div',
          { class: 'campaign-main' },
          h('p', { class: 'summary lead', testid: 'campaign-summary' }, c.summary),
          h('section', { class: 'panel', 'aria-label': 'Funding progress', testid: 'campaign-progress' }, progress.el, live),
          facts,
        ),
        panel.el,
        updatesSection,
        questionsSection(c, ctx),
      ),
    );

    // ---- live progress: subscription first, polling as the fallback
    let lastPosition = -1;
    let currentStatus = c.status;
    const apply = (p, position) => {
      if (!ctx.alive() || !p) return;
      if (position !== undefined && position !== null) {
        const pos = Number(position);
        if (pos < lastPosition) return;
        lastPosition = pos;
      }
      progress.update({ raised: p.raised, backerCount: p.backerCount });
      if (p.status && p.status !== currentStatus) {
        currentStatus = p.status;
        badge.textContent = humanize(p.status);
        badge.dataset.status = p.status;
        badge.className = `badge status-${p.status.toLowerCase()}`;
        panel.setStatus(p.status);
      }
    };

    async function refreshProgress() {
      try {
        const data = await gql(PROGRESS_QUERY, { id: c.id }, { quietAuth: true });
        if (data.campaign) apply(data.campaign);
      } catch {
        /* the next poll or event will catch up */
      }
    }

    let pollTimer = null;
    let polling = false;
    const setLive = (mode, text) => {
      live.dataset.mode = mode;
      live.textContent = text;
    };
    const startPolling = () => {
      if (polling || !ctx.alive()) return;
      polling = true;
      setLive('polling', 'Live updates unavailable — refreshing every 3 seconds.');
      const tick = async () => {
        if (!ctx.alive()) return;
        await refreshProgress();
        if (ctx.alive()) pollTimer = setTimeout(tick, 3000);
      };
      pollTimer = setTimeout(tick, 0);
    };
    ctx.onCleanup(() => clearTimeout(pollTimer));

    const sub = subscribe(PROGRESS_SUBSCRIPTION, { id: c.id }, {
      onLive: () => {
        if (ctx.alive()) setLive('ws', 'Live: progress updates as pledges arrive.');
      },
      onData: (data) => {
        const p = data && data.campaignProgress;
        if (p) apply(p, p.position);
      },
      onFallback: () => startPolling(),
    });
    ctx.onCleanup(() => sub.close());
  }

  load();
}

// ------------------------------------------------------------------ pledge panel

function pledgePanel(c, ctx, { onPledged }) {
  const headingId = uid('pledge');
  const el = h('aside', { class: 'panel pledge-panel', testid: 'pledge-section', 'aria-labelledby': headingId }, h('h2', { id: headingId }, 'Back this campaign'));
  const here = `/campaign/${encodeURIComponent(c.id)}`;

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

  const cur = c.currency;
  const priceC = toCents(c.pricePerShare);
  const minC = toCents(c.minPledge);
  const first = firstValidAmount(minC, priceC);
  const validPrice = priceC !== null && priceC > 0n;

  // ---- status, KYC and limit
  const closed = h('p', { class: 'notice', testid: 'pledge-closed', hidden: c.status === 'LIVE' }, '');
  const setClosedText = (s) => {
    closed.textContent = `This campaign is not accepting pledges (status: ${humanize(s)}).`;
  };
  setClosedText(c.status);

  const kycLine = h('p', { class: 'kyc-line', testid: 'pledge-kyc' }, 'Identity check: ', h('span', { class: 'muted' }, 'loading…'));
  const limitBox = h('div', { class: 'limit-box', testid: 'limit-box', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading your investment limit…'));

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
  }

  let limitRemainingEl = null;
  function renderLimit(lim, problem) {
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
        h('p', { class: 'hint', testid: 'limit-detail' }, 'No investment limit applies to you under this regime.', lim.used ? ` You have invested ${displayMoney(lim.used, cur)} in the last 12 months.` : ''),
      );
      return;
    }
    limitRemainingEl = h('strong', { testid: 'limit-remaining', dataset: { value: normalizeDecimal(lim.remaining) } }, displayMoney(lim.remaining, cur));
    replaceChildren(
      limitBox,
      h('p', {}, `Remaining investment limit under ${regimeLabel}: `, limitRemainingEl),
      h(
        'p',
        { class: 'hint', testid: 'limit-detail' },
        `Limit ${displayMoney(lim.limit, cur)} over 12 months; used ${displayMoney(lim.used, cur)} (including declared investments on other platforms).`,
      ),
    );
  }

  function setRemaining(remaining) {
    if (limitRemainingEl && remaining !== undefined && remaining !== null) {
      limitRemainingEl.textContent = displayMoney(remaining, cur);
      limitRemainingEl.dataset.value = normalizeDecimal(remaining);
      delete limitRemainingEl.dataset.unlimited;
      delete limitRemainingEl.dataset.unavailable;
    }
  }

  async function loadMeAndLimit() {
    const [meRes, limRes] = await Promise.allSettled([
      gql(ME_QUERY, {}, { allowPartial: true }),
      gql(LIMIT_QUERY, { regime: c.regime }),
    ]);
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

  // ---- the form
  const form = h('form', { class: 'pledge-form', testid: 'pledge-form', novalidate: true, hidden: c.status !== 'LIVE' });

  const minHint = h('span', { testid: 'pledge-min', dataset: { value: normalizeDecimal(c.minPledge) } }, `Minimum pledge ${displayMoney(c.minPledge, cur)}`);
  const priceHint = h('span', { testid: 'pledge-price', dataset: { value: normalizeDecimal(c.pricePerShare) } }, `${displayMoney(c.pricePerShare, cur)} per share`);
  const amount = field({
    name: 'amount',
    label: `Amount (${cur})`,
    testid: 'pledge-amount',
    type: 'number',
    required: true,
    hint: [minHint, ' · ', priceHint, '. Amounts are rounded down to whole shares.'],
    attrs: {
      inputmode: 'decimal',
      autocomplete: 'off',
      step: validPrice ? formatCents(priceC) : '0.01',
      min: formatCents(first),
      value: formatCents(first),
    },
  });
  const less = h('button', { type: 'button', class: 'button secondary stepper', testid: 'pledge-less', 'aria-label': 'One share less' }, '−');
  const more = h('button', { type: 'button', class: 'button secondary stepper', testid: 'pledge-more', 'aria-label': 'One share more' }, '+');
  const sharesOut = h('output', { class: 'shares', testid: 'pledge-shares', for: amount.input.id, 'aria-live': 'polite' });
  const snappedOut = h('span', { class: 'muted', testid: 'pledge-snapped' });
  // Put the steppers next to the input, inside the field wrapper.
  const inputRow = h('div', { class: 'amount-row' });
  amount.input.replaceWith(inputRow);
  append(inputRow, [less, amount.input, more]);
  amount.wrap.insertBefore(h('p', { class: 'shares-line' }, sharesOut, ' ', snappedOut), amount.error);

  // Risk warning: shown once the server asks for an acknowledgement.
  const riskHeadingId = uid('risk');
  const riskCheckbox = h('input', { type: 'checkbox', name: 'acknowledgeRisk' });
  const riskField = field({
    name: 'acknowledgeRisk',
    type: 'checkbox',
    testid: 'risk-ack',
    control: riskCheckbox,
    label: 'I have read and understood the risk warning, and I accept that I may lose the entire amount I invest.',
  });
  const riskThreshold = h('p', { class: 'hint', testid: 'risk-threshold' });
  const riskBox = h(
    'div',
    { class: 'risk-box', testid: 'risk-box', hidden: true, role: 'group', 'aria-labelledby': riskHeadingId },
    h('h3', { id: riskHeadingId }, 'Risk warning'),
    h('div', { class: 'risk-warning', testid: 'risk-warning' }, RISK_WARNING.map((t) => h('p', {}, t))),
    riskThreshold,
    riskField.wrap,
  );

  const submit = h('button', { type: 'submit', class: 'button primary', testid: 'pledge-submit' }, 'Pledge');
  const msg = messageBox('pledge-message', 'pledge-message');
  append(form, [amount.wrap, riskBox, h('p', { class: 'actions' }, submit), msg]);

  // ---- amount helper
  function readAmount() {
    const raw = amount.input.value;
    if (raw === '' || raw === null) {
      if (amount.input.validity && amount.input.validity.badInput) {
        return { ok: false, error: 'Enter the amount as a number, for example 250.00.' };
      }
      return { ok: false, error: 'Enter an amount.' };
    }
    const cents = parseMoney(raw);
    if (cents === null) return { ok: false, error: 'Enter an amount with at most 2 decimals, for example 250.00.' };
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
      return;
    }
    sharesOut.textContent = plural(r.shares, 'share');
    sharesOut.dataset.shares = r.shares.toString();
    snappedOut.dataset.value = formatCents(r.snapped);
    if (r.cents !== undefined && r.snapped !== r.cents) {
      snappedOut.textContent = `— rounded down to ${displayMoney(r.snapped, cur)} (whole shares only)`;
    } else {
      snappedOut.textContent = `= ${displayMoney(r.snapped, cur)}`;
    }
  }

  // ---- idempotency: one key per pledge attempt
  let key = null;
  let keyCents = null;
  const rekey = (cents) => {
    key = newKey();
    keyCents = cents;
    form.dataset.idempotencyKey = key;
  };
  rekey(first); // the form is prepared with the first valid amount

  const onAmountChanged = () => {
    const r = readAmount();
    renderShares(r);
    amount.clearError();
    if (r.snapped !== undefined && r.snapped !== keyCents) rekey(r.snapped);
  };

  amount.input.addEventListener('input', onAmountChanged);
  amount.input.addEventListener('change', () => {
    // Snap to whole shares when the person leaves the field.
    const r = readAmount();
    if (r.cents !== undefined && r.shares !== null && r.shares >= 1n && r.snapped !== r.cents) {
      amount.input.value = formatCents(r.snapped);
      // Keep the "rounded down to …" note (and any error) as it is: this runs when the
      // field loses focus, typically on the mousedown of a press on "Pledge". If the
      // line above the button shrank here, the button would move before the mouseup
      // and the press would be lost (the click lands next to it).
      renderShares(r);
      if (r.snapped !== keyCents) rekey(r.snapped);
    }
  });

  const stepBy = (dir) => {
    const r = readAmount();
    let base = r.snapped !== undefined ? r.snapped : null;
    let next;
    if (base === null || base <= 0n || !validPrice) next = first;
    else next = base + BigInt(dir) * priceC;
    if (next < first) next = first;
    amount.input.value = formatCents(next);
    onAmountChanged();
  };
  less.addEventListener('click', () => stepBy(-1));
  more.addEventListener('click', () => stepBy(1));

  renderShares(readAmount());

  // ---- submit
  let inFlight = false;
  const setBusy = (busy) => {
    inFlight = busy;
    submit.disabled = busy;
    form.setAttribute('aria-busy', busy ? 'true' : 'false');
    submit.textContent = busy ? 'Pledging…' : 'Pledge';
  };

  const suggestButton = (remainingDec, label) => {
    const rem = toCents(remainingDec);
    if (rem === null || !validPrice) return null;
    const { snapped } = sharesFor(rem, priceC);
    if (snapped < first) return null;
    return h(
      'button',
      {
        type: 'button',
        class: 'button small secondary',
        testid: 'pledge-suggest',
        onclick: () => {
          amount.input.value = formatCents(snapped);
          onAmountChanged();
          amount.input.focus();
        },
      },
      `${label} ${displayMoney(snapped, cur)}`,
    );
  };

  function showProblem(p) {
    const text = problemText(p, cur);
    const opts = { typename: p.__typename, code: p.code };
    switch (p.__typename) {
      case 'InvestmentLimitExceeded':
        amount.setError(amountProblemText(p, cur));
        setRemaining(p.remaining);
        showMessage(msg, 'error', text, { ...opts, extra: suggestButton(p.remaining, 'Pledge') });
        break;
      case 'MaxTargetExceeded':
        amount.setError(amountProblemText(p, cur));
        showMessage(msg, 'error', text, { ...opts, extra: suggestButton(p.remaining, 'Pledge') });
        break;
      case 'RiskAcknowledgementRequired':
        riskBox.hidden = false;
        riskThreshold.textContent =
          p.threshold !== undefined && p.threshold !== null
            ? `Pledges above ${displayMoney(p.threshold, cur)} require this acknowledgement.`
            : '';
        riskThreshold.dataset.value = normalizeDecimal(p.threshold);
        riskField.setError(`${p.message || 'Please acknowledge the risk warning.'} Tick the box and press “Pledge” again.`);
        showMessage(msg, 'error', text, opts);
        riskCheckbox.focus();
        break;
      case 'ValidationProblem': {
        const f = normalizeField(p.field);
        if (f === 'amount') amount.setError(text);
        else if (f === 'acknowledgeRisk') {
          riskBox.hidden = false;
          riskField.setError(text);
        }
        showMessage(msg, 'error', text, opts);
        break;
      }
      case 'InvalidState': {
        const needsProfile = /kyc|verif|profile|identity/i.test(`${p.code} ${p.message}`);
        showMessage(msg, 'error', text, {
          ...opts,
          extra: needsProfile ? h('a', { href: '#/profile', testid: 'pledge-profile-link' }, 'Go to your investor profile') : null,
        });
        break;
      }
      case 'NotAllowed':
        showMessage(msg, 'error', text, {
          ...opts,
          extra: getToken() ? null : h('a', { href: signInHref(here), testid: 'pledge-signin' }, 'Sign in'),
        });
        break;
      default:
        showMessage(msg, 'error', text, opts);
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (inFlight) return; // double clicks and double Enter
    amount.clearError();
    riskField.clearError();
    const r = readAmount();
    if (!r.ok) {
      amount.setError(r.error);
      showMessage(msg, 'error', r.error, { typename: 'ClientValidation', code: 'CLIENT_VALIDATION' });
      amount.input.focus();
      return;
    }
    if (r.snapped !== r.cents) {
      amount.input.value = formatCents(r.snapped);
      renderShares(readAmount());
    }
    if (keyCents !== r.snapped || !key) rekey(r.snapped);
    const input = {
      campaignId: c.id,
      amount: formatCents(r.snapped),
      idempotencyKey: key,
      acknowledgeRisk: !riskBox.hidden && riskCheckbox.checked,
    };
    setBusy(true);
    showMessage(msg, 'info', 'Placing your pledge…');
    let result;
    try {
      // Automatic retries resend the identical request, idempotency key included.
      const data = await gql(PLEDGE_MUTATION, { input }, { retries: 2 });
      result = data.pledge;
    } catch (err) {
      setBusy(false);
      if (!ctx.alive()) return;
      if (err instanceof NetworkError) {
        // Keep the key: pressing Pledge again cannot place a second pledge.
        showMessage(msg, 'error', `${err.message} Your pledge may or may not have been placed. Press “Pledge” again to retry — it will not be placed twice.`, {
          typename: 'NetworkError',
          code: 'NETWORK',
        });
      } else {
        showMessage(msg, 'error', errorText(err), { typename: 'GraphQLError', code: err && err.code });
      }
      return;
    }
    if (!ctx.alive()) return;
    if (!result) {
      setBusy(false);
      showMessage(msg, 'error', 'The server gave no answer. Please try again.');
      return;
    }
    if (result.__typename === 'PledgeSaved' || (result.pledge && !isProblem(result))) {
      const p = result.pledge || {};
      const shares = p.shares !== undefined && p.shares !== null ? plural(BigInt(p.shares), 'share') : '';
      const until = p.cancellableUntil ? ` You can cancel it until ${fmtDateTime(p.cancellableUntil)}.` : '';
      showMessage(msg, 'success', `Pledge placed: ${shares} for ${displayMoney(p.amount, cur)} (${humanize(p.status)}).${until}`, {
        typename: 'PledgeSaved',
        extra: h('a', { href: '#/portfolio', testid: 'pledge-portfolio-link' }, 'View your portfolio'),
      });
      if (p.id) msg.dataset.pledgeId = p.id;
      // A new attempt starts from a fresh form and a fresh key.
      riskCheckbox.checked = false;
      riskBox.hidden = true;
      amount.input.value = formatCents(first);
      renderShares(readAmount());
      rekey(first);
      await caughtUp(result.position);
      setBusy(false);
      if (!ctx.alive()) return;
      onPledged();
      loadMeAndLimit();
      return;
    }
    setBusy(false);
    // The server answered with a Problem: nothing was placed, so the next press
    // is a new attempt with a new key (the input may have changed, e.g. the risk box).
    rekey(r.snapped);
    showProblem(result);
  });

  append(el, [closed, kycLine, limitBox, form]);
  loadMeAndLimit();

  return {
    el,
    setStatus(s) {
      setClosedText(s);
      closed.hidden = s === 'LIVE';
      form.hidden = s !== 'LIVE';
    },
  };
}
