// Shared helpers of the KMS API tests: the [code, message] a call fails with (always
// HTTP 400, as KMS answers), and a fresh key's metadata.
import assert from 'node:assert/strict';
import { CreateKeyCommand, type CreateKeyCommandInput, type KMSClient } from '@aws-sdk/client-kms';

/** The error a call fails with: [code, message]. */
export async function failure(p: Promise<unknown>): Promise<[string, string]> {
  try {
    await p;
  } catch (e) {
    const err = e as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    assert.equal(err.$metadata?.httpStatusCode, 400, `${err.name} should be HTTP 400`);
    return [err.name, err.message];
  }
  assert.fail('expected the call to fail');
}

/** Creates a key through CreateKey and returns its KeyMetadata. */
export async function createKeyVia(kms: KMSClient, input: CreateKeyCommandInput = {}) {
  const r = await kms.send(new CreateKeyCommand(input));
  return r.KeyMetadata!;
}
