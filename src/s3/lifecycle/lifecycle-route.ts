// POST /_coffer/api/lifecycle/run: runs one bucket's lifecycle rules now (worker.ts runOnce),
// for `coffer lifecycle run`. Authorized as s3:PutLifecycleConfiguration on the bucket: whoever
// may set the rules may have them applied now. The run waits for a scheduled run in progress.
//
//   request   {"bucket": B}
//   response  the run's summary (LifecycleSummary): asOf, buckets, expired, markersAdded,
//             noncurrentExpired, markersRemoved, uploadsAborted, locked, changed, failed, complete, seconds
//   errors    {"__type": code, "message": text}: NoSuchBucket, NoSuchLifecycleConfiguration (404),
//             ValidationException for a bad body

import { ServiceError } from '../../errors.js';
import type { MetadataStore } from '../../storage/types.js';
import { lifecycleOf } from './rules.js';
import type { LifecycleSummary, LifecycleWorker } from './worker.js';

export const LIFECYCLE_ROUTE_PATH = 'lifecycle/run';

/** The route as the administration API takes it (s3/ does not import admin/; app.ts's compiler checks the fit). */
export interface LifecycleRoute {
  method: 'POST';
  path: string;
  action: string;
  resource(r: { json(): Record<string, unknown> }): string;
  run(r: { json(): Record<string, unknown> }): Promise<LifecycleSummary>;
}

export function lifecycleRoute(deps: { meta: MetadataStore; worker: Pick<LifecycleWorker, 'runOnce'> }): LifecycleRoute {
  return {
    method: 'POST',
    path: LIFECYCLE_ROUTE_PATH,
    action: 's3:PutLifecycleConfiguration',
    resource: (r) => `arn:aws:s3:::${bucketOf(r.json())}`,
    async run(r) {
      const bucket = bucketOf(r.json());
      const b = await deps.meta.getBucket(bucket);
      if (!b) throw new ServiceError('NoSuchBucket', 'The specified bucket does not exist', 404);
      if (!lifecycleOf(b)) throw new ServiceError('NoSuchLifecycleConfiguration', 'The lifecycle configuration does not exist', 404);
      return deps.worker.runOnce({ bucket });
    },
  };
}

function bucketOf(body: Record<string, unknown>): string {
  const b = body.bucket;
  if (typeof b !== 'string' || b.length === 0 || b.length > 63) throw new ServiceError('ValidationException', 'bucket is required: a bucket name.', 400);
  return b;
}
