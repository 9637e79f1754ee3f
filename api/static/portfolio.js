// The backer's portfolio (#/portfolio): what needs the backer first (reconfirmations,
// with their deadlines), then pledges, holdings and distributions.

import {
  h,
  replaceChildren,
  timeEl,
  countdownEl,
  messageBox,
  showMessage,
  clearMessage,
  humanize,
  isFuture,
  uid,
  focusQuietly,
  confirmAction,
} from './dom.js';
import { gql, caughtUp, getToken, GraphQLRequestError } from './graphql.js';
import { toCents, formatCents, displayMoney, normalizeDecimal } from './money.js';
import { clearSession, goSignIn, refreshActionCount } from './session.js';
import { PLEDGE_RESULT, problemText, errorText, isProblem } from './problems.js';

const PORTFOLIO_QUERY = `
query Portfolio {
  me { id displayName }
  myPledges {
    id amount shares status pledgedAt cancellableUntil reconfirmBy
    campaign { id title status currency regime }
  }
}`;

const DISTRIBUTIONS_QUERY = `
query Distributions($id: ID!) {
  distributions(campaignId: $id) {
    id total declaredAt
    payouts { amount investor { id } }
  }
}`;

const CANCEL = `mutation CancelPledge($id: ID!) { cancelPledge(pledgeId: $id) { ${PLEDGE_RESULT} } }`;
const RECONFIRM = `mutation ReconfirmPledge($id: ID!) { reconfirmPledge(pledgeId: $id) { ${PLEDGE_RESULT} } }`;

const CANCELLABLE = new Set(['ACTIVE', 'PENDING_RECONFIRMATION']);

function td(label, ...children) {
  return h('td', { 'data-label': label }, ...children);
}

/**
 * "$1,250.00", or "$300.00 + €1,000.00" across currencies. With nothing to add up, zero in
 * the currency of `fallback` (the user's campaigns) when there is just one, else "—"
 * (a bare "0.00" would not say which money it is).
 */
function sumByCurrency(items, fallback = []) {
  const totals = new Map();
  for (const { currency, cents } of items) {
    if (cents === null) continue;
    totals.set(currency, (totals.get(currency) || 0n) + cents);
  }
  if (totals.size) return [...totals.entries()].map(([currency, cents]) => displayMoney(cents, currency)).join(' + ');
  const currencies = [...new Set(fallback.filter(Boolean))];
  return currencies.length === 1 ? displayMoney(0n, currencies[0]) : '—';
}

export function portfolioPage(main, _params, ctx) {
  ctx.setTitle('Your portfolio');
  if (!getToken()) {
    goSignIn('Sign in to see your portfolio.');
    return;
  }
  const heading = h('h1', { tabindex: '-1' }, 'Your portfolio');
  const pageMsg = messageBox('portfolio-message');
  const body = h('div', { class: 'portfolio' });
  replaceChildren(main, heading, pageMsg, body);

  async function load({ keepMessage = false } = {}) {
    if (!keepMessage) showMessage(pageMsg, 'info', 'Loading your portfolio…');
    body.setAttribute('aria-busy', 'true');
    let data;
    try {
      data = await gql(PORTFOLIO_QUERY);
    } catch (err) {
      body.removeAttribute('aria-busy');
      if (!ctx.alive()) return;
      if (err instanceof GraphQLRequestError && err.unauthenticated) return; // sent to sign in
      const retry = h('button', { type: 'button', class: 'button small', testid: 'portfolio-retry', onclick: () => load() }, 'Try again');
      showMessage(pageMsg, 'error', `Could not load your portfolio. ${errorText(err)}`, { extra: retry });
      return;
    }
    body.removeAttribute('aria-busy');
    if (!ctx.alive()) return;
    if (!data.me) {
      clearSession();
      goSignIn('Your session has ended. Please sign in again.');
      return;
    }
    if (!keepMessage) clearMessage(pageMsg);
    render(data.me, data.myPledges || []);
  }

  function render(me, pledges) {
    // Action needed first (soonest reconfirmation deadline first), then newest first.
    const pending = (p) => p.status === 'PENDING_RECONFIRMATION';
    const sorted = pledges.slice().sort((a, b) => {
      if (pending(a) !== pending(b)) return pending(a) ? -1 : 1;
      if (pending(a)) return String(a.reconfirmBy).localeCompare(String(b.reconfirmBy));
      return String(b.pledgedAt).localeCompare(String(a.pledgedAt));
    });
    const needed = sorted.filter(pending);

    // ---- summary
    const open = sorted.filter((p) => CANCELLABLE.has(p.status));
    const settled = sorted.filter((p) => p.status === 'SETTLED');
    const currencies = sorted.map((p) => p.campaign && p.campaign.currency);
    const summary = h(
      'section',
      { class: 'panel summary-panel', testid: 'portfolio-summary', 'aria-label': 'Summary' },
      h(
        'dl',
        { class: 'facts stats' },
        h('div', {}, h('dt', {}, 'Open pledges'), h('dd', { testid: 'open-pledges', dataset: { value: String(open.length) } }, String(open.length))),
        h(
          'div',
          {},
          h('dt', {}, 'Pledged, not yet settled'),
          h('dd', { testid: 'open-amount' }, sumByCurrency(open.map((p) => ({ currency: p.campaign && p.campaign.currency, cents: toCents(p.amount) })), currencies)),
        ),
        h(
          'div',
          {},
          h('dt', {}, 'Invested in settled campaigns'),
          h('dd', { testid: 'settled-amount' }, sumByCurrency(settled.map((p) => ({ currency: p.campaign && p.campaign.currency, cents: toCents(p.amount) })), currencies)),
        ),
      ),
    );

    // ---- pledges table
    const pledgesHeadingId = uid('pledges');
    let pledgesSection;
    if (!sorted.length) {
      pledgesSection = h(
        'section',
        { 'aria-labelledby': pledgesHeadingId },
        h('h2', { id: pledgesHeadingId }, 'Your pledges'),
        h('p', { class: 'empty', testid: 'portfolio-empty' }, 'You have not pledged yet. ', h('a', { href: '#/' }, 'Browse the live campaigns.')),
      );
    } else {
      pledgesSection = h(
        'section',
        { 'aria-labelledby': pledgesHeadingId },
        h('h2', { id: pledgesHeadingId }, 'Your pledges'),
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'pledges', testid: 'portfolio-table' },
            h('caption', { class: 'visually-hidden' }, 'Your pledges: those needing action first, then newest first'),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Campaign', 'Amount', 'Shares', 'Status', 'Pledged', 'Cancellable until', 'Reconfirm by', 'Actions'].map((t) => h('th', { scope: 'col' }, t)),
              ),
            ),
            h('tbody', {}, sorted.map((p) => pledgeRow(p))),
          ),
        ),
      );
    }

    // ---- holdings (settled shares)
    const holdings = new Map();
    for (const p of settled) {
      const c = p.campaign || {};
      const cur = holdings.get(c.id) || { campaign: c, shares: 0n, cents: 0n };
      cur.shares += BigInt(p.shares || 0);
      cur.cents += toCents(p.amount) || 0n;
      holdings.set(c.id, cur);
    }
    const holdingsHeadingId = uid('holdings');
    const holdingsSection = h(
      'section',
      { class: 'panel', testid: 'holdings', 'aria-labelledby': holdingsHeadingId },
      h('h2', { id: holdingsHeadingId }, 'Settled shares'),
      holdings.size
        ? h(
            'ul',
            { class: 'plain-list' },
            [...holdings.values()].map((x) =>
              h(
                'li',
                { testid: 'holding-row', dataset: { campaignId: x.campaign.id } },
                h('a', { href: `#/campaign/${encodeURIComponent(x.campaign.id)}` }, x.campaign.title),
                ': ',
                h('strong', { testid: 'settled-shares', dataset: { value: x.shares.toString() } }, `${x.shares} share${x.shares === 1n ? '' : 's'}`),
                ` for ${displayMoney(x.cents, x.campaign.currency)}`,
              ),
            ),
          )
        : h('p', { class: 'empty', testid: 'holdings-empty' }, 'No settled shares yet. Shares are issued when a funded campaign settles.'),
    );

    // ---- distributions
    const distHeadingId = uid('dist');
    const distList = h('div', { class: 'distributions-body' }, h('p', { class: 'muted' }, 'Loading distributions…'));
    const distSection = h(
      'section',
      { class: 'panel', testid: 'distributions', 'aria-labelledby': distHeadingId, 'aria-live': 'polite' },
      h('h2', { id: distHeadingId }, 'Distributions received'),
      distList,
    );

    replaceChildren(body, actionNeeded(needed), summary, pledgesSection, holdingsSection, distSection);
    loadDistributions(me, sorted, distList);
  }

  /** Reconfirm (first: the action the backer most likely wants) and Cancel buttons. */
  function actionButtons(p, rowMsg) {
    const c = p.campaign || {};
    const cur = c.currency;
    const buttons = [];
    if (p.status === 'PENDING_RECONFIRMATION') {
      buttons.push(h('button', {
        type: 'button',
        class: 'button small primary',
        testid: 'reconfirm-pledge',
        'aria-label': `Reconfirm pledge of ${displayMoney(p.amount, cur)} to ${c.title}`,
        dataset: { pledgeId: p.id },
      }, 'Reconfirm'));
    }
    const canCancel = CANCELLABLE.has(p.status) && p.cancellableUntil && isFuture(p.cancellableUntil);
    if (canCancel) {
      buttons.push(h('button', {
        type: 'button',
        class: 'button small danger',
        testid: 'cancel-pledge',
        'aria-label': `Cancel pledge of ${displayMoney(p.amount, cur)} to ${c.title}`,
        dataset: { pledgeId: p.id, hideAfter: p.cancellableUntil },
      }, 'Cancel'));
    }
    for (const b of buttons) {
      const kind = b.dataset.testid === 'cancel-pledge' ? 'cancel' : 'reconfirm';
      b.addEventListener('click', () => (kind === 'cancel' ? confirmCancel(p, buttons, rowMsg) : act(kind, p, buttons, rowMsg)));
    }
    return buttons;
  }

  function actionNeeded(needed) {
    if (!needed.length) return null;
    const headingId = uid('action');
    return h(
      'section',
      { class: 'panel action-needed', testid: 'action-needed', 'aria-labelledby': headingId, role: 'region' },
      h('h2', { id: headingId }, `Action needed: ${needed.length} pledge${needed.length === 1 ? '' : 's'} to reconfirm`),
      h('p', {}, 'The terms of these offerings changed. Reconfirm each pledge before its deadline, or it is cancelled and refunded.'),
      h('ul', { class: 'plain-list' }, needed.map((p) => {
        const c = p.campaign || {};
        const rowMsg = messageBox('action-message', 'row-message');
        return h(
          'li',
          { class: 'action-item', testid: 'action-item', dataset: { pledgeId: p.id } },
          h('p', {},
            h('strong', {}, displayMoney(p.amount, c.currency)), ' to ',
            h('a', { href: `#/campaign/${encodeURIComponent(c.id)}` }, c.title || 'a campaign'), ': reconfirm by ',
            timeEl(p.reconfirmBy, { testid: 'action-reconfirm-by' }), ' (',
            countdownEl(p.reconfirmBy, { testid: 'action-countdown', future: '{t} left', past: 'deadline passed' }), ')'),
          h('p', { class: 'row-actions' }, actionButtons(p, rowMsg)),
          rowMsg,
        );
      })),
    );
  }

  function pledgeRow(p) {
    const c = p.campaign || {};
    const cur = c.currency;
    const rowMsg = messageBox('portfolio-row-message', 'row-message');
    const buttons = actionButtons(p, rowMsg);

    return h(
      'tr',
      { testid: 'portfolio-row', dataset: { pledgeId: p.id, status: p.status, campaignId: c.id } },
      td('Campaign', h('a', { href: `#/campaign/${encodeURIComponent(c.id)}`, testid: 'portfolio-campaign' }, c.title || '—')),
      td('Amount', h('span', { testid: 'portfolio-amount', dataset: { value: normalizeDecimal(p.amount) } }, displayMoney(p.amount, cur))),
      td('Shares', h('span', { testid: 'portfolio-shares', dataset: { value: String(p.shares) } }, String(p.shares))),
      td('Status', h('span', { class: `badge pledge-${String(p.status).toLowerCase()}`, testid: 'pledge-status', dataset: { status: p.status } }, humanize(p.status))),
      td('Pledged', timeEl(p.pledgedAt, { testid: 'pledged-at' })),
      td(
        'Cancellable until',
        p.cancellableUntil
          ? h(
              'span',
              { class: 'stack' },
              timeEl(p.cancellableUntil, { testid: 'cancellable-until' }),
              countdownEl(p.cancellableUntil, { testid: 'cancel-countdown', future: '{t} left to cancel', past: 'cancellation period over' }),
            )
          : h('span', { class: 'muted', testid: 'cancellable-until', dataset: { none: 'true' } }, '—'),
      ),
      td(
        'Reconfirm by',
        p.reconfirmBy
          ? h(
              'span',
              { class: 'stack' },
              timeEl(p.reconfirmBy, { testid: 'reconfirm-by' }),
              countdownEl(p.reconfirmBy, { testid: 'reconfirm-countdown', future: '{t} left to reconfirm', past: 'reconfirmation period over' }),
            )
          : h('span', { class: 'muted' }, '—'),
      ),
      td('Actions', buttons.length ? h('span', { class: 'row-actions' }, buttons) : h('span', { class: 'muted' }, '—'), rowMsg),
    );
  }

  /** Cancelling needs a second, explicit yes (`confirmAction`: a native modal dialog). */
  async function confirmCancel(pledge, buttons, rowMsg) {
    const c = pledge.campaign || {};
    const amount = displayMoney(pledge.amount, c.currency);
    const yes = await confirmAction({
      title: 'Cancel this pledge?',
      body: h('p', {}, `Your pledge of ${amount} to ${c.title || 'this campaign'} will be cancelled and the money released back to you. You can pledge again while the campaign is live.`),
      yes: 'Yes, cancel my pledge',
      no: 'Keep my pledge',
    });
    if (!yes) return;
    focusQuietly(rowMsg);
    act('cancel', pledge, buttons, rowMsg);
  }

  async function act(kind, pledge, buttons, rowMsg) {
    // aria-disabled, not disabled: a disabled button drops keyboard focus to the page top.
    if (buttons.some((b) => b.getAttribute('aria-disabled') === 'true')) return;
    for (const b of buttons) b.setAttribute('aria-disabled', 'true');
    const cur = pledge.campaign && pledge.campaign.currency;
    showMessage(rowMsg, 'info', kind === 'cancel' ? 'Cancelling…' : 'Reconfirming…');
    let result;
    try {
      const data = await gql(kind === 'cancel' ? CANCEL : RECONFIRM, { id: pledge.id });
      result = kind === 'cancel' ? data.cancelPledge : data.reconfirmPledge;
    } catch (err) {
      if (!ctx.alive()) return;
      for (const b of buttons) b.setAttribute('aria-disabled', 'false');
      showMessage(rowMsg, 'error', errorText(err), { typename: 'GraphQLError', code: err && err.code });
      return;
    }
    if (!ctx.alive()) return;
    if (result && !isProblem(result) && (result.__typename === 'PledgeSaved' || result.pledge)) {
      showMessage(rowMsg, 'success', kind === 'cancel' ? 'Cancelled.' : 'Reconfirmed.');
      await caughtUp(result.position);
      if (!ctx.alive()) return;
      const title = pledge.campaign ? pledge.campaign.title : 'the campaign';
      showMessage(
        pageMsg,
        'success',
        kind === 'cancel'
          ? `Your pledge of ${displayMoney(pledge.amount, cur)} to ${title} was cancelled.`
          : `Your pledge of ${displayMoney(pledge.amount, cur)} to ${title} was reconfirmed.`,
        { typename: 'PledgeSaved', code: kind === 'cancel' ? 'CANCELLED' : 'RECONFIRMED' },
      );
      await load({ keepMessage: true });
      refreshActionCount();
      // The row was drawn anew: keep the keyboard where the person was, on the outcome.
      if (ctx.alive()) focusQuietly(pageMsg);
      return;
    }
    for (const b of buttons) b.setAttribute('aria-disabled', 'false');
    showMessage(rowMsg, 'error', problemText(result, cur), { typename: result && result.__typename, code: result && result.code });
  }

  async function loadDistributions(me, pledges, target) {
    const campaigns = new Map();
    for (const p of pledges) {
      if (p.campaign && p.campaign.status === 'SETTLED' && p.status !== 'CANCELLED' && p.status !== 'REFUNDED') campaigns.set(p.campaign.id, p.campaign);
    }
    if (!campaigns.size) {
      replaceChildren(target, h('p', { class: 'empty', testid: 'distributions-empty' }, 'Distributions appear here once a campaign you backed has settled and its founder pays out.'));
      return;
    }
    const list = [...campaigns.values()];
    const results = await Promise.allSettled(list.map((c) => gql(DISTRIBUTIONS_QUERY, { id: c.id }, { quietAuth: true })));
    if (!ctx.alive()) return;

    const rows = [];
    const failures = [];
    const received = [];
    results.forEach((res, i) => {
      const c = list[i];
      if (res.status !== 'fulfilled') {
        failures.push(c);
        return;
      }
      for (const d of res.value.distributions || []) {
        let mine = 0n;
        let found = false;
        for (const payout of d.payouts || []) {
          if (payout && payout.investor && payout.investor.id === me.id) {
            mine += toCents(payout.amount) || 0n;
            found = true;
          }
        }
        if (!found) continue;
        received.push({ currency: c.currency, cents: mine });
        rows.push({ c, d, mine });
      }
    });
    rows.sort((a, b) => String(b.d.declaredAt).localeCompare(String(a.d.declaredAt)));

    const parts = [];
    if (rows.length) {
      parts.push(
        h('p', {}, 'Total received: ', h('strong', { testid: 'distributions-total' }, sumByCurrency(received))),
        h(
          'ul',
          { class: 'plain-list' },
          rows.map(({ c, d, mine }) =>
            h(
              'li',
              { testid: 'distribution-row', dataset: { distributionId: d.id, campaignId: c.id } },
              h('a', { href: `#/campaign/${encodeURIComponent(c.id)}` }, c.title),
              ': ',
              h('strong', { testid: 'distribution-amount', dataset: { value: formatCents(mine) } }, displayMoney(mine, c.currency)),
              h('span', { class: 'muted' }, ` of ${displayMoney(d.total, c.currency)} declared `, timeEl(d.declaredAt)),
            ),
          ),
        ),
      );
    } else if (!failures.length) {
      parts.push(h('p', { class: 'empty', testid: 'distributions-empty' }, 'No distributions have been paid to you yet.'));
    }
    if (failures.length) {
      parts.push(
        h(
          'p',
          { class: 'hint', testid: 'distributions-unavailable' },
          `Distributions could not be loaded for: ${failures.map((c) => c.title).join(', ')}.`,
        ),
      );
    }
    replaceChildren(target, parts);
  }

  load();
}
