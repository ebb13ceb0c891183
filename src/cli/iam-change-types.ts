// The IAM writes of the command line and what they are made with (cli/iam-changes.ts
// opens them; cli/iam-via-server.ts is the way through a running server).

import type { CofferConfig } from '../config/config.js';
import type { RootKeyProvider } from '../custody/root-key.js';
import type { IamStore } from '../iam/store/types.js';

/** What the records name as the source of a change made from the command line. */
export const CLI_SOURCE = 'coffer-cli';

/**
 * The IAM writes of the command line. A conflict (the user exists, has keys left, too
 * many keys) rejects with IamStoreConflict of its kind; "not found" resolves false.
 */
export interface IamChanges {
  /** 'server': through the running server; 'offline': this process holds the lock and records. */
  readonly via: 'server' | 'offline';
  createUser(userName: string): Promise<{ arn: string }>;
  createAccessKey(userName: string): Promise<{ accessKeyId: string; secretAccessKey: string }>;
  deleteAccessKey(userName: string, accessKeyId: string): Promise<boolean>;
  putUserPolicy(userName: string, policyName: string, document: string): Promise<void>;
  deleteUserPolicy(userName: string, policyName: string): Promise<boolean>;
  detachUserPolicy(userName: string, policyArn: string): Promise<boolean>;
  removeUserFromGroup(groupName: string, userName: string): Promise<boolean>;
  deleteUser(userName: string): Promise<boolean>;
  close(): Promise<void>;
}

/** What opening the changes needs from the data directory. */
export interface ChangesContext {
  dataDir: string;
  accountId: string;
  rootKey: RootKeyProvider;
  iam: IamStore;
  config: CofferConfig;
}

/** What the changes apply to: the account, the root key that seals new secrets, the IAM store. */
export type ChangedStores = Pick<ChangesContext, 'accountId' | 'rootKey' | 'iam'>;
