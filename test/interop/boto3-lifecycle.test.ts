// boto3's lifecycle calls against the real server (fixtures/boto3_lifecycle_flow.py):
// put/get/delete_bucket_lifecycle_configuration, the deprecated put_bucket_lifecycle and
// get_bucket_lifecycle with a rule-level Prefix, Expiration (x-amz-expiration) on put_object
// and head_object, and the errors as boto3 reports them.

import { before, after } from 'node:test';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET, flowStepTests, runPythonFlow, type FlowStep, type PythonFlowRun } from './support.js';

let srv: TestServer;
let run: PythonFlowRun<FlowStep>;

before(async () => {
  srv = await startTestServer();
  run = await runPythonFlow<FlowStep>('boto3_lifecycle_flow.py', [srv.url, ROOT_KEY_ID, ROOT_SECRET, uniqueBucket('lifecycle')], 90_000);
});
after(async () => srv?.stop());

flowStepTests('boto3 lifecycle flow', () => run, [
  ['setup', 'get_bucket_lifecycle_configuration of a bucket without one: NoSuchLifecycleConfiguration, 404'],
  ['configuration', 'put then get_bucket_lifecycle_configuration round-trips the rules; put_object and head_object carry Expiration with the rule id'],
  ['errors', 'duplicate rule IDs are InvalidArgument with AWS\'s message; a transition to DEEP_ARCHIVE is InvalidStorageClass'],
  ['legacy', 'the deprecated put_bucket_lifecycle and get_bucket_lifecycle with a rule-level Prefix'],
  ['delete', 'delete_bucket_lifecycle removes the configuration'],
]);
