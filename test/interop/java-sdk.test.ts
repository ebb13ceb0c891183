// The AWS SDK for Java v2 against the real server: interop/java-sdk/ (a Maven project on the
// SDK BOM interop/hadoop-s3a also uses) is compiled and run in one JVM; it reports each step
// as JSON. Steps: S3Client PutObject/GetObject; the S3 Transfer Manager on the Java-based
// multipart S3AsyncClient (multipartEnabled, no CRT) uploading 12 MiB in 5 MiB parts and
// downloading it to a file, compared byte for byte; SSE-KMS single-part (sync client) and
// multipart (transfer manager) under a key this test creates, checked on the responses and
// HEAD; S3Presigner PUT and GET URLs used with java.net.http (and a tampered one refused);
// ListObjectsV2 paging.
//
// Java 17 and Maven must be installed (.ci/run installs them and resolves the module's
// dependencies into ~/.m2 up front).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { REPO_ROOT, ROOT_KEY_ID, ROOT_SECRET } from './support.js';
import { cleanAwsEnv, clientSuite, runTool, type ToolRun } from './clients.js';

const PROJECT = path.join(REPO_ROOT, 'interop', 'java-sdk');
const MAIN_CLASS = 'dev.coffer.interop.JavaSdkInterop';
const suite = clientSuite('Maven (with Java 17)', { cmd: 'mvn', args: ['-v'] }, 'Debian: apt-get install openjdk-17-jdk-headless maven');

interface Step {
  ok: boolean;
  error?: string;
}

const STEPS: [string, string][] = [
  ['create-bucket', 'S3Client CreateBucket'],
  ['put-get', 'S3Client PutObject then GetObject returns the bytes'],
  ['transfer-manager-multipart', 'S3TransferManager on the multipart S3AsyncClient uploads 12 MiB as 3 parts (-3 ETag) and downloads it intact'],
  ['sse-kms', 'PutObject with SSE-KMS under a created key: PutObject and GetObject answer aws:kms and the key ARN, bytes intact'],
  ['sse-kms-multipart', 'a transfer manager multipart upload with SSE-KMS: HEAD shows aws:kms and the key, GetObject returns the bytes'],
  ['presign', 'S3Presigner PUT and GET URLs work over java.net.http; a tampered signature is 403'],
  ['list', 'ListObjectsV2 paginator (MaxKeys 2) lists every key in order'],
];

describe('AWS SDK for Java v2', { skip: suite.skip }, () => {
  let srv: TestServer;
  let work: string;
  let build: ToolRun;
  let result: ToolRun | undefined;
  let steps: Record<string, Step> = {};

  before(async () => {
    if (suite.missing) assert.fail(suite.missing);
    srv = await startTestServer();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-java-sdk-'));
    build = await runTool('mvn', ['-B', '-q', 'compile', 'dependency:build-classpath', '-Dmdep.outputFile=target/classpath.txt'], { cwd: PROJECT, timeout: 900_000 });
    if (build.code !== 0) return;
    const deps = (await fs.readFile(path.join(PROJECT, 'target', 'classpath.txt'), 'utf8')).trim();
    const classpath = [path.join(PROJECT, 'target', 'classes'), deps].join(path.delimiter);
    const keyArn = (await srv.kms.send(new CreateKeyCommand({ Description: 'java sdk interop' }))).KeyMetadata!.Arn!;
    const env = cleanAwsEnv({
      AWS_ACCESS_KEY_ID: ROOT_KEY_ID,
      AWS_SECRET_ACCESS_KEY: ROOT_SECRET,
      COFFER_ENDPOINT: srv.url,
      COFFER_BUCKET: uniqueBucket('java-sdk'),
      COFFER_KMS_KEY_ARN: keyArn,
      COFFER_WORK_DIR: work,
    });
    // C1 only and the serial collector: a short run on a small, shared machine.
    const jvm = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn', '-Daws.disableEc2Metadata=true'];
    result = await runTool('java', [...jvm, '-cp', classpath, MAIN_CLASS], { env, timeout: 300_000 });
    try {
      steps = (JSON.parse(result.stdout.trim().split('\n').pop()!) as { steps: Record<string, Step> }).steps;
    } catch {
      // the run test reports stderr
    }
  });

  after(async () => {
    await srv?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  test('interop/java-sdk compiles with Maven', () => {
    assert.equal(build.code, 0, `mvn compile failed:\n${build.stdout}\n${build.stderr}`);
  });

  test('the Java program runs to the end and prints its summary', () => {
    assert.ok(result, 'not run (the build failed)');
    assert.equal(result.code, 0, result.stderr);
    assert.ok(Object.keys(steps).length > 0, `no JSON summary; stderr: ${result.stderr}`);
  });

  for (const [name, behaviour] of STEPS) {
    test(`Java SDK: ${behaviour}`, () => {
      const s = steps[name];
      assert.ok(s, `step ${name} did not run`);
      assert.ok(s.ok, `step ${name} failed: ${s.error}`);
    });
  }
});
