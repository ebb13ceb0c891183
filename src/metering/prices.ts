// The price table metering estimates costs with, and the arithmetic. Defaults are AWS
// KMS list prices (aws.amazon.com/kms/pricing, us-east-1): $1 per customer managed key
// per month, prorated hourly (a month is 730 hours); $0.03 per 10,000 requests; 20,000
// free requests per calendar month. Overridable by COFFER_PRICE_* (config/config.ts).
// Requests are priced per request (AWS does not round up to blocks of 10,000).

export interface PriceTable {
  /** USD per key-month (one customer managed key held for 730 hours). */
  keyMonth: number;
  /** USD per 10,000 requests beyond the free tier. */
  per10kRequests: number;
  /** Requests per calendar month (UTC) that cost nothing. */
  freeRequestsPerMonth: number;
}

export const AWS_LIST_PRICES: Readonly<PriceTable> = Object.freeze({ keyMonth: 1, per10kRequests: 0.03, freeRequestsPerMonth: 20_000 });

/** AWS prorates key storage hourly against a 730-hour month. */
export const HOURS_PER_MONTH = 730;

/** Requests of one calendar month: those before the report's range (they use the free tier first) and those in it. */
export interface MonthRequests {
  before: number;
  inRange: number;
}

/** How many of a month's in-range requests are billable after the free tier. */
export function billableInMonth(m: MonthRequests, prices: PriceTable): number {
  const freeLeft = Math.max(0, prices.freeRequestsPerMonth - m.before);
  return Math.max(0, m.inRange - freeLeft);
}

export function requestCost(billable: number, prices: PriceTable): number {
  return (billable / 10_000) * prices.per10kRequests;
}

export function keyCost(keyHours: number, prices: PriceTable): number {
  return (keyHours / HOURS_PER_MONTH) * prices.keyMonth;
}

/** Money rounded to a millionth of a dollar, so sums print without float noise. */
export function usd(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
