// Bucket naming rules (general purpose buckets) and the object key limit.

import { s3Error } from './errors.js';

export function checkBucketName(name: string): void {
  const bad =
    name.length < 3 ||
    name.length > 63 ||
    !/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name) ||
    name.includes('..') ||
    name.includes('.-') ||
    name.includes('-.') ||
    /^\d{1,3}(\.\d{1,3}){3}$/.test(name) ||
    name.startsWith('xn--') ||
    name.startsWith('sthree-') ||
    name.startsWith('amzn-s3-demo-') ||
    name.endsWith('-s3alias') ||
    name.endsWith('--ol-s3') ||
    name.endsWith('.mrap') ||
    name.endsWith('--x-s3') ||
    name.endsWith('--table-s3');
  if (bad) throw s3Error('InvalidBucketName', { BucketName: name });
}

export const MAX_KEY_BYTES = 1024;

export function checkKey(key: string): void {
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw s3Error('KeyTooLongError', { MaxSizeAllowed: String(MAX_KEY_BYTES), Size: String(Buffer.byteLength(key, 'utf8')) });
  }
}
