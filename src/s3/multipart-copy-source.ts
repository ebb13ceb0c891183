// The copy source of UploadPartCopy: x-amz-copy-source ("/bucket/key" or "bucket/key",
// URL-encoded, optional ?versionId=) and x-amz-copy-source-range ("bytes=first-last").

import { invalidArgument, notImplemented } from './errors.js';

export interface CopySource {
  bucket: string;
  key: string;
}

export function parseCopySource(raw: string): CopySource {
  let s = raw.trim();
  let versionId: string | undefined;
  const q = s.indexOf('?');
  if (q >= 0) {
    const params = new URLSearchParams(s.slice(q + 1));
    versionId = params.get('versionId') ?? undefined;
    s = s.slice(0, q);
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(s);
  } catch {
    throw invalidCopySource();
  }
  if (decoded.startsWith('/')) decoded = decoded.slice(1);
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) throw invalidCopySource();
  // Buckets are unversioned: only the "null" version exists.
  if (versionId !== undefined && versionId !== 'null') throw notImplemented('Copying a specific object version');
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) };
}

function invalidCopySource(): Error {
  return invalidArgument('Copy Source must mention the source bucket and key: sourcebucket/sourcekey', 'x-amz-copy-source');
}

/** The inclusive byte range to copy, checked against the source size. Undefined copies the whole object. */
export function parseCopySourceRange(raw: string | undefined, sourceSize: number): { start: number; end: number } | undefined {
  if (raw === undefined) return undefined;
  const m = /^bytes=(\d+)-(\d+)$/.exec(raw.trim());
  if (!m || Number(m[1]) > Number(m[2])) {
    throw invalidArgument(
      'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy',
      'x-amz-copy-source-range',
      raw,
    );
  }
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end >= sourceSize) {
    throw invalidArgument(`Range specified is not valid for source object of size: ${sourceSize}`, 'x-amz-copy-source-range', raw);
  }
  return { start, end };
}
