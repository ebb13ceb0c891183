// Keys: the KMS keys this principal can list, with aliases, state and spec; create (KMS
// material or imported, every spec and usage Coffer makes), alias, describe, enable/disable,
// rotation (automatic and on demand), deletion scheduling, the key policy editor, the public
// key of asymmetric keys and importing material (key-material.ts). All through KMS's own API.

import { kms } from '../api.js';
import type { Route } from '../route.js';
import { downloadPublicKey, importMaterial } from './key-material.js';
import { act, badge, button, clear, dialog, errorBanner, field, formatTime, h, input, mapLimit, mono, pageHeader, panel, prettyJson, select, table, textarea } from '../ui.js';

export interface KeyMetadata {
  KeyId: string;
  Arn: string;
  KeyState: string;
  Enabled: boolean;
  KeySpec?: string;
  KeyUsage?: string;
  Description?: string;
  CreationDate?: number;
  DeletionDate?: number;
  KeyManager?: string;
  Origin?: string;
  MultiRegion?: boolean;
  ExpirationModel?: string;
  ValidTo?: number;
}

interface Alias {
  AliasName: string;
  TargetKeyId?: string;
}

export interface KeyRow {
  meta: KeyMetadata;
  aliases: string[];
}

async function listAll<T>(op: string, field: string, input: Record<string, unknown> = {}): Promise<T[]> {
  const out: T[] = [];
  let marker: string | undefined;
  do {
    const r = await kms<Record<string, unknown>>(op, { ...input, ...(marker ? { Marker: marker } : {}) });
    out.push(...((r[field] as T[] | undefined) ?? []));
    marker = r.Truncated ? (r.NextMarker as string) : undefined;
  } while (marker);
  return out;
}

/** Every key with its metadata and aliases (also the key picker of other pages). */
export async function loadKeys(): Promise<KeyRow[]> {
  // ListKeys is required; a principal that may list keys but not aliases or describe
  // some key still sees the list, with what it may not read left blank.
  const [keys, aliases] = await Promise.all([listAll<{ KeyId: string; KeyArn: string }>('ListKeys', 'Keys'), listAll<Alias>('ListAliases', 'Aliases').catch(() => [] as Alias[])]);
  const metas = await mapLimit(keys, 6, async (k) =>
    kms<{ KeyMetadata: KeyMetadata }>('DescribeKey', { KeyId: k.KeyId }).then(
      (r) => r.KeyMetadata,
      (): KeyMetadata => ({ KeyId: k.KeyId, Arn: k.KeyArn, KeyState: 'Unknown', Enabled: false, Description: 'DescribeKey refused' }),
    ),
  );
  return metas.map((meta) => ({ meta, aliases: aliases.filter((a) => a.TargetKeyId === meta.KeyId).map((a) => a.AliasName) }));
}

export function stateBadge(state: string): HTMLElement {
  const tone = state === 'Enabled' ? 'ok' : state === 'Disabled' || state === 'PendingImport' ? 'warn' : state === 'PendingDeletion' ? 'bad' : 'muted';
  return badge(state, tone);
}

export function keyLabel(k: KeyRow): string {
  return k.aliases[0] ? `${k.aliases[0]} (${k.meta.KeyId.slice(0, 8)}\u2026)` : k.meta.KeyId;
}

/** A key ARN or id → "alias/x (1234abcd…)" when this principal can list keys. */
export function keyNamer(keys: KeyRow[]): (id: string) => string {
  return (id) => {
    const k = keys.find((x) => x.meta.Arn === id || x.meta.KeyId === id || x.aliases.includes(id));
    return k ? keyLabel(k) : id;
  };
}

export async function renderKeys(main: HTMLElement, _route: Route): Promise<void> {
  const errors = h('div', { class: 'errors' });
  const body = h('div', {});
  const refresh = async (): Promise<void> => {
    let rows: KeyRow[];
    try {
      rows = await loadKeys();
    } catch (e) {
      clear(body, errorBanner(e));
      return;
    }
    rows.sort((a, b) => (a.meta.KeyManager === b.meta.KeyManager ? (b.meta.CreationDate ?? 0) - (a.meta.CreationDate ?? 0) : a.meta.KeyManager === 'CUSTOMER' ? -1 : 1));
    clear(
      body,
      table(
        rows,
        [
          { title: 'Alias', cell: (r) => (r.aliases.length ? h('span', { class: 'strong' }, r.aliases.join(', ')) : h('span', { class: 'muted' }, '\u2014')) },
          { title: 'Key ID', cell: (r) => h('a', { href: '#', class: 'mono link', 'data-key': r.meta.KeyId, onclick: (e: Event) => (e.preventDefault(), openKey(r.meta.KeyId, refresh)) }, r.meta.KeyId) },
          { title: 'State', cell: (r) => stateBadge(r.meta.KeyState) },
          { title: 'Spec', cell: (r) => `${r.meta.KeySpec ?? ''}` },
          { title: 'Usage', cell: (r) => r.meta.KeyUsage ?? '' },
          { title: 'Managed by', cell: (r) => (r.meta.KeyManager === 'AWS' ? badge('AWS managed', 'info') : 'Customer') },
          { title: 'Description', class: 'wrap', cell: (r) => h('span', { class: 'muted description', title: r.meta.Description ?? '', 'data-testid': 'key-description' }, r.meta.Description ?? '') },
          { title: 'Created', cell: (r) => h('span', { class: 'nowrap' }, formatTime(r.meta.CreationDate)) },
        ],
        'No KMS keys yet. Create one to encrypt buckets and objects with it.',
        'keys-table',
      ),
    );
  };
  clear(main, pageHeader('Keys', 'KMS keys: create, alias, rotate, disable and manage their policies.', button('Create key', () => void createKey(refresh), 'primary')), errors, body);
  await refresh();
}

async function createKey(refresh: () => Promise<void>): Promise<void> {
  const spec = select('spec', [
    ['SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT', 'Symmetric (AES-256-GCM) \u2014 encrypt/decrypt'],
    ['HMAC_256/GENERATE_VERIFY_MAC', 'HMAC-256 \u2014 generate/verify MAC'],
    ['HMAC_224/GENERATE_VERIFY_MAC', 'HMAC-224 \u2014 generate/verify MAC'],
    ['HMAC_384/GENERATE_VERIFY_MAC', 'HMAC-384 \u2014 generate/verify MAC'],
    ['HMAC_512/GENERATE_VERIFY_MAC', 'HMAC-512 \u2014 generate/verify MAC'],
    ['RSA_2048/ENCRYPT_DECRYPT', 'RSA 2048 \u2014 encrypt/decrypt'],
    ['RSA_3072/ENCRYPT_DECRYPT', 'RSA 3072 \u2014 encrypt/decrypt'],
    ['RSA_4096/ENCRYPT_DECRYPT', 'RSA 4096 \u2014 encrypt/decrypt'],
    ['RSA_2048/SIGN_VERIFY', 'RSA 2048 \u2014 sign/verify'],
    ['RSA_3072/SIGN_VERIFY', 'RSA 3072 \u2014 sign/verify'],
    ['RSA_4096/SIGN_VERIFY', 'RSA 4096 \u2014 sign/verify'],
    ['ECC_NIST_P256/SIGN_VERIFY', 'ECC P-256 \u2014 sign/verify'],
    ['ECC_NIST_P384/SIGN_VERIFY', 'ECC P-384 \u2014 sign/verify'],
    ['ECC_NIST_P521/SIGN_VERIFY', 'ECC P-521 \u2014 sign/verify'],
    ['ECC_SECG_P256K1/SIGN_VERIFY', 'ECC secp256k1 \u2014 sign/verify'],
    ['ECC_NIST_P256/KEY_AGREEMENT', 'ECC P-256 \u2014 key agreement (ECDH)'],
    ['ECC_NIST_P384/KEY_AGREEMENT', 'ECC P-384 \u2014 key agreement (ECDH)'],
    ['ECC_NIST_P521/KEY_AGREEMENT', 'ECC P-521 \u2014 key agreement (ECDH)'],
  ]);
  const origin = select('origin', [
    ['AWS_KMS', 'Made by the KMS'],
    ['EXTERNAL', 'Imported (bring your own key material)'],
  ]);
  const ok = await dialog({
    title: 'Create key',
    submit: 'Create key',
    fields: [field('Alias (optional)', input('alias', { placeholder: 'alias/my-app' }), 'Must start with alias/ (added when missing).'), field('Description', input('description')), field('Key type', spec), field('Key material', origin, 'Imported: the key waits in PendingImport until you import its material.')],
    async run(v) {
      const [KeySpec, KeyUsage] = String(v.get('spec')).split('/');
      const r = await kms<{ KeyMetadata: KeyMetadata }>('CreateKey', { KeySpec, KeyUsage, Origin: v.get('origin'), Description: String(v.get('description') ?? '') });
      let alias = String(v.get('alias') ?? '').trim();
      if (alias) {
        if (!alias.startsWith('alias/')) alias = `alias/${alias}`;
        await kms('CreateAlias', { AliasName: alias, TargetKeyId: r.KeyMetadata.KeyId });
      }
    },
    success: 'Key created',
  });
  if (ok) await refresh();
}

/** The describe panel of one key. */
export async function openKey(keyId: string, refresh: () => Promise<void>): Promise<void> {
  const p = panel('Key details', () => void refresh());
  const reload = (): Promise<void> => openKey(keyId, refresh);
  let meta: KeyMetadata;
  try {
    meta = (await kms<{ KeyMetadata: KeyMetadata }>('DescribeKey', { KeyId: keyId })).KeyMetadata;
  } catch (e) {
    clear(p.errors, errorBanner(e));
    return;
  }
  const aliases = (await kms<{ Aliases: Alias[] }>('ListAliases', { KeyId: meta.KeyId }).catch(() => ({ Aliases: [] }))).Aliases ?? [];
  const rotation = await kms<{ KeyRotationEnabled: boolean; RotationPeriodInDays?: number; NextRotationDate?: number }>('GetKeyRotationStatus', { KeyId: meta.KeyId }).catch((e: unknown) => e);
  const rotations = await kms<{ Rotations?: Array<{ RotationDate?: number; RotationType?: string }> }>('ListKeyRotations', { KeyId: meta.KeyId, Limit: 100 }).then(
    (r) => r.Rotations ?? [],
    () => undefined,
  );
  const run = (what: () => Promise<unknown>, msg: string) => async (): Promise<void> => {
    if (await act(p.errors, what, msg)) await reload();
  };
  const dl = h(
    'dl',
    { class: 'props' },
    ...([
      ['Key ID', mono(meta.KeyId)],
      ['ARN', mono(meta.Arn)],
      ['State', stateBadge(meta.KeyState)],
      ['Spec / usage', `${meta.KeySpec ?? ''} / ${meta.KeyUsage ?? ''}`],
      ['Description', meta.Description || '\u2014'],
      ['Managed by', meta.KeyManager ?? ''],
      ['Key material', materialText(meta)],
      ['Created', formatTime(meta.CreationDate)],
      ['Aliases', aliases.length ? h('span', {}, ...aliases.map((a) => h('span', { class: 'chip' }, a.AliasName))) : '\u2014'],
      ['Automatic rotation', rotation instanceof Error ? h('span', { class: 'muted' }, (rotation as Error).message) : (rotation as { KeyRotationEnabled: boolean }).KeyRotationEnabled ? badge(`On, every ${(rotation as { RotationPeriodInDays?: number }).RotationPeriodInDays ?? 365} days`, 'ok') : badge('Off')],
      ['Rotations', rotationsText(rotations)],
      ...(meta.DeletionDate ? [['Deletion date', h('span', { class: 'text-bad' }, formatTime(meta.DeletionDate))] as [string, HTMLElement]] : []),
    ] as Array<[string, string | HTMLElement]>).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
  );
  const rotationOn = !(rotation instanceof Error) && (rotation as { KeyRotationEnabled: boolean }).KeyRotationEnabled;
  const actions = h(
    'div',
    { class: 'button-row' },
    // Only from the states where AWS allows it (a key pending deletion is neither enabled nor disabled).
    meta.KeyState === 'Disabled' ? button('Enable key', run(() => kms('EnableKey', { KeyId: meta.KeyId }), 'Key enabled'), 'primary') : null,
    meta.KeyState === 'Enabled' ? button('Disable key', run(() => kms('DisableKey', { KeyId: meta.KeyId }), 'Key disabled'), 'plain') : null,
    meta.Origin === 'EXTERNAL' && meta.KeyState !== 'PendingDeletion' ? button('Import key material', () => void importMaterial(meta.KeyId).then((ok): unknown => ok && reload()), meta.KeyState === 'PendingImport' ? 'primary' : 'plain') : null,
    meta.Origin === 'EXTERNAL' && meta.ExpirationModel ? button('Delete key material', run(() => kms('DeleteImportedKeyMaterial', { KeyId: meta.KeyId }), 'Key material deleted'), 'danger') : null,
    /^(RSA|ECC)_/.test(meta.KeySpec ?? '') && meta.KeyState === 'Enabled' ? button('Download public key', run(() => downloadPublicKey(meta.KeyId), 'Public key downloaded (DER)')) : null,
    button('Add alias', () => void addAlias(meta.KeyId).then((ok): unknown => ok && reload())),
    button(rotationOn ? 'Turn off rotation' : 'Turn on rotation', run(() => kms(rotationOn ? 'DisableKeyRotation' : 'EnableKeyRotation', { KeyId: meta.KeyId }), rotationOn ? 'Automatic rotation off' : 'Automatic rotation on')),
    button('Rotate now', run(() => kms('RotateKeyOnDemand', { KeyId: meta.KeyId }), 'Rotation started')),
    h('a', { class: 'btn btn-plain', href: `#/grants?key=${encodeURIComponent(meta.KeyId)}` }, 'Grants'),
    meta.KeyState === 'PendingDeletion'
      ? button('Cancel deletion', run(() => kms('CancelKeyDeletion', { KeyId: meta.KeyId }), 'Deletion cancelled (the key is disabled)'))
      : button('Schedule deletion', () => void scheduleDeletion(meta.KeyId).then((ok): unknown => ok && reload()), 'danger'),
  );
  clear(p.body, dl, actions, h('h3', {}, 'Key policy'), await policyEditor(meta.KeyId, p.errors));
}

/** Where the material came from and, for imported material, whether and when it expires. */
function materialText(meta: KeyMetadata): string {
  if (meta.Origin !== 'EXTERNAL') return 'made by the KMS';
  if (meta.KeyState === 'PendingImport') return 'imported \u2014 waiting for key material';
  if (meta.ExpirationModel === 'KEY_MATERIAL_EXPIRES') return `imported \u2014 expires ${formatTime(meta.ValidTo)}`;
  return 'imported \u2014 does not expire';
}

/** "2 — last 2026-11-27 10:00:00Z (ON_DEMAND)"; the first entry of ListKeyRotations may be the original material (no date). */
function rotationsText(rotations: Array<{ RotationDate?: number; RotationType?: string }> | undefined): string | HTMLElement {
  if (rotations === undefined) return '\u2014';
  const done = rotations.filter((x) => x.RotationDate !== undefined).sort((a, b) => b.RotationDate! - a.RotationDate!);
  if (done.length === 0) return 'none yet';
  return h('span', { 'data-testid': 'rotations' }, `${done.length} \u2014 last ${formatTime(done[0]!.RotationDate)}${done[0]!.RotationType ? ` (${done[0]!.RotationType.toLowerCase().replace('_', '-')})` : ''}`);
}

async function addAlias(keyId: string): Promise<boolean> {
  return dialog({
    title: 'Add alias',
    submit: 'Add alias',
    fields: [field('Alias name', input('alias', { placeholder: 'alias/my-app', required: true }))],
    async run(v) {
      let alias = String(v.get('alias')).trim();
      if (!alias.startsWith('alias/')) alias = `alias/${alias}`;
      await kms('CreateAlias', { AliasName: alias, TargetKeyId: keyId });
    },
    success: 'Alias added',
  });
}

async function scheduleDeletion(keyId: string): Promise<boolean> {
  return dialog({
    title: 'Schedule key deletion',
    submit: 'Schedule deletion',
    danger: true,
    fields: [
      h('p', {}, 'After the waiting period the key and its material are deleted, and everything encrypted under it can no longer be decrypted. Until then you can cancel.'),
      field('Waiting period (days)', input('days', { type: 'number', min: 7, max: 30, value: 30, required: true })),
    ],
    run: (v) => kms('ScheduleKeyDeletion', { KeyId: keyId, PendingWindowInDays: Number(v.get('days')) }),
    success: 'Deletion scheduled',
  });
}

async function policyEditor(keyId: string, errors: HTMLElement): Promise<HTMLElement> {
  const status = h('div', { class: 'policy-status', 'data-testid': 'policy-status' });
  let text = '';
  try {
    text = (await kms<{ Policy: string }>('GetKeyPolicy', { KeyId: keyId, PolicyName: 'default' })).Policy;
  } catch (e) {
    return errorBanner(e);
  }
  const area = textarea('policy', prettyJson(text), { class: 'code', rows: 16, 'aria-label': 'Key policy' });
  const validate = (): boolean => {
    try {
      const v = JSON.parse(area.value) as unknown;
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('A policy is a JSON object.');
      clear(status, badge('Valid JSON', 'ok'));
      return true;
    } catch (e) {
      clear(status, h('span', { class: 'text-bad' }, `Invalid JSON: ${(e as Error).message}`));
      return false;
    }
  };
  area.addEventListener('input', () => clear(status));
  return h(
    'div',
    { class: 'policy-editor' },
    area,
    h(
      'div',
      { class: 'button-row' },
      button('Validate', () => void validate()),
      button('Format', () => {
        if (validate()) area.value = prettyJson(area.value);
      }),
      button(
        'Save policy',
        () => {
          if (!validate()) return;
          void act(errors, () => kms('PutKeyPolicy', { KeyId: keyId, PolicyName: 'default', Policy: area.value }), 'Key policy saved');
        },
        'primary',
      ),
      status,
    ),
  );
}

