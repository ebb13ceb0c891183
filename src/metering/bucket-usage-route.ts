// GET /_coffer/api/buckets/usage — each bucket's object count and stored bytes, as the
// metadata store keeps them (MetadataStore.bucketUsage(), updated with every write), for
// the console's bucket list. Authorized as s3:ListAllMyBuckets, the action of the
// ListBuckets call that lists the same buckets.

import type { AdminRoute } from '../admin/route.js';
import type { BucketUsage } from '../storage/types.js';

export function bucketUsageRoute(deps: { bucketUsage: () => Promise<BucketUsage[]> }): AdminRoute {
  return {
    method: 'GET',
    path: 'buckets/usage',
    action: 's3:ListAllMyBuckets',
    async run() {
      const rows = await deps.bucketUsage();
      return { buckets: rows.map((r) => ({ bucket: r.bucket, objects: Number(r.objects), bytes: Number(r.bytes) })) };
    },
  };
}
