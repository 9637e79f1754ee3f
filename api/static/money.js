// Money helpers. Amounts are handled as BigInt integer cents; nothing sent to the
// server ever goes through floating point. Server values are Decimal strings
// with at most 2 fraction digits ("2500.00").
//
// What a person types is read in their own locale (navigator.language): "300,00" in
// de-DE and "300.00" in en-US are both three hundred. A separator followed by exactly
// three digits is a thousands separator only where the locale says so; otherwise the
// input is ambiguous ("1.250" in en-US: 1,250 or 1.25?) and refused with a message.

/** The decimal and grouping separators of a locale (default: the browser's). */
export function separators(locale) {
  let decimal = '.';
  let group = ',';
  try {
    for (const part of new Intl.NumberFormat(locale || undefined).formatToParts(12345.6)) {
      if (part.type === 'decimal') decimal = part.value;
      if (part.type === 'group') group = part.value;
    }
  } catch {
    /* an unknown locale: the defaults */
  }
  return { decimal, group };
}

const SPACES = /[\s\u00a0\u202f_']/g;
const CURRENCY = /^(?:[$€]|USD|EUR)|(?:[$€]|USD|EUR)$/gi;

/**
 * Read what a person typed as an amount, in `locale` (`currency` only names the two
 * readings of an ambiguous input).
 * Returns { cents } or { error, code } where code is one of
 * EMPTY, NOT_A_NUMBER, TOO_MANY_DECIMALS, AMBIGUOUS.
 */
export function readAmount(input, locale, currency) {
  const raw = String(input ?? '').trim();
  let s = raw.replace(SPACES, '').replace(CURRENCY, '');
  if (s === '') return { error: 'Enter an amount.', code: 'EMPTY' };
  const negative = s.startsWith('-') || s.startsWith('−');
  if (negative) s = s.slice(1);
  const { decimal, group } = separators(locale);
  const example = decimal === ',' ? '250,00' : '250.00';
  if (!/^[0-9.,]+$/.test(s) || !/[0-9]/.test(s)) {
    return { error: `Enter the amount in digits, for example ${example}.`, code: 'NOT_A_NUMBER' };
  }
  const dots = (s.match(/\./g) || []).length;
  const commas = (s.match(/,/g) || []).length;
  let whole = s;
  let frac = '';
  if (dots && commas) {
    // Both: the last one separates the cents, the other groups thousands ("1.234,56").
    const dec = s.lastIndexOf('.') > s.lastIndexOf(',') ? '.' : ',';
    const grp = dec === '.' ? ',' : '.';
    const at = s.lastIndexOf(dec);
    if (s.indexOf(dec) !== at) return notANumber(example);
    whole = s.slice(0, at);
    frac = s.slice(at + 1);
    if (!groupedCorrectly(whole, grp)) return notANumber(example);
    whole = whole.split(grp).join('');
  } else if (dots || commas) {
    const sep = dots ? '.' : ',';
    const count = dots || commas;
    const at = s.indexOf(sep);
    const after = s.length - at - 1;
    if (count > 1) {
      if (!groupedCorrectly(s, sep)) return notANumber(example);
      whole = s.split(sep).join('');
    } else if (after === 3 && /^[1-9][0-9]{0,2}$/.test(s.slice(0, at))) {
      if (sep === group && sep !== decimal) {
        whole = s.slice(0, at) + s.slice(at + 1); // "1,250" in en-US, "1.250" in de-DE
      } else {
        const thousands = BigInt(s.slice(0, at) + s.slice(at + 1)) * 100n;
        const small = BigInt(s.slice(0, at)) * 100n + BigInt(s.slice(at + 1, at + 3));
        const asDecimal = `${s.slice(0, at)}${decimal}${s.slice(at + 1, at + 3)}`;
        return {
          error: `“${raw}” is ambiguous: write ${s.slice(0, at)}${s.slice(at + 1)} for ${displayMoney(thousands, currency)} or ${asDecimal} for ${displayMoney(small, currency)}.`,
          code: 'AMBIGUOUS',
        };
      }
    } else {
      whole = s.slice(0, at);
      frac = s.slice(at + 1);
    }
  }
  if (whole === '' && frac === '') return notANumber(example);
  if (!/^[0-9]*$/.test(whole) || !/^[0-9]*$/.test(frac)) return notANumber(example);
  if (frac.length > 2) {
    return { error: `Enter an amount with at most 2 decimals, for example ${example}.`, code: 'TOO_MANY_DECIMALS' };
  }
  if (whole.length > 15) return { error: 'That amount is larger than any pledge can be.', code: 'NOT_A_NUMBER' };
  const cents = BigInt(whole || '0') * 100n + BigInt(frac.padEnd(2, '0'));
  return { cents: negative ? -cents : cents };
}

function notANumber(example) {
  return { error: `Enter the amount in digits, for example ${example}.`, code: 'NOT_A_NUMBER' };
}

function groupedCorrectly(text, sep) {
  const parts = text.split(sep);
  return parts.length === 1 || (/^[0-9]{1,3}$/.test(parts[0]) && parts.slice(1).every((p) => /^[0-9]{3}$/.test(p)));
}

/**
 * Parse a typed amount ("1250", "1,250.50", "300,00") into BigInt cents, or null.
 * Kept for the forms that take any locale's input (the profile's figures).
 */
export function parseMoney(input, locale) {
  const read = readAmount(input, locale);
  return read.error ? null : read.cents;
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

/** BigInt cents as a person types it in their locale, without grouping ("300,00"). */
export function formatInput(cents, locale) {
  const wire = formatCents(cents);
  return separators(locale).decimal === ',' ? wire.replace('.', ',') : wire;
}

/** Normalise a server Decimal to "N.NN" (for data-value attributes). */
export function normalizeDecimal(value) {
  const c = toCents(value);
  return c === null ? '' : formatCents(c);
}

const formatters = new Map();
function currencyFormat(currency) {
  const key = currency || '';
  if (!formatters.has(key)) {
    let nf = null;
    try {
      nf = currency
        ? new Intl.NumberFormat(undefined, { style: 'currency', currency, minimumFractionDigits: 2, maximumFractionDigits: 2 })
        : new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    } catch {
      nf = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    formatters.set(key, nf);
  }
  return formatters.get(key);
}

/**
 * Human display in the reader's locale: "$2,500.00" (en-US), "2.500,00 €" (de-DE).
 * Exact: the decimal string is formatted, never a float.
 */
export function displayMoney(value, currency) {
  const c = typeof value === 'bigint' ? value : toCents(value);
  if (c === null) return value === null || value === undefined ? '—' : String(value);
  const text = currencyFormat(currency).format(formatCents(c));
  return text.replace(/^-/, '−');
}

/** Server messages name amounts as "EUR 7500.00": show them like every other amount. */
export function localizeAmounts(message) {
  return String(message || '').replace(/\b(USD|EUR)\s?(\d+(?:\.\d{1,2})?)\b/g, (_, cur, num) => displayMoney(num, cur));
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

/** A byte count for people: "3.4 KB", "1.2 MB". */
export function displaySize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}
