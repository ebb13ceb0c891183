// The one way tests check that an SDK call (S3, KMS, IAM, STS) fails as it should: the
// code the SDK names the error by, the HTTP status, the message and the error document's
// extra fields, as a client sees them. A call that succeeds fails the test.
import assert from 'node:assert/strict';

export interface Failure {
  /** The error code (the SDK's name for the error). */
  name: string;
  status: number | undefined;
  message: string;
  /** The error document's extra fields (ArgumentName, ArgumentValue, BucketName...). */
  fields: Record<string, unknown>;
}

/** The error an SDK call fails with. */
export async function failure(p: Promise<unknown>): Promise<Failure> {
  try {
    await p;
  } catch (e) {
    const err = e as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: err.name, status: err.$metadata?.httpStatusCode, message: err.message, fields: e as Record<string, unknown> };
  }
  assert.fail('expected the request to fail');
}

/**
 * Asserts that an SDK call fails with this HTTP status and code and, when given, message
 * (a string is the whole message, a RegExp matches it) and error-document fields.
 */
export async function assertFails(
  p: Promise<unknown>,
  status: number,
  code: string,
  message?: string | RegExp,
  fields: Record<string, string> = {},
): Promise<Failure> {
  const f = await failure(p);
  assert.equal(f.name, code, `code (message: ${f.message})`);
  assert.equal(f.status, status, `status of ${code}`);
  if (typeof message === 'string') assert.equal(f.message, message);
  else if (message) assert.match(f.message, message);
  for (const [k, v] of Object.entries(fields)) assert.equal(f.fields[k], v, `error field ${k}`);
  return f;
}
