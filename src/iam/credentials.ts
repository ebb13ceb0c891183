// The account's principals as the request path sees them: the root credential, and
// IAM users' access keys read from the IAM store. Secrets are sealed under the root
// key at rest (docs/spec/iam-access-key-secret.md) and unsealed only in memory.
//
// The store is the source of truth, and other processes (the `coffer user` CLI) write
// it while the server runs, so every request looks its key up again (a SQLite point
// read); only the unsealed secret is cached, keyed by the sealed bytes. A key deleted
// or made Inactive stops working on the next request.

import { createHash } from 'node:crypto';
import type { CredentialLookup, CredentialRecord, Principal } from '../auth/types.js';
import type { RootKeyProvider } from '../kms/custody/root-key.js';
import { parsePolicyDocument, type NamedPolicy, type PolicyDocument } from './policy/index.js';
import type { RootAccount } from './root-credentials.js';
import type { AccessKeyRecord, IamStore } from './store/types.js';

/** Changing this label breaks every stored access key secret. */
export const SECRET_SEAL_LABEL = 'coffer/iam/access-key-secret/v1';

function sealAad(accessKeyId: string): Buffer {
  return Buffer.from(`${SECRET_SEAL_LABEL}\n${accessKeyId}`, 'utf8');
}

export async function sealSecret(rootKey: RootKeyProvider, accessKeyId: string, secret: string): Promise<Buffer> {
  return rootKey.wrap(Buffer.from(secret, 'utf8'), sealAad(accessKeyId));
}

export async function unsealSecret(rootKey: RootKeyProvider, accessKeyId: string, sealed: Buffer): Promise<string> {
  return (await rootKey.unwrap(sealed, sealAad(accessKeyId))).toString('utf8');
}

/** Finds the access key id a request is signed with (header or presigned), without verifying anything. */
export function accessKeyIdOf(authorization: string | undefined, rawUrl: string): string | undefined {
  if (authorization) {
    const m = /Credential=([^/,\s]+)\//.exec(authorization);
    return m?.[1];
  }
  const qi = rawUrl.indexOf('?');
  if (qi < 0) return undefined;
  const cred = new URLSearchParams(rawUrl.slice(qi + 1)).get('X-Amz-Credential');
  return cred?.split('/')[0];
}

export class CredentialDirectory {
  private readonly prepared = new Map<string, CredentialRecord>();
  private readonly secrets = new Map<string, { fingerprint: string; secret: string }>();
  private readonly policyCache = new Map<string, PolicyDocument>();

  constructor(
    private readonly iam: IamStore,
    private readonly rootKey: RootKeyProvider,
    private readonly root: RootAccount,
  ) {}

  /**
   * Makes the credential of this access key id available to the synchronous lookup for
   * the current request (call once per request, before authenticating).
   */
  async prepare(accessKeyId: string | undefined): Promise<void> {
    if (!accessKeyId || accessKeyId === this.root.credential.accessKeyId) return;
    const key = await this.iam.getAccessKey(accessKeyId);
    if (!key || key.status !== 'Active') {
      this.prepared.delete(accessKeyId);
      return;
    }
    const user = await this.iam.getUser(key.userName);
    if (!user) {
      this.prepared.delete(accessKeyId);
      return;
    }
    const secret = await this.secretOf(key);
    const principal: Principal = { arn: user.arn, accountId: this.root.accountId, userName: user.userName, kind: 'user', userId: user.userId };
    this.prepared.set(accessKeyId, { accessKeyId, secretAccessKey: secret, principal });
    if (this.prepared.size > 10_000) this.prepared.clear();
  }

  private async secretOf(key: AccessKeyRecord): Promise<string> {
    const fingerprint = createHash('sha256').update(key.sealedSecret).digest('hex');
    const hit = this.secrets.get(key.accessKeyId);
    if (hit && hit.fingerprint === fingerprint) return hit.secret;
    const secret = await unsealSecret(this.rootKey, key.accessKeyId, key.sealedSecret);
    this.secrets.set(key.accessKeyId, { fingerprint, secret });
    return secret;
  }

  /** The synchronous lookup the SigV4 verifier uses: root, or a key prepared for this request. */
  readonly lookup: CredentialLookup = (id) => {
    if (id === this.root.credential.accessKeyId) return this.root.credential;
    return this.prepared.get(id);
  };

  /** A principal's identity-based policies: the inline policies of an IAM user. The root has none (it needs none). */
  readonly identityPolicies = async (principal: Principal): Promise<NamedPolicy[]> => {
    if (principal.kind !== 'user') return [];
    const names = await this.iam.listUserPolicies(principal.userName);
    const out: NamedPolicy[] = [];
    for (const name of names) {
      const rec = await this.iam.getUserPolicy(principal.userName, name);
      if (!rec) continue;
      let doc = this.policyCache.get(rec.document);
      if (!doc) {
        doc = parsePolicyDocument(rec.document, { kind: 'identity' });
        if (this.policyCache.size > 1000) this.policyCache.clear();
        this.policyCache.set(rec.document, doc);
      }
      out.push({ name, document: doc });
    }
    return out;
  };
}
