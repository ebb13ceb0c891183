// One bucket: its objects (prefix navigation, each object's encryption and KMS key from a
// HEAD per object, upload with a progress bar, download, delete), its default
// encryption and its bucket policy.

import { ApiError, children, s3, s3Path, s3Xml, signUpload, textOf, xmlError } from '../api.js';
import type { Route } from '../route.js';
import { act, badge, button, clear, confirmDialog, errorBanner, field, formatBytes, formatTime, h, infoBanner, mapLimit, pageHeader, prettyJson, select, table, textarea, toast } from '../ui.js';
import { type DefaultEncryption, encryptionBadge, getEncryption, putEncryption } from './buckets.js';
import { type KeyRow, keyLabel, keyNamer, loadKeys } from './keys.js';

interface ObjectRow {
  key: string;
  size: number;
  modified: string;
  sse?: string;
  kmsKey?: string;
  bucketKey?: boolean;
  headError?: string;
}

export async function renderBucket(main: HTMLElement, route: Route): Promise<void> {
  const bucket = route.parts[1]!;
  const tab = route.parts[2] ?? 'objects';
  const base = `#/buckets/${encodeURIComponent(bucket)}`;
  const tabs = h('div', { class: 'tabs', role: 'tablist' }, ...([['objects', 'Objects'], ['encryption', 'Default encryption'], ['policy', 'Bucket policy']] as const).map(([id, label]) => h('a', { href: id === 'objects' ? base : `${base}/${id}`, role: 'tab', class: id === tab ? 'active' : undefined }, label)));
  const body = h('div', {});
  const remove = (): Promise<boolean> =>
    confirmDialog('Delete bucket', `Delete the bucket ${bucket}? It must be empty.`, 'Delete bucket', () => s3('DELETE', s3Path(bucket)), 'Bucket deleted').then((ok) => {
      if (ok) location.hash = '#/buckets';
      return ok;
    });
  clear(main, h('nav', { class: 'crumbs' }, h('a', { href: '#/buckets', class: 'link' }, 'Buckets'), ' / ', h('span', {}, bucket)), pageHeader(bucket, null, button('Delete bucket', () => void remove(), 'danger')), tabs, body);
  // Keys name KMS key ARNs in lists; a principal that may not list keys sees ARNs.
  const keys = await loadKeys().catch(() => [] as KeyRow[]);
  if (tab === 'encryption') return encryptionTab(body, bucket, keys);
  if (tab === 'policy') return policyTab(body, bucket);
  return objectsTab(body, bucket, route.params.get('prefix') ?? '', keys);
}

async function objectsTab(body: HTMLElement, bucket: string, prefix: string, keys: KeyRow[]): Promise<void> {
  const errors = h('div', { class: 'errors' });
  const list = h('div', {});
  const named = keyNamer(keys);
  const base = `#/buckets/${encodeURIComponent(bucket)}`;
  const tokens: Array<string | undefined> = [undefined];
  let page = 0;
  const load = async (): Promise<void> => {
    clear(list, h('div', { class: 'loading' }, 'Loading\u2026'));
    let doc: Element;
    try {
      doc = await s3Xml('GET', s3Path(bucket), { query: [['list-type', '2'], ['delimiter', '/'], ['prefix', prefix], ['max-keys', '100'], ...(tokens[page] ? [['continuation-token', tokens[page]!] as const] : [])] });
    } catch (e) {
      return clear(list, errorBanner(e));
    }
    tokens[page + 1] = textOf(doc, 'NextContinuationToken');
    const folders = children(doc, 'CommonPrefixes').map((c) => textOf(c, 'Prefix') ?? '');
    const objects: ObjectRow[] = children(doc, 'Contents').map((c) => ({ key: textOf(c, 'Key') ?? '', size: Number(textOf(c, 'Size') ?? 0), modified: textOf(c, 'LastModified') ?? '' }));
    await mapLimit(objects, 6, async (o) => {
      try {
        const res = await s3('HEAD', s3Path(bucket, o.key));
        o.sse = res.headers.get('x-amz-server-side-encryption') ?? undefined;
        o.kmsKey = res.headers.get('x-amz-server-side-encryption-aws-kms-key-id') ?? undefined;
        o.bucketKey = res.headers.get('x-amz-server-side-encryption-bucket-key-enabled') === 'true';
      } catch (e) {
        o.headError = e instanceof ApiError ? e.code : String(e);
        // An SSE-C object answers HEAD without its customer key with a bare 400. Its
        // attributes, asked without the key, name the reason in the error body.
        if (e instanceof ApiError && e.status === 400 && (await storedWithCustomerKey(bucket, o.key))) {
          o.sse = 'SSE-C';
          delete o.headError;
        }
      }
    });
    const rows: Array<{ folder?: string; obj?: ObjectRow }> = [...folders.map((f) => ({ folder: f })), ...objects.map((o) => ({ obj: o }))];
    clear(
      list,
      table(
        rows,
        [
          {
            title: 'Name',
            cell: (r) =>
              r.folder !== undefined
                ? h('a', { href: `${base}?prefix=${encodeURIComponent(r.folder)}`, class: 'link folder' }, r.folder.slice(prefix.length))
                : h('span', { class: 'strong' }, r.obj!.key.slice(prefix.length)),
          },
          { title: 'Size', class: 'num', cell: (r) => (r.obj ? formatBytes(r.obj.size) : '') },
          { title: 'Last modified', cell: (r) => (r.obj ? h('span', { class: 'nowrap' }, formatTime(r.obj.modified)) : '') },
          { title: 'Encryption', cell: (r) => (r.obj ? sseCell(r.obj) : '') },
          { title: 'KMS key', cell: (r) => (r.obj?.kmsKey ? h('span', { class: 'mono small', title: r.obj.kmsKey, 'data-testid': 'object-key' }, named(r.obj.kmsKey)) : '') },
          {
            title: '',
            class: 'right',
            cell: (r) =>
              r.obj
                ? h(
                    'span',
                    { class: 'button-row' },
                    button('Download', () => void download(bucket, r.obj!.key, errors)),
                    button('Delete', () => void confirmDialog('Delete object', `Delete ${r.obj!.key}?`, 'Delete', () => s3('DELETE', s3Path(bucket, r.obj!.key)), 'Object deleted').then((ok): unknown => ok && load()), 'danger'),
                  )
                : '',
          },
        ],
        prefix ? 'This folder is empty.' : 'This bucket is empty. Upload a file to start.',
        'objects-table',
      ),
      h(
        'div',
        { class: 'pager' },
        button('Previous', () => ((page -= 1), void load()), 'plain', { disabled: page === 0 }),
        h('span', { class: 'muted' }, `Page ${page + 1}`),
        button('Next', () => ((page += 1), void load()), 'plain', { disabled: !tokens[page + 1] }),
      ),
    );
  };
  const crumbs = h('div', { class: 'prefix-crumbs' }, h('a', { href: base, class: 'link' }, bucket), ...prefix.split('/').filter(Boolean).flatMap((seg, i, all) => [' / ', h('a', { href: `${base}?prefix=${encodeURIComponent(all.slice(0, i + 1).join('/') + '/')}`, class: 'link' }, seg)]));
  clear(body, uploader(bucket, prefix, keys, errors, load), crumbs, errors, list);
  await load();
}

/**
 * Whether an object was written with a customer-provided key (SSE-C): GetObjectAttributes
 * without the key is refused with InvalidRequest and S3's message for exactly that case
 * (s3/sse/object-keys.ts, checkCustomerKey); any other answer says nothing about SSE-C.
 */
async function storedWithCustomerKey(bucket: string, key: string): Promise<boolean> {
  try {
    await s3('GET', s3Path(bucket, key), { query: [['attributes', '']], headers: { 'x-amz-object-attributes': 'ObjectSize' } });
    return false;
  } catch (e) {
    return e instanceof ApiError && e.code === 'InvalidRequest' && /stored using a form of Server Side Encryption/.test(e.message);
  }
}

function sseCell(o: ObjectRow): HTMLElement {
  if (o.headError) return h('span', { class: 'muted' }, o.headError);
  if (o.sse === 'SSE-C') return h('span', { title: 'Encrypted with a key the client provides (SSE-C); Coffer does not keep it.' }, badge('SSE-C', 'info'));
  const kind = o.sse === 'aws:kms' ? badge('SSE-KMS', 'ok') : o.sse === 'aws:kms:dsse' ? badge('DSSE-KMS', 'ok') : o.sse === 'AES256' ? badge('SSE-S3', 'info') : badge('none');
  return h('span', {}, kind, o.bucketKey ? ' ' : null, o.bucketKey ? badge('bucket key') : null);
}

function uploader(bucket: string, prefix: string, keys: KeyRow[], errors: HTMLElement, done: () => Promise<void>): HTMLElement {
  const file = h('input', { type: 'file', name: 'file', multiple: true, 'aria-label': 'Files to upload', 'data-testid': 'upload-file' });
  const sse = select('sse', [['default', 'Bucket default encryption'], ['AES256', 'SSE-S3'], ['aws:kms', 'SSE-KMS']], 'default', { 'aria-label': 'Encryption' });
  const keyPick = select('key', [['', 'aws/s3 (AWS managed)'], ...keys.filter((k) => k.meta.KeyManager === 'CUSTOMER').map((k): [string, string] => [k.meta.Arn, keyLabel(k)])], '', { 'aria-label': 'KMS key', hidden: true });
  sse.addEventListener('change', () => (keyPick.hidden = sse.value !== 'aws:kms'));
  const bar = h('progress', { max: 100, value: 0, class: 'progress', hidden: true, 'data-testid': 'upload-progress' });
  const label = h('span', { class: 'muted small', 'data-testid': 'upload-status' });
  const folder = h('input', { type: 'text', name: 'folder', value: prefix, placeholder: 'folder/ (optional)', 'aria-label': 'Upload into folder', class: 'folder-input' });
  const go = h('button', { type: 'button', class: 'btn btn-primary' }, 'Upload');
  go.addEventListener('click', () => {
    const files = Array.from(file.files ?? []);
    if (files.length === 0) return clear(errors, errorBanner(new Error('Choose a file first.')));
    const headers: Record<string, string> = {};
    if (sse.value !== 'default') headers['x-amz-server-side-encryption'] = sse.value;
    if (sse.value === 'aws:kms' && keyPick.value) headers['x-amz-server-side-encryption-aws-kms-key-id'] = keyPick.value;
    go.disabled = true;
    bar.hidden = false;
    clear(errors);
    // S3 has no folders: a "folder" is a key prefix ending in "/".
    let into = folder.value.trim().replace(/^\/+/, '');
    if (into && !into.endsWith('/')) into += '/';
    // One file after another, each with its own progress; the first refusal stops the rest.
    const run = async (): Promise<void> => {
      for (const [i, f] of files.entries()) {
        const key = into + f.name;
        const which = files.length > 1 ? ` (${i + 1} of ${files.length})` : '';
        bar.value = 0;
        clear(label, `Uploading ${f.name}${which}\u2026`);
        await upload(s3Path(bucket, key), f, { ...headers, 'content-type': f.type || 'application/octet-stream' }, (p) => {
          bar.value = Math.round(p * 100);
          clear(label, `Uploading ${f.name}${which}\u2026 ${Math.round(p * 100)}%`);
        });
        bar.value = 100;
      }
      const what = files.length === 1 ? `${into}${files[0]!.name} (${formatBytes(files[0]!.size)})` : `${files.length} files`;
      clear(label, `Uploaded ${what}`);
      toast(`Uploaded ${what}`);
      file.value = '';
      await done();
    };
    void run()
      .catch((e: unknown) => {
        clear(label);
        bar.hidden = true;
        clear(errors, errorBanner(e));
      })
      .finally(() => (go.disabled = false));
  });
  return h('div', { class: 'uploader card' }, h('strong', {}, 'Upload'), file, h('label', { class: 'inline-field' }, 'into ', folder), sse, keyPick, go, bar, label);
}

/** PUT with XMLHttpRequest, whose upload.onprogress fetch lacks. */
async function upload(path: string, body: File, headers: Record<string, string>, progress: (fraction: number) => void): Promise<void> {
  const signed = await signUpload(path, headers);
  await new Promise<void>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', path);
    for (const [k, v] of Object.entries(signed)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) progress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else reject(xmlError(new Response(null, { status: xhr.status, statusText: xhr.statusText }), xhr.responseText));
    };
    xhr.onerror = () => reject(new Error('The upload failed (network error).'));
    xhr.send(body);
  });
}

/** A signed GET into a Blob, saved through an object URL; the server's refusal is shown as it is. */
async function download(bucket: string, key: string, errors: HTMLElement): Promise<void> {
  await act(errors, async () => {
    const res = await s3('GET', s3Path(bucket, key));
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: key.split('/').pop() ?? 'download' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }, `Downloaded ${key}`);
}

async function encryptionTab(body: HTMLElement, bucket: string, keys: KeyRow[]): Promise<void> {
  const errors = h('div', { class: 'errors' });
  let current: DefaultEncryption;
  try {
    current = await getEncryption(bucket);
  } catch (e) {
    return clear(body, errorBanner(e));
  }
  const alg = select('algorithm', [['AES256', 'SSE-S3 (Coffer-managed keys)'], ['aws:kms', 'SSE-KMS (a KMS key)'], ['aws:kms:dsse', 'DSSE-KMS (two layers)']], current.algorithm, { 'aria-label': 'Default encryption' });
  const options: Array<[string, string]> = [['', 'aws/s3 (AWS managed key)'], ...keys.filter((k) => k.meta.KeyManager === 'CUSTOMER').map((k): [string, string] => [k.meta.Arn, keyLabel(k)])];
  if (current.keyId && !options.some(([v]) => v === current.keyId)) options.push([current.keyId, current.keyId]);
  const keyPick = select('key', options, current.keyId ?? '', { 'aria-label': 'KMS key' });
  const bk = h('input', { type: 'checkbox', name: 'bucketKey', checked: current.bucketKey });
  const kmsFields = h('div', { class: 'stack' }, field('KMS key', keyPick), h('label', { class: 'check' }, bk, 'Use an S3 Bucket Key (fewer KMS requests: one data key per bucket and period, not one per object)'));
  const sync = (): void => void (kmsFields.hidden = alg.value === 'AES256');
  alg.addEventListener('change', sync);
  sync();
  const save = button(
    'Save',
    () =>
      void act(errors, async () => {
        const next: DefaultEncryption = { algorithm: alg.value, bucketKey: alg.value !== 'AES256' && bk.checked, ...(alg.value !== 'AES256' && keyPick.value ? { keyId: keyPick.value } : {}) };
        await putEncryption(bucket, next);
        clear(now, encryptionBadge(await getEncryption(bucket), keyNamer(keys)));
      }, 'Default encryption saved'),
    'primary',
  );
  const now = h('div', { 'data-testid': 'current-encryption' }, encryptionBadge(current, keyNamer(keys)));
  clear(body, h('div', { class: 'card form-card' }, h('p', {}, 'Objects uploaded without encryption headers are encrypted with this setting. ', h('span', { class: 'muted' }, 'Current: '), now), field('Encryption type', alg), kmsFields, errors, h('div', { class: 'button-row' }, save)));
}

async function policyTab(body: HTMLElement, bucket: string): Promise<void> {
  const errors = h('div', { class: 'errors' });
  let text = '';
  try {
    text = await (await s3('GET', s3Path(bucket), { query: [['policy', '']] })).text();
  } catch (e) {
    if (!(e instanceof ApiError && e.code === 'NoSuchBucketPolicy')) return clear(body, errorBanner(e));
  }
  const example = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'DenyInsecureTransport', Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`], Condition: { Bool: { 'aws:SecureTransport': 'false' } } }] }, null, 2);
  const area = textarea('policy', text ? prettyJson(text) : '', { class: 'code', rows: 18, placeholder: example, 'aria-label': 'Bucket policy' });
  const status = h('span', {});
  const valid = (): boolean => {
    try {
      JSON.parse(area.value);
      clear(status, badge('Valid JSON', 'ok'));
      return true;
    } catch (e) {
      clear(status, h('span', { class: 'text-bad' }, `Invalid JSON: ${(e as Error).message}`));
      return false;
    }
  };
  clear(
    body,
    text ? null : infoBanner('This bucket has no policy: access is decided by identity policies alone.'),
    h('div', { class: 'card form-card' }, area, errors, h('div', { class: 'button-row' }, button('Validate', () => void valid()), button('Save policy', () => valid() && void act(errors, () => s3('PUT', s3Path(bucket), { query: [['policy', '']], body: area.value, headers: { 'content-type': 'application/json' } }), 'Bucket policy saved'), 'primary'), button('Delete policy', () => void act(errors, async () => (await s3('DELETE', s3Path(bucket), { query: [['policy', '']] }), (area.value = '')), 'Bucket policy deleted'), 'danger'), status)),
  );
}
