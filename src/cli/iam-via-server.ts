// The command line's IAM changes through the live server that holds the data directory
// (cli/iam-changes.ts): its IAM API, signed with the data directory's root credentials,
// so the server checks, applies and records each change as it does any IAM call.
//
// Where: the URL the server wrote in <data-dir>/coffer.url (backend/server-url.ts), else
// the configured address and port. Before anything is sent, STS GetCallerIdentity must
// name the root of this data directory's account: a port another server took over after
// this one was killed is refused, not written to.

import { readFile } from 'node:fs/promises';
import type { LockHolder } from '../backend/data-dir-lock.js';
import { readServerUrl } from '../backend/server-url.js';
import { loadRootAccount } from '../iam/root-credentials.js';
import { IamStoreConflict, type IamStoreConflictKind } from '../iam/store/types.js';
import { CLI_SOURCE, type ChangesContext, type IamChanges } from './iam-change-types.js';
import { CliError } from './output.js';
import { SignedClient, UnreachableError, type HttpReply } from './signed-client.js';

const IAM_VERSION = '2010-05-08';
const STS_VERSION = '2011-06-15';
/** The conflicts each call may answer that the store would report as IamStoreConflict (any other refusal is the server's, in its words). */
const CONFLICTS: Record<string, readonly IamStoreConflictKind[]> = {
  CreateUser: ['EntityAlreadyExists'],
  CreateAccessKey: ['NoSuchEntity', 'LimitExceeded'],
  PutUserPolicy: ['NoSuchEntity'],
  DeleteUser: ['NoSuchEntity', 'DeleteConflict'],
};
/** A delete's "nothing there". */
const NOT_FOUND: readonly IamStoreConflictKind[] = ['NoSuchEntity'];

export async function openServerChanges(c: ChangesContext, holder: LockHolder): Promise<IamChanges> {
  const who = `a coffer server (process ${holder.pid}${holder.started ? `, started ${holder.started}` : ''})`;
  const endpoint = loopback((await readServerUrl(c.dataDir)) ?? configuredUrl(c));
  let root;
  try {
    root = await loadRootAccount(c.dataDir, { accessKeyId: c.config.rootAccessKeyId, secretAccessKey: c.config.rootSecretAccessKey });
  } catch {
    throw new CliError(
      `${who} holds ${c.dataDir}: the change must go through it, signed with the root credentials, and this process has none`,
      'set COFFER_ROOT_ACCESS_KEY_ID and COFFER_ROOT_SECRET_ACCESS_KEY as the server has them, or stop the server and run the command again',
    );
  }
  // The server's certificate, when this process is configured with it (a self-signed one is its own CA).
  const pinnedCert = endpoint.startsWith('https:') && c.config.tlsCert ? await readFile(c.config.tlsCert).catch(() => undefined) : undefined;
  const client = new SignedClient({
    endpoint, region: 'us-east-1', userAgent: CLI_SOURCE, ...(pinnedCert ? { pinnedCert } : {}),
    credentials: { accessKeyId: root.credential.accessKeyId, secretAccessKey: root.credential.secretAccessKey },
  });
  try {
    const reply = await client.query('sts', { Action: 'GetCallerIdentity', Version: STS_VERSION });
    const account = /<Account>(\d{12})<\/Account>/.exec(reply.body)?.[1];
    if (reply.status !== 200 || account !== c.accountId || !/<Arn>arn:aws:iam::\d{12}:root<\/Arn>/.test(reply.body)) {
      const e = reply.status !== 200 ? queryErrorOf(reply) : { code: 'account', message: `it answers for account ${account ?? '(none)'}, not ${c.accountId}` };
      throw new CliError(`${who} holds ${c.dataDir}, but ${endpoint} does not take its root credentials: ${e.code}: ${e.message}`, STOP_HINT);
    }
  } catch (e) {
    client.close();
    if (e instanceof UnreachableError) {
      throw new CliError(`${who} holds ${c.dataDir}, but it cannot be reached at ${endpoint}: ${e.message}`, STOP_HINT);
    }
    throw e;
  }
  return new ServerChanges(client);
}

const STOP_HINT = 'IAM changes beside a running server go through it, so that its audit log records them: check that the server listens at the address in coffer.url (else the configured --address and --port), or stop it and run the command again';

/** The configured address and port, as the server would listen there. */
function configuredUrl(c: ChangesContext): string {
  const host = c.config.address.includes(':') ? `[${c.config.address}]` : c.config.address;
  return `${c.config.tlsCert ? 'https' : 'http'}://${host}:${c.config.port}`;
}

/** A server listening on every address is reached on loopback. */
function loopback(url: string): string {
  return url.replace('://0.0.0.0:', '://127.0.0.1:').replace('://[::]:', '://[::1]:');
}

function queryErrorOf(reply: HttpReply): { code: string; message: string } {
  const code = /<Code>([^<]{1,128})<\/Code>/.exec(reply.body)?.[1];
  const message = /<Message>([^<]{0,1024})<\/Message>/.exec(reply.body)?.[1];
  return code ? { code, message: unescapeXml(message ?? '') } : { code: `HTTP ${reply.status}`, message: reply.body.slice(0, 200) };
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp);/g, (_, n: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[n]!);
}

class ServerChanges implements IamChanges {
  readonly via = 'server';

  constructor(private readonly client: SignedClient) {}

  async createUser(userName: string): Promise<{ arn: string }> {
    const body = await this.call('CreateUser', { UserName: userName });
    const arn = /<Arn>([^<]{1,2048})<\/Arn>/.exec(body)?.[1];
    if (!arn) throw new CliError(`${this.client.endpoint}: CreateUser answered without the user's ARN`);
    return { arn: unescapeXml(arn) };
  }

  async createAccessKey(userName: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
    const body = await this.call('CreateAccessKey', { UserName: userName });
    const accessKeyId = /<AccessKeyId>([A-Z0-9]{16,128})<\/AccessKeyId>/.exec(body)?.[1];
    const secretAccessKey = /<SecretAccessKey>([^<]{1,256})<\/SecretAccessKey>/.exec(body)?.[1];
    if (!accessKeyId || !secretAccessKey) throw new CliError(`${this.client.endpoint}: CreateAccessKey answered without the access key`);
    return { accessKeyId, secretAccessKey: unescapeXml(secretAccessKey) };
  }

  deleteAccessKey(userName: string, accessKeyId: string): Promise<boolean> {
    return this.found('DeleteAccessKey', { UserName: userName, AccessKeyId: accessKeyId });
  }

  async putUserPolicy(userName: string, policyName: string, document: string): Promise<void> {
    await this.call('PutUserPolicy', { UserName: userName, PolicyName: policyName, PolicyDocument: document });
  }

  deleteUserPolicy(userName: string, policyName: string): Promise<boolean> {
    return this.found('DeleteUserPolicy', { UserName: userName, PolicyName: policyName });
  }

  detachUserPolicy(userName: string, policyArn: string): Promise<boolean> {
    return this.found('DetachUserPolicy', { UserName: userName, PolicyArn: policyArn });
  }

  removeUserFromGroup(groupName: string, userName: string): Promise<boolean> {
    return this.found('RemoveUserFromGroup', { GroupName: groupName, UserName: userName });
  }

  deleteUser(userName: string): Promise<boolean> {
    return this.found('DeleteUser', { UserName: userName });
  }

  async close(): Promise<void> {
    this.client.close();
  }

  /** A delete: NoSuchEntity resolves false, as the store's "nothing there". */
  private async found(action: string, form: Record<string, string>): Promise<boolean> {
    try {
      await this.call(action, form);
      return true;
    } catch (e) {
      if (e instanceof IamStoreConflict && e.kind === 'NoSuchEntity') return false;
      throw e;
    }
  }

  /** One IAM call; a conflict rejects with IamStoreConflict of its kind, any other refusal with a CliError. */
  private async call(action: string, form: Record<string, string>): Promise<string> {
    const reply = await this.client.query('iam', { Action: action, Version: IAM_VERSION, ...form });
    if (reply.status === 200) return reply.body;
    const e = queryErrorOf(reply);
    const kinds: readonly string[] = CONFLICTS[action] ?? NOT_FOUND;
    if (kinds.includes(e.code)) throw new IamStoreConflict(e.code as IamStoreConflictKind, e.message);
    if (e.code === 'MalformedPolicyDocument' || (action === 'PutUserPolicy' && e.code === 'LimitExceeded')) throw new CliError(`malformed policy document: ${e.message}`);
    throw new CliError(`${this.client.endpoint} refused ${action}: ${e.code}: ${e.message}`);
  }
}
