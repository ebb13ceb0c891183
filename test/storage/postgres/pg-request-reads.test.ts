// A request's first reads on PostgreSQL (storage/request-reads.ts, pg-request-reads.ts):
// IAM's version counter, the bucket and a GET's or HEAD's object in one statement, one round
// trip. Counted end to end: the real server, in process, on a real PostgreSQL reached
// through a loopback TCP proxy that counts round trips (a burst of bytes from the server to
// PostgreSQL after an answer, per connection), with the AWS SDK as the client. And what must
// not change: a caller refused learns nothing about a key, an IAM change applies to the
// next request, a larger object (in the blob tier) is still read after its blobs are claimed.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand, GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import { countingProxy } from '../../helpers/pg-counting-proxy.js';
import { describePostgres, postgresServer } from '../../helpers/postgres.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { kmsOn, refusal, s3On, userFactory } from '../../helpers/sse-principals.js';

const N = 40;
/**
 * Room for the server's own round trips (heartbeats, the leader's lease, metering) beyond
 * those counted in an idle stretch as long as the measurement, which are taken off: half a
 * round trip per request, well below the round trip per request each check rules out.
 */
const SLACK = N / 2;

describePostgres('request reads on PostgreSQL: IAM version, bucket and object in one round trip', () => {
  it('a GET or HEAD of a small object is one round trip (root: was 2; an IAM user: was 4), a PUT of a new key two (an IAM user: was 4)', async (t) => {
    const url = new URL(await (await postgresServer()).freshDatabase());
    const proxy = await countingProxy(Number(url.port));
    url.port = String(proxy.port);
    let srv: TestServer | undefined;
    const users = { destroy() {} };
    try {
      srv = await startTestServer({ COFFER_METADATA: url.toString() });
      const factory = userFactory(srv);
      users.destroy = () => factory.destroy();
      const bucket = 'reads';
      await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
      const user = await factory.create('reader', { s3: [s3On(bucket)] });
      const body = randomBytes(4096);
      const per = async (label: string, op: (i: number) => Promise<unknown>): Promise<number> => {
        for (let i = 0; i < 3; i++) await op(i); // warm: credentials, policies, pool connections
        const before = proxy.trips();
        const t0 = performance.now();
        for (let i = 0; i < N; i++) await op(i);
        const took = performance.now() - t0;
        const busy = proxy.trips() - before;
        // The server's own round trips meanwhile, as many as in an idle stretch as long.
        const idle0 = proxy.trips();
        await new Promise((r) => setTimeout(r, took));
        const idle = proxy.trips() - idle0;
        t.diagnostic(`${label}: ${busy} round trips in ${N} requests (${took.toFixed(0)} ms), ${idle} in as long idle`);
        return busy - idle;
      };
      const s3 = { root: srv.s3, user: user.s3 };
      for (const [who, client] of Object.entries(s3)) {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: `small-${who}`, Body: body }));
        const get = await per(`${who} GET`, async () => {
          const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `small-${who}` }));
          assert.deepEqual(Buffer.from(await r.Body!.transformToByteArray()), body);
        });
        assert.ok(get <= N + SLACK, `${who}: ${N} small GETs made ${get} round trips (one each expected)`);
        const head = await per(`${who} HEAD`, () => client.send(new HeadObjectCommand({ Bucket: bucket, Key: `small-${who}` })));
        assert.ok(head <= N + SLACK, `${who}: ${N} HEADs made ${head} round trips (one each expected)`);
        const put = await per(`${who} PUT`, (i) => client.send(new PutObjectCommand({ Bucket: bucket, Key: `${who}/new-${i}-${Math.random()}`, Body: body })));
        assert.ok(put <= 2 * N + SLACK, `${who}: ${N} PUTs of new keys made ${put} round trips (two each expected)`);
      }
    } finally {
      users.destroy();
      await srv?.stop();
      await proxy.close();
    }
  });

  it('answers as before: NoSuchKey and NoSuchBucket to the root, AccessDenied for a key whether or not it exists, an IAM change at the next request, a tier object read whole', async () => {
    const srv = await startTestServer({ COFFER_METADATA: await (await postgresServer()).freshDatabase() });
    const factory = userFactory(srv);
    try {
      await srv.s3.send(new CreateBucketCommand({ Bucket: 'mine' }));
      await srv.s3.send(new CreateBucketCommand({ Bucket: 'theirs' }));
      await srv.s3.send(new PutObjectCommand({ Bucket: 'theirs', Key: 'there', Body: 'x' }));
      const small = randomBytes(100);
      const large = randomBytes(200 * 1024); // past the inline tier: a blob in the data directory
      await srv.s3.send(new PutObjectCommand({ Bucket: 'mine', Key: 'small', Body: small }));
      await srv.s3.send(new PutObjectCommand({ Bucket: 'mine', Key: 'large', Body: large }));
      assert.equal((await refusal(srv.s3.send(new GetObjectCommand({ Bucket: 'mine', Key: 'absent' })))).name, 'NoSuchKey');
      assert.equal((await refusal(srv.s3.send(new GetObjectCommand({ Bucket: 'nobucket', Key: 'k' })))).name, 'NoSuchBucket');
      assert.equal((await refusal(srv.s3.send(new HeadObjectCommand({ Bucket: 'mine', Key: 'absent' })))).$metadata.httpStatusCode, 404);
      const r = await srv.s3.send(new GetObjectCommand({ Bucket: 'mine', Key: 'large' }));
      assert.deepEqual(Buffer.from(await r.Body!.transformToByteArray()), large);
      const ranged = await srv.s3.send(new GetObjectCommand({ Bucket: 'mine', Key: 'small', Range: 'bytes=10-19' }));
      assert.deepEqual(Buffer.from(await ranged.Body!.transformToByteArray()), small.subarray(10, 20));

      const user = await factory.create('mine-only', { s3: [s3On('mine')] });
      const got = await user.s3.send(new GetObjectCommand({ Bucket: 'mine', Key: 'small' }));
      assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), small);
      for (const key of ['there', 'absent']) {
        const e = await refusal(user.s3.send(new GetObjectCommand({ Bucket: 'theirs', Key: key })));
        assert.equal(e.name, 'AccessDenied', `a key the caller may not read (${key}): AccessDenied whether it exists or not`);
        assert.equal((await refusal(user.s3.send(new HeadObjectCommand({ Bucket: 'theirs', Key: key })))).$metadata.httpStatusCode, 403);
      }
      // The policy removed: refused on the very next request (its version read on that request).
      await user.remove('s3');
      assert.equal((await refusal(user.s3.send(new GetObjectCommand({ Bucket: 'mine', Key: 'small' })))).name, 'AccessDenied');
    } finally {
      factory.destroy();
      await srv.stop();
    }
  });
  it('a GET by an access key this node does not know reads no object bytes before it is refused (it read the object with up to 64 KiB of them)', async (t) => {
    const url = new URL(await (await postgresServer()).freshDatabase());
    const proxy = await countingProxy(Number(url.port));
    url.port = String(proxy.port);
    let srv: TestServer | undefined;
    try {
      srv = await startTestServer({ COFFER_METADATA: url.toString() });
      const body = randomBytes(60 * 1024); // inline: its bytes come with its row
      await srv.s3.send(new CreateBucketCommand({ Bucket: 'refused' }));
      await srv.s3.send(new PutObjectCommand({ Bucket: 'refused', Key: 'k', Body: body }));
      const stranger = srv.client({ credentials: { accessKeyId: 'AKIAUNKNOWNKEY000001', secretAccessKey: 'x'.repeat(40) }, maxAttempts: 1 });
      try {
        const before = proxy.answered();
        for (let i = 0; i < N; i++) {
          const e = await refusal(stranger.send(new GetObjectCommand({ Bucket: 'refused', Key: 'k' })));
          assert.equal(e.$metadata.httpStatusCode, 403, e.name);
        }
        const bytes = proxy.answered() - before;
        t.diagnostic(`${N} refused GETs: ${bytes} bytes from PostgreSQL`);
        assert.ok(bytes < N * 4096, `${N} GETs by an unknown access key took ${bytes} bytes from PostgreSQL (the object has ${body.length})`);
      } finally {
        stranger.destroy();
      }
      // The root's GET still comes with the object's bytes, and is answered.
      const r = await srv.s3.send(new GetObjectCommand({ Bucket: 'refused', Key: 'k' }));
      assert.deepEqual(Buffer.from(await r.Body!.transformToByteArray()), body);
    } finally {
      await srv?.stop();
      await proxy.close();
    }
  });

  it('a KMS GenerateDataKey by an IAM user reads IAM\'s version once (it was twice: for the credential, then for the policies)', async (t) => {
    const VERSION = 'SELECT version FROM iam_version WHERE id = 1';
    const url = new URL(await (await postgresServer()).freshDatabase());
    const proxy = await countingProxy(Number(url.port), [VERSION]);
    url.port = String(proxy.port);
    let srv: TestServer | undefined;
    const users = { destroy() {} };
    try {
      srv = await startTestServer({ COFFER_METADATA: url.toString() });
      const factory = userFactory(srv);
      users.destroy = () => factory.destroy();
      const keyId = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      const user = await factory.create('kms-user', { kms: [kmsOn('kms:GenerateDataKey')] });
      const generate = () => user.kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }));
      for (let i = 0; i < 3; i++) await generate(); // warm: credential, policies, pool connections
      const before = proxy.sent(VERSION);
      const t0 = performance.now();
      for (let i = 0; i < N; i++) assert.equal((await generate()).Plaintext?.length, 32);
      const took = performance.now() - t0;
      const busy = proxy.sent(VERSION) - before;
      const idle0 = proxy.sent(VERSION);
      await new Promise((r) => setTimeout(r, took));
      const idle = proxy.sent(VERSION) - idle0;
      t.diagnostic(`${N} GenerateDataKey: ${busy} reads of IAM's version, ${idle} in as long idle`);
      assert.ok(busy - idle <= N + N / 4, `${N} GenerateDataKey by an IAM user read IAM's version ${busy - idle} times (once each expected)`);
    } finally {
      users.destroy();
      await srv?.stop();
      await proxy.close();
    }
  });
});
