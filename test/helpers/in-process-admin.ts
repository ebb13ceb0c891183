// The IAM changes of an AdminContext built on an in-process server (tests that create
// users with createUserWithKey): applied to its stores and recorded through its own audit
// sink, so the server's log has one writer, as with `coffer user` beside a live server.

import type { AuditSink } from '../../src/audit/sink.js';
import type { RootKeyProvider } from '../../src/custody/root-key.js';
import type { IamStore } from '../../src/iam/store/types.js';
import { recordedChanges, type IamChanges } from '../../src/cli/iam-changes.js';

export function inProcessChanges(coffer: { root: { accountId: string }; rootKey: RootKeyProvider; iam: IamStore; audit: AuditSink }): () => Promise<IamChanges> {
  return () => Promise.resolve(recordedChanges({ accountId: coffer.root.accountId, rootKey: coffer.rootKey, iam: coffer.iam }, coffer.audit));
}
