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

/**
 * How AWS prices a KMS request (aws.amazon.com/kms/pricing, us-east-1, read 2026-12):
 * symmetric-key requests (HMAC requests and key management included) share the free tier
 * and `per10kRequests`. "Requests to the GenerateDataKeyPair and
 * GenerateDataKeyPairWithoutPlaintext APIs and requests to APIs such as Sign, Verify,
 * Encrypt, Decrypt, and GetPublicKey that reference asymmetric keys are excluded from the
 * free tier", and are priced per 10,000: $0.03 involving RSA 2048 keys, $0.15 other
 * asymmetric keys, $0.10 ECC GenerateDataKeyPair, $12.00 RSA GenerateDataKeyPair.
 */
export type PriceClass = 'symmetric' | 'rsa-2048' | 'asymmetric' | 'ecc-key-pair' | 'rsa-key-pair';

/** USD per 10,000 requests of the classes outside the free tier (AWS list prices; not configurable). */
export const ASYMMETRIC_PRICES_PER_10K: Readonly<Record<Exclude<PriceClass, 'symmetric'>, number>> = Object.freeze({
  'rsa-2048': 0.03,
  asymmetric: 0.15,
  'ecc-key-pair': 0.1,
  'rsa-key-pair': 12,
});

/** The operations priced by the key they use when it is asymmetric. */
export const PRICED_BY_KEY: ReadonlySet<string> = new Set(['Sign', 'Verify', 'Encrypt', 'Decrypt', 'GetPublicKey', 'ReEncrypt', 'DeriveSharedSecret']);
export const KEY_PAIR_OPERATIONS: ReadonlySet<string> = new Set(['GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext']);

/** A request's class from its operation, the key spec of the key it used, and (data key pairs) the pair's spec. */
export function priceClassOf(operation: string, keySpec: string | undefined, keyPairSpec?: unknown): PriceClass {
  if (KEY_PAIR_OPERATIONS.has(operation)) {
    if (typeof keyPairSpec === 'string' && keyPairSpec.startsWith('RSA_')) return 'rsa-key-pair';
    if (typeof keyPairSpec === 'string' && (keyPairSpec.startsWith('ECC_') || keyPairSpec === 'SM2')) return 'ecc-key-pair';
    return 'symmetric';
  }
  if (PRICED_BY_KEY.has(operation) && keySpec !== undefined) {
    if (keySpec === 'RSA_2048') return 'rsa-2048';
    if (keySpec.startsWith('RSA_') || keySpec.startsWith('ECC_') || keySpec === 'SM2' || keySpec.startsWith('ML_DSA')) return 'asymmetric';
  }
  return 'symmetric';
}

/** The cost of `requests` of a class outside the free tier. */
export function classCost(priceClass: Exclude<PriceClass, 'symmetric'>, requests: number): number {
  return (requests / 10_000) * ASYMMETRIC_PRICES_PER_10K[priceClass];
}

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
