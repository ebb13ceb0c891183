// Virtual-hosted-style requests reaching a server that was not told its domain. Without
// --domain every request is read path-style, so `PUT http://photos.localhost:9000/cat.jpg`
// would become CreateBucket "cat.jpg". Refused instead, with a message that says how to fix
// it — but only where the Host cannot mean anything else, so path-style access behind any
// ordinary host name (s3.example.com, coffer.internal, an IP address, localhost) is never
// touched. The rule (docs/COMPATIBILITY.md): no domain is configured, the Host is
// `<label>.localhost` or `<label>.<IPv4 address>` (names of this machine or of the address
// Coffer answers on, which nothing but a virtual-hosted client puts a label in front of),
// and `<label>` is the name of an existing bucket.

import { s3Error } from './errors.js';

const LOCAL_SUFFIX = /^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\.(localhost|(?:\d{1,3}\.){3}\d{1,3})$/;

/** The bucket a Host header would name if the client meant virtual-hosted style on a local name, if any. */
export function localVirtualHostBucket(hostHeader: string | undefined): string | undefined {
  const host = (hostHeader ?? '').toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
  const m = LOCAL_SUFFIX.exec(host);
  // Everything before the local name, dots included: `my.photos.localhost` addresses bucket `my.photos`.
  return m ? m[1] : undefined;
}

/** Refuses a request that is virtual-hosted style for a bucket that exists, when no domain is configured. */
export async function refuseMisroutedVirtualHost(hostHeader: string | undefined, domain: string | undefined, bucketExists: (name: string) => Promise<boolean>): Promise<void> {
  if (domain) return;
  const bucket = localVirtualHostBucket(hostHeader);
  if (bucket === undefined || !(await bucketExists(bucket))) return;
  const host = (hostHeader ?? '').replace(/:\d+$/, '');
  throw s3Error(
    'InvalidRequest',
    {},
    `Virtual-hosted-style request for host ${host}: start the server with --domain <domain> (COFFER_DOMAIN) to enable virtual-hosted buckets, or use path-style addressing.`,
  );
}
