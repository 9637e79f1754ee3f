// Money helpers. Amounts are handled as BigInt integer cents; nothing sent to the
// server ever goes through floating point. Server values are Decimal strings
// with at most 2 fraction digits ("2500.00").

const SYMBOLS = { USD: '$', EUR: '€' };

/**
 * Parse what a person typed ("1250", "1250.5", "1,250.50", "12,50") into BigInt
 * cents. Returns null when the text is not an amount with at most 2 decimals.
 */
export function parseMoney(input) {
  if (input === null || input === undefined) return null;
  let s = String(input).trim().replace(/[\s_\u00a0]/g, '');
  s = s.replace(/^(?:[$€]|USD|EUR)/i, '');
  if (s === '') return null;
  if (s.includes(',')) {
    if (!s.includes('.') && /^-?\d+,\d{1,2}$/.test(s)) {
      s = s.replace(',', '.'); // decimal comma: "12,50"
    } else if (/^-?\d{1,3}(,\d{3})+(\.\d*)?$/.test(s)) {
      s = s.replace(/,/g, ''); // thousands separators: "1,250.50"
    } else {
      return null;
    }
  }
  const m = /^(-)?(\d*)(?:\.(\d{0,2}))?$/.exec(s);
  if (!m) return null;
  if (m[2] === '' && !m[3]) return null;
  const whole = BigInt(m[2] || '0');
  const frac = BigInt((m[3] || '').padEnd(2, '0'));
  const cents = whole * 100n + frac;
  return m[1] ? -cents : cents;
}

/**
 * Convert a Decimal coming from the server into cents. Lenient: accepts numbers
 * and extra fraction digits (truncated). Returns null for anything else.
 */
export function toCents(value) {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'bigint') return value;
  const s = String(value).trim();
  const m = /^(-)?(\d+)(?:\.(\d*))?$/.exec(s);
  if (!m) return null;
  const frac = BigInt(((m[3] || '') + '00').slice(0, 2));
  const cents = BigInt(m[2]) * 100n + frac;
  return m[1] ? -cents : cents;
}

/** BigInt cents -> "N.NN" (the wire format). */
export function formatCents(cents) {
  if (cents === null || cents === undefined) return '';
  const c = BigInt(cents);
  const neg = c < 0n;
  const abs = neg ? -c : c;
  const whole = abs / 100n;
  const frac = (abs % 100n).toString().padStart(2, '0');
  return `${neg ? '-' : ''}${whole}.${frac}`;
}

/** Normalise a server Decimal to "N.NN" (for data-value attributes). */
export function normalizeDecimal(value) {
  const c = toCents(value);
  return c === null ? '' : formatCents(c);
}

function group(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Human display: "$2,500.00", "€1,000.00", "GBP 10.00". */
export function displayMoney(value, currency) {
  const c = typeof value === 'bigint' ? value : toCents(value);
  if (c === null) return value === null || value === undefined ? '—' : String(value);
  const neg = c < 0n;
  const abs = neg ? -c : c;
  const whole = group((abs / 100n).toString());
  const frac = (abs % 100n).toString().padStart(2, '0');
  const sym = SYMBOLS[currency] ?? (currency ? `${currency} ` : '');
  return `${neg ? '−' : ''}${sym}${whole}.${frac}`;
}

/** Whole shares bought by an amount, and the amount snapped down to them. */
export function sharesFor(amountCents, priceCents) {
  if (amountCents === null || priceCents === null || priceCents <= 0n || amountCents < 0n) {
    return { shares: 0n, snapped: 0n };
  }
  const shares = amountCents / priceCents;
  return { shares, snapped: shares * priceCents };
}

/** Smallest whole-share amount that is >= min. */
export function firstValidAmount(minCents, priceCents) {
  if (priceCents === null || priceCents <= 0n) return minCents ?? 0n;
  const min = minCents !== null && minCents > 0n ? minCents : priceCents;
  const shares = (min + priceCents - 1n) / priceCents;
  return (shares < 1n ? 1n : shares) * priceCents;
}

/** part/whole as a percentage (0..100, two decimals) for display only. */
export function percentOf(part, whole) {
  if (part === null || whole === null || whole <= 0n) return 0;
  let bp = (part * 10000n) / whole; // basis points
  if (bp < 0n) bp = 0n;
  if (bp > 10000n) bp = 10000n;
  return Number(bp) / 100;
}
