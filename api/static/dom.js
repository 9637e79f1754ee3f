// DOM and formatting helpers. Content is inserted as text, never as HTML, so titles,
// summaries and messages from the server cannot inject markup. The one exception is the
// offering's Markdown (storyHtml, risksHtml, …), which the server renders and sanitises;
// `safeHtml` rebuilds it here from an allow-list as well, so no raw HTML can pass.

/**
 * h('p', {class: 'x', testid: 'y', onclick: fn}, 'text', child, [more])
 * - `testid` becomes data-testid, `dataset` is merged into data-*,
 * - on<event> functions become listeners,
 * - true sets an empty attribute, false/null/undefined are skipped.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'testid') el.setAttribute('data-testid', value);
      else if (key === 'dataset') {
        for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) el.dataset[k] = String(v);
      } else if (key === 'text') el.textContent = value;
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value);
      else if (value === true) el.setAttribute(key, '');
      else el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replaceChildren(el, ...children) {
  el.textContent = '';
  return append(el, children);
}

// ------------------------------------------------------------------ sanitised HTML

const SAFE_TAGS = new Set([
  'P', 'BR', 'HR', 'H3', 'H4', 'H5', 'H6', 'STRONG', 'EM', 'DEL', 'S', 'CODE', 'PRE',
  'BLOCKQUOTE', 'UL', 'OL', 'LI', 'A', 'TABLE', 'THEAD', 'TBODY', 'TR', 'TH', 'TD',
]);
const SAFE_URL = /^(https?:|mailto:)/i;

/**
 * A fragment rebuilt from `html` with allow-listed tags only: other elements are
 * replaced by their text, attributes are dropped except a link's http(s)/mailto href
 * and an ordered list's start. Parsing happens in an inert document (no scripts run).
 */
export function safeHtml(html) {
  const inert = new DOMParser().parseFromString(`<body>${html || ''}</body>`, 'text/html');
  const out = document.createDocumentFragment();
  const copy = (from, to) => {
    for (const node of from.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) {
        to.append(document.createTextNode(node.textContent));
      } else if (node.nodeType === Node.ELEMENT_NODE) {
        if (!SAFE_TAGS.has(node.tagName)) {
          if (!['SCRIPT', 'STYLE', 'TEMPLATE', 'IFRAME', 'OBJECT'].includes(node.tagName)) copy(node, to);
          continue;
        }
        const el = document.createElement(node.tagName.toLowerCase());
        if (node.tagName === 'A') {
          const href = node.getAttribute('href') || '';
          if (SAFE_URL.test(href.trim())) el.setAttribute('href', href.trim());
          el.setAttribute('rel', 'noopener noreferrer nofollow ugc');
        }
        if (node.tagName === 'OL' && /^[0-9]{1,6}$/.test(node.getAttribute('start') || '')) {
          el.setAttribute('start', node.getAttribute('start'));
        }
        copy(node, el);
        to.append(el);
      }
    }
  };
  copy(inert.body, out);
  return out;
}

const ISO_INSTANT = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})\b/g;

/** Text whose ISO 8601 instants become <time> elements in the reader's time zone. */
export function textWithTimes(text) {
  const nodes = [];
  let last = 0;
  const source = String(text || '');
  for (const match of source.matchAll(ISO_INSTANT)) {
    nodes.push(source.slice(last, match.index));
    nodes.push(timeEl(match[0]));
    last = match.index + match[0].length;
  }
  nodes.push(source.slice(last));
  return nodes;
}

let idCounter = 0;
export function uid(prefix = 'id') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

// ------------------------------------------------------------------ time

function parseDate(iso) {
  if (!iso) return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function fmtDateTime(iso) {
  const d = parseDate(iso);
  if (!d) return iso ? String(iso) : '—';
  try {
    return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  } catch {
    return d.toLocaleString();
  }
}

export function fmtDuration(ms) {
  let s = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(s / 86400);
  s %= 86400;
  const hours = Math.floor(s / 3600);
  s %= 3600;
  const minutes = Math.floor(s / 60);
  s %= 60;
  if (days > 0) return `${days} day${days === 1 ? '' : 's'} ${hours} h`;
  if (hours > 0) return `${hours} h ${minutes} min`;
  if (minutes > 0) return `${minutes} min ${s} s`;
  return `${s} s`;
}

export function isFuture(iso) {
  const d = parseDate(iso);
  return !!d && d.getTime() > Date.now();
}

function countdownText(el) {
  const d = parseDate(el.dataset.countdown);
  if (!d) return '';
  const ms = d.getTime() - Date.now();
  if (ms <= 0) return el.dataset.past || 'ended';
  return (el.dataset.future || '{t} left').replace('{t}', fmtDuration(ms));
}

/** A <time> showing the local date and time of an ISO instant. */
export function timeEl(iso, props = {}) {
  return h('time', { datetime: iso || '', title: iso || '', ...props }, fmtDateTime(iso));
}

/**
 * A live relative countdown ("3 days 4 h left"), refreshed every second by the
 * ticker. `future` is a template with {t}; `past` is shown once the time passed.
 */
export function countdownEl(iso, { future = '{t} left', past = 'ended', testid, className } = {}) {
  const el = h('span', {
    class: `countdown ${className || ''}`.trim(),
    testid,
    dataset: { countdown: iso || '', future, past },
  });
  el.textContent = countdownText(el);
  return el;
}

let tickerStarted = false;
/** One interval for every countdown and every [data-hide-after] element. */
export function startTicker() {
  if (tickerStarted) return;
  tickerStarted = true;
  setInterval(() => {
    for (const el of document.querySelectorAll('[data-countdown]')) {
      const text = countdownText(el);
      if (el.textContent !== text) el.textContent = text;
    }
    for (const el of document.querySelectorAll('[data-hide-after]')) {
      if (!el.hidden && !isFuture(el.dataset.hideAfter)) el.hidden = true;
    }
  }, 1000);
}

// ------------------------------------------------------------------ forms

/**
 * A labelled form field with hint and error slots.
 * Returns { wrap, input, error, setError(message), clearError() }.
 */
export function field({ name, label, testid, type = 'text', hint, required = false, attrs = {}, control }) {
  const id = uid(`f-${name}`);
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  let input = control;
  if (!input) {
    input = h('input', { id, name, type, required, 'aria-required': required ? 'true' : null, testid, ...attrs });
  } else {
    input.id = id;
    if (testid) input.setAttribute('data-testid', testid);
  }
  const describedBy = [hintId, errorId].filter(Boolean).join(' ');
  input.setAttribute('aria-describedby', describedBy);
  const isCheck = type === 'checkbox' || type === 'radio';
  const labelEl = h('label', { for: id, class: isCheck ? 'check-label' : null }, label);
  const hintEl = hint ? h('p', { id: hintId, class: 'hint' }, hint) : null;
  const error = h('p', { id: errorId, class: 'field-error', testid: testid ? `${testid}-error` : null, hidden: true });
  const wrap = isCheck
    ? h('div', { class: 'field field-check' }, input, labelEl, hintEl, error)
    : h('div', { class: 'field' }, labelEl, hintEl, input, error);
  const setError = (message) => {
    if (message) {
      error.textContent = message;
      error.hidden = false;
      input.setAttribute('aria-invalid', 'true');
    } else {
      error.textContent = '';
      error.hidden = true;
      input.removeAttribute('aria-invalid');
    }
  };
  return { wrap, input, error, setError, clearError: () => setError(null) };
}

/** A polite live region used for a form's or a page's messages. */
export function messageBox(testid, extraClass = '') {
  // Focusable from script (tabindex -1): after an action that removes the button that was
  // pressed, focus moves here instead of falling back to the top of the page.
  return h('div', { class: `message ${extraClass}`.trim(), role: 'status', 'aria-live': 'polite', tabindex: '-1', testid });
}

/** Move focus without scrolling the page when the element is already in view. */
export function focusQuietly(el) {
  if (!el) return;
  try {
    el.focus({ preventScroll: true });
  } catch {
    el.focus();
  }
  if (typeof el.scrollIntoView === 'function') el.scrollIntoView({ block: 'nearest' });
}

/**
 * Show a message in a live region.
 * kind: 'error' | 'success' | 'info'; extra: nodes appended after the text.
 */
export function showMessage(box, kind, text, { typename, code, extra } = {}) {
  if (!box) return;
  box.className = box.className.replace(/\bmessage--\w+\b/g, '').trim();
  box.textContent = '';
  delete box.dataset.typename;
  delete box.dataset.code;
  box.dataset.kind = kind || '';
  if (!text && !extra) return;
  box.classList.add(`message--${kind || 'info'}`);
  if (typename) box.dataset.typename = typename;
  if (code) box.dataset.code = code;
  append(box, [h('span', { class: 'message-text' }, text), extra ? [' ', extra] : null]);
}

export function clearMessage(box) {
  showMessage(box, '', '');
}

/** Normalise a ValidationProblem.field ("input.dateOfBirth", "date_of_birth") to camelCase. */
export function normalizeField(field) {
  if (!field) return '';
  const last = String(field).split(/[.\/]/).pop() || '';
  return last.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
}

/** Human label for an enum value: PENDING_RECONFIRMATION -> "Pending reconfirmation". */
export function humanize(value) {
  if (!value) return '';
  const s = String(value).toLowerCase().replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Roles worth naming in the header: every account may back and found, staff roles differ. */
export const STAFF_ROLES = ['ADMIN', 'RISK_OFFICER', 'AUDITOR'];

export const SECURITY_LABELS = {
  COMMON_EQUITY: 'Common equity',
  PREFERRED_EQUITY: 'Preferred equity',
  SAFE: 'SAFE (simple agreement for future equity)',
  CONVERTIBLE_NOTE: 'Convertible note',
  REVENUE_SHARE: 'Revenue share',
};

export const DOCUMENT_LABELS = {
  FORM_C: 'Form C (offering statement)',
  KIIS: 'Key investment information sheet',
  FINANCIAL_STATEMENTS: 'Financial statements',
  PITCH_DECK: 'Pitch deck',
  IMAGE: 'Image',
  OTHER: 'Other document',
};

export const ROLE_LABELS = {
  BACKER: 'Backer',
  FOUNDER: 'Founder',
  RISK_OFFICER: 'Risk officer',
  AUDITOR: 'Auditor',
  ADMIN: 'Admin',
};

export const REGIME_LABELS = { REG_CF: 'Reg CF (US)', ECSP: 'ECSP (EU)' };

/** A new idempotency key (crypto.randomUUID, with a fallback for insecure contexts). */
export function newKey() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c && typeof c.getRandomValues === 'function') c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i += 1) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Ask for a second, explicit yes before a destructive action (a native modal dialog:
 * focus stays inside, Escape answers no). `body`: nodes explaining what will happen.
 * Resolves to true for yes. Test ids: confirm-dialog, confirm-yes, confirm-no.
 */
export function confirmAction({ title, body, yes, no = 'Go back', danger = true }) {
  return new Promise((resolve) => {
    const titleId = uid('confirm');
    const yesButton = h('button', { type: 'button', class: danger ? 'button danger' : 'button', testid: 'confirm-yes' }, yes);
    const noButton = h('button', { type: 'button', class: 'button secondary', testid: 'confirm-no' }, no);
    const back = document.activeElement;
    const dialog = h(
      'dialog',
      { class: 'confirm-dialog', testid: 'confirm-dialog', 'aria-labelledby': titleId },
      h('h2', { id: titleId }, title),
      body,
      h('p', { class: 'actions' }, noButton, ' ', yesButton),
    );
    document.body.append(dialog);
    const finish = (answer) => {
      if (dialog.open) dialog.close();
      dialog.remove();
      if (!answer && back && typeof back.focus === 'function') setTimeout(() => focusQuietly(back), 0);
      resolve(answer);
    };
    noButton.addEventListener('click', () => finish(false));
    yesButton.addEventListener('click', () => finish(true));
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      finish(false);
    });
    dialog.showModal();
    noButton.focus();
  });
}
