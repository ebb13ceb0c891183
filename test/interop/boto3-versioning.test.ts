// boto3 against a versioning-enabled bucket (fixtures/boto3_versioning_flow.py):
// BucketVersioning.enable(), Object.version_id, ObjectVersion reads, bucket.object_versions,
// delete markers (HEAD 404 with x-amz-delete-marker), removing a marker to undelete, and
// object_versions.delete() emptying the bucket for good.

import { before, after } from 'node:test';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET, flowStepTests, runPythonFlow, type FlowStep, type PythonFlowRun } from './support.js';

let srv: TestServer;
let run: PythonFlowRun<FlowStep>;

before(async () => {
  srv = await startTestServer();
  run = await runPythonFlow<FlowStep>('boto3_versioning_flow.py', [srv.url, ROOT_KEY_ID, ROOT_SECRET, uniqueBucket('boto-ver')], 90_000);
});
after(async () => srv?.stop());

flowStepTests('boto3 versioning flow', () => run, [
  ['enable', 'BucketVersioning.enable() turns versioning on and get_bucket_versioning answers Enabled'],
  ['versions', 'each put answers its own VersionId; Object.version_id is the current one; ObjectVersion reads the old one'],
  ['object_versions', 'bucket.object_versions lists both versions, newest first, IsLatest on the current one'],
  ['delete_marker', 'delete_object adds a delete marker; HEAD answers 404 with x-amz-delete-marker; the marker is listed'],
  ['undelete', 'deleting the marker by its version id brings the object back'],
  ['delete_all_versions', 'object_versions.delete() removes every version and the bucket can be deleted'],
]);
