// The import token v1 test vectors (docs/spec/kms-import-token.md), built deterministically
// with the root-key wrap written from the spec (key-material-vector-scenarios.ts), so they
// pin the layout apart from the code that reads them. The payload is a P-256 PKCS#8 key
// standing in for the RSA wrapping key: the token format carries its payload opaquely.
//   regenerate: npm run build && node dist/test/kms/format/import-token-vectors.js

import { fileURLToPath } from 'node:url';
import { sealImportToken } from '../../../src/kms/format/import-token.js';
import { writeVectorDir } from '../../helpers/vector-files.js';
import { p256Key, specWrapper } from './key-material-vector-scenarios.js';
import { deterministicRandom, VECTOR_KEY_ID } from './vector-scenarios.js';

export const IMPORT_TOKEN_VECTOR_DIR = fileURLToPath(new URL('../../../../test/vectors/kms-import-token/', import.meta.url));

export interface ImportTokenVector {
  expect: 'success' | 'auth failure' | 'parse failure';
  description: string;
  root_key_hex: string;
  token_hex: string;
  token_id?: string;
  key_id?: string;
  valid_to?: number;
  wrapping_algorithm?: string;
  wrapping_key_spec?: string;
  payload_hex?: string;
}

export async function buildImportTokenVectors(): Promise<Map<string, ImportTokenVector>> {
  const rnd = deterministicRandom('coffer/kms/import-token/v1 test vectors');
  const rootKey = rnd(32);
  const wrapper = specWrapper(rootKey, rnd);
  const hex = (b: Buffer) => b.toString('hex');
  const payload = p256Key(Buffer.from('c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721', 'hex'));
  const contents = { tokenId: hex(rnd(16)), keyId: VECTOR_KEY_ID, validTo: Date.UTC(2026, 11, 7, 12, 0, 0), wrappingAlgorithm: 'RSAES_OAEP_SHA_256' as const, wrappingKeySpec: 'RSA_2048' as const };
  const token = await sealImportToken(wrapper, contents, payload, rnd);
  const out = new Map<string, ImportTokenVector>();
  const base = { root_key_hex: hex(rootKey) };
  out.set('success-oaep-sha256-rsa2048', {
    expect: 'success', description: 'a token for RSAES_OAEP_SHA_256 / RSA_2048, valid to 2026-12-07T12:00Z', ...base, token_hex: hex(token),
    token_id: contents.tokenId, key_id: contents.keyId, valid_to: contents.validTo, wrapping_algorithm: contents.wrappingAlgorithm, wrapping_key_spec: contents.wrappingKeySpec, payload_hex: hex(payload),
  });
  const later = Buffer.from(token);
  later.writeBigUInt64BE(BigInt(contents.validTo + 86_400_000), 1 + 16 + 36);
  out.set('auth-extended-valid-to', { expect: 'auth failure', description: 'validTo moved a day later in the header (the AAD binds it)', ...base, token_hex: hex(later) });
  const otherKey = Buffer.from(token);
  otherKey.write('ffffffff', 17, 'latin1');
  out.set('auth-other-key-id', { expect: 'auth failure', description: 'the key id in the header changed to another well-formed id', ...base, token_hex: hex(otherKey) });
  const payloadFlip = Buffer.from(token);
  payloadFlip[payloadFlip.length - 20]! ^= 0x01;
  out.set('auth-tampered-payload', { expect: 'auth failure', description: 'one bit of the encrypted wrapping key flipped', ...base, token_hex: hex(payloadFlip) });
  const v2 = Buffer.from(token);
  v2[0] = 0x02;
  out.set('parse-unknown-version', { expect: 'parse failure', description: 'format version byte 0x02', ...base, token_hex: hex(v2) });
  const badAlg = Buffer.from(token);
  badAlg[1 + 16 + 36 + 8] = 0x09;
  out.set('parse-unknown-algorithm', { expect: 'parse failure', description: 'wrapping algorithm byte 0x09', ...base, token_hex: hex(badAlg) });
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) writeVectorDir(IMPORT_TOKEN_VECTOR_DIR, await buildImportTokenVectors());
