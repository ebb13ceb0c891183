// AWS refuses SSE-KMS and SSE-C requests that do not arrive over TLS. Coffer does the
// same, except from loopback clients (local development and tests need no certificate)
// and when the operator allows plain HTTP on a trusted network (--allow-secrets-over-http);
// http/transport.ts says which requests qualify, once per request (ctx.transport).

import { isSecureTransport } from '../../http/transport.js';
import type { S3Context } from '../context.js';
import { s3Error } from '../errors.js';
import type { SseSettings } from './settings.js';

export function requireSecureTransport(ctx: S3Context, settings: SseSettings | { kind: 'sse-c' | 'sse-kms' }): void {
  if (settings.kind !== 'sse-kms' && settings.kind !== 'sse-c') return;
  if (isSecureTransport(ctx.transport, ctx.services.config.allowSecretsOverHttp)) return;
  const what = settings.kind === 'sse-c' ? 'Customer provided keys' : 'AWS KMS managed keys';
  throw s3Error('InvalidRequest', {}, `Requests specifying Server Side Encryption with ${what} must be made over a secure connection.`);
}
