// boto3 with its default settings (flexible checksums "when_supported", path-style
// addressing only) against the real server. The flow lives in fixtures/boto3_flow.py
// and reports each step; each step is one assertion here so a failure names it.

import { before, after } from 'node:test';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET, flowStepTests, runPythonFlow, type FlowStep, type PythonFlowRun } from './support.js';

let srv: TestServer;
let run: PythonFlowRun<FlowStep>;

before(async () => {
  srv = await startTestServer();
  run = await runPythonFlow<FlowStep>('boto3_flow.py', [srv.url, ROOT_KEY_ID, ROOT_SECRET, uniqueBucket('boto3')], 90_000);
});
after(async () => srv?.stop());

const STEPS: [string, string][] = [
  ['create_bucket', 'create_bucket, then list_buckets shows it'],
  ['put_object_bytes', 'put_object of bytes returns the MD5 ETag and echoes the default CRC32 checksum'],
  ['put_object_fileobj', 'put_object of a file object round-trips'],
  ['upload_file_multipart', 'upload_file of 12 MiB uses three 5 MiB parts ("-3" ETag)'],
  ['download_file', 'download_file (ranged GETs) returns identical bytes'],
  ['get_object_range', 'get_object with Range returns 206, the bytes and Content-Range; suffix ranges work'],
  ['head_object', 'head_object returns Content-Type, length and user metadata'],
  ['list_objects_v2_paginator', 'the list_objects_v2 paginator walks pages of 3 in key order'],
  ['presigned_url_get', 'a generate_presigned_url (s3v4) GET works from urllib'],
  ['presigned_url_default', "boto3's default presigned URL (SigV2 for a custom endpoint) GET works from urllib"],
  ['presigned_post', 'a generate_presigned_post (s3v4) form POST stores the object (204)'],
  ['copy_object', 'copy_object copies bytes and metadata'],
  ['tagging', 'put_object_tagging / get_object_tagging round-trip, including spaces and slashes'],
  ['delete_objects', 'delete_objects reports every key deleted'],
  ['error_no_such_key', 'get_object of a missing key raises ClientError NoSuchKey (404)'],
  ['error_no_such_bucket', 'list_objects_v2 of a missing bucket raises NoSuchBucket (404)'],
  ['error_bucket_not_empty', 'delete_bucket of a non-empty bucket raises BucketNotEmpty (409)'],
  ['error_precondition_failed', "put_object IfNoneMatch='*' over an existing key raises PreconditionFailed (412) and keeps the object"],
  ['cleanup', 'emptying and deleting the bucket works'],
];

flowStepTests('boto3 flow', () => run, STEPS);
