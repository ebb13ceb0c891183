// The envelope: the record stored in an encrypted object's metadata that says how to
// open it — format version, algorithm, segment size, the object id, and the sealed data
// key with what is needed to unseal it (key kind, key id, encryption context, the
// wrapped key). Binary, versioned, strictly parsed: one encoding per envelope, anything
// else is an EnvelopeParseError. Spec: docs/spec/object-encryption.md ("Envelope").
//
//   header   = 0x01 || 0x01 (algorithm) || u32be(65536) || object_id (16)
//              || kind (1) || u16be(len key_id) || key_id || canon(context)
//   envelope = header || u32be(len wrapped_key) || wrapped_key
//
// Every field is authenticated by the step that uses it: version, algorithm and segment
// size are fixed in v1 (any other value is refused); the object id salts the part keys;
// key id, context and wrapped key are authenticated by KMS (its blob names its key and
// binds the context) or, for SSE-S3, by the root-key wrap, whose AAD is sealedKeyAad().

import { EnvelopeParseError } from './errors.js';
import { decodeEncryptionContext, encodeEncryptionContext, type EncryptionContext } from './encryption-context.js';
import { asObjectId, type ObjectId } from './keys.js';
import { OBJECT_ID_LENGTH, SEGMENT_SIZE } from './layout.js';

// Layout of envelope v1. Changing any of these breaks every stored object.
export const ENVELOPE_VERSION = 0x01;
export const ALGORITHM_ID = 0x01;
export const ALGORITHM_NAME = 'AES256-GCM-HKDF-SHA256-STREAM64K';
export const MAX_KEY_ID_LENGTH = 2048;
export const MAX_WRAPPED_KEY_LENGTH = 8192;
export const MAX_ENVELOPE_SIZE = 16384;
// Label from the spec, verbatim. Changing it breaks every SSE-S3 object.
export const SEALED_KEY_LABEL = 'coffer/object-encryption/v1/sealed-key';

const KIND_BYTES = { 'sse-kms': 0x01, 'sse-s3': 0x02, 'sse-kms-bucket-key': 0x03, 'sse-c': 0x04, 'dsse-kms': 0x05 } as const;
/**
 * Who wrapped the data key: Coffer's KMS (SSE-KMS; with an S3 Bucket Key, the bucket key
 * from which the object key is derived; DSSE-KMS, the two layer keys), the server's root
 * key (SSE-S3), or the customer's key (SSE-C).
 */
export type KeyKind = keyof typeof KIND_BYTES;

/** Kinds whose key id names a KMS key (never empty). */
export function isKmsKind(kind: KeyKind): boolean {
  return kind === 'sse-kms' || kind === 'sse-kms-bucket-key' || kind === 'dsse-kms';
}

/** What a writer supplies; encodeEnvelope adds the v1 constants. */
export interface EnvelopeFields {
  objectId: ObjectId;
  kind: KeyKind;
  /** SSE-KMS: the KMS key ARN the data key was generated under (required). SSE-S3: the root key's name, may be empty. */
  keyId: string;
  /** SSE-KMS: the encryption context passed to GenerateDataKey/Decrypt. SSE-S3: the pairs in the wrap AAD. */
  context: EncryptionContext;
  /** The data key as KMS or the root key wrapped it: opaque bytes. */
  wrappedKey: Buffer;
}

export interface ObjectEnvelope extends EnvelopeFields {
  version: typeof ENVELOPE_VERSION;
  algorithm: typeof ALGORITHM_NAME;
  segmentSize: typeof SEGMENT_SIZE;
}

function encodeHeader(f: EnvelopeFields): Buffer {
  asObjectId(f.objectId);
  const kind = KIND_BYTES[f.kind];
  if (kind === undefined) throw new RangeError(`envelope kind must be one of ${Object.keys(KIND_BYTES).join(', ')}`);
  if (typeof f.keyId !== 'string') throw new RangeError('envelope key id must be a string');
  const keyId = Buffer.from(f.keyId, 'utf8');
  if (keyId.toString('utf8') !== f.keyId) throw new RangeError('envelope key id must be well-formed Unicode');
  if (keyId.length > MAX_KEY_ID_LENGTH || (isKmsKind(f.kind) && keyId.length === 0)) {
    throw new RangeError(`envelope key id must be ${isKmsKind(f.kind) ? 1 : 0} to ${MAX_KEY_ID_LENGTH} bytes`);
  }
  const fixed = Buffer.alloc(1 + 1 + 4 + OBJECT_ID_LENGTH + 1 + 2);
  let off = fixed.writeUInt8(ENVELOPE_VERSION, 0);
  off = fixed.writeUInt8(ALGORITHM_ID, off);
  off = fixed.writeUInt32BE(SEGMENT_SIZE, off);
  off += f.objectId.copy(fixed, off);
  off = fixed.writeUInt8(kind, off);
  fixed.writeUInt16BE(keyId.length, off);
  return Buffer.concat([fixed, keyId, encodeEncryptionContext(f.context)]);
}

/** Encodes a v1 envelope. Throws RangeError for fields no v1 envelope can hold. */
export function encodeEnvelope(f: EnvelopeFields): Buffer {
  const header = encodeHeader(f);
  if (!Buffer.isBuffer(f.wrappedKey) || f.wrappedKey.length === 0 || f.wrappedKey.length > MAX_WRAPPED_KEY_LENGTH) {
    throw new RangeError(`envelope wrapped key must be 1 to ${MAX_WRAPPED_KEY_LENGTH} bytes`);
  }
  const len = Buffer.alloc(4);
  len.writeUInt32BE(f.wrappedKey.length);
  const out = Buffer.concat([header, len, f.wrappedKey]);
  if (out.length > MAX_ENVELOPE_SIZE) throw new RangeError(`an envelope is at most ${MAX_ENVELOPE_SIZE} bytes`);
  return out;
}

/**
 * The AAD for wrapping an SSE-S3 data key under the root key: SEALED_KEY_LABEL || header,
 * i.e. every envelope field but the wrapped key itself. Changing any of them makes the
 * unwrap fail.
 */
export function sealedKeyAad(f: EnvelopeFields): Buffer {
  return Buffer.concat([SEALED_KEY_LABEL_BYTES, encodeHeader(f)]);
}
const SEALED_KEY_LABEL_BYTES = Buffer.from(SEALED_KEY_LABEL, 'ascii');

/** A decoded envelope with the AAD of its sealed key, as decodeEnvelopeWithAad() returns them. */
export interface EnvelopeWithAad {
  envelope: ObjectEnvelope;
  /** sealedKeyAad(envelope): SEALED_KEY_LABEL || the envelope's own header bytes. */
  aad: Buffer;
}

/**
 * decodeEnvelope(), and sealedKeyAad() of the result taken from the bytes themselves: the
 * decoder accepts only the canonical encoding, so the header it read is byte for byte the
 * header encodeHeader() would write again for the fields it returns (test/crypto pins it).
 * Saves an SSE-S3 or SSE-C read re-encoding the header (key id and context checked and
 * copied again) for every object it opens.
 */
export function decodeEnvelopeWithAad(bytes: Buffer): EnvelopeWithAad {
  const { envelope, headerEnd } = decode(bytes);
  return { envelope, aad: Buffer.concat([SEALED_KEY_LABEL_BYTES, bytes.subarray(0, headerEnd)]) };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes a v1 envelope. Throws EnvelopeParseError for anything but a canonical v1 encoding. */
export function decodeEnvelope(bytes: Buffer): ObjectEnvelope {
  return decode(bytes).envelope;
}

/** Kind byte → kind (index 0 unused). */
const KINDS_BY_BYTE: (KeyKind | undefined)[] = [];
for (const k of Object.keys(KIND_BYTES) as KeyKind[]) KINDS_BY_BYTE[KIND_BYTES[k]] = k;

function decode(bytes: Buffer): { envelope: ObjectEnvelope; headerEnd: number } {
  if (!Buffer.isBuffer(bytes) || bytes.length === 0) throw new EnvelopeParseError('envelope is empty');
  if (bytes[0] !== ENVELOPE_VERSION) throw new EnvelopeParseError(`unknown envelope version ${bytes[0]}`);
  if (bytes.length > MAX_ENVELOPE_SIZE) throw new EnvelopeParseError(`envelope is longer than ${MAX_ENVELOPE_SIZE} bytes`);
  const fixedEnd = 1 + 1 + 4 + OBJECT_ID_LENGTH + 1 + 2;
  if (bytes.length < fixedEnd) throw new EnvelopeParseError('envelope ends inside its fixed fields');
  if (bytes[1] !== ALGORITHM_ID) throw new EnvelopeParseError(`unknown algorithm ${bytes[1]}`);
  if (bytes.readUInt32BE(2) !== SEGMENT_SIZE) throw new EnvelopeParseError(`segment size ${bytes.readUInt32BE(2)} is not ${SEGMENT_SIZE}`);
  const objectId = asObjectId(Buffer.from(bytes.subarray(6, 6 + OBJECT_ID_LENGTH)));
  const kindByte = bytes[6 + OBJECT_ID_LENGTH];
  const kind = KINDS_BY_BYTE[kindByte!];
  if (!kind) throw new EnvelopeParseError(`unknown key kind ${kindByte}`);
  const keyIdLength = bytes.readUInt16BE(fixedEnd - 2);
  if (keyIdLength > MAX_KEY_ID_LENGTH || (isKmsKind(kind) && keyIdLength === 0)) throw new EnvelopeParseError(`key id length ${keyIdLength} is out of range`);
  if (fixedEnd + keyIdLength > bytes.length) throw new EnvelopeParseError('key id runs past the end of the envelope');
  let keyId: string;
  try {
    keyId = strictUtf8.decode(bytes.subarray(fixedEnd, fixedEnd + keyIdLength));
  } catch {
    throw new EnvelopeParseError('key id is not well-formed UTF-8');
  }
  const { context, end } = decodeEncryptionContext(bytes, fixedEnd + keyIdLength);
  if (end + 4 > bytes.length) throw new EnvelopeParseError('envelope ends before the wrapped key length');
  const wrappedLength = bytes.readUInt32BE(end);
  if (wrappedLength === 0 || wrappedLength > MAX_WRAPPED_KEY_LENGTH) throw new EnvelopeParseError(`wrapped key length ${wrappedLength} is out of range`);
  if (end + 4 + wrappedLength !== bytes.length) {
    throw new EnvelopeParseError(end + 4 + wrappedLength > bytes.length ? 'wrapped key runs past the end of the envelope' : 'bytes follow the wrapped key');
  }
  const wrappedKey = Buffer.from(bytes.subarray(end + 4));
  return { envelope: { version: ENVELOPE_VERSION, algorithm: ALGORITHM_NAME, segmentSize: SEGMENT_SIZE, objectId, kind, keyId, context, wrappedKey }, headerEnd: end };
}
