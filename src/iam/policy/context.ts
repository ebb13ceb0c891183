// The request context a policy is evaluated against: who is calling, what action on
// which resource, and the condition keys. Callers (KMS, S3, IAM) supply the keys they
// know; the engine adds the aws:* keys that follow from the principal. Condition keys
// are case-insensitive (the map is keyed by the lower-cased name), values are not.

export interface RequestPrincipal {
  /** The caller's ARN: arn:aws:iam::ACCT:root, ...:user/NAME, arn:aws:sts::ACCT:assumed-role/ROLE/SESSION. */
  arn: string;
  accountId: string;
  /** aws:userid (AIDA..., AROA...:session). */
  userId?: string;
  /** aws:username, for IAM users. */
  userName?: string;
  /** aws:PrincipalTag/<key>. */
  tags?: Record<string, string>;
  /**
   * aws:TokenIssueTime (ISO 8601), present only for temporary credentials: with it the
   * request also carries aws:MultiFactorAuthPresent "false" (no session is issued with MFA).
   */
  tokenIssueTime?: string;
  /** For an assumed-role session, the role's ARN including its path, when known. */
  roleArn?: string;
  /** Set when an AWS service calls as a service principal (e.g. 's3.amazonaws.com'). */
  service?: string;
  /** An unauthenticated caller (S3 anonymous requests): matched only by "*". */
  anonymous?: boolean;
  /** S3 canonical user id, matched by {"CanonicalUser": ...}. */
  canonicalUserId?: string;
}

export type ContextValue = string | number | boolean | readonly string[] | undefined;

export interface RequestContext {
  principal: RequestPrincipal;
  /** 'kms:Decrypt', 's3:GetObject'. */
  action: string;
  /** The resource ARN. */
  resource: string;
  /**
   * Condition keys, any case. Multivalued keys (kms:EncryptionContextKeys,
   * kms:GrantOperations) are arrays; an empty array counts as absent.
   */
  conditions: Record<string, ContextValue>;
}

/** Condition key (lower-cased) -> values. Absent keys are missing, never empty. */
export type ContextMap = ReadonlyMap<string, readonly string[]>;

const SESSION_RE = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\/(.+)$/;

/** The role ARN an assumed-role session ARN stands for (path unknown: none assumed). */
export function sessionRoleArn(p: RequestPrincipal): string | undefined {
  const m = SESSION_RE.exec(p.arn);
  if (!m) return undefined;
  return p.roleArn ?? `arn:${m[1]}:iam::${m[2]}:role/${m[3]}`;
}

export function partitionOf(arn: string): string {
  return /^arn:([^:]+):/.exec(arn)?.[1] ?? 'aws';
}

export function accountRootArn(p: RequestPrincipal): string {
  return `arn:${partitionOf(p.arn)}:iam::${p.accountId}:root`;
}

export function isAccountRoot(p: RequestPrincipal): boolean {
  return !p.service && !p.anonymous && p.arn === accountRootArn(p);
}

function toValues(v: ContextValue): string[] | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v.length === 0 ? undefined : [...v];
  return [String(v)];
}

/** aws:PrincipalType: Account (the root), User, AssumedRole, Anonymous; none for a service principal. */
function principalType(p: RequestPrincipal): string | undefined {
  if (p.service) return undefined;
  if (p.anonymous) return 'Anonymous';
  if (isAccountRoot(p)) return 'Account';
  if (SESSION_RE.test(p.arn)) return 'AssumedRole';
  return /^arn:[^:]+:iam::\d{12}:user\//.test(p.arn) ? 'User' : undefined;
}

/**
 * Builds the lower-cased condition map. Keys derived from the principal
 * (aws:PrincipalArn, aws:PrincipalAccount, aws:username, aws:userid,
 * aws:PrincipalType, aws:TokenIssueTime, aws:MultiFactorAuthPresent, aws:PrincipalTag/*)
 * are filled in unless the caller supplied them.
 */
export function buildContextMap(ctx: RequestContext): ContextMap {
  const map = new Map<string, string[]>();
  const p = ctx.principal;
  const named = !p.service && !p.anonymous;
  const derived: [string, string | undefined][] = [
    ['aws:principalarn', named ? (sessionRoleArn(p) ?? p.arn) : undefined],
    ['aws:principalaccount', named ? p.accountId : undefined],
    ['aws:username', p.userName],
    ['aws:userid', p.userId],
    ['aws:principaltype', principalType(p)],
    // AWS's global condition keys of temporary credentials; absent for long-term keys.
    ['aws:tokenissuetime', p.tokenIssueTime],
    ['aws:multifactorauthpresent', p.tokenIssueTime !== undefined ? 'false' : undefined],
  ];
  for (const [k, v] of derived) if (v !== undefined) map.set(k, [v]);
  for (const [k, v] of Object.entries(p.tags ?? {})) map.set(`aws:principaltag/${k.toLowerCase()}`, [v]);
  for (const [k, v] of Object.entries(ctx.conditions)) {
    const values = toValues(v);
    if (values) map.set(k.toLowerCase(), values);
    else map.delete(k.toLowerCase());
  }
  return map;
}

/** Policy variables resolve only from single-valued keys. */
export function variableLookup(map: ContextMap): (keyLower: string) => string | undefined {
  return (k) => {
    const v = map.get(k);
    return v && v.length === 1 ? v[0] : undefined;
  };
}
