// STS: GetCallerIdentity, GetSessionToken, AssumeRole. Temporary credentials are an
// ASIA... access key, a secret and a session token, kept (sealed) in the sessions
// table with their principal and expiry; CredentialDirectory finds them by key id on
// every S3, KMS, IAM and STS request.
//
// AssumeRole is authorized as AWS does within one account: the role's trust policy is
// the resource policy; a statement naming the caller allows by itself, one naming the
// account root needs an identity policy of the caller allowing sts:AssumeRole too
// (the engine's 'kms' mode has exactly these rules). The session policy (Policy) limits
// the role's permissions for that session.

import { randomBytes } from 'node:crypto';
import type { AssumedRolePrincipal, Principal } from '../../auth/types.js';
import { encodeSessionPrincipal, sealSession } from '../credentials.js';
import { requestPrincipal } from '../principal.js';
import { accessDeniedMessage, authorize } from '../policy/index.js';
import { newAccessKeyId, newSecretAccessKey } from '../root-credentials.js';
import { assumedRoleArn } from '../store/ids.js';
import type { ApiContext, QueryOperation } from './context.js';
import { checkPolicy } from './common.js';
import { parseTrustPolicy } from './roles.js';
import { queryError, validationError } from './query.js';

// AssumeRole's RoleArn constraint (the STS API reference): length 20–2048, and this pattern.
const ROLE_ARN_MIN = 20;
const ROLE_ARN_MAX = 2048;
const ROLE_ARN_CHARS = /^[\t\n\r\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]+$/u;
const ROLE_ARN_PATTERN_TEXT = '[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u0085\\u00A0-\\uD7FF\\uE000-\\uFFFD\\u10000-\\u10FFFF]+';

/** ValidationError only where AWS's declared constraint on RoleArn fails. */
function checkRoleArnConstraint(roleArn: string): void {
  if (roleArn.length < ROLE_ARN_MIN) throw validationError('roleArn', roleArn, `Member must have length greater than or equal to ${ROLE_ARN_MIN}`);
  if (roleArn.length > ROLE_ARN_MAX) throw validationError('roleArn', roleArn, `Member must have length less than or equal to ${ROLE_ARN_MAX}`);
  if (!ROLE_ARN_CHARS.test(roleArn)) throw validationError('roleArn', roleArn, `Member must satisfy regular expression pattern: ${ROLE_ARN_PATTERN_TEXT}`);
}

/** Expired sessions are kept this long, so their use answers ExpiredToken rather than an unknown key. */
const KEEP_EXPIRED_MS = 24 * 3600 * 1000;
/** A role chain (a session assuming a role) lasts at most one hour, as in AWS. */
const ROLE_CHAIN_MAX = 3600;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const SESSION_POLICY_MAX = 2048;

type Issued = {
  AccessKeyId: string;
  SecretAccessKey: string;
  SessionToken: string;
  Expiration: Date;
};

async function issue(c: ApiContext, principal: Principal, seconds: number): Promise<Issued> {
  await c.iam.sessions.deleteExpired(c.now - KEEP_EXPIRED_MS);
  const accessKeyId = newAccessKeyId('ASIA');
  const secret = newSecretAccessKey();
  const token = randomBytes(96).toString('base64');
  const expiresAt = c.now + seconds * 1000;
  await c.iam.sessions.create({
    accessKeyId,
    sealedSecret: await sealSession(c.rootKey, accessKeyId, secret, token),
    principal: encodeSessionPrincipal(principal),
    createDate: c.now,
    expiresAt,
  });
  return { AccessKeyId: accessKeyId, SecretAccessKey: secret, SessionToken: token, Expiration: new Date(expiresAt) };
}

function callerUserId(p: Principal): string {
  if (p.kind === 'root') return p.accountId;
  if (p.kind === 'assumed-role') return `${p.roleId}:${p.sessionName}`;
  return p.userId ?? p.userName;
}

export const STS_OPERATIONS: Record<string, QueryOperation> = {
  GetCallerIdentity: {
    action: null,
    resource: () => '*',
    async run(c) {
      return { UserId: callerUserId(c.principal), Account: c.accountId, Arn: c.principal.arn };
    },
  },
  GetSessionToken: {
    action: null,
    resource: () => '*',
    async run(c, p) {
      if (c.principal.temporary) throw queryError('AccessDenied', 'Cannot call GetSessionToken with session credentials');
      // The root's sessions last at most an hour: a longer duration "defaults to one hour" (AWS).
      const root = c.principal.kind === 'root';
      const asked = p.int('DurationSeconds', 900, 129600) ?? (root ? 3600 : 43200);
      const seconds = root ? Math.min(asked, 3600) : asked;
      if (p.has('SerialNumber') || p.has('TokenCode')) throw queryError('NotImplemented', 'Coffer does not support MFA (SerialNumber, TokenCode).');
      return { Credentials: await issue(c, c.principal, seconds) };
    },
  },
  AssumeRole: {
    action: 'sts:AssumeRole',
    resource: (_c, p) => p.req('RoleArn'),
    async run(c, p) {
      const roleArn = p.req('RoleArn');
      const sessionName = p.req('RoleSessionName');
      if (sessionName.length < 2) throw validationError('roleSessionName', sessionName, 'Member must have length greater than or equal to 2');
      if (sessionName.length > 64) throw validationError('roleSessionName', sessionName, 'Member must have length less than or equal to 64');
      if (!SESSION_NAME.test(sessionName)) {
        throw validationError('roleSessionName', sessionName, 'Member must satisfy regular expression pattern: [\\w+=,.@-]*');
      }
      for (const unsupported of ['PolicyArns.member.1.arn', 'Tags.member.1.Key', 'SerialNumber', 'TokenCode', 'SourceIdentity', 'ProvidedContexts.member.1.ProviderArn']) {
        if (p.has(unsupported)) throw queryError('NotImplemented', `Coffer does not support the AssumeRole parameter ${unsupported.split('.')[0]}.`);
      }
      const sessionPolicy = p.str('Policy');
      if (sessionPolicy !== undefined) {
        if (sessionPolicy.length > SESSION_POLICY_MAX) throw queryError('PackedPolicyTooLarge', 'Packed policy consumes more than 100 percent of the allotted size.');
        checkPolicy(sessionPolicy, SESSION_POLICY_MAX, 'identity');
      }
      checkRoleArnConstraint(roleArn);
      const caller = c.principal;
      if (caller.kind === 'root') throw queryError('AccessDenied', 'Roles may not be assumed by root accounts.');
      // Anything within the constraint that names no role of this account (another account,
      // a 13-digit account id, not a role ARN at all) is AWS's AccessDenied, not a validation error.
      const m = /^arn:aws:iam::(\d{12}):role\/(?:.*\/)?([\w+=,.@-]+)$/.exec(roleArn);
      const role = m && m[1] === c.accountId ? await c.iam.roles.get(m[2]!) : undefined;
      const deny = (reason: string) => queryError('AccessDenied', `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}${reason}`);
      if (!role || role.arn !== roleArn) throw deny('');

      const ctx = {
        principal: requestPrincipal(caller),
        action: 'sts:AssumeRole',
        resource: role.arn,
        conditions: {
          'aws:SourceIp': c.sourceIp,
          'aws:SecureTransport': c.secureTransport ? 'true' : 'false',
          'aws:CurrentTime': new Date(c.now).toISOString(),
          'aws:PrincipalArn': caller.kind === 'assumed-role' ? caller.roleArn : caller.arn,
          'sts:ExternalId': p.str('ExternalId'),
          'sts:RoleSessionName': sessionName,
        },
      };
      const decision = authorize({
        identityPolicies: await c.directory.identityPolicies(caller),
        resourcePolicies: [{ name: `${role.roleName} trust policy`, document: parseTrustPolicy(role.assumeRolePolicyDocument) }],
        sessionPolicy: c.directory.sessionPolicy(caller),
        ctx,
        resourceAccountId: c.accountId,
        resourcePolicyMode: 'kms',
      });
      if (decision.effect !== 'Allow') throw queryError('AccessDenied', accessDeniedMessage(ctx, decision).replace('key policy', 'trust policy'));

      const max = caller.kind === 'assumed-role' ? Math.min(ROLE_CHAIN_MAX, role.maxSessionDuration) : role.maxSessionDuration;
      const seconds = p.int('DurationSeconds', 900, 43200) ?? 3600;
      if (seconds > max) {
        throw validationError('durationSeconds', String(seconds), `The requested DurationSeconds exceeds the ${caller.kind === 'assumed-role' ? '1 hour session limit for roles assumed by role chaining' : 'MaxSessionDuration set for this role'}.`);
      }
      const principal: AssumedRolePrincipal = {
        kind: 'assumed-role',
        arn: assumedRoleArn(c.accountId, role.roleName, sessionName),
        accountId: c.accountId,
        userName: `${role.roleName}/${sessionName}`,
        userId: `${role.roleId}:${sessionName}`,
        roleName: role.roleName,
        roleArn: role.arn,
        roleId: role.roleId,
        sessionName,
      };
      if (sessionPolicy !== undefined) principal.sessionPolicy = sessionPolicy;
      const creds = await issue(c, principal, seconds);
      return {
        Credentials: creds,
        AssumedRoleUser: { AssumedRoleId: principal.userId, Arn: principal.arn },
        PackedPolicySize: sessionPolicy !== undefined ? Math.ceil((100 * sessionPolicy.replace(/\s+/g, '').length) / SESSION_POLICY_MAX) : undefined,
      };
    },
  },
};
