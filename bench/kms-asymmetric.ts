// Asymmetric and HMAC requests over the KMS JSON API, beside the symmetric figures of
// kms.ts: Sign and Verify per second with an RSA 2048 key (RSASSA_PSS_SHA_256) and a P-256
// key (ECDSA_SHA_256), and GenerateMac per second with an HMAC_256 key. Messages are
// SHA-256 digests (MessageType DIGEST), as signing clients usually send. No targets: AWS's
// own quotas for these are 500 (RSA) and 300 (ECC) requests per second per account.

import { createHash } from 'node:crypto';
import { measure, runOps } from './measure.js';
import { fmtInt, type Row } from './report.js';

type KmsCall = (operation: string, input: Record<string, unknown>) => Promise<Record<string, unknown>>;

const SCENARIO = 'KMS asymmetric and HMAC';

async function rate(pid: number, n: number, concurrency: number, op: (i: number) => Promise<void>): Promise<{ perSec: number; seconds: number; cpu: number }> {
  await runOps(Math.min(50, n), concurrency, op);
  const m = await measure(pid, () => runOps(n, concurrency, op));
  return { perSec: n / m.seconds, seconds: m.seconds, cpu: m.serverCpu };
}

/** Rows for Sign, Verify (RSA 2048, P-256) and GenerateMac (HMAC_256), `n` requests each. */
export async function benchAsymmetric(call: KmsCall, pid: number, n: number, concurrency: number, label: string): Promise<Row[]> {
  const rows: Row[] = [];
  const digest = createHash('sha256').update('bench message').digest().toString('base64');
  const keyOf = async (KeySpec: string, KeyUsage: string) => ((await call('CreateKey', { KeySpec, KeyUsage, Description: `bench ${KeySpec}` })).KeyMetadata as { Arn: string }).Arn;
  const row = (variant: string, r: { perSec: number; seconds: number; cpu: number }): Row => ({
    scenario: SCENARIO,
    variant: `${label}${variant}`,
    result: `${fmtInt(r.perSec)} req/s (${fmtInt(n)} requests, ${concurrency} in flight, ${r.seconds.toFixed(1)} s; server ${(r.cpu * 100).toFixed(0)}% CPU)`,
    target: '—',
    value: r.perSec,
  });
  for (const [name, spec, alg] of [['RSA 2048', 'RSA_2048', 'RSASSA_PSS_SHA_256'], ['P-256', 'ECC_NIST_P256', 'ECDSA_SHA_256']] as const) {
    const keyId = await keyOf(spec, 'SIGN_VERIFY');
    const base = { KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: alg };
    const signature = (await call('Sign', base)).Signature;
    rows.push(row(`Sign ${name}`, await rate(pid, n, concurrency, async () => void (await call('Sign', base)))));
    rows.push(row(`Verify ${name}`, await rate(pid, n, concurrency, async () => {
      const v = await call('Verify', { ...base, Signature: signature });
      if (v.SignatureValid !== true) throw new Error('Verify failed');
    })));
  }
  const macKey = await keyOf('HMAC_256', 'GENERATE_VERIFY_MAC');
  rows.push(row('GenerateMac HMAC_256', await rate(pid, n, concurrency, async () => void (await call('GenerateMac', { KeyId: macKey, Message: digest, MacAlgorithm: 'HMAC_SHA_256' })))));
  return rows;
}
