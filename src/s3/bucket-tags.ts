// A bucket's tags as stored in its config ("tagging", written by ops/bucket-tagging.ts):
// [key, value] pairs in the order they were put. The authorization reads them as
// aws:ResourceTag/<key>.

export const BUCKET_TAGGING_ITEM = 'tagging';

/** A bucket's tags in the order they were put; undefined when it has none. */
export function bucketTagsOf(config: Record<string, string>): Array<[string, string]> | undefined {
  const raw = config[BUCKET_TAGGING_ITEM];
  return raw === undefined ? undefined : (JSON.parse(raw) as Array<[string, string]>);
}
