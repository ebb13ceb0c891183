// A bucket's policy (PutBucketPolicy) as stored in its config ("policy"): the JSON text
// exactly as given, validated by the policy engine in resource mode and turned into
// S3's MalformedPolicy messages; the parsed document, cached by its text, for the
// authorization of every request on the bucket; and AWS's "is this policy public" test
// (GetBucketPolicyStatus).

import {
  parsePolicyDocument, PolicyDocumentError, S3_BUCKET_POLICY_MAX_BYTES, type PolicyDocument, type Statement,
} from '../iam/policy/index.js';
import type { BucketRecord } from '../storage/types.js';
import { s3Error } from './errors.js';
import type { ServiceError } from '../errors.js';

export const BUCKET_POLICY_ITEM = 'policy';

/** Parsed policies by their stored text (read on every request to a bucket with a policy). */
const parsed = new Map<string, PolicyDocument>();

/** The bucket's policy document, or undefined when it has none. */
export function bucketPolicyOf(b: BucketRecord): PolicyDocument | undefined {
  const raw = b.config[BUCKET_POLICY_ITEM];
  if (raw === undefined) return undefined;
  let doc = parsed.get(raw);
  if (!doc) {
    doc = parsePolicyDocument(raw, { kind: 'resource', maxBytes: Number.MAX_SAFE_INTEGER });
    if (parsed.size >= 256) parsed.clear();
    parsed.set(raw, doc);
  }
  return doc;
}

const malformed = (message?: string): ServiceError => s3Error('MalformedPolicy', {}, message);

// Actions that act on objects (resource arn:aws:s3:::bucket/key) and on the bucket
// itself (arn:aws:s3:::bucket), for AWS's "Action does not apply to any resource(s)".
const OBJECT_ACTIONS = new Set([
  'getobject', 'putobject', 'deleteobject', 'getobjecttagging', 'putobjecttagging', 'deleteobjecttagging', 'getobjectacl',
  'putobjectacl', 'getobjectattributes', 'abortmultipartupload', 'listmultipartuploadparts', 'getobjectversion', 'restoreobject',
]);
const BUCKET_ACTIONS = new Set([
  'listbucket', 'listbucketmultipartuploads', 'getbucketpolicy', 'putbucketpolicy', 'deletebucketpolicy', 'getbucketpolicystatus',
  'getbucketlocation', 'getbucketacl', 'putbucketacl', 'getencryptionconfiguration', 'putencryptionconfiguration', 'deletebucket',
  'getbucketversioning', 'getbucketownershipcontrols',
  'putbucketownershipcontrols', 'getbucketpublicaccessblock', 'putbucketpublicaccessblock',
]);

/**
 * Validates a PutBucketPolicy body for `bucket`: the engine's rules (resource mode, 20 KB)
 * plus S3's own (only s3 actions, only this bucket's ARNs), with AWS's messages.
 */
export function parseBucketPolicy(text: string, bucket: string): PolicyDocument {
  if (text.trimStart()[0] !== '{') throw malformed();
  let doc: PolicyDocument;
  try {
    doc = parsePolicyDocument(text, { kind: 'resource', maxBytes: S3_BUCKET_POLICY_MAX_BYTES });
  } catch (e) {
    if (e instanceof PolicyDocumentError) throw malformed(awsMessage(e));
    throw e;
  }
  for (const st of doc.statements) checkStatement(st, bucket);
  return doc;
}

function awsMessage(e: PolicyDocumentError): string | undefined {
  const m = e.message;
  if (/not valid JSON|must be a JSON object/.test(m)) return undefined;
  if (/bytes; the limit is/.test(m)) return 'Policies must not exceed 20480 bytes';
  const missing = /missing (Principal|Action|Resource|Effect)/.exec(m);
  if (missing) return `Missing required field ${missing[1]}`;
  const unknown = /unknown (?:top-level )?element "([^"]+)"/.exec(m);
  if (unknown) return `Unknown field ${unknown[1]}`;
  switch (e.element) {
    case 'Principal':
    case 'NotPrincipal':
      return 'Invalid principal in policy';
    case 'Action':
    case 'NotAction':
      return 'Policy has invalid action';
    case 'Resource':
    case 'NotResource':
      return 'Policy has invalid resource';
    case 'Effect':
      return `Invalid effect: ${/got (.*)$/.exec(m)?.[1]?.replace(/^"|"$/g, '') ?? ''}`;
    case 'Version':
      return 'The policy must contain a valid version string';
    case 'Condition': {
      const op = /unknown (?:condition operator|set qualifier) "([^"]+)"|condition operator "([^"]+)" is not valid/.exec(m);
      return op ? `Invalid Condition type : ${op[1] ?? op[2]}` : 'Policy has an invalid condition key';
    }
    case 'Statement':
      return 'Missing required field Statement';
    default:
      return 'Invalid policy syntax.';
  }
}

/** A glob (only * and ?) as a whole-string test. */
function glob(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
  return re.test(value);
}

function checkStatement(st: Statement, bucket: string): void {
  const actions = st.action ?? st.notAction ?? [];
  for (const a of actions) {
    if (a !== '*' && !/^s3:/i.test(a)) throw malformed('Policy has invalid action');
  }
  const resources = st.resource ?? st.notResource ?? [];
  for (const r of resources) {
    if (r === '*') continue;
    const m = /^arn:aws:s3:::([^/]*)(\/.*)?$/s.exec(r);
    if (!m || !glob(m[1]!, bucket)) throw malformed('Policy has invalid resource');
  }
  if (st.action && st.resource && !st.action.some((a) => st.resource!.some((r) => applies(a, r)))) {
    throw malformed('Action does not apply to any resource(s) in statement');
  }
}

/** Can `action` apply to `resource`? Unknown actions and wildcards are given the benefit of the doubt. */
function applies(action: string, resource: string): boolean {
  const name = action.slice(action.indexOf(':') + 1).toLowerCase();
  if (resource === '*' || resource.includes('*') || resource.includes('?')) return true;
  const isObject = resource.includes('/');
  if (OBJECT_ACTIONS.has(name)) return isObject;
  if (BUCKET_ACTIONS.has(name)) return !isObject;
  return true;
}

// Condition keys that, compared with fixed values, keep an "everyone" grant from being
// public (AWS's "The meaning of public").
const RESTRICTING_KEYS = new Set([
  'aws:sourcearn', 'aws:sourcevpc', 'aws:sourcevpce', 'aws:sourceowner', 'aws:sourceaccount', 'aws:principalarn',
  'aws:principalaccount', 'aws:principalorgid', 'aws:userid', 's3:x-amz-server-side-encryption-aws-kms-key-id',
]);
const FIXED_OPERATORS = new Set(['StringEquals', 'StringEqualsIgnoreCase', 'ArnEquals', 'StringLike', 'ArnLike']);

function restricts(st: Statement): boolean {
  return st.conditions.some((c) => {
    const op = c.operator;
    if (op.qualifier === 'ForAllValues' || op.ifExists) return false;
    if (c.keyLower === 'aws:sourceip' && op.base === 'IpAddress') {
      return c.values.every((v) => !/\/0$/.test(v.trim()));
    }
    if (!RESTRICTING_KEYS.has(c.keyLower) || !FIXED_OPERATORS.has(op.base)) return false;
    return c.values.every((v) => !v.includes('*') && !v.includes('?') && !v.includes('${'));
  });
}

/**
 * AWS's test: a policy is public when an Allow statement applies to everyone ("*", or a
 * NotPrincipal) without a condition that pins it to fixed principals, sources or CIDRs.
 */
export function isPublicPolicy(doc: PolicyDocument): boolean {
  return doc.statements.some((st) => st.effect === 'Allow' && (st.principal?.any === true || st.notPrincipal !== undefined) && !restricts(st));
}

/** Does any statement test s3:ExistingObjectTag/<k> (the object's tags must then be read)? */
export function usesExistingObjectTags(doc: PolicyDocument): boolean {
  let v = existingTagUse.get(doc);
  if (v === undefined) {
    v = doc.statements.some((st) => st.conditions.some((c) => c.keyLower.startsWith('s3:existingobjecttag/')));
    existingTagUse.set(doc, v);
  }
  return v;
}
const existingTagUse = new WeakMap<PolicyDocument, boolean>();
