// Recognising "the blob tier cannot be reached" among the failures of a store: a remote
// blob backend (an S3-compatible service) that refuses connections, times out or answers
// 5xx after its retries. The services answer it 503 ServiceUnavailable, which clients
// retry, instead of a 500 InternalError; the cause goes to the log, never to the client.

/** A remote blob backend could not serve the call. The message names the operation, never a secret. */
export class BlobTierUnavailableError extends Error {
  readonly blobTierUnavailable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BlobTierUnavailableError';
  }
}

/** Whether `e` (or an error it wraps as `cause`) says the blob tier is unavailable. */
export function isBlobTierUnavailable(e: unknown): boolean {
  for (let cur = e, depth = 0; typeof cur === 'object' && cur !== null && depth < 8; cur = (cur as { cause?: unknown }).cause, depth++) {
    if ((cur as { blobTierUnavailable?: unknown }).blobTierUnavailable === true) return true;
  }
  return false;
}
