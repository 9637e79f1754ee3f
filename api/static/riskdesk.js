// The risk officer's workspace (#/risk/…): the KYC queue (verify or reject an applicant,
// with the sanctions screening result), the campaign review queue with the offering, its
// documents and the due-diligence checklist recorded in the approval or rejection, and the
// AML alert queue. Every decision is the server's: a refusal (four-eyes, a screening hold,
// an unticked checklist item) is shown as the Problem's own sentence.

import {
  h,
  uid,
  replaceChildren,
  messageBox,
  showMessage,
  clearMessage,
  focusQuietly,
  timeEl,
  humanize,
  field,
  REGIME_LABELS,
  DOCUMENT_LABELS,
} from './dom.js';
import { gql, caughtUp } from './graphql.js';
import { displayMoney, normalizeDecimal, toCents } from './money.js';
import { problemText, errorText, isProblem } from './problems.js';
import { send } from './security.js';
import { workspaceGate } from './staff.js';
import { statusBadge } from './campaigns.js';
import { kycBadge } from './pledge.js';
import { OFFERING_FIELDS, keyTerms, documentsSection, storySection, teamSection, risksSection, offeringStatement } from './offering.js';

const TITLE = 'Risk desk';
const PROBLEM = '... on Problem { code message } ... on ValidationProblem { field }';

const KYC_SHOWN = 100;
const KYC_QUEUE = `query KycQueue { kycQueue(first: ${KYC_SHOWN}) {
  user { id displayName }
  legalName dateOfBirth country annualIncome netWorth accredited sophisticated submittedAt
  screening { status screenedAt listVersion matches { listName entryId name score programs } }
} }`;
const PROFILE_RESULT = `__typename ... on InvestorProfileSaved { position user { id investorProfile { kycStatus } } } ${PROBLEM}`;
const VERIFY = `mutation VerifyInvestor($id: ID!) { verifyInvestor(userId: $id) { ${PROFILE_RESULT} } }`;
const REJECT_INVESTOR = `mutation RejectInvestor($id: ID!, $reason: String!) {
  rejectInvestor(userId: $id, reason: $reason) { ${PROFILE_RESULT} } }`;

const CHECK_FIELDS = 'foundersIdentified offeringStatementConsistent issuerLimitChecked badActorDeclaration';
const REVIEW_QUEUE = `query ReviewQueue { reviewQueue {
  id title summary regime currency status maxTarget founder { id displayName }
  issuer { legalName jurisdiction } reviewHistory { action at }
} }`;
const REVIEW_CAMPAIGN = `query ReviewCampaign($id: ID!) { campaign(id: $id) {
  id title summary regime currency status minTarget maxTarget minPledge pricePerShare deadline launchedAt
  founder { id displayName investorProfile { kycStatus } }
  issuer { id legalName jurisdiction website soldLast12MonthsUsd soldLast12MonthsEur }
  issuerRoom
  ${OFFERING_FIELDS}
  reviewHistory { action at reason reviewer { id displayName } checklist { ${CHECK_FIELDS} } }
} }`;
const CAMPAIGN_RESULT = `__typename ... on CampaignSaved { position campaign { id status } } ${PROBLEM}`;
const APPROVE = `mutation ApproveCampaign($id: ID!, $checklist: ReviewChecklistInput) {
  approveCampaign(id: $id, checklist: $checklist) { ${CAMPAIGN_RESULT} } }`;
const REJECT_CAMPAIGN = `mutation RejectCampaign($id: ID!, $reason: String!, $checklist: ReviewChecklistInput) {
  rejectCampaign(id: $id, reason: $reason, checklist: $checklist) { ${CAMPAIGN_RESULT} } }`;

const ALERT_FIELDS = 'id rule details raisedAt status decisionNote subject { id displayName } campaign { id title } decidedBy { id displayName }';
const ALERTS_SHOWN = 50;
const ALERTS = `query AmlAlerts($status: AlertStatus, $rule: String) {
  amlAlerts(status: $status, rule: $rule, first: ${ALERTS_SHOWN}) { ${ALERT_FIELDS} } }`;
const DECIDE = `mutation DecideAlert($id: ID!, $decision: AlertStatus!, $note: String!) {
  decideAlert(alertId: $id, decision: $decision, note: $note) { __typename
    ... on AlertDecided { position alert { ${ALERT_FIELDS} } } ${PROBLEM} } }`;

/** The due-diligence items, in the order a reviewer goes through them (domain/review.py). */
const CHECKLIST = [
  { key: 'foundersIdentified', testid: 'check-founders-identified', label: 'Identity of the founders checked' },
  { key: 'offeringStatementConsistent', testid: 'check-offering-statement', label: 'Offering statement present and consistent' },
  { key: 'issuerLimitChecked', testid: 'check-issuer-limit', label: 'Issuer limit: the maximum target fits' },
  { key: 'badActorDeclaration', testid: 'check-bad-actor', label: 'Bad-actor declaration on file' },
];

const TABS = [
  ['kyc', '#/risk/kyc', 'KYC queue'],
  ['reviews', '#/risk/reviews', 'Campaign reviews'],
  ['alerts', '#/risk/alerts', 'AML alerts'],
];

function deskNav(current) {
  return h(
    'nav',
    { class: 'section-nav desk-nav', 'aria-label': 'Risk desk', testid: 'desk-nav' },
    h('ul', {}, TABS.map(([name, href, label]) => h('li', {}, h('a', {
      href, testid: `desk-tab-${name}`, 'aria-current': name === current ? 'page' : null,
    }, label)))),
  );
}

/** The desk's frame: heading, tabs, a live region; resolves to { body, status } or null. */
async function deskFrame(main, ctx, tab, heading, intro) {
  const me = await workspaceGate(main, ctx, { role: 'RISK_OFFICER', title: `${TITLE}: ${heading}` });
  if (!me) return null;
  const status = messageBox('desk-status');
  const body = h('div', { class: 'desk-body' });
  replaceChildren(
    main,
    h('h1', { tabindex: '-1' }, TITLE),
    deskNav(tab),
    h('h2', { class: 'desk-heading' }, heading),
    h('p', { class: 'muted' }, intro),
    status,
    body,
  );
  return { body, status };
}

async function load(query, variables, status, ctx, what) {
  showMessage(status, 'info', `Loading ${what}…`);
  try {
    const data = await gql(query, variables);
    if (!ctx.alive()) return null;
    clearMessage(status);
    return data;
  } catch (err) {
    if (ctx.alive()) showMessage(status, 'error', `Could not load ${what}. ${errorText(err)}`, { typename: 'GraphQLError', code: err && err.code });
    return null;
  }
}

function fact(label, value, testid, value2) {
  return h('div', {}, h('dt', {}, label), h('dd', { testid, dataset: value2 !== undefined ? { value: value2 } : null }, value));
}

function yesNo(value) {
  return value ? 'Yes' : 'No';
}

// ------------------------------------------------------------------ KYC queue

/** A list version is a content hash: its first 12 characters, the whole as a tooltip. */
function listVersion(screening) {
  const v = String(screening.listVersion || '');
  return h('code', { title: v, testid: 'kyc-list-version' }, v.length > 12 ? `${v.slice(0, 12)}…` : v);
}

function screeningView(screening) {
  const status = screening && screening.status;
  if (status === 'CLEAR') {
    return h('div', { class: 'screening screening-clear', testid: 'kyc-screening', dataset: { status } },
      h('span', { class: 'badge kyc-verified' }, 'Clear'),
      ' No match on the sanctions list (version ', listVersion(screening), '), screened ', timeEl(screening.screenedAt), '.');
  }
  if (status === 'POSSIBLE_MATCH') {
    return h('div', { class: 'screening screening-match', testid: 'kyc-screening', dataset: { status } },
      h('p', {}, h('span', { class: 'badge kyc-rejected' }, 'Possible match'),
        ' on the sanctions list (version ', listVersion(screening), '), screened ', timeEl(screening.screenedAt), '.'),
      h('ul', { class: 'plain-list' }, (screening.matches || []).map((m) => h('li', { testid: 'kyc-screening-match' },
        h('strong', {}, m.name), ` — ${m.listName} entry ${m.entryId}, score ${Math.round(m.score * 100)} %`,
        m.programs && m.programs.length ? `, programs ${m.programs.join(', ')}` : ''))),
      h('p', { class: 'hint' }, 'Verification is held until the SANCTIONS_MATCH alert is dismissed under ', h('a', { href: '#/risk/alerts' }, 'AML alerts'), '.'));
  }
  return h('div', { class: 'screening', testid: 'kyc-screening', dataset: { status: status || 'NOT_SCREENED' } },
    h('span', { class: 'badge kyc-pending' }, 'Not screened'),
    ' This profile has not been screened against the sanctions list yet: verifying screens it first.');
}

function kycItem(app, ctx, onDecided) {
  const msg = messageBox('kyc-message', 'row-message');
  const verify = h('button', { type: 'button', class: 'button small', testid: 'kyc-verify' }, 'Verify');
  const openReject = h('button', { type: 'button', class: 'button small secondary', testid: 'kyc-reject-open', 'aria-expanded': 'false' }, 'Reject…');
  const reason = field({
    name: 'reason',
    label: 'Reason for the rejection',
    testid: 'kyc-reject-reason',
    hint: 'The applicant is told this reason.',
    control: h('textarea', { rows: '2', maxlength: '2000' }),
  });
  const rejectSubmit = h('button', { type: 'submit', class: 'button small danger', testid: 'kyc-reject-submit' }, 'Reject the application');
  const rejectForm = h('form', { class: 'form reject-form', testid: 'kyc-reject-form', hidden: true, novalidate: true }, reason.wrap, h('p', { class: 'actions' }, rejectSubmit));
  const name = app.user.displayName;
  const item = h(
    'li',
    { class: 'card kyc-application', testid: 'kyc-application', dataset: { userId: app.user.id } },
    h('h3', { class: 'card-title', testid: 'kyc-legal-name' }, app.legalName),
    h('p', { class: 'muted' }, 'Account ', h('strong', { testid: 'kyc-display-name' }, name), ' · submitted ', timeEl(app.submittedAt, { testid: 'kyc-submitted-at' })),
    h(
      'dl',
      { class: 'facts' },
      fact('Date of birth', app.dateOfBirth, 'kyc-dob'),
      fact('Country', app.country, 'kyc-country'),
      fact('Annual income', displayMoney(app.annualIncome), 'kyc-income', normalizeDecimal(app.annualIncome)),
      fact('Net worth', displayMoney(app.netWorth), 'kyc-net-worth', normalizeDecimal(app.netWorth)),
      fact('Accredited (US)', yesNo(app.accredited), 'kyc-accredited'),
      fact('Sophisticated (EU)', yesNo(app.sophisticated), 'kyc-sophisticated'),
    ),
    screeningView(app.screening),
    h('p', { class: 'actions' }, verify, openReject),
    rejectForm,
    msg,
  );

  const finish = async (result, decided) => {
    if (!result) return;
    if (isProblem(result)) {
      showMessage(msg, 'error', problemText(result), { typename: result.__typename, code: result.code });
      focusQuietly(msg);
      return;
    }
    await caughtUp(result.position);
    if (!ctx.alive()) return;
    item.dataset.decided = decided;
    verify.disabled = true;
    openReject.disabled = true;
    rejectForm.hidden = true;
    showMessage(msg, 'success', decided === 'VERIFIED'
      ? `Verified: ${name} can now pledge.`
      : `Rejected: ${name} is told the reason.`, { typename: result.__typename });
    focusQuietly(msg);
    onDecided();
  };

  verify.addEventListener('click', async () => {
    const result = await send(VERIFY, { id: app.user.id }, { msg, ctx, button: verify });
    await finish(result, 'VERIFIED');
  });
  openReject.addEventListener('click', () => {
    rejectForm.hidden = !rejectForm.hidden;
    openReject.setAttribute('aria-expanded', String(!rejectForm.hidden));
    if (!rejectForm.hidden) reason.input.focus();
  });
  rejectForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    reason.clearError();
    const text = reason.input.value.trim();
    if (!text) {
      reason.setError('Give the reason: the applicant is told it.');
      reason.input.focus();
      return;
    }
    const result = await send(REJECT_INVESTOR, { id: app.user.id, reason: text }, { msg, ctx, button: rejectSubmit });
    if (result && result.__typename === 'ValidationProblem') reason.setError(problemText(result));
    await finish(result, 'REJECTED');
  });
  return item;
}

export async function kycQueuePage(main, _params, ctx) {
  const frame = await deskFrame(main, ctx, 'kyc', 'KYC queue',
    'Investor profiles waiting for verification, oldest first. Opening this queue is recorded in each applicant’s data-access log.');
  if (!frame) return;
  const { body, status } = frame;
  const data = await load(KYC_QUEUE, {}, status, ctx, 'the KYC queue');
  if (!data) return;
  const apps = data.kycQueue || [];
  const count = h('p', { testid: 'kyc-count', dataset: { count: apps.length } }, apps.length === 1 ? '1 application waiting.' : `${apps.length} applications waiting.`);
  const more = apps.length >= KYC_SHOWN ? h('p', { class: 'hint', testid: 'kyc-more' }, `The oldest ${KYC_SHOWN} are shown; the next ones appear as these are decided.`) : null;
  if (!apps.length) {
    replaceChildren(body, count, h('p', { class: 'empty', testid: 'kyc-empty' }, 'No investor profile is waiting for verification.'));
    return;
  }
  let left = apps.length;
  const onDecided = () => {
    left -= 1;
    count.dataset.count = String(left);
    count.textContent = left === 1 ? '1 application waiting.' : `${left} applications waiting.`;
  };
  replaceChildren(body, count, more, h('ol', { class: 'card-grid kyc-list', testid: 'kyc-list' }, apps.map((a) => kycItem(a, ctx, onDecided))));
}

// ------------------------------------------------------------------ campaign reviews

function submittedAt(c) {
  const steps = (c.reviewHistory || []).filter((s) => s.action === 'SUBMITTED');
  return steps.length ? steps[steps.length - 1].at : null;
}

export async function reviewQueuePage(main, _params, ctx) {
  const frame = await deskFrame(main, ctx, 'reviews', 'Campaign reviews',
    'Campaigns their founders submitted for review. Open one to read the offering and its documents and to answer the due-diligence checklist.');
  if (!frame) return;
  const { body, status } = frame;
  const data = await load(REVIEW_QUEUE, {}, status, ctx, 'the review queue');
  if (!data) return;
  const queue = data.reviewQueue || [];
  if (!queue.length) {
    replaceChildren(body, h('p', { class: 'empty', testid: 'review-queue-empty' }, 'No campaign is waiting for review.'));
    return;
  }
  replaceChildren(body, h('ol', { class: 'card-grid', testid: 'review-queue' }, queue.map((c) => {
    const at = submittedAt(c);
    return h('li', {}, h(
      'article',
      { class: 'card', testid: 'review-queue-item', dataset: { id: c.id } },
      h('h3', { class: 'card-title' }, h('a', { href: `#/risk/review/${encodeURIComponent(c.id)}`, class: 'stretched-link', testid: 'review-queue-link' }, c.title)),
      h('p', { class: 'summary' }, c.summary),
      h('p', { class: 'muted' },
        `${c.issuer.legalName} (${c.issuer.jurisdiction}) · founder ${c.founder.displayName} · ${REGIME_LABELS[c.regime] || c.regime} · up to ${displayMoney(c.maxTarget, c.currency)}`),
      at ? h('p', { class: 'muted' }, 'Submitted ', timeEl(at)) : null,
    ));
  })));
}

function historyView(c) {
  const steps = c.reviewHistory || [];
  if (!steps.length) return h('p', { class: 'empty', testid: 'campaign-review-history-empty' }, 'No review yet.');
  return h('ol', { class: 'plain-list review-history', testid: 'campaign-review-history' }, steps.map((s) => h(
    'li',
    { testid: 'campaign-review-step', dataset: { action: s.action } },
    h('strong', {}, humanize(s.action)), ' ', timeEl(s.at),
    s.reviewer ? ` by ${s.reviewer.displayName}` : '',
    s.reason ? h('p', { class: 'hint', testid: 'campaign-review-step-reason' }, `Reason: ${s.reason}`) : null,
    s.checklist
      ? h('ul', { class: 'plain-list checklist-record', testid: 'campaign-review-step-checklist' }, CHECKLIST.map((item) => h(
        'li',
        { dataset: { item: item.key, ticked: String(!!s.checklist[item.key]) } },
        s.checklist[item.key] ? '✔ ' : '✘ ', item.label,
      )))
      : s.action !== 'SUBMITTED' ? h('p', { class: 'hint' }, 'Recorded without the due-diligence checklist.') : null,
  )));
}

/** The facts that go with each checklist item, shown as its hint. */
function checklistHints(c) {
  const statement = offeringStatement(c);
  const limitCents = toCents(c.issuerRoom);
  const maxCents = toCents(c.maxTarget);
  const fits = limitCents !== null && maxCents !== null && maxCents <= limitCents;
  const kyc = c.founder.investorProfile ? c.founder.investorProfile.kycStatus : 'NOT_SUBMITTED';
  const team = (c.team || []).map((m) => `${m.name} (${m.role})`).join(', ');
  return {
    foundersIdentified: h('span', {},
      `Founder account: ${c.founder.displayName}, whose own identity check is `, kycBadge(kyc, 'campaign-review-founder-kyc'), '. ',
      team ? `Team named in the offering: ${team}. ` : 'The offering names no team. ',
      'Check the identity of the issuer’s founders, directors and officers (17 CFR 227.301(c); ECSP Art. 5).'),
    offeringStatementConsistent: statement
      ? h('span', { testid: 'campaign-review-statement', dataset: { sha256: statement.sha256 } },
        `${DOCUMENT_LABELS[statement.kind]}: `, h('a', { href: statement.url, download: statement.name }, statement.name),
        ' (SHA-256 ', h('code', { title: statement.sha256 }, `${statement.sha256.slice(0, 12)}…`), ', as in the documents above). Compare it with the terms: targets, price per share, deadline, risks.')
      : h('span', { testid: 'campaign-review-statement-missing' }, 'No offering statement is on file.'),
    issuerLimitChecked: h('span', { testid: 'issuer-room', dataset: { fits: String(fits), value: normalizeDecimal(c.issuerRoom) } },
      `${c.issuer.legalName} (${c.issuer.jurisdiction}) may still offer ${displayMoney(c.issuerRoom, c.currency)} in 12 months beside its other open offerings and sales; `,
      `this campaign’s maximum target is ${displayMoney(c.maxTarget, c.currency)}: `,
      h('strong', {}, fits ? 'it fits.' : 'it does not fit.'),
      ' (17 CFR 227.100(a)(1); ECSP Art. 1(2)(c).)'),
    badActorDeclaration: h('span', {},
      'The issuer declares that no director, officer or 20 % holder is subject to a disqualifying event (17 CFR 227.503), or for ECSP has no record of the infringements listed in Art. 5(2).'),
  };
}

function reviewForm(c, ctx, reload) {
  const hints = checklistHints(c);
  const msg = messageBox('campaign-review-message');
  const boxes = {};
  const checks = CHECKLIST.map((item) => {
    const f = field({ name: item.key, label: item.label, type: 'checkbox', testid: item.testid, hint: hints[item.key] });
    boxes[item.key] = f;
    f.input.addEventListener('change', () => {
      // A refusal about this item no longer stands once it is answered again.
      f.clearError();
      if (msg.dataset.code === 'DUE_DILIGENCE_INCOMPLETE') clearMessage(msg);
    });
    return f.wrap;
  });
  const reason = field({
    name: 'reason',
    label: 'Reason (to reject)',
    testid: 'campaign-review-reason',
    hint: 'The founder reads it with the checklist’s answers, and can amend and resubmit.',
    control: h('textarea', { rows: '3', maxlength: '2000' }),
  });
  const approve = h('button', { type: 'button', class: 'button', testid: 'campaign-review-approve' }, 'Approve the campaign');
  const reject = h('button', { type: 'button', class: 'button danger', testid: 'campaign-review-reject' }, 'Reject with the reason');
  const headingId = uid('checklist');
  const form = h(
    'form',
    { class: 'panel form review-checklist', testid: 'campaign-review-checklist', novalidate: true, 'aria-labelledby': headingId },
    h('h2', { id: headingId }, 'Due-diligence checklist'),
    h('p', { class: 'hint' }, 'Your answers are recorded in the approval or rejection and shown in the review history. Approval needs every item ticked.'),
    h('fieldset', { class: 'checklist' }, h('legend', { class: 'visually-hidden' }, 'Checks'), checks),
    reason.wrap,
    h('p', { class: 'actions' }, approve, reject),
    msg,
  );
  form.addEventListener('submit', (event) => event.preventDefault());

  const answers = () => Object.fromEntries(CHECKLIST.map((item) => [item.key, boxes[item.key].input.checked]));
  const clearErrors = () => {
    for (const f of Object.values(boxes)) f.clearError();
    reason.clearError();
  };
  const outcome = async (result, done) => {
    if (!result) return;
    if (isProblem(result)) {
      const key = result.field && result.field.startsWith('checklist.') ? result.field.slice('checklist.'.length) : null;
      if (key && boxes[key]) boxes[key].setError(problemText(result));
      if (result.field === 'reason') reason.setError(problemText(result));
      showMessage(msg, 'error', problemText(result), { typename: result.__typename, code: result.code });
      focusQuietly(msg);
      return;
    }
    await caughtUp(result.position);
    if (!ctx.alive()) return;
    await reload(done, result.__typename);
  };
  approve.addEventListener('click', async () => {
    clearErrors();
    const result = await send(APPROVE, { id: c.id, checklist: answers() }, { msg, ctx, button: approve });
    await outcome(result, 'Approved: the founder can now launch the campaign.');
  });
  reject.addEventListener('click', async () => {
    clearErrors();
    const text = reason.input.value.trim();
    if (!text) {
      reason.setError('Give the reason for the rejection: the founder reads it.');
      showMessage(msg, 'error', 'Give the reason for the rejection: the founder reads it.', { typename: 'ClientValidation' });
      reason.input.focus();
      return;
    }
    const result = await send(REJECT_CAMPAIGN, { id: c.id, reason: text, checklist: answers() }, { msg, ctx, button: reject });
    await outcome(result, 'Rejected: the founder reads your reason and can resubmit.');
  });
  return form;
}

export async function campaignReviewPage(main, params, ctx) {
  const frame = await deskFrame(main, ctx, 'reviews', 'Campaign review',
    'The offering as submitted, its documents, and the checklist your decision records.');
  if (!frame) return;
  const { body, status } = frame;

  const render = async (done, typename) => {
    const data = await load(REVIEW_CAMPAIGN, { id: params.id }, status, ctx, 'the campaign');
    if (!data) return;
    const c = data.campaign;
    if (!c) {
      replaceChildren(body, h('p', { class: 'empty', testid: 'campaign-review-not-found' }, 'There is no such campaign. ', h('a', { href: '#/risk/reviews' }, 'Back to the review queue.')));
      return;
    }
    ctx.setTitle(`Review: ${c.title}`);
    const issuer = c.issuer;
    const sold = c.regime === 'ECSP' ? issuer.soldLast12MonthsEur : issuer.soldLast12MonthsUsd;
    replaceChildren(
      body,
      h('p', {}, h('a', { href: '#/risk/reviews', testid: 'campaign-review-back' }, '← The review queue')),
      h('h2', { testid: 'campaign-review-title' }, c.title, ' ', statusBadge(c.status, 'campaign-review-status')),
      h('p', { class: 'lead' }, c.summary),
      h('p', {}, h('a', { href: `#/campaign/${encodeURIComponent(c.id)}`, testid: 'campaign-review-preview' }, 'Open the offering page as backers will see it')),
      h('section', { class: 'panel', 'aria-label': 'Issuer' },
        h('h2', {}, 'Issuer'),
        h('dl', { class: 'facts' },
          fact('Legal name', issuer.legalName, 'campaign-review-issuer-name'),
          fact('Jurisdiction', issuer.jurisdiction, 'campaign-review-issuer-jurisdiction'),
          fact('Website', issuer.website ? h('a', { href: issuer.website, rel: 'noopener noreferrer nofollow' }, issuer.website) : 'Not given'),
          fact('Sold in the last 12 months', displayMoney(sold, c.currency), 'campaign-review-issuer-sold'),
          fact('Room under the issuer limit', displayMoney(c.issuerRoom, c.currency), 'campaign-review-issuer-room', normalizeDecimal(c.issuerRoom)))),
      keyTerms(c),
      documentsSection(c),
      storySection(c),
      teamSection(c),
      risksSection(c),
      c.status === 'IN_REVIEW' ? reviewForm(c, ctx, render) : h('p', { class: 'notice', testid: 'campaign-review-closed' }, `This campaign is ${humanize(c.status).toLowerCase()}: there is nothing to review now.`),
      h('section', { class: 'panel', 'aria-label': 'Review history' }, h('h2', {}, 'Review history'), historyView(c)),
    );
    if (done) {
      showMessage(status, 'success', done, { typename });
      focusQuietly(status);
    }
  };
  await render();
}

// ------------------------------------------------------------------ AML alerts

const ALERT_STATUSES = ['OPEN', 'DISMISSED', 'ESCALATED'];
const ALERT_RULES = ['SANCTIONS_MATCH', 'STRUCTURING', 'RAPID_CANCEL_CYCLE', 'SELF_DEALING', 'DUPLICATE_IDENTITY', 'VELOCITY'];

function alertItem(a, ctx) {
  const msg = messageBox('alert-message', 'row-message');
  const note = field({
    name: 'note',
    label: 'Decision note',
    testid: 'alert-note',
    hint: 'Kept with the decision in the audit trail: what you checked and why.',
    control: h('textarea', { rows: '2', maxlength: '2000' }),
  });
  const dismiss = h('button', { type: 'button', class: 'button small secondary', testid: 'alert-dismiss' }, 'Dismiss');
  const escalate = h('button', { type: 'button', class: 'button small danger', testid: 'alert-escalate' }, 'Escalate');
  const statusEl = h('span', { class: 'badge', testid: 'alert-status', dataset: { status: a.status } }, humanize(a.status));
  const open = a.status === 'OPEN';
  const item = h(
    'li',
    { class: 'card aml-alert', testid: 'aml-alert', dataset: { id: a.id, rule: a.rule, subjectId: a.subject.id } },
    h('h3', { class: 'card-title' }, humanize(a.rule), ' ', statusEl),
    h('p', { class: 'muted' }, 'About ', h('strong', { testid: 'alert-subject' }, a.subject.displayName),
      a.campaign ? [' · campaign ', h('a', { href: `#/campaign/${encodeURIComponent(a.campaign.id)}` }, a.campaign.title)] : null,
      ' · raised ', timeEl(a.raisedAt)),
    h('p', { testid: 'alert-details' }, a.details),
    a.decisionNote ? h('p', { class: 'hint', testid: 'alert-decision' }, `${humanize(a.status)}${a.decidedBy ? ` by ${a.decidedBy.displayName}` : ''}: ${a.decisionNote}`) : null,
    open ? h('div', { class: 'form' }, note.wrap, h('p', { class: 'hint' }, 'Dismissing clears a screening hold; escalating freezes the subject’s pledging.'), h('p', { class: 'actions' }, dismiss, escalate)) : null,
    msg,
  );
  const decide = async (decision, button) => {
    note.clearError();
    const text = note.input.value.trim();
    if (!text) {
      note.setError('Write a note: what you checked and why.');
      note.input.focus();
      return;
    }
    const result = await send(DECIDE, { id: a.id, decision, note: text }, { msg, ctx, button });
    if (!result) return;
    if (isProblem(result)) {
      if (result.field === 'note') note.setError(problemText(result));
      showMessage(msg, 'error', problemText(result), { typename: result.__typename, code: result.code });
      focusQuietly(msg);
      return;
    }
    await caughtUp(result.position);
    if (!ctx.alive()) return;
    statusEl.dataset.status = result.alert.status;
    statusEl.textContent = humanize(result.alert.status);
    item.dataset.decided = result.alert.status;
    dismiss.disabled = true;
    escalate.disabled = true;
    note.input.disabled = true;
    showMessage(msg, 'success', result.alert.status === 'DISMISSED'
      ? `Dismissed: ${a.subject.displayName} is no longer held by this alert.`
      : `Escalated: ${a.subject.displayName} can no longer pledge.`, { typename: result.__typename });
    focusQuietly(msg);
  };
  dismiss.addEventListener('click', () => decide('DISMISSED', dismiss));
  escalate.addEventListener('click', () => decide('ESCALATED', escalate));
  return item;
}

export async function amlAlertsPage(main, params, ctx) {
  const frame = await deskFrame(main, ctx, 'alerts', 'AML alerts',
    'What transaction monitoring and sanctions screening raised. Each needs a person’s decision, with a note.');
  if (!frame) return;
  const { body, status } = frame;
  const query = params.query;
  const wanted = ALERT_STATUSES.includes(query.get('status')) ? query.get('status') : 'OPEN';
  const rule = ALERT_RULES.includes(query.get('rule')) ? query.get('rule') : '';
  const select = h('select', { testid: 'alerts-status' }, ALERT_STATUSES.map((v) => h('option', { value: v, selected: v === wanted }, humanize(v))));
  const ruleSelect = h('select', { testid: 'alerts-rule' },
    h('option', { value: '', selected: !rule }, 'Every rule'),
    ALERT_RULES.map((v) => h('option', { value: v, selected: v === rule }, humanize(v))));
  const statusField = field({ name: 'status', label: 'Show alerts that are', control: select });
  const ruleField = field({ name: 'rule', label: 'Raised by', control: ruleSelect });
  const go = () => {
    const next = new URLSearchParams({ status: select.value });
    if (ruleSelect.value) next.set('rule', ruleSelect.value);
    location.hash = `#/risk/alerts?${next}`;
  };
  select.addEventListener('change', go);
  ruleSelect.addEventListener('change', go);
  const data = await load(ALERTS, { status: wanted, rule: rule || null }, status, ctx, 'the AML alerts');
  if (!data) return;
  const alerts = data.amlAlerts || [];
  replaceChildren(
    body,
    h('div', { class: 'alert-filters' }, statusField.wrap, ruleField.wrap),
    alerts.length >= ALERTS_SHOWN ? h('p', { class: 'hint', testid: 'alerts-more' }, `The oldest ${ALERTS_SHOWN} are shown: decide them, or choose a rule, to see the next ones.`) : null,
    alerts.length
      ? h('ol', { class: 'card-grid alert-list', testid: 'alert-list' }, alerts.map((a) => alertItem(a, ctx)))
      : h('p', { class: 'empty', testid: 'alerts-empty' }, `No ${wanted.toLowerCase()} alert${rule ? ` of ${humanize(rule).toLowerCase()}` : ''}.`),
  );
}
