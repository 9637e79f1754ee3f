// The campaign list (#/) and the campaign page (#/campaign/<id>, also served at
// /campaigns/<id> with Open Graph tags for sharing): the offering, live progress,
// the pledge panel (pledge.js) and, for its founder, the document upload (founder.js).

import {
  h,
  replaceChildren,
  timeEl,
  countdownEl,
  messageBox,
  showMessage,
  clearMessage,
  humanize,
  REGIME_LABELS,
  SECURITY_LABELS,
} from './dom.js';
import { gql, subscribe, getToken } from './graphql.js';
import { toCents, formatCents, displayMoney, percentOf, normalizeDecimal } from './money.js';
import { session, refreshMe } from './session.js';
import { errorText } from './problems.js';
import {
  OFFERING_FIELDS,
  coverEl,
  keyTerms,
  sectionNav,
  riskSummary,
  storySection,
  teamSection,
  proceedsSection,
  risksSection,
  documentsSection,
  updatesSection,
  shareBox,
  shareUrl,
} from './offering.js';
import { pledgePanel, kycBadge } from './pledge.js';
import { founderPanel, isFounder } from './founder.js';
import { questionsSection } from './notices.js';

export { kycBadge };

const CARD_FIELDS = 'id title summary regime currency status minTarget maxTarget minPledge pricePerShare raised backerCount deadline securityType documents { kind url }';

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
    id title summary regime currency status minTarget maxTarget minPledge pricePerShare
    raised backerCount deadline launchedAt originalDeadline
    founder { id displayName }
    issuer { id legalName jurisdiction website }
    updates { id postedAt title body material }
    ${OFFERING_FIELDS}
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

export function statusBadge(status, testid = 'campaign-status') {
  return h('span', { class: `badge status-${String(status || '').toLowerCase()}`, testid, dataset: { status } }, humanize(status));
}

function regimeBadge(regime) {
  return h('span', { class: 'badge regime', testid: 'campaign-regime', dataset: { regime } }, REGIME_LABELS[regime] || regime);
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
    coverEl(c, 'card-cover'),
    h('p', { class: 'badges' }, regimeBadge(c.regime), ' ', h('span', { class: 'badge security' }, SECURITY_LABELS[c.securityType] || humanize(c.securityType))),
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

function setMeta(name, content, attr = 'name') {
  let el = document.head.querySelector(`meta[${attr}="${name}"]`);
  if (!el) {
    el = document.createElement('meta');
    el.setAttribute(attr, name);
    document.head.append(el);
  }
  el.setAttribute('content', content);
}

/** The same Open Graph tags the server puts in /campaigns/<id>, for what reads the DOM. */
function describePage(c) {
  setMeta('description', c.summary);
  setMeta('og:title', c.title, 'property');
  setMeta('og:description', c.summary, 'property');
  setMeta('og:url', shareUrl(c), 'property');
  const cover = (c.documents || []).filter((d) => d.kind === 'IMAGE').pop();
  if (cover) setMeta('og:image', `${location.origin}${cover.url}`, 'property');
}

export function campaignPage(main, params, ctx) {
  const id = params.id;
  ctx.setTitle('Campaign');
  const back = h('p', { class: 'back' }, h('a', { href: '#/', testid: 'back-to-list' }, '← All campaigns'));
  const heading = h('h1', { tabindex: '-1', testid: 'campaign-title' }, 'Loading campaign…');
  const status = messageBox('campaign-message');
  const hero = h('header', { class: 'offering-hero', testid: 'offering-hero' }, heading);
  const body = h('div', { class: 'campaign-body' });
  replaceChildren(main, back, hero, status, body);

  async function load(notice) {
    if (!notice) showMessage(status, 'info', 'Loading…');
    let campaign;
    try {
      // Who is asking decides what the page offers (the founder's upload form).
      const [data] = await Promise.all([gql(CAMPAIGN_QUERY, { id }), getToken() && !session.me ? refreshMe() : null]);
      campaign = data.campaign;
    } catch (err) {
      if (!ctx.alive()) return;
      heading.textContent = 'Campaign unavailable';
      const retry = h('button', { type: 'button', class: 'button small', testid: 'campaign-retry', onclick: () => load() }, 'Try again');
      showMessage(status, 'error', `Could not load the campaign. ${errorText(err)}`, { extra: retry });
      return;
    }
    if (!ctx.alive()) return;
    if (notice) showMessage(status, 'success', notice, { typename: 'DocumentUploaded' });
    else clearMessage(status);
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
    describePage(c);
    const badge = statusBadge(c.status);
    const progress = progressView(c);
    const isLive = c.status === 'LIVE';
    const live = h('p', { class: 'live-status', testid: 'live-status', dataset: { mode: 'connecting' }, hidden: !isLive }, 'Connecting to live updates…');
    const timing = isLive
      ? h('p', { class: 'deadline' }, countdownEl(c.deadline, { testid: 'time-left', future: '{t} left', past: 'Deadline passed' }), h('span', { class: 'muted' }, ' · ends '), timeEl(c.deadline, { class: 'muted' }))
      : h('p', { class: 'notice', testid: 'campaign-not-open' }, notOpenText(c.status));

    replaceChildren(
      hero,
      coverEl(c),
      h(
        'div',
        { class: 'hero-text' },
        h('p', { class: 'badges' }, badge, ' ', regimeBadge(c.regime), ' ', h('span', { class: 'badge security', testid: 'hero-security' }, SECURITY_LABELS[c.securityType] || humanize(c.securityType))),
        heading,
        h('p', { class: 'summary lead', testid: 'campaign-summary' }, c.summary),
        issuerLine(c),
      ),
    );

    const panel = pledgePanel(c, ctx, { onPledged: () => refreshProgress() });
    // ?preview=1: the founder sees the page as a backer does (from their workspace).
    const preview = params.query && params.query.get('preview') === '1' && isFounder(c, session.me);
    const founder = isFounder(c, session.me) && !preview ? founderPanel(c, ctx, { onUploaded: (text) => load(text) }) : null;
    if (preview) {
      showMessage(status, 'info', 'Preview: this is the page as a backer sees it.', {
        code: 'PREVIEW',
        extra: h('a', { href: `#/founder/campaign/${encodeURIComponent(c.id)}`, testid: 'preview-back' }, 'Back to your workspace'),
      });
    }

    replaceChildren(
      body,
      h(
        'div',
        { class: 'campaign-grid' },
        h(
          'div',
          { class: 'campaign-main' },
          h('section', { class: 'panel', 'aria-label': 'Funding progress', testid: 'campaign-progress' }, progress.el, timing, live),
          riskSummary(c),
          keyTerms(c),
          sectionNav(),
          storySection(c),
          teamSection(c),
          proceedsSection(c),
          risksSection(c),
          documentsSection(c),
          updatesSection(c),
          Object.assign(questionsSection(c, ctx), { id: 'questions' }),
        ),
        h('div', { class: 'campaign-side' }, founder, panel.el, shareBox(c)),
      ),
    );

    if (!isLive) return; // nothing moves before launch or after the close

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

/** "Offered by Brightwater Kombucha, Inc. (US) · website": the issuer and jurisdiction. */
function issuerLine(c) {
  const issuer = c.issuer;
  if (!issuer) {
    return h('p', { class: 'muted', testid: 'campaign-issuer' }, 'Offered by ', h('strong', {}, c.founder ? c.founder.displayName : 'the founder'));
  }
  let website = null;
  try {
    const url = issuer.website ? new URL(issuer.website) : null;
    if (url && (url.protocol === 'https:' || url.protocol === 'http:')) {
      website = h('a', { href: url.href, rel: 'noopener noreferrer nofollow', testid: 'issuer-website' }, url.hostname);
    }
  } catch {
    website = null;
  }
  return h(
    'p',
    { class: 'muted', testid: 'campaign-issuer', dataset: { issuerId: issuer.id } },
    'Offered by ',
    h('strong', { testid: 'issuer-name' }, issuer.legalName),
    ' (', h('span', { testid: 'issuer-jurisdiction', title: 'Jurisdiction (ISO 3166-1)' }, issuer.jurisdiction), ')',
    c.founder ? ` · founder ${c.founder.displayName}` : '',
    website ? [' · ', website] : null,
  );
}

function notOpenText(status) {
  switch (status) {
    case 'DRAFT':
      return 'Draft: not yet submitted for review.';
    case 'IN_REVIEW':
      return 'In review: a risk officer is checking this offering. It is not open for pledges yet.';
    case 'APPROVED':
      return 'Approved: not launched yet.';
    case 'REJECTED':
      return 'Rejected in review: the founder may amend it and submit it again.';
    case 'FUNDED':
      return 'Funded: the minimum target was reached. Pledges are closed.';
    case 'SETTLED':
      return 'Settled: funds were released to the issuer and shares issued.';
    case 'FAILED':
      return 'Failed: the minimum target was not reached; every pledge was refunded.';
    case 'CANCELLED':
      return 'Cancelled: every pledge was refunded.';
    default:
      return humanize(status);
  }
}
