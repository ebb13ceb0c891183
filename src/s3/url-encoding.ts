// S3's encoding-type=url for listings (ListObjects, ListObjectsV2, ListObjectVersions,
// ListMultipartUploads): each key, prefix, delimiter and marker is percent-encoded as a
// URL component, with "/" left readable and a space as %20 — the encoding AWS answers
// (s3-tests' test_bucket_list_encoding_basic: "quux ab/" → "quux%20ab/", "foo+1/" →
// "foo%2B1/"). A literal "+" is encoded, so decoders that read "+" as a space (botocore's
// unquote_plus) and those that do not (decodeURIComponent) both get the key back.

export function s3UrlEncode(s: string): string {
  return encodeURIComponent(s).replace(/%2F/g, '/').replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** The encoding-type query parameter's encoder: identity without it; the caller has validated it is "url". */
export function listingEncoder(encodingType: string | null | undefined): (s: string) => string {
  return encodingType === null || encodingType === undefined ? (s) => s : s3UrlEncode;
}
