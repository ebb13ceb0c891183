// coffer_audit_delivery_lag_seconds{destination} on /metrics: the age of the oldest audit
// event not yet delivered to COFFER_AUDIT_BUCKET, 0 once every event is delivered — on one
// server (the log files and delivery.json) and on PostgreSQL (the trail and audit_delivery,
// on the job leader). A bucket that does not exist yet holds delivery up: the lag grows.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { GenerateRandomCommand } from '@aws-sdk/client-kms';
import { describePostgres, postgresServer } from '../helpers/postgres.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { waitFor } from '../interop/support.js';

/** The lag /metrics reports for `destination`, or undefined when the series is absent. */
async function lag(s: TestServer, destination: string): Promise<number | undefined> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const m = new RegExp(`^coffer_audit_delivery_lag_seconds\\{destination="${destination.replace(/[/]/g, '\\/')}"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

it('one server: the lag grows while the bucket is missing and is 0 once delivered', async () => {
  const bucket = uniqueBucket('lag');
  const s = await startTestServer({ COFFER_AUDIT_BUCKET: `${bucket}/trail`, COFFER_AUDIT_DELIVERY_SECONDS: '3600' });
  try {
    const dest = `${bucket}/trail`;
    assert.equal(await lag(s, dest), 0, 'nothing recorded yet');
    await s.kms.send(new GenerateRandomCommand({ NumberOfBytes: 8 }));
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(await s.coffer.auditDelivery!.deliver(), 0, 'the bucket is missing');
    const behind = (await lag(s, dest))!;
    assert.ok(behind >= 1 && behind < 60, `lag ${behind}`);
    await s.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    assert.ok((await s.coffer.auditDelivery!.deliver()) > 0);
    assert.equal(await lag(s, dest), 0);
  } finally {
    await s.stop();
  }
});

describePostgres('the delivery lag on PostgreSQL', () => {
  it('is exported by the job leader, grows while the bucket is missing and is 0 once delivered', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const bucket = uniqueBucket('lagpg');
    const s = await startTestServer({ COFFER_METADATA: url, COFFER_AUDIT_BUCKET: bucket, COFFER_AUDIT_DELIVERY_SECONDS: '1' });
    try {
      await s.kms.send(new GenerateRandomCommand({ NumberOfBytes: 8 }));
      let l: number | undefined;
      assert.ok(await waitFor(async () => ((l = await lag(s, bucket)), l !== undefined && l >= 1.5), 15_000), `lag ${l}`);
      await s.s3.send(new CreateBucketCommand({ Bucket: bucket }));
      assert.ok(await waitFor(async () => ((l = await lag(s, bucket)), l === 0), 15_000), `lag ${l}`);
    } finally {
      await s.stop();
    }
  });
});
