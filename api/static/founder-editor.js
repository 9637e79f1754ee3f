// The founder's campaign editor (#/founder/new, #/founder/campaign/<id>/edit): every field
// of the offering that DraftCampaignInput and AmendCampaignInput take — the issuer (new
// drafts only: an issuer is fixed once drafted), the terms, the security, the valuation,
// the story, the use of proceeds, the risks and the team. An edit sends only what changed;
// on a live campaign it is a material change, confirmed first (every backer must reconfirm).

import {
  h,
  uid,
  replaceChildren,
  field,
  messageBox,
  showMessage,
  focusQuietly,
  normalizeField,
  confirmAction,
  SECURITY_LABELS,
  REGIME_LABELS,
} from './dom.js';
import { gql, caughtUp, getToken } from './graphql.js';
import { readAmount, formatInput, toCents, formatCents, normalizeDecimal } from './money.js';
import { problemText, errorText, isProblem } from './problems.js';
import { navigate, flash, goSignIn } from './session.js';

const EDITABLE = new Set(['DRAFT', 'REJECTED', 'LIVE']);
const CURRENCY = { REG_CF: 'USD', ECSP: 'EUR' };

export const EDITOR_FIELDS = `
  id title summary regime currency status minTarget maxTarget minPledge pricePerShare deadline
  securityType valuation story useOfProceeds risks team { name role bio }
  issuer { id legalName jurisdiction website }
`;

const EDIT_QUERY = `query EditCampaign($id: ID!) { campaign(id: $id) { ${EDITOR_FIELDS} } }`;

const RESULT = `
  __typename
  ... on CampaignSaved { position campaign { id status } }
  ... on Problem { code message }
  ... on ValidationProblem { field }
`;
const DRAFT = `mutation DraftCampaign($input: DraftCampaignInput!) { draftCampaign(input: $input) { ${RESULT} } }`;
const AMEND = `mutation AmendCampaign($id: ID!, $input: AmendCampaignInput!) { amendCampaign(id: $id, input: $input) { ${RESULT} } }`;

// ------------------------------------------------------------------ instants

const pad = (n) => String(n).padStart(2, '0');

/** An ISO instant as a datetime-local value in the reader's time zone. */
export function toLocalInput(iso) {
  const d = iso ? new Date(iso) : null;
  if (!d || Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A datetime-local value as ISO 8601 with the reader's offset ("…T17:00:00+02:00"), or null. */
export function fromLocalInput(value) {
  const d = value ? new Date(value) : null;
  if (!d || Number.isNaN(d.getTime())) return null;
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

// ------------------------------------------------------------------ the page

export function editorPage(main, params, ctx) {
  const editing = !!params.id;
  ctx.setTitle(editing ? 'Edit campaign' : 'Start a campaign');
  if (!getToken()) {
    goSignIn('Sign in to start a campaign.');
    return;
  }
  const heading = h('h1', { tabindex: '-1', testid: 'editor-heading' }, editing ? 'Edit campaign' : 'Start a campaign');
  const back = h('p', { class: 'back' }, h('a', { href: editing ? `#/founder/campaign/${encodeURIComponent(params.id)}` : '#/founder', testid: 'editor-back' }, editing ? '← Back to the campaign' : '← My campaigns'));
  const status = messageBox('editor-message');
  const body = h('div', {});
  replaceChildren(main, back, heading, status, body);

  if (!editing) {
    replaceChildren(body, editorForm(null, ctx, status));
    return;
  }
  showMessage(status, 'info', 'Loading…');
  gql(EDIT_QUERY, { id: params.id })
    .then((data) => {
      if (!ctx.alive()) return;
      const c = data.campaign;
      if (!c) {
        showMessage(status, 'error', 'There is no campaign of yours at this address.');
        return;
      }
      heading.textContent = `Edit: ${c.title}`;
      if (!EDITABLE.has(c.status)) {
        showMessage(status, 'info', `A campaign that is ${c.status.toLowerCase().replace(/_/g, ' ')} cannot be edited: it can be edited as a draft, after a rejection, and (as a material change) while live.`);
        return;
      }
      showMessage(status, '', '');
      replaceChildren(body, editorForm(c, ctx, status));
    })
    .catch((err) => {
      if (ctx.alive()) showMessage(status, 'error', `Could not load the campaign. ${errorText(err)}`);
    });
}

/** The form; `c` null for a new draft. */
function editorForm(c, ctx, status) {
  const locale = navigator.language;
  const fields = {};
  const add = (key, f) => {
    fields[key] = f;
    return f.wrap;
  };
  const text = (key, label, testid, { hint, value = '', required = false, maxlength } = {}) => {
    const f = field({ name: key, label, testid, hint, required, attrs: { maxlength: maxlength ? String(maxlength) : null } });
    f.input.value = value || '';
    return add(key, f);
  };
  const area = (key, label, testid, { hint, value = '', rows = 6, maxlength } = {}) => {
    const control = h('textarea', { name: key, rows: String(rows), maxlength: maxlength ? String(maxlength) : null });
    control.value = value || '';
    return add(key, field({ name: key, label, testid, hint, control }));
  };
  const money = (key, label, testid, { hint, value, required = true } = {}) => {
    const f = field({ name: key, label, testid, hint, required, attrs: { inputmode: 'decimal', autocomplete: 'off', class: 'medium' } });
    const cents = toCents(value);
    f.input.value = cents === null ? '' : formatInput(cents, locale);
    f.money = true;
    f.required = required;
    return add(key, f);
  };
  const choose = (key, label, testid, options, value, hint) => {
    const control = h('select', { name: key }, Object.entries(options).map(([v, l]) => h('option', { value: v, selected: v === value }, l)));
    return add(key, field({ name: key, label, testid, hint, control }));
  };

  const live = !!c && c.status === 'LIVE';
  const regime = c ? c.regime : 'REG_CF';
  const currencyOf = () => (c ? c.currency : CURRENCY[fields.regime.input.value] || 'USD');
  const defaultDeadline = new Date(Date.now() + 45 * 24 * 3600 * 1000);
  defaultDeadline.setHours(17, 0, 0, 0);

  const deadline = field({
    name: 'deadline', label: 'Deadline', testid: 'editor-deadline', type: 'datetime-local', required: true,
    hint: 'In your time zone. Reg CF offerings must stay open at least 21 days after launch (17 CFR 227.303(a)).',
  });
  deadline.input.value = toLocalInput(c ? c.deadline : defaultDeadline.toISOString());
  fields.deadline = deadline;

  const team = teamEditor(c ? c.team : []);

  const issuerPart = c
    ? h('div', { class: 'panel issuer-fixed', testid: 'editor-issuer-fixed' },
        h('h2', {}, 'Issuer'),
        h('p', {}, h('strong', {}, c.issuer ? c.issuer.legalName : '—'), c.issuer ? ` (${c.issuer.jurisdiction})` : '', ' · ', REGIME_LABELS[c.regime] || c.regime, ` · ${c.currency}`),
        h('p', { class: 'hint' }, 'The issuer and the regime are fixed once a campaign is drafted: the issuer limit is counted per issuer.'))
    : h('fieldset', { class: 'fieldset' },
        h('legend', {}, 'Issuer and regime'),
        choose('regime', 'Offered under', 'editor-regime', REGIME_LABELS, regime, 'Reg CF (US): amounts in USD, Form C required. ECSP (EU): amounts in EUR, key investment information sheet required.'),
        text('legalName', 'Issuer’s legal name', 'editor-issuer-name', { hint: 'The company whose securities you offer. Leave empty to offer in your own name.', maxlength: 200 }),
        text('jurisdiction', 'Jurisdiction (ISO 3166-1 alpha-2)', 'editor-issuer-jurisdiction', { hint: 'e.g. US or DE. Empty: US for Reg CF, DE for ECSP.', maxlength: 2 }),
        text('website', 'Issuer’s website', 'editor-issuer-website', { hint: 'Optional, https://…', maxlength: 300 }));

  const save = h('button', { type: 'submit', class: 'button primary', testid: 'editor-save' }, c ? (live ? 'Save the material change' : 'Save changes') : 'Save draft');
  const form = h(
    'form',
    { class: 'form founder-editor', testid: 'editor-form', novalidate: true },
    live ? h('p', { class: 'notice warning', testid: 'editor-live-warning' },
      'This campaign is live: any change to the offering is a material change (17 CFR 227.304(c)). Every backer must reconfirm their pledge within 5 business days, or it is cancelled and refunded.') : null,
    issuerPart,
    h('fieldset', { class: 'fieldset' },
      h('legend', {}, 'The offering'),
      text('title', 'Title', 'editor-title', { value: c && c.title, required: true, maxlength: 200 }),
      area('summary', 'Summary', 'editor-summary', { value: c && c.summary, rows: 3, hint: 'One or two sentences shown on the campaign card.', maxlength: 5000 }),
      choose('securityType', 'Security offered', 'editor-security-type', SECURITY_LABELS, c ? c.securityType : 'COMMON_EQUITY'),
      money('valuation', 'Pre-money valuation (optional)', 'editor-valuation', { value: c && c.valuation, required: false, hint: 'Leave empty if you do not state one.' })),
    h('fieldset', { class: 'fieldset' },
      h('legend', {}, 'Terms'),
      h('p', { class: 'hint' }, 'All or nothing: if the minimum target is not reached by the deadline, every pledge is refunded.'),
      money('minTarget', 'Minimum target', 'editor-min-target', { value: c ? c.minTarget : '' }),
      money('maxTarget', 'Maximum target', 'editor-max-target', { value: c ? c.maxTarget : '' }),
      money('minPledge', 'Minimum pledge', 'editor-min-pledge', { value: c ? c.minPledge : '' }),
      money('pricePerShare', 'Price per share', 'editor-price', { value: c ? c.pricePerShare : '' }),
      deadline.wrap),
    h('fieldset', { class: 'fieldset' },
      h('legend', {}, 'Disclosure'),
      h('p', { class: 'hint' }, 'Markdown: **bold**, lists, links. Raw HTML is not shown.'),
      area('story', 'Story', 'editor-story', { value: c && c.story, rows: 8, maxlength: 50000 }),
      area('useOfProceeds', 'Use of proceeds', 'editor-use-of-proceeds', { value: c && c.useOfProceeds, rows: 4, maxlength: 10000 }),
      area('risks', 'Principal risks', 'editor-risks', { value: c && c.risks, rows: 5, hint: 'The issuer’s own statement of its principal risks.', maxlength: 20000 })),
    team.el,
    h('p', { class: 'actions' }, save),
  );

  function collect() {
    let ok = true;
    const values = {};
    for (const [key, f] of Object.entries(fields)) {
      f.clearError();
      if (f.money) {
        const raw = f.input.value.trim();
        if (!raw && !f.required) {
          values[key] = null;
          continue;
        }
        const read = readAmount(raw, locale, currencyOf());
        if (read.error) {
          f.setError(read.error);
          ok = false;
          continue;
        }
        values[key] = formatCents(read.cents);
      } else if (key === 'deadline') {
        const iso = fromLocalInput(f.input.value);
        if (!iso) {
          f.setError('Choose the date and time the offering closes.');
          ok = false;
          continue;
        }
        values.deadline = iso;
      } else {
        values[key] = f.input.value.trim();
      }
    }
    if (!values.title) {
      fields.title.setError('Give the campaign a title.');
      ok = false;
    }
    const members = team.read();
    if (members.error) ok = false;
    values.team = members.list || [];
    return ok ? values : null;
  }

  /** What a new draft sends: DraftCampaignInput. */
  function draftInput(v) {
    const input = {
      title: v.title, summary: v.summary, regime: v.regime, minTarget: v.minTarget, maxTarget: v.maxTarget,
      minPledge: v.minPledge, pricePerShare: v.pricePerShare, deadline: v.deadline, securityType: v.securityType,
      valuation: v.valuation, story: v.story, useOfProceeds: v.useOfProceeds, risks: v.risks, team: v.team,
    };
    if (v.legalName || v.jurisdiction || v.website) {
      input.issuer = {
        legalName: v.legalName,
        jurisdiction: (v.jurisdiction || (v.regime === 'ECSP' ? 'DE' : 'US')).toUpperCase(),
        website: v.website || null,
      };
    }
    return input;
  }

  /** What an edit sends: AmendCampaignInput with the changed fields only. */
  function amendInput(v) {
    const input = {};
    for (const key of ['title', 'summary', 'securityType', 'story', 'useOfProceeds', 'risks']) {
      if ((v[key] || '') !== (c[key] || '')) input[key] = v[key];
    }
    for (const key of ['minTarget', 'maxTarget', 'minPledge', 'pricePerShare', 'valuation']) {
      if (v[key] !== null && v[key] !== normalizeDecimal(c[key])) input[key] = v[key];
    }
    if (fields.deadline.input.value !== toLocalInput(c.deadline)) input.deadline = v.deadline;
    const was = (c.team || []).map((m) => ({ name: m.name, role: m.role, bio: m.bio || null }));
    if (JSON.stringify(was) !== JSON.stringify(v.team)) input.team = v.team;
    return input;
  }

  function showProblem(result) {
    const text = problemText(result, currencyOf());
    const key = normalizeField(result.field);
    const target = fields[key] || (key === 'legalName' ? fields.legalName : null);
    if (target) target.setError(text);
    showMessage(status, 'error', text, { typename: result.__typename, code: result.code });
    focusQuietly(target ? target.input : status);
  }

  let busy = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (busy) return;
    const values = collect();
    if (!values) {
      showMessage(status, 'error', 'Some fields need your attention.', { typename: 'ClientValidation' });
      const first = form.querySelector('[aria-invalid="true"]');
      focusQuietly(first || status);
      return;
    }
    let input;
    if (c) {
      input = amendInput(values);
      if (!Object.keys(input).length) {
        showMessage(status, 'info', 'Nothing changed.', { code: 'NOTHING_CHANGED' });
        return;
      }
      if (live) {
        const yes = await confirmAction({
          title: 'Make a material change?',
          body: h('p', {}, 'Every open pledge becomes “pending reconfirmation”. Backers have 5 business days to reconfirm; a pledge not reconfirmed is cancelled and refunded (17 CFR 227.304(c)).'),
          yes: 'Yes, change the live offering',
        });
        if (!yes) return;
      }
    } else {
      input = draftInput(values);
    }
    busy = true;
    save.setAttribute('aria-disabled', 'true');
    showMessage(status, 'info', 'Saving…');
    let result;
    try {
      const data = c ? await gql(AMEND, { id: c.id, input }) : await gql(DRAFT, { input });
      result = c ? data.amendCampaign : data.draftCampaign;
    } catch (err) {
      busy = false;
      save.setAttribute('aria-disabled', 'false');
      if (ctx.alive()) showMessage(status, 'error', errorText(err));
      return;
    }
    busy = false;
    save.setAttribute('aria-disabled', 'false');
    if (!ctx.alive()) return;
    if (!result || isProblem(result) || result.__typename !== 'CampaignSaved') {
      showProblem(result || {});
      return;
    }
    await caughtUp(result.position);
    flash(c ? 'Your changes are saved.' : 'Your draft is saved. Next: file the offering statement, then submit it for review.', 'success');
    navigate(`/founder/campaign/${encodeURIComponent(result.campaign.id)}`);
  });

  return form;
}

/** The team: a row per member (name, role, bio), rows added and removed in place. */
function teamEditor(initial) {
  const list = h('ol', { class: 'team-editor', testid: 'team-editor' });
  const error = h('p', { class: 'field-error', testid: 'team-error', hidden: true });
  const addButton = h('button', { type: 'button', class: 'button secondary small', testid: 'team-add' }, 'Add a team member');

  function row(member) {
    const id = uid('member');
    const name = h('input', { type: 'text', id: `${id}-name`, testid: 'team-name', maxlength: '100', value: member.name || '' });
    const role = h('input', { type: 'text', id: `${id}-role`, testid: 'team-role', maxlength: '100', value: member.role || '' });
    const bio = h('textarea', { id: `${id}-bio`, testid: 'team-bio', rows: '2', maxlength: '2000' });
    bio.value = member.bio || '';
    const remove = h('button', { type: 'button', class: 'button secondary small', testid: 'team-remove' }, 'Remove');
    const item = h('li', { class: 'team-row', testid: 'team-row' },
      h('div', { class: 'field' }, h('label', { for: name.id }, 'Name'), name),
      h('div', { class: 'field' }, h('label', { for: role.id }, 'Role'), role),
      h('div', { class: 'field' }, h('label', { for: bio.id }, 'Short bio (optional)'), bio),
      remove);
    remove.addEventListener('click', () => {
      const next = item.nextElementSibling || item.previousElementSibling;
      item.remove();
      focusQuietly(next ? next.querySelector('input') : addButton);
    });
    return item;
  }

  for (const m of initial || []) list.append(row(m));
  addButton.addEventListener('click', () => {
    const item = row({});
    list.append(item);
    item.querySelector('input').focus();
  });

  return {
    el: h('fieldset', { class: 'fieldset' }, h('legend', {}, 'Team'), list, error, h('p', {}, addButton)),
    read() {
      error.hidden = true;
      const members = [];
      for (const item of list.children) {
        const [name, role] = item.querySelectorAll('input');
        const bio = item.querySelector('textarea');
        const m = { name: name.value.trim(), role: role.value.trim(), bio: bio.value.trim() || null };
        if (!m.name && !m.role && !m.bio) continue;
        if (!m.name || !m.role) {
          error.textContent = 'Each team member needs a name and a role.';
          error.hidden = false;
          return { error: true };
        }
        members.push(m);
      }
      return { list: members };
    },
  };
}
