// An object's tags (ObjectRecord.tags, MultipartUploadRecord.tags): [key, value] pairs in
// the order the client gave them, keys unique. Not a plain object: JavaScript moves
// integer-like keys ("2", "10") ahead of the others, and S3 answers tags in the order
// they were put.
//
// Stored as JSON (the SQLite `tags` columns): the current form is an array of
// [key, value] pairs. Records written before it hold a JSON object of key -> value
// (order as JavaScript kept it); decodeObjectTags reads both, told apart by the JSON
// shape alone (array or object), and every write uses the array form.

/** [key, value] pairs in the order the client gave them; keys are unique. */
export type ObjectTags = ReadonlyArray<readonly [key: string, value: string]>;

export const NO_TAGS: ObjectTags = Object.freeze([]);

/** The stored text of a tag set. */
export function encodeObjectTags(tags: ObjectTags): string {
  return JSON.stringify(tags);
}

/** Reads a stored tag set: an array of [key, value] pairs, or the earlier JSON object. */
export function decodeObjectTags(text: string): ObjectTags {
  const v: unknown = JSON.parse(text);
  if (Array.isArray(v)) {
    return v.map((pair: unknown) => {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
        throw new Error('stored object tags: not a [key, value] pair of strings');
      }
      return [pair[0], pair[1]] as const;
    });
  }
  if (v !== null && typeof v === 'object') {
    return Object.entries(v).map(([k, val]) => {
      if (typeof val !== 'string') throw new Error('stored object tags: a value is not a string');
      return [k, val] as const;
    });
  }
  throw new Error('stored object tags: neither an array of pairs nor an object');
}
