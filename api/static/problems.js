// Turning Problem union members and request failures into sentences.

import { GraphQLRequestError, NetworkError } from './graphql.js';
import { displayMoney, toCents, localizeAmounts } from './money.js';
import { humanize } from './dom.js';

/** Selection for every member of PledgeResult. */
export const PLEDGE_RESULT = `
  __typename
  ... on PledgeSaved {
    position
    pledge { id amount shares status pledgedAt cancellableUntil reconfirmBy }
  }
  ... on Problem { code message }
  ... on ValidationProblem { field }
  ... on InvestmentLimitExceeded { limit remaining }
  ... on MaxTargetExceeded { remaining }
  ... on RiskAcknowledgementRequired { threshold }
`;

export const PROBLEM_TYPES = new Set([
  'ValidationProblem',
  'NotAllowed',
  'NotFound',
  'InvalidState',
  'InvestmentLimitExceeded',
  'MaxTargetExceeded',
  'RiskAcknowledgementRequired',
]);

export function isProblem(result) {
  return !!result && (PROBLEM_TYPES.has(result.__typename) || (typeof result.code === 'string' && typeof result.message === 'string'));
}

const present = (v) => v !== undefined && v !== null && v !== '';

/**
 * One sentence (or two) a person can act on, including the extra fields.
 * For the problems that carry amounts, the sentence is built from those fields
 * (formatted like every other amount on the page) instead of repeating the
 * server's English message, which already states the same numbers its own way.
 */
export function problemText(p, currency) {
  if (!p) return 'Something went wrong. Please try again.';
  // Amounts in the server's sentences ("EUR 7500.00") are shown like every other amount.
  const base = localizeAmounts(p.message) || humanize(p.code) || 'The request was not accepted.';
  const money = (v) => displayMoney(v, currency);
  switch (p.__typename) {
    case 'InvestmentLimitExceeded':
      if (!present(p.limit) || !present(p.remaining)) return base;
      return (toCents(p.remaining) ?? 0n) > 0n
        ? `This pledge would exceed your investment limit of ${money(p.limit)} over the last 12 months. You can still invest ${money(p.remaining)}.`
        : `You have reached your investment limit of ${money(p.limit)} over the last 12 months (remaining: ${money(p.remaining)}).`;
    case 'MaxTargetExceeded':
      if (!present(p.remaining)) return base;
      return (toCents(p.remaining) ?? 0n) > 0n
        ? `This pledge is more than the campaign can still take: only ${money(p.remaining)} can still be pledged.`
        : 'This campaign has reached its maximum target: no more pledges can be taken.';
    case 'RiskAcknowledgementRequired':
      return present(p.threshold)
        ? `Pledges above ${money(p.threshold)} need your acknowledgement of the risk warning: you may lose all of the money you invest.`
        : base;
    default:
      return base;
  }
}

/** A short note for the amount field (the full sentence is in the form message). */
export function amountProblemText(p, currency) {
  const money = (v) => displayMoney(v, currency);
  if (p && p.__typename === 'InvestmentLimitExceeded' && present(p.remaining) && present(p.limit)) {
    return `Over your investment limit: you can still invest ${money(p.remaining)} (limit ${money(p.limit)}).`;
  }
  if (p && p.__typename === 'MaxTargetExceeded' && present(p.remaining)) {
    return `Only ${money(p.remaining)} can still be pledged to this campaign.`;
  }
  return problemText(p, currency);
}

/** Text for a thrown request failure. */
export function errorText(err) {
  if (err instanceof NetworkError) return `${err.message} Check your connection and try again.`;
  if (err instanceof GraphQLRequestError) {
    if (err.unauthenticated) return 'Please sign in to continue.';
    if (err.forbidden) return 'You are not allowed to see this.';
    return err.message || 'The request failed.';
  }
  return 'Something went wrong. Please try again.';
}

/** The regulator-style risk warning (ECSP Art. 21 / Annex key investment information). */
export const RISK_WARNING = [
  'Investing in crowdfunding projects carries risks, including the risk of losing the entire money invested.',
  'Your investment is not covered by the deposit guarantee schemes established in accordance with Directive 2014/49/EU, nor by the investor compensation schemes established in accordance with Directive 97/9/EC.',
  'You may not receive any return on your investment. This is not a savings product and we advise you not to invest more than 10 % of your net worth.',
  'You may not be able to sell the investment instruments when you wish. If you are able to sell them, you may nonetheless incur losses.',
];
