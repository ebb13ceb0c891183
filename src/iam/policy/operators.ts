// The condition operator vocabulary of the IAM policy language: which operators exist,
// which are negated, which accept policy variables, and how a written operator name
// ("ForAnyValue:StringLikeIfExists") splits into qualifier, base operator and suffix.
// Shared by the parser (to reject unknown operators) and the evaluator.

export type OperatorFamily = 'string' | 'numeric' | 'date' | 'bool' | 'ip' | 'arn' | 'null';

export interface OperatorInfo {
  family: OperatorFamily;
  /** The positive test this operator is built on (StringNotLike -> StringLike). */
  positive: string;
  /** Negated operators: several policy values are NOR'ed, an absent key makes them true. */
  negated: boolean;
  /** AWS supports policy variables in String, ARN and Bool values only. */
  variables: boolean;
}

const TABLE: Record<string, OperatorInfo> = {};

function add(family: OperatorFamily, variables: boolean, positive: string, negatedName?: string): void {
  TABLE[positive] = { family, positive, negated: false, variables };
  if (negatedName) TABLE[negatedName] = { family, positive, negated: true, variables };
}

add('string', true, 'StringEquals', 'StringNotEquals');
add('string', true, 'StringEqualsIgnoreCase', 'StringNotEqualsIgnoreCase');
add('string', true, 'StringLike', 'StringNotLike');
add('numeric', false, 'NumericEquals', 'NumericNotEquals');
add('numeric', false, 'NumericLessThan');
add('numeric', false, 'NumericLessThanEquals');
add('numeric', false, 'NumericGreaterThan');
add('numeric', false, 'NumericGreaterThanEquals');
add('date', false, 'DateEquals', 'DateNotEquals');
add('date', false, 'DateLessThan');
add('date', false, 'DateLessThanEquals');
add('date', false, 'DateGreaterThan');
add('date', false, 'DateGreaterThanEquals');
add('bool', true, 'Bool');
add('ip', false, 'IpAddress', 'NotIpAddress');
add('arn', true, 'ArnEquals', 'ArnNotEquals');
add('arn', true, 'ArnLike', 'ArnNotLike');
add('null', false, 'Null');

export type SetQualifier = 'ForAnyValue' | 'ForAllValues';

export interface ParsedOperator {
  /** As written in the policy. */
  name: string;
  qualifier?: SetQualifier;
  /** Base operator name without qualifier or IfExists, e.g. 'StringNotLike'. */
  base: string;
  ifExists: boolean;
  info: OperatorInfo;
}

/**
 * Splits an operator name. Returns a reason string instead when the name is not an
 * operator AWS knows. Operator names are case-sensitive in AWS, as here.
 */
export function parseOperator(name: string): ParsedOperator | string {
  let rest = name;
  let qualifier: SetQualifier | undefined;
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    const q = rest.slice(0, colon);
    if (q !== 'ForAnyValue' && q !== 'ForAllValues') return `unknown set qualifier "${q}" (expected ForAnyValue or ForAllValues)`;
    qualifier = q;
    rest = rest.slice(colon + 1);
  }
  let ifExists = false;
  if (rest.endsWith('IfExists')) {
    ifExists = true;
    rest = rest.slice(0, -'IfExists'.length);
  }
  const info = Object.hasOwn(TABLE, rest) ? TABLE[rest] : undefined;
  if (!info) return `unknown condition operator "${name}"`;
  if (info.family === 'null' && (ifExists || qualifier)) {
    return `condition operator "${name}" is not valid: Null takes neither IfExists nor a set qualifier`;
  }
  return { name, qualifier, base: rest, ifExists, info };
}

export const CONDITION_OPERATORS: readonly string[] = Object.keys(TABLE);
