// XML in and out for S3. Responses are written by a tiny string builder (fast, no
// intermediate tree); request bodies are parsed by fast-xml-parser and read with a
// size limit. Malformed input becomes MalformedXML. Entity and character references in
// text are decoded strictly by xml-entities.ts; a DOCTYPE is refused.

import type { Readable } from 'node:stream';
import { XMLParser } from 'fast-xml-parser';
import { ServiceError } from '../errors.js';
import { s3Error } from './errors.js';
import { strictXmlEntities } from './xml-entities.js';

export const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#13;', '\n': '&#10;', '\t': '&#9;' };

export function escapeXml(s: string): string {
  return s.replace(/[&<>"'\r\n\t]/g, (c) => ESCAPES[c]!);
}

export type XmlChild = string | number | boolean | undefined | null | XmlChild[];

/** <name>children</name>; strings given as children are already XML (use text() for data). Undefined/null children are dropped; an element whose only child is undefined is omitted. */
export function el(name: string, ...children: XmlChild[]): string {
  const inner = flatten(children);
  if (inner === undefined) return '';
  return `<${name}>${inner}</${name}>`;
}

/** An element holding escaped text; omitted when value is undefined. */
export function text(name: string, value: string | number | boolean | undefined | null): string {
  if (value === undefined || value === null) return '';
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

function flatten(children: XmlChild[]): string | undefined {
  if (children.length === 1 && (children[0] === undefined || children[0] === null)) return undefined;
  let out = '';
  for (const c of children) {
    if (c === undefined || c === null) continue;
    if (Array.isArray(c)) out += flatten(c) ?? '';
    else out += String(c);
  }
  return out;
}

/** A full document with the S3 namespace on its root element. */
export function xmlDocument(root: string, inner: string, namespace = true): string {
  return `${XML_DECL}<${root}${namespace ? ` xmlns="${S3_NS}"` : ''}>${inner}</${root}>`;
}

export function errorDocument(err: ServiceError, resource: string | undefined, requestId: string, hostId: string): string {
  let inner = text('Code', err.code) + text('Message', err.message);
  for (const [k, v] of Object.entries(err.fields)) inner += text(k, v);
  if (resource !== undefined) inner += text('Resource', resource);
  inner += text('RequestId', requestId) + text('HostId', hostId);
  return `${XML_DECL}<Error>${inner}</Error>`;
}

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  entityDecoder: strictXmlEntities,
  isArray: (_name, jpath) => ARRAY_PATHS.has(String(jpath)),
});

// Elements that may repeat, so they always parse as arrays.
const ARRAY_PATHS = new Set([
  'Delete.Object',
  'CompleteMultipartUpload.Part',
  'Tagging.TagSet.Tag',
  'ServerSideEncryptionConfiguration.Rule',
  'AccessControlPolicy.AccessControlList.Grant',
  'CORSConfiguration.CORSRule',
  'LifecycleConfiguration.Rule',
  'LifecycleConfiguration.Rule.Filter.And.Tag',
  'LifecycleConfiguration.Rule.Transition',
  'LifecycleConfiguration.Rule.NoncurrentVersionTransition',
]);

export type XmlObject = { [k: string]: unknown };

/** Reads a small request body (XML documents are bounded) into a string. */
export async function readSmallBody(body: Readable, limit = 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) throw s3Error('MalformedXML', {}, 'The XML you provided was larger than the maximum allowed size');
    chunks.push(b);
  }
  return Buffer.concat(chunks, size);
}

/** Parses an XML request body and returns the named root element's content; MalformedXML when absent or not well formed. */
export function parseXmlRoot(buf: Buffer, root: string): XmlObject {
  const s = buf.toString('utf8').trim();
  if (!s) throw s3Error('MalformedXML');
  // No DTD: entity declarations are the way into expansion attacks, and S3 documents have none.
  if (s.includes('<!DOCTYPE')) throw s3Error('MalformedXML');
  let doc: XmlObject;
  try {
    doc = parser.parse(s, true) as XmlObject;
  } catch {
    throw s3Error('MalformedXML');
  }
  const r = doc[root];
  if (r === undefined) throw s3Error('MalformedXML');
  if (r === '' ) return {};
  if (typeof r !== 'object' || r === null) throw s3Error('MalformedXML');
  return r as XmlObject;
}

export function childText(o: XmlObject, name: string): string | undefined {
  const v = o[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'object' && Object.keys(v as object).length === 0) return '';
  throw s3Error('MalformedXML');
}

export function childArray(o: XmlObject, name: string): XmlObject[] {
  const v = o[name];
  if (v === undefined) return [];
  const arr = Array.isArray(v) ? v : [v];
  return arr.map((x) => (typeof x === 'object' && x !== null ? (x as XmlObject) : {}));
}

/** The texts of a repeated text element (<A>x</A><A>y</A>); MalformedXML when one holds elements. */
export function childTexts(o: XmlObject, name: string): string[] {
  const v = o[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => childText({ [name]: x }, name) ?? '');
}

export function childObject(o: XmlObject, name: string): XmlObject | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  if (v === '') return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw s3Error('MalformedXML');
  return v as XmlObject;
}
