// boto3 server-side encryption against the real server: put_object/get_object with
// SSEKMSKeyId (alias and ARN, context, bucket key), SSE-C (with a wrong or missing key
// refused), upload_file/download_file multipart with SSE-KMS and with SSE-C under a small
// multipart threshold, copies across encryption types, bucket default encryption. The
// flow lives in fixtures/boto3_sse_flow.py and reports each step; each step is one
// assertion here so a failure names it. The KMS side is checked from the audit log.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateAliasCommand, CreateKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { auditEvents } from '../helpers/sse-principals.js';
import { ROOT_KEY_ID, ROOT_SECRET, flowStepTests, runPythonFlow, type FlowStep, type PythonFlowRun } from './support.js';

let srv: TestServer;
let keyArn: string;
let run: PythonFlowRun<FlowStep>;
const bucket = uniqueBucket('boto3-sse');

before(async () => {
  srv = await startTestServer();
  keyArn = (await srv.kms.send(new CreateKeyCommand({ Description: 'boto3 sse' }))).KeyMetadata!.Arn!;
  const other = (await srv.kms.send(new CreateKeyCommand({ Description: 'boto3 sse, copy target' }))).KeyMetadata!.Arn!;
  const alias = `alias/boto3-sse-${process.pid}`;
  await srv.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyArn }));
  run = await runPythonFlow<FlowStep>('boto3_sse_flow.py', [srv.url, ROOT_KEY_ID, ROOT_SECRET, bucket, keyArn, alias, other], 120_000);
});
after(async () => srv?.stop());

const STEPS: [string, string][] = [
  ['create_bucket', 'create_bucket'],
  ['put_get_sse_kms_alias', 'put_object with SSEKMSKeyId=alias/... answers the key ARN and a non-MD5 ETag; get_object and head_object return the bytes, aws:kms and the ARN'],
  ['put_get_sse_kms_arn_context_bucket_key', 'put_object with a key ARN, SSEKMSEncryptionContext and BucketKeyEnabled echoes them; get_object reads it back'],
  ['get_sse_kms_refuses_sse_headers', 'get_object of an SSE-KMS object with SSE-C parameters is refused (400)'],
  ['put_get_sse_c', 'put_object/get_object/head_object with SSECustomerKey round-trip, echo the key MD5, and ranged reads work'],
  ['sse_c_without_or_with_wrong_key_refused', 'get_object of an SSE-C object without the key is 400 InvalidRequest, with another key 403'],
  ['upload_file_multipart_sse_kms', 'upload_file with a 5 MiB multipart threshold and SSE-KMS makes a 3-part aws:kms object under the key; download_file returns it'],
  ['upload_file_multipart_sse_c', 'upload_file and download_file multipart with SSE-C (every part carries the customer key)'],
  ['copy_object_sse_kms_to_other_key', 'copy_object re-encrypts an SSE-KMS object under another key'],
  ['copy_object_from_sse_c_to_sse_kms', 'copy_object from an SSE-C source (CopySourceSSECustomerKey) to SSE-KMS'],
  ['bucket_encryption_default', 'put_bucket_encryption/get_bucket_encryption round-trip; put_object follows the default (with bucket key) unless the request overrides it; delete resets to AES256'],
  ['sse_kms_errors', 'put_object under an unknown alias is 400 KMS.NotFoundException'],
  ['cleanup', 'emptying and deleting the bucket works'],
];

flowStepTests('boto3 SSE flow', () => run, STEPS);

test('boto3\'s SSE-KMS uploads and downloads are audited as GenerateDataKey/Decrypt under the root, with the object ARN as context', async () => {
  const events = (await auditEvents(srv)).filter((e) => ['GenerateDataKey', 'Decrypt'].includes(e.eventName) && e.resources[0]?.ARN === keyArn && !e.errorCode);
  const ctxOf = (e: (typeof events)[number]) => (e.requestParameters?.encryptionContext as Record<string, string> | undefined)?.['aws:s3:arn'];
  const gdk = events.filter((e) => e.eventName === 'GenerateDataKey').map(ctxOf);
  const dec = events.filter((e) => e.eventName === 'Decrypt').map(ctxOf);
  for (const k of ['kms/a.txt', 'kms/big.bin']) {
    assert.ok(gdk.includes(`arn:aws:s3:::${bucket}/${k}`), `GenerateDataKey for ${k}: ${gdk.join(', ')}`);
    assert.ok(dec.includes(`arn:aws:s3:::${bucket}/${k}`), `Decrypt for ${k}: ${dec.join(', ')}`);
  }
  // The bucket-key object's data key has the bucket ARN as context.
  assert.ok(gdk.includes(`arn:aws:s3:::${bucket}`), 'the bucket key is generated with the bucket ARN as context');
  assert.ok(events.every((e) => e.userIdentity.type === 'Root' && e.userIdentity.invokedBy === 's3.amazonaws.com'));
});
