// The admin's workspace (#/admin): grant a role to an account by its e-mail address, and
// the platform's figures. A staff role takes effect once its holder turns on two-factor
// authentication (docs/security.md); the page says so.

import { h, replaceChildren, field, messageBox, showMessage, focusQuietly, humanize, ROLE_LABELS, STAFF_ROLES } from './dom.js';
import { gql } from './graphql.js';
import { displayMoney } from './money.js';
import { problemText, isProblem, errorText } from './problems.js';
import { send } from './security.js';
import { workspaceGate } from './staff.js';

const GRANT = `mutation GrantRole($email: String!, $role: Role!) { grantRole(email: $email, role: $role) {
  __typename ... on RoleGranted { position user { id displayName email roles } }
  ... on Problem { code message } ... on ValidationProblem { field } } }`;
const STATS = `query PlatformStats { platformStats { liveCampaigns fundedCampaigns backers pledges raisedUsd raisedEur } }`;
const GRANTABLE = ['RISK_OFFICER', 'AUDITOR', 'ADMIN', 'FOUNDER', 'BACKER'];

function statsPanel(ctx) {
  const panel = h('section', { class: 'panel', 'aria-label': 'Platform', testid: 'admin-stats' }, h('h2', {}, 'The platform'), h('p', { class: 'muted' }, 'Loading…'));
  gql(STATS).then((data) => {
    if (!ctx.alive()) return;
    const s = data.platformStats;
    const row = (label, value, testid) => h('div', {}, h('dt', {}, label), h('dd', { testid }, value));
    replaceChildren(panel, h('h2', {}, 'The platform'), h(
      'dl',
      { class: 'facts stats' },
      row('Live campaigns', String(s.liveCampaigns), 'stats-live'),
      row('Funded campaigns', String(s.fundedCampaigns), 'stats-funded'),
      row('Backers', String(s.backers), 'stats-backers'),
      row('Pledges ever placed', String(s.pledges), 'stats-pledges'),
      row('Raised under Reg CF', displayMoney(s.raisedUsd, 'USD'), 'stats-raised-usd'),
      row('Raised under ECSP', displayMoney(s.raisedEur, 'EUR'), 'stats-raised-eur'),
    ));
  }).catch((err) => {
    if (ctx.alive()) replaceChildren(panel, h('h2', {}, 'The platform'), h('p', { class: 'field-error' }, `Could not load the figures. ${errorText(err)}`));
  });
  return panel;
}

export async function adminPage(main, _params, ctx) {
  const me = await workspaceGate(main, ctx, { role: 'ADMIN', title: 'Admin' });
  if (!me) return;
  const email = field({ name: 'email', label: 'E-mail address of the account', type: 'email', testid: 'grant-email', required: true, attrs: { autocomplete: 'off', spellcheck: 'false' } });
  const select = h('select', { name: 'role' }, GRANTABLE.map((r) => h('option', { value: r }, ROLE_LABELS[r] || humanize(r))));
  const role = field({
    name: 'role',
    label: 'Role',
    testid: 'grant-role',
    control: select,
    hint: 'Risk officers verify investors and review campaigns; auditors read the event log; admins grant roles. Staff roles act only once their holder has two-factor authentication on.',
  });
  const submit = h('button', { type: 'submit', class: 'button', testid: 'grant-submit' }, 'Grant the role');
  const msg = messageBox('grant-message');
  const granted = h('ul', { class: 'plain-list', testid: 'granted-list' });
  const form = h(
    'form',
    { class: 'panel form', testid: 'grant-form', novalidate: true, 'aria-label': 'Grant a role' },
    h('h2', {}, 'Grant a role'),
    email.wrap,
    role.wrap,
    h('p', { class: 'actions' }, submit),
    msg,
    granted,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    email.clearError();
    const address = email.input.value.trim();
    if (!address) {
      email.setError('Enter the e-mail address the account signed up with.');
      email.input.focus();
      return;
    }
    const chosen = select.value;
    const result = await send(GRANT, { email: address, role: chosen }, { msg, ctx, button: submit });
    if (!result) return;
    if (isProblem(result)) {
      if (result.field === 'email' || result.__typename === 'NotFound') email.setError(problemText(result));
      showMessage(msg, 'error', problemText(result), { typename: result.__typename, code: result.code });
      focusQuietly(msg);
      return;
    }
    const user = result.user;
    const label = ROLE_LABELS[chosen] || chosen;
    const staffNote = STAFF_ROLES.includes(chosen) ? ' It takes effect once they turn on two-factor authentication (Security).' : '';
    showMessage(msg, 'success', `Granted the ${label.toLowerCase()} role to ${user.displayName}.${staffNote}`, { typename: result.__typename });
    granted.prepend(h('li', { testid: 'granted-item', dataset: { userId: user.id, role: chosen, roles: (user.roles || []).join(',') } },
      `${user.displayName} (${user.email || address}): `, (user.roles || []).map((r) => ROLE_LABELS[r] || r).join(', ')));
    email.input.value = '';
    focusQuietly(msg);
  });
  replaceChildren(
    main,
    h('h1', { tabindex: '-1' }, 'Admin'),
    h('p', { class: 'muted' }, 'Grant roles to accounts. Every grant is an event in the audit log.'),
    form,
    statsPanel(ctx),
  );
}
