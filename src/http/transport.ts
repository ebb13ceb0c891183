// How a request reached us, for the rules that depend on it: AWS refuses SSE-KMS and
// SSE-C requests that do not arrive over TLS, Coffer also refuses to send secrets (KMS
// plaintext, IAM access keys, STS credentials) over plain HTTP, and policies may test
// aws:SecureTransport and aws:SourceIp. Coffer trusts loopback clients, so local
// development and tests need no certificates, and an operator may trust the whole
// network (--allow-secrets-over-http).
//
// These are facts of the connection, so they are decided once per socket (transportOf)
// and carried with each request; every rule reads the same answer.
//
// The peer address is the socket's, never a header: X-Forwarded-For / -Proto are
// whatever the client says. A reverse proxy on the same host therefore makes every
// client look local — terminate TLS at that proxy.

import type { IncomingMessage } from 'node:http';
import { BlockList, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4'); // also matches ::ffff:127.x.x.x (BlockList maps IPv4-mapped IPv6)
LOOPBACK.addAddress('::1', 'ipv6');

export interface Transport {
  /** Over TLS (aws:SecureTransport). */
  readonly secure: boolean;
  /** From a loopback peer (isLoopbackAddress). */
  readonly loopback: boolean;
  /** The peer's address as the socket reports it (aws:SourceIp); undefined once the socket is gone. */
  readonly sourceIp: string | undefined;
}

// Keep-alive connections carry many requests: the loopback check (a BlockList lookup,
// about a microsecond) runs once per connection, not per request.
const BY_SOCKET = new WeakMap<Socket, Transport>();

/** The transport of a request, the same object for every request of one connection. */
export function transportOf(req: IncomingMessage): Transport {
  const socket = req.socket as Socket | null;
  const known = socket ? BY_SOCKET.get(socket) : undefined;
  if (known) return known;
  const sourceIp = socket?.remoteAddress;
  const t: Transport = { secure: isTlsRequest(req), loopback: isLoopbackAddress(sourceIp), sourceIp };
  if (socket) BY_SOCKET.set(socket, t);
  return t;
}

/** True when the request came over TLS (aws:SecureTransport). */
export function isTlsRequest(req: IncomingMessage): boolean {
  return (req.socket as Partial<TLSSocket> | null)?.encrypted === true;
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8 (::ffff:127.0.0.1). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  // A zone id (fe80::1%eth0) is not part of the address; BlockList rejects it.
  const bare = address.replace(/%.*$/, '');
  try {
    return LOOPBACK.check(bare, bare.includes(':') ? 'ipv6' : 'ipv4');
  } catch {
    return false; // not an IP address at all
  }
}

/**
 * May this request carry or receive secrets (SSE-KMS, SSE-C, KMS plaintext, access keys)?
 * Yes over TLS, from a loopback peer, or anywhere when the operator allowed plain
 * HTTP (`allowSecretsOverHttp` in the config).
 */
export function isSecureTransport(t: Transport, allowSecretsOverHttp: boolean): boolean {
  return allowSecretsOverHttp || t.secure || t.loopback;
}

/**
 * The refusal of an operation whose response carries a secret, over plain HTTP from afar
 * (in S3's wording for SSE over HTTP): undefined when the request may have it.
 */
export function secretsOverHttpRefusal(t: Transport, allowSecretsOverHttp: boolean, operation: string, secret: string): string | undefined {
  if (isSecureTransport(t, allowSecretsOverHttp)) return undefined;
  return `Requests for ${operation}, whose response carries ${secret}, must be made over a secure connection.`;
}
