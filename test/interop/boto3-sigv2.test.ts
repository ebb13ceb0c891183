// boto3 signing with AWS Signature Version 2 (Config(signature_version='s3')) against the
// real server: objects, multipart, sub-resources, presigned GET/PUT URLs and POST forms,
// an expired URL, a wrong secret, an IAM Deny policy and STS session credentials. The
// flow lives in fixtures/boto3_sigv2_flow.py; each step is one assertion here.

import { before, after } from 'node:test';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET, flowStepTests, runPythonFlow, type FlowStep, type PythonFlowRun } from './support.js';

let srv: TestServer;
let run: PythonFlowRun<FlowStep>;

before(async () => {
  srv = await startTestServer();
  run = await runPythonFlow<FlowStep>('boto3_sigv2_flow.py', [srv.url, ROOT_KEY_ID, ROOT_SECRET, uniqueBucket('sigv2')], 120_000);
});
after(async () => srv?.stop());

const STEPS: [string, string][] = [
  ['create_bucket', 'SigV2: create_bucket, then list_buckets shows it'],
  ['put_get_head', 'SigV2: put_object, get_object and head_object of a key with a space and a plus'],
  ['list_objects', 'SigV2: list_objects_v2 pages and list_objects (v1)'],
  ['multipart', 'SigV2: upload_file in three parts (uploads, uploadId, partNumber signed) and download_file'],
  ['subresources', 'SigV2: response-* overrides, tagging, acl, location, and ?encryption (which botocore does not sign)'],
  ['copy_and_delete_objects', 'SigV2: copy_object, delete_objects (?delete with Content-MD5), delete_object'],
  ['presigned_get', 'SigV2: a presigned GET URL works from urllib'],
  ['presigned_put', 'SigV2: a presigned PUT URL with a Content-Type works from urllib; another Content-Type is SignatureDoesNotMatch'],
  ['presigned_expired', 'SigV2: an expired presigned URL is 403 AccessDenied "Request has expired"'],
  ['presigned_post', 'SigV2: a generate_presigned_post form (AWSAccessKeyId, policy, signature) stores the object (204)'],
  ['wrong_secret', 'SigV2: a wrong secret is 403 SignatureDoesNotMatch'],
  ['readme_client_presigns', "the README's client (default config) presigns a working URL; s3v4 presigning works too"],
  ['iam_deny_policy', "SigV2: an IAM user's Deny policy refuses its SigV2 GET and presigned GET (403 AccessDenied)"],
  ['sts_session_credentials', 'SigV2: STS session credentials sign requests, presigned URLs and POST forms; a wrong token is InvalidToken'],
  ['cleanup', 'SigV2: emptying and deleting the bucket works'],
];

flowStepTests('boto3 SigV2 flow', () => run, STEPS);
