// Small-object rates with policies attached vs without (issue 5, "Performance"): one
// real server, two callers side by side. The root, which no policy governs, PUTs and
// GETs 4 KiB objects in a bucket without a bucket policy; an IAM user made through the
// IAM API — with three identity policies (one inline, one of its group, one managed and
// attached) — does the same in a bucket with a bucket policy, so every request costs
// the credential look-up of an IAM key, the identity policies of the user and its group,
// and one evaluation against the bucket policy. Both buckets have no bucket encryption
// configuration (the server default at rest applies to both alike). The rounds alternate
// root and user so drift on the machine falls on both.

import { randomBytes } from 'node:crypto';
import {
  AddUserToGroupCommand, AttachUserPolicyCommand, CreateAccessKeyCommand, CreateGroupCommand, CreatePolicyCommand, CreateUserCommand,
  IAMClient, PutGroupPolicyCommand, PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import { PutBucketPolicyCommand, S3Client } from '@aws-sdk/client-s3';
import { measure, percentile, runOps, type Measured } from './measure.js';
import { RawS3Client, S3Failure, payloadHash } from './raw-client.js';
import { fmtInt, fmtSize, type Row } from './report.js';
import { errorRow, usage, type Sizes } from './scenarios.js';
import { ROOT_KEY_ID, ROOT_SECRET, type ServerOptions, type ServerProcess } from './server-process.js';
import type { Credentials } from './sigv4.js';

export const ROOT_VARIANT = 'root, no policies';
export const USER_VARIANT = 'IAM user, 3 identity policies + bucket policy';

const ROOT: Credentials = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
const PLAIN_BUCKET = 'authz-plain';
const POLICY_BUCKET = 'authz-policy';
const PUT_TARGET = 3000;
const GET_TARGET = 5000;
const ROUNDS = 2;

const doc = (...statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });

/** Creates the user, its group and policies through the IAM API, and the bucket policy; returns the user's key. */
async function setUp(url: URL): Promise<Credentials> {
  const cfg = { endpoint: url.origin, region: 'us-east-1', credentials: ROOT };
  const iam = new IAMClient(cfg);
  const s3 = new S3Client({ ...cfg, forcePathStyle: true });
  const bucketArn = `arn:aws:s3:::${POLICY_BUCKET}`;
  try {
    const user = (await iam.send(new CreateUserCommand({ UserName: 'bench-user' }))).User!.Arn!;
    await iam.send(new PutUserPolicyCommand({ UserName: 'bench-user', PolicyName: 'read-elsewhere', PolicyDocument: doc(
      { Effect: 'Allow', Action: ['s3:Get*', 's3:List*'], Resource: ['arn:aws:s3:::reports', 'arn:aws:s3:::reports/*'] },
      { Effect: 'Deny', Action: 's3:DeleteBucket', Resource: '*' },
    ) }));
    await iam.send(new CreateGroupCommand({ GroupName: 'bench-team' }));
    await iam.send(new PutGroupPolicyCommand({ GroupName: 'bench-team', PolicyName: 'team-bucket', PolicyDocument: doc(
      { Effect: 'Allow', Action: 's3:*', Resource: [bucketArn, `${bucketArn}/*`] },
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: bucketArn, Condition: { StringLike: { 's3:prefix': 'small/*' } } },
    ) }));
    await iam.send(new AddUserToGroupCommand({ GroupName: 'bench-team', UserName: 'bench-user' }));
    const managed = await iam.send(new CreatePolicyCommand({ PolicyName: 'kms-use', PolicyDocument: doc(
      { Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: '*', Condition: { StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } } },
      { Effect: 'Deny', Action: 'kms:ScheduleKeyDeletion', Resource: '*' },
    ) }));
    await iam.send(new AttachUserPolicyCommand({ UserName: 'bench-user', PolicyArn: managed.Policy!.Arn! }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'bench-user' }))).AccessKey!;

    const raw = new RawS3Client(url, ROOT);
    try {
      for (const b of [PLAIN_BUCKET, POLICY_BUCKET]) await raw.createBucket(b);
    } finally {
      raw.close();
    }
    await s3.send(new PutBucketPolicyCommand({ Bucket: POLICY_BUCKET, Policy: doc(
      { Sid: 'LoopbackOnly', Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: `${bucketArn}/*`, Condition: { NotIpAddress: { 'aws:SourceIp': ['127.0.0.0/8', '::1/128'] } } },
      { Sid: 'NoDeletes', Effect: 'Deny', Principal: '*', Action: 's3:DeleteBucket', Resource: bucketArn },
      { Sid: 'Team', Effect: 'Allow', Principal: { AWS: user }, Action: ['s3:GetObject', 's3:PutObject'], Resource: `${bucketArn}/small/*` },
    ) }));
    return { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
  } finally {
    iam.destroy();
    s3.destroy();
  }
}

function opsRow(scenario: string, variant: string, lat: Float64Array, m: Measured<unknown>, target: number): Row {
  const sorted = Float64Array.from(lat).sort();
  const ops = lat.length / m.seconds;
  return {
    scenario,
    variant,
    result: `${fmtInt(ops)} ops/s, p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms (${usage(m)})`,
    target: `≥ ${fmtInt(target)} ops/s`,
    met: ops >= target,
    value: ops,
  };
}

export interface AuthzServerOptions {
  sizes: Sizes;
  fsync: boolean;
  start(opts: ServerOptions): Promise<ServerProcess>;
}

/** PUT and GET rows for the root and the policy-laden user; table(rows, [ROOT_VARIANT, USER_VARIANT]) adds the ratio. */
export async function benchAuthzServer(opts: AuthzServerOptions): Promise<Row[]> {
  const { smallOps: n, smallSize, smallConcurrency: c } = opts.sizes;
  const put = `PUT ${fmtSize(smallSize)} ×${fmtInt(n)}, ${c} in flight (best of ${ROUNDS})`;
  const get = `GET ${fmtSize(smallSize)} ×${fmtInt(n)}, ${c} in flight (best of ${ROUNDS})`;
  process.stderr.write('bench: authorization: starting a server, a user with 3 identity policies and a bucket policy\n');
  const server = await opts.start({ fsync: opts.fsync });
  const clients: RawS3Client[] = [];
  try {
    const userCreds = await setUp(server.url);
    const callers = [
      { variant: ROOT_VARIANT, client: new RawS3Client(server.url, ROOT), bucket: PLAIN_BUCKET },
      { variant: USER_VARIANT, client: new RawS3Client(server.url, userCreds), bucket: POLICY_BUCKET },
    ];
    clients.push(...callers.map((x) => x.client));
    const body = randomBytes(smallSize);
    const hash = payloadHash(body);
    const key = (i: number) => `small/${i % 100}/obj-${i}`;

    // The policies must matter: outside its bucket's grants the user is refused.
    const refused = await callers[1]!.client.putSmall(PLAIN_BUCKET, 'small/x', body, hash).then(() => undefined, (e: unknown) => e);
    if (!(refused instanceof S3Failure && refused.status === 403)) throw new Error(`the benchmark user should be refused outside its bucket, got ${String(refused)}`);

    for (const x of callers) {
      await runOps(Math.min(500, n), c, (i) => x.client.putSmall(x.bucket, `small/warm/${i}`, body, hash));
      await runOps(Math.min(500, n), c, (i) => x.client.get(x.bucket, `small/warm/${i}`, smallSize).then(() => undefined));
    }
    const best = new Map<string, Row>();
    const keep = (row: Row) => {
      const k = `${row.scenario}\0${row.variant}`;
      if ((best.get(k)?.value ?? -1) < row.value!) best.set(k, row);
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const x of callers) {
        const p = await measure(server.pid, () => runOps(n, c, (i) => x.client.putSmall(x.bucket, key(i), body, hash)));
        keep(opsRow(put, x.variant, p.value, p, PUT_TARGET));
        process.stderr.write(`bench:     ${put} ${x.variant}: ${fmtInt(n / p.seconds)} ops/s\n`);
      }
      for (const x of callers) {
        const g = await measure(server.pid, () => runOps(n, c, (i) => x.client.get(x.bucket, key(i), smallSize).then(() => undefined)));
        keep(opsRow(get, x.variant, g.value, g, GET_TARGET));
        process.stderr.write(`bench:     ${get} ${x.variant}: ${fmtInt(n / g.seconds)} ops/s\n`);
      }
    }
    return [...best.values()];
  } catch (e) {
    process.stderr.write(`bench: authorization (server): ${e instanceof Error ? e.stack : String(e)}\n`);
    return [put, get].flatMap((s) => [ROOT_VARIANT, USER_VARIANT].map((variant) => errorRow({ variant }, s, '—', e)));
  } finally {
    for (const cl of clients) cl.close();
    await server.stop();
  }
}
