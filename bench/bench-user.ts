// The IAM user the small-request benches sign with when asked to (BENCH_CLUSTER_SIGNER=user):
// root requests skip IAM's policy reads, a user's do not. Made through a node's IAM API.

import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { ROOT_KEY_ID, ROOT_SECRET } from './server-process.js';
import type { Credentials } from './sigv4.js';

/** Creates user `bench-small`, allowed s3:* on buckets named `bucket*`, and returns a new access key of it. */
export async function benchUser(url: URL, bucket: string): Promise<Credentials> {
  const iam = new IAMClient({ endpoint: url.origin, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
  try {
    await iam.send(new CreateUserCommand({ UserName: 'bench-small' }));
    await iam.send(new PutUserPolicyCommand({
      UserName: 'bench-small', PolicyName: 'bench-buckets',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: [`arn:aws:s3:::${bucket}*`] }] }),
    }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'bench-small' }))).AccessKey!;
    return { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
  } finally {
    iam.destroy();
  }
}
