// The IAM changes the command line makes (`coffer user`, `coffer hadoop config --user`),
// each with its durable audit record, the same event the IAM API records for the same
// call (iam/api/audit.ts): eventSource iam.amazonaws.com, the root as the caller, the safe
// request parameters, the error code when it failed. Two ways, chosen by the data
// directory's lock (backend/data-dir-lock.ts):
//
//   a live server holds it   the change goes through that server's IAM API, signed with
//                            the root credentials (cli/iam-via-server.ts): the server
//                            records it as any call. This process never writes kms.log
//                            beside the server, which writes it at its own offset.
//   no server                this process takes the lock for the rest of the command (so
//                            no server starts meanwhile), opens the audit log and, in the
//                            server's order (iam/api/handler.ts): checks that the log can
//                            be written (refused, nothing changes, if not), applies the
//                            change, records it durably — then the command reports.
//
// sourceIPAddress and userAgent are "coffer-cli" offline; through the server the
// userAgent is, and the address is the loopback one the call came from.

import { randomUUID } from 'node:crypto';
import { AuditLog } from '../audit/audit-log.js';
import { AuditUnavailableError, type AuditSink } from '../audit/sink.js';
import { DataDirLockedError, lockDataDir, type DataDirLock } from '../backend/data-dir-lock.js';
import { MAX_KEYS_PER_USER } from '../iam/api/access-keys.js';
import { callEvent, safeParameters, type CallRecord } from '../iam/api/audit.js';
import { sealSecret } from '../iam/credentials.js';
import { newAccessKeyId, newSecretAccessKey, rootPrincipal } from '../iam/root-credentials.js';
import { newUserId, userArn } from '../iam/store/ids.js';
import { IamStoreConflict } from '../iam/store/types.js';
import { isStorageFull } from '../storage/storage-full.js';
import { CliError } from './output.js';
import { openServerChanges } from './iam-via-server.js';
import { CLI_SOURCE, type ChangedStores, type ChangesContext, type IamChanges } from './iam-change-types.js';

export { CLI_SOURCE, type ChangedStores, type ChangesContext, type IamChanges } from './iam-change-types.js';

/** The changes of `c.dataDir`: through its live server, else recorded here under its lock. */
export async function openIamChanges(c: ChangesContext): Promise<IamChanges> {
  let lock: DataDirLock;
  try {
    lock = lockDataDir(c.dataDir);
  } catch (e) {
    if (e instanceof DataDirLockedError) return openServerChanges(c, e.holder);
    throw e;
  }
  try {
    const audit = await AuditLog.open(c.dataDir, c.config.region, {
      maxFileBytes: c.config.auditMaxFileBytes, maxFiles: c.config.auditMaxFiles, preallocateBytes: c.config.auditPreallocateBytes, fsync: c.config.fsync,
    }).catch((e: unknown) => {
      throw new CliError(
        `cannot open the audit log in ${c.dataDir}/audit (${(e as NodeJS.ErrnoException).code ?? 'failed'}); IAM changes are refused without their record`,
        isStorageFull(e) ? 'free disk space outside the data directory, then run the command again' : `check ${c.dataDir}/audit/kms.log, its permissions and its disk (\`coffer check\`), then run the command again`,
      );
    });
    return recordedChanges(c, audit, async () => {
      try {
        await audit.close();
      } finally {
        lock.release();
      }
    });
  } catch (e) {
    lock.release();
    throw e;
  }
}

/**
 * Changes applied to `stores` and recorded in `audit`, in the server's order. `audit` is
 * the one writer of its log: the log this process opened under the lock, or (tests) an
 * in-process server's own sink. `close` runs once, from close().
 */
export function recordedChanges(stores: ChangedStores, audit: AuditSink, close: () => Promise<void> = async () => {}): IamChanges {
  return new RecordedChanges(stores, audit, close);
}

/** The members of each call's form that the records name (as the API's form would carry them). */
type Form = Record<string, string>;

class RecordedChanges implements IamChanges {
  readonly via = 'offline';

  constructor(private readonly c: ChangedStores, private readonly audit: AuditSink, private readonly onClose: () => Promise<void>) {}

  createUser(userName: string): Promise<{ arn: string }> {
    const arn = userArn(this.c.accountId, userName);
    return this.recorded('CreateUser', { UserName: userName }, async () => {
      await this.c.iam.createUser({ userName, userId: newUserId(), arn, path: '/', createDate: Date.now(), tags: [] });
      return { arn };
    });
  }

  createAccessKey(userName: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
    return this.recorded('CreateAccessKey', { UserName: userName }, async () => {
      const accessKeyId = newAccessKeyId();
      const secretAccessKey = newSecretAccessKey();
      await this.c.iam.createAccessKey(
        { accessKeyId, userName, status: 'Active', createDate: Date.now(), sealedSecret: await sealSecret(this.c.rootKey, accessKeyId, secretAccessKey) },
        { maxKeysPerUser: MAX_KEYS_PER_USER },
      );
      return { accessKeyId, secretAccessKey };
    });
  }

  deleteAccessKey(userName: string, accessKeyId: string): Promise<boolean> {
    return this.recorded('DeleteAccessKey', { UserName: userName, AccessKeyId: accessKeyId }, () => this.c.iam.deleteAccessKey(userName, accessKeyId));
  }

  putUserPolicy(userName: string, policyName: string, document: string): Promise<void> {
    return this.recorded('PutUserPolicy', { UserName: userName, PolicyName: policyName }, () => this.c.iam.putUserPolicy(userName, policyName, document));
  }

  deleteUserPolicy(userName: string, policyName: string): Promise<boolean> {
    return this.recorded('DeleteUserPolicy', { UserName: userName, PolicyName: policyName }, () => this.c.iam.deleteUserPolicy(userName, policyName));
  }

  detachUserPolicy(userName: string, policyArn: string): Promise<boolean> {
    return this.recorded('DetachUserPolicy', { UserName: userName, PolicyArn: policyArn }, () => this.c.iam.policies.detach('user', userName, policyArn));
  }

  removeUserFromGroup(groupName: string, userName: string): Promise<boolean> {
    return this.recorded('RemoveUserFromGroup', { GroupName: groupName, UserName: userName }, () => this.c.iam.groups.removeUser(groupName, userName));
  }

  deleteUser(userName: string): Promise<boolean> {
    return this.recorded('DeleteUser', { UserName: userName }, () => this.c.iam.deleteUser(userName));
  }

  close(): Promise<void> {
    return this.onClose();
  }

  /**
   * The server's order: refuse while the log cannot be written, apply, record (the failure
   * too, with its code), and resolve only once the record is durable. `false` (nothing
   * found) is recorded as NoSuchEntity, as the API answers it.
   */
  private async recorded<T>(action: string, form: Form, apply: () => Promise<T>): Promise<T> {
    const record: CallRecord = {
      source: 'iam.amazonaws.com', action, principal: rootPrincipal(this.c.accountId), requestId: randomUUID(),
      sourceIp: CLI_SOURCE, userAgent: CLI_SOURCE, params: safeParameters(new URLSearchParams(form)),
    };
    await this.durably(() => this.audit.checkWritable());
    let result: T;
    try {
      result = await apply();
    } catch (e) {
      const error = e instanceof IamStoreConflict
        ? { code: e.kind, message: `${action} failed: ${e.kind}.` }
        : { code: 'ServiceFailure', message: 'The request processing has failed because of an unknown error, exception or failure.' };
      await this.durably(() => this.audit.record(callEvent(record, error)));
      throw e;
    }
    await this.durably(() => this.audit.record(callEvent(record, result === false ? { code: 'NoSuchEntity', message: `${action} failed: NoSuchEntity.` } : undefined)));
    return result;
  }

  private async durably(step: () => void | Promise<void>): Promise<void> {
    try {
      await step();
    } catch (e) {
      if (!(e instanceof AuditUnavailableError)) throw e;
      throw new CliError(
        `the audit log cannot be written${isStorageFull(e) ? ': the disk is full' : ''}; IAM changes are refused without their record`,
        isStorageFull(e) ? 'free disk space outside the data directory, then run the command again' : 'check the permissions and the disk of the data directory, then run the command again',
      );
    }
  }
}
