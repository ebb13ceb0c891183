// The resource's own policy for SimulatePrincipalPolicy (iam/api/simulate.ts), found by
// the resource's ARN: a KMS key's key policy (evaluated as KMS does) or a bucket's policy.
// Both live in stores IAM does not own, so it reads them through two lookups that app.ts
// supplies; iam/ imports nothing from kms/ or s3/.

export interface ResourcePolicy {
  text: string;
  /** How the policy is evaluated: a key policy must allow (or delegate to IAM); a bucket policy may. */
  mode: 'kms' | 's3';
}

export interface ResourcePolicySources {
  /** The key policy of the KMS key with this id; undefined when there is no such key. */
  keyPolicy(keyId: string): Promise<string | undefined>;
  /** The policy of the bucket with this name; undefined when it has none or does not exist. */
  bucketPolicy(bucket: string): Promise<string | undefined>;
}

/** Looks up the policy of a KMS key ARN or an S3 bucket or object ARN; undefined for any other ARN. */
export function resourcePolicyLookup(sources: ResourcePolicySources): (arn: string) => Promise<ResourcePolicy | undefined> {
  return async (arn) => {
    const key = /^arn:aws:kms:[^:]*:\d{12}:key\/(.+)$/.exec(arn);
    if (key) {
      const text = await sources.keyPolicy(key[1]!);
      return text === undefined ? undefined : { text, mode: 'kms' };
    }
    const bucket = /^arn:aws:s3:::([^/]+)/.exec(arn);
    if (bucket) {
      const text = await sources.bucketPolicy(bucket[1]!);
      return text === undefined ? undefined : { text, mode: 's3' };
    }
    return undefined;
  };
}
