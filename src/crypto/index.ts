// Coffer's object encryption format, v1 (docs/spec/object-encryption.md). The S3 layer
// imports from here only. The flow, for a single-part SSE-KMS PUT and GET:
//
//   PUT   dk, wrapped   := KMS.GenerateDataKey(keyId, context)    (SSE-S3: dk := newObjectKey(),
//                                                                  wrapped := root.wrap(dk, sealedKeyAad(fields)))
//         objectId      := newObjectId()
//         metadata      <- encodeEnvelope({ objectId, kind, keyId, context, wrappedKey: wrapped })
//         partKey       := derivePartKey(dk, objectId, 0)          (part n of a multipart upload: n)
//         blob          <- createEncryptStream(partKey)(body)      (ciphertextSize(size) bytes)
//   GET   env           := decodeEnvelope(metadata)                (EnvelopeParseError)
//         dk            := KMS.Decrypt(env.wrappedKey, env.context) (KMS authenticates key id and context)
//         r             := segmentRange(start, end, size)          (whole object: 0, size, size)
//         body          <- createDecryptStream(derivePartKey(dk, env.objectId, 0), { plaintextSize: size, ...r })
//                            (blob bytes r.cipherStart .. r.cipherEnd)
//   multipart: each part is its own stream under its own part key; CompleteMultipartUpload
//   stores partListTag(dk, objectId, parts), and a GET verifies it before sending a byte.

export * from './errors.js';
export * from './layout.js';
export * from './keys.js';
export { segmentNonce, openSegment } from './segment.js';
export * from './encrypt-stream.js';
export * from './decrypt-stream.js';
export * from './encryption-context.js';
export * from './envelope.js';
export * from './part-list.js';
export * from './key-wrap.js';
export * from './offloaded-decrypt.js';
export * from './file-decrypt.js';
