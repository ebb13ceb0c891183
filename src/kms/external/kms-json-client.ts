// A small client of an AWS-KMS-compatible service (AWS KMS, another Coffer) for the
// external-KMS root-key provider (custody/external-kms-root-key.ts): the JSON 1.1
// protocol over node:http(s), signed with Coffer's own SigV4 signer (auth/sign.ts), with
// a timeout per call and a bound on the response it reads. Only GenerateDataKey and
// Decrypt: the provider needs nothing else.

import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { signRequest } from '../../auth/sign.js';
import { ExternalKmsError, type ExternalKms } from '../../custody/external-kms-root-key.js';
import type { ExternalKmsSettings } from '../../custody/external-kms-settings.js';

/** A KMS answer holds a data key and its ciphertext blob: a few KiB at most. */
const MAX_RESPONSE_BYTES = 64 * 1024;
const MAX_MESSAGE_CHARS = 200;

export class KmsJsonClient implements ExternalKms {
  readonly endpoint: string;
  readonly #url: URL;
  readonly #agent: http.Agent;

  constructor(private readonly settings: ExternalKmsSettings) {
    this.endpoint = settings.endpoint;
    this.#url = new URL(settings.endpoint);
    this.#agent = this.#url.protocol === 'https:' ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false });
  }

  async generateDataKey(keyId: string, context: Record<string, string>): Promise<{ plaintext: Buffer; ciphertext: Buffer; keyId: string }> {
    const r = await this.call('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: context });
    if (typeof r.Plaintext !== 'string' || typeof r.CiphertextBlob !== 'string') throw new ExternalKmsError('bad-response', 'GenerateDataKey answered without Plaintext or CiphertextBlob');
    return { plaintext: Buffer.from(r.Plaintext, 'base64'), ciphertext: Buffer.from(r.CiphertextBlob, 'base64'), keyId: typeof r.KeyId === 'string' ? r.KeyId : keyId };
  }

  async decrypt(keyId: string, ciphertext: Buffer, context: Record<string, string>): Promise<Buffer> {
    const r = await this.call('Decrypt', { KeyId: keyId, CiphertextBlob: ciphertext.toString('base64'), EncryptionContext: context });
    if (typeof r.Plaintext !== 'string') throw new ExternalKmsError('bad-response', 'Decrypt answered without Plaintext');
    return Buffer.from(r.Plaintext, 'base64');
  }

  private call(operation: string, body: object): Promise<Record<string, unknown>> {
    const payload = Buffer.from(JSON.stringify(body), 'utf8');
    const base = this.#url.pathname.replace(/\/$/, '');
    const rawUrl = `${base}/`;
    const { headers } = signRequest({
      method: 'POST',
      rawUrl,
      headers: { host: this.#url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}` },
      ...this.settings.credentials,
      region: this.settings.region,
      service: 'kms',
      now: new Date(),
      payloadHash: createHash('sha256').update(payload).digest('hex'),
    });
    const lib = this.#url.protocol === 'https:' ? https : http;
    const timeoutMs = this.settings.timeoutSeconds * 1000;
    return new Promise((resolve, reject) => {
      const req = lib.request(
        { protocol: this.#url.protocol, hostname: this.#url.hostname, port: this.#url.port, method: 'POST', path: rawUrl, headers: { ...headers, 'content-length': String(payload.length) }, agent: this.#agent },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) {
              req.destroy(new ExternalKmsError('bad-response', `${operation} answered more than ${MAX_RESPONSE_BYTES} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => {
            const text = Buffer.concat(chunks);
            let o: Record<string, unknown> = {};
            try {
              o = JSON.parse(text.toString('utf8')) as Record<string, unknown>;
            } catch {
              // Not JSON: reported below from the status.
            }
            text.fill(0);
            if (res.statusCode === 200 && typeof o === 'object' && o !== null) return resolve(o);
            const type = typeof o?.__type === 'string' ? o.__type.slice(o.__type.lastIndexOf('#') + 1) : `HTTP ${res.statusCode}`;
            const message = typeof o?.message === 'string' ? o.message : typeof o?.Message === 'string' ? o.Message : '';
            reject(new ExternalKmsError(type, message.slice(0, MAX_MESSAGE_CHARS)));
          });
          res.on('error', (e) => reject(e instanceof ExternalKmsError ? e : new ExternalKmsError('unreachable', (e as NodeJS.ErrnoException).code ?? 'connection lost')));
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new ExternalKmsError('timeout', `no answer within ${this.settings.timeoutSeconds} s`)));
      req.on('error', (e) => reject(e instanceof ExternalKmsError ? e : new ExternalKmsError('unreachable', (e as NodeJS.ErrnoException).code ?? e.message.slice(0, MAX_MESSAGE_CHARS))));
      req.end(payload);
    });
  }
}
