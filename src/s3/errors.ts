// S3's error codes: one table from code to HTTP status and AWS's default message.
// Handlers throw s3Error('NoSuchKey', { Key: key }); the serializer in xml.ts writes
// <Error><Code/><Message/>...<RequestId/></Error>.

import { ServiceError } from '../errors.js';

const TABLE = {
  AccessDenied: [403, 'Access Denied'],
  AccessForbidden: [403, 'CORSResponse: This CORS request is not allowed.'],
  AccessControlListNotSupported: [400, 'The bucket does not allow ACLs'],
  BadRequest: [400, 'Bad Request'],
  BadDigest: [400, 'The Content-MD5 you specified did not match what we received.'],
  BucketAlreadyExists: [409, 'The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.'],
  BucketAlreadyOwnedByYou: [409, 'Your previous request to create the named bucket succeeded and you already own it.'],
  BucketNotEmpty: [409, 'The bucket you tried to delete is not empty'],
  EntityTooLarge: [400, 'Your proposed upload exceeds the maximum allowed size'],
  EntityTooSmall: [400, 'Your proposed upload is smaller than the minimum allowed size'],
  IllegalVersioningConfigurationException: [400, 'The Versioning element must be specified'],
  IllegalLocationConstraintException: [400, 'The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.'],
  // Not an AWS code (S3 never runs out of space): 507 like MinIO's XMinioStorageFull, which
  // SDKs do not retry (they retry 500 and 503). docs/COMPATIBILITY.md.
  InsufficientStorage: [507, 'There is not enough free space on the server to store this request. Delete objects or free disk space, then try again.'],
  IncompleteBody: [400, 'You did not provide the number of bytes specified by the Content-Length HTTP header'],
  InternalError: [500, 'We encountered an internal error. Please try again.'],
  InvalidArgument: [400, 'Invalid Argument'],
  InvalidBucketAclWithBlockPublicAccessError: [400, 'Bucket cannot have public ACLs set with BlockPublicAccess enabled'],
  InvalidBucketAclWithObjectOwnership: [400, "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"],
  InvalidBucketName: [400, 'The specified bucket is not valid.'],
  InvalidEncryptionAlgorithmError: [400, 'The Encryption request you specified is not valid. Supported value: AES256.'],
  InvalidBucketState: [409, 'The request is not valid with the current state of the bucket.'],
  InvalidDigest: [400, 'The Content-MD5 you specified is not valid.'],
  InvalidLocationConstraint: [400, 'The specified location-constraint is not valid'],
  InvalidPart: [400, 'One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.'],
  InvalidPartOrder: [400, 'The list of parts was not in ascending order. Parts must be ordered by part number.'],
  InvalidPartNumber: [416, 'The requested partnumber is not satisfiable'],
  InvalidRange: [416, 'The requested range is not satisfiable'],
  InvalidRequest: [400, 'Invalid Request'],
  InvalidStorageClass: [400, 'The storage class you specified is not valid'],
  InvalidTag: [400, 'The TagValue you have provided is invalid'],
  InvalidURI: [400, "Couldn't parse the specified URI."],
  KeyTooLongError: [400, 'Your key is too long'],
  MalformedACLError: [400, 'The XML you provided was not well-formed or did not validate against our published schema'],
  MalformedPOSTRequest: [400, 'The body of your POST request is not well-formed multipart/form-data.'],
  MalformedPolicy: [400, "Policies must be valid JSON and the first byte must be '{'"],
  MalformedXML: [400, 'The XML you provided was not well-formed or did not validate against our published schema'],
  MetadataTooLarge: [400, 'Your metadata headers exceed the maximum allowed metadata size'],
  MethodNotAllowed: [405, 'The specified method is not allowed against this resource.'],
  MissingContentLength: [411, 'You must provide the Content-Length HTTP header.'],
  MissingSecurityHeader: [400, 'Your request was missing a required header'],
  MissingRequestBodyError: [400, 'Request Body is empty'],
  NoSuchBucket: [404, 'The specified bucket does not exist'],
  NoSuchBucketPolicy: [404, 'The bucket policy does not exist'],
  NoSuchCORSConfiguration: [404, 'The CORS configuration does not exist'],
  NoSuchObjectLockConfiguration: [404, 'The specified object does not have a ObjectLock configuration'],
  NoSuchLifecycleConfiguration: [404, 'The lifecycle configuration does not exist'],
  NoSuchKey: [404, 'The specified key does not exist.'],
  NoSuchPublicAccessBlockConfiguration: [404, 'The public access block configuration was not found'],
  NoSuchTagSet: [404, 'The TagSet does not exist'],
  NoSuchVersion: [404, 'The specified version does not exist.'],
  NoSuchUpload: [404, 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.'],
  ServiceUnavailable: [503, 'Service is unable to handle request.'],
  NotImplemented: [501, 'A header you provided implies functionality that is not implemented'],
  NotModified: [304, 'Not Modified'],
  ObjectLockConfigurationNotFoundError: [404, 'Object Lock configuration does not exist for this bucket'],
  OwnershipControlsNotFoundError: [404, 'The bucket ownership controls were not found'],
  PreconditionFailed: [412, 'At least one of the pre-conditions you specified did not hold'],
  ConditionalRequestConflict: [409, 'The conditional request cannot succeed due to a conflicting operation against this resource.'],
  ServerSideEncryptionConfigurationNotFoundError: [404, 'The server side encryption configuration was not found'],
  SignatureDoesNotMatch: [403, 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'],
  InvalidObjectState: [403, 'The operation is not valid for the object\'s storage class'],
  UnexpectedContent: [400, 'This request does not support content'],
  UnresolvableGrantByEmailAddress: [400, 'The e-mail address you provided does not match any account on record.'],
  XAmzContentSHA256Mismatch: [400, "The provided 'x-amz-content-sha256' header does not match what was computed."],
} as const satisfies Record<string, readonly [number, string]>;

export type S3ErrorCode = keyof typeof TABLE;

export function s3Error(
  code: S3ErrorCode,
  fields: Record<string, string> = {},
  message?: string,
  headers: Record<string, string> = {},
): ServiceError {
  const [status, defaultMessage] = TABLE[code];
  return new ServiceError(code, message ?? defaultMessage, status, fields, headers);
}

export function notImplemented(what: string): ServiceError {
  return s3Error('NotImplemented', {}, `${what} is not implemented by Coffer`);
}

export function invalidArgument(message: string, name?: string, value?: string): ServiceError {
  const fields: Record<string, string> = {};
  if (name !== undefined) fields.ArgumentName = name;
  if (value !== undefined) fields.ArgumentValue = value;
  return s3Error('InvalidArgument', fields, message);
}
