// IAM and STS clients for the real test server (root credentials unless given others).

import { IAMClient } from '@aws-sdk/client-iam';
import { STSClient } from '@aws-sdk/client-sts';
import { ROOT_KEY_ID, ROOT_SECRET, type TestServer } from '../helpers/server.js';

export interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const ROOT: Creds = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };

export function iamClient(srv: TestServer, credentials: Creds = ROOT): IAMClient {
  return new IAMClient({ endpoint: srv.url, region: 'us-east-1', credentials, maxAttempts: 1 });
}

export function stsClient(srv: TestServer, credentials: Creds = ROOT): STSClient {
  return new STSClient({ endpoint: srv.url, region: 'us-east-1', credentials, maxAttempts: 1 });
}

export const policy = (statements: object[]): string => JSON.stringify({ Version: '2012-10-17', Statement: statements });

/** STS's Credentials member as the helpers' Creds. */
export const asCreds = (c: { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string }): Creds => ({ accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! });
