// Review of the kms-get merge (17338e0): a GET answered from the memos (the envelope memo and
// the KMS's slab, seeded by the PUT) writes the very CloudTrail record a GET that decoded and
// opened everything writes — field by field but eventID, eventTime and requestID — for
// SSE-KMS and DSSE-KMS, with S3's context and with a client's; its refusals write the same
// records as without the memos; and metering counts each as one Decrypt.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CreateKeyCommand, DisableKeyCommand, EnableKeyCommand, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type PutObjectCommandInput } from '@aws-sdk/client-s3';
import type { CloudTrailEvent } from '../../src/audit/audit-log.js';
import { forgetKmsEnvelopes } from '../../src/s3/sse/kms-envelope-memo.js';
import { openedCiphertextsOf } from '../../src/kms/ops/crypto.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { adminCall } from '../helpers/admin.js';
import { kmsEventsOf } from '../helpers/sse-principals.js';

describe('the audit record and the metering of a GET answered from the memos', () => {
  let srv: TestServer;
  const bucket = uniqueBucket('t-audit');
  const body = randomBytes(1024);
  before(async () => {
    srv = await startTestServer();
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  after(async () => {
    await srv?.stop();
  });

  const slab = () => openedCiphertextsOf(srv.coffer.kms);
  const newKey = async (): Promise<string> => (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const put = (Key: string, extra: Partial<PutObjectCommandInput>) =>
    srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: body, ServerSideEncryption: 'aws:kms', ...extra }));
  /** The request id of a GET (and whether it succeeded), its body checked. */
  async function get(Key: string): Promise<{ requestId: string; ok: boolean; code?: string }> {
    try {
      const r = await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
      assert.ok(Buffer.from(await r.Body!.transformToByteArray()).equals(body));
      return { requestId: r.$metadata.requestId!, ok: true };
    } catch (e) {
      const err = e as Error & { $metadata: { requestId?: string } };
      return { requestId: err.$metadata.requestId!, ok: false, code: err.name };
    }
  }
  const forgetAll = () => {
    forgetKmsEnvelopes();
    slab().clear();
  };
  /** The one KMS record of an S3 request, but its ids and time. */
  async function recordOf(requestId: string): Promise<Omit<CloudTrailEvent, 'eventID' | 'eventTime' | 'requestID'>> {
    const events = await kmsEventsOf(srv, requestId);
    assert.deepEqual(events.map((e) => e.eventName), ['Decrypt'], `one Decrypt record for ${requestId}`);
    const { eventID, eventTime, requestID, ...rest } = events[0]!;
    assert.ok(eventID && eventTime && requestID === requestId);
    return rest;
  }

  it('SSE-KMS and DSSE-KMS, S3\'s context and a client\'s: a hit\'s Decrypt record equals a miss\'s', async () => {
    const keyArn = await newKey();
    const own = Buffer.from(JSON.stringify({ tenant: 't1', zone: 'z' })).toString('base64');
    for (const sse of ['aws:kms', 'aws:kms:dsse'] as const) {
      for (const context of [undefined, own]) {
        const Key = `${sse}-${context ? 'own' : 's3'}`;
        await put(Key, { ServerSideEncryption: sse, SSEKMSKeyId: keyArn, SSEKMSEncryptionContext: context });
        const hits = slab().stats.hits;
        const hit = await get(Key);
        assert.equal(slab().stats.hits, hits + 1, `${Key}: the first GET answered from the slab`);
        forgetAll();
        const misses = slab().stats.misses;
        const miss = await get(Key);
        assert.equal(slab().stats.misses, misses + 1, `${Key}: the GET after forgetting opened the blob`);
        assert.ok(hit.ok && miss.ok);
        assert.deepStrictEqual(await recordOf(hit.requestId), await recordOf(miss.requestId), Key);
      }
    }
  });

  it('refusals (a disabled key, a key policy without kms:Decrypt): the record with the memos equals the one without', async () => {
    const keyArn = await newKey();
    const account = srv.coffer.root.accountId;
    for (const sse of ['aws:kms', 'aws:kms:dsse'] as const) {
      await put(`disabled-hit-${sse}`, { ServerSideEncryption: sse, SSEKMSKeyId: keyArn });
      await put(`disabled-miss-${sse}`, { ServerSideEncryption: sse, SSEKMSKeyId: keyArn });
    }
    await srv.kms.send(new DisableKeyCommand({ KeyId: keyArn }));
    for (const sse of ['aws:kms', 'aws:kms:dsse'] as const) {
      const hit = await get(`disabled-hit-${sse}`);
      forgetAll();
      const miss = await get(`disabled-miss-${sse}`);
      assert.deepEqual([hit.ok, hit.code, miss.ok, miss.code], [false, 'KMS.DisabledException', false, 'KMS.DisabledException']);
      const [h, m] = [await recordOf(hit.requestId), await recordOf(miss.requestId)];
      assert.equal(h.errorCode, 'DisabledException');
      // The same record but for the object each names in its context.
      const place = (r: typeof h) => ((r.requestParameters as { encryptionContext: Record<string, string> }).encryptionContext['aws:s3:arn'] = '', r);
      assert.deepStrictEqual(place(h), place(m), sse);
    }
    await srv.kms.send(new EnableKeyCommand({ KeyId: keyArn }));

    await put('denied-hit', { SSEKMSKeyId: keyArn });
    await put('denied-miss', { SSEKMSKeyId: keyArn });
    const only = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: ['kms:PutKeyPolicy', 'kms:GenerateDataKey'], Resource: '*' }] });
    await srv.kms.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: only }));
    const hit = await get('denied-hit');
    forgetAll();
    const miss = await get('denied-miss');
    assert.deepEqual([hit.code, miss.code], ['AccessDenied', 'AccessDenied']);
    const [h, m] = [await recordOf(hit.requestId), await recordOf(miss.requestId)];
    assert.equal(h.errorCode, 'AccessDeniedException');
    const place = (r: typeof h) => ((r.requestParameters as { encryptionContext: Record<string, string> }).encryptionContext['aws:s3:arn'] = '', r);
    assert.deepStrictEqual(place(h), place(m));
  });

  it('metering counts a GET answered from the memos as one Decrypt, as it counts a miss', async () => {
    const metered = uniqueBucket('t-meter');
    await srv.s3.send(new CreateBucketCommand({ Bucket: metered }));
    const keyArn = await newKey();
    const count = async (): Promise<number> => {
      const r = await adminCall(srv, 'GET', 'usage', { query: { since: '1d', by: 'bucket' } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return (r.body as unknown as { rows: { group: string; requests: number }[] }).rows.find((x) => x.group === metered)?.requests ?? 0;
    };
    await srv.s3.send(new PutObjectCommand({ Bucket: metered, Key: 'm', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn }));
    assert.equal(await count(), 1, 'the PUT\'s GenerateDataKey');
    const hits = slab().stats.hits;
    await (await srv.s3.send(new GetObjectCommand({ Bucket: metered, Key: 'm' }))).Body!.transformToByteArray();
    assert.equal(slab().stats.hits, hits + 1);
    assert.equal(await count(), 2, 'a hit is one Decrypt');
    forgetAll();
    await (await srv.s3.send(new GetObjectCommand({ Bucket: metered, Key: 'm' }))).Body!.transformToByteArray();
    assert.equal(await count(), 3, 'and a miss one');
  });
});
