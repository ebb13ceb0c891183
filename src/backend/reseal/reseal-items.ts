// Every item sealed under the root key, walked store by store, and re-sealed from the old
// root key to the new one (coffer custody rotate|migrate; root-key-rotation.ts runs it).
//
//   item                         where                         what is re-sealed
//   KMS key material (v1, v2)    KmsStore materials            the record (v2: its record key wrap)
//   IAM access key secrets       IamStore access keys          the sealed secret
//   STS sessions                 IamStore sessions             the sealed secret and token
//   SSE-S3 object keys           objects' sys.sse envelope     the envelope's wrapped key
//   uploads in progress          uploads' sys.sse              SSE-S3: the wrapped key; SSE-C: the part-list key (plk)
//
// Each item is committed alone, compare-and-swap on the bytes it read, so a crash leaves
// every item sealed under one key or the other. Which one is in the bytes themselves: every
// wrapped key names its root key (kind and fingerprint), so an item the new key already
// opens is skipped — that is how a resumed run knows what is done.

import { CustodyError } from '../../custody/errors.js';
import type { RootKeyProvider } from '../../custody/root-key.js';
import { decodeEnvelope, encodeEnvelope, sealedKeyAad } from '../../crypto/envelope.js';
import { sealSecret as sealAccessSecret, sealSession, unsealSecret, unsealSession } from '../../iam/credentials.js';
import type { IamStore } from '../../iam/store/types.js';
import { asKeyMaterial, openKeyMaterial, openSecret, sealKeyMaterial, sealSecret, sealedRecordVersion, SecretKind, type SecretKindName } from '../../kms/format/key-material.js';
import type { KmsStore } from '../../kms/store/types.js';
import { partListKeyAadOf } from '../../s3/sse/multipart-sse.js';
import type { MetadataStore } from '../../storage/types.js';

const PAGE = 500;
/** Byte 41 of a v2 record: the kind of secret (kms/format/key-material.ts). */
const V2_KIND_OFFSET = 41;

export interface ResealStores {
  kms: KmsStore;
  iam: IamStore;
  meta: MetadataStore;
}

export interface ResealCounts {
  kmsMaterial: number;
  accessKeys: number;
  sessions: number;
  objects: number;
  uploads: number;
}

/** What the walk does with each item; `count` only counts, `reseal` re-seals. */
type Visit = (item: { what: string; reseal: () => Promise<'done' | 'resealed'> }) => Promise<void>;

/** Re-seals what `open` opens under `old` with `seal` under `next`; 'done' if `next` opens it already. */
async function moveItem<T>(old: RootKeyProvider, next: RootKeyProvider, open: (p: RootKeyProvider) => Promise<T>, seal: (p: RootKeyProvider, plain: T) => Promise<void>, wipe: (plain: T) => void): Promise<'done' | 'resealed'> {
  try {
    wipe(await open(next));
    return 'done';
  } catch (e) {
    if (!(e instanceof CustodyError) || e.kind !== 'wrong-key') throw e;
  }
  const plain = await open(old);
  try {
    await seal(next, plain);
    return 'resealed';
  } finally {
    wipe(plain);
  }
}

/** An item was changed (rewritten, deleted) between the walk's read and its compare-and-swap: the item's new bytes are not the ones read. */
export class ItemChangedError extends Error {
  override readonly name = 'ItemChangedError';
}

const lost = (what: string) => new ItemChangedError(`${what} changed while it was being re-sealed; run the command again (it resumes)`);
const zero = (b: Buffer) => void b.fill(0);
const keep = () => undefined;

/** Walks every sealed item; `visit` decides what to do. Returns how many of each kind there were. */
export async function walkSealed(s: ResealStores, old: RootKeyProvider, next: RootKeyProvider, visit: Visit): Promise<ResealCounts> {
  const counts: ResealCounts = { kmsMaterial: 0, accessKeys: 0, sessions: 0, objects: 0, uploads: 0 };

  // KMS key material, every version of every key.
  for (let after: { creationDate: number; keyId: string } | undefined, page; (page = await s.kms.listKeys(after, PAGE)).length > 0; ) {
    after = { creationDate: page.at(-1)!.creationDate, keyId: page.at(-1)!.keyId };
    for (const key of page) {
      for (const m of await s.kms.listMaterials(key.keyId)) {
        // Deleted imported material (empty sealed bytes, kms/ops/import.ts) has nothing sealed to move.
        if (m.sealed.length === 0) continue;
        counts.kmsMaterial++;
        const what = `KMS key ${m.keyId} material version ${m.version}`;
        const v2 = sealedRecordVersion(m.sealed) === 2;
        const kind = (Object.keys(SecretKind) as SecretKindName[]).find((k) => SecretKind[k] === m.sealed[V2_KIND_OFFSET]);
        await visit({
          what,
          reseal: () =>
            moveItem(
              old, next,
              (p) => (v2 ? openSecret(p, m.keyId, m.version, kind ?? 'hmac', m.sealed) : openKeyMaterial(p, m.keyId, m.version, m.sealed)),
              async (p, plain) => {
                const sealed = v2 ? await sealSecret(p, m.keyId, m.version, kind ?? 'hmac', plain) : await sealKeyMaterial(p, m.keyId, m.version, asKeyMaterial(plain));
                if (!(await s.kms.resealMaterial(m.keyId, m.version, m.sealed, sealed))) throw lost(what);
              },
              zero,
            ),
        });
      }
    }
  }

  // IAM access keys, user by user.
  for (let after: string | undefined, users; (users = await s.iam.listUsers({ after, limit: PAGE })).length > 0; ) {
    after = users.at(-1)!.userName;
    for (const u of users) {
      for (const k of await s.iam.listAccessKeys(u.userName)) {
        counts.accessKeys++;
        const what = `access key ${k.accessKeyId}`;
        await visit({
          what,
          reseal: () =>
            moveItem(old, next, (p) => unsealSecret(p, k.accessKeyId, k.sealedSecret), async (p, secret) => {
              if (!(await s.iam.resealAccessKey(k.accessKeyId, k.sealedSecret, await sealAccessSecret(p, k.accessKeyId, secret)))) throw lost(what);
            }, keep),
        });
      }
    }
  }

  // STS sessions (expired ones too: they are deleted on their own schedule, and must not be left unreadable meanwhile).
  for (let after: string | undefined, page; (page = await s.iam.sessions.list(after, PAGE)).length > 0; ) {
    after = page.at(-1)!.accessKeyId;
    for (const r of page) {
      counts.sessions++;
      const what = `STS session ${r.accessKeyId}`;
      await visit({
        what,
        reseal: () =>
          moveItem(old, next, (p) => unsealSession(p, r.accessKeyId, r.sealedSecret), async (p, v) => {
            if (!(await s.iam.sessions.reseal(r.accessKeyId, r.sealedSecret, await sealSession(p, r.accessKeyId, v.secret, v.token)))) throw lost(what);
          }, keep),
      });
    }
  }

  for (const bucket of await s.meta.listBuckets()) {
    // SSE-S3 objects: the envelope's wrapped key — of every version, noncurrent ones included
    // (delete markers have no envelope).
    for (let marker: { keyMarker: string; versionIdMarker: string } | undefined, page; (page = await s.meta.listObjectVersions(bucket.name, { prefix: '', ...marker, limit: PAGE })).length > 0; ) {
      marker = { keyMarker: page.at(-1)!.key, versionIdMarker: page.at(-1)!.versionId };
      for (const obj of page) {
        const sse = obj.sys.sse as { alg?: unknown; env?: unknown } | undefined;
        if (sse?.alg !== 'AES256' || typeof sse.env !== 'string') continue;
        const env = decodeEnvelope(Buffer.from(sse.env, 'base64'));
        if (env.kind !== 'sse-s3') continue;
        counts.objects++;
        const what = `the SSE-S3 key of object ${bucket.name}/${obj.key} (version ${obj.versionId})`;
        await visit({
          what,
          reseal: () =>
            moveItem(old, next, (p) => p.unwrap(env.wrappedKey, sealedKeyAad(env)), async (p, key) => {
              const wrappedKey = await p.wrap(key, sealedKeyAad(env));
              const sys = { ...obj.sys, sse: { ...sse, env: encodeEnvelope({ ...env, wrappedKey }).toString('base64') } };
              if (!(await s.meta.replaceObjectSys(bucket.name, obj.key, { sys: obj.sys, etag: obj.etag, versionId: obj.versionId }, sys))) throw lost(what);
            }, zero),
        });
      }
    }
    // Uploads in progress: an SSE-S3 upload's wrapped key, an SSE-C upload's part-list key.
    for (let marker: { keyMarker: string; uploadIdMarker: string } | undefined, page; (page = await s.meta.listUploads(bucket.name, { prefix: '', ...marker, limit: PAGE })).length > 0; ) {
      marker = { keyMarker: page.at(-1)!.key, uploadIdMarker: page.at(-1)!.uploadId };
      for (const up of page) {
        const sse = up.sys.sse as { alg?: unknown; env?: unknown; plk?: unknown } | undefined;
        if (typeof sse?.env !== 'string') continue;
        const env = decodeEnvelope(Buffer.from(sse.env, 'base64'));
        const what = `upload ${up.uploadId} of ${bucket.name}/${up.key}`;
        let field: 'env' | 'plk';
        let wrapped: Buffer;
        let aad: Buffer;
        if (env.kind === 'sse-s3') [field, wrapped, aad] = ['env', env.wrappedKey, sealedKeyAad(env)];
        else if (sse.alg === 'SSE-C' && typeof sse.plk === 'string') [field, wrapped, aad] = ['plk', Buffer.from(sse.plk, 'base64'), partListKeyAadOf(env)];
        else continue;
        counts.uploads++;
        await visit({
          what,
          reseal: () =>
            moveItem(old, next, (p) => p.unwrap(wrapped, aad), async (p, key) => {
              const rewrapped = await p.wrap(key, aad);
              const value = field === 'env' ? encodeEnvelope({ ...env, wrappedKey: rewrapped }).toString('base64') : rewrapped.toString('base64');
              const sys = { ...up.sys, sse: { ...sse, [field]: value } };
              if (!(await s.meta.replaceUploadSys(up.uploadId, up.sys, sys))) throw lost(what);
            }, zero),
        });
      }
    }
  }
  return counts;
}

/** Paces a walk to at most `itemsPerSecond` (none: no pause): waits until item `done` is due, counted from `t0`. */
export async function paceItems(t0: number, done: number, itemsPerSecond: number | undefined): Promise<void> {
  if (!itemsPerSecond) return;
  const due = t0 + (done * 1000) / itemsPerSecond - Date.now();
  if (due > 0) await new Promise((r) => setTimeout(r, due));
}
