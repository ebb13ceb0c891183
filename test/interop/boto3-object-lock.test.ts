// boto3 against a bucket with S3 Object Lock (fixtures/boto3_object_lock_flow.py): the lock
// configuration with a default retention, lock parameters on put_object, retention and legal
// hold by version id, and the refusals and GOVERNANCE bypass a script sees through botocore.

import { before, after } from 'node:test';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET, flowStepTests, runPythonFlow, type FlowStep, type PythonFlowRun } from './support.js';

let srv: TestServer;
let run: PythonFlowRun<FlowStep>;

before(async () => {
  srv = await startTestServer();
  run = await runPythonFlow<FlowStep>('boto3_object_lock_flow.py', [srv.url, ROOT_KEY_ID, ROOT_SECRET, uniqueBucket('boto-lock')], 90_000);
});
after(async () => srv?.stop());

flowStepTests('boto3 object lock flow', () => run, [
  ['create_with_lock', 'create_bucket(ObjectLockEnabledForBucket=True) makes a versioned bucket with object lock that cannot be suspended'],
  ['default_retention', 'put_object_lock_configuration sets a default GOVERNANCE retention that a plain put_object gets'],
  ['put_with_lock', 'put_object with ObjectLockMode, ObjectLockRetainUntilDate and ObjectLockLegalHoldStatus: head_object and get_object_legal_hold answer them'],
  ['compliance_refusals', 'COMPLIANCE refuses delete_object, shortening and delete_objects even with BypassGovernanceRetention; lengthening works; a plain delete adds a marker'],
  ['governance_bypass', 'GOVERNANCE refuses without BypassGovernanceRetention and yields to it on put_object_retention, delete_objects and delete_object'],
  ['legal_hold_only', 'a legal hold alone refuses deletion until put_object_legal_hold OFF'],
]);
