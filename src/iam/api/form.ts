// The IAM/STS request's parameters — the URL's query and the form-encoded body — parsed
// under bounds before anything runs: at most MAX_PARAMETERS parameters, names of at most
// MAX_NAME characters, and each value no longer than the IAM or STS API reference allows
// for that member (the largest any operation allows; operations check their own tighter
// limits after), or MAX_VALUE for members the table does not name. A value over its bound
// is refused with IAM's ValidationError naming the member and the constraint, never
// echoing the value back.

import { queryError, validationError } from './query.js';

/** AWS documents no count; the largest legitimate call (SimulatePrincipalPolicy with long lists) stays far below. */
export const MAX_PARAMETERS = 1000;
export const MAX_NAME = 256;
/** The largest legitimate value: a policy document (IAM PolicyDocument, 131,072 characters). */
export const MAX_VALUE = 131_072;

/**
 * Each member's maximum length from the IAM and STS API references, as the largest over
 * every operation taking it; `Name.member.N` is written `Name.member.N`.
 */
const MEMBER_MAX: Readonly<Record<string, number>> = {
  Action: 128,
  Version: 32,
  UserName: 128,
  NewUserName: 64,
  GroupName: 128,
  NewGroupName: 128,
  RoleName: 64,
  PolicyName: 128,
  PolicyArn: 2048,
  PolicyDocument: MAX_VALUE,
  AssumeRolePolicyDocument: MAX_VALUE,
  PermissionsBoundary: 2048,
  Path: 512,
  PathPrefix: 512,
  NewPath: 512,
  Description: 1000,
  AccessKeyId: 128,
  Status: 16,
  Marker: 320,
  MaxItems: 16,
  VersionId: 32,
  PolicySourceArn: 2048,
  CallerArn: 2048,
  ResourcePolicy: MAX_VALUE,
  ResourceOwner: 2048,
  ResourceHandlingOption: 64,
  'PolicyInputList.member.N': MAX_VALUE,
  'PermissionsBoundaryPolicyInputList.member.N': MAX_VALUE,
  'ActionNames.member.N': 128,
  'ResourceArns.member.N': 2048,
  'ContextEntries.member.N.ContextKeyName': 256,
  'Tags.member.N.Key': 128,
  'Tags.member.N.Value': 256,
  'TagKeys.member.N': 128,
  // STS
  RoleArn: 2048,
  RoleSessionName: 64,
  Policy: 2048,
  'PolicyArns.member.N.arn': 2048,
  DurationSeconds: 16,
  ExternalId: 1224,
  SerialNumber: 256,
  TokenCode: 6,
  SourceIdentity: 64,
  'TransitiveTagKeys.member.N': 128,
};

/** Tighter bounds of one operation where the value would otherwise be echoed at length. */
const ACTION_MAX: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  CreateUser: { UserName: 64 },
  CreateRole: { RoleName: 64 },
};

/** The parameters of a request: `query` (the URL's, without '?') then `body`. */
export function parseQueryForm(query: string, body: string): URLSearchParams {
  if (countParameters(query) + countParameters(body) > MAX_PARAMETERS) {
    throw queryError('ValidationError', `1 validation error detected: the request has more than ${MAX_PARAMETERS} parameters, the most Coffer accepts`);
  }
  const form = new URLSearchParams(query);
  for (const [k, v] of new URLSearchParams(body)) form.append(k, v);
  const action = form.get('Action') ?? '';
  for (const [name, value] of form) {
    if (name.length > MAX_NAME) {
      throw queryError('ValidationError', `1 validation error detected: a parameter name is longer than ${MAX_NAME} characters`);
    }
    const key = name.replace(/\.member\.\d+/g, '.member.N');
    const own = Object.hasOwn(ACTION_MAX, action) ? ACTION_MAX[action]! : {};
    const max = (Object.hasOwn(own, key) ? own[key] : undefined) ?? (Object.hasOwn(MEMBER_MAX, key) ? MEMBER_MAX[key]! : MAX_VALUE);
    if (value.length > max) throw validationError(memberPath(name), value, `Member must have length less than or equal to ${max}`);
  }
  return form;
}

/** Non-empty `&`-separated segments, counted without splitting the string. */
function countParameters(s: string): number {
  let n = 0;
  let start = 0;
  while (start <= s.length) {
    let end = s.indexOf('&', start);
    if (end < 0) end = s.length;
    if (end > start) n++;
    if (n > MAX_PARAMETERS) return n;
    start = end + 1;
  }
  return n;
}

/** `Tags.member.3.Key` → `tags.member.key`, as IAM names members in validation messages. */
function memberPath(name: string): string {
  return name
    .replace(/\.member\.\d+/g, '.member')
    .split('.')
    .map((s) => s.charAt(0).toLowerCase() + s.slice(1))
    .join('.');
}
