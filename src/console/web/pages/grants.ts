// Grants: per key, the grants that give principals its operations (list, create with
// operations and encryption-context constraints, revoke), through KMS's grant API.

import { kms } from '../api.js';
import type { Route } from '../route.js';
import { button, clear, confirmDialog, dialog, errorBanner, field, formatTime, h, input, mono, pageHeader, select, table, textarea } from '../ui.js';
import { keyLabel, loadKeys } from './keys.js';

interface Grant {
  GrantId: string;
  Name?: string;
  GranteePrincipal?: string;
  RetiringPrincipal?: string;
  Operations: string[];
  Constraints?: { EncryptionContextSubset?: Record<string, string>; EncryptionContextEquals?: Record<string, string> };
  CreationDate?: number;
}

const OPERATIONS = ['Decrypt', 'Encrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom', 'ReEncryptTo', 'DescribeKey', 'CreateGrant', 'RetireGrant', 'GenerateMac', 'VerifyMac', 'Sign', 'Verify', 'GetPublicKey'];

export async function renderGrants(main: HTMLElement, route: Route): Promise<void> {
  const keys = await loadKeys();
  const keyId = route.params.get('key') ?? keys.find((k) => k.meta.KeyManager === 'CUSTOMER')?.meta.KeyId ?? '';
  const picker = select('key', keys.map((k) => [k.meta.KeyId, keyLabel(k)]), keyId, { 'aria-label': 'Key' });
  picker.addEventListener('change', () => (location.hash = `#/grants?key=${encodeURIComponent(picker.value)}`));
  const errors = h('div', { class: 'errors' });
  const body = h('div', {});
  const refresh = async (): Promise<void> => {
    if (!keyId) return clear(body, h('div', { class: 'empty' }, 'Create a key first.'));
    let grants: Grant[] = [];
    try {
      let marker: string | undefined;
      do {
        const r = await kms<{ Grants: Grant[]; Truncated?: boolean; NextMarker?: string }>('ListGrants', { KeyId: keyId, ...(marker ? { Marker: marker } : {}) });
        grants.push(...(r.Grants ?? []));
        marker = r.Truncated ? r.NextMarker : undefined;
      } while (marker);
    } catch (e) {
      return clear(body, errorBanner(e));
    }
    clear(
      body,
      table(
        grants,
        [
          { title: 'Grant', cell: (g) => h('div', {}, g.Name ? h('div', { class: 'strong' }, g.Name) : null, mono(g.GrantId.slice(0, 16) + '\u2026')) },
          { title: 'Grantee', cell: (g) => mono(g.GranteePrincipal) },
          { title: 'Operations', cell: (g) => h('span', {}, ...g.Operations.map((o) => h('span', { class: 'chip' }, o))) },
          { title: 'Constraints', cell: (g) => constraintText(g) },
          { title: 'Created', cell: (g) => h('span', { class: 'nowrap' }, formatTime(g.CreationDate)) },
          {
            title: '',
            class: 'right',
            cell: (g) => button('Revoke', () => void confirmDialog('Revoke grant', `Revoke grant ${g.GrantId}? Its grantee loses these operations at once.`, 'Revoke', () => kms('RevokeGrant', { KeyId: keyId, GrantId: g.GrantId }), 'Grant revoked').then((ok): unknown => ok && refresh()), 'danger'),
          },
        ],
        'No grants on this key.',
        'grants-table',
      ),
    );
  };
  clear(
    main,
    pageHeader('Grants', 'Grants give a principal some of a key\u2019s operations, optionally only for a given encryption context.', h('label', { class: 'inline-field' }, 'Key ', picker), button('Create grant', () => void createGrant(keyId).then((ok): unknown => ok && refresh()), 'primary', { disabled: !keyId })),
    errors,
    body,
  );
  await refresh();
}

function constraintText(g: Grant): HTMLElement | string {
  const c = g.Constraints;
  if (!c) return h('span', { class: 'muted' }, 'none');
  const [kind, ctx] = c.EncryptionContextEquals ? ['equals', c.EncryptionContextEquals] : ['includes', c.EncryptionContextSubset ?? {}];
  return h('span', {}, `context ${kind} `, mono(JSON.stringify(ctx)));
}

function createGrant(keyId: string): Promise<boolean> {
  const ops = h('fieldset', { class: 'checks' }, h('legend', {}, 'Operations'), ...OPERATIONS.map((o) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'op', value: o, checked: o === 'Decrypt' || o === 'GenerateDataKey' }), o)));
  return dialog({
    title: 'Create grant',
    submit: 'Create grant',
    fields: [
      field('Grantee principal ARN', input('grantee', { required: true, placeholder: 'arn:aws:iam::123456789012:user/alice' })),
      field('Name (optional)', input('name')),
      ops,
      field('Encryption context constraint', select('ctxKind', [['none', 'None'], ['subset', 'Context must include these pairs'], ['equals', 'Context must equal exactly']])),
      field('Encryption context (JSON object)', textarea('ctx', '', { rows: 3, class: 'code', placeholder: '{"aws:s3:arn": "arn:aws:s3:::my-bucket/*"}' })),
      field('Retiring principal (optional)', input('retiring')),
    ],
    async run(v) {
      const Operations = v.getAll('op').map(String);
      const kind = String(v.get('ctxKind'));
      const raw = String(v.get('ctx') ?? '').trim();
      let Constraints: Record<string, unknown> | undefined;
      if (kind !== 'none') {
        let ctx: unknown;
        try {
          ctx = JSON.parse(raw || '{}');
        } catch (e) {
          throw new Error(`The encryption context is not valid JSON: ${(e as Error).message}`);
        }
        Constraints = kind === 'equals' ? { EncryptionContextEquals: ctx } : { EncryptionContextSubset: ctx };
      }
      const name = String(v.get('name') ?? '').trim();
      const retiring = String(v.get('retiring') ?? '').trim();
      await kms('CreateGrant', { KeyId: keyId, GranteePrincipal: String(v.get('grantee')).trim(), Operations, ...(Constraints ? { Constraints } : {}), ...(name ? { Name: name } : {}), ...(retiring ? { RetiringPrincipal: retiring } : {}) });
    },
    success: 'Grant created',
  });
}
