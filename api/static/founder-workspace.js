// The founder workspace: my campaigns (#/founder) and one campaign's workspace
// (#/founder/campaign/<id>): its status and next step (submit, launch), the review history
// with a rejection's reason, close early and cancel with their rules, documents (the upload
// panel of founder.js), updates with the material flag, the Q&A, the backers and their
// pledges, and after settlement the cap table and distributions with a preview to the cent.
// The preview as a backer sees it is the campaign page itself (#/campaign/<id>?preview=1).

import {
  h,
  replaceChildren,
  timeEl,
  messageBox,
  showMessage,
  clearMessage,
  focusQuietly,
  confirmAction,
  field,
  humanize,
  REGIME_LABELS,
  DOCUMENT_LABELS,
} from './dom.js';
import { gql, caughtUp, getToken } from './graphql.js';
import { displayMoney, normalizeDecimal, readAmount, formatCents, toCents } from './money.js';
import { problemText, errorText, isProblem } from './problems.js';
import { goSignIn } from './session.js';
import { statusBadge, progressView } from './campaigns.js';
import { founderPanel } from './founder.js';
import { documentsSection, updatesSection, offeringStatement } from './offering.js';
import { questionsSection } from './notices.js';
import { EDITOR_FIELDS, fromLocalInput, toLocalInput } from './founder-editor.js';

const MY_CAMPAIGNS = `
query MyCampaigns {
  myCampaigns { id title status regime currency raised minTarget maxTarget backerCount deadline launchedAt }
}`;

const WORKSPACE = `
query FounderCampaign($id: ID!) {
  campaign(id: $id) {
    ${EDITOR_FIELDS}
    raised backerCount launchedAt originalDeadline
    founder { id displayName }
    documents { id kind name contentType size sha256 url uploadedAt }
    updates { id postedAt title body material }
    reviewHistory { action at reason }
  }
}`;

const BACKERS = `
query CampaignBackers($id: ID!, $after: String) {
  campaign(id: $id) {
    id
    pledges(first: 50, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id amount shares status pledgedAt reconfirmBy investor { id displayName email } } }
    }
  }
}`;

const CAP_TABLE = `
query CapTable($id: ID!) {
  capTable(campaignId: $id) { totalShares holdings { shares amountInvested investor { id displayName email } } }
  distributions(campaignId: $id) { id total declaredAt payouts { amount investor { id displayName } } }
}`;

const PROBLEM = '... on Problem { code message } ... on ValidationProblem { field }';
const CAMPAIGN_RESULT = `__typename ... on CampaignSaved { position campaign { id status } } ${PROBLEM}`;
const SUBMIT = `mutation SubmitCampaign($id: ID!) { submitCampaign(id: $id) { ${CAMPAIGN_RESULT} } }`;
const LAUNCH = `mutation LaunchCampaign($id: ID!) { launchCampaign(id: $id) { ${CAMPAIGN_RESULT} } }`;
const CLOSE_EARLY = `mutation CloseEarly($id: ID!, $d: DateTime!) { closeEarly(id: $id, newDeadline: $d) { ${CAMPAIGN_RESULT} } }`;
const CANCEL = `mutation CancelCampaign($id: ID!, $r: String!) { cancelCampaign(id: $id, reason: $r) { ${CAMPAIGN_RESULT} } }`;
const POST_UPDATE = `
mutation PostUpdate($id: ID!, $input: UpdateInput!) {
  postUpdate(campaignId: $id, input: $input) { __typename ... on UpdatePosted { position update { id material } } ${PROBLEM} }
}`;
const PREVIEW = `
query DistributionPreview($id: ID!, $total: Decimal!) {
  distributionPreview(campaignId: $id, total: $total) {
    __typename
    ... on DistributionPreview { total payouts { amount investor { id displayName email } } }
    ${PROBLEM}
  }
}`;
const DECLARE = `
mutation DeclareDistribution($id: ID!, $total: Decimal!) {
  declareDistribution(campaignId: $id, total: $total) {
    __typename ... on DistributionDeclared { position distribution { id total } } ${PROBLEM}
  }
}`;

const CANCELLABLE = new Set(['DRAFT', 'REJECTED', 'IN_REVIEW', 'APPROVED', 'LIVE']);
const EDITABLE = new Set(['DRAFT', 'REJECTED', 'LIVE']);
const WITH_PLEDGES = new Set(['LIVE', 'FUNDED', 'FAILED', 'CANCELLED', 'SETTLED']);
const TAKES_UPDATES = new Set(['LIVE', 'FUNDED', 'SETTLED']);

// ------------------------------------------------------------------ the rules, in plain words

/** What launching means, per regime (the rule the server applies, cited). */
function launchRule(c) {
  return c.regime === 'REG_CF'
    ? 'Launching opens the offering to pledges at once. A Reg CF offering must stay open at least 21 days (17 CFR 227.303(a)): the deadline must be 21 days or more after the launch, otherwise edit it first.'
    : 'Launching opens the offering to pledges at once. Each backer then has a 4-day reflection period to revoke their pledge without giving a reason (Regulation (EU) 2020/1503, Art. 22).';
}

function closeEarlyRule(c) {
  return c.regime === 'REG_CF'
    ? [
        'You may close early once the minimum target is met and the offering has been open at least 21 days (17 CFR 227.304(b)). ',
        'The new deadline must be at least 5 business days away and before the current one. Every backer is told the new deadline and may still cancel until 48 hours before it. ',
        'If pledges are cancelled and the minimum target is no longer met at the new deadline, the offering runs on to its original deadline (227.304(b)(4)).',
      ]
    : [
        'You may close early once the minimum target is met. The new deadline must be at least 5 business days away (long enough for every backer’s 4-day reflection period, Art. 22) and before the current one. ',
        'Every backer is told the new deadline. If the minimum target is no longer met at the new deadline, the offering runs on to its original deadline.',
      ];
}

function cancelRule(c) {
  return c.status === 'LIVE'
    ? 'Cancelling withdraws the offering for good. Every open pledge is cancelled and refunded in full from escrow, and every backer is told why (17 CFR 227.304(d): an offering that does not complete returns the investors’ funds). It cannot be undone, and is not possible once the deadline has passed.'
    : 'Cancelling withdraws the offering for good: it can no longer be submitted, approved or launched. Nobody has pledged yet, so nobody is refunded. It cannot be undone.';
}

const MATERIAL_RULE = 'A material update tells backers something that changes the offering (17 CFR 227.304(c)): every open pledge becomes “pending reconfirmation”, every backer is notified and has 5 business days to reconfirm; a pledge not reconfirmed in time is cancelled and refunded. If the deadline is nearer than that, it moves out to the end of the reconfirmation window. Only a live campaign can post a material update.';

const DISTRIBUTION_RULE = 'The total is shared pro rata to the shares each backer holds, to the cent: each holder gets their exact share rounded down to the cent, and the cents left over go one each to the holders with the largest remainders. The preview below is computed by the same rule the declaration pays by.';

function statusText(c) {
  switch (c.status) {
    case 'DRAFT':
      return 'Draft: only you can see it. File the offering statement, then submit it for review.';
    case 'REJECTED':
      return 'Rejected in review: edit the offering to answer the reviewer’s reason, then submit it again.';
    case 'IN_REVIEW':
      return 'In review: a risk officer is checking the issuer, the offering statement and the issuer’s 12-month limit. You will be notified of the decision.';
    case 'APPROVED':
      return 'Approved: you can launch it when you are ready.';
    case 'LIVE':
      return 'Live: backers can pledge until the deadline.';
    case 'FUNDED':
      return 'Funded: the minimum target was reached. Settlement releases the funds to the issuer and issues the shares.';
    case 'SETTLED':
      return 'Settled: the funds were released to the issuer and the shares issued. You can declare distributions to the shareholders.';
    case 'FAILED':
      return 'Failed: the minimum target was not reached by the deadline; every pledge was refunded.';
    case 'CANCELLED':
      return 'Cancelled: the offering was withdrawn; every pledge was refunded.';
    default:
      return humanize(c.status);
  }
}

// ------------------------------------------------------------------ my campaigns

export function myCampaignsPage(main, _params, ctx) {
  ctx.setTitle('My campaigns');
  if (!getToken()) {
    goSignIn('Sign in to see your campaigns.');
    return;
  }
  const heading = h('h1', { tabindex: '-1' }, 'My campaigns');
  const start = h('a', { href: '#/founder/new', class: 'button primary', testid: 'founder-new' }, 'Start a campaign');
  const status = messageBox('founder-message');
  const body = h('div', { testid: 'founder-campaigns' });
  replaceChildren(main, heading, h('p', { class: 'lead' }, 'Draft an offering, file its documents, submit it for review, launch it, and look after your backers.'), h('p', {}, start), status, body);

  showMessage(status, 'info', 'Loading your campaigns…');
  gql(MY_CAMPAIGNS)
    .then((data) => {
      if (!ctx.alive()) return;
      clearMessage(status);
      const list = data.myCampaigns || [];
      if (!list.length) {
        replaceChildren(body, h('p', { class: 'empty', testid: 'founder-empty' }, 'You have no campaigns yet. Start one: it stays a private draft until you submit it.'));
        return;
      }
      replaceChildren(body, h('div', { class: 'table-wrap' }, h('table', { class: 'pledges founder-campaigns' },
        h('caption', { class: 'visually-hidden' }, 'Your campaigns, newest first'),
        h('thead', {}, h('tr', {}, ['Campaign', 'Status', 'Raised', 'Backers', 'Deadline'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, list.map((c) => h('tr', { testid: 'founder-campaign-row', dataset: { campaignId: c.id, status: c.status } },
          h('td', {}, h('a', { href: `#/founder/campaign/${encodeURIComponent(c.id)}`, testid: 'founder-campaign-link' }, c.title),
            h('br'), h('span', { class: 'muted' }, REGIME_LABELS[c.regime] || c.regime)),
          h('td', {}, statusBadge(c.status, 'founder-campaign-status')),
          h('td', {}, displayMoney(c.raised, c.currency), h('span', { class: 'muted' }, ` of ${displayMoney(c.minTarget, c.currency)} minimum`)),
          h('td', {}, String(c.backerCount)),
          h('td', {}, timeEl(c.deadline))))))));
    })
    .catch((err) => {
      if (ctx.alive()) showMessage(status, 'error', `Could not load your campaigns. ${errorText(err)}`);
    });
}

// ------------------------------------------------------------------ one campaign's workspace

export function workspacePage(main, params, ctx) {
  const id = params.id;
  ctx.setTitle('Campaign workspace');
  if (!getToken()) {
    goSignIn('Sign in to manage your campaign.');
    return;
  }
  const back = h('p', { class: 'back' }, h('a', { href: '#/founder', testid: 'workspace-back' }, '← My campaigns'));
  const heading = h('h1', { tabindex: '-1', testid: 'workspace-title' }, 'Loading campaign…');
  const status = messageBox('workspace-message');
  const body = h('div', { class: 'workspace' });
  replaceChildren(main, back, heading, status, body);

  async function load(notice) {
    let c;
    try {
      c = (await gql(WORKSPACE, { id })).campaign;
    } catch (err) {
      if (!ctx.alive()) return;
      heading.textContent = 'Campaign unavailable';
      showMessage(status, 'error', `Could not load the campaign. ${errorText(err)}`);
      return;
    }
    if (!ctx.alive()) return;
    if (!c) {
      heading.textContent = 'Campaign not found';
      showMessage(status, 'error', 'There is no campaign of yours at this address.');
      return;
    }
    if (notice) showMessage(status, 'success', notice.text, { typename: notice.typename, code: notice.code });
    else clearMessage(status);
    heading.textContent = c.title;
    ctx.setTitle(`${c.title} · workspace`);
    render(c);
  }

  /** Run a mutation from `button`; a Problem is shown in `box`, success reloads the page. */
  async function perform(button, box, run, done) {
    if (button.getAttribute('aria-disabled') === 'true') return;
    button.setAttribute('aria-disabled', 'true');
    showMessage(box, 'info', 'Working…');
    let result;
    try {
      result = await run();
    } catch (err) {
      button.setAttribute('aria-disabled', 'false');
      if (ctx.alive()) showMessage(box, 'error', errorText(err), { typename: 'GraphQLError', code: err && err.code });
      return;
    }
    button.setAttribute('aria-disabled', 'false');
    if (!ctx.alive()) return;
    if (!result || isProblem(result)) {
      showMessage(box, 'error', problemText(result || {}), { typename: result && result.__typename, code: result && result.code });
      focusQuietly(box);
      return;
    }
    await caughtUp(result.position);
    if (!ctx.alive()) return;
    await load({ text: done, typename: result.__typename });
    focusQuietly(status);
  }

  function render(c) {
    replaceChildren(
      body,
      header(c),
      rejectionNotice(c),
      nextStep(c),
      reviewHistory(c),
      documentsPanel(c),
      TAKES_UPDATES.has(c.status) ? updatesPanel(c) : null,
      WITH_PLEDGES.has(c.status) ? Object.assign(questionsSection(c, ctx), { id: 'questions' }) : null,
      WITH_PLEDGES.has(c.status) ? backersPanel(c) : null,
      c.status === 'SETTLED' ? capTablePanel(c) : null,
      CANCELLABLE.has(c.status) ? cancelPanel(c) : null,
    );
  }

  function header(c) {
    return h(
      'section',
      { class: 'panel workspace-header', 'aria-label': 'Status' },
      h('p', { class: 'badges' }, statusBadge(c.status, 'workspace-status'), ' ',
        h('span', { class: 'badge regime' }, REGIME_LABELS[c.regime] || c.regime)),
      h('p', { testid: 'workspace-status-text' }, statusText(c)),
      h('p', { class: 'actions' },
        EDITABLE.has(c.status) ? h('a', { class: 'button secondary', href: `#/founder/campaign/${encodeURIComponent(c.id)}/edit`, testid: 'workspace-edit' }, 'Edit the offering') : null, ' ',
        h('a', { class: 'button secondary', href: `#/campaign/${encodeURIComponent(c.id)}?preview=1`, testid: 'workspace-preview' }, 'Preview as a backer sees it')),
      WITH_PLEDGES.has(c.status) ? progressView(c).el : null,
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, 'Deadline'), h('dd', {}, timeEl(c.deadline, { testid: 'workspace-deadline' }))),
        c.launchedAt ? h('div', {}, h('dt', {}, 'Launched'), h('dd', {}, timeEl(c.launchedAt))) : null,
        c.originalDeadline && c.originalDeadline !== c.deadline ? h('div', {}, h('dt', {}, 'Original deadline'), h('dd', {}, timeEl(c.originalDeadline))) : null,
        h('div', {}, h('dt', {}, 'Issuer'), h('dd', {}, c.issuer ? `${c.issuer.legalName} (${c.issuer.jurisdiction})` : '—'))),
    );
  }

  function rejectionNotice(c) {
    if (c.status !== 'REJECTED') return null;
    const last = (c.reviewHistory || []).filter((s) => s.action === 'REJECTED').pop();
    return h('section', { class: 'notice warning rejection', testid: 'rejection', role: 'note' },
      h('h2', {}, 'The reviewer’s reason'),
      h('p', { testid: 'rejection-reason' }, last && last.reason ? last.reason : 'No reason was recorded.'),
      last ? h('p', { class: 'muted' }, 'Rejected ', timeEl(last.at)) : null);
  }

  function nextStep(c) {
    const box = messageBox('next-step-message');
    const panel = (title, ...children) => h('section', { class: 'panel next-step', testid: 'workspace-next', 'aria-label': title }, h('h2', {}, title), ...children, box);
    if (c.status === 'DRAFT' || c.status === 'REJECTED') {
      const statement = offeringStatement(c);
      const kind = c.regime === 'ECSP' ? 'KIIS' : 'FORM_C';
      const submit = h('button', { type: 'button', class: 'button primary', testid: 'workspace-submit' }, c.status === 'REJECTED' ? 'Submit again for review' : 'Submit for review');
      submit.addEventListener('click', () => perform(submit, box, async () => (await gql(SUBMIT, { id: c.id })).submitCampaign,
        'Submitted for review. A risk officer will approve or reject it; you will be notified.'));
      return panel('Next: submit for review',
        statement
          ? h('p', { testid: 'statement-filed' }, `✓ The offering statement is filed: ${statement.name}.`)
          : h('p', { testid: 'statement-missing' }, `The offering statement (${DOCUMENT_LABELS[kind]}) is needed before submitting: upload it below.`),
        h('p', { class: 'hint' }, 'Once submitted, the offering cannot be edited until the review decides. A risk officer checks the founders’ identity, the offering statement and the issuer’s limit over 12 months.'),
        h('p', { class: 'actions' }, submit));
    }
    if (c.status === 'APPROVED') {
      const launch = h('button', { type: 'button', class: 'button primary', testid: 'workspace-launch' }, 'Launch now');
      launch.addEventListener('click', () => perform(launch, box, async () => (await gql(LAUNCH, { id: c.id })).launchCampaign,
        'Your campaign is live: backers can pledge now.'));
      return panel('Next: launch', h('p', { testid: 'launch-rule' }, launchRule(c)), h('p', { class: 'actions' }, launch));
    }
    if (c.status === 'LIVE') return closeEarlyPanel(c, panel, box);
    return null;
  }

  function closeEarlyPanel(c, panel, box) {
    const when = field({ name: 'newDeadline', label: 'New deadline', type: 'datetime-local', testid: 'close-early-deadline', hint: 'In your time zone.' });
    const soon = new Date(Date.now() + 8 * 24 * 3600 * 1000);
    when.input.value = toLocalInput(soon.toISOString());
    const button = h('button', { type: 'submit', class: 'button', testid: 'close-early-submit' }, 'Close early');
    const form = h('form', { class: 'form', testid: 'close-early-form', novalidate: true }, when.wrap, h('p', { class: 'actions' }, button));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      when.clearError();
      const iso = fromLocalInput(when.input.value);
      if (!iso) {
        when.setError('Choose the new deadline.');
        return;
      }
      const yes = await confirmAction({
        title: 'Close this offering early?',
        body: h('p', {}, 'Every backer is notified of the new deadline and keeps the right to cancel as the rules say. This cannot be undone by you.'),
        yes: 'Yes, close early',
      });
      if (!yes) return;
      perform(button, box, async () => (await gql(CLOSE_EARLY, { id: c.id, d: iso })).closeEarly, 'The offering will close early; every backer has been notified.');
    });
    return panel('Close early', h('p', { testid: 'close-early-rule' }, closeEarlyRule(c)), form);
  }

  function cancelPanel(c) {
    const box = messageBox('cancel-message');
    const reason = h('textarea', { rows: '2', maxlength: '2000' });
    const reasonField = field({ name: 'reason', label: 'Reason (backers and the audit trail see it)', testid: 'cancel-reason', control: reason });
    const button = h('button', { type: 'submit', class: 'button danger', testid: 'workspace-cancel' }, 'Cancel the campaign');
    const form = h('form', { class: 'form', novalidate: true }, reasonField.wrap, h('p', { class: 'actions' }, button));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      reasonField.clearError();
      if (!reason.value.trim()) {
        reasonField.setError('Give a reason for cancelling.');
        reason.focus();
        return;
      }
      const yes = await confirmAction({
        title: 'Cancel this campaign?',
        body: h('p', {}, cancelRule(c)),
        yes: 'Yes, cancel the campaign',
        no: 'Keep it',
      });
      if (!yes) return;
      perform(button, box, async () => (await gql(CANCEL, { id: c.id, r: reason.value.trim() })).cancelCampaign,
        c.status === 'LIVE' ? 'The campaign is cancelled; every pledge is being refunded.' : 'The campaign is cancelled.');
    });
    return h('section', { class: 'panel danger-zone', testid: 'cancel-panel', 'aria-label': 'Cancel the campaign' },
      h('h2', {}, 'Cancel the campaign'), h('p', { testid: 'cancel-rule' }, cancelRule(c)), form, box);
  }

  function reviewHistory(c) {
    const steps = c.reviewHistory || [];
    const label = { SUBMITTED: 'Submitted for review', APPROVED: 'Approved by a risk officer', REJECTED: 'Rejected by a risk officer' };
    return h('section', { class: 'panel', testid: 'review-history', 'aria-label': 'Review history' },
      h('h2', {}, 'Review history'),
      steps.length
        ? h('ol', { class: 'review-steps' }, steps.map((s) => h('li', { testid: 'review-step', dataset: { action: s.action } },
            h('strong', {}, label[s.action] || humanize(s.action)), ' ', timeEl(s.at),
            s.reason ? h('p', { class: 'review-reason', testid: 'review-reason' }, s.reason) : null)))
        : h('p', { class: 'empty', testid: 'review-empty' }, 'Not submitted yet.'));
  }

  function documentsPanel(c) {
    const upload = founderPanel(c, ctx, { onUploaded: (text) => load({ text, typename: 'DocumentUploaded' }) });
    return h('div', { class: 'workspace-documents' }, upload, documentsSection(c));
  }

  function updatesPanel(c) {
    const box = messageBox('update-message');
    const title = field({ name: 'title', label: 'Title', testid: 'update-title', attrs: { maxlength: '200' } });
    const text = h('textarea', { rows: '4', maxlength: '20000' });
    const bodyField = field({ name: 'body', label: 'Update', testid: 'update-text', control: text });
    const live = c.status === 'LIVE';
    const material = field({
      name: 'material', label: 'This update is a material change', type: 'checkbox', testid: 'update-material-input',
      hint: live ? MATERIAL_RULE : 'Only a live campaign can post a material update.',
      attrs: { disabled: !live },
    });
    const button = h('button', { type: 'submit', class: 'button', testid: 'update-submit' }, 'Post the update');
    const form = h('form', { class: 'form', testid: 'update-form', novalidate: true }, title.wrap, bodyField.wrap, material.wrap, h('p', { class: 'actions' }, button), box);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      title.clearError();
      bodyField.clearError();
      if (!title.input.value.trim()) {
        title.setError('Give the update a title.');
        title.input.focus();
        return;
      }
      if (!text.value.trim()) {
        bodyField.setError('Write the update.');
        text.focus();
        return;
      }
      const isMaterial = live && material.input.checked;
      if (isMaterial) {
        const yes = await confirmAction({
          title: 'Post a material change?',
          body: h('p', {}, MATERIAL_RULE),
          yes: 'Yes, every backer must reconfirm',
        });
        if (!yes) return;
      }
      perform(button, box, async () => (await gql(POST_UPDATE, { id: c.id, input: { title: title.input.value.trim(), body: text.value.trim(), material: isMaterial } })).postUpdate,
        isMaterial ? 'Your material update is posted: every backer has been asked to reconfirm.' : 'Your update is posted; your backers have been notified.');
    });
    return h('section', { class: 'panel', testid: 'updates-panel', 'aria-label': 'Post an update' },
      h('h2', {}, 'Post an update'), form, updatesSection(c));
  }

  function backersPanel(c) {
    const box = messageBox('backers-message');
    const rows = h('tbody', {});
    const total = h('p', { class: 'muted', testid: 'backers-total' });
    const more = h('button', { type: 'button', class: 'button secondary small', testid: 'backers-more', hidden: true }, 'Load more');
    const table = h('div', { class: 'table-wrap' }, h('table', { class: 'pledges', testid: 'backers-table' },
      h('caption', { class: 'visually-hidden' }, 'Pledges to this campaign, oldest first'),
      h('thead', {}, h('tr', {}, ['Backer', 'Amount', 'Shares', 'Status', 'Pledged'].map((t) => h('th', { scope: 'col' }, t)))),
      rows));
    let cursor = null;
    async function page() {
      try {
        const data = await gql(BACKERS, { id: c.id, after: cursor });
        if (!ctx.alive() || !data.campaign) return;
        const conn = data.campaign.pledges;
        for (const { node: p } of conn.edges) {
          rows.append(h('tr', { testid: 'backer-row', dataset: { pledgeId: p.id, status: p.status } },
            h('td', {}, h('span', { testid: 'backer-name' }, p.investor.displayName), p.investor.email ? [h('br'), h('span', { class: 'muted' }, p.investor.email)] : null),
            h('td', { testid: 'backer-amount', dataset: { value: normalizeDecimal(p.amount) } }, displayMoney(p.amount, c.currency)),
            h('td', {}, String(p.shares)),
            h('td', {}, h('span', { class: `badge pledge-${String(p.status).toLowerCase()}`, testid: 'backer-status' }, humanize(p.status)),
              p.reconfirmBy ? [h('br'), h('span', { class: 'muted' }, 'reconfirm by '), timeEl(p.reconfirmBy)] : null),
            h('td', {}, timeEl(p.pledgedAt))));
        }
        total.textContent = `${conn.totalCount} pledge${conn.totalCount === 1 ? '' : 's'}, cancelled and refunded ones included.`;
        cursor = conn.pageInfo.endCursor;
        more.hidden = !conn.pageInfo.hasNextPage;
      } catch (err) {
        if (ctx.alive()) showMessage(box, 'error', `Could not load the backers. ${errorText(err)}`);
      }
    }
    more.addEventListener('click', page);
    page();
    return h('section', { class: 'panel', testid: 'backers', 'aria-label': 'Backers' },
      h('h2', {}, 'Backers and their pledges'),
      h('p', { class: 'hint' }, 'Your backers’ names and e-mail addresses are shown to you, as the founder, for this offering only.'),
      total, table, more, box);
  }

  function capTablePanel(c) {
    const box = messageBox('distribution-message');
    const holdingsBody = h('tbody', {});
    const totalShares = h('span', { testid: 'cap-total-shares' });
    const past = h('div', { testid: 'distributions' });

    const amount = field({ name: 'total', label: `Total to distribute (${c.currency})`, testid: 'distribution-total', attrs: { inputmode: 'decimal', autocomplete: 'off', class: 'medium' } });
    const previewButton = h('button', { type: 'submit', class: 'button secondary', testid: 'distribution-preview-button' }, 'Preview the payouts');
    const declareButton = h('button', { type: 'button', class: 'button primary', testid: 'distribution-declare', hidden: true }, 'Declare this distribution');
    const preview = h('div', { testid: 'distribution-preview', hidden: true });
    const form = h('form', { class: 'form', testid: 'distribution-form', novalidate: true }, amount.wrap, h('p', { class: 'actions' }, previewButton));
    let previewed = null; // the wire total the preview shows

    async function loadTable() {
      try {
        const data = await gql(CAP_TABLE, { id: c.id });
        if (!ctx.alive()) return;
        const table = data.capTable;
        totalShares.textContent = String(table.totalShares);
        replaceChildren(holdingsBody, table.holdings.map((hd) => h('tr', { testid: 'cap-row', dataset: { investorId: hd.investor.id } },
          h('td', {}, hd.investor.displayName),
          h('td', { testid: 'cap-shares' }, String(hd.shares)),
          h('td', {}, displayMoney(hd.amountInvested, c.currency)))));
        const list = data.distributions || [];
        replaceChildren(past, list.length
          ? h('ul', {}, list.map((d) => h('li', { testid: 'distribution-item', dataset: { total: normalizeDecimal(d.total) } },
              displayMoney(d.total, c.currency), ' declared ', timeEl(d.declaredAt), ` to ${d.payouts.length} shareholder${d.payouts.length === 1 ? '' : 's'}`)))
          : h('p', { class: 'empty' }, 'No distributions declared yet.'));
      } catch (err) {
        if (ctx.alive()) showMessage(box, 'error', `Could not load the cap table. ${errorText(err)}`);
      }
    }

    // Declaring pays what the preview shows: a new total needs a new preview first.
    amount.input.addEventListener('input', () => {
      preview.hidden = true;
      declareButton.hidden = true;
      previewed = null;
    });

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      amount.clearError();
      preview.hidden = true;
      declareButton.hidden = true;
      previewed = null;
      const read = readAmount(amount.input.value, navigator.language, c.currency);
      if (read.error) {
        amount.setError(read.error);
        showMessage(box, 'error', read.error, { typename: 'ClientValidation', code: read.code });
        return;
      }
      const total = formatCents(read.cents);
      showMessage(box, 'info', 'Computing the payouts…');
      let result;
      try {
        result = (await gql(PREVIEW, { id: c.id, total })).distributionPreview;
      } catch (err) {
        if (ctx.alive()) showMessage(box, 'error', errorText(err));
        return;
      }
      if (!ctx.alive()) return;
      if (!result || isProblem(result)) {
        const message = problemText(result || {}, c.currency);
        if (result && result.field) amount.setError(message);
        showMessage(box, 'error', message, { typename: result && result.__typename, code: result && result.code });
        return;
      }
      clearMessage(box);
      const sum = result.payouts.reduce((acc, p) => acc + (toCents(p.amount) || 0n), 0n);
      replaceChildren(preview,
        h('h3', {}, `Preview: ${displayMoney(result.total, c.currency)} to ${result.payouts.length} shareholder${result.payouts.length === 1 ? '' : 's'}`),
        h('div', { class: 'table-wrap' }, h('table', { class: 'pledges' },
          h('thead', {}, h('tr', {}, ['Shareholder', 'Payout'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, result.payouts.map((p) => h('tr', { testid: 'payout-row', dataset: { investorId: p.investor.id } },
            h('td', {}, p.investor.displayName),
            h('td', { testid: 'payout-amount', dataset: { value: normalizeDecimal(p.amount) } }, displayMoney(p.amount, c.currency))))),
          h('tfoot', {}, h('tr', {}, h('th', { scope: 'row' }, 'Total'), h('td', { testid: 'payout-sum', dataset: { value: formatCents(sum) } }, displayMoney(sum, c.currency)))))));
      preview.hidden = false;
      declareButton.hidden = false;
      previewed = result.total;
    });

    declareButton.addEventListener('click', async () => {
      if (previewed === null) return;
      const total = previewed;
      const yes = await confirmAction({
        title: `Declare a distribution of ${displayMoney(total, c.currency)}?`,
        body: h('p', {}, 'Each shareholder is paid the amount in the preview and notified. A declared distribution cannot be withdrawn.'),
        yes: 'Yes, declare and pay',
        danger: false,
      });
      if (!yes) return;
      perform(declareButton, box, async () => (await gql(DECLARE, { id: c.id, total })).declareDistribution,
        `A distribution of ${displayMoney(total, c.currency)} is declared; every shareholder has been notified.`);
    });

    loadTable();
    return h('section', { class: 'panel', testid: 'cap-table', 'aria-label': 'Cap table and distributions' },
      h('h2', {}, 'Cap table'),
      h('p', {}, 'Shares issued: ', totalShares),
      h('div', { class: 'table-wrap' }, h('table', { class: 'pledges' },
        h('thead', {}, h('tr', {}, ['Shareholder', 'Shares', 'Invested'].map((t) => h('th', { scope: 'col' }, t)))),
        holdingsBody)),
      h('h2', {}, 'Distributions'),
      past,
      h('p', { class: 'hint', testid: 'distribution-rule' }, DISTRIBUTION_RULE),
      form, preview, h('p', { class: 'actions' }, declareButton), box);
  }

  load();
}
