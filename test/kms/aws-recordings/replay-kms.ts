// The comparison half of the AWS KMS recording replay (aws-recordings-kms.test.ts): a
// recorded step is a boto3-parsed response from real AWS in LocalStack's snapshot format
// (placeholders such as "<key-arn>", redactions such as "ciphertext-blob"); an observed
// step is the JS SDK's answer from Coffer, put in the same shape. Compared: the HTTP status,
// the error code and message (placeholders match any text), the response members (names
// both ways, literal values exactly). Every difference reads "scenario/step: what".

import type { KMSClient, KeyMetadata, CreateKeyCommandInput } from '@aws-sdk/client-kms';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import type { Json } from '../../s3/aws-recordings/replay.js';

export type { Json };

export function toJson(v: unknown): Json | undefined {
  if (v === undefined) return undefined;
  if (v instanceof Date) return 'datetime';
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map((x) => toJson(x) ?? null);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, Json> = {};
    for (const [k, x] of Object.entries(v)) {
      const j = toJson(x);
      if (j !== undefined) out[k] = j;
    }
    return out;
  }
  return v as Json;
}

export type Observed = Record<string, Json>;

export async function observe(p: Promise<unknown>): Promise<Observed> {
  try {
    const { $metadata, ...rest } = (await p) as Record<string, unknown> & { $metadata: { httpStatusCode?: number } };
    return { ...(toJson(rest) as Observed), ResponseMetadata: { HTTPHeaders: {}, HTTPStatusCode: $metadata.httpStatusCode ?? 0 } };
  } catch (e) {
    const err = e as Error & { $metadata?: { httpStatusCode?: number } };
    if (err.$metadata === undefined) throw e;
    // The JS SDK puts "UnknownError" where the body's message is empty (boto3 keeps "").
    return { Error: { Code: err.name, Message: err.message === 'UnknownError' ? '' : err.message }, ResponseMetadata: { HTTPHeaders: {}, HTTPStatusCode: err.$metadata.httpStatusCode ?? 0 } };
  }
}

/** CreateKey as LocalStack's kms_create_key fixture returns it: the KeyMetadata alone. */
export async function createKey(kms: KMSClient, input: CreateKeyCommandInput = {}): Promise<KeyMetadata> {
  return (await kms.send(new CreateKeyCommand(input))).KeyMetadata!;
}
export const flat = (md: KeyMetadata): Observed => toJson(md) as Observed;

// LocalStack's redactions of values (snapshot transformers): any value of the kind matches.
const REDACTED = new Set(['datetime', 'ciphertext-blob', 'plaintext', 'shared-secret', 'public-key', 'import-token', 'private-key-ciphertext-blob', 'private-key-plaintext']);

export class KmsReplay {
  readonly diffs: string[] = [];
  constructor(readonly name: string, private readonly recorded: Record<string, Json>) {}

  compare(step: string, observed: Observed | number | Json[]): void {
    const where = `${this.name}/${step}`;
    if (!(step in this.recorded)) {
      this.diffs.push(`${where}: no such step in the recording`);
      return;
    }
    const rec = this.recorded[step]!;
    if (rec !== null && typeof rec === 'object' && !Array.isArray(rec) && 'Error' in rec) {
      const o = observed as Observed;
      const re = rec.Error as { Code: string; Message: string };
      const oe = o.Error as { Code: string; Message: string } | undefined;
      if (!oe) {
        this.diffs.push(`${where}: succeeded, AWS ${re.Code}: ${re.Message}`);
        return;
      }
      if (oe.Code !== re.Code) this.diffs.push(`${where}: ${oe.Code} (${oe.Message}), AWS ${re.Code} (${re.Message})`);
      else if (!matches(re.Message, oe.Message)) this.diffs.push(`${where}: message "${oe.Message}", AWS "${re.Message}"`);
      this.status(where, rec, o);
      return;
    }
    if (!Array.isArray(observed) && typeof observed === 'object' && 'Error' in observed) {
      const oe = observed.Error as { Code: string; Message: string };
      this.diffs.push(`${where}: ${oe.Code} (${oe.Message}) where AWS succeeded`);
      return;
    }
    if (rec !== null && typeof rec === 'object' && !Array.isArray(rec)) this.status(where, rec, observed as Observed);
    this.walk(where, '', strip(rec), Array.isArray(observed) || typeof observed !== 'object' ? observed : strip(observed));
  }

  private status(where: string, rec: Record<string, Json>, o: Observed): void {
    const rs = (rec.ResponseMetadata as { HTTPStatusCode?: number } | undefined)?.HTTPStatusCode;
    const os = (o.ResponseMetadata as { HTTPStatusCode?: number } | undefined)?.HTTPStatusCode;
    if (rs !== undefined && rs !== os) this.diffs.push(`${where}: status ${os}, AWS ${rs}`);
  }

  private walk(where: string, path: string, rec: Json, obs: Json | undefined): void {
    const at = path || '(root)';
    if (obs === undefined) {
      this.diffs.push(`${where}: ${at} missing (AWS: ${JSON.stringify(rec)})`);
      return;
    }
    if (Array.isArray(rec)) {
      if (!Array.isArray(obs) || obs.length !== rec.length) this.diffs.push(`${where}: ${at} is ${JSON.stringify(obs)}, AWS ${JSON.stringify(rec)}`);
      else rec.forEach((r, i) => this.walk(where, `${path}[${i}]`, r, obs[i]));
      return;
    }
    if (rec !== null && typeof rec === 'object') {
      if (obs === null || typeof obs !== 'object' || Array.isArray(obs)) {
        this.diffs.push(`${where}: ${at} is ${JSON.stringify(obs)}, AWS has an object`);
        return;
      }
      for (const k of Object.keys(rec)) this.walk(where, path ? `${path}.${k}` : k, rec[k]!, obs[k]);
      for (const k of Object.keys(obs)) if (!(k in rec)) this.diffs.push(`${where}: ${path ? `${path}.${k}` : k} = ${JSON.stringify(obs[k])} where AWS sends none`);
      return;
    }
    if (typeof rec === 'string' && typeof obs === 'string' && matches(rec, obs)) return;
    if (rec === obs) return;
    this.diffs.push(`${where}: ${at} = ${JSON.stringify(obs)}, AWS ${JSON.stringify(rec)}`);
  }
}

function strip(o: Json): Json {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return o;
  // boto3 adds a lower-case "message" beside Error for modelled exceptions; ResponseMetadata is compared apart.
  return Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'ResponseMetadata' && k !== 'message'));
}

/** A recorded string against an observed one: redactions match anything, placeholders any text, the recording's account any account. */
function matches(rec: string, obs: string): boolean {
  if (REDACTED.has(rec)) return true;
  if (rec === obs) return true;
  if (!/<[^>]+>|111111111111/.test(rec)) return false;
  const pattern = rec.replace(/<[^>]+>|111111111111|[^<1]+|1/g, (part) => {
    if (part.startsWith('<')) return '(.+?)';
    if (part === '111111111111') return '\\d{12}';
    return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return new RegExp(`^${pattern}$`, 's').test(obs);
}


export type Scenario = (r: KmsReplay, param: string[]) => Promise<void>;
