// The shapes the auth layer shares with its callers (S3 today, KMS/IAM/STS later):
// who signed a request, how to find a secret by access key id, and what the request
// body still has to prove once it is read (its hash, its chunk signatures).

import type { IncomingHttpHeaders } from 'node:http';

interface PrincipalBase {
  arn: string;
  accountId: string;
  /**
   * The IAM user name; 'root' for the root; ROLE/SESSION for a role session (a '/'
   * can never appear in a user name, so it never names a real user).
   */
  userName: string;
  /** aws:userid: AIDA... for users, AROA...:SESSION for role sessions, the account id for the root. */
  userId?: string;
  /** Set when the request was signed with temporary (STS) credentials; issuedAt is aws:TokenIssueTime. */
  temporary?: { accessKeyId: string; expiresAt: Date; issuedAt: Date };
  /** aws:PrincipalTag/<key>. */
  tags?: Record<string, string>;
}

export interface RootPrincipal extends PrincipalBase {
  kind: 'root';
}

export interface UserPrincipal extends PrincipalBase {
  kind: 'user';
}

/** arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION, from STS AssumeRole. */
export interface AssumedRolePrincipal extends PrincipalBase {
  kind: 'assumed-role';
  roleName: string;
  /** arn:aws:iam::ACCOUNT:role{PATH}ROLE */
  roleArn: string;
  roleId: string;
  sessionName: string;
  /** The inline session policy (JSON) given to AssumeRole: a limit on the role's permissions. */
  sessionPolicy?: string;
}

export type Principal = RootPrincipal | UserPrincipal | AssumedRolePrincipal;

export interface CredentialRecord {
  accessKeyId: string;
  secretAccessKey: string;
  principal: Principal;
  /** Temporary credentials: the request must carry this token as x-amz-security-token. */
  sessionToken?: string;
  expiresAt?: Date;
}

export type CredentialLookup = (accessKeyId: string) => CredentialRecord | undefined;

export interface SignedRequest {
  method: string;
  /** request target exactly as received on the wire: path + '?' + query, still percent-encoded */
  rawUrl: string;
  headers: IncomingHttpHeaders;
  /**
   * Node's `req.rawHeaders`: when given, signed header values are canonicalized from the
   * lines and bytes as received (repeated lines, non-ASCII values) instead of `headers`.
   */
  rawHeaders?: readonly string[];
  /**
   * The whole body, for services whose clients sign it without sending
   * x-amz-content-sha256 (KMS, IAM, STS read their small JSON/form bodies first).
   * S3 never passes it: S3 bodies are verified while streaming (see PayloadMode).
   */
  body?: Uint8Array;
}

export interface AuthOptions {
  region: string;
  service: string;
  lookup: CredentialLookup;
  now?: Date;
  /** 900000 (15 minutes) unless given. */
  maxSkewMs?: number;
}

export type PayloadMode =
  | { kind: 'unsigned' } // UNSIGNED-PAYLOAD, presigned URLs, anonymous
  | { kind: 'sha256'; expected: string } // hex digest to verify while streaming
  | { kind: 'chunked-signed'; trailer: boolean; seedSignature: string; signingKey: Buffer; scope: string; amzDate: string } // STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]
  | { kind: 'chunked-unsigned-trailer' }; // STREAMING-UNSIGNED-PAYLOAD-TRAILER

export type AuthResult =
  | { anonymous: false; credential: CredentialRecord; payload: PayloadMode; presigned: boolean }
  | { anonymous: true; payload: PayloadMode };
