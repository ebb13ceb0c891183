// kms:RequestAlias (AWS's condition-key reference): the alias a request names its key by, for
// the cryptographic operations, DescribeKey and GetPublicKey. An alias name or an alias ARN
// presents the alias name ("alias/finance-key"; a policy cannot name an alias ARN); a key id
// or key ARN presents nothing, even for a key that has aliases (kms:ResourceAliases, which
// KmsService reads from the store, is the key's own). resolveKey has already refused a
// malformed reference or another account's or Region's alias.

const ALIAS_ARN = /^arn:[^:]+:kms:[^:]*:\d{12}:(alias\/.+)$/;

/** The alias name `ref` names, if it names one. */
export function requestAliasOf(ref: unknown): string | undefined {
  if (typeof ref !== 'string') return undefined;
  if (ref.startsWith('alias/')) return ref;
  return ALIAS_ARN.exec(ref)?.[1];
}

/** `conditions` with kms:RequestAlias when `ref` is an alias; `conditions` itself (no copy) when it is not. */
export function withRequestAlias<C extends Readonly<Record<string, string | string[] | boolean | undefined>>>(conditions: C, ref: unknown): C | (C & { 'kms:RequestAlias': string }) {
  const alias = requestAliasOf(ref);
  return alias === undefined ? conditions : { ...conditions, 'kms:RequestAlias': alias };
}
