// A key's material in the console: download the public key of an asymmetric key
// (GetPublicKey, DER SubjectPublicKeyInfo, as `openssl pkey -pubin -inform DER` reads it),
// and import key material into a key created with Origin EXTERNAL. The browser wraps the
// material itself (WebCrypto RSA-OAEP with SHA-256 under the wrapping key of
// GetParametersForImport), so only the wrapped bytes leave the page. Material larger than
// RSA-OAEP carries (RSA private keys) needs RSA_AES_KEY_WRAP, which WebCrypto lacks: the
// dialog says to use the AWS CLI for those.

import { kms } from '../api.js';
import { dialog, field, h, input, select } from '../ui.js';

const fromBase64 = (b64: string): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const toBase64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));

/** Saves bytes as a file through an object URL. */
function save(bytes: Uint8Array<ArrayBuffer>, name: string): void {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** GetPublicKey → `<key id>.der`. */
export async function downloadPublicKey(keyId: string): Promise<void> {
  const r = await kms<{ PublicKey: string }>('GetPublicKey', { KeyId: keyId });
  save(fromBase64(r.PublicKey), `${keyId}.der`);
}

/** RSA-OAEP-SHA-256 with a 4096-bit key carries at most 512 - 2*32 - 2 bytes. */
const OAEP_SHA256_RSA4096_MAX = 446;

/** The import dialog: a material file, the expiration model and, when it expires, ValidTo. */
export function importMaterial(keyId: string): Promise<boolean> {
  const file = input('material', { type: 'file', required: true });
  const model = select('model', [
    ['KEY_MATERIAL_DOES_NOT_EXPIRE', 'Does not expire'],
    ['KEY_MATERIAL_EXPIRES', 'Expires at the date below'],
  ]);
  return dialog({
    title: 'Import key material',
    submit: 'Import',
    fields: [
      h('p', {}, 'The file holds the raw key material: 32 bytes for a symmetric key, the HMAC key bytes, or a PKCS#8 DER EC private key. The browser wraps it with the key\u2019s import parameters before sending.'),
      field('Key material file', file),
      field('Expiration', model),
      field('Valid to (when it expires)', input('validTo', { type: 'datetime-local' })),
    ],
    async run(v) {
      const f = v.get('material');
      if (!(f instanceof File)) throw new Error('Choose the key material file.');
      const material = new Uint8Array(await f.arrayBuffer());
      if (material.length > OAEP_SHA256_RSA4096_MAX) throw new Error('This material is too large for RSA-OAEP wrapping (an RSA private key?). Import it with the AWS CLI and RSA_AES_KEY_WRAP_SHA_256.');
      const p = await kms<{ PublicKey: string; ImportToken: string }>('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_4096' });
      const wrappingKey = await crypto.subtle.importKey('spki', fromBase64(p.PublicKey), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['encrypt']);
      const wrapped = new Uint8Array(await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, wrappingKey, material));
      material.fill(0);
      const expires = v.get('model') === 'KEY_MATERIAL_EXPIRES';
      const validTo = String(v.get('validTo') ?? '');
      if (expires && !validTo) throw new Error('Choose the date the material expires.');
      await kms('ImportKeyMaterial', {
        KeyId: keyId,
        ImportToken: p.ImportToken,
        EncryptedKeyMaterial: toBase64(wrapped),
        ExpirationModel: v.get('model'),
        ...(expires ? { ValidTo: new Date(validTo).getTime() / 1000 } : {}),
      });
    },
    success: 'Key material imported',
  });
}
