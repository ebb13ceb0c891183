// Delivery of the audit log to a bucket, as CloudTrail delivers to S3: every interval the
// events recorded since the last delivery become one gzipped JSON object
// {"Records": [...]} (delivery-object.ts: the key layout, the body, the PUT through
// Coffer's own S3 API), the key's unique part 16 random characters.
//
// The delivered position — the file (by inode), the byte offsets of the last delivered
// line and its eventID — is kept in <data-dir>/audit/delivery.json (file-delivery-position.ts,
// the file store of delivery-position.ts), written (atomically) only after the object is stored: a crash between the two delivers those events again on
// the next start (at-least-once; each record keeps its eventID, so duplicates are
// recognizable), and nothing is skipped. An inode alone does not name a file for good:
// rotation deletes the oldest file and creates a new kms.log, which may get the freed
// inode. So a round resumes only where the line at the saved offset is the saved event;
// otherwise the position's file was rotated away before it was delivered (the server was
// down or the bucket missing for longer than the log retains): that is a warning, and the
// round starts at the oldest event kept.

import { randomBytes } from 'node:crypto';
import { DeliveryJob, MAX_BYTES, MAX_RECORDS, type DeliverySettings } from './delivery-object.js';
import { DELIVERY_STATE, FileDeliveryPosition, type FileDeliveryState, type FileDeliveryStateV1, type FileDeliveryStateV2 } from './file-delivery-position.js';
import { filesOldestFirst, linesForward, type OpenLogFile } from './log-files.js';

export { DELIVERY_STATE };

export interface DeliveryOptions extends DeliverySettings {
  /** The audit directory, <data-dir>/audit. */
  dir: string;
}

type DeliveryState = FileDeliveryStateV2;
type DeliveryStateV1 = FileDeliveryStateV1;

const ALPHANUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function uniqueString(): string {
  return [...randomBytes(16)].map((b) => ALPHANUM[b % ALPHANUM.length]).join('');
}

/** Every interval a round (start(), stop() and deliver(): delivery-object.ts DeliveryJob). */
export class AuditDelivery extends DeliveryJob {
  private warnedLost = false;
  private readonly position: FileDeliveryPosition;

  constructor(private readonly o: DeliveryOptions) {
    super(o);
    this.position = new FileDeliveryPosition(o.dir);
  }

  protected async round(): Promise<number> {
    let state: FileDeliveryState | undefined = await this.position.get();
    const files = await filesOldestFirst(this.o.dir);
    let delivered = 0;
    try {
      const { at, offset } = await this.resumeAt(files, state);
      // Records of one object, and the position after the last one.
      let records: string[] = [];
      let bytes = 0;
      let end: DeliveryState | undefined;
      const flush = async (): Promise<boolean> => {
        if (records.length === 0) return true;
        if (!(await this.writer.write(records, new Date(), uniqueString()))) return false;
        this.warnedLost = false;
        // The only writer (the data directory's lock): a refusal would mean the file changed under the server.
        if (!(await this.position.replace(state, end!))) throw new Error(`${DELIVERY_STATE} changed while this server delivered`);
        state = end!;
        delivered += records.length;
        records = [];
        bytes = 0;
        return true;
      };
      for (let i = at; i < files.length; i++) {
        const f = files[i]!;
        for await (const line of linesForward(f, i === at ? offset : 0)) {
          let eventID: unknown;
          try {
            eventID = (JSON.parse(line.text) as { eventID?: unknown }).eventID;
          } catch {
            continue; // a line torn by a crash
          }
          records.push(line.text);
          bytes += line.text.length + 1;
          end = { v: 2, ino: f.ino, start: line.start, offset: line.end, eventID: typeof eventID === 'string' ? eventID : '' };
          if ((records.length >= MAX_RECORDS || bytes >= MAX_BYTES) && !(await flush())) return delivered;
        }
      }
      await flush();
      return delivered;
    } finally {
      for (const f of files) await f.handle.close();
    }
  }

  protected async oldestUndelivered(): Promise<number | undefined> {
    let state: DeliveryState | DeliveryStateV1 | undefined;
    try {
      state = await this.position.get();
    } catch {
      state = undefined; // a damaged state: the next round says so; the lag counts from the oldest event kept
    }
    const files = await filesOldestFirst(this.o.dir);
    try {
      // As resumeAt, without its warning: from just after the last delivered event, else from the oldest kept.
      let at = 0;
      let offset = 0;
      const i = state ? files.findIndex((f) => f.ino === state.ino) : -1;
      if (state?.v === 2 && i >= 0 && (await lineIsEvent(files[i]!, state))) [at, offset] = [i, state.offset];
      for (let j = at; j < files.length; j++) {
        for await (const line of linesForward(files[j]!, j === at ? offset : 0)) {
          try {
            const t = Date.parse((JSON.parse(line.text) as { eventTime?: string }).eventTime ?? '');
            if (Number.isFinite(t)) return t;
          } catch {
            // a line torn by a crash: not an event
          }
        }
      }
      return undefined;
    } finally {
      for (const f of files) await f.handle.close();
    }
  }

  /**
   * Where this round starts: just after the last delivered event when it is still where
   * the state says; otherwise at the oldest event kept (files[0], offset 0), with a
   * warning — every event still in the log is delivered, none skipped.
   */
  private async resumeAt(files: OpenLogFile[], state: DeliveryState | DeliveryStateV1 | undefined): Promise<{ at: number; offset: number }> {
    if (!state) return { at: 0, offset: 0 };
    const i = files.findIndex((f) => f.ino === state.ino);
    if (state.v === 2 && i >= 0 && (await lineIsEvent(files[i]!, state))) return { at: i, offset: state.offset };
    if (files.length > 0 && !this.warnedLost) {
      this.o.log.warn(
        { bucket: this.o.bucket },
        state.v === 1
          ? `${DELIVERY_STATE} is of version 1, which cannot be verified; delivering every event still in the log again (duplicates keep their eventID)`
          : // The file holding the last delivered event is gone (no file has its inode, or the
            // inode now names a newer file): rotation deleted it, and maybe undelivered events with it.
            'audit events may have been rotated out of the log before they could be delivered; delivering from the oldest event kept',
      );
      this.warnedLost = true; // once until a delivery succeeds (a missing bucket retries every interval)
    }
    return { at: 0, offset: 0 };
  }
}

/** Whether the line at `s.start` of `f` is the event `s.eventID` and ends at `s.offset` (query.ts checks page tokens alike). */
async function lineIsEvent(f: OpenLogFile, s: DeliveryState): Promise<boolean> {
  if (s.offset > f.size) return false;
  for await (const line of linesForward(f, s.start)) {
    return line.start === s.start && line.end === s.offset && line.text.includes(`"eventID":"${s.eventID}"`);
  }
  return false;
}
