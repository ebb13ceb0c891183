// A minimal AWS Signature V4 signer for the benchmark's raw node:http client. The
// signing key is cached per day so signing costs two HMACs and one SHA-256, which
// keeps client CPU out of the small-object numbers. `checkAgainstSmithy` compares
// it with the SDK's own signer once per run, so a wrong signature fails loudly
// instead of turning every request into a 403.

import { createHash, createHmac } from 'node:crypto';

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SignInput {
  method: string;
  /** Already URI-encoded path, e.g. /bucket/key. */
  path: string;
  /** Canonical query string (sorted, encoded, `name=value` joined by &), e.g. `encryption=`; default none. */
  query?: string;
  host: string;
  payloadHash: string;
  /** Extra headers that are sent and signed (lower-case names). */
  headers?: Record<string, string>;
  now?: Date;
}

export class SigV4Signer {
  private keyDate = '';
  private key: Buffer = Buffer.alloc(0);

  constructor(
    private readonly creds: Credentials,
    private readonly region = 'us-east-1',
    private readonly service = 's3',
  ) {}

  /** Returns the headers to send: host is left to node:http (it sends the same value). */
  sign(input: SignInput): Record<string, string> {
    const amzDate = (input.now ?? new Date()).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const day = amzDate.slice(0, 8);
    const all: Record<string, string> = {
      ...input.headers,
      host: input.host,
      'x-amz-content-sha256': input.payloadHash,
      'x-amz-date': amzDate,
    };
    const names = Object.keys(all).sort();
    const canonicalHeaders = names.map((n) => `${n}:${all[n]!.trim()}\n`).join('');
    const signedHeaders = names.join(';');
    const canonicalRequest = `${input.method}\n${input.path}\n${input.query ?? ''}\n${canonicalHeaders}\n${signedHeaders}\n${input.payloadHash}`;
    const scope = `${day}/${this.region}/${this.service}/aws4_request`;
    const stringToSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(canonicalRequest).digest('hex')}`;
    const signature = createHmac('sha256', this.signingKey(day)).update(stringToSign).digest('hex');
    const out = { ...all };
    delete (out as Partial<typeof out>).host;
    out.authorization = `AWS4-HMAC-SHA256 Credential=${this.creds.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return out;
  }

  private signingKey(day: string): Buffer {
    if (day !== this.keyDate) {
      const hmac = (k: Buffer | string, d: string) => createHmac('sha256', k).update(d).digest();
      this.key = hmac(hmac(hmac(hmac(`AWS4${this.creds.secretAccessKey}`, day), this.region), this.service), 'aws4_request');
      this.keyDate = day;
    }
    return this.key;
  }
}

type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: SourceData): string | Uint8Array =>
  typeof d === 'string' ? d : d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

class NodeSha256 {
  private h;
  constructor(secret?: SourceData) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.h.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
  reset(): void {}
}

/** Signs one request with our signer and with @smithy/signature-v4; throws if they differ. */
export async function checkAgainstSmithy(creds: Credentials): Promise<void> {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const now = new Date('2026-01-02T03:04:05Z');
  const ours = new SigV4Signer(creds).sign({
    method: 'PUT',
    path: '/bench-bucket/some/key-1',
    host: '127.0.0.1:9000',
    payloadHash: UNSIGNED_PAYLOAD,
    headers: { 'content-length': '1048576' },
    now,
  });
  const smithy = new SignatureV4({ credentials: creds, region: 'us-east-1', service: 's3', sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });
  const signed = await smithy.sign(
    {
      method: 'PUT',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 9000,
      path: '/bench-bucket/some/key-1',
      query: {},
      headers: { host: '127.0.0.1:9000', 'content-length': '1048576', 'x-amz-content-sha256': UNSIGNED_PAYLOAD },
    },
    { signingDate: now },
  );
  const theirs = signed.headers['authorization'] ?? signed.headers['Authorization'];
  if (theirs !== ours.authorization) {
    throw new Error(`bench SigV4 signer disagrees with @smithy/signature-v4:\n  ours:   ${ours.authorization}\n  smithy: ${theirs}`);
  }
}
