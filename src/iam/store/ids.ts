// IAM identifiers: unique ids (AIDA users, AGPA groups, AROA roles, ANPA managed
// policies) and ARNs.

import { randomBytes } from 'node:crypto';

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const USER_ID = /^AIDA[A-Z0-9]{17}$/;

/** AIDA and 17 random upper-case letters or digits, as IAM's user ids. */
export function newUserId(): string {
  return newUniqueId('AIDA');
}

/** A unique id of the given 4-letter prefix and 17 random upper-case letters or digits. */
export function newUniqueId(prefix: 'AIDA' | 'AGPA' | 'AROA' | 'ANPA'): string {
  let id: string = prefix;
  // 252 is the largest multiple of 36 below 256: rejecting bytes above it keeps every character equally likely.
  while (id.length < 21) {
    for (const b of randomBytes(32)) {
      if (b < 252 && id.length < 21) id += ID_ALPHABET[b % 36];
    }
  }
  return id;
}

export function isUserId(s: string): boolean {
  return USER_ID.test(s);
}

/** arn:aws:iam::ACCOUNT:user{PATH}{NAME}; path is '/' or '/a/b/'. */
export function userArn(accountId: string, userName: string, path = '/'): string {
  return `arn:aws:iam::${accountId}:user${path}${userName}`;
}

/** arn:aws:iam::ACCOUNT:{group|role|policy}{PATH}{NAME}. */
export function iamArn(accountId: string, kind: 'user' | 'group' | 'role' | 'policy', name: string, path = '/'): string {
  return `arn:aws:iam::${accountId}:${kind}${path}${name}`;
}

/** arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION (no path, as STS writes it). */
export function assumedRoleArn(accountId: string, roleName: string, sessionName: string): string {
  return `arn:aws:sts::${accountId}:assumed-role/${roleName}/${sessionName}`;
}
