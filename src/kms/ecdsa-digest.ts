// ECDSA over a precomputed digest (Sign and Verify with MessageType DIGEST), which Node's
// crypto does not offer (it always hashes). SEC 1 v2 §4.1.3 and §4.1.4:
//
//   sign:   k, R = k·G from OpenSSL (an ECDH key pair: k is its private key, R its public
//           key); r = R.x mod n; s = (b·k)⁻¹ · (b·e + b·r·d) mod n, b random (blinding)
//   verify: w = s⁻¹; u1 = e·w; u2 = r·w; P = u1·G (OpenSSL) + u2·Q (BigInt, public data);
//           valid iff P.x mod n = r
//
// e is the digest's leftmost bits, as many as n has. Only curve constants p, a and n are
// needed (G is OpenSSL's); they are pinned by tests that verify Node's own signatures.

import { createECDH, randomBytes, type KeyObject } from 'node:crypto';

interface Curve {
  p: bigint;
  a: bigint;
  n: bigint;
  bytes: number;
}

const h = (s: string) => BigInt('0x' + s);
const P256 = h('ffffffff00000001000000000000000000000000ffffffffffffffffffffffff');
const P384 = h('fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff');
const P521 = (1n << 521n) - 1n;
const K256 = h('fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f');

const CURVES: Record<string, Curve> = {
  prime256v1: { p: P256, a: P256 - 3n, n: h('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'), bytes: 32 },
  secp384r1: { p: P384, a: P384 - 3n, n: h('ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973'), bytes: 48 },
  secp521r1: {
    p: P521, a: P521 - 3n,
    n: h('01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409'),
    bytes: 66,
  },
  secp256k1: { p: K256, a: 0n, n: h('fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141'), bytes: 32 },
};

const mod = (x: bigint, m: bigint) => ((x % m) + m) % m;

function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b = mod(b, m);
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

const inv = (x: bigint, m: bigint) => modPow(x, m - 2n, m); // m is prime

const toBig = (b: Buffer) => (b.length === 0 ? 0n : BigInt('0x' + b.toString('hex')));
const toBuf = (x: bigint, len: number) => Buffer.from(x.toString(16).padStart(len * 2, '0'), 'hex');
const b64u = (s: string | undefined) => toBig(Buffer.from(s ?? '', 'base64url'));

function curveOf(key: KeyObject): [string, Curve] {
  const name = key.asymmetricKeyDetails?.namedCurve ?? '';
  const c = CURVES[name];
  if (!c) throw new RangeError(`no ECDSA digest support for curve ${name}`);
  return [name, c];
}

/** The digest as an integer: its leftmost bits, as many as n has (SEC 1 §4.1.3 step 5). */
function digestInteger(digest: Buffer, c: Curve): bigint {
  const e = toBig(digest);
  const nBits = c.n.toString(2).length;
  const dBits = digest.length * 8;
  return dBits > nBits ? e >> BigInt(dBits - nBits) : e;
}

// ---- DER (RFC 3279 Ecdsa-Sig-Value) ----

function derInteger(x: bigint): Buffer {
  let b = Buffer.from(x.toString(16).padStart(2, '0').replace(/^(.(..)*)$/, '0$1'), 'hex');
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return Buffer.concat([Buffer.from([0x02]), derLength(b.length), b]);
}

function derLength(n: number): Buffer {
  return n < 0x80 ? Buffer.from([n]) : Buffer.from([0x81, n]);
}

function encodeDer(r: bigint, s: bigint): Buffer {
  const body = Buffer.concat([derInteger(r), derInteger(s)]);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}

/** (r, s) from DER, or undefined when it is not exactly one well-formed SEQUENCE of two INTEGERs. */
function decodeDer(sig: Buffer): [bigint, bigint] | undefined {
  let i = 0;
  const len = (): number | undefined => {
    const first = sig[i++];
    if (first === undefined) return undefined;
    if (first < 0x80) return first;
    if (first !== 0x81) return undefined;
    const v = sig[i++];
    return v === undefined || v < 0x80 ? undefined : v;
  };
  if (sig[i++] !== 0x30) return undefined;
  const total = len();
  if (total === undefined || i + total !== sig.length) return undefined;
  const ints: bigint[] = [];
  for (let k = 0; k < 2; k++) {
    if (sig[i++] !== 0x02) return undefined;
    const l = len();
    if (l === undefined || l === 0 || i + l > sig.length) return undefined;
    const bytes = sig.subarray(i, i + l);
    if (bytes[0]! & 0x80) return undefined; // negative
    if (l > 1 && bytes[0] === 0 && !(bytes[1]! & 0x80)) return undefined; // not minimal
    ints.push(toBig(bytes));
    i += l;
  }
  return i === sig.length ? [ints[0]!, ints[1]!] : undefined;
}

// ---- points (Jacobian coordinates; verification only: public data) ----

type Jac = [bigint, bigint, bigint] | null;

function double(P: Jac, c: Curve): Jac {
  if (!P || P[1] === 0n) return null;
  const [X, Y, Z] = P;
  const p = c.p;
  const YY = (Y * Y) % p;
  const S = (4n * X * YY) % p;
  const Z2 = (Z * Z) % p;
  const M = mod(3n * X * X + c.a * Z2 * Z2, p);
  const X3 = mod(M * M - 2n * S, p);
  return [X3, mod(M * (S - X3) - 8n * YY * YY, p), (2n * Y * Z) % p];
}

function add(P: Jac, Q: Jac, c: Curve): Jac {
  if (!P) return Q;
  if (!Q) return P;
  const p = c.p;
  const [X1, Y1, Z1] = P;
  const [X2, Y2, Z2] = Q;
  const Z1s = (Z1 * Z1) % p;
  const Z2s = (Z2 * Z2) % p;
  const U1 = (X1 * Z2s) % p;
  const U2 = (X2 * Z1s) % p;
  const S1 = (Y1 * Z2s * Z2) % p;
  const S2 = (Y2 * Z1s * Z1) % p;
  if (U1 === U2) return S1 === S2 ? double(P, c) : null;
  const H = mod(U2 - U1, p);
  const R = mod(S2 - S1, p);
  const H2 = (H * H) % p;
  const H3 = (H2 * H) % p;
  const X3 = mod(R * R - H3 - 2n * U1 * H2, p);
  return [X3, mod(R * (U1 * H2 - X3) - S1 * H3, p), (H * Z1 * Z2) % p];
}

function multiply(k: bigint, P: Jac, c: Curve): Jac {
  let R: Jac = null;
  for (const bit of k.toString(2)) {
    R = double(R, c);
    if (bit === '1') R = add(R, P, c);
  }
  return R;
}

/** k·G through OpenSSL, as a Jacobian point. */
function baseMultiply(name: string, k: bigint, c: Curve): Jac {
  if (k === 0n) return null;
  const ecdh = createECDH(name);
  ecdh.setPrivateKey(toBuf(k, c.bytes));
  const pub = ecdh.getPublicKey(); // 0x04 || x || y
  return [toBig(pub.subarray(1, 1 + c.bytes)), toBig(pub.subarray(1 + c.bytes)), 1n];
}

function randomScalar(c: Curve): bigint {
  for (;;) {
    const k = mod(toBig(randomBytes(c.bytes + 8)), c.n);
    if (k !== 0n) return k;
  }
}

export function ecdsaSignDigest(privateKey: KeyObject, digest: Buffer): Buffer {
  const [name, c] = curveOf(privateKey);
  const d = b64u(privateKey.export({ format: 'jwk' }).d);
  const e = digestInteger(digest, c);
  for (;;) {
    const ecdh = createECDH(name);
    const R = ecdh.generateKeys(); // R = k·G
    const k = toBig(ecdh.getPrivateKey());
    const r = mod(toBig(R.subarray(1, 1 + c.bytes)), c.n);
    if (r === 0n) continue;
    const b = randomScalar(c);
    const s = mod(inv((b * k) % c.n, c.n) * mod(b * e + ((b * r) % c.n) * d, c.n), c.n);
    if (s === 0n) continue;
    return encodeDer(r, s);
  }
}

export function ecdsaVerifyDigest(publicKey: KeyObject, digest: Buffer, signature: Buffer): boolean {
  const [name, c] = curveOf(publicKey);
  const rs = decodeDer(signature);
  if (!rs) return false;
  const [r, s] = rs;
  if (r <= 0n || r >= c.n || s <= 0n || s >= c.n) return false;
  const jwk = publicKey.export({ format: 'jwk' });
  const Q: Jac = [b64u(jwk.x), b64u(jwk.y), 1n];
  const w = inv(s, c.n);
  const u1 = (digestInteger(digest, c) * w) % c.n;
  const u2 = (r * w) % c.n;
  const P = add(baseMultiply(name, u1, c), multiply(u2, Q, c), c);
  if (!P) return false;
  const zInv = inv(P[2], c.p);
  const x = (P[0] * zInv * zInv) % c.p;
  return x % c.n === r;
}
