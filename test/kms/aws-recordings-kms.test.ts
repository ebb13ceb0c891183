// Replays every scenario of the real-AWS KMS recordings
// (../shared/reference/aws-recordings/kms.json: LocalStack's @markers.aws.validated tests of
// tests/aws/services/kms/test_kms.py, run against AWS, responses as boto3 parsed them)
// against a real Coffer server through @aws-sdk/client-kms. Requests are rebuilt from each
// test's steps with our key ids. Per step it compares the HTTP status, the error code and
// message (placeholders such as "<key-arn>" match anything), and the response members
// (names both ways; literal values exactly, LocalStack's placeholders and redactions such as
// "ciphertext-blob" or "datetime" by kind). Differences left are listed in EXPLAINED with the
// reason the recordings give; every listed difference must still occur.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { KmsReplay, type Json, type Scenario } from './aws-recordings/replay-kms.js';
import { importScenarios } from './aws-recordings/scenarios-import.js';
import { keyScenarios } from './aws-recordings/scenarios-keys.js';

/** ../shared beside the checkout; COFFER_SHARED_DIR names it when the tests run from a copy (CI's second Node). */
function recordingsFile(name: string): URL | string {
  const shared = process.env.COFFER_SHARED_DIR;
  return shared ? `${shared}/reference/aws-recordings/${name}` : new URL(`../../../../shared/reference/aws-recordings/${name}`, import.meta.url);
}

const RECORDINGS = JSON.parse(readFileSync(recordingsFile('kms.json'), 'utf8')) as Record<
  string,
  { 'recorded-content': Record<string, Json> }
>;

/**
 * Differences the recordings themselves explain, by "scenario/step" (a step's every
 * difference) with the reason. The test fails if one of them no longer occurs.
 */
const EXPLAINED: Record<string, string> = {
  'test_create_multi_region_key/create_multi_region_key': 'multi-Region keys are not supported: Coffer answers UnsupportedOperationException naming them',
  'test_replicate_key/replicate-key': 'multi-Region keys are not supported (ReplicateKey is UnsupportedOperationException)',
  'test_replicate_key/describe-key-from-region': 'multi-Region keys are not supported: no MultiRegionConfiguration, the key was never replicated',
  'test_replicate_key/describe-replicated-key': 'multi-Region keys are not supported: there is no replica to describe',
  'test_replicate_replica_key_should_fail/fail-replicate-non-primary-key': 'multi-Region keys are not supported: Coffer refuses the first ReplicateKey already, naming the feature',
  'test_get_key_in_different_region/describe-key-diff-region-with-id': 'Coffer serves one region: a request signed for another region is refused at authentication (IncompleteSignatureException naming the expected region), not answered NotFoundException',
  'test_get_key_in_different_region/describe-key-diff-region-with-arn': 'Coffer serves one region: a request signed for another region is refused at authentication (IncompleteSignatureException naming the expected region), not answered NotFoundException',
  'test_replicate_key/describe-key-from-different-region':
    'Coffer serves one region: a request signed for another region is refused at authentication (IncompleteSignatureException), not answered NotFoundException',
  'test_hmac_create_key_invalid_operations/create-hmac-key-invalid-spec': 'recorded 2023-04, before AWS added SM2, ML_DSA_* and ECC_NIST_EDWARDS25519 to the KeySpec enum its message lists',
  'test_hmac_create_key_invalid_operations/create-hmac-key-invalid-key-usage': 'recorded 2023-04, before AWS added KEY_AGREEMENT to the KeyUsage enum its message lists',
  'test_generate_data_key/generate-data-key-result': 'recorded 2023-05, before AWS added KeyMaterialId to the responses (the 2025-09 Decrypt recording has it)',
  'test_generate_data_key_without_plaintext/generate-data-key-without-plaintext': 'recorded 2023-05, before AWS added KeyMaterialId to the responses (the 2025-09 Decrypt recording has it)',
  'test_re_encrypt[SYMMETRIC_DEFAULT-SYMMETRIC_DEFAULT]/test_re_encrypt': 'recorded 2025-06-09, before AWS added SourceKeyMaterialId and DestinationKeyMaterialId (the 2025-09 Decrypt recording has KeyMaterialId)',
  'test_rotate_key_on_demand_raises_error_given_key_with_imported_key_material/error-response':
    'recorded 2025-03-08, before AWS allowed on-demand rotation of imported symmetric keys; the 2025-11 recordings (test_rotate_key_on_demand_raises_for_no_pending_key_material) show today\'s answer, which Coffer gives',
};

/** Scenarios not replayed, with the reason. */
const NOT_REPLAYED: Record<string, string> = {
  'test_sign_verify[ECC_NIST_P256-ECDSA_SHA_384]': 'the recording has no steps (the algorithm does not fit the key: the test never reached a snapshot)',
  'test_sign_verify[ECC_SECG_P256K1-ECDSA_SHA_512]': 'the recording has no steps (the algorithm does not fit the key: the test never reached a snapshot)',
};

let srv: TestServer;
let SCENARIOS: Record<string, Scenario>;
before(async () => {
  srv = await startTestServer();
  SCENARIOS = { ...importScenarios(srv), ...keyScenarios(srv) };
});
after(async () => {
  await srv?.stop();
});

/** "tests/...::TestKMS::test_x[a-b]" → ["test_x", ["a", "b"]] (parameters split on "-", except a MAC message, which is the last and may hold spaces). */
function parseName(full: string): [string, string[]] {
  const short = full.split('::').pop()!;
  const m = /^([^[]+)(?:\[(.*)\])?$/.exec(short)!;
  const params = m[2] === undefined ? [] : m[2].split('-');
  if (m[1] === 'test_invalid_verify_mac') return [m[1], [params[0]!, params[1]!, params.slice(2).join('-')]];
  return [m[1]!, params];
}

test('every scenario of the AWS KMS recordings replays against Coffer; only the explained differences remain', { timeout: 600_000 }, async () => {
  const all: string[] = [];
  const replayed: string[] = [];
  for (const [full, rec] of Object.entries(RECORDINGS)) {
    const short = full.split('::').pop()!;
    if (short in NOT_REPLAYED) continue;
    const [name, params] = parseName(full);
    const scenario = SCENARIOS[name];
    assert.ok(scenario, `no replay written for ${short}`);
    const r = new KmsReplay(short.replace(/\[.*$/, '') + (params.length ? `[${params.join('-')}]` : ''), rec['recorded-content']);
    await scenario(r, params);
    all.push(...r.diffs);
    replayed.push(short);
  }
  const explainedKey = (d: string) => Object.keys(EXPLAINED).find((k) => d.startsWith(`${k}:`));
  const unexplained = all.filter((d) => explainedKey(d) === undefined);
  const stale = Object.keys(EXPLAINED).filter((k) => !all.some((d) => d.startsWith(`${k}:`)));
  assert.equal(replayed.length + Object.keys(NOT_REPLAYED).length, Object.keys(RECORDINGS).length);
  assert.deepEqual(unexplained, [], `${unexplained.length} differences from AWS`);
  assert.deepEqual(stale, [], 'explained differences that no longer occur');
});
