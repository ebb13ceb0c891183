// `coffer config check`: validates the settings `coffer server` would start with (flags
// given here, COFFER_* variables and their *_FILE variants, the configuration file,
// defaults) and prints each one with where it came from, secrets masked. Exit 1 with the
// configuration error otherwise.

import type { Command } from 'commander';
import { ConfigError, explainConfig } from '../config/config.js';
import { table } from './output.js';

export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('check the server\'s configuration');
  config
    .command('check')
    .description('validate the settings coffer server would use and show where each came from (secrets masked)')
    .option('--config <file>', 'a TOML, YAML or JSON configuration file (env COFFER_CONFIG)')
    .action((opts: { config?: string }) => {
      try {
        const { file, rows } = explainConfig({ config: opts.config });
        process.stdout.write(`configuration file: ${file ?? '(none)'}\n`);
        process.stdout.write(table([['SETTING', 'VALUE', 'FROM'], ...rows.map((r) => [r.env, r.value, r.origin])]));
        process.stdout.write('configuration is valid\n');
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        process.stderr.write(`coffer: error: ${e.message}\n`);
        if (e.hint) process.stderr.write(`coffer: hint: ${e.hint}\n`);
        process.exit(1);
      }
    });
}
