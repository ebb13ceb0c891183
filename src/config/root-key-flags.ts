// The command-line flags that choose where the root key is held (--pkcs11-* and
// --external-kms-*; cli/custody-command.ts adds them to `coffer server` and the custody
// commands), and the COFFER_* variable each stands for (as in sources.ts SETTINGS): a
// flag given wins over its variable (config/config.ts custodyEnv).

/** Each flag (commander's camel-case name) and its variable. */
export const ROOT_KEY_FLAG_VARIABLES = {
  pkcs11Module: 'COFFER_PKCS11_MODULE',
  pkcs11Token: 'COFFER_PKCS11_TOKEN',
  pkcs11Slot: 'COFFER_PKCS11_SLOT',
  pkcs11KeyLabel: 'COFFER_PKCS11_KEY_LABEL',
  pkcs11PinFile: 'COFFER_PKCS11_PIN_FILE',
  externalKmsEndpoint: 'COFFER_EXTERNAL_KMS_ENDPOINT',
  externalKmsRegion: 'COFFER_EXTERNAL_KMS_REGION',
  externalKmsKeyId: 'COFFER_EXTERNAL_KMS_KEY_ID',
} as const;

export type RootKeyFlags = { [K in keyof typeof ROOT_KEY_FLAG_VARIABLES]?: string };

/** The flags given, as the environment variables they stand for. */
export function rootKeyFlagEnv(f: RootKeyFlags): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [flag, variable] of Object.entries(ROOT_KEY_FLAG_VARIABLES)) {
    const v = f[flag as keyof RootKeyFlags];
    if (v !== undefined) out[variable] = v;
  }
  return out;
}
