// The one S3 authorization decision (authorizeS3), after AWS's policy evaluation logic
// for requests within one account:
//
//   1. An explicit Deny in an identity policy, the bucket policy or the session policy
//      refuses — the account root included, except that the root may always get, put
//      and delete the bucket policy (AWS's guard against locking the owner out).
//   2. An Allow from an identity policy (the root has every identity permission) or
//      from a bucket-policy statement naming the caller (its ARN, "*") allows; a
//      statement naming only the account root delegates to identity policies.
//   3. A session policy, when the principal carries one, must allow too.
//   Anonymous callers have no identity: only a bucket policy naming "*" allows them.
//   4. Where no policy allows and none denies, an ACL grant may allow (acl-grants.ts), on
//      buckets whose Object Ownership keeps ACLs on — within the session policy, if any. RestrictPublicBuckets keeps a public
//      bucket policy from allowing anonymous callers (public-access-block.ts).
//
// Every S3 entry decides here: each request, first, from the action table (actions.ts,
// authorizeRequest); PostObject once its form is read, PutObjectTagging once its tag set
// is read, DeleteObjects for each key it lists (s3Decider); a re-wrap (rewrap/authorize.ts)
// for the two actions it stands for.
//
// The context carries the global condition keys (aws:SecureTransport, aws:SourceIp from
// the request's transport, aws:CurrentTime, principal keys), the keys AWS presents on every
// S3 action (s3:authType, s3:signatureversion, s3:signatureAge, s3:x-amz-content-sha256,
// s3:TlsVersion from the request's facts, request-facts.ts; s3:ResourceAccount), the
// existing object's tags when a policy asks for them, and each action's own S3 keys: for a
// request, the SSE, ACL, storage class and object lock headers as sent (bucket policies are
// evaluated before any bucket default applies), list parameters, the x-amz-tagging header,
// If-None-Match / If-Match and s3:ObjectCreationOperation, s3:versionid on the actions of
// one version.

import type { Principal } from '../auth/types.js';
import type { Transport } from '../http/transport.js';
import type { BucketRecord } from '../storage/types.js';
import type { RequestReads } from '../storage/request-reads.js';
import type { ObjectTags } from '../storage/object-tags.js';
import {
  authorize as evaluate, type ContextValue, type Decision, type NamedPolicy, type PolicyDocument, type RequestContext, type RequestPrincipal,
} from '../iam/policy/index.js';
import { requestPrincipal } from '../iam/principal.js';
import { actionOf, VERSION_ACTIONS } from './actions.js';
import { bucketPolicyOf, usesExistingObjectTags } from './bucket-policy.js';
import { bucketTagsOf } from './bucket-tags.js';
import { aclAllows } from './acl-grants.js';
import { policyForAnonymous } from './public-access-block.js';
import { header, type S3Context, type S3Services } from './context.js';
import { s3Error } from './errors.js';
import type { Operation } from './router.js';
import type { RequestFacts } from '../http/request-facts.js';
import { factConditions } from './request-facts.js';

/** Where the policies of a decision come from: the bucket's record, the principal's identity and session policies. */
export type S3PolicySources = Pick<S3Services, 'meta' | 'accountId' | 'identityPolicies' | 'sessionPolicy'>;

export interface S3Access {
  /** Undefined for an anonymous request. */
  principal: Principal | undefined;
  /** The bucket acted on (its policy applies); absent for ListBuckets. */
  bucket?: string | undefined;
  /** The object acted on, for object actions. */
  key?: string | undefined;
  /** The version acted on, when the request names one (its ACL grants apply). */
  versionId?: string | undefined;
  transport: Pick<Transport, 'secure' | 'sourceIp'>;
  /** How the request was signed and carried (s3:authType, ...); absent for a decision no request made (coffer hadoop check, a re-wrap). */
  facts?: RequestFacts | undefined;
  /** Each action with the condition keys only it carries; every one must be allowed. */
  checks: readonly S3ActionCheck[];
  /** Getting, putting or deleting the bucket policy, which the root may always do. */
  rootMayAlways?: boolean;
  /** Called with the bucket's record when the decision read it (so the operation need not read it again). */
  bucketRead?: (record: BucketRecord) => void;
  /** The request's first reads (S3Context.reads): the bucket's record and IAM's version, read when the request was routed; its early object row is dropped when the decision reads the object's tags or ACL. */
  reads?: Pick<RequestReads, 'bucket' | 'iamVersion' | 'takeObject'> | undefined;
}

export interface S3ActionCheck {
  action: string;
  conditions?: Record<string, ContextValue>;
  /** The action touches the existing object: its tags are s3:ExistingObjectTag/<k> (read only when a policy tests them). */
  existingObjectTags?: boolean;
}

const NO_POLICIES: NamedPolicy[] = [];

/** S3's verdict on an access: allowed, and why; or refused, with S3's AccessDenied message. */
export type S3Verdict = { allowed: true; reason: string } | { allowed: false; message: string };

const ROOT_ALLOWED: S3Verdict = { allowed: true, reason: 'allowed: the account root user has every identity-based permission' };

/**
 * Throws AccessDenied unless every check is allowed; to a signed caller its message names
 * the action, the resource and the reason, as S3's does (accessDeniedMessage).
 */
export async function authorizeS3(sources: S3PolicySources, access: S3Access): Promise<void> {
  const verdict = await decideS3(sources, access);
  if (!verdict.allowed) throw s3Error('AccessDenied', {}, access.principal ? verdict.message : undefined);
}

/**
 * The decision itself, for callers that report it rather than refuse (coffer hadoop check):
 * the first check refused, or the reason the last one was allowed.
 */
export async function decideS3(sources: S3PolicySources, access: S3Access): Promise<S3Verdict> {
  return (await s3Decider(sources, access))(access.key);
}

/**
 * Reads the policies an access depends on once and returns its decision for one key (or for
 * the bucket, given none), with that key's own condition keys (`extra`): DeleteObjects decides
 * each of up to 1,000 keys as its own object, s3:versionid the version it names.
 */
export async function s3Decider(
  sources: S3PolicySources, access: Omit<S3Access, 'key'>,
): Promise<(key: string | undefined, extra?: Record<string, ContextValue>) => Promise<S3Verdict>> {
  const { principal, bucket } = access;
  const root = principal?.kind === 'root';
  if (root && (bucket === undefined || access.rootMayAlways)) return async () => ROOT_ALLOWED;

  const record = bucket === undefined ? undefined : await (access.reads?.bucket ?? sources.meta.getBucket(bucket));
  if (record !== undefined) access.bucketRead?.(record);
  const policy = record && (principal ? bucketPolicyOf(record) : policyForAnonymous(record, bucketPolicyOf(record)));
  const session = principal && sources.sessionPolicy(principal);
  if (root && !policy && !session) return async () => ROOT_ALLOWED; // nothing can deny the root

  const identity = !principal || root ? NO_POLICIES : await sources.identityPolicies(principal, access.reads?.iamVersion);
  const global = {
    ...globalConditions(access.transport), ...factConditions(access.facts), 's3:ResourceAccount': sources.accountId, ...bucketTagConditions(record?.config),
  };
  const requester = s3RequestPrincipal(principal);
  const resourcePolicies = policy ? [{ name: 'bucket-policy', document: policy }] : NO_POLICIES;
  const tagsWanted = wantsExistingTags(policy, identity, session);
  return async (key, extra) => {
    const resource = bucket === undefined ? '*' : key === undefined ? `arn:aws:s3:::${bucket}` : `arn:aws:s3:::${bucket}/${key}`;
    let existingTags: Record<string, ContextValue> | undefined;
    let verdict: S3Verdict = ROOT_ALLOWED;
    for (const check of access.checks) {
      const conditions = { ...global, ...check.conditions, ...extra };
      if (check.existingObjectTags && bucket !== undefined && key !== undefined && tagsWanted) {
        if (existingTags === undefined) {
          // The decision is about the object as read here: the row the request's first reads
          // brought, perhaps of an older object these tags never applied to, is not served.
          access.reads?.takeObject(bucket, key)?.catch(() => undefined);
          existingTags = await existingTagConditions(sources, bucket, key, access.versionId);
        }
        Object.assign(conditions, existingTags);
      }
      const rc: RequestContext = { principal: requester, action: check.action, resource, conditions };
      const decision = evaluate({
        identityPolicies: identity,
        resourcePolicies,
        ...(session ? { sessionPolicy: session } : {}),
        ctx: rc,
        resourceAccountId: sources.accountId,
        resourcePolicyMode: 's3',
      });
      if (decision.effect === 'ImplicitDeny' && record && (!session || sessionAllows(session, rc, sources.accountId))) {
        // An ACL grant allows what no policy allowed; an explicit deny has already refused. A
        // session policy limits a grant as it limits a resource policy naming anyone but the
        // session itself (an ACL cannot name a session): it must allow the action too.
        // The object's ACL is read here: as for its tags, the early row is not served.
        if (key !== undefined) access.reads?.takeObject(record.name, key)?.catch(() => undefined);
        const byAcl = await aclAllows(sources.meta, record, principal, check.action, key, access.versionId);
        if (byAcl) {
          verdict = { allowed: true, reason: byAcl };
          continue;
        }
      }
      if (decision.effect !== 'Allow') return { allowed: false, message: accessDeniedMessage(rc, decision) };
      verdict = { allowed: true, reason: decision.reason };
    }
    return verdict;
  };
}

/** Whether a session policy on its own allows the request (what an ACL grant needs of it). */
function sessionAllows(session: NamedPolicy, rc: RequestContext, accountId: string): boolean {
  return evaluate({ identityPolicies: [session], resourcePolicies: NO_POLICIES, ctx: rc, resourceAccountId: accountId, resourcePolicyMode: 's3' }).effect === 'Allow';
}

const ROOT_MAY_ALWAYS: ReadonlySet<Operation> = new Set(['GetBucketPolicy', 'PutBucketPolicy', 'DeleteBucketPolicy']);
const SSE_OPS: ReadonlySet<Operation> = new Set(['PutObject', 'CopyObject', 'CreateMultipartUpload']);
const EXISTING_TAG_OPS: ReadonlySet<Operation> = new Set([
  'GetObject', 'HeadObject', 'GetObjectTagging', 'PutObjectTagging', 'DeleteObjectTagging', 'GetObjectAcl', 'PutObjectAcl', 'GetObjectAttributes',
]);
/**
 * Operations that authorize themselves once their body is read: PostObject (its form),
 * PutObjectTagging (its tag set), PutObjectRetention and PutObjectLegalHold (the retention or
 * hold they set: the s3:object-lock-* keys), CreateBucket (its s3:locationconstraint), DeleteObjects (each key it lists, refused keys reported in
 * its result as AWS does, the request itself needing no permission).
 */
const AUTHORIZED_BY_OPERATION: ReadonlySet<Operation> = new Set([
  'PostObject', 'PutObjectTagging', 'DeleteObjects', 'PutObjectRetention', 'PutObjectLegalHold', 'CreateBucket',
]);

/**
 * A request's authorization, for the action its endpoint needs. PutObjectTagging,
 * PutObjectRetention, PutObjectLegalHold and CreateBucket call it with the condition keys of the body they
 * have read; PostObject, whose signer only its form names, calls authorizeS3 itself.
 */
export async function authorizeRequest(ctx: S3Context, late?: Record<string, ContextValue>): Promise<void> {
  const ep = ctx.endpoint;
  const anonymous = ctx.auth.anonymous;
  if ((AUTHORIZED_BY_OPERATION.has(ep.op) && !late) || (ep.op === 'NotImplemented' && !anonymous)) return;
  const versionId = 'key' in ep ? ctx.query.get('versionId') ?? undefined : undefined;
  const action = actionOf(ep.op, versionId);
  if (!action) throw s3Error('AccessDenied');
  const conditions = requestConditions(ctx, ep.op);
  if (versionId !== undefined && VERSION_ACTIONS[ep.op] !== undefined) conditions['s3:versionid'] = versionId;
  if (late) Object.assign(conditions, late);
  await authorizeS3(ctx.services, {
    principal: anonymous ? undefined : ctx.principal,
    bucket: 'bucket' in ep ? ep.bucket : undefined,
    key: 'key' in ep ? ep.key : undefined,
    versionId,
    transport: ctx.transport,
    facts: ctx.facts,
    checks: [{ action, conditions, existingObjectTags: EXISTING_TAG_OPS.has(ep.op) }],
    rootMayAlways: ROOT_MAY_ALWAYS.has(ep.op),
    bucketRead: (record) => (ctx.bucketRead = record),
    // A late decision (PutObjectTagging, its body read) reads the bucket again.
    reads: late ? undefined : ctx.reads,
  });
}

/**
 * S3's AccessDenied wording: 'User: ARN is not authorized to perform: s3:GetObject on
 * resource: "arn:aws:s3:::b/k" because no identity-based policy allows the s3:GetObject action'.
 */
export function accessDeniedMessage(rc: RequestContext, decision: Decision): string {
  const on = rc.resource === '*' ? '*' : `"${rc.resource}"`;
  return `User: ${rc.principal.arn} is not authorized to perform: ${rc.action} on resource: ${on} ${decision.reason}`;
}

/** The policy engine's principal, with S3's aws:userid for the root (the account id) and the principal's tags. */
function s3RequestPrincipal(p: Principal | undefined): RequestPrincipal {
  if (!p) return { arn: '*', accountId: '', anonymous: true };
  const rp = requestPrincipal(p);
  if (rp.userId === undefined && p.kind === 'root') rp.userId = p.accountId;
  if (p.tags) rp.tags = p.tags;
  return rp;
}

function globalConditions(transport: S3Access['transport']): Record<string, ContextValue> {
  const now = new Date();
  const ip = transport.sourceIp;
  return {
    'aws:SecureTransport': transport.secure ? 'true' : 'false',
    // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; policies name a.b.c.d.
    'aws:SourceIp': ip?.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip,
    'aws:CurrentTime': now.toISOString(),
    'aws:EpochTime': Math.floor(now.getTime() / 1000),
  };
}

function requestConditions(ctx: S3Context, op: Operation): Record<string, ContextValue> {
  const c: Record<string, ContextValue> = {};
  if (op === 'ListObjects' || op === 'ListObjectsV2' || op === 'ListMultipartUploads') {
    // AWS's s3:prefix is "" when a listing names none.
    c['s3:prefix'] = ctx.query.get('prefix') ?? '';
    c['s3:delimiter'] = ctx.query.get('delimiter') ?? undefined;
    c['s3:max-keys'] = ctx.query.get(op === 'ListMultipartUploads' ? 'max-uploads' : 'max-keys') ?? undefined;
  }
  if (op === 'ListObjectVersions') {
    c['s3:prefix'] = ctx.query.get('prefix') ?? '';
    c['s3:delimiter'] = ctx.query.get('delimiter') ?? undefined;
    c['s3:max-keys'] = ctx.query.get('max-keys') ?? undefined;
  }
  const h = (name: string) => header(ctx, name);
  if (SSE_OPS.has(op)) {
    Object.assign(c, sseConditions({
      'x-amz-server-side-encryption': h('x-amz-server-side-encryption'),
      'x-amz-server-side-encryption-aws-kms-key-id': h('x-amz-server-side-encryption-aws-kms-key-id'),
      'x-amz-server-side-encryption-customer-algorithm': h('x-amz-server-side-encryption-customer-algorithm'),
    }), newObjectConditions(h, ctx.services.now()));
    const tagging = h('x-amz-tagging');
    if (tagging !== undefined) Object.assign(c, requestTagConditions([...new Map(new URLSearchParams(tagging))]));
  }
  if (ACL_HEADER_OPS.has(op)) Object.assign(c, aclConditions(h));
  const creates = OBJECT_CREATION[op];
  if (creates !== undefined) c['s3:ObjectCreationOperation'] = creates;
  if (creates === 'true') {
    c['s3:if-none-match'] = h('if-none-match');
    c['s3:if-match'] = h('if-match');
  }
  if (op === 'DeleteObject') c['s3:if-match'] = h('if-match');
  if (op === 'CopyObject' || op === 'UploadPartCopy') c['s3:x-amz-copy-source'] = header(ctx, 'x-amz-copy-source');
  if (op === 'CopyObject') c['s3:x-amz-metadata-directive'] = header(ctx, 'x-amz-metadata-directive');
  return c;
}

/**
 * s3:ObjectCreationOperation of the s3:PutObject operations: true for those that create the
 * object (and take If-None-Match / If-Match: s3:if-none-match, s3:if-match), false for the steps
 * of a multipart upload before its completion, which AWS's "enforce conditional writes" policy
 * exempts with it.
 */
const OBJECT_CREATION: Partial<Record<Operation, 'true' | 'false'>> = {
  PutObject: 'true', CopyObject: 'true', CompleteMultipartUpload: 'true', // and PostObject (post-object.ts)
  CreateMultipartUpload: 'false', UploadPart: 'false', UploadPartCopy: 'false',
};

/** Besides the writes of SSE_OPS (newObjectConditions), the operations whose x-amz-acl and x-amz-grant-* headers are condition keys. */
const ACL_HEADER_OPS: ReadonlySet<Operation> = new Set(['PutObjectAcl', 'PutBucketAcl', 'CreateBucket']);
const ACL_HEADERS = ['x-amz-acl', 'x-amz-grant-full-control', 'x-amz-grant-read', 'x-amz-grant-read-acp', 'x-amz-grant-write', 'x-amz-grant-write-acp'];

/** s3:x-amz-acl and s3:x-amz-grant-* of a request's headers (or a form's fields), as sent. */
export function aclConditions(get: (name: string) => string | undefined): Record<string, ContextValue> {
  const c: Record<string, ContextValue> = {};
  for (const name of ACL_HEADERS) c[`s3:${name}`] = get(name);
  return c;
}

/**
 * The keys of a new object's headers (or a form's fields) besides SSE and tags: its ACL, storage
 * class, website redirect and object lock (AWS lists them all on s3:PutObject).
 */
export function newObjectConditions(get: (name: string) => string | undefined, now: number): Record<string, ContextValue> {
  return {
    ...aclConditions(get),
    's3:x-amz-storage-class': get('x-amz-storage-class'),
    's3:x-amz-website-redirect-location': get('x-amz-website-redirect-location'),
    ...objectLockConditions(get('x-amz-object-lock-mode'), get('x-amz-object-lock-retain-until-date'), get('x-amz-object-lock-legal-hold'), now),
  };
}

/**
 * s3:object-lock-mode, -retain-until-date and -legal-hold as the request states them, and
 * s3:object-lock-remaining-retention-days: the days from `now` to the retain-until date, a part
 * of a day counted as a day (a bound of 30 refuses 30 days and a minute), 0 for a date past.
 */
export function objectLockConditions(mode: string | undefined, until: string | undefined, hold: string | undefined, now: number): Record<string, ContextValue> {
  const t = until === undefined ? Number.NaN : Date.parse(until);
  return {
    's3:object-lock-mode': mode,
    's3:object-lock-retain-until-date': until,
    's3:object-lock-legal-hold': hold,
    's3:object-lock-remaining-retention-days': Number.isNaN(t) ? undefined : Math.max(0, Math.ceil((t - now) / 86_400_000)),
  };
}

/** aws:ResourceTag/<k> of the bucket acted on (its own actions and its objects'), from its tags. */
function bucketTagConditions(config: Record<string, string> | undefined): Record<string, ContextValue> {
  const c: Record<string, ContextValue> = {};
  const tags = config && bucketTagsOf(config);
  if (tags) for (const [k, v] of tags) c[`aws:ResourceTag/${k}`] = v;
  return c;
}

/** s3:RequestObjectTag/<k> and s3:RequestObjectTagKeys of a tag set a request sets. */
export function requestTagConditions(tags: ObjectTags): Record<string, ContextValue> {
  const c: Record<string, ContextValue> = {};
  for (const [k, v] of tags) c[`s3:RequestObjectTag/${k}`] = v;
  c['s3:RequestObjectTagKeys'] = tags.map(([k]) => k);
  return c;
}

/** The SSE condition keys of a request whose headers come from elsewhere (PostObject's form fields). */
export function sseConditions(h: Record<string, string | undefined>): Record<string, ContextValue> {
  return {
    's3:x-amz-server-side-encryption': h['x-amz-server-side-encryption'],
    's3:x-amz-server-side-encryption-aws-kms-key-id': h['x-amz-server-side-encryption-aws-kms-key-id'],
    's3:x-amz-server-side-encryption-customer-algorithm': h['x-amz-server-side-encryption-customer-algorithm'],
  };
}

/** s3:ExistingObjectTag/<k>: the tags of the version the request names, or of the current one. */
async function existingTagConditions(sources: S3PolicySources, bucket: string, key: string, versionId: string | undefined): Promise<Record<string, ContextValue>> {
  const c: Record<string, ContextValue> = {};
  const obj = versionId === undefined ? await sources.meta.getObject(bucket, key) : await sources.meta.getObjectVersion(bucket, key, versionId);
  if (obj && !obj.deleteMarker) for (const [k, v] of obj.tags) c[`s3:ExistingObjectTag/${k}`] = v;
  return c;
}

function wantsExistingTags(policy: PolicyDocument | undefined, identity: NamedPolicy[], session: NamedPolicy | undefined): boolean {
  if (policy && usesExistingObjectTags(policy)) return true;
  if (session && usesExistingObjectTags(session.document)) return true;
  return identity.some((p) => usesExistingObjectTags(p.document));
}
