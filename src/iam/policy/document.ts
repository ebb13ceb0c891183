// Parses and validates a JSON policy document (IAM identity policies, KMS key policies,
// S3 bucket policies, session policies) into a normalized, typed form. Element names and
// rules follow AWS's "IAM JSON policy elements reference". Every rejection is a
// PolicyDocumentError that names the statement and element; the service layer turns it
// into its own wire error (IAM MalformedPolicyDocument, KMS
// MalformedPolicyDocumentException).

import { parseOperator, type ParsedOperator } from './operators.js';
import { parseCidr } from './ip.js';
import { parseDate, parseNumber } from './values.js';

export type PolicyVersion = '2012-10-17' | '2008-10-17';

/** 'identity': no Principal allowed. 'resource': Principal or NotPrincipal required. */
export type PolicyKind = 'identity' | 'resource';

export interface PrincipalSet {
  /** "Principal": "*" or {"AWS": "*"}: everyone, including anonymous callers. */
  any: boolean;
  /** ARNs; bare account ids are normalized to arn:<partition>:iam::<id>:root. */
  aws: string[];
  service: string[];
  federated: string[];
  canonicalUser: string[];
}

export interface ConditionClause {
  operator: ParsedOperator;
  /** The key as written (for messages). */
  key: string;
  /** Lower-cased: condition keys are case-insensitive. */
  keyLower: string;
  /** Values as strings (JSON numbers and booleans are stringified). OR'ed (NOR'ed if negated). */
  values: string[];
}

export interface Statement {
  /** Zero-based position in the Statement array. */
  index: number;
  sid?: string;
  effect: 'Allow' | 'Deny';
  principal?: PrincipalSet;
  notPrincipal?: PrincipalSet;
  action?: string[];
  notAction?: string[];
  resource?: string[];
  notResource?: string[];
  conditions: ConditionClause[];
}

export interface PolicyDocument {
  /** A document without Version is 2008-10-17, which has no policy variables. */
  version: PolicyVersion;
  id?: string;
  statements: Statement[];
}

export interface ParseOptions {
  kind: PolicyKind;
  /** Maximum document size in UTF-8 bytes. Default 32768 (KMS key policies). */
  maxBytes?: number;
  /** IAM requires Sids to be unique within a policy. Default false. */
  requireUniqueSids?: boolean;
  /** Partition used when normalizing account-id principals. Default 'aws'. */
  partition?: string;
}

export const KMS_KEY_POLICY_MAX_BYTES = 32 * 1024;
export const S3_BUCKET_POLICY_MAX_BYTES = 20 * 1024;

export class PolicyDocumentError extends Error {
  constructor(
    message: string,
    /** Zero-based statement index, when the problem is inside one. */
    readonly statement?: number,
    /** The policy element at fault ('Effect', 'Condition', ...), when known. */
    readonly element?: string,
  ) {
    super(message);
    this.name = 'PolicyDocumentError';
  }
}

const STATEMENT_KEYS = new Set([
  'Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition',
]);
const PRINCIPAL_TYPES: Record<string, keyof Omit<PrincipalSet, 'any'>> = {
  AWS: 'aws',
  Service: 'service',
  Federated: 'federated',
  CanonicalUser: 'canonicalUser',
};
const ACTION_RE = /^[A-Za-z0-9*?-]+:[A-Za-z0-9*?_-]+$/;
const ACCOUNT_RE = /^\d{12}$/;
// Resource entries are "*" or ARN patterns; a trailing * may stand for several
// segments ("arn:aws:kms:*"), so only the "arn:" prefix is required.
const ARN_RE = /^arn:.+$/s;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a policy from its JSON text, enforcing the size limit first. */
export function parsePolicyDocument(text: string, opts: ParseOptions): PolicyDocument {
  const max = opts.maxBytes ?? KMS_KEY_POLICY_MAX_BYTES;
  const size = Buffer.byteLength(text, 'utf8');
  if (size > max) throw new PolicyDocumentError(`policy document is ${size} bytes; the limit is ${max} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new PolicyDocumentError(`policy document is not valid JSON: ${(e as Error).message}`);
  }
  return parsePolicyObject(raw, opts);
}

/** Validates an already-decoded JSON value (no size limit is applied). */
export function parsePolicyObject(raw: unknown, opts: ParseOptions): PolicyDocument {
  if (!isObject(raw)) throw new PolicyDocumentError('policy document must be a JSON object');
  for (const k of Object.keys(raw)) {
    if (k !== 'Version' && k !== 'Id' && k !== 'Statement') {
      throw new PolicyDocumentError(`unknown top-level element "${k}" (expected Version, Id, Statement)`, undefined, k);
    }
  }
  let version: PolicyVersion = '2008-10-17';
  if (raw.Version !== undefined) {
    if (raw.Version !== '2012-10-17' && raw.Version !== '2008-10-17') {
      throw new PolicyDocumentError(`Version must be "2012-10-17" or "2008-10-17", got ${JSON.stringify(raw.Version)}`, undefined, 'Version');
    }
    version = raw.Version;
  }
  let id: string | undefined;
  if (raw.Id !== undefined) {
    if (typeof raw.Id !== 'string') throw new PolicyDocumentError('Id must be a string', undefined, 'Id');
    id = raw.Id;
  }
  if (raw.Statement === undefined) throw new PolicyDocumentError('policy document has no Statement', undefined, 'Statement');
  const list = Array.isArray(raw.Statement) ? raw.Statement : [raw.Statement];
  if (list.length === 0) throw new PolicyDocumentError('Statement must not be empty', undefined, 'Statement');
  const statements = list.map((s, i) => parseStatement(s, i, opts));
  if (opts.requireUniqueSids) {
    const seen = new Set<string>();
    for (const s of statements) {
      if (s.sid === undefined) continue;
      if (seen.has(s.sid)) throw new PolicyDocumentError(`${where(s.index, s.sid)}: Sid "${s.sid}" is used by more than one statement`, s.index, 'Sid');
      seen.add(s.sid);
    }
  }
  return { version, id, statements };
}

function where(index: number, sid: string | undefined): string {
  return sid === undefined ? `Statement[${index}]` : `Statement[${index}] (Sid "${sid}")`;
}

function parseStatement(raw: unknown, index: number, opts: ParseOptions): Statement {
  if (!isObject(raw)) throw new PolicyDocumentError(`Statement[${index}] must be a JSON object`, index);
  let sid: string | undefined;
  if (raw.Sid !== undefined) {
    if (typeof raw.Sid !== 'string') throw new PolicyDocumentError(`Statement[${index}]: Sid must be a string`, index, 'Sid');
    sid = raw.Sid;
  }
  const at = where(index, sid);
  const fail = (element: string, msg: string): never => {
    throw new PolicyDocumentError(`${at}: ${msg}`, index, element);
  };
  for (const k of Object.keys(raw)) {
    if (!STATEMENT_KEYS.has(k)) fail(k, `unknown element "${k}"`);
  }
  if (raw.Effect !== 'Allow' && raw.Effect !== 'Deny') {
    fail('Effect', raw.Effect === undefined ? 'missing Effect' : `Effect must be "Allow" or "Deny", got ${JSON.stringify(raw.Effect)}`);
  }
  const st: Statement = { index, sid, effect: raw.Effect as 'Allow' | 'Deny', conditions: [] };

  const pair = (a: string, b: string, required: boolean): [string, unknown] | undefined => {
    const hasA = raw[a] !== undefined;
    const hasB = raw[b] !== undefined;
    if (hasA && hasB) fail(a, `${a} and ${b} cannot both be present`);
    if (!hasA && !hasB) {
      if (required) fail(a, `missing ${a} (or ${b})`);
      return undefined;
    }
    return hasA ? [a, raw[a]] : [b, raw[b]];
  };

  const principal = pair('Principal', 'NotPrincipal', false);
  if (opts.kind === 'identity' && principal) fail(principal[0], `${principal[0]} is not allowed in an identity-based policy`);
  if (opts.kind === 'resource' && !principal) fail('Principal', 'missing Principal (or NotPrincipal); a resource-based policy must name who it applies to');
  if (principal) {
    const set = parsePrincipal(principal[1], opts.partition ?? 'aws', (m) => fail(principal[0], `${principal[0]}: ${m}`));
    if (principal[0] === 'Principal') st.principal = set;
    else st.notPrincipal = set;
  }

  const action = pair('Action', 'NotAction', true)!;
  const actions = stringList(action[1], (m) => fail(action[0], `${action[0]}: ${m}`));
  for (const a of actions) {
    if (a !== '*' && !ACTION_RE.test(a)) fail(action[0], `${action[0]}: "${a}" is not an action (expected "service:Action", wildcards * and ? allowed)`);
  }
  if (action[0] === 'Action') st.action = actions;
  else st.notAction = actions;

  const resource = pair('Resource', 'NotResource', true)!;
  const resources = stringList(resource[1], (m) => fail(resource[0], `${resource[0]}: ${m}`));
  for (const r of resources) {
    if (r !== '*' && !ARN_RE.test(r)) fail(resource[0], `${resource[0]}: "${r}" is not an ARN or "*"`);
  }
  if (resource[0] === 'Resource') st.resource = resources;
  else st.notResource = resources;

  if (raw.Condition !== undefined) st.conditions = parseCondition(raw.Condition, (m) => fail('Condition', `Condition: ${m}`));
  return st;
}

function stringList(v: unknown, fail: (m: string) => never): string[] {
  const list = typeof v === 'string' ? [v] : Array.isArray(v) ? v : fail('must be a string or an array of strings');
  if (list.length === 0) fail('must not be an empty array');
  for (const s of list) {
    if (typeof s !== 'string') fail(`must be a string or an array of strings, found ${JSON.stringify(s)}`);
    if (s === '') fail('must not contain an empty string');
  }
  return list as string[];
}

function parsePrincipal(v: unknown, partition: string, fail: (m: string) => never): PrincipalSet {
  const set: PrincipalSet = { any: false, aws: [], service: [], federated: [], canonicalUser: [] };
  if (v === '*') {
    set.any = true;
    return set;
  }
  if (!isObject(v)) return fail('must be "*" or an object such as {"AWS": "arn:aws:iam::111122223333:root"}');
  const types = Object.keys(v);
  if (types.length === 0) fail('must name at least one principal type');
  for (const t of types) {
    const field = Object.hasOwn(PRINCIPAL_TYPES, t) ? PRINCIPAL_TYPES[t] : undefined;
    if (!field) fail(`unknown principal type "${t}" (expected AWS, Service, Federated or CanonicalUser)`);
    for (const p of stringList(v[t], (m) => fail(`${t} ${m}`))) {
      if (t === 'AWS') {
        if (p === '*') {
          set.any = true;
          continue;
        }
        set.aws.push(normalizeAwsPrincipal(p, partition, fail));
      } else {
        if (p.includes('*') && p !== '*') fail(`${t} principal "${p}" may not contain a wildcard`);
        set[field!].push(p);
      }
    }
  }
  return set;
}

function normalizeAwsPrincipal(p: string, partition: string, fail: (m: string) => never): string {
  if (ACCOUNT_RE.test(p)) return `arn:${partition}:iam::${p}:root`;
  if (p.includes('*') || p.includes('?')) fail(`invalid principal "${p}": wildcards are allowed only as the whole principal "*"`);
  const m = /^arn:([^:]+):(iam|sts)::(\d{12}):(.+)$/.exec(p);
  if (!m) fail(`invalid principal "${p}": expected an account id, an IAM or STS ARN, or "*"`);
  const [, , service, , rest] = m!;
  const ok = service === 'iam' ? /^(root|user\/.+|role\/.+|group\/.+)$/.test(rest!) : /^(assumed-role\/[^/]+\/.+|federated-user\/.+)$/.test(rest!);
  if (!ok) fail(`invalid principal "${p}"`);
  return p;
}

function parseCondition(v: unknown, fail: (m: string) => never): ConditionClause[] {
  if (!isObject(v)) return fail('must be an object of {operator: {key: value(s)}}');
  const out: ConditionClause[] = [];
  for (const [opName, block] of Object.entries(v)) {
    const op = parseOperator(opName);
    if (typeof op === 'string') fail(op);
    const parsed = op as ParsedOperator;
    if (!isObject(block) || Object.keys(block).length === 0) fail(`${opName} must map at least one condition key to its value(s)`);
    for (const [key, rawValues] of Object.entries(block as Record<string, unknown>)) {
      if (key === '') fail(`${opName} has an empty condition key`);
      const list = Array.isArray(rawValues) ? rawValues : [rawValues];
      if (list.length === 0) fail(`${opName} "${key}" has no values`);
      const values = list.map((x) => {
        if (typeof x === 'string') return x;
        if (typeof x === 'number' || typeof x === 'boolean') return String(x);
        return fail(`${opName} "${key}" values must be strings, numbers or booleans, found ${JSON.stringify(x)}`);
      });
      for (const val of values) {
        const problem = checkValue(parsed, val);
        if (problem) fail(`${opName} "${key}": ${problem}`);
      }
      out.push({ operator: parsed, key, keyLower: key.toLowerCase(), values });
    }
  }
  return out;
}

/** Values of operators that take no policy variables can be checked when parsing. */
function checkValue(op: ParsedOperator, v: string): string | undefined {
  switch (op.info.family) {
    case 'numeric':
      return Number.isNaN(parseNumber(v)) ? `"${v}" is not a number` : undefined;
    case 'date':
      return Number.isNaN(parseDate(v)) ? `"${v}" is not a date (ISO 8601 or epoch seconds)` : undefined;
    case 'ip':
      return parseCidr(v) ? undefined : `"${v}" is not an IP address or CIDR block`;
    case 'null':
      return v === 'true' || v === 'false' ? undefined : `"${v}" must be "true" or "false"`;
    case 'bool':
      return v.includes('${') || /^(true|false)$/i.test(v) ? undefined : `"${v}" must be "true" or "false"`;
    default:
      return undefined;
  }
}
