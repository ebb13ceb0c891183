// The one authorization decision of an S3 request, made first, from the action table
// (actions.ts), after AWS's policy evaluation logic for requests within one account:
//
//   1. An explicit Deny in an identity policy, the bucket policy or the session policy
//      refuses — the account root included, except that the root may always get, put
//      and delete the bucket policy (AWS's guard against locking the owner out).
//   2. An Allow from an identity policy (the root has every identity permission) or
//      from a bucket-policy statement naming the caller (its ARN, "*") allows; a
//      statement naming only the account root delegates to identity policies.
//   3. A session policy, when the principal carries one, must allow too.
//   Anonymous callers have no identity: only a bucket policy naming "*" allows them.
//
// The request context carries the S3 condition keys (SSE headers as sent — bucket
// policies are evaluated before any bucket default applies —, list parameters, the
// x-amz-tagging header, the existing object's tags when a policy asks for them) and
// the global ones (aws:SecureTransport, aws:SourceIp, aws:CurrentTime, principal keys).

import type { Principal } from '../auth/types.js';
import {
  authorize as evaluate, type ContextValue, type Decision, type NamedPolicy, type PolicyDocument, type RequestContext, type RequestPrincipal,
} from '../iam/policy/index.js';
import { S3_ACTIONS } from './actions.js';
import { bucketPolicyOf, usesExistingObjectTags } from './bucket-policy.js';
import { header, type S3Context } from './context.js';
import { s3Error } from './errors.js';
import type { Operation } from './router.js';

/** Principal fields later principal kinds may carry (assumed roles, tagged users). */
type RichPrincipal = Principal & { userId?: string; tags?: Record<string, string>; roleArn?: string };

const ROOT_MAY_ALWAYS: ReadonlySet<Operation> = new Set(['GetBucketPolicy', 'PutBucketPolicy', 'DeleteBucketPolicy']);
const SSE_OPS: ReadonlySet<Operation> = new Set(['PutObject', 'CopyObject', 'CreateMultipartUpload']);
const EXISTING_TAG_OPS: ReadonlySet<Operation> = new Set([
  'GetObject', 'HeadObject', 'GetObjectTagging', 'PutObjectTagging', 'DeleteObjectTagging', 'GetObjectAcl', 'PutObjectAcl', 'GetObjectAttributes',
]);
const NO_POLICIES: NamedPolicy[] = [];

/**
 * Conditions only the operation can know (it has to read the body first): PutObjectTagging's
 * tag set, PostObject's form fields. An operation that defers its authorization passes them.
 */
export interface LateConditions {
  conditions: Record<string, ContextValue>;
  /** The request's own SSE and tagging headers do not count (PostObject: its form fields do). */
  ignoreHeaders?: boolean;
}

/** Operations that authorize themselves once their body is read (see LateConditions). */
const AUTHORIZED_BY_OPERATION: ReadonlySet<Operation> = new Set(['PostObject', 'PutObjectTagging']);

export async function authorizeRequest(ctx: S3Context, late?: LateConditions): Promise<void> {
  const ep = ctx.endpoint;
  const anonymous = ctx.auth.anonymous;
  // PostObject authorizes the signer of its form policy itself; PutObjectTagging after reading its tag set.
  if ((AUTHORIZED_BY_OPERATION.has(ep.op) && !late) || (ep.op === 'NotImplemented' && !anonymous)) return;
  const action = S3_ACTIONS[ep.op];
  if (!action) throw s3Error('AccessDenied');
  const root = !anonymous && ctx.principal.kind === 'root';
  const bucket = 'bucket' in ep ? ep.bucket : undefined;
  if (root && (bucket === undefined || ROOT_MAY_ALWAYS.has(ep.op))) return;

  const record = bucket === undefined ? undefined : await ctx.services.meta.getBucket(bucket);
  const policy = record ? bucketPolicyOf(record) : undefined;
  const session = anonymous ? undefined : ctx.services.sessionPolicy(ctx.principal);
  if (root && !policy && !session) return; // nothing can deny the root

  const identity = anonymous || root ? NO_POLICIES : await ctx.services.identityPolicies(ctx.principal);
  const key = 'key' in ep ? ep.key : undefined;
  const resource = bucket === undefined ? '*' : key === undefined ? `arn:aws:s3:::${bucket}` : `arn:aws:s3:::${bucket}/${key}`;
  const conditions = requestConditions(ctx, ep.op, late?.ignoreHeaders !== true);
  if (late) Object.assign(conditions, late.conditions);
  if (bucket !== undefined && key !== undefined && EXISTING_TAG_OPS.has(ep.op) && wantsExistingTags(policy, identity, session)) {
    const obj = await ctx.services.meta.getObject(bucket, key);
    if (obj) for (const [k, v] of Object.entries(obj.tags)) conditions[`s3:ExistingObjectTag/${k}`] = v;
  }
  const rc: RequestContext = { principal: requestPrincipal(ctx), action, resource, conditions };
  const decision = evaluate({
    identityPolicies: identity,
    resourcePolicies: policy ? [{ name: 'bucket-policy', document: policy }] : NO_POLICIES,
    ...(session ? { sessionPolicy: session } : {}),
    ctx: rc,
    resourceAccountId: ctx.services.accountId,
    resourcePolicyMode: 's3',
  });
  if (decision.effect === 'Allow') return;
  throw s3Error('AccessDenied', {}, anonymous ? undefined : accessDeniedMessage(rc, decision));
}

/**
 * S3's AccessDenied wording: 'User: ARN is not authorized to perform: s3:GetObject on
 * resource: "arn:aws:s3:::b/k" because no identity-based policy allows the s3:GetObject action'.
 */
export function accessDeniedMessage(rc: RequestContext, decision: Decision): string {
  const on = rc.resource === '*' ? '*' : `"${rc.resource}"`;
  return `User: ${rc.principal.arn} is not authorized to perform: ${rc.action} on resource: ${on} ${decision.reason}`;
}

function requestPrincipal(ctx: S3Context): RequestPrincipal {
  if (ctx.auth.anonymous) return { arn: '*', accountId: '', anonymous: true };
  const p = ctx.principal as RichPrincipal;
  const rp: RequestPrincipal = { arn: p.arn, accountId: p.accountId };
  if (p.kind === 'user') rp.userName = p.userName;
  // aws:userid is the account id for the root, the unique id (AIDA...) for a user.
  const userId = p.userId ?? (p.kind === 'root' ? p.accountId : undefined);
  if (userId !== undefined) rp.userId = userId;
  if (p.tags) rp.tags = p.tags;
  if (p.roleArn) rp.roleArn = p.roleArn;
  return rp;
}

function requestConditions(ctx: S3Context, op: Operation, fromHeaders = true): Record<string, ContextValue> {
  const now = new Date();
  const ip = ctx.transport.sourceIp;
  const c: Record<string, ContextValue> = {
    'aws:SecureTransport': ctx.transport.secure ? 'true' : 'false',
    'aws:SourceIp': ip?.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip,
    'aws:CurrentTime': now.toISOString(),
    'aws:EpochTime': Math.floor(now.getTime() / 1000),
  };
  if (op === 'ListObjects' || op === 'ListObjectsV2' || op === 'ListMultipartUploads') {
    // AWS's s3:prefix is "" when a listing names none.
    c['s3:prefix'] = ctx.query.get('prefix') ?? '';
    c['s3:delimiter'] = ctx.query.get('delimiter') ?? undefined;
    c['s3:max-keys'] = ctx.query.get(op === 'ListMultipartUploads' ? 'max-uploads' : 'max-keys') ?? undefined;
  }
  if (SSE_OPS.has(op) && fromHeaders) {
    c['s3:x-amz-server-side-encryption'] = header(ctx, 'x-amz-server-side-encryption');
    c['s3:x-amz-server-side-encryption-aws-kms-key-id'] = header(ctx, 'x-amz-server-side-encryption-aws-kms-key-id');
    c['s3:x-amz-server-side-encryption-customer-algorithm'] = header(ctx, 'x-amz-server-side-encryption-customer-algorithm');
    const tagging = header(ctx, 'x-amz-tagging');
    if (tagging !== undefined) Object.assign(c, requestTagConditions(Object.fromEntries(new URLSearchParams(tagging))));
  }
  if (op === 'CopyObject' || op === 'UploadPartCopy') c['s3:x-amz-copy-source'] = header(ctx, 'x-amz-copy-source');
  if (op === 'CopyObject') c['s3:x-amz-metadata-directive'] = header(ctx, 'x-amz-metadata-directive');
  return c;
}

/** s3:RequestObjectTag/<k> and s3:RequestObjectTagKeys of a tag set a request sets. */
export function requestTagConditions(tags: Record<string, string>): Record<string, ContextValue> {
  const c: Record<string, ContextValue> = {};
  for (const [k, v] of Object.entries(tags)) c[`s3:RequestObjectTag/${k}`] = v;
  c['s3:RequestObjectTagKeys'] = Object.keys(tags);
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

function wantsExistingTags(policy: PolicyDocument | undefined, identity: NamedPolicy[], session: NamedPolicy | undefined): boolean {
  if (policy && usesExistingObjectTags(policy)) return true;
  if (session && usesExistingObjectTags(session.document)) return true;
  return identity.some((p) => usesExistingObjectTags(p.document));
}
