// SimulatePrincipalPolicy: "can alice do kms:Decrypt on key K, and if not, why?" The
// identity policies of a user (with its groups'), group or role are evaluated by the
// same engine as real requests, optionally with a resource policy (ResourcePolicy)
// and condition keys (ContextEntries). Each result names the statements that decided.

import type { Principal } from '../../auth/types.js';
import type { PolicySource } from '../credentials.js';
import { authorize, parsePolicyDocument, PolicyDocumentError, type NamedPolicy, type ContextValue } from '../policy/index.js';
import type { ApiContext, QueryOperation } from './context.js';
import { noGroup, noRole, noUser } from './common.js';
import { queryError, validationError, type Params, type XmlValue } from './query.js';
import { setOwn } from '../../records.js';

const DECISION = { Allow: 'allowed', Deny: 'explicitDeny', ImplicitDeny: 'implicitDeny' } as const;

async function sourcesOf(c: ApiContext, arn: string): Promise<{ principal: Principal; sources: PolicySource[] }> {
  const m = /^arn:aws:iam::(\d{12}):(user|group|role)\/(?:.*\/)?([\w+=,.@-]+)$/.exec(arn);
  if (!m || m[1] !== c.accountId) throw queryError('InvalidInput', `Invalid ARN: ${arn}`);
  const [, , kind, name] = m as unknown as [string, string, 'user' | 'group' | 'role', string];
  if (kind === 'user') {
    const u = await c.iam.getUser(name);
    if (!u) throw noUser(name);
    const principal: Principal = { kind: 'user', arn: u.arn, accountId: c.accountId, userName: u.userName, userId: u.userId };
    return { principal, sources: await c.directory.policySources(principal) };
  }
  if (kind === 'role') {
    const r = await c.iam.roles.get(name);
    if (!r) throw noRole(name);
    const principal: Principal = { kind: 'assumed-role', arn: r.arn, accountId: c.accountId, userName: r.roleName, roleName: r.roleName, roleArn: r.arn, roleId: r.roleId, sessionName: 'simulation' };
    return { principal: { ...principal, arn: r.arn }, sources: await c.directory.policySources(principal) };
  }
  const g = await c.iam.groups.get(name);
  if (!g) throw noGroup(name);
  const sources: PolicySource[] = [];
  for (const pn of await c.iam.groups.listPolicies(g.groupName)) {
    const rec = await c.iam.groups.getPolicy(g.groupName, pn);
    if (rec) sources.push({ name: pn, type: 'group', sourceId: g.groupName, document: rec.document });
  }
  for (const a of await c.iam.policies.attachedDocuments('group', g.groupName)) sources.push({ name: a.policyName, type: 'managed', sourceId: a.arn, document: a.document });
  return { principal: { kind: 'user', arn: g.arn, accountId: c.accountId, userName: g.groupName }, sources };
}

function contextEntries(p: Params): Record<string, ContextValue> {
  const out: Record<string, ContextValue> = {};
  const entries = p.structs('ContextEntries', ['ContextKeyName', 'ContextKeyType']);
  entries.forEach((e, i) => {
    if (!e.ContextKeyName) throw validationError('contextEntries.member.contextKeyName', undefined, 'Member must not be null');
    const values = p.nestedList('ContextEntries', i + 1, 'ContextKeyValues');
    setOwn(out, e.ContextKeyName, e.ContextKeyType?.endsWith('List') ? values : values[0]);
  });
  return out;
}

export const SIMULATE_OPERATIONS: Record<string, QueryOperation> = {
  SimulatePrincipalPolicy: {
    action: 'iam:SimulatePrincipalPolicy',
    resource: (_c, p) => p.req('PolicySourceArn'),
    async run(c, p) {
      const { principal, sources } = await sourcesOf(c, p.req('PolicySourceArn'));
      const actions = p.list('ActionNames');
      if (actions.length === 0) throw validationError('actionNames', undefined, 'Member must not be null');
      const resources = p.list('ResourceArns');
      const conditions = contextEntries(p);
      const identity: NamedPolicy[] = sources.map((s, i) => ({ name: String(i), document: c.directory.parsed(s.document) }));
      for (const [i, text] of p.list('PolicyInputList').entries()) {
        try {
          identity.push({ name: `input-${i}`, document: parsePolicyDocument(text, { kind: 'identity' }) });
        } catch (e) {
          if (e instanceof PolicyDocumentError || e instanceof SyntaxError) throw queryError('MalformedPolicyDocument', e.message);
          throw e;
        }
      }
      const given = p.str('ResourcePolicy');
      const parseResource = (text: string): NamedPolicy[] => {
        try {
          return [{ name: 'resource', document: parsePolicyDocument(text, { kind: 'resource' }) }];
        } catch (e) {
          if (e instanceof PolicyDocumentError || e instanceof SyntaxError) throw queryError('MalformedPolicyDocument', e.message);
          throw e;
        }
      };
      // Which resource policy decides for a resource: the one given, else (a Coffer addition to
      // AWS's simulator, so "can alice kms:Decrypt key K" has its real answer) the resource's own:
      // a key policy, evaluated as KMS does (it must allow, or delegate to IAM), or a bucket policy.
      const resourcePolicyFor = async (resource: string): Promise<{ policies: NamedPolicy[]; mode: 'kms' | 's3' }> => {
        if (given !== undefined) return { policies: parseResource(given), mode: 's3' };
        const own = resource === '*' ? undefined : await c.resourcePolicyOf(resource);
        return own ? { policies: parseResource(own.text), mode: own.mode } : { policies: [], mode: 's3' };
      };
      const statementRef = (ref: { policy: string }): XmlValue => {
        if (ref.policy === 'resource') return { SourcePolicyId: 'ResourcePolicy', SourcePolicyType: 'resource' };
        if (ref.policy.startsWith('input-')) return { SourcePolicyId: `PolicyInputList.${Number(ref.policy.slice(6)) + 1}`, SourcePolicyType: 'none' };
        const s = sources[Number(ref.policy)]!;
        return { SourcePolicyId: s.type === 'managed' ? s.sourceId : s.name, SourcePolicyType: s.type === 'managed' ? 'user-managed' : s.type };
      };
      const results: XmlValue[] = [];
      for (const action of actions) {
        for (const resource of resources.length ? resources : ['*']) {
          const ctx = { principal: { arn: principal.arn, accountId: c.accountId, userName: principal.kind === 'user' ? principal.userName : undefined }, action, resource, conditions };
          const rp = await resourcePolicyFor(resource);
          const d = authorize({ identityPolicies: identity, resourcePolicies: rp.policies, ctx, resourceAccountId: c.accountId, resourcePolicyMode: rp.mode });
          results.push({
            EvalActionName: action,
            EvalResourceName: resource,
            EvalDecision: DECISION[d.effect],
            MatchedStatements: (d.matched ?? []).map(statementRef),
            MissingContextValues: [],
          });
        }
      }
      return { EvaluationResults: results, IsTruncated: false };
    },
  },
};
