// An SSE-KMS GET on PostgreSQL reads its KMS key once: S3 names the key in its Decrypt
// (KeyId, the key ARN in the envelope) and the ciphertext's header names it too; the record
// read for the KeyId is the key (kms/ops/crypto.ts decrypt), not read again for the header.
// Counted on the wire: the real server on a real PostgreSQL behind a proxy that counts how
// often the key-record SELECT was sent. A KeyId naming another key is still
// IncorrectKeyException.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand, DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { countingProxy } from '../../helpers/pg-counting-proxy.js';
import { describePostgres, postgresServer } from '../../helpers/postgres.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';

/** The tail of PgKmsStore's getKey statement (kms/store/pg-kms-store.ts): sent once per key read. */
const GET_KEY = 'import_tokens, revision FROM kms_keys WHERE key_id = $1';
const N = 20;

describePostgres('KMS key reads of an SSE-KMS GET on PostgreSQL', () => {
  it('each GET reads the key record once (was twice: for the KeyId, then for the ciphertext header); a wrong KeyId is still IncorrectKeyException', async () => {
    const url = new URL(await (await postgresServer()).freshDatabase());
    const proxy = await countingProxy(Number(url.port), [GET_KEY]);
    url.port = String(proxy.port);
    let srv: TestServer | undefined;
    try {
      srv = await startTestServer({ COFFER_METADATA: url.toString() });
      const keyArn = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
      await srv.s3.send(new CreateBucketCommand({ Bucket: 'kms-reads' }));
      const body = randomBytes(4096);
      for (let i = 0; i < N; i++) {
        await srv.s3.send(new PutObjectCommand({ Bucket: 'kms-reads', Key: `k${i}`, Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn }));
      }
      // Metering prices a key's Decrypt counts by the key's spec, read from the store when its
      // timer first flushes such a count: CI once saw that flush fall among the GETs (21 reads).
      // One GET and a flush first, so the spec is known before the counting starts.
      await (await srv.s3.send(new GetObjectCommand({ Bucket: 'kms-reads', Key: 'k0' }))).Body!.transformToByteArray();
      await srv.coffer.meter!.sync();
      const before = proxy.sent(GET_KEY);
      for (let i = 0; i < N; i++) {
        const r = await srv.s3.send(new GetObjectCommand({ Bucket: 'kms-reads', Key: `k${i}` }));
        assert.ok(Buffer.from(await r.Body!.transformToByteArray()).equals(body));
      }
      const reads = proxy.sent(GET_KEY) - before;
      assert.equal(reads, N, `${N} SSE-KMS GETs read the key record ${reads} times`);

      const other = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
      const blob = (await srv.kms.send(new EncryptCommand({ KeyId: keyArn, Plaintext: Buffer.from('p') }))).CiphertextBlob!;
      await assert.rejects(srv.kms.send(new DecryptCommand({ CiphertextBlob: blob, KeyId: other })), { name: 'IncorrectKeyException' });
      assert.equal(Buffer.from((await srv.kms.send(new DecryptCommand({ CiphertextBlob: blob, KeyId: keyArn }))).Plaintext!).toString(), 'p');
    } finally {
      await srv?.stop();
      await proxy.close();
    }
  });
});
