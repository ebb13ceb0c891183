// AWS refuses SSE-KMS and SSE-C requests that do not arrive over TLS. Coffer does the
// same, except from loopback clients (local development and tests need no certificate)
// and when the operator allows plain HTTP on a trusted network (--allow-insecure-sse).

import type { S3Context } from '../context.js';
import { s3Error } from '../errors.js';
import type { SseSettings } from './settings.js';

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;

export function isSecureTransport(ctx: S3Context): boolean {
  const socket = ctx.req.socket as { encrypted?: boolean; remoteAddress?: string };
  if (socket.encrypted) return true;
  if (LOOPBACK.test(socket.remoteAddress ?? '')) return true;
  return (ctx.services.config as { allowInsecureSse?: boolean }).allowInsecureSse === true;
}

export function requireSecureTransport(ctx: S3Context, settings: SseSettings | { kind: 'sse-c' | 'sse-kms' | 'other' }): void {
  if (settings.kind !== 'sse-kms' && settings.kind !== 'sse-c') return;
  if (isSecureTransport(ctx)) return;
  const what = settings.kind === 'sse-c' ? 'Customer provided keys' : 'AWS KMS managed keys';
  throw s3Error('InvalidRequest', {}, `Requests specifying Server Side Encryption with ${what} must be made over a secure connection.`);
}
