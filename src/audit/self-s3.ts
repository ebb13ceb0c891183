// A PUT of one object into Coffer's own S3 API, signed with the root credentials, so the
// object takes the whole S3 write path — the bucket's default encryption, its policy,
// checksums, metering — exactly as a client's upload would. Used to deliver the audit
// log to a bucket (delivery-object.ts), as CloudTrail writes to S3 through S3's own API.

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createHash } from 'node:crypto';
import { uriEncode } from '../auth/canonical.js';
import { signRequest } from '../auth/sign.js';

export interface SelfS3Target {
  /** The listener's URL, e.g. http://127.0.0.1:9000 (an unspecified address is reached on loopback). */
  url: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The server's own certificate, trusted for its HTTPS listener (pinned: the host name is not checked, the call goes to loopback). */
  ca?: string | Buffer;
}

export class SelfPutError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** PUT s3://bucket/key; resolves on 200, rejects with SelfPutError carrying S3's error code. */
export async function putOwnObject(t: SelfS3Target, bucket: string, key: string, body: Buffer, headers: Record<string, string> = {}): Promise<void> {
  const url = new URL(t.url);
  if (url.hostname === '0.0.0.0') url.hostname = '127.0.0.1';
  if (url.hostname === '[::]') url.hostname = '[::1]';
  const rawUrl = `/${bucket}/${key.split('/').map((s) => uriEncode(s)).join('/')}`;
  const signed = signRequest({
    method: 'PUT',
    rawUrl,
    headers: { host: url.host, 'content-length': String(body.length), ...headers },
    accessKeyId: t.accessKeyId,
    secretAccessKey: t.secretAccessKey,
    region: t.region,
    service: 's3',
    now: new Date(),
    payloadHash: createHash('sha256').update(body).digest('hex'),
  });
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  await new Promise<void>((resolve, reject) => {
    const req = send(
      { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, method: 'PUT', path: rawUrl, headers: signed.headers, ...(t.ca ? { ca: t.ca, checkServerIdentity: () => undefined } : {}), agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode === 200) return resolve();
          const text = Buffer.concat(chunks).toString('utf8');
          const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? `HTTP${res.statusCode}`;
          const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? '';
          reject(new SelfPutError(res.statusCode ?? 0, code, message));
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
