// `coffer custody rotate|migrate --online`: asks the running server to re-seal under a new
// root key (POST /_coffer/api/custody/rotation, backend/reseal/rotation-route.ts) and
// follows it with a progress bar (GET, twice a second) until it reports completion. The
// server does the work; this command can be interrupted and run again to follow a rotation
// in progress. Signed as the principal of the environment's credentials (the root, or one
// allowed coffer:RotateRootKey and coffer:GetRootKeyRotation). `--cancel` (DELETE, allowed
// coffer:CancelRootKeyRotation) cancels a cluster's rotation before its switch.
//
// A migration's new provider is given by the same flags and COFFER_PKCS11_* /
// COFFER_EXTERNAL_KMS_* variables as offline, sent as settings; a PIN or secret key is sent
// only as the name of the file holding it, which the server reads.

import path from 'node:path';
import type { OnlineRotationStatus as Status } from '../backend/reseal/online-rotation.js';
import { ONLINE_SETTINGS } from '../custody/custody-record.js';
import { CliError } from './output.js';
import { ProgressReporter } from './progress.js';
import { SignedClient, UnreachableError, apiError, clientOptionsFromEnv } from './signed-client.js';

export interface OnlineOptions {
  endpoint?: string;
  region?: string;
  profile?: string;
  rate?: string;
  newKeyLabel?: string;
  /** Only follow (or report) a rotation the server runs or ran; never start one. */
  follow?: boolean;
  pollMs?: number;
}

/** Variables that hold a secret: never sent; the matching _FILE variable is. */
const SECRET_VARIABLES = ['COFFER_PKCS11_PIN', 'COFFER_EXTERNAL_KMS_SECRET_ACCESS_KEY', 'COFFER_EXTERNAL_KMS_SESSION_TOKEN'];
const FILE_VARIABLES = new Set(['COFFER_PKCS11_PIN_FILE', 'COFFER_EXTERNAL_KMS_SECRET_ACCESS_KEY_FILE', 'COFFER_EXTERNAL_KMS_SESSION_TOKEN_FILE', 'COFFER_PKCS11_MODULE']);
// preparing and finishing: a cluster's nodes taking up the new key and letting the old one go (backend/reseal/cluster-rotation.ts).
const ACTIVE = new Set(['preparing', 'waiting', 'counting', 'resealing', 'finishing']);

/** The new provider's settings for the server: ONLINE_SETTINGS only, file names made absolute. */
export function onlineSettings(to: string, env: Record<string, string | undefined>): Record<string, string> {
  const prefix = to === 'pkcs11' ? 'COFFER_PKCS11_' : to === 'external-kms' ? 'COFFER_EXTERNAL_KMS_' : undefined;
  if (!prefix) return {};
  for (const v of SECRET_VARIABLES) {
    if (v.startsWith(prefix) && env[v] !== undefined && !env[`${v}_FILE`]) {
      throw new CliError(`${v} cannot be sent to a running server`, `put it in a file (mode 0600) the server can read and name it with ${v}_FILE${v === 'COFFER_PKCS11_PIN' ? ' (--pkcs11-pin-file)' : ''}`);
    }
  }
  const out: Record<string, string> = {};
  for (const k of ONLINE_SETTINGS) {
    const v = env[k];
    if (k.startsWith(prefix) && v !== undefined && v !== '') out[k] = FILE_VARIABLES.has(k) && v.includes('/') ? path.resolve(v) : v;
  }
  return out;
}

/** --rate: a positive number of items per second, or undefined when not given. */
export function parseRate(rate: string | undefined): number | undefined {
  if (rate === undefined) return undefined;
  const n = Number(rate);
  if (!Number.isFinite(n) || n <= 0) throw new CliError(`--rate must be a positive number of items per second, not "${rate}"`);
  return n;
}

export async function runOnline(command: 'rotate' | 'migrate', o: OnlineOptions, body: Record<string, unknown>, env: NodeJS.ProcessEnv): Promise<void> {
  const client = new SignedClient(
    clientOptionsFromEnv(o, env, 'export the server\'s root credentials (or those of a principal allowed coffer:RotateRootKey and coffer:GetRootKeyRotation) as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile with --profile'),
  );
  const rate = parseRate(o.rate);
  if (rate !== undefined) body.itemsPerSecond = rate;
  const call = async (method: 'GET' | 'POST', payload?: unknown): Promise<Status> => {
    const reply = await client.admin(method, 'custody/rotation', payload);
    if (reply.status !== 200) {
      const e = apiError(reply);
      throw new CliError(`${client.endpoint}: ${e.code}: ${e.message}`, e.code === 'UnknownOperation' ? 'the server is older than this CLI: stop it and run the command without --online' : e.code === 'AccessDeniedException' ? 'sign with the root credentials, or a principal allowed coffer:RotateRootKey and coffer:GetRootKeyRotation' : undefined);
    }
    return JSON.parse(reply.body) as Status;
  };

  let status = await call('GET');
  const following = ACTIVE.has(status.state);
  if (!following && o.follow) {
    if (status.state === 'idle') throw new CliError(`${client.endpoint} has run no root-key rotation since it started`, 'start one without --follow');
  } else if (!following) status = await call('POST', { command, ...body });
  if (status.state === 'cancelled') throw new CliError(`the root-key rotation from ${status.from} to ${status.to} was cancelled before its switch`, 'start a new one without --follow');
  if (following) process.stderr.write(`coffer: following the rotation in progress: ${status.from} -> ${status.to}\n`);
  const tty = process.stderr.isTTY === true;
  const progress = new ProgressReporter(process.stderr, () => ({ done: status.done, total: status.total, counting: status.state !== 'resealing', bytes: 0 }), { tty, intervalMs: tty ? 200 : 1000, unit: 'items' });
  progress.start();
  // On a cluster the status says what the rotation waits for (a node without the new key blocks the switch).
  let said = '';
  const say = () => {
    const m = status.message ?? '';
    if (m && m !== said) process.stderr.write(`${tty ? '\n' : ''}coffer: ${m}\n`);
    said = m;
  };
  try {
    say();
    while (ACTIVE.has(status.state)) {
      await new Promise((r) => setTimeout(r, o.pollMs ?? 500));
      try {
        status = await call('GET');
      } catch (e) {
        if (e instanceof UnreachableError) {
          throw new CliError(
            `lost ${client.endpoint} during the rotation (${e.message})`,
            'restart the server with the same settings: it resumes the rotation by itself (both keys stay needed until it completes); follow it with the same command and --follow',
          );
        }
        throw e;
      }
      say();
    }
  } finally {
    progress.stop();
  }
  if (status.state === 'cancelled') throw new CliError(`the rotation from ${status.from} to ${status.to} was cancelled before its switch (coffer custody rotate --online --cancel): every node seals under ${status.from}`);
  if (status.state === 'failed') throw new CliError(`the rotation from ${status.from} to ${status.to} stopped: ${status.error ?? 'unknown error'}`, 'run the same command again: it resumes where it stopped; both root keys are needed until it reports completion');
  if (status.state !== 'completed') throw new CliError(`the server reports the rotation as ${status.state}`);
  const c = status.counts!;
  process.stdout.write(
    `${status.resumed ? 'finished the rotation' : command === 'rotate' ? 'rotated' : 'migrated'} online: root key ${status.from} -> ${status.to}\n` +
      `  ${status.resealed} items re-sealed, ${status.changed} changed under the pass and checked again, in ${status.pass} passes; ${c.kmsMaterial} KMS key material versions, ${c.accessKeys} access keys, ${c.sessions} STS sessions, ${c.objects} SSE-S3 objects, ${c.uploads} uploads\n` +
      (status.notes ?? []).map((n) => `  ${n}\n`).join(''),
  );
}

/** `--online --cancel`: a cluster's rotation before its switch; refused (409) after it, and on one server. */
export async function cancelOnline(o: OnlineOptions, env: NodeJS.ProcessEnv): Promise<void> {
  const client = new SignedClient(
    clientOptionsFromEnv(o, env, 'export the server\'s root credentials (or those of a principal allowed coffer:CancelRootKeyRotation) as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile with --profile'),
  );
  try {
    const reply = await client.admin('DELETE', 'custody/rotation');
    if (reply.status !== 200) {
      const e = apiError(reply);
      const hint = e.code === 'UnknownOperation' || e.code === 'UnknownOperationException' ? 'the server is older than this CLI: it cannot cancel a rotation'
        : e.code === 'AccessDeniedException' ? 'sign with the root credentials, or a principal allowed coffer:CancelRootKeyRotation'
          : /past its switch|must finish/.test(e.message) ? 'follow it to its end: coffer custody rotate --online --follow' : undefined;
      throw new CliError(`${client.endpoint}: ${e.code}: ${e.message}`, hint);
    }
    const s = JSON.parse(reply.body) as Status;
    process.stdout.write(
      `cancelled the root-key rotation from ${s.from} to ${s.to} before its switch: every node drops the new key and seals under ${s.from}\n` +
        '  a new key file a node held stays beside it as <name>.cancelled-<hex>; nothing was sealed under it: delete it\n',
    );
  } finally {
    client.close();
  }
}
