// Users, groups and roles (IAM): create and delete, access keys (the secret shown once),
// group membership, managed policies attached and detached, inline policies, role
// trust policies, customer managed policies. Through the IAM Query API.

import { child, iam, members, record, textOf } from '../api.js';
import type { Route } from '../route.js';
import { act, badge, button, clear, confirmDialog, dialog, errorBanner, field, formatTime, h, input, mono, pageHeader, panel, prettyJson, select, table, textarea } from '../ui.js';

type Kind = 'User' | 'Group' | 'Role';

const TABS: Array<[string, string]> = [
  ['users', 'Users'],
  ['groups', 'Groups'],
  ['roles', 'Roles'],
  ['policies', 'Policies'],
];

/** IAM answers policy documents URL-encoded. */
function policyText(raw: string | undefined): string {
  if (!raw) return '';
  try {
    return prettyJson(raw.trimStart().startsWith('{') ? raw : decodeURIComponent(raw));
  } catch {
    return raw;
  }
}

/** Every page of an IAM list (IsTruncated/Marker), as flat records. */
async function iamList(action: string, listName: string, params: Record<string, string | undefined> = {}): Promise<Array<Record<string, string>>> {
  const out: Array<Record<string, string>> = [];
  let marker: string | undefined;
  do {
    const r = await iam(action, { ...params, MaxItems: '1000', ...(marker ? { Marker: marker } : {}) });
    out.push(...members(r, listName).map(record));
    marker = child(r, 'IsTruncated')?.textContent === 'true' ? (child(r, 'Marker')?.textContent ?? undefined) : undefined;
  } while (marker);
  return out;
}

function jsonCheck(text: string): void {
  try {
    JSON.parse(text);
  } catch (e) {
    throw new Error(`The policy is not valid JSON: ${(e as Error).message}`);
  }
}

export async function renderIam(main: HTMLElement, route: Route): Promise<void> {
  const tab = TABS.some(([id]) => id === route.parts[1]) ? route.parts[1]! : 'users';
  const tabs = h('div', { class: 'tabs', role: 'tablist' }, ...TABS.map(([id, label]) => h('a', { href: `#/iam/${id}`, role: 'tab', class: id === tab ? 'active' : undefined, 'aria-selected': id === tab ? 'true' : 'false' }, label)));
  const body = h('div', {});
  const create = tab === 'policies' ? createPolicy : tab === 'users' ? createUser : tab === 'groups' ? createGroup : createRole;
  const refresh = async (): Promise<void> => {
    try {
      if (tab === 'policies') return clear(body, await policiesTable(refresh));
      const kind: Kind = tab === 'users' ? 'User' : tab === 'groups' ? 'Group' : 'Role';
      const list = await iamList(`List${kind}s`, `${kind}s`);
      clear(
        body,
        table(
          list,
          [
            { title: 'Name', cell: (r) => h('a', { href: '#', class: 'link strong', onclick: (e: Event) => (e.preventDefault(), void openEntity(kind, r[`${kind}Name`]!, refresh)) }, r[`${kind}Name`]!) },
            { title: 'ARN', cell: (r) => mono(r.Arn) },
            { title: 'Path', cell: (r) => r.Path ?? '/' },
            { title: 'Created', cell: (r) => h('span', { class: 'nowrap' }, formatTime(r.CreateDate)) },
          ],
          `No ${tab} yet.`,
          `${tab}-table`,
        ),
      );
    } catch (e) {
      clear(body, errorBanner(e));
    }
  };
  const label = tab === 'policies' ? 'Create policy' : `Create ${tab.slice(0, -1)}`;
  clear(main, pageHeader('Users, groups & roles', 'Identities that sign requests, and the policies that decide what they may do.', button(label, () => void create().then((ok): unknown => ok && refresh()), 'primary')), tabs, body);
  await refresh();
}

function createUser(): Promise<boolean> {
  return dialog({ title: 'Create user', submit: 'Create user', fields: [field('User name', input('name', { required: true }))], run: (v) => iam('CreateUser', { UserName: String(v.get('name')).trim() }), success: 'User created' });
}

function createGroup(): Promise<boolean> {
  return dialog({ title: 'Create group', submit: 'Create group', fields: [field('Group name', input('name', { required: true }))], run: (v) => iam('CreateGroup', { GroupName: String(v.get('name')).trim() }), success: 'Group created' });
}

const DEFAULT_TRUST = (accountArn: string): string =>
  JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: accountArn }, Action: 'sts:AssumeRole' }] }, null, 2);

function createRole(): Promise<boolean> {
  const account = /arn:aws:(?:iam|sts)::(\d{12})/.exec(document.querySelector('[data-testid=whoami]')?.textContent ?? '')?.[1] ?? '123456789012';
  return dialog({
    title: 'Create role',
    submit: 'Create role',
    fields: [field('Role name', input('name', { required: true })), field('Trust policy (who may assume it)', textarea('trust', DEFAULT_TRUST(`arn:aws:iam::${account}:root`), { class: 'code', rows: 10 }))],
    run(v) {
      const doc = String(v.get('trust'));
      jsonCheck(doc);
      return iam('CreateRole', { RoleName: String(v.get('name')).trim(), AssumeRolePolicyDocument: doc });
    },
    success: 'Role created',
  });
}

function createPolicy(): Promise<boolean> {
  const doc = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:GetObject'], Resource: '*' }] }, null, 2);
  return dialog({
    title: 'Create managed policy',
    submit: 'Create policy',
    fields: [field('Policy name', input('name', { required: true })), field('Description', input('description')), field('Policy document', textarea('doc', doc, { class: 'code', rows: 12 }))],
    run(v) {
      const text = String(v.get('doc'));
      jsonCheck(text);
      const description = String(v.get('description') ?? '').trim();
      return iam('CreatePolicy', { PolicyName: String(v.get('name')).trim(), PolicyDocument: text, ...(description ? { Description: description } : {}) });
    },
    success: 'Policy created',
  });
}

async function policiesTable(refresh: () => Promise<void>): Promise<HTMLElement> {
  const list = await iamList('ListPolicies', 'Policies', { Scope: 'Local' });
  return table(
    list,
    [
      { title: 'Name', cell: (r) => h('span', { class: 'strong' }, r.PolicyName ?? '') },
      { title: 'ARN', cell: (r) => mono(r.Arn) },
      { title: 'Attachments', cell: (r) => r.AttachmentCount ?? '0' },
      { title: 'Version', cell: (r) => r.DefaultVersionId ?? '' },
      {
        title: '',
        class: 'right',
        cell: (r) =>
          h(
            'span',
            { class: 'button-row' },
            button('View', () => void viewPolicy(r.Arn!, r.DefaultVersionId!)),
            button('Delete', () => void confirmDialog('Delete policy', `Delete ${r.PolicyName}? It must be detached everywhere first.`, 'Delete', () => iam('DeletePolicy', { PolicyArn: r.Arn }), 'Policy deleted').then((ok): unknown => ok && refresh()), 'danger'),
          ),
      },
    ],
    'No customer managed policies yet.',
    'policies-table',
  );
}

async function viewPolicy(arn: string, version: string): Promise<void> {
  const p = panel('Managed policy');
  try {
    const v = await iam('GetPolicyVersion', { PolicyArn: arn, VersionId: version });
    clear(p.body, h('p', {}, mono(arn), ' ', badge(version, 'info')), h('pre', { class: 'code-block' }, policyText(textOf(v, 'Document'))));
  } catch (e) {
    clear(p.errors, errorBanner(e));
  }
}

/** The panel of one user, group or role. */
async function openEntity(kind: Kind, name: string, refresh: () => Promise<void>): Promise<void> {
  const p = panel(`${kind}: ${name}`, () => void refresh());
  const reload = (): Promise<void> => openEntity(kind, name, refresh);
  const param = { [`${kind}Name`]: name };
  const sections: HTMLElement[] = [];
  const run = (what: () => Promise<unknown>, msg: string) => async (): Promise<void> => {
    if (await act(p.errors, what, msg)) await reload();
  };
  try {
    const got = await iam(`Get${kind}`, param);
    const entity = got.getElementsByTagName(kind)[0];
    sections.push(h('p', {}, mono(entity ? textOf(entity, 'Arn') : '')));
    if (kind === 'User') sections.push(await accessKeysSection(name, p.errors, reload), await userGroupsSection(name, run));
    if (kind === 'Group') sections.push(groupMembersSection(name, members(got, 'Users').map(record), run));
    if (kind === 'Role') sections.push(trustSection(name, policyText(entity ? textOf(entity, 'AssumeRolePolicyDocument') : ''), p.errors));
    sections.push(await attachedSection(kind, name, run), await inlineSection(kind, name, run));
    sections.push(h('div', { class: 'button-row danger-zone' }, button(`Delete ${kind.toLowerCase()}`, () => void confirmDialog(`Delete ${kind.toLowerCase()}`, `Delete ${name}? Its access keys, memberships and policies must be removed first.`, 'Delete', () => iam(`Delete${kind}`, param), `${kind} deleted`).then((ok): unknown => ok && (p.close(), refresh())), 'danger')));
  } catch (e) {
    clear(p.errors, errorBanner(e));
  }
  clear(p.body, ...sections);
}

async function accessKeysSection(user: string, errors: HTMLElement, reload: () => Promise<void>): Promise<HTMLElement> {
  const keys = await iamList('ListAccessKeys', 'AccessKeyMetadata', { UserName: user });
  const secretBox = h('div', {});
  const create = async (): Promise<void> => {
    await act(errors, async () => {
      const r = await iam('CreateAccessKey', { UserName: user });
      await reload();
      // Shown once: Coffer keeps only what it needs to verify signatures, and never answers the secret again.
      const box = h(
        'div',
        { class: 'banner banner-secret', 'data-testid': 'new-secret' },
        h('strong', {}, 'New access key \u2014 copy the secret now, it is not shown again.'),
        h('dl', { class: 'props' }, h('dt', {}, 'Access key ID'), h('dd', {}, mono(textOf(r, 'AccessKeyId'))), h('dt', {}, 'Secret access key'), h('dd', {}, mono(textOf(r, 'SecretAccessKey')))),
      );
      document.querySelector('.panel-body')?.prepend(box);
    }, 'Access key created');
  };
  return h(
    'section',
    { class: 'section' },
    h('h3', {}, 'Access keys'),
    secretBox,
    table(
      keys,
      [
        { title: 'Access key ID', cell: (k) => mono(k.AccessKeyId) },
        { title: 'Status', cell: (k) => badge(k.Status ?? '', k.Status === 'Active' ? 'ok' : 'warn') },
        { title: 'Created', cell: (k) => h('span', { class: 'nowrap' }, formatTime(k.CreateDate)) },
        {
          title: '',
          class: 'right',
          cell: (k) =>
            h(
              'span',
              { class: 'button-row' },
              button(k.Status === 'Active' ? 'Deactivate' : 'Activate', () => void act(errors, () => iam('UpdateAccessKey', { UserName: user, AccessKeyId: k.AccessKeyId, Status: k.Status === 'Active' ? 'Inactive' : 'Active' }), 'Access key updated').then((ok): unknown => ok && reload())),
              button('Delete', () => void confirmDialog('Delete access key', `Delete ${k.AccessKeyId}? Anything signing with it stops working.`, 'Delete', () => iam('DeleteAccessKey', { UserName: user, AccessKeyId: k.AccessKeyId }), 'Access key deleted').then((ok): unknown => ok && reload()), 'danger'),
            ),
        },
      ],
      'No access keys.',
    ),
    h('div', { class: 'button-row' }, button('Create access key', () => void create())),
  );
}

type Runner = (what: () => Promise<unknown>, msg: string) => () => Promise<void>;

async function userGroupsSection(user: string, run: Runner): Promise<HTMLElement> {
  const groups = await iamList('ListGroupsForUser', 'Groups', { UserName: user });
  const all = await iamList('ListGroups', 'Groups').catch(() => []);
  const picker = select('group', all.filter((g) => !groups.some((x) => x.GroupName === g.GroupName)).map((g) => [g.GroupName!, g.GroupName!]), undefined, { 'aria-label': 'Group' }, 'no other groups');
  return h(
    'section',
    { class: 'section' },
    h('h3', {}, 'Groups'),
    table(groups, [{ title: 'Group', cell: (g) => g.GroupName ?? '' }, { title: '', class: 'right', cell: (g) => button('Remove', run(() => iam('RemoveUserFromGroup', { UserName: user, GroupName: g.GroupName }), 'Removed from group')) }], 'Not in any group.'),
    h('div', { class: 'button-row' }, picker, button('Add to group', () => void run(() => iam('AddUserToGroup', { UserName: user, GroupName: picker.value }), 'Added to group')(), 'plain', { disabled: picker.disabled })),
  );
}

function groupMembersSection(group: string, users: Array<Record<string, string>>, run: Runner): HTMLElement {
  const name = input('member', { placeholder: 'user name', 'aria-label': 'User name' });
  return h(
    'section',
    { class: 'section' },
    h('h3', {}, 'Members'),
    table(users, [{ title: 'User', cell: (u) => u.UserName ?? '' }, { title: '', class: 'right', cell: (u) => button('Remove', run(() => iam('RemoveUserFromGroup', { UserName: u.UserName, GroupName: group }), 'Member removed')) }], 'No members.'),
    h('div', { class: 'button-row' }, name, button('Add member', () => void run(() => iam('AddUserToGroup', { UserName: name.value.trim(), GroupName: group }), 'Member added')())),
  );
}

function trustSection(role: string, doc: string, errors: HTMLElement): HTMLElement {
  const area = textarea('trust', doc, { class: 'code', rows: 10, 'aria-label': 'Trust policy' });
  return h(
    'section',
    { class: 'section' },
    h('h3', {}, 'Trust policy'),
    area,
    h('div', { class: 'button-row' }, button('Save trust policy', () => void act(errors, async () => (jsonCheck(area.value), iam('UpdateAssumeRolePolicy', { RoleName: role, PolicyDocument: area.value })), 'Trust policy saved'))),
  );
}

async function attachedSection(kind: Kind, name: string, run: Runner): Promise<HTMLElement> {
  const attached = await iamList(`ListAttached${kind}Policies`, 'AttachedPolicies', { [`${kind}Name`]: name });
  const all = await iamList('ListPolicies', 'Policies', { Scope: 'All' }).catch(() => []);
  const picker = select('policy', all.filter((x) => !attached.some((a) => a.PolicyArn === x.Arn)).map((x) => [x.Arn!, x.PolicyName!]), undefined, { 'aria-label': 'Managed policy' }, 'no policies to attach');
  return h(
    'section',
    { class: 'section' },
    h('h3', {}, 'Managed policies'),
    table(attached, [{ title: 'Policy', cell: (a) => h('span', { title: a.PolicyArn }, a.PolicyName ?? '') }, { title: '', class: 'right', cell: (a) => button('Detach', run(() => iam(`Detach${kind}Policy`, { [`${kind}Name`]: name, PolicyArn: a.PolicyArn }), 'Policy detached')) }], 'No managed policies attached.'),
    h('div', { class: 'button-row' }, picker, button('Attach', () => void run(() => iam(`Attach${kind}Policy`, { [`${kind}Name`]: name, PolicyArn: picker.value }), 'Policy attached')(), 'plain', { disabled: picker.disabled })),
  );
}

const SAMPLE_INLINE = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: '*' }] }, null, 2);

async function inlineSection(kind: Kind, name: string, run: Runner): Promise<HTMLElement> {
  const names = Array.from((await iam(`List${kind}Policies`, { [`${kind}Name`]: name })).getElementsByTagName('member'), (m) => m.textContent ?? '');
  const edit = (policyName: string, doc: string): Promise<boolean> =>
    dialog({
      title: policyName ? `Inline policy ${policyName}` : 'Add inline policy',
      submit: 'Save policy',
      fields: [field('Policy name', input('name', { required: true, value: policyName, readonly: Boolean(policyName) })), field('Policy document', textarea('doc', doc, { class: 'code', rows: 14 }))],
      run(v) {
        const text = String(v.get('doc'));
        jsonCheck(text);
        return iam(`Put${kind}Policy`, { [`${kind}Name`]: name, PolicyName: String(v.get('name')).trim(), PolicyDocument: text });
      },
      success: 'Inline policy saved',
    });
  const reopen = run(async () => undefined, '');
  return h(
    'section',
    { class: 'section' },
    h('h3', {}, 'Inline policies'),
    table(
      names,
      [
        { title: 'Policy', cell: (n) => n },
        {
          title: '',
          class: 'right',
          cell: (n) =>
            h(
              'span',
              { class: 'button-row' },
              button('Edit', async () => {
                const got = await iam(`Get${kind}Policy`, { [`${kind}Name`]: name, PolicyName: n });
                if (await edit(n, policyText(textOf(got, 'PolicyDocument')))) await reopen();
              }),
              button('Delete', run(() => iam(`Delete${kind}Policy`, { [`${kind}Name`]: name, PolicyName: n }), 'Inline policy deleted'), 'danger'),
            ),
        },
      ],
      'No inline policies.',
    ),
    h('div', { class: 'button-row' }, button('Add inline policy', () => void edit('', SAMPLE_INLINE).then((ok): unknown => ok && reopen()))),
  );
}
