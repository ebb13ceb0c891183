// Fuzz target "xml": the S3 request-body parsers over arbitrary bytes. Byte 0 chooses the
// parser ('0' to '4', any byte mod 5): CompleteMultipartUpload, DeleteObjects,
// PutBucketEncryption, tagging (PutObjectTagging and PostObject's tagging field),
// CreateBucket's configuration; the rest is the body. Every failure must be an S3 error (MalformedXML, InvalidTag, ...).

import { parsePartList } from '../../src/s3/ops/complete-multipart.js';
import { parseDeleteRequest } from '../../src/s3/ops/delete-object.js';
import { parseEncryptionConfiguration } from '../../src/s3/ops/bucket-encryption.js';
import { parseTaggingXml } from '../../src/s3/ops/tagging.js';
import { childText, parseXmlRoot } from '../../src/s3/xml.js';
import type { FuzzTarget } from '../engine.js';
import { typedOutcome } from '../typed.js';
import { mutateXml } from '../structured.js';

const PARSERS: [string, (body: Buffer) => number][] = [
  ['complete-multipart', (b) => parsePartList(b).length],
  ['delete-objects', (b) => parseDeleteRequest(b).objects.length],
  ['bucket-encryption', (b) => (parseEncryptionConfiguration(b).keyId === undefined ? 0 : 1)],
  ['tagging', (b) => parseTaggingXml(parseXmlRoot(b, 'Tagging')).length],
  ['create-bucket', (b) => (childText(parseXmlRoot(b, 'CreateBucketConfiguration'), 'LocationConstraint') ?? '').length],
];

const WORDS = [
  'Part', 'PartNumber', 'ETag', 'ChecksumCRC32', 'ChecksumCRC32C', 'ChecksumSHA1', 'ChecksumSHA256', 'ChecksumCRC64NVME', 'Object', 'Key', 'VersionId', 'Quiet',
  'Rule', 'ApplyServerSideEncryptionByDefault', 'SSEAlgorithm', 'KMSMasterKeyID', 'BucketKeyEnabled', 'BlockedEncryptionTypes', 'EncryptionType', 'TagSet',
  'Tag', 'Value', 'LocationConstraint', 'AES256', 'aws:kms', 'aws:kms:dsse', 'SSE-C', 'NONE', 'true', 'false', '10001', '0', '"etag"', 'EU', 'us-east-1',
];

export const target: FuzzTarget = {
  name: 'xml',
  maxLen: 8192,
  dictionary: [
    '<?xml version="1.0" encoding="UTF-8"?>', ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"', '<CompleteMultipartUpload>', '</CompleteMultipartUpload>', '<Part>', '</Part>',
    '<PartNumber>', '</PartNumber>', '<ETag>', '</ETag>', '<ChecksumCRC32>', '</ChecksumCRC32>', '<ChecksumSHA256>', '<Delete>', '</Delete>', '<Object>', '</Object>', '<Key>', '</Key>',
    '<VersionId>', '</VersionId>', '<Quiet>true</Quiet>', '<ServerSideEncryptionConfiguration>', '<Rule>', '</Rule>', '<ApplyServerSideEncryptionByDefault>',
    '</ApplyServerSideEncryptionByDefault>', '<SSEAlgorithm>aws:kms</SSEAlgorithm>', '<KMSMasterKeyID>', '<BucketKeyEnabled>true</BucketKeyEnabled>',
    '<BlockedEncryptionTypes>', '<EncryptionType>SSE-C</EncryptionType>', '<Tagging>', '<TagSet>', '</TagSet>', '<Tag>', '</Tag>', '<Value>', '</Value>',
    '<CreateBucketConfiguration>', '<LocationConstraint>', '</LocationConstraint>', '<![CDATA[', ']]>', '<!--', '-->', '<!DOCTYPE a [<!ENTITY e "xxxxxxxxxx">]>',
    '&e;', '&amp;', '&lt;', '&#0;', '&#x10FFFF;', '&#xD800;', '<a:', 'xmlns:a="x"', '/>', '<', '>', '</', '"', "'", '=', '__proto__', 'constructor', '#text', '<?pi?>',
  ],
  mutate(rng, input) {
    if (input.length === 0) return undefined;
    const doc = mutateXml(rng, input.subarray(1).toString('utf8'), WORDS);
    return doc === undefined ? undefined : Buffer.concat([input.subarray(0, 1), Buffer.from(doc, 'utf8')]);
  },
  run(data) {
    if (data.length === 0) return 'empty input';
    const [name, parse] = PARSERS[(data[0]! + 2) % PARSERS.length]!;
    try {
      return `ok: ${name} ${Math.min(parse(data.subarray(1)), 3)}`;
    } catch (e) {
      return `${name} ${typedOutcome(e, data.toString('latin1'))}`;
    }
  },
};
