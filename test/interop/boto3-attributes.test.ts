// boto3's get_object_attributes against the real server: parts of a multipart object with a
// CRC32 checksum, listed and paged; the default CRC64NVME of an upload without a checksum;
// an SSE-C object's key required. The flow lives in fixtures/boto3_attributes_flow.py.

import { before, after } from 'node:test';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET, flowStepTests, runPythonFlow, type FlowStep, type PythonFlowRun } from './support.js';

let srv: TestServer;
let run: PythonFlowRun<FlowStep>;

before(async () => {
  srv = await startTestServer();
  run = await runPythonFlow<FlowStep>('boto3_attributes_flow.py', [srv.url, ROOT_KEY_ID, ROOT_SECRET, uniqueBucket('boto3-attrs')], 90_000);
});
after(async () => srv?.stop());

const STEPS: [string, string][] = [
  ['create_bucket', 'create_bucket'],
  ['object_parts_paged', 'get_object_attributes lists the CRC32 parts of a multipart object, paged by MaxParts and PartNumberMarker'],
  ['default_crc64nvme', "get_object_attributes gives an upload without a checksum AWS's default CRC64NVME (the recorded AWS value)"],
  ['sse_c_key_required', 'get_object_attributes of an SSE-C object needs the key, refuses a wrong one (403) and a wrong algorithm (no <Resource>)'],
  ['cleanup', 'emptying and deleting the bucket works'],
];

flowStepTests('boto3 attributes flow', () => run, STEPS);
