// Typed errors that carry their wire code. Every service (S3, KMS, IAM) serializes a
// ServiceError in its own format; anything that is not a ServiceError becomes a
// generic InternalError (500) and its cause goes only to the log.

export class ServiceError extends Error {
  /** Extra elements written into the error body (e.g. S3's <Key>, <BucketName>). */
  readonly fields: Record<string, string>;
  /** Extra response headers (e.g. x-amz-delete-marker). */
  readonly headers: Record<string, string>;

  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    fields: Record<string, string> = {},
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = code;
    this.fields = fields;
    this.headers = headers;
  }
}

export function isServiceError(e: unknown): e is ServiceError {
  return e instanceof ServiceError;
}
