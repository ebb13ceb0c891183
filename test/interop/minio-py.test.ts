// minio-py (MinIO's Python SDK, from PyPI) against the real server over TLS (minio-py sends
// SSE-KMS only over HTTPS): make_bucket, put_object/get_object/stat_object with metadata and
// a ranged read, put_object of 12 MiB of unknown length in 5 MiB parts (multipart) and
// fget_object, list_objects (recursive, delimited, V1), presigned_get_object (and a tampered
// URL refused), SseKMS single-part and multipart under a key this test creates, and
// remove_object / remove_objects. The flow is fixtures/minio_flow.py; each step is one test.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { makeTestCertificate, type TestCertificate } from '../helpers/tls.js';
import { ROOT_KEY_ID, ROOT_SECRET, runPythonFlow, type FlowStep, type PythonFlowRun } from './support.js';
import { clientSuite } from './clients.js';

const suite = clientSuite('minio-py', { cmd: 'python3', args: ['-c', 'import minio; print("minio", minio.__version__)'] }, 'python3 -m pip install minio');

const STEPS: [string, string][] = [
  ['make_bucket', 'make_bucket and bucket_exists'],
  ['put_get', 'put_object with content type and metadata; get_object, stat_object and a ranged get agree'],
  ['multipart_put', 'put_object of 12 MiB of unknown length in 5 MiB parts makes a -3 object; get_object and fget_object return it'],
  ['list_objects', 'list_objects: recursive, delimited (prefixes as directories) and ListObjects V1'],
  ['presigned_get', 'presigned_get_object URL returns the bytes; a tampered one is 403'],
  ['sse_kms', 'put_object with SseKMS(key ARN, context): stat and get show aws:kms and the key ARN; bytes intact'],
  ['sse_kms_multipart', 'a 12 MiB multipart put_object with SseKMS: aws:kms under the key, -3 ETag, bytes intact'],
  ['remove', 'remove_object, then remove_objects (multi-delete) of five keys'],
];

describe('minio-py', { skip: suite.skip }, () => {
  let srv: TestServer;
  let cert: TestCertificate;
  let run: PythonFlowRun<FlowStep>;

  before(async () => {
    if (suite.missing) assert.fail(suite.missing);
    cert = makeTestCertificate();
    srv = await startTestServer({ COFFER_TLS_CERT: cert.certPath, COFFER_TLS_KEY: cert.keyPath });
    assert.match(srv.url, /^https:\/\//);
    const keyArn = (await srv.kms.send(new CreateKeyCommand({ Description: 'minio-py interop' }))).KeyMetadata!.Arn!;
    run = await runPythonFlow<FlowStep>('minio_flow.py', [new URL(srv.url).host, cert.certPath, ROOT_KEY_ID, ROOT_SECRET, uniqueBucket('minio-py'), keyArn], 180_000);
  });

  after(async () => {
    await srv?.stop();
    if (cert) fs.rmSync(cert.dir, { recursive: true, force: true });
  });

  test('the minio-py flow runs to the end and prints its summary', () => {
    assert.equal(run.code, 0, run.stderr);
    assert.ok(Object.keys(run.steps).length > 0, `no JSON summary; stderr: ${run.stderr}`);
  });

  for (const [name, behaviour] of STEPS) {
    test(`minio-py: ${behaviour}`, () => {
      const s = run.steps[name];
      assert.ok(s, `step ${name} did not run`);
      assert.ok(s.ok, `step ${name} failed: ${s.error}\n${s.trace ?? ''}`);
    });
  }
});
