// The offering's disclosure on the campaign page: cover, key terms, the story, the team,
// the use of proceeds, the risks, the documents (size, type, SHA-256) and the updates,
// plus the share link. Markdown arrives rendered and sanitised by the server and is
// rebuilt through `safeHtml` (dom.js) before it is inserted.

import {
  h,
  uid,
  timeEl,
  textWithTimes,
  safeHtml,
  humanize,
  SECURITY_LABELS,
  DOCUMENT_LABELS,
  REGIME_LABELS,
} from './dom.js';
import { displayMoney, displaySize, normalizeDecimal } from './money.js';

/** The GraphQL selection the campaign page reads. */
export const OFFERING_FIELDS = `
  securityType valuation storyHtml useOfProceedsHtml risksHtml
  team { name role bio }
  documents { id kind name contentType size sha256 url uploadedAt }
  pledgeCancellableUntil
`;

const STATEMENT = { REG_CF: 'FORM_C', ECSP: 'KIIS' };

/** The current offering statement (the latest Form C or KIIS), or null. */
export function offeringStatement(c) {
  const kind = STATEMENT[c.regime];
  const docs = (c.documents || []).filter((d) => d.kind === kind);
  return docs.length ? docs[docs.length - 1] : null;
}

/** The latest image filed with the offering: its cover. */
export function coverImage(c) {
  const images = (c.documents || []).filter((d) => d.kind === 'IMAGE');
  return images.length ? images[images.length - 1] : null;
}

export function coverEl(c, className = 'cover') {
  const cover = coverImage(c);
  if (!cover) return null;
  return h('img', { class: className, src: cover.url, alt: '', testid: 'cover-image', loading: 'lazy', decoding: 'async' });
}

function section(id, title, testid, ...children) {
  const headingId = uid(id);
  return h('section', { id, class: 'offering-section', testid, 'aria-labelledby': headingId }, h('h2', { id: headingId, tabindex: '-1' }, title), ...children);
}

function prose(html, testid, empty) {
  if (!html) return h('p', { class: 'empty', testid: `${testid}-empty` }, empty);
  const div = h('div', { class: 'prose', testid });
  div.append(safeHtml(html));
  return div;
}

/** Key terms a backer compares between offerings. */
export function keyTerms(c) {
  const cur = c.currency;
  const row = (label, value, testid, data) => h('div', {}, h('dt', {}, label), h('dd', { testid, dataset: data ? { value: data } : null }, value));
  return h(
    'dl',
    { class: 'facts key-terms', testid: 'key-terms' },
    row('Security', SECURITY_LABELS[c.securityType] || humanize(c.securityType), 'security-type'),
    row('Price per share', displayMoney(c.pricePerShare, cur), 'price-per-share', normalizeDecimal(c.pricePerShare)),
    row('Pre-money valuation', c.valuation ? displayMoney(c.valuation, cur) : 'Not stated', 'valuation', c.valuation ? normalizeDecimal(c.valuation) : ''),
    row('Minimum pledge', displayMoney(c.minPledge, cur), 'min-pledge', normalizeDecimal(c.minPledge)),
    row('Minimum target', [displayMoney(c.minTarget, cur), h('span', { class: 'hint' }, ' all or nothing: below it every pledge is refunded')], 'terms-min-target', normalizeDecimal(c.minTarget)),
    row('Maximum target', displayMoney(c.maxTarget, cur), 'terms-max-target', normalizeDecimal(c.maxTarget)),
    h('div', {}, h('dt', {}, 'Deadline'), h('dd', {}, timeEl(c.deadline, { testid: 'deadline' }))),
    c.launchedAt ? h('div', {}, h('dt', {}, 'Launched'), h('dd', {}, timeEl(c.launchedAt, { testid: 'launched-at' }))) : null,
    row('Offered under', `${REGIME_LABELS[c.regime] || c.regime} · ${c.currency}`, 'offered-under'),
    c.founder ? row('Founder', c.founder.displayName, 'campaign-founder') : null,
  );
}

/** The in-page table of contents: every section a tab stop away. */
export function sectionNav() {
  const links = [
    ['story', 'Story'],
    ['team', 'Team'],
    ['use-of-proceeds', 'Use of proceeds'],
    ['risks', 'Risks'],
    ['documents', 'Documents'],
    ['updates', 'Updates'],
    ['questions', 'Q&A'],
  ];
  return h(
    'nav',
    { class: 'section-nav', 'aria-label': 'Sections of this offering', testid: 'section-nav' },
    h('ul', {}, links.map(([id, label]) => h('li', {}, h('a', {
      href: `#${id}`,
      dataset: { section: id },
      onclick: (event) => {
        // The router owns the URL's hash: scroll to the section instead of navigating.
        event.preventDefault();
        const target = document.getElementById(id);
        if (target) {
          target.scrollIntoView({ block: 'start' });
          const heading = target.querySelector('h2');
          if (heading) heading.focus({ preventScroll: true });
        }
      },
    }, label)))),
  );
}

/** The short risk warning shown before anything else can be read or pledged. */
export function riskSummary(c) {
  return h(
    'aside',
    { class: 'risk-summary', testid: 'risk-summary', 'aria-label': 'Risk warning' },
    h('strong', {}, 'Capital at risk. '),
    c.regime === 'ECSP'
      ? 'This offer has been neither verified nor approved by competent authorities or ESMA. You may lose all of the money you invest, and you may not be able to sell your shares. '
      : 'You may lose all of the money you invest; the shares cannot be resold for a year and may never be. The SEC does not pass on the merits of this offering. ',
    h('a', { href: '#risks', onclick: (e) => { e.preventDefault(); document.getElementById('risks')?.scrollIntoView(); } }, 'Read the risks'),
  );
}

export function storySection(c) {
  return section('story', 'The story', 'story', prose(c.storyHtml, 'story-body', 'The founder has not told the story yet.'));
}

export function teamSection(c) {
  const team = c.team || [];
  return section(
    'team',
    'Team',
    'team',
    team.length
      ? h(
          'ul',
          { class: 'team-list' },
          team.map((m) => h('li', { class: 'team-member', testid: 'team-member' },
            h('p', { class: 'team-name' }, h('strong', {}, m.name)),
            h('p', { class: 'team-role muted' }, m.role),
            m.bio ? h('p', { class: 'team-bio' }, m.bio) : null)),
        )
      : h('p', { class: 'empty', testid: 'team-empty' }, 'No team members listed.'),
  );
}

export function proceedsSection(c) {
  return section('use-of-proceeds', 'Use of proceeds', 'use-of-proceeds', prose(c.useOfProceedsHtml, 'use-of-proceeds-body', 'The founder has not described the use of proceeds yet.'));
}

export function risksSection(c) {
  return section(
    'risks',
    'Risks',
    'risks',
    h('p', { class: 'risk-lead' }, 'Investing in early-stage companies is risky. Read the issuer’s own statement of its principal risks before you pledge.'),
    prose(c.risksHtml, 'risks-body', 'The issuer has not stated its risks yet: read the offering statement.'),
  );
}

const TYPE_LABELS = { 'application/pdf': 'PDF', 'image/png': 'PNG image', 'image/jpeg': 'JPEG image', 'image/webp': 'WebP image' };

export function documentsSection(c) {
  const docs = (c.documents || []).slice().reverse(); // newest first
  const current = offeringStatement(c);
  const body = docs.length
    ? h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'documents', testid: 'documents-table' },
          h('caption', { class: 'visually-hidden' }, 'Documents filed with this offering, newest first'),
          h('thead', {}, h('tr', {}, ['Document', 'Kind', 'Type and size', 'SHA-256', 'Filed'].map((t) => h('th', { scope: 'col' }, t)))),
          h(
            'tbody',
            {},
            docs.map((d) => h(
              'tr',
              { testid: 'document-row', dataset: { kind: d.kind, sha256: d.sha256 } },
              h('td', { 'data-label': 'Document' },
                h('a', { href: d.url, download: d.name, testid: 'document-link', type: d.contentType }, d.name),
                current && current.id === d.id ? h('span', { class: 'badge current-badge', testid: 'document-current' }, 'Current') : null,
                d.kind === current?.kind && current.id !== d.id ? h('span', { class: 'badge muted-badge' }, 'Superseded') : null),
              h('td', { 'data-label': 'Kind' }, DOCUMENT_LABELS[d.kind] || humanize(d.kind)),
              h('td', { 'data-label': 'Type and size', testid: 'document-type' }, `${TYPE_LABELS[d.contentType] || d.contentType}, ${displaySize(d.size)}`),
              h('td', { 'data-label': 'SHA-256' }, h('code', { class: 'sha', testid: 'document-sha256', title: 'The audit log records this hash of the file' }, d.sha256)),
              h('td', { 'data-label': 'Filed' }, timeEl(d.uploadedAt)),
            )),
          ),
        ),
      )
    : h('p', { class: 'empty', testid: 'documents-empty' }, 'No documents have been filed yet.');
  return section(
    'documents',
    'Documents',
    'documents',
    h('p', { class: 'hint' }, 'Each file’s SHA-256 is recorded in the platform’s tamper-evident audit log: compare it with the file you download.'),
    body,
  );
}

export function updatesSection(c) {
  const updates = (c.updates || []).slice().sort((a, b) => String(b.postedAt).localeCompare(String(a.postedAt)));
  return section(
    'updates',
    'Updates from the founder',
    'updates',
    updates.length
      ? h(
          'ol',
          { class: 'update-list' },
          updates.map((u) => h(
            'li',
            {},
            h(
              'article',
              { class: `update${u.material ? ' material' : ''}`, testid: 'update-item', dataset: { updateId: u.id, material: String(!!u.material) } },
              h('h3', {}, u.title, u.material ? h('span', { class: 'badge material-badge', testid: 'update-material' }, 'Material change') : null),
              h('p', { class: 'muted' }, 'Posted ', timeEl(u.postedAt)),
              h('p', { class: 'update-body', testid: 'update-body' }, textWithTimes(u.body)),
            ),
          )),
        )
      : h('p', { class: 'empty', testid: 'updates-empty' }, 'No updates yet.'),
  );
}

/** The page's own address for sharing: /campaigns/<id> carries Open Graph tags. */
export function shareUrl(c) {
  return `${location.origin}/campaigns/${encodeURIComponent(c.id)}`;
}

export function shareBox(c) {
  const url = shareUrl(c);
  const status = h('span', { class: 'muted', role: 'status', 'aria-live': 'polite', testid: 'share-status' });
  const input = h('input', { type: 'text', readonly: true, value: url, class: 'share-url', testid: 'share-url', 'aria-label': 'Link to this offering', onfocus: (e) => e.target.select() });
  const copy = h('button', {
    type: 'button',
    class: 'button small secondary',
    testid: 'share-copy',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(url);
        status.textContent = 'Link copied.';
      } catch {
        input.focus();
        input.select();
        status.textContent = 'Press Ctrl+C (⌘C) to copy the selected link.';
      }
    },
  }, 'Copy link');
  return h('section', { class: 'panel share-box', testid: 'share', 'aria-label': 'Share this offering' }, h('h2', {}, 'Share'), input, h('p', { class: 'actions' }, copy, ' ', status));
}
