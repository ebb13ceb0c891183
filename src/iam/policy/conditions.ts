// Evaluates one Condition clause (operator + key + values) against the request's
// condition map, following AWS's "Condition operators" and "Conditions with multiple
// context keys or values" pages:
//   - several policy values for one key are OR'ed; for a negated operator, NOR'ed;
//   - a key absent from the request makes a positive operator false and a negated one
//     true, except ...IfExists (true when absent) and Null (tests presence itself);
//   - ForAllValues: every request value must satisfy the test; true when the key is
//     absent or empty. ForAnyValue: at least one must; false when absent or empty.
//     With a negated operator the test per request value is "matches none of the
//     policy values" (so ForAllValues:StringNotLike means no value is like any pattern);
//   - a policy variable that cannot be resolved makes the clause false.

import type { ConditionClause } from './document.js';
import type { ContextMap } from './context.js';
import { compile, partsToString, toParts, type VariableLookup } from './pattern.js';
import { cidrContains, parseCidr, parseIp } from './ip.js';
import { parseDate, parseNumber } from './values.js';

/** A resolved policy value tested against one request value (the positive operator). */
type Test = (requestValue: string) => boolean;

function numericTest(base: string, policy: number): Test {
  return (r) => {
    const v = parseNumber(r);
    if (Number.isNaN(v) || Number.isNaN(policy)) return false;
    return compareBy(base, v, policy);
  };
}

function dateTest(base: string, policy: number): Test {
  return (r) => {
    const v = parseDate(r);
    if (Number.isNaN(v) || Number.isNaN(policy)) return false;
    return compareBy(base, v, policy);
  };
}

function compareBy(base: string, v: number, policy: number): boolean {
  if (base.endsWith('LessThanEquals')) return v <= policy;
  if (base.endsWith('LessThan')) return v < policy;
  if (base.endsWith('GreaterThanEquals')) return v >= policy;
  if (base.endsWith('GreaterThan')) return v > policy;
  return v === policy;
}

/** Builds the test for one policy value; undefined when a variable is unresolved. */
function buildTest(clause: ConditionClause, raw: string, lookup: VariableLookup | undefined): Test | undefined {
  const { positive, family, variables } = clause.operator.info;
  const parts = toParts(raw, variables ? lookup : undefined);
  if (!parts) return undefined;
  switch (family) {
    case 'string': {
      if (positive === 'StringLike') {
        const re = compile(parts, 'plain', false);
        return (r) => re.test(r);
      }
      const literal = partsToString(parts);
      if (positive === 'StringEqualsIgnoreCase') {
        const lower = literal.toLowerCase();
        return (r) => r.toLowerCase() === lower;
      }
      return (r) => r === literal;
    }
    case 'arn': {
      const re = compile(parts, 'arn', false);
      return (r) => re.test(r);
    }
    case 'bool': {
      const want = partsToString(parts).toLowerCase();
      return (r) => r.toLowerCase() === want;
    }
    case 'numeric':
      return numericTest(positive, parseNumber(raw));
    case 'date':
      return dateTest(positive, parseDate(raw));
    case 'ip': {
      const block = parseCidr(raw);
      return (r) => {
        const ip = parseIp(r);
        return !!block && !!ip && cidrContains(block, ip);
      };
    }
    case 'null':
      return undefined; // handled before tests are built
  }
}

export function evaluateCondition(clause: ConditionClause, map: ContextMap, lookup: VariableLookup | undefined): boolean {
  const op = clause.operator;
  const values = map.get(clause.keyLower);

  if (op.info.family === 'null') {
    // "true": the key must be absent; "false": present. Several values are OR'ed.
    return clause.values.some((v) => (v === 'true') === (values === undefined));
  }
  if (values === undefined) {
    if (op.qualifier === 'ForAllValues') return true;
    if (op.ifExists) return true;
    if (op.qualifier === 'ForAnyValue') return false;
    return op.info.negated;
  }

  const tests: Test[] = [];
  for (const raw of clause.values) {
    const t = buildTest(clause, raw, lookup);
    if (!t) return false;
    tests.push(t);
  }
  const matchesAny = (r: string): boolean => tests.some((t) => t(r));
  const ok = (r: string): boolean => (op.info.negated ? !matchesAny(r) : matchesAny(r));

  if (op.qualifier === 'ForAllValues') return values.every(ok);
  if (op.qualifier === 'ForAnyValue') return values.some(ok);
  // A plain operator on a key with several values: a positive operator needs one value
  // to match, a negated one needs none to (AWS leaves this undefined; use a qualifier).
  return op.info.negated ? values.every(ok) : values.some(ok);
}
