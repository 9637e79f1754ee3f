// The auditor's workspace (read-only; the AUDITOR role with TOTP on):
//
//   #/audit?streamType=&eventType=&stream=&from=&until=&after=&limit=
//       the event log, paged, with filters; chain verification; the signed log head and an
//       inclusion proof checked here (RFC 6962, SHA-256 by WebCrypto)
//   #/audit/stream/<id>?asOf=<ISO instant>
//       one stream's history, its state as of an instant (campaigns), escrow and cap table,
//       and its export as JSON Lines (GET /audit/streams/<id>.jsonl, what
//       `crowdfund audit replay` prints)

import { h, replaceChildren, messageBox, showMessage, clearMessage, timeEl, uid, field } from './dom.js';
import { gql, getToken, GraphQLRequestError } from './graphql.js';
import { displayMoney } from './money.js';
import { goSignIn, navigate } from './session.js';
import { errorText } from './problems.js';

const EVENT_FIELDS = 'position streamId streamType version type occurredAt payload hash prevHash';

const LOG_QUERY = `
query AuditLog($after: Long, $limit: Int, $streamType: String, $eventType: String, $streamId: ID,
               $from: DateTime, $until: DateTime) {
  eventLog(after: $after, limit: $limit, streamType: $streamType, eventType: $eventType,
           streamId: $streamId, occurredFrom: $from, occurredUntil: $until) {
    events { ${EVENT_FIELDS} } nextPosition headPosition
  }
}`;

const KINDS_QUERY = 'query AuditKinds { auditEventTypes { streamType type } }';
const VERIFY_QUERY = 'query VerifyChains { verifyAuditChains { ok checkedEvents firstBadPosition } }';
const HEAD_QUERY = 'query LogHead { logHead { size rootHash at signature keyId } }';
const PROOF_QUERY = `
query Inclusion($position: Long!, $size: Long, $after: Long!) {
  inclusionProof(position: $position, treeSize: $size) { position treeSize leafHash path }
  eventLog(after: $after, limit: 1) { events { position hash } }
}`;

const TRAIL_QUERY = `
query AuditTrail($id: ID!, $asOf: DateTime) { auditTrail(streamId: $id, asOf: $asOf) { ${EVENT_FIELDS} } }`;

const CAMPAIGN_FIELDS = 'id title status currency raised backerCount minTarget maxTarget deadline launchedAt';
const CAMPAIGN_NOW_QUERY = `
query CampaignNow($id: ID!) {
  campaign(id: $id) { ${CAMPAIGN_FIELDS} }
  escrow(campaignId: $id) { held releasedToIssuer refunded }
  capTable(campaignId: $id) { totalShares holdings { shares amountInvested investor { id displayName } } }
}`;
const CAMPAIGN_AS_OF_QUERY = `
query CampaignAsOf($id: ID!, $asOf: DateTime!) { campaignAsOf(id: $id, asOf: $asOf) { ${CAMPAIGN_FIELDS} } }`;

const PAGE_SIZES = [25, 50, 100];
const FILTER_KEYS = ['streamType', 'eventType', 'stream', 'from', 'until', 'limit'];

// ------------------------------------------------------------------ small helpers

/** An ISO instant with an explicit offset from a datetime-local value (the reader's zone). */
function isoFromLocal(value) {
  if (!value) return null;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return null;
  return d.toISOString().replace(/(\.000)?Z$/, '+00:00');
}

/** The datetime-local value (the reader's zone, to the second) of an ISO instant. */
function localFromIso(iso) {
  const d = iso ? new Date(iso) : null;
  if (!d || Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function shortId(id) {
  return id && id.length > 12 ? `${id.slice(0, 8)}…` : id || '';
}

function streamHref(id, asOf) {
  const q = asOf ? `?asOf=${encodeURIComponent(asOf)}` : '';
  return `#/audit/stream/${encodeURIComponent(id)}${q}`;
}

function td(label, ...children) {
  return h('td', { 'data-label': label }, ...children);
}

function payloadCell(event) {
  return h(
    'details',
    { class: 'payload' },
    h('summary', {}, 'Payload'),
    h('pre', { testid: 'event-payload' }, JSON.stringify(event.payload, null, 2)),
  );
}

function failed(box, what, err, retry) {
  if (err instanceof GraphQLRequestError && err.unauthenticated) return; // sent to sign in
  const again = retry ? h('button', { type: 'button', class: 'button small', onclick: retry }, 'Try again') : null;
  // Refused: the server's sentence says why (the AUDITOR role, or two-factor authentication first).
  const why = err instanceof GraphQLRequestError && err.forbidden ? err.message : errorText(err);
  const extra = /two-factor/i.test(why) ? h('a', { href: '#/security' }, 'Set up two-factor authentication') : again;
  showMessage(box, 'error', `Could not ${what}. ${why}`, { extra, code: err && err.code });
}

function guard(main, ctx, title) {
  ctx.setTitle(title);
  if (!getToken()) {
    goSignIn('Sign in as an auditor to open the audit workspace.');
    return false;
  }
  return true;
}

// ------------------------------------------------------------------ #/audit

export function auditPage(main, { query }, ctx) {
  if (!guard(main, ctx, 'Audit')) return;
  const filters = Object.fromEntries(FILTER_KEYS.map((k) => [k, query.get(k) || '']));
  const after = Number(query.get('after') || 0) || 0;
  const limit = PAGE_SIZES.includes(Number(filters.limit)) ? Number(filters.limit) : PAGE_SIZES[0];

  const pageMsg = messageBox('audit-message');
  const logSection = h('section', { class: 'audit-log', 'aria-labelledby': 'audit-log-h' });
  const integrity = integrityPanel(ctx);
  replaceChildren(
    main,
    h('h1', { tabindex: '-1' }, 'Audit'),
    h('p', { class: 'lead' }, 'Everything the platform recorded, as it was recorded. Read only.'),
    pageMsg,
    h('div', { class: 'audit-grid' }, logSection, integrity),
  );

  const form = filterForm(filters, limit);
  const results = h('div', { class: 'audit-results', 'aria-live': 'polite' });
  replaceChildren(logSection, h('h2', { id: 'audit-log-h' }, 'Event log'), form.el, results);
  loadKinds(form, filters, ctx);

  (async () => {
    results.setAttribute('aria-busy', 'true');
    let page;
    try {
      page = (await gql(LOG_QUERY, {
        after,
        limit,
        streamType: filters.streamType || null,
        eventType: filters.eventType || null,
        streamId: filters.stream || null,
        from: filters.from || null,
        until: filters.until || null,
      })).eventLog;
    } catch (err) {
      results.removeAttribute('aria-busy');
      if (ctx.alive()) failed(pageMsg, 'read the event log', err, () => navigate(location.hash.slice(1)));
      return;
    }
    results.removeAttribute('aria-busy');
    if (!ctx.alive()) return;
    replaceChildren(results, logTable(page, { after, filters, limit }));
  })();
}

function filterForm(filters, limit) {
  const streamType = h('select', { name: 'streamType' }, h('option', { value: '' }, 'Any stream type'));
  const eventType = h('select', { name: 'eventType' }, h('option', { value: '' }, 'Any event type'));
  const fStreamType = field({ name: 'streamType', label: 'Stream type', testid: 'audit-stream-type', control: streamType });
  const fEventType = field({ name: 'eventType', label: 'Event type', testid: 'audit-event-type', control: eventType });
  const fStream = field({
    name: 'stream',
    label: 'Stream id',
    testid: 'audit-stream-id',
    hint: 'A campaign, pledge or user id: only that stream’s events.',
    attrs: { value: filters.stream, autocomplete: 'off', spellcheck: 'false' },
  });
  const fFrom = field({ name: 'from', label: 'Occurred from', type: 'datetime-local', testid: 'audit-from', attrs: { step: '1', value: localFromIso(filters.from) } });
  const fUntil = field({ name: 'until', label: 'Occurred until', type: 'datetime-local', testid: 'audit-until', attrs: { step: '1', value: localFromIso(filters.until) } });
  const size = h('select', { name: 'limit' }, PAGE_SIZES.map((n) => h('option', { value: String(n), selected: n === limit }, `${n} per page`)));
  const fSize = field({ name: 'limit', label: 'Page size', testid: 'audit-limit', control: size });
  const apply = h('button', { type: 'submit', class: 'button', testid: 'audit-apply' }, 'Show events');
  const reset = h('a', { href: '#/audit', class: 'button secondary', testid: 'audit-reset' }, 'Clear filters');
  const el = h(
    'form',
    { class: 'panel form audit-filters', testid: 'audit-filters', novalidate: true, role: 'search', 'aria-label': 'Filter the event log' },
    h('div', { class: 'filter-row' }, fStreamType.wrap, fEventType.wrap, fStream.wrap),
    h('div', { class: 'filter-row' }, fFrom.wrap, fUntil.wrap, fSize.wrap),
    h('p', { class: 'actions' }, apply, ' ', reset),
  );
  el.addEventListener('submit', (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    const put = (k, v) => {
      if (v) params.set(k, v);
    };
    put('streamType', streamType.value);
    put('eventType', eventType.value);
    put('stream', fStream.input.value.trim());
    put('from', isoFromLocal(fFrom.input.value));
    put('until', isoFromLocal(fUntil.input.value));
    if (Number(size.value) !== PAGE_SIZES[0]) put('limit', size.value);
    const q = params.toString();
    navigate(`/audit${q ? `?${q}` : ''}`);
  });
  return { el, streamType, eventType };
}

async function loadKinds(form, filters, ctx) {
  let kinds = [];
  try {
    kinds = (await gql(KINDS_QUERY)).auditEventTypes || [];
  } catch {
    kinds = [];
  }
  if (!ctx.alive()) return;
  // A filter from the address stays selectable even if the list does not name it.
  if (filters.streamType && !kinds.some((k) => k.streamType === filters.streamType)) kinds.push({ streamType: filters.streamType, type: '' });
  if (filters.eventType && !kinds.some((k) => k.type === filters.eventType)) kinds.push({ streamType: filters.streamType, type: filters.eventType });
  const streamTypes = [...new Set(kinds.map((k) => k.streamType).filter(Boolean))].sort();
  for (const s of streamTypes) form.streamType.append(h('option', { value: s, selected: s === filters.streamType }, s));
  const fillTypes = () => {
    const chosen = form.streamType.value;
    const keep = form.eventType.value || filters.eventType;
    const types = [...new Set(kinds.filter((k) => k.type && (!chosen || k.streamType === chosen)).map((k) => k.type))].sort();
    replaceChildren(form.eventType, h('option', { value: '' }, 'Any event type'), types.map((t) => h('option', { value: t, selected: t === keep }, t)));
  };
  fillTypes();
  form.streamType.addEventListener('change', fillTypes);
}

function logTable(page, { after, filters, limit }) {
  const events = page.events || [];
  const filtered = ['streamType', 'eventType', 'stream', 'from', 'until'].some((k) => filters[k]);
  const summary = h(
    'p',
    { class: 'muted', testid: 'audit-summary', dataset: { head: page.headPosition, count: events.length } },
    events.length
      ? `Positions ${events[0].position} to ${events[events.length - 1].position}${filtered ? ' matching the filters' : ''}; the log’s head is at ${page.headPosition}.`
      : `No ${filtered ? 'matching ' : ''}events after position ${after}; the log’s head is at ${page.headPosition}.`,
  );
  const keep = new URLSearchParams();
  for (const k of FILTER_KEYS) if (filters[k]) keep.set(k, filters[k]);
  const pager = h('p', { class: 'actions pager' });
  if (after > 0) {
    pager.append(h('a', { href: `#/audit${keep.toString() ? `?${keep}` : ''}`, class: 'button secondary', testid: 'audit-first-page' }, 'First page'), ' ');
  }
  if (page.nextPosition !== null && page.nextPosition !== undefined) {
    const next = new URLSearchParams(keep);
    next.set('after', String(page.nextPosition));
    pager.append(h('a', { href: `#/audit?${next}`, class: 'button', testid: 'audit-next-page', dataset: { after: page.nextPosition } }, 'Next page'));
  }
  if (!events.length) return h('div', {}, summary, pager);
  const table = h(
    'table',
    { class: 'pledges audit-table', testid: 'audit-log-table', dataset: { limit } },
    h('caption', { class: 'visually-hidden' }, 'Events in log order'),
    h('thead', {}, h('tr', {}, ['Position', 'Occurred', 'Stream', 'Version', 'Event type', 'Payload'].map((t) => h('th', { scope: 'col' }, t)))),
    h(
      'tbody',
      {},
      events.map((e) =>
        h(
          'tr',
          { testid: 'log-row', dataset: { position: e.position, type: e.type, streamType: e.streamType, streamId: e.streamId } },
          td('Position', String(e.position)),
          td('Occurred', timeEl(e.occurredAt)),
          td('Stream', h('span', { class: 'stream-type' }, e.streamType), ' ', h('a', { href: streamHref(e.streamId), testid: 'log-open-stream', title: e.streamId, class: 'mono' }, shortId(e.streamId))),
          td('Version', String(e.version)),
          td('Event type', h('strong', {}, e.type)),
          td('Payload', payloadCell(e)),
        ),
      ),
    ),
  );
  return h('div', {}, summary, h('div', { class: 'table-wrap' }, table), pager);
}

// ------------------------------------------------------------------ integrity

function integrityPanel(ctx) {
  const verifyMsg = messageBox('verify-message');
  const verify = h('button', { type: 'button', class: 'button', testid: 'verify-chains' }, 'Verify every chain');
  const result = h('div', { testid: 'verify-result' });
  verify.addEventListener('click', async () => {
    verify.disabled = true;
    showMessage(verifyMsg, 'info', 'Recomputing every hash chain…');
    replaceChildren(result);
    try {
      const v = (await gql(VERIFY_QUERY)).verifyAuditChains;
      if (!ctx.alive()) return;
      clearMessage(verifyMsg);
      result.dataset.ok = String(v.ok);
      result.dataset.checked = String(v.checkedEvents);
      if (v.ok) {
        showMessage(verifyMsg, 'success', `All ${v.checkedEvents} events verify: every stream’s hash chain and every recorded document.`, { code: 'OK' });
      } else {
        showMessage(verifyMsg, 'error', `Checked ${v.checkedEvents} events. The first that does not verify is at position ${v.firstBadPosition}.`, {
          code: 'BAD',
          extra: h('a', { href: `#/audit?after=${Math.max(0, Number(v.firstBadPosition) - 1)}`, testid: 'verify-first-bad', dataset: { position: v.firstBadPosition } }, `Show position ${v.firstBadPosition}`),
        });
      }
    } catch (err) {
      if (ctx.alive()) failed(verifyMsg, 'verify the chains', err);
    } finally {
      verify.disabled = false;
    }
  });

  const head = h('dl', { class: 'facts log-head', testid: 'log-head' });
  const headMsg = messageBox('log-head-message');
  const position = field({ name: 'position', label: 'Event position', type: 'number', testid: 'proof-position', attrs: { min: '1', step: '1', inputmode: 'numeric' } });
  const check = h('button', { type: 'submit', class: 'button secondary', testid: 'proof-check' }, 'Check inclusion');
  const proofMsg = messageBox('proof-message');
  const proofForm = h('form', { class: 'form proof-form', novalidate: true }, position.wrap, h('p', { class: 'actions' }, check), proofMsg);
  const headingId = uid('integrity');

  async function loadHead() {
    try {
      const hd = (await gql(HEAD_QUERY)).logHead;
      if (!ctx.alive()) return null;
      head.dataset.size = String(hd.size);
      head.dataset.rootHash = hd.rootHash;
      replaceChildren(
        head,
        h('div', {}, h('dt', {}, 'Events covered'), h('dd', { testid: 'log-head-size' }, String(hd.size))),
        h('div', {}, h('dt', {}, 'Signed at'), h('dd', {}, timeEl(hd.at))),
        h('div', { class: 'wide' }, h('dt', {}, 'Root hash'), h('dd', { class: 'mono hash', testid: 'log-head-root' }, hd.rootHash)),
        h('div', { class: 'wide' }, h('dt', {}, `Signature (key ${hd.keyId})`), h('dd', { class: 'mono hash' }, hd.signature)),
      );
      clearMessage(headMsg);
      return hd;
    } catch (err) {
      if (ctx.alive()) failed(headMsg, 'read the signed log head', err, loadHead);
      return null;
    }
  }

  proofForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const p = Number(position.input.value);
    if (!Number.isInteger(p) || p < 1) {
      position.setError('Enter the position of an event (1 or more).');
      return;
    }
    position.clearError();
    check.disabled = true;
    showMessage(proofMsg, 'info', 'Checking…');
    try {
      const hd = await loadHead();
      if (!hd) return;
      if (p > Number(hd.size)) {
        showMessage(proofMsg, 'info', `Position ${p} is not in the latest signed head yet (it covers ${hd.size} events); a new head is signed within seconds.`, { code: 'NOT_YET' });
        return;
      }
      const data = await gql(PROOF_QUERY, { position: p, size: hd.size, after: p - 1 });
      const event = (data.eventLog.events || [])[0];
      const outcome = await checkInclusion(data.inclusionProof, event && event.position === p ? event.hash : null, hd.rootHash);
      if (!ctx.alive()) return;
      if (outcome.ok) showMessage(proofMsg, 'success', `The event at position ${p} is in the signed tree of ${hd.size} events: its audit path leads to the root hash.`, { code: 'INCLUDED' });
      else showMessage(proofMsg, 'error', outcome.reason, { code: 'NOT_INCLUDED' });
    } catch (err) {
      if (ctx.alive()) failed(proofMsg, 'check the inclusion proof', err);
    } finally {
      check.disabled = false;
    }
  });

  loadHead();
  return h(
    'section',
    { class: 'panel integrity', testid: 'integrity', 'aria-labelledby': headingId },
    h('h2', { id: headingId }, 'Integrity'),
    h('h3', {}, 'Hash chains'),
    h('p', { class: 'hint' }, 'Recomputes the hash of every event and its link to the previous one of its stream.'),
    h('p', { class: 'actions' }, verify),
    verifyMsg,
    result,
    h('h3', {}, 'Signed log head'),
    h('p', { class: 'hint' }, 'The Merkle tree over the whole log (RFC 6962), signed with Ed25519. Keep a copy: ', h('code', {}, 'crowdfund audit verify --head FILE'), ' proves the log still contains it.'),
    headMsg,
    head,
    h('h3', {}, 'Inclusion proof'),
    proofForm,
  );
}

// RFC 6962 / 9162 §2.1.3.2: the root from a leaf hash and its audit path.
function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256(...parts) {
  const size = parts.reduce((n, p) => n + p.length, 0);
  const joined = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', joined));
}

async function checkInclusion(proof, eventHash, rootHash) {
  if (!eventHash || !/^[0-9a-f]{64}$/.test(eventHash)) return { ok: false, reason: 'The event at that position has no hash to check (it does not decode).' };
  const leaf = await sha256(Uint8Array.of(0), hexToBytes(eventHash));
  if (bytesToHex(leaf) !== proof.leafHash) return { ok: false, reason: 'The event’s hash is not the leaf the tree holds at that position.' };
  let fn = Number(proof.position) - 1;
  let sn = Number(proof.treeSize) - 1;
  let r = leaf;
  for (const sibling of proof.path) {
    if (sn === 0) return { ok: false, reason: 'The audit path is longer than the tree.' };
    const p = hexToBytes(sibling);
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(Uint8Array.of(1), p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await sha256(Uint8Array.of(1), r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0 || bytesToHex(r) !== rootHash) return { ok: false, reason: 'The audit path does not lead to the signed root hash.' };
  return { ok: true };
}

// ------------------------------------------------------------------ #/audit/stream/<id>

export function auditStreamPage(main, { id, query }, ctx) {
  if (!guard(main, ctx, 'Stream history')) return;
  const asOf = query.get('asOf') || '';
  const pageMsg = messageBox('stream-message');
  const heading = h('h1', { tabindex: '-1', testid: 'stream-title' }, 'Stream ', h('span', { class: 'mono' }, id));
  const asOfField = field({ name: 'asOf', label: 'State as of', type: 'datetime-local', testid: 'as-of-input', hint: 'In your time zone. Only the events that occurred by then count.', attrs: { step: '1', value: localFromIso(asOf) } });
  const asOfForm = h(
    'form',
    { class: 'panel form as-of-form', testid: 'as-of-form', novalidate: true },
    asOfField.wrap,
    h('p', { class: 'actions' }, h('button', { type: 'submit', class: 'button', testid: 'as-of-submit' }, 'Show'), ' ', asOf ? h('a', { href: streamHref(id), class: 'button secondary', testid: 'as-of-clear' }, 'Now') : null),
  );
  asOfForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const iso = isoFromLocal(asOfField.input.value);
    if (!iso) {
      asOfField.setError('Choose a date and time.');
      return;
    }
    navigate(streamHref(id, iso).slice(1));
  });
  const exportMsg = messageBox('export-message');
  const exportButton = h('button', { type: 'button', class: 'button secondary', testid: 'stream-export' }, asOf ? 'Download JSON lines (up to this instant)' : 'Download JSON lines');
  exportButton.addEventListener('click', () => downloadStream(id, asOf, exportMsg, exportButton));
  const state = h('section', { class: 'panel', testid: 'as-of-state', hidden: true, 'aria-label': 'State' });
  const money = h('div', { class: 'money-views' });
  const history = h('section', { 'aria-labelledby': 'stream-history-h' });

  replaceChildren(
    main,
    h('p', { class: 'back' }, h('a', { href: '#/audit', testid: 'back-to-log' }, '← Event log')),
    heading,
    pageMsg,
    asOfForm,
    h('p', { class: 'actions' }, exportButton, ' ', h('span', { class: 'hint' }, 'The same lines as ', h('code', {}, `crowdfund audit replay ${id}${asOf ? ` --as-of ${asOf}` : ''}`))),
    exportMsg,
    state,
    money,
    history,
  );

  (async () => {
    let events;
    try {
      events = (await gql(TRAIL_QUERY, { id, asOf: asOf || null })).auditTrail || [];
    } catch (err) {
      if (ctx.alive()) failed(pageMsg, 'read the stream', err, () => navigate(location.hash.slice(1)));
      return;
    }
    if (!ctx.alive()) return;
    const type = events.length ? events[0].streamType : '';
    heading.dataset.streamType = type;
    if (type) heading.firstChild.textContent = `${type} stream `;
    ctx.setTitle(`${type || 'Stream'} ${shortId(id)}`);
    replaceChildren(history, h('h2', { id: 'stream-history-h' }, asOf ? 'History up to the instant' : 'History'), historyTable(events, asOf));
    if (type === 'Campaign') loadCampaign(id, asOf, state, money, ctx);
  })();
}

function historyTable(events, asOf) {
  if (!events.length) {
    return h('p', { class: 'empty', testid: 'stream-empty' }, asOf ? 'No event of this stream had occurred by then.' : 'This stream has no events.');
  }
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'pledges audit-table', testid: 'stream-history', dataset: { count: events.length } },
      h('caption', { class: 'visually-hidden' }, 'The stream’s events in order'),
      h('thead', {}, h('tr', {}, ['Version', 'Position', 'Occurred', 'Event type', 'Hash', 'Payload'].map((t) => h('th', { scope: 'col' }, t)))),
      h(
        'tbody',
        {},
        events.map((e) =>
          h(
            'tr',
            { testid: 'history-row', dataset: { version: e.version, position: e.position, type: e.type } },
            td('Version', String(e.version)),
            td('Position', String(e.position)),
            td('Occurred', timeEl(e.occurredAt)),
            td('Event type', h('strong', {}, e.type)),
            td('Hash', h('span', { class: 'mono', title: `hash ${e.hash}\nprevious ${e.prevHash || '(first of the stream)'}` }, shortId(e.hash))),
            td('Payload', payloadCell(e)),
          ),
        ),
      ),
    ),
  );
}

async function loadCampaign(id, asOf, state, money, ctx) {
  let now;
  let then = null;
  try {
    now = await gql(CAMPAIGN_NOW_QUERY, { id });
    if (asOf) then = (await gql(CAMPAIGN_AS_OF_QUERY, { id, asOf })).campaignAsOf;
  } catch (err) {
    if (!ctx.alive()) return;
    state.hidden = false;
    const box = messageBox('as-of-message');
    replaceChildren(state, box);
    failed(box, 'read the campaign', err);
    return;
  }
  if (!ctx.alive()) return;
  const current = now.campaign;
  const currency = current ? current.currency : 'USD';
  const shown = asOf ? then : current;
  state.hidden = false;
  state.dataset.asOf = asOf || 'now';
  const title = asOf ? h('h2', {}, 'State as of ', timeEl(asOf)) : h('h2', {}, 'State now');
  if (!shown) {
    replaceChildren(state, title, h('p', { class: 'empty', testid: 'as-of-none' }, 'The campaign had not been drafted by then.'));
  } else {
    const fact = (label, testid, value, raw) => h('div', {}, h('dt', {}, label), h('dd', { testid, dataset: { value: raw ?? value } }, value));
    replaceChildren(
      state,
      title,
      h('p', {}, h('strong', {}, shown.title)),
      h(
        'dl',
        { class: 'facts stats' },
        fact('Status', 'as-of-status', shown.status),
        fact('Raised', 'as-of-raised', displayMoney(shown.raised, currency), shown.raised),
        fact('Backers', 'as-of-backers', String(shown.backerCount)),
        fact('Target', 'as-of-target', `${displayMoney(shown.minTarget, currency)} – ${displayMoney(shown.maxTarget, currency)}`),
        h('div', {}, h('dt', {}, 'Deadline'), h('dd', {}, timeEl(shown.deadline))),
      ),
      asOf && current
        ? h('p', { class: 'hint', testid: 'as-of-compare' }, `Now: ${current.status}, ${displayMoney(current.raised, currency)} raised from ${current.backerCount} backer${current.backerCount === 1 ? '' : 's'}.`)
        : null,
    );
  }
  replaceChildren(money, escrowPanel(now.escrow, currency), capTablePanel(now.capTable, currency));
}

function escrowPanel(escrow, currency) {
  return h(
    'section',
    { class: 'panel', testid: 'escrow-panel', 'aria-label': 'Escrow' },
    h('h2', {}, 'Escrow now'),
    h(
      'dl',
      { class: 'facts stats' },
      h('div', {}, h('dt', {}, 'Held for open pledges'), h('dd', { testid: 'escrow-held', dataset: { value: escrow.held } }, displayMoney(escrow.held, currency))),
      h('div', {}, h('dt', {}, 'Released to the issuer'), h('dd', { testid: 'escrow-released', dataset: { value: escrow.releasedToIssuer } }, displayMoney(escrow.releasedToIssuer, currency))),
      h('div', {}, h('dt', {}, 'Refunded'), h('dd', { testid: 'escrow-refunded', dataset: { value: escrow.refunded } }, displayMoney(escrow.refunded, currency))),
    ),
  );
}

function capTablePanel(table, currency) {
  const holdings = table.holdings || [];
  return h(
    'section',
    { class: 'panel', testid: 'cap-table-panel', 'aria-label': 'Cap table' },
    h('h2', {}, 'Cap table now'),
    h('p', { testid: 'cap-table-total', dataset: { value: table.totalShares } }, `${table.totalShares} shares issued to investors.`),
    holdings.length
      ? h(
          'table',
          { class: 'pledges', testid: 'audit-cap-table' },
          h('thead', {}, h('tr', {}, ['Investor', 'Shares', 'Invested'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, holdings.map((x) => h('tr', { testid: 'cap-table-row', dataset: { investorId: x.investor.id } }, td('Investor', x.investor.displayName), td('Shares', String(x.shares)), td('Invested', displayMoney(x.amountInvested, currency))))),
        )
      : h('p', { class: 'empty', testid: 'cap-table-empty' }, 'No shares are issued before the campaign settles.'),
  );
}

async function downloadStream(id, asOf, box, button) {
  button.disabled = true;
  showMessage(box, 'info', 'Preparing the export…');
  try {
    const q = asOf ? `?asOf=${encodeURIComponent(asOf)}` : '';
    const res = await fetch(`/audit/streams/${encodeURIComponent(id)}.jsonl${q}`, {
      headers: { Authorization: `Bearer ${getToken() || ''}` },
      credentials: 'same-origin',
    });
    if (!res.ok) {
      showMessage(box, 'error', `The export failed: ${(await res.text()) || `HTTP ${res.status}`}`, { code: String(res.status) });
      return;
    }
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const link = h('a', { href: url, download: `stream-${id}.jsonl`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    showMessage(box, 'success', `Downloaded stream-${id}.jsonl (${blob.size} bytes).`, { code: 'DOWNLOADED' });
  } catch {
    showMessage(box, 'error', 'Could not reach the server. Check your connection and try again.');
  } finally {
    button.disabled = false;
  }
}
