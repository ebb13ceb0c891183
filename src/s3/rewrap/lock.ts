// Object lock for a re-wrap (coffer rekey). Moving a version's data key to another KMS key
// can destroy the version as surely as deleting it: whoever controls the new key may schedule
// its deletion, and the version becomes unreadable (crypto-shredding), which COMPLIANCE mode
// and legal holds exist to prevent. (AWS has no in-place key change at all: a copy makes a new
// version and the locked one keeps its key.) So a re-wrap follows the rules of a delete by
// version id (object-lock.ts checkDeletable): refused under a legal hold or an unexpired
// COMPLIANCE retention, and under an unexpired GOVERNANCE one unless the request asks for the
// bypass and the signer is allowed s3:BypassGovernanceRetention.
//
// A refused version is skipped ("object-lock"), not failed: a re-key of a bucket moves what it
// may and leaves the locked versions under their key. The one exception is a bypass asked for
// and not allowed: S3's AccessDenied, as a delete with x-amz-bypass-governance-retention answers.
// The check runs on the version as read, before any KMS call, and again in the commit's
// transaction on the version as it is then (a retention or hold set meanwhile refuses it).

import type { Caller } from '../../kms/service.js';
import type { ObjectRecord, ReplaceCheck } from '../../storage/types.js';
import type { S3PolicySources } from '../authorization.js';
import { allowedToBypassGovernance, checkDeletable, lockOf } from '../object-lock.js';

/** Thrown by a re-wrap's lock check: the version is left under its key (skipped, reason "object-lock"). */
export class RewrapLocked extends Error {
  constructor() {
    super('the object version is protected by object lock');
  }
}

/**
 * The check of one re-wrap request: throws RewrapLocked for a locked version, S3's AccessDenied
 * for a GOVERNANCE one whose bypass was asked for without s3:BypassGovernanceRetention. Synchronous,
 * so a store can run it inside the commit's transaction; the time is the S3 clock at each call.
 */
export async function rewrapLockCheck(
  deps: S3PolicySources & { now: () => number }, caller: Caller, req: { bucket: string; key: string; bypassGovernanceRetention?: boolean },
): Promise<ReplaceCheck> {
  const asked = req.bypassGovernanceRetention === true;
  const bypass = asked && (await allowedToBypassGovernance(deps, {
    principal: caller.principal, bucket: req.bucket, key: req.key, transport: { secure: caller.secureTransport, sourceIp: caller.sourceIp },
  }));
  return (rec: ObjectRecord) => {
    try {
      checkDeletable(rec, deps.now(), bypass);
    } catch (e) {
      const lock = lockOf(rec.sys);
      if (asked && !lock.hold && lock.mode === 'GOVERNANCE') throw e;
      throw new RewrapLocked();
    }
  };
}
