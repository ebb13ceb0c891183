// The comparison half of the AWS-recording replay (aws-recordings-s3.test.ts): a recorded
// step is a boto3-parsed response from real AWS (LocalStack's snapshot format, with
// placeholders such as "<key-id:1>" and "datetime"); an observed step is the JS SDK's
// parsed answer from Coffer to the same request, put in the same shape. Every difference
// is reported as "scenario/step: path: what".

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface StepOptions {
  /** ETag values that AWS derives from something other than the body's MD5 (SSE-KMS, SSE-C): compared by shape only. */
  anyEtag?: boolean;
  /** Keys of the recording not compared, each with its reason. */
  ignore?: Record<string, string>;
  /** Only the HTTP status is compared (HEAD errors carry no body; boto3 invents Code/Message from the status). */
  statusOnly?: boolean;
}

export class ScenarioReplay {
  readonly diffs: string[] = [];
  /** Placeholder → value seen first: "<key-id:1>" must be one value everywhere, "<key-id:2>" another. */
  private readonly bound = new Map<string, string>();

  constructor(readonly name: string, private readonly recorded: Record<string, Json>) {}

  compare(step: string, observed: Record<string, Json>, opts: StepOptions = {}): void {
    const rec = this.recorded[step] as Record<string, Json> | undefined;
    if (rec === undefined) {
      this.diffs.push(`${this.name}/${step}: no such step in the recording`);
      return;
    }
    const recStatus = (rec.ResponseMetadata as { HTTPStatusCode?: number } | undefined)?.HTTPStatusCode;
    const obsStatus = (observed.ResponseMetadata as { HTTPStatusCode?: number } | undefined)?.HTTPStatusCode;
    if (recStatus !== undefined && recStatus !== obsStatus) this.diffs.push(`${this.name}/${step}: status ${obsStatus}, AWS ${recStatus}`);
    if (opts.statusOnly) return;
    const strip = (o: Record<string, Json>) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'ResponseMetadata' && !(k in (opts.ignore ?? {}))));
    this.walk(`${this.name}/${step}`, '', strip(rec), strip(observed), opts);
  }

  /** The recorded step itself (e.g. to read a value the replay must reuse). */
  step(step: string): Record<string, Json> {
    return this.recorded[step] as Record<string, Json>;
  }

  private walk(where: string, path: string, rec: Json, obs: Json | undefined, opts: StepOptions): void {
    const at = path || '(root)';
    if (obs === undefined) {
      this.diffs.push(`${where}: ${at} missing (AWS: ${JSON.stringify(rec)})`);
      return;
    }
    if (rec !== null && typeof rec === 'object' && !Array.isArray(rec)) {
      if (obs === null || typeof obs !== 'object' || Array.isArray(obs)) {
        this.diffs.push(`${where}: ${at} is ${JSON.stringify(obs)}, AWS has an object`);
        return;
      }
      for (const k of Object.keys(rec)) this.walk(where, path ? `${path}.${k}` : k, rec[k]!, obs[k], opts);
      for (const k of Object.keys(obs)) if (!(k in rec)) this.diffs.push(`${where}: ${path ? `${path}.${k}` : k} = ${JSON.stringify(obs[k])} where AWS sends none`);
      return;
    }
    if (Array.isArray(rec)) {
      if (!Array.isArray(obs) || obs.length !== rec.length) {
        this.diffs.push(`${where}: ${at} is ${JSON.stringify(obs)}, AWS ${JSON.stringify(rec)}`);
        return;
      }
      rec.forEach((r, i) => this.walk(where, `${path}[${i}]`, r, obs[i], opts));
      return;
    }
    if (typeof rec === 'string' && this.matches(path, rec, obs, opts)) return;
    if (rec === obs) return;
    // boto3 parses ListParts' markers as integers, the JS SDK keeps them as strings.
    if (typeof rec === 'number' && typeof obs === 'string' && String(rec) === obs) return;
    this.diffs.push(`${where}: ${at} = ${JSON.stringify(obs)}, AWS ${JSON.stringify(rec)}`);
  }

  private matches(path: string, rec: string, obs: Json, opts: StepOptions): boolean {
    if (typeof obs !== 'string') return false;
    if (rec === 'datetime') return obs === 'datetime';
    const last = path.split('.').pop()!;
    if (opts.anyEtag && (last === 'ETag' || rec === 'etag' || rec === 'copy-etag')) return /^"?[0-9a-f]{32}(-\d+)?"?$/.test(obs);
    if (rec === 'etag' || rec === 'copy-etag') return /^"[0-9a-f]{32}"$/.test(obs);
    // The recording's account and its SSE-C keys (the MD5 names the key) are identities too.
    if (last === 'SSECustomerKeyMD5') rec = `<sse-c-key-md5:${rec}>`;
    rec = rec.replaceAll(RECORDED_ACCOUNT, '<account>');
    if (!/<[^>]+>/.test(rec)) return false;
    // A recorded value with placeholders: the literal parts must match, each placeholder binds once.
    const names: string[] = [];
    const pattern = rec.replace(/<[^>]+>|[^<]+/g, (part) => {
      if (part.startsWith('<')) {
        names.push(part);
        return '(.+?)';
      }
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    });
    const m = new RegExp(`^${pattern}$`).exec(obs);
    if (!m) return false;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const value = m[i + 1]!;
      // Fixed placeholders of the recording's environment, not identities.
      if (/^<(partition|region|region_\d|bucket|bucket-name:\d+|location:\d+|description:\d+)>$/.test(name)) continue;
      const seen = this.bound.get(name);
      if (seen === undefined) {
        for (const [other, v] of this.bound) {
          if (other === '<account>') continue;
          // The same value under two names: AWS gave two different things, Coffer one.
          if (v === value && kind(other) === kind(name)) return false;
        }
        this.bound.set(name, value);
      } else if (seen !== value) {
        return false;
      }
    }
    return true;
  }
}

const RECORDED_ACCOUNT = '111111111111';

function kind(placeholder: string): string {
  return placeholder.replace(/:\d+>$/, '>');
}
