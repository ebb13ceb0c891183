// Shared helpers of the KMS API tests: the [code, message] an SDK call fails with (always
// HTTP 400, as KMS answers), the error an in-process call rejects with, and a fresh key's
// metadata.
import assert from 'node:assert/strict';
import { CreateKeyCommand, type CreateKeyCommandInput, type KMSClient } from '@aws-sdk/client-kms';
import { SignatureV4 } from '@smithy/signature-v4';
import { failure as sdkFailure } from '../helpers/failure.js';
import { ROOT_KEY_ID, ROOT_SECRET } from '../helpers/server.js';
import { Sha256 } from '../helpers/sha256.js';

/** The error an SDK call fails with, as [code, message]; KMS answers every error with HTTP 400. */
export async function failure(p: Promise<unknown>): Promise<[string, string]> {
  const f = await sdkFailure(p);
  assert.equal(f.status, 400, `${f.name} should be HTTP 400`);
  return [f.name, f.message];
}

/** An in-process KMS call (no HTTP status) rejects with this code and, when given, message (a RegExp matches it). */
export async function rejects(p: Promise<unknown>, name: string, message?: string | RegExp): Promise<void> {
  await assert.rejects(p, (e: Error) => {
    assert.equal(e.name, name, `${e.name}: ${e.message}`);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    return true;
  });
}

/** Creates a key through CreateKey and returns its KeyMetadata. */
export async function createKeyVia(kms: KMSClient, input: CreateKeyCommandInput = {}) {
  const r = await kms.send(new CreateKeyCommand(input));
  return r.KeyMetadata!;
}

/** One KMS JSON 1.1 request with exactly this body text, signed by hand as the root, to see the exact wire answer. */
export async function rawKms(serverUrl: string, operation: string, payload: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const url = new URL(serverUrl);
  const signer = new SignatureV4({ credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, region: 'us-east-1', service: 'kms', sha256: Sha256 });
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: '/',
    query: {},
    headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}` },
    body: payload,
  });
  const res = await fetch(`${serverUrl}/`, { method: 'POST', headers: signed.headers, body: payload });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
