#!/usr/bin/env node
// The `coffer` command. Results go to stdout; diagnostics to stderr as
// "coffer: error: ..." with "coffer: hint:" lines.

import { Command } from 'commander';
import { ConfigError } from '../config/config.js';
import { MakeConfigError } from '../hadoop/make-config.js';
import { registerServerCommand } from './server-command.js';
import { registerUserCommands } from './user-command.js';
import { registerAuditCommands } from './audit-command.js';
import { registerHadoopCommands } from './hadoop-command.js';
import { registerRekeyCommand } from './rekey-command.js';
import { registerLifecycleCommands } from './lifecycle-command.js';
import { registerUsageCommand } from './usage-command.js';
import { registerCheckCommand } from './check-command.js';
import { registerCustodyCommands } from './custody-command.js';
import { registerRotateCommands } from './custody-rotate-command.js';
import { registerBackupCommands } from './backup-command.js';
import { registerConfigCommands } from './config-command.js';
import { registerMigrateCommand } from './migrate-command.js';
import { cofferVersion } from '../version.js';
import { CliError, fail } from './output.js';

const program = new Command();
program.name('coffer').description('S3-compatible object storage with a built-in AWS-KMS-compatible key service');
program.version(cofferVersion(), '-V, --version', 'print the version of coffer');
registerServerCommand(program);
registerUserCommands(program);
registerAuditCommands(program);
registerHadoopCommands(program);
registerRekeyCommand(program);
registerLifecycleCommands(program);
registerUsageCommand(program);
registerCheckCommand(program);
registerCustodyCommands(program);
registerRotateCommands(program.commands.find((c) => c.name() === 'custody')!);
registerBackupCommands(program);
registerConfigCommands(program);
registerMigrateCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CliError || e instanceof ConfigError || e instanceof MakeConfigError) fail(e.message, e.hint);
  const err = e as Error & { hint?: string };
  fail(err.message, err.hint);
}
