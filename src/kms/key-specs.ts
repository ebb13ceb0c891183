// What each KeySpec is: the key usages AWS allows it, the algorithms DescribeKey and
// GetPublicKey list for each usage, how Coffer makes its material, and the secret kind its
// sealed record holds (format/key-material.ts). One table, read by CreateKey, the metadata,
// and every operation that checks a key against an algorithm.

import { generateKeyPair, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { SecretKindName } from './format/key-material.js';

export type KeyUsage = 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY' | 'GENERATE_VERIFY_MAC' | 'KEY_AGREEMENT';
export type KeySpec =
  | 'SYMMETRIC_DEFAULT'
  | 'RSA_2048' | 'RSA_3072' | 'RSA_4096'
  | 'ECC_NIST_P256' | 'ECC_NIST_P384' | 'ECC_NIST_P521' | 'ECC_SECG_P256K1'
  | 'ECC_NIST_EDWARDS25519'
  | 'ML_DSA_44' | 'ML_DSA_65' | 'ML_DSA_87'
  | 'HMAC_224' | 'HMAC_256' | 'HMAC_384' | 'HMAC_512';

const ML_DSA_SPECS: readonly KeySpec[] = ['ML_DSA_44', 'ML_DSA_65', 'ML_DSA_87'];

let mlDsa: boolean | undefined;
/**
 * Whether the running Node's crypto makes and uses ML-DSA keys (FIPS 204): Node 24 builds
 * linked with OpenSSL 3.5 or later do; Node 20 and 22 do not. Asked once, by trying.
 */
export function runtimeHasMlDsa(): boolean {
  if (mlDsa === undefined) {
    try {
      generateKeyPairSync('ml-dsa-44' as never);
      mlDsa = true;
    } catch {
      mlDsa = false;
    }
  }
  return mlDsa;
}

/** Why the running Node cannot make keys of this spec, or undefined when it can. SM2 is offered in AWS China Regions only. */
export function runtimeLimitation(spec: string): string | undefined {
  if (spec === 'SM2') return 'SM2 keys are offered in AWS China Regions only';
  if ((ML_DSA_SPECS as readonly string[]).includes(spec) && !runtimeHasMlDsa()) {
    return `ML-DSA keys need ML-DSA in the Node runtime's crypto (Node 24 with OpenSSL 3.5 or later); this server runs Node ${process.version}, which has none`;
  }
  return undefined;
}

/** The specs Coffer creates on this runtime. SM2 is a valid AWS value Coffer refuses; ML_DSA_* needs the runtime's support. */
export const CREATABLE_SPECS: readonly KeySpec[] = [
  'SYMMETRIC_DEFAULT', 'RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1',
  'ECC_NIST_EDWARDS25519', 'HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512',
];

/** Whether Coffer makes keys of this spec on this runtime. */
export const creatable = (spec: string): boolean => (CREATABLE_SPECS as readonly string[]).includes(spec) || ((ML_DSA_SPECS as readonly string[]).includes(spec) && runtimeHasMlDsa());

const RSA_SIGNING = ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512', 'RSASSA_PSS_SHA_256', 'RSASSA_PSS_SHA_384', 'RSASSA_PSS_SHA_512'];
const RSA_ENCRYPTION = ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'];

interface SpecInfo {
  usages: readonly KeyUsage[];
  signing?: readonly string[];
  encryption?: readonly string[];
  mac?: readonly string[];
  agreement?: readonly string[];
  /** RSA modulus bits, EC curve (OpenSSL name), Node's key type (Ed25519, ML-DSA), HMAC key bytes. */
  rsaBits?: number;
  nodeType?: 'ed25519' | 'ml-dsa-44' | 'ml-dsa-65' | 'ml-dsa-87';
  curve?: string;
  hmacBytes?: number;
}

export const SPECS: Readonly<Record<KeySpec, SpecInfo>> = {
  SYMMETRIC_DEFAULT: { usages: ['ENCRYPT_DECRYPT'], encryption: ['SYMMETRIC_DEFAULT'] },
  RSA_2048: { usages: ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'], signing: RSA_SIGNING, encryption: RSA_ENCRYPTION, rsaBits: 2048 },
  RSA_3072: { usages: ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'], signing: RSA_SIGNING, encryption: RSA_ENCRYPTION, rsaBits: 3072 },
  RSA_4096: { usages: ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'], signing: RSA_SIGNING, encryption: RSA_ENCRYPTION, rsaBits: 4096 },
  ECC_NIST_P256: { usages: ['SIGN_VERIFY', 'KEY_AGREEMENT'], signing: ['ECDSA_SHA_256'], agreement: ['ECDH'], curve: 'prime256v1' },
  ECC_NIST_P384: { usages: ['SIGN_VERIFY', 'KEY_AGREEMENT'], signing: ['ECDSA_SHA_384'], agreement: ['ECDH'], curve: 'secp384r1' },
  ECC_NIST_P521: { usages: ['SIGN_VERIFY', 'KEY_AGREEMENT'], signing: ['ECDSA_SHA_512'], agreement: ['ECDH'], curve: 'secp521r1' },
  ECC_SECG_P256K1: { usages: ['SIGN_VERIFY'], signing: ['ECDSA_SHA_256'], curve: 'secp256k1' },
  ECC_NIST_EDWARDS25519: { usages: ['SIGN_VERIFY'], signing: ['ED25519_SHA_512', 'ED25519_PH_SHA_512'], nodeType: 'ed25519' },
  ML_DSA_44: { usages: ['SIGN_VERIFY'], signing: ['ML_DSA_SHAKE_256'], nodeType: 'ml-dsa-44' },
  ML_DSA_65: { usages: ['SIGN_VERIFY'], signing: ['ML_DSA_SHAKE_256'], nodeType: 'ml-dsa-65' },
  ML_DSA_87: { usages: ['SIGN_VERIFY'], signing: ['ML_DSA_SHAKE_256'], nodeType: 'ml-dsa-87' },
  HMAC_224: { usages: ['GENERATE_VERIFY_MAC'], mac: ['HMAC_SHA_224'], hmacBytes: 28 },
  HMAC_256: { usages: ['GENERATE_VERIFY_MAC'], mac: ['HMAC_SHA_256'], hmacBytes: 32 },
  HMAC_384: { usages: ['GENERATE_VERIFY_MAC'], mac: ['HMAC_SHA_384'], hmacBytes: 48 },
  HMAC_512: { usages: ['GENERATE_VERIFY_MAC'], mac: ['HMAC_SHA_512'], hmacBytes: 64 },
};

export const isAsymmetric = (spec: KeySpec): boolean => spec.startsWith('RSA_') || spec.startsWith('ECC_') || spec.startsWith('ML_DSA_');
export const isHmac = (spec: KeySpec): boolean => spec.startsWith('HMAC_');

/** The secret kind a key of this spec keeps in its v2 record; symmetric keys use v1 records. */
export function secretKind(spec: KeySpec): SecretKindName | undefined {
  if (isAsymmetric(spec)) return 'private-key';
  if (isHmac(spec)) return 'hmac';
  return undefined;
}

/** The algorithm members of KeyMetadata (and GetPublicKey) for a key of this spec and usage. */
export function algorithmMembers(spec: KeySpec, usage: KeyUsage): Record<string, string[]> {
  const s = SPECS[spec];
  switch (usage) {
    case 'ENCRYPT_DECRYPT': return { EncryptionAlgorithms: [...s.encryption!] };
    case 'SIGN_VERIFY': return { SigningAlgorithms: [...s.signing!] };
    case 'GENERATE_VERIFY_MAC': return { MacAlgorithms: [...s.mac!] };
    case 'KEY_AGREEMENT': return { KeyAgreementAlgorithms: [...s.agreement!] };
  }
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** A fresh key pair (RSA with e = 65537) on libuv's thread pool; RSA 4096 takes a second or more. ML-DSA is made synchronously (milliseconds). */
export async function generatePrivateKey(spec: KeySpec): Promise<KeyObject> {
  const s = SPECS[spec];
  if (s.rsaBits) return (await generateKeyPairAsync('rsa', { modulusLength: s.rsaBits, publicExponent: 65537 })).privateKey;
  if (s.curve) return (await generateKeyPairAsync('ec', { namedCurve: s.curve })).privateKey;
  if (s.nodeType === 'ed25519') return (await generateKeyPairAsync('ed25519')).privateKey;
  // ML-DSA: only where runtimeHasMlDsa(); Node's typings (v20) do not name the type.
  if (s.nodeType) return generateKeyPairSync(s.nodeType as never).privateKey as KeyObject;
  throw new RangeError(`${spec} has no key pair`);
}

/** The secret of a new non-symmetric key: PKCS#8 DER of a private key, or random HMAC key bytes. */
export async function generateSecret(spec: KeySpec): Promise<Buffer> {
  const s = SPECS[spec];
  if (s.hmacBytes) return randomBytes(s.hmacBytes);
  return (await generatePrivateKey(spec)).export({ type: 'pkcs8', format: 'der' });
}
