// Worker-thread side of OffloadedDigest: runs BodyDigest jobs on batches of bytes
// posted from the main thread, and hands each batch's buffer back for reuse.

import { parentPort } from 'node:worker_threads';
import { BodyDigest, type BodyDigestOptions } from './body-digest.js';

export type DigestRequest =
  | { op: 'start'; job: number; opts: BodyDigestOptions }
  | { op: 'update'; job: number; buf: ArrayBuffer; length: number }
  | { op: 'finish'; job: number }
  | { op: 'cancel'; job: number };

export type DigestReply =
  | { op: 'ack'; job: number; buf: ArrayBuffer }
  | { op: 'done'; job: number; size: number; md5?: Uint8Array; checksum?: Uint8Array; extra?: Uint8Array; sha256?: Uint8Array }
  | { op: 'failed'; job: number; message: string };

const jobs = new Map<number, BodyDigest>();

parentPort?.on('message', (m: DigestRequest) => {
  try {
    switch (m.op) {
      case 'start':
        jobs.set(m.job, new BodyDigest(m.opts));
        break;
      case 'update': {
        jobs.get(m.job)?.update(Buffer.from(m.buf, 0, m.length));
        parentPort!.postMessage({ op: 'ack', job: m.job, buf: m.buf } satisfies DigestReply, [m.buf]);
        break;
      }
      case 'finish': {
        const d = jobs.get(m.job);
        jobs.delete(m.job);
        if (!d) throw new Error(`unknown digest job ${m.job}`);
        const r = d.finish();
        parentPort!.postMessage({ op: 'done', job: m.job, size: r.size, md5: r.md5, checksum: r.checksum, extra: r.extra, sha256: r.sha256 } satisfies DigestReply);
        break;
      }
      case 'cancel':
        jobs.delete(m.job);
        break;
    }
  } catch (e) {
    parentPort!.postMessage({ op: 'failed', job: m.job, message: (e as Error).message } satisfies DigestReply);
  }
});
