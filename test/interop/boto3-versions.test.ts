// boto3 and the AWS CLI list object versions of a bucket that never had versioning: every
// object is its only version, "null" (fixtures/boto3_versions_flow.py), and boto3's
// bucket.object_versions.delete() empties the bucket.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET, flowStepTests, runPythonFlow, type FlowStep, type PythonFlowRun } from './support.js';
import { awsCli, awsCliEnv } from './aws-cli-runner.js';

let srv: TestServer;
let run: PythonFlowRun<FlowStep>;

before(async () => {
  srv = await startTestServer();
  run = await runPythonFlow<FlowStep>('boto3_versions_flow.py', [srv.url, ROOT_KEY_ID, ROOT_SECRET, uniqueBucket('versions')], 90_000);
});
after(async () => srv?.stop());

flowStepTests('boto3 versions flow', () => run, [
  ['setup', 'a bucket with four objects'],
  ['list_object_versions', 'list_object_versions lists each object once with VersionId "null", IsLatest and its size, no delete markers'],
  ['paginator', 'the list_object_versions paginator pages one entry at a time with a delimiter (keys, then CommonPrefixes)'],
  ['object_versions_delete', 'bucket.object_versions.delete() deletes every object'],
  ['cleanup', 'the emptied bucket can be deleted'],
]);

test('aws s3api list-object-versions lists the objects as null versions', async () => {
  const bucket = uniqueBucket('cli-versions');
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k 1', Body: 'abc' }));
  // No work folder here: a folder that does not exist holds the config and credentials files the CLI must not find.
  const { json } = awsCli(() => ({ endpoint: srv.url, env: awsCliEnv(path.join(os.tmpdir(), 'coffer-no-aws')) }));
  const r = await json<{ Versions: { Key: string; VersionId: string; IsLatest: boolean; Size: number }[] }>('s3api', 'list-object-versions', '--bucket', bucket);
  assert.deepEqual(r.Versions.map((v) => [v.Key, v.VersionId, v.IsLatest, v.Size]), [['k 1', 'null', true, 3]]);
});
