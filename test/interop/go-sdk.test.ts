// The AWS SDK for Go v2 against the real server: interop/go-sdk/ (a Go program pinned in
// its go.mod) is built with the machine's Go and run once; it reports each step as JSON.
// Steps: the s3/manager Uploader (12 MiB in 5 MiB parts), GetObject and the ranged
// manager Downloader compared byte for byte, GetObjectAttributes (size, ETag, ObjectParts),
// presigned PUT and GET (and a tampered one refused), DeleteObject with If-Match (a wrong
// ETag refused with 412, the right one deletes), PutObject/GetObject/HeadObject under
// SSE-KMS with a key this test creates, and ListObjectsV2 paging.
//
// Needs Go (.ci/run's machine has it); modules come from the Go module proxy into the
// default GOPATH cache on first use.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { REPO_ROOT, ROOT_KEY_ID, ROOT_SECRET } from './support.js';
import { cleanAwsEnv, clientSuite, runTool, type ToolRun } from './clients.js';

const PROJECT = path.join(REPO_ROOT, 'interop', 'go-sdk');
const suite = clientSuite('Go', { cmd: 'go', args: ['version'] }, 'Go from https://go.dev/dl (Debian: golang)');

interface Step {
  ok: boolean;
  error?: string;
  info?: Record<string, string>;
}

const STEPS: [string, string][] = [
  ['create-bucket', 'CreateBucket'],
  ['multipart-upload', 'manager.Uploader sends 12 MiB as three 5 MiB parts; HeadObject has the size and a -3 ETag'],
  ['download-compare', 'GetObject and the ranged manager.Downloader return the multipart object byte for byte'],
  ['get-object-attributes', 'GetObjectAttributes gives ObjectSize, the unquoted ETag and ObjectParts.TotalPartsCount 3'],
  ['presigned-get-put', 'a presigned PUT stores and a presigned GET returns the bytes; a tampered signature is 403'],
  ['conditional-delete', 'DeleteObject with a wrong If-Match is 412 PreconditionFailed and keeps the object; the right ETag deletes it'],
  ['sse-kms', 'PutObject/GetObject/HeadObject with SSE-KMS under a created key answer aws:kms and the key ARN, bytes intact'],
  ['list-objects-v2-paging', 'ListObjectsV2 paginator with MaxKeys 3 walks 7 keys in 3 pages, in order'],
];

describe('AWS SDK for Go v2', { skip: suite.skip }, () => {
  let srv: TestServer;
  let work: string;
  let build: ToolRun;
  let result: ToolRun;
  let steps: Record<string, Step> = {};

  before(async () => {
    if (suite.missing) assert.fail(suite.missing);
    srv = await startTestServer();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-go-sdk-'));
    const bin = path.join(work, 'coffer-go-sdk');
    build = await runTool('go', ['build', '-o', bin, '.'], { cwd: PROJECT, env: { ...process.env, GOFLAGS: '-mod=mod -buildvcs=false' }, timeout: 900_000 });
    if (build.code !== 0) return;
    const keyArn = (await srv.kms.send(new CreateKeyCommand({ Description: 'go sdk interop' }))).KeyMetadata!.Arn!;
    const env = cleanAwsEnv({
      AWS_ACCESS_KEY_ID: ROOT_KEY_ID,
      AWS_SECRET_ACCESS_KEY: ROOT_SECRET,
      COFFER_ENDPOINT: srv.url,
      COFFER_BUCKET: uniqueBucket('go-sdk'),
      COFFER_KMS_KEY_ARN: keyArn,
    });
    result = await runTool(bin, [], { env, timeout: 300_000 });
    try {
      steps = (JSON.parse(result.stdout) as { steps: Record<string, Step> }).steps;
    } catch {
      // the run test reports stderr
    }
  });

  after(async () => {
    await srv?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  test('interop/go-sdk builds with the machine\'s Go', () => {
    assert.equal(build.code, 0, `go build failed:\n${build.stderr}`);
  });

  test('the Go program runs to the end and prints its summary', () => {
    assert.ok(result, 'not run (the build failed)');
    assert.equal(result.code, 0, result.stderr);
    assert.ok(Object.keys(steps).length > 0, `no JSON summary; stderr: ${result.stderr}`);
  });

  for (const [name, behaviour] of STEPS) {
    test(`Go SDK: ${behaviour}`, () => {
      const s = steps[name];
      assert.ok(s, `step ${name} did not run`);
      assert.ok(s.ok, `step ${name} failed: ${s.error}`);
    });
  }
});
