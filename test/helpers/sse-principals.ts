// IAM users, key policies and audit-log look-ups for the SSE access tests. Users are
// created in the running server's own IAM store (the one `coffer user create` and
// `coffer user policy put` write), so the server sees them on the next request; each
// user gets its own S3 and KMS clients signing with its access key.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { KMSClient } from '@aws-sdk/client-kms';
import { createUserWithKey } from '../../src/cli/user-command.js';
import { readAudit, type CloudTrailEvent } from '../../src/audit/audit-log.js';
import type { TestServer } from './server.js';
import { inProcessChanges } from './in-process-admin.js';

export interface TestUser {
  name: string;
  arn: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  s3: S3Client;
  kms: KMSClient;
  /** Creates or replaces one inline identity policy (as `coffer user policy put`). */
  put(policyName: string, ...statements: object[]): Promise<void>;
  /** Deletes one inline identity policy. */
  remove(policyName: string): Promise<void>;
}

export const policyDoc = (...statements: object[]): string => JSON.stringify({ Version: '2012-10-17', Statement: statements });

/** s3:* on one bucket and its objects. */
export const s3On = (bucket: string): object => ({ Effect: 'Allow', Action: 's3:*', Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] });

/** Some KMS actions on some keys. */
export const kmsOn = (actions: string | string[], ...keyArns: string[]): object => ({ Effect: 'Allow', Action: actions, Resource: keyArns.length ? keyArns : '*' });

/** A key policy: the root delegation to IAM (AWS's default statement) plus extra statements. */
export function keyPolicyWith(accountId: string, ...extra: object[]): string {
  return policyDoc(
    { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'kms:*', Resource: '*' },
    ...extra,
  );
}

/** Creates users on srv; destroy() closes their clients. */
export function userFactory(srv: TestServer) {
  const clients: { destroy(): void }[] = [];
  const admin = { dataDir: srv.dataDir, accountId: srv.coffer.root.accountId, rootKey: srv.coffer.rootKey, iam: srv.coffer.iam, close: async () => {}, changes: inProcessChanges(srv.coffer) };
  return {
    async create(name: string, policies: Record<string, object[]> = {}): Promise<TestUser> {
      const u = await createUserWithKey(admin, name);
      const credentials = { accessKeyId: u.accessKeyId, secretAccessKey: u.secretAccessKey };
      const s3 = srv.client({ credentials, maxAttempts: 1 });
      const kms = srv.kmsClient({ credentials, maxAttempts: 1 });
      clients.push(s3, kms);
      const user: TestUser = {
        name,
        arn: u.arn,
        credentials,
        s3,
        kms,
        put: (policyName, ...statements) => srv.coffer.iam.putUserPolicy(name, policyName, policyDoc(...statements)),
        async remove(policyName) {
          assert.ok(await srv.coffer.iam.deleteUserPolicy(name, policyName), `${name} had policy ${policyName}`);
        },
      };
      for (const [policyName, statements] of Object.entries(policies)) await user.put(policyName, ...statements);
      return user;
    },
    destroy(): void {
      for (const c of clients) c.destroy();
    },
  };
}

export interface SdkError extends Error {
  Code?: string;
  $metadata: { httpStatusCode?: number; requestId?: string };
}

/** The error a call rejects with; fails the test if the call succeeds. */
export async function refusal(p: Promise<unknown>): Promise<SdkError> {
  try {
    await p;
  } catch (e) {
    return e as SdkError;
  }
  assert.fail('expected the request to be refused');
}

/**
 * AWS's message for a KMS permission S3 lacked on the caller's behalf: "User: ARN is not
 * authorized to perform: ACTION on resource: KEY-ARN because ..." (or "with an explicit deny
 * in ..."); the reason is checked when given.
 */
export function kmsDeniedMessage(userArn: string, action: string, keyArn: string, reason?: string): RegExp {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return new RegExp(`^User: ${esc(userArn)} is not authorized to perform: ${esc(action)} on resource: ${esc(keyArn)} ${reason ? esc(reason) : '(because|with an explicit deny in) .+'}$`);
}

export const NO_IDENTITY_ALLOW = (action: string) => `because no identity-based policy allows the ${action} action`;

/** Asserts an S3 403 AccessDenied whose message names the user, the KMS action and the key. */
export async function assertKmsDenied(p: Promise<unknown>, userArn: string, action: string, keyArn: string, reason?: string): Promise<SdkError> {
  const e = await refusal(p);
  assert.equal(e.$metadata.httpStatusCode, 403, `${e.name}: ${e.message}`);
  assert.equal(e.name, 'AccessDenied', e.message);
  assert.match(e.message, kmsDeniedMessage(userArn, action, keyArn, reason));
  return e;
}

/** Every audit event so far, after the server has handed its queued events to the OS. */
export async function auditEvents(srv: TestServer): Promise<CloudTrailEvent[]> {
  await srv.coffer.audit.flush();
  return readAudit(join(srv.dataDir, 'audit', 'kms.log'));
}

/** The KMS events S3 made while serving one S3 request (by its x-amz-request-id). */
export async function kmsEventsOf(srv: TestServer, s3RequestId: string | undefined): Promise<CloudTrailEvent[]> {
  assert.ok(s3RequestId, 'the S3 response carries x-amz-request-id');
  return (await auditEvents(srv)).filter((e) => e.requestID === s3RequestId);
}

/**
 * Asserts that one S3 request made exactly these KMS calls (eventName, key ARN, outcome), each as
 * `userArn` through S3 with the object's (or bucket's) ARN in the encryption context.
 */
export async function assertKmsCalls(
  srv: TestServer,
  s3RequestId: string | undefined,
  userArn: string,
  expected: { eventName: 'GenerateDataKey' | 'Decrypt'; keyArn: string; s3Arn: string; denied?: boolean }[],
): Promise<void> {
  const events = await kmsEventsOf(srv, s3RequestId);
  const seen = events.map((e) => `${e.eventName} ${e.resources[0]?.ARN ?? '-'} ${e.errorCode ? 'denied' : 'ok'}`);
  assert.deepEqual(seen, expected.map((x) => `${x.eventName} ${x.keyArn} ${x.denied ? 'denied' : 'ok'}`), `KMS calls of S3 request ${s3RequestId}`);
  for (const [i, e] of events.entries()) {
    const x = expected[i]!;
    assert.equal(e.userIdentity.arn, userArn, 'the KMS call runs as the requesting principal');
    assert.equal(e.userIdentity.type, userArn.includes(':user/') ? 'IAMUser' : 'Root');
    assert.equal(e.userIdentity.invokedBy, 's3.amazonaws.com', 'S3 made the call on the principal\'s behalf');
    const ctx = (e.requestParameters?.encryptionContext ?? {}) as Record<string, string>;
    assert.equal(ctx['aws:s3:arn'], x.s3Arn, 'the encryption context carries the S3 ARN');
    if (x.denied) assert.match(e.errorCode ?? '', /AccessDenied/);
  }
}
