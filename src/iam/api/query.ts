// The AWS Query protocol as IAM and STS speak it: form-encoded parameters in
// (`Tags.member.1.Key=...`), XML out (`<OpResponse><OpResult>...</OpResult>
// <ResponseMetadata>...`), and the error document (`<ErrorResponse><Error><Type>
// Sender</Type><Code/><Message/></Error><RequestId/></ErrorResponse>`).

import { ServiceError } from '../../errors.js';

export type XmlValue = string | number | boolean | Date | undefined | null | XmlValue[] | { [k: string]: XmlValue };

const STATUS: Record<string, number> = {
  NoSuchEntity: 404,
  EntityAlreadyExists: 409,
  DeleteConflict: 409,
  LimitExceeded: 409,
  MalformedPolicyDocument: 400,
  ValidationError: 400,
  InvalidInput: 400,
  AccessDenied: 403,
  InvalidAction: 400,
  NotImplemented: 501,
  InvalidClientTokenId: 403,
  ExpiredToken: 403,
  SignatureDoesNotMatch: 403,
  IncompleteSignature: 400,
  MissingAuthenticationToken: 403,
  RegionDisabledException: 403,
  PackedPolicyTooLarge: 400,
  InvalidParameterValue: 400,
};

/** An IAM or STS error, with the status IAM answers it with. */
export function queryError(code: string, message: string): ServiceError {
  return new ServiceError(code, message, STATUS[code] ?? 400);
}

/** Values longer than this are left out of validation messages. */
const MAX_ECHO = 256;

export function validationError(field: string, value: string | undefined, constraint: string): ServiceError {
  // A long value is not echoed back: `Value at '...' failed to satisfy ...`.
  const shown = value === undefined ? 'null ' : value.length > MAX_ECHO ? '' : `'${value}' `;
  return queryError('ValidationError', `1 validation error detected: Value ${shown}at '${field}' failed to satisfy constraint: ${constraint}`);
}

const NAME = /^[\w+=,.@-]+$/;
const PATH = /^(\/|\/[\u0021-\u007E]+\/)$/;

/** The request's parameters, with the checks IAM makes on them. */
export class Params {
  constructor(private readonly form: URLSearchParams) {}

  str(name: string): string | undefined {
    return this.form.get(name) ?? undefined;
  }

  req(name: string): string {
    const v = this.form.get(name);
    if (v === null || v === '') throw validationError(camel(name), undefined, 'Member must not be null');
    return v;
  }

  /** A required IAM entity name (users, groups, roles, policies). */
  name(param: string, max = 64): string {
    const v = this.req(param);
    if (v.length > max) throw validationError(camel(param), v, `Member must have length less than or equal to ${max}`);
    if (!NAME.test(v)) throw validationError(camel(param), v, 'Member must satisfy regular expression pattern: [\\w+=,.@-]+');
    return v;
  }

  optName(param: string, max = 64): string | undefined {
    return this.form.has(param) ? this.name(param, max) : undefined;
  }

  path(param = 'Path'): string {
    const v = this.str(param);
    if (v === undefined) return '/';
    if (v.length > 512 || !PATH.test(v)) throw validationError(camel(param), v, 'Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)');
    return v;
  }

  int(name: string, min: number, max: number): number | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^-?\d+$/.test(v)) throw validationError(camel(name), v, 'Member must be an integer');
    if (n < min) throw validationError(camel(name), v, `Member must have value greater than or equal to ${min}`);
    if (n > max) throw validationError(camel(name), v, `Member must have value less than or equal to ${max}`);
    return n;
  }

  bool(name: string): boolean | undefined {
    const v = this.str(name);
    return v === undefined ? undefined : v === 'true';
  }

  /** `Name.member.1`, `Name.member.2`, ... */
  list(name: string): string[] {
    const out: string[] = [];
    for (let i = 1; this.form.has(`${name}.member.${i}`); i++) out.push(this.form.get(`${name}.member.${i}`)!);
    return out;
  }

  /** `Name.member.1.Field`, ... for each of `fields`. */
  structs(name: string, fields: string[]): Record<string, string | undefined>[] {
    const out: Record<string, string | undefined>[] = [];
    for (let i = 1; fields.some((f) => [...this.form.keys()].some((k) => k.startsWith(`${name}.member.${i}.${f}`))); i++) {
      const o: Record<string, string | undefined> = {};
      for (const f of fields) o[f] = this.form.get(`${name}.member.${i}.${f}`) ?? undefined;
      out.push(o);
    }
    return out;
  }

  /** A nested list inside a struct member: `Name.member.i.Field.member.j`. */
  nestedList(name: string, i: number, field: string): string[] {
    return this.list(`${name}.member.${i}.${field}`);
  }

  has(name: string): boolean {
    return this.form.has(name);
  }
}

function camel(param: string): string {
  return param.charAt(0).toLowerCase() + param.slice(1);
}

function esc(s: string): string {
  return s.replace(/[&<>"'\r]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#13;' })[c]!);
}

export function toXml(v: XmlValue): string {
  if (v === undefined || v === null) return '';
  if (v instanceof Date) return v.toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (Array.isArray(v)) return v.map((x) => `<member>${toXml(x)}</member>`).join('');
  if (typeof v === 'object') {
    let out = '';
    for (const [k, x] of Object.entries(v)) if (x !== undefined && x !== null) out += `<${k}>${toXml(x)}</${k}>`;
    return out;
  }
  return esc(String(v));
}

export function resultXml(namespace: string, op: string, result: XmlValue | undefined, requestId: string): string {
  const body = result === undefined ? '' : `<${op}Result>${toXml(result)}</${op}Result>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${op}Response xmlns="${namespace}">${body}<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${op}Response>`;
}

export function errorXml(namespace: string, err: ServiceError, requestId: string): string {
  const type = err.status >= 500 ? 'Receiver' : 'Sender';
  return `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${namespace}"><Error><Type>${type}</Type><Code>${esc(err.code)}</Code><Message>${esc(err.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
}

/** Policy documents travel URL-encoded in IAM responses (RFC 3986), as AWS sends them. */
export function encodedPolicy(text: string): string {
  return encodeURIComponent(text);
}
