// `coffer custody init --pkcs11`: checks (and with --create-key, creates) the root key in
// a PKCS#11 token, and prints its id and protection. The PIN comes from
// COFFER_PKCS11_PIN_FILE (--pkcs11-pin-file) or COFFER_PKCS11_PIN, never from a flag.

import type { Command } from 'commander';
import { RootKeyConfigError } from '../custody/errors.js';
import { Pkcs11RootKeyProvider } from '../custody/pkcs11-root-key.js';
import { pkcs11Settings } from '../custody/pkcs11-settings.js';
import { CliError } from './output.js';
import { rootKeyFlagEnv, type RootKeyFlags } from '../config/root-key-flags.js';

interface InitOptions extends RootKeyFlags {
  pkcs11?: boolean;
  createKey?: boolean;
}

/** The --pkcs11-* options, shared with `coffer server`. */
export function addPkcs11Options(cmd: Command): Command {
  return cmd
    .option('--pkcs11-module <path>', 'root key in a PKCS#11 token: the module (.so) (env COFFER_PKCS11_MODULE)')
    .option('--pkcs11-token <label>', 'the token\'s label (env COFFER_PKCS11_TOKEN)')
    .option('--pkcs11-slot <id>', 'the token\'s slot id, instead of its label (env COFFER_PKCS11_SLOT)')
    .option('--pkcs11-key-label <label>', 'the root key\'s CKA_LABEL (default coffer-root-key, env COFFER_PKCS11_KEY_LABEL)')
    .option('--pkcs11-pin-file <file>', 'a file (mode 0600) holding the user PIN (env COFFER_PKCS11_PIN_FILE, or the PIN in COFFER_PKCS11_PIN)');
}

/** The --external-kms-* options, shared with `coffer server`; credentials come from the environment only. */
export function addExternalKmsOptions(cmd: Command): Command {
  return cmd
    .option('--external-kms-endpoint <url>', 'root key held by an external AWS-KMS-compatible service at this URL (env COFFER_EXTERNAL_KMS_ENDPOINT; credentials in COFFER_EXTERNAL_KMS_ACCESS_KEY_ID and COFFER_EXTERNAL_KMS_SECRET_ACCESS_KEY_FILE)')
    .option('--external-kms-region <name>', 'the external KMS\'s region (default us-east-1, env COFFER_EXTERNAL_KMS_REGION)')
    .option('--external-kms-key-id <key>', 'the wrapping key there: id, ARN or alias (env COFFER_EXTERNAL_KMS_KEY_ID)');
}

export function registerCustodyCommands(program: Command): void {
  const custody = program.command('custody').description('the root key that protects every key in a data directory');
  addPkcs11Options(
    custody
      .command('init')
      .description('check the root key in a PKCS#11 token, or create it there with --create-key (AES-256, non-extractable)')
      .option('--pkcs11', 'use a PKCS#11 token (the only provider this command sets up so far)')
      .option('--create-key', 'generate the key in the token if it has none with that label'),
  ).action((o: InitOptions) => {
    if (!o.pkcs11) throw new CliError('say which provider to set up', 'use: coffer custody init --pkcs11 --pkcs11-module PATH --pkcs11-token LABEL --pkcs11-pin-file FILE [--create-key]');
    const env: Record<string, string | undefined> = { ...process.env, ...rootKeyFlagEnv(o) };
    try {
      const { provider, created } = Pkcs11RootKeyProvider.open(pkcs11Settings(env), { create: o.createKey === true });
      const a = provider.attributes();
      provider.close();
      process.stdout.write(
        `${created ? 'created' : 'found'} root key ${provider.id} (${provider.where})\n` +
          `  extractable: ${a.extractable ? 'YES (unsafe: the key can leave the token)' : 'no'}, sensitive: ${a.sensitive ? 'yes' : 'no'}, on the token: ${a.token ? 'yes' : 'no'}\n` +
          'start the server with the same --pkcs11-* settings (or COFFER_PKCS11_* variables); its first start records this key in the data directory\n',
      );
      if (a.extractable || !a.sensitive) process.exitCode = 1;
    } catch (e) {
      if (e instanceof RootKeyConfigError) throw new CliError(e.message, e.hint);
      throw e;
    }
  });
}
