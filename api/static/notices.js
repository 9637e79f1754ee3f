// Notices and the public Q&A: the bell with the unread count, the notifications page
// (#/notifications) and the Q&A section of a campaign page. Every text from the server
// is inserted as text (dom.js `h`), never as HTML.

import { h, replaceChildren, messageBox, showMessage, clearMessage, timeEl, humanize } from './dom.js';
import { gql, caughtUp, getToken } from './graphql.js';
import { session, onSessionChange, signInHref } from './session.js';
import { errorText, isProblem, problemText } from './problems.js';

const BELL_POLL_MS = 10000;
const PAGE_SIZE = 20;
const MAX_QUESTION = 2000;

const UNREAD_QUERY = `query { myNotifications(first: 0) { unreadCount } }`;
const NOTICES_QUERY = `
  query Notices($first: Int, $after: String, $unread: Boolean) {
    myNotifications(first: $first, after: $after, unreadOnly: $unread) {
      totalCount unreadCount pageInfo { hasNextPage endCursor }
      edges { node { id kind subject body read position createdAt campaign { id title } } }
    }
  }`;
const MARK_READ = `
  mutation Mark($ids: [ID!]!) {
    markNotificationsRead(ids: $ids) { __typename ... on NotificationsRead { count } ... on Problem { code message } }
  }`;
const QUESTION_FIELDS = 'id body answer hidden hiddenReason askedAt answeredAt askedByFounder askedBy { id displayName } answeredBy { id displayName }';
const QUESTIONS_QUERY = `query Q($id: ID!) { campaign(id: $id) { id questions { ${QUESTION_FIELDS} } } }`;
const QUESTION_RESULT = `__typename ... on QuestionSaved { position question { ${QUESTION_FIELDS} } } ... on Problem { code message } ... on ValidationProblem { field }`;
const ASK = `mutation Ask($c: ID!, $b: String!) { askQuestion(campaignId: $c, body: $b) { ${QUESTION_RESULT} } }`;
const ANSWER = `mutation Answer($q: ID!, $b: String!) { answerQuestion(questionId: $q, body: $b) { ${QUESTION_RESULT} } }`;
const HIDE = `mutation Hide($q: ID!, $r: String!) { hideQuestion(questionId: $q, reason: $r) { ${QUESTION_RESULT} } }`;

// ------------------------------------------------------------------ the bell

const bell = { count: null, timer: null, listeners: [] };

function bellEl() {
  return document.querySelector('[data-testid="bell-count"]');
}

function showCount(count) {
  bell.count = count;
  const el = bellEl();
  if (!el) return;
  el.textContent = String(count);
  el.dataset.value = String(count);
  el.hidden = !count;
  const link = document.querySelector('[data-testid="nav-bell"]');
  if (link) link.setAttribute('aria-label', count ? `Notifications, ${count} unread` : 'Notifications');
  for (const fn of bell.listeners) fn(count);
}

/** Ask the server for the unread count now (after reading or marking). */
export async function refreshBell() {
  if (!getToken()) {
    showCount(0);
    return;
  }
  try {
    const data = await gql(UNREAD_QUERY, {}, { quietAuth: true });
    showCount(data.myNotifications.unreadCount);
  } catch {
    /* keep the last count; the next poll tries again */
  }
}

/** Poll the unread count while signed in (the page calls this once at start-up). */
export function startBell() {
  const tick = async () => {
    await refreshBell();
    bell.timer = setTimeout(tick, BELL_POLL_MS);
  };
  onSessionChange(() => refreshBell());
  tick();
}

// ------------------------------------------------------------------ #/notifications

export function notificationsPage(main, _params, ctx) {
  ctx.setTitle('Notifications');
  if (!getToken()) {
    replaceChildren(main, h('h1', { tabindex: '-1' }, 'Notifications'),
      h('p', {}, h('a', { href: signInHref('/notifications') }, 'Sign in'), ' to see your notifications.'));
    return;
  }
  const status = messageBox('notifications-message');
  const list = h('ol', { class: 'notice-list', testid: 'notification-list' });
  const empty = h('p', { class: 'empty', testid: 'notifications-empty', hidden: true }, 'No notifications yet.');
  const unreadOnly = h('input', { type: 'checkbox', testid: 'notifications-unread-only' });
  const markAll = h('button', { type: 'button', class: 'button small', testid: 'mark-all-read' }, 'Mark all as read');
  const more = h('button', { type: 'button', class: 'button secondary', testid: 'notifications-more', hidden: true }, 'Load more');
  replaceChildren(
    main,
    h('h1', { tabindex: '-1' }, 'Notifications'),
    h('p', { class: 'muted' }, 'Notices about your account, pledges and offerings. The same notices are e-mailed to you.'),
    h('p', { class: 'notice-tools' }, h('label', {}, unreadOnly, ' Unread only'), ' ', markAll),
    status, list, empty, more,
  );
  let cursor = null;
  const shown = new Map();

  async function markRead(ids) {
    if (!ids.length) return;
    try {
      const data = await gql(MARK_READ, { ids });
      const result = data.markNotificationsRead;
      if (isProblem(result)) {
        showMessage(status, 'error', problemText(result), { typename: result.__typename, code: result.code });
        return;
      }
      for (const id of ids) {
        const item = shown.get(id);
        if (item) setRead(item, true);
      }
      showMessage(status, 'success', result.count === 1 ? 'Marked 1 notification as read.' : `Marked ${result.count} notifications as read.`, { typename: result.__typename });
      refreshBell();
    } catch (err) {
      showMessage(status, 'error', `Could not mark them as read. ${errorText(err)}`);
    }
  }

  function setRead(item, read) {
    item.el.dataset.read = String(read);
    item.el.classList.toggle('unread', !read);
    item.button.hidden = read;
  }

  function noticeItem(n) {
    const button = h('button', { type: 'button', class: 'button small secondary', testid: 'notification-mark-read', onclick: () => markRead([n.id]) }, 'Mark as read');
    const el = h(
      'li',
      { class: 'notice-item', testid: 'notification', dataset: { id: n.id, kind: n.kind, read: String(n.read) } },
      h('h2', { class: 'notice-subject', testid: 'notification-subject' }, n.subject),
      h('p', { class: 'muted' }, h('span', { class: 'badge', testid: 'notification-kind' }, humanize(n.kind)), ' ', timeEl(n.createdAt),
        n.campaign ? [' · ', h('a', { href: `#/campaign/${encodeURIComponent(n.campaign.id)}`, testid: 'notification-campaign' }, n.campaign.title)] : null),
      h('pre', { class: 'notice-body', testid: 'notification-body' }, n.body),
      button,
    );
    const item = { el, button };
    setRead(item, n.read);
    shown.set(n.id, item);
    return el;
  }

  async function load(reset) {
    if (reset) {
      cursor = null;
      shown.clear();
      list.textContent = '';
    }
    showMessage(status, 'info', 'Loading…');
    try {
      const data = await gql(NOTICES_QUERY, { first: PAGE_SIZE, after: cursor, unread: unreadOnly.checked });
      if (!ctx.alive()) return;
      const page = data.myNotifications;
      for (const edge of page.edges) list.append(noticeItem(edge.node));
      cursor = page.pageInfo.endCursor;
      more.hidden = !page.pageInfo.hasNextPage;
      empty.hidden = shown.size > 0;
      showCount(page.unreadCount);
      clearMessage(status);
    } catch (err) {
      if (ctx.alive()) showMessage(status, 'error', `Could not load your notifications. ${errorText(err)}`);
    }
  }

  markAll.addEventListener('click', () => markRead([...shown.entries()].filter(([, i]) => !i.button.hidden).map(([id]) => id)));
  more.addEventListener('click', () => load(false));
  unreadOnly.addEventListener('change', () => load(true));
  // New notices arrive while the page is open: reload when the bell's count goes up.
  const onCount = (count) => {
    const unreadShown = [...shown.values()].filter((i) => !i.button.hidden).length;
    if (ctx.alive() && count > unreadShown) load(true);
  };
  bell.listeners.push(onCount);
  ctx.onCleanup(() => {
    bell.listeners = bell.listeners.filter((fn) => fn !== onCount);
  });
  load(true);
}

// ------------------------------------------------------------------ Q&A on a campaign page

/** The public Q&A of campaign `c` (with `c.founder.id`), as a section element. */
export function questionsSection(c, ctx) {
  const headingId = `qa-${c.id}`;
  const list = h('ol', { class: 'question-list', testid: 'question-list' });
  const empty = h('p', { class: 'empty', testid: 'questions-empty' }, 'No questions yet.');
  const status = messageBox('qa-message');
  const section = h(
    'section',
    { class: 'panel questions', testid: 'questions', 'aria-labelledby': headingId },
    h('h2', { id: headingId }, 'Questions and answers'),
    h('p', { class: 'muted' }, 'Ask the founder in public; answers are public too. Founders are marked as such.'),
    status, list, empty,
  );

  const me = () => session.me;
  const isFounder = () => !!me() && me().id === (c.founder && c.founder.id);
  const isOfficer = () => !!me() && (me().roles || []).includes('RISK_OFFICER');

  async function after(result, done) {
    if (isProblem(result)) {
      showMessage(status, 'error', problemText(result), { typename: result.__typename, code: result.code });
      return false;
    }
    await caughtUp(result.position);
    showMessage(status, 'success', done, { typename: result.__typename });
    await load();
    return true;
  }

  function textBox(testid, label, placeholder) {
    const input = h('textarea', { testid, maxlength: String(MAX_QUESTION), rows: '3', required: true, placeholder, 'aria-label': label });
    return input;
  }

  function questionItem(q) {
    const who = h('span', { class: 'asker', testid: 'question-asker' }, q.askedBy ? q.askedBy.displayName : 'A member',
      q.askedByFounder ? [' ', h('span', { class: 'badge founder-badge', testid: 'founder-badge' }, 'Founder')] : null);
    const item = h(
      'li',
      { class: 'question', testid: 'question', dataset: { id: q.id, hidden: String(q.hidden) } },
      h('p', { class: 'muted' }, who, ' asked ', timeEl(q.askedAt)),
      q.body !== null && q.body !== undefined
        ? h('p', { class: 'question-body', testid: 'question-body' }, q.body)
        : h('p', { class: 'question-body hidden-note', testid: 'question-hidden' }, 'Hidden by a risk officer.'),
      q.hidden && q.body ? h('p', { class: 'muted', testid: 'question-hidden' }, `Hidden by a risk officer: ${q.hiddenReason || ''}`) : null,
    );
    if (q.answer) {
      item.append(h('div', { class: 'answer', testid: 'question-answer' },
        h('p', { class: 'muted' }, h('span', { class: 'badge founder-badge' }, 'Founder'), ' ', q.answeredBy ? q.answeredBy.displayName : '', ' answered ', q.answeredAt ? timeEl(q.answeredAt) : ''),
        h('p', { class: 'answer-body' }, q.answer)));
    } else if (!q.hidden && isFounder()) {
      const box = textBox('answer-body', 'Your answer', 'Your public answer');
      const form = h('form', { class: 'answer-form', testid: 'answer-form' }, box,
        h('button', { type: 'submit', class: 'button small', testid: 'answer-submit' }, 'Answer'));
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        try {
          const data = await gql(ANSWER, { q: q.id, b: box.value });
          await after(data.answerQuestion, 'Your answer is published.');
        } catch (err) {
          showMessage(status, 'error', `Could not answer. ${errorText(err)}`);
        }
      });
      item.append(form);
    }
    if (!q.hidden && isOfficer() && !isFounder()) {
      const hide = h('button', { type: 'button', class: 'button small danger', testid: 'question-hide' }, 'Hide as abusive');
      hide.addEventListener('click', async () => {
        const reason = window.prompt('Why hide this question? (kept in the audit trail)');
        if (!reason) return;
        try {
          const data = await gql(HIDE, { q: q.id, r: reason });
          await after(data.hideQuestion, 'The question is hidden.');
        } catch (err) {
          showMessage(status, 'error', `Could not hide it. ${errorText(err)}`);
        }
      });
      item.append(hide);
    }
    return item;
  }

  function askForm() {
    if (c.status !== 'LIVE') return h('p', { class: 'muted', testid: 'ask-closed' }, 'Questions can be asked while the offering is live.');
    if (!getToken()) return h('p', { testid: 'ask-signin' }, h('a', { href: signInHref(`/campaign/${c.id}`) }, 'Sign in'), ' to ask a question.');
    const box = textBox('ask-body', 'Your question', 'Your question to the founder (public)');
    const counter = h('span', { class: 'muted', testid: 'ask-count' }, `0 / ${MAX_QUESTION}`);
    box.addEventListener('input', () => {
      counter.textContent = `${box.value.length} / ${MAX_QUESTION}`;
    });
    const form = h('form', { class: 'ask-form', testid: 'ask-form' }, h('label', {}, 'Ask a question'), box, counter, ' ',
      h('button', { type: 'submit', class: 'button', testid: 'ask-submit' }, 'Ask'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        const data = await gql(ASK, { c: c.id, b: box.value });
        if (await after(data.askQuestion, 'Your question is published; the founder has been told.')) {
          box.value = '';
          counter.textContent = `0 / ${MAX_QUESTION}`;
        }
      } catch (err) {
        showMessage(status, 'error', `Could not ask. ${errorText(err)}`);
      }
    });
    return form;
  }

  async function load() {
    try {
      const data = await gql(QUESTIONS_QUERY, { id: c.id }, { quietAuth: true });
      if (!ctx.alive() || !data.campaign) return;
      const questions = data.campaign.questions || [];
      replaceChildren(list, questions.map(questionItem));
      empty.hidden = questions.length > 0;
    } catch (err) {
      if (ctx.alive()) showMessage(status, 'error', `Could not load the questions. ${errorText(err)}`);
    }
  }

  section.append(askForm());
  load();
  return section;
}
