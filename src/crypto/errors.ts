// Errors of the object encryption format. Opening an encrypted object fails in one of
// three kinds, kept apart so tests and logs can tell them apart (STYLE rule 8):
//   'parse'      — the envelope (or the sizes handed in) is not something v1 can read;
//   'auth'       — bytes are present but do not authenticate: a changed byte, a segment
//                  moved, reordered or taken from another part or object, a forged final
//                  flag, bytes after the final segment;
//   'truncation' — the ciphertext stream ended before the last segment it must carry.
// The S3 layer maps every kind to one client error; these messages never reach a client.
// No message ever carries key material or plaintext: fixed text plus indexes and lengths.
// Spec: docs/spec/object-encryption.md.

export type ObjectCryptoFailure = 'parse' | 'auth' | 'truncation';

/** Base class of every failure to open an encrypted object or its envelope. */
export abstract class ObjectCryptoError extends Error {
  abstract readonly kind: ObjectCryptoFailure;
}

/** The envelope is malformed: unknown version or algorithm, bad lengths, unsorted context, trailing bytes. */
export class EnvelopeParseError extends ObjectCryptoError {
  override readonly name = 'EnvelopeParseError';
  readonly kind = 'parse';
}

/** A segment failed AES-GCM authentication, or ciphertext continued past the final segment. */
export class SegmentAuthError extends ObjectCryptoError {
  override readonly name = 'SegmentAuthError';
  readonly kind = 'auth';
}

/** The envelope's context binds it to another place (aws:s3:arn) than the object being read. */
export class EnvelopePlaceError extends ObjectCryptoError {
  override readonly name = 'EnvelopePlaceError';
  readonly kind = 'auth';
}

/** The ciphertext ended before the last segment the read needs was complete. */
export class TruncatedCiphertextError extends ObjectCryptoError {
  override readonly name = 'TruncatedCiphertextError';
  readonly kind = 'truncation';
}
