// The command-line flags that choose where the root key is held (--pkcs11-* and
// --external-kms-*; cli/custody-command.ts adds them to `coffer server` and the custody
// commands), and the COFFER_* variables each stands for: a flag given wins over its
// variable (config/config.ts custodyEnv).

export interface RootKeyFlags {
  pkcs11Module?: string;
  pkcs11Token?: string;
  pkcs11Slot?: string;
  pkcs11KeyLabel?: string;
  pkcs11PinFile?: string;
  externalKmsEndpoint?: string;
  externalKmsRegion?: string;
  externalKmsKeyId?: string;
}

/** The flags given, as the environment variables they stand for. */
export function rootKeyFlagEnv(f: RootKeyFlags): Record<string, string> {
  const vars: Record<string, string | undefined> = {
    COFFER_PKCS11_MODULE: f.pkcs11Module,
    COFFER_PKCS11_TOKEN: f.pkcs11Token,
    COFFER_PKCS11_SLOT: f.pkcs11Slot,
    COFFER_PKCS11_KEY_LABEL: f.pkcs11KeyLabel,
    COFFER_PKCS11_PIN_FILE: f.pkcs11PinFile,
    COFFER_EXTERNAL_KMS_ENDPOINT: f.externalKmsEndpoint,
    COFFER_EXTERNAL_KMS_REGION: f.externalKmsRegion,
    COFFER_EXTERNAL_KMS_KEY_ID: f.externalKmsKeyId,
  };
  return Object.fromEntries(Object.entries(vars).filter((e): e is [string, string] => e[1] !== undefined));
}
