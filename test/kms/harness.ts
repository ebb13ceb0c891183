// Shared helpers of the KMS API tests: the [code, message] an SDK call fails with (always
// HTTP 400, as KMS answers), the error an in-process call rejects with, and a fresh key's
// metadata.
import assert from 'node:assert/strict';
import { CreateKeyCommand, type CreateKeyCommandInput, type KMSClient } from '@aws-sdk/client-kms';
import { failure as sdkFailure } from '../helpers/failure.js';

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
