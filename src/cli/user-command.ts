// `coffer user ...`: IAM users with access keys, and their inline identity policies,
// managed from the command line. They are the same users the IAM API serves (same store).
// Reads go to the store; every change goes through AdminContext.changes(), which records
// it in the audit trail as the IAM API's call of the same name (cli/iam-changes.ts).

import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { IamStoreConflict } from '../iam/store/types.js';
import { parsePolicyDocument, PolicyDocumentError } from '../iam/policy/index.js';
import { openDataDir, type AdminContext } from '../data-dir.js';
import { CliError, table } from './output.js';

const USER_NAME = /^[\w+=,.@-]{1,64}$/;
/** IAM's size quota for an inline user policy (iam/api/inline-policies.ts), whitespace not counted. */
const USER_POLICY_MAX = 2048;

async function withData<T>(dir: string | undefined, fn: (a: AdminContext) => Promise<T>): Promise<T> {
  // A cluster node's environment: its IAM is in PostgreSQL, which these commands do not manage
  // (they would read and write a data directory no node uses).
  if (process.env.COFFER_METADATA) {
    throw new CliError(
      'coffer user manages the IAM users of an embedded data directory, and COFFER_METADATA names a cluster database',
      'on a cluster manage users through any node\'s IAM API (`aws iam create-user --user-name NAME --endpoint-url https://NODE`), which records each change in the cluster\'s audit trail; unset COFFER_METADATA to manage a data directory',
    );
  }
  const a = await openDataDir(dir);
  try {
    return await fn(a);
  } finally {
    await a.close();
  }
}

function conflict(e: unknown, name: string): never {
  if (e instanceof IamStoreConflict) {
    if (e.kind === 'EntityAlreadyExists') throw new CliError(`user ${name} already exists`);
    if (e.kind === 'NoSuchEntity') throw new CliError(`no user named ${name}`, 'list users with `coffer user list`');
    if (e.kind === 'DeleteConflict') throw new CliError(`user ${name} still has access keys, policies or groups`, 'use `coffer user delete --force` to remove them too');
    if (e.kind === 'LimitExceeded') throw new CliError(`user ${name} already has the most access keys allowed (2)`);
  }
  throw e;
}

export async function createUserWithKey(a: AdminContext, name: string): Promise<{ arn: string; accessKeyId: string; secretAccessKey: string }> {
  if (!USER_NAME.test(name)) throw new CliError(`invalid user name: ${JSON.stringify(name)}`, 'use 1 to 64 letters, digits and +=,.@_-');
  let arn: string;
  try {
    ({ arn } = await (await a.changes()).createUser(name));
  } catch (e) {
    conflict(e, name);
  }
  const key = await createKey(a, name);
  return { arn, ...key };
}

async function createKey(a: AdminContext, name: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  try {
    return await (await a.changes()).createAccessKey(name);
  } catch (e) {
    conflict(e, name);
  }
}

export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('manage IAM users, their access keys and identity policies');
  const dirOpt = ['--data-dir <dir>', 'data directory (default ./data, env COFFER_DATA_DIR)'] as const;

  user.command('create <name>').description('create a user with an access key (the secret is shown once)').option(...dirOpt)
    .action(async (name: string, o: { dataDir?: string }) => withData(o.dataDir, async (a) => {
      const r = await createUserWithKey(a, name);
      process.stdout.write(`User ${name} created (${r.arn}). Its secret is shown only now:\n  AWS_ACCESS_KEY_ID=${r.accessKeyId}\n  AWS_SECRET_ACCESS_KEY=${r.secretAccessKey}\n`);
    }));

  user.command('list').description('list users').option(...dirOpt)
    .action(async (o: { dataDir?: string }) => withData(o.dataDir, async (a) => {
      const users = await a.iam.listUsers();
      const rows = [['NAME', 'ARN', 'ACCESS KEYS', 'POLICIES', 'CREATED']];
      for (const u of users) {
        const keys = await a.iam.listAccessKeys(u.userName);
        const pols = await a.iam.listUserPolicies(u.userName);
        rows.push([u.userName, u.arn, keys.map((k) => `${k.accessKeyId}${k.status === 'Active' ? '' : ' (inactive)'}`).join(',') || '-', pols.join(',') || '-', new Date(u.createDate).toISOString()]);
      }
      process.stdout.write(table(rows));
    }));

  user.command('delete <name>').description('delete a user').option('--force', 'also delete its access keys and policies, detach its managed policies and leave its groups').option(...dirOpt)
    .action(async (name: string, o: { dataDir?: string; force?: boolean }) => withData(o.dataDir, async (a) => {
      const changes = await a.changes();
      if (o.force) {
        for (const k of await a.iam.listAccessKeys(name)) await changes.deleteAccessKey(name, k.accessKeyId);
        for (const p of await a.iam.listUserPolicies(name)) await changes.deleteUserPolicy(name, p);
        for (const p of await a.iam.policies.attached('user', name)) await changes.detachUserPolicy(name, p.arn);
        for (const g of await a.iam.groups.groupsForUser(name)) await changes.removeUserFromGroup(g.groupName, name);
      }
      let deleted: boolean;
      try {
        deleted = await changes.deleteUser(name);
      } catch (e) {
        conflict(e, name);
      }
      if (!deleted) throw new CliError(`no user named ${name}`, 'list users with `coffer user list`');
      process.stdout.write(`User ${name} deleted.\n`);
    }));

  user.command('add-key <name>').description('add an access key to a user (the secret is shown once)').option(...dirOpt)
    .action(async (name: string, o: { dataDir?: string }) => withData(o.dataDir, async (a) => {
      if (!(await a.iam.getUser(name))) throw new CliError(`no user named ${name}`, 'list users with `coffer user list`');
      const k = await createKey(a, name);
      process.stdout.write(`AWS_ACCESS_KEY_ID=${k.accessKeyId}\nAWS_SECRET_ACCESS_KEY=${k.secretAccessKey}\n`);
    }));

  user.command('remove-key <name> <accessKeyId>').description('delete one of a user\'s access keys').option(...dirOpt)
    .action(async (name: string, id: string, o: { dataDir?: string }) => withData(o.dataDir, async (a) => {
      if (!(await (await a.changes()).deleteAccessKey(name, id))) throw new CliError(`user ${name} has no access key ${id}`);
      process.stdout.write(`Access key ${id} deleted.\n`);
    }));

  const policy = user.command('policy').description('inline identity policies of a user');
  policy.command('put <name> <policyName> <file>').description('attach (or replace) an inline policy from a JSON file (- for stdin)').option(...dirOpt)
    .action(async (name: string, policyName: string, file: string, o: { dataDir?: string }) => withData(o.dataDir, async (a) => {
      const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
      try {
        parsePolicyDocument(text, { kind: 'identity', maxBytes: 2048 * 5 });
      } catch (e) {
        if (e instanceof PolicyDocumentError) throw new CliError(`malformed policy document: ${e.message}`);
        if (e instanceof SyntaxError) throw new CliError(`malformed policy document: ${e.message}`);
        throw e;
      }
      const changes = await a.changes();
      // IAM's quota for a user's inline policy, counted as the API counts it (whitespace not
      // counted). A running server applies it itself (and records the refusal); here it is ours.
      if (changes.via === 'offline' && Buffer.byteLength(text.replace(/\s+/g, ''), 'utf8') > USER_POLICY_MAX) {
        throw new CliError(`malformed policy document: Cannot exceed quota for PolicySize: ${USER_POLICY_MAX}`);
      }
      try {
        await changes.putUserPolicy(name, policyName, text);
      } catch (e) {
        conflict(e, name);
      }
      process.stdout.write(`Policy ${policyName} attached to ${name}.\n`);
    }));
  policy.command('list <name>').description('list a user\'s inline policies').option(...dirOpt)
    .action(async (name: string, o: { dataDir?: string }) => withData(o.dataDir, async (a) => {
      for (const p of await a.iam.listUserPolicies(name)) process.stdout.write(p + '\n');
    }));
  policy.command('get <name> <policyName>').description('print a user\'s inline policy').option(...dirOpt)
    .action(async (name: string, policyName: string, o: { dataDir?: string }) => withData(o.dataDir, async (a) => {
      const p = await a.iam.getUserPolicy(name, policyName);
      if (!p) throw new CliError(`user ${name} has no policy ${policyName}`);
      process.stdout.write(p.document.trimEnd() + '\n');
    }));
  policy.command('delete <name> <policyName>').description('remove a user\'s inline policy').option(...dirOpt)
    .action(async (name: string, policyName: string, o: { dataDir?: string }) => withData(o.dataDir, async (a) => {
      if (!(await (await a.changes()).deleteUserPolicy(name, policyName))) throw new CliError(`user ${name} has no policy ${policyName}`);
      process.stdout.write(`Policy ${policyName} removed from ${name}.\n`);
    }));
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
