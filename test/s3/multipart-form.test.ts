// Pins the PostObject multipart/form-data parser: S3's field rules, streaming of the
// file part across arbitrary chunk boundaries, backpressure, and the S3 error codes.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { ServiceError } from '../../src/errors.js';
import { formBoundary, parseFormUpload } from '../../src/s3/multipart-form.js';

const B = 'XyZBoundary123';
const CT = `multipart/form-data; boundary=${B}`;

function rng(seed: number): (lo: number, hi: number) => number {
  let s = seed >>> 0 || 1;
  return (lo, hi) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return lo + (s % (hi - lo + 1));
  };
}

/** A body that hands out `data` in chunks of random size, on demand. */
function chunked(data: Buffer, seed: number, min = 1, max = 100 * 1024): Readable & { served: () => number } {
  const rand = rng(seed);
  let i = 0;
  const r = new Readable({
    read() {
      if (i >= data.length) return void this.push(null);
      const n = Math.min(data.length - i, rand(min, max));
      this.push(data.subarray(i, i + n));
      i += n;
    },
  });
  return Object.assign(r, { served: () => i });
}

async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function part(name: string, value: string | Buffer, extra = ''): Buffer {
  return Buffer.concat([
    Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="${name}"${extra}\r\n\r\n`),
    Buffer.from(value),
    Buffer.from('\r\n'),
  ]);
}

function handBody(fields: [string, string][], file: Buffer | undefined, trailer: Buffer[] = []): Buffer {
  const parts = fields.map(([n, v]) => part(n, v));
  if (file) parts.push(part('file', file, '; filename="photo.jpg"\r\nContent-Type: image/jpeg'));
  return Buffer.concat([...parts, ...trailer, Buffer.from(`--${B}--\r\n`)]);
}

async function fromFormData(fd: FormData): Promise<{ body: Buffer; contentType: string }> {
  const req = new Request('http://localhost/', { method: 'POST', body: fd });
  return { body: Buffer.from(await req.arrayBuffer()), contentType: req.headers.get('content-type')! };
}

function isServiceError(code: string, message?: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ServiceError, `expected ServiceError ${code}, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.status, 400);
    if (message) assert.equal(e.message, message);
    return true;
  };
}

describe('parseFormUpload: fields and file', () => {
  it('collects fields before the file with lower-cased names and original values', async () => {
    const file = Buffer.from('hello, world');
    const body = handBody([['Key', 'uploads/${filename}'], ['X-Amz-Meta-Tag', 'MiXeD Case'], ['empty', '']], file);
    const up = await parseFormUpload(chunked(body, 1), CT);
    assert.deepEqual(up.fields, { key: 'uploads/${filename}', 'x-amz-meta-tag': 'MiXeD Case', empty: '' });
    assert.equal(up.fileName, 'photo.jpg');
    assert.equal(up.fileContentType, 'image/jpeg');
    assert.deepEqual(await readAll(up.file), file);
  });

  it('keeps CRLF inside field values and UTF-8 field values and file names', async () => {
    const body = Buffer.concat([
      part('policy', 'line1\r\nline2\r\n'),
      part('x-amz-meta-name', 'café ☕'),
      part('file', 'x', '; filename="résumé.txt"'),
      Buffer.from(`--${B}--`),
    ]);
    const up = await parseFormUpload(chunked(body, 2, 1, 3), CT);
    assert.equal(up.fields['policy'], 'line1\r\nline2\r\n');
    assert.equal(up.fields['x-amz-meta-name'], 'café ☕');
    assert.equal(up.fileName, 'résumé.txt');
    assert.equal(up.fileContentType, undefined);
    assert.equal((await readAll(up.file)).toString(), 'x');
  });

  it('ignores fields after the file and drains the rest of the body', async () => {
    const body = handBody([['key', 'a']], Buffer.from('data'), [part('late', 'ignored')]);
    const src = chunked(body, 3, 1, 7);
    const up = await parseFormUpload(src, CT);
    assert.deepEqual(await readAll(up.file), Buffer.from('data'));
    assert.equal(up.fields['late'], undefined);
    if (!src.readableEnded) await once(src, 'end');
    assert.equal(src.served(), body.length);
  });

  it('accepts a preamble, a quoted boundary, a case-insensitive "file" name and padding after delimiters', async () => {
    const body = Buffer.from(
      `preamble text\r\n--${B}  \t\r\ncontent-disposition: form-data; name="acl"\r\n\r\nprivate\r\n` +
        `--${B}\r\nContent-Disposition: form-data; name="File"; filename="a"\r\n\r\nABC\r\n--${B}--`,
    );
    const up = await parseFormUpload(chunked(body, 4, 1, 5), `Multipart/Form-Data; charset=utf-8; boundary="${B}"`);
    assert.deepEqual(up.fields, { acl: 'private' });
    assert.equal((await readAll(up.file)).toString(), 'ABC');
  });

  it('reads the boundary parameter from Content-Type', () => {
    assert.equal(formBoundary('multipart/form-data; boundary=abc'), 'abc');
    assert.equal(formBoundary('multipart/form-data;boundary="a b;c"'), 'a b;c');
    assert.equal(formBoundary('multipart/form-data'), undefined);
    assert.equal(formBoundary('multipart/mixed; boundary=abc'), undefined);
    assert.equal(formBoundary('multipart/form-data; boundary='), undefined);
  });
});

describe('parseFormUpload: file content streaming', () => {
  const sizes = [0, 1, 2, 1000, 5 * 1024 * 1024];
  for (const size of sizes) {
    it(`${size}-byte file from Node's FormData, random chunks of 1 B..100 KiB`, async () => {
      const content = randomBytes(size);
      const fd = new FormData();
      fd.append('key', 'k/${filename}');
      fd.append('Content-Type', 'application/octet-stream');
      fd.append('file', new Blob([content], { type: 'application/x-thing' }), 'blob.bin');
      fd.append('after', 'ignored');
      const { body, contentType } = await fromFormData(fd);
      for (let seed = 1; seed <= (size > 1e6 ? 3 : 20); seed++) {
        const up = await parseFormUpload(chunked(body, seed), contentType);
        assert.deepEqual(up.fields, { key: 'k/${filename}', 'content-type': 'application/octet-stream' });
        assert.equal(up.fileName, 'blob.bin');
        assert.equal(up.fileContentType, 'application/x-thing');
        const got = await readAll(up.file);
        assert.equal(got.length, size);
        assert.ok(got.equals(content), `seed ${seed}`);
      }
    });
  }

  it('streams a FormData body given as a web stream (Readable.fromWeb)', async () => {
    const content = randomBytes(300_000);
    const fd = new FormData();
    fd.append('file', new Blob([content]), 'x');
    const req = new Request('http://localhost/', { method: 'POST', body: fd });
    const body = Readable.fromWeb(req.body as import('node:stream/web').ReadableStream<Uint8Array>);
    const up = await parseFormUpload(body, req.headers.get('content-type')!);
    assert.ok((await readAll(up.file)).equals(content));
  });

  // Data that looks like (parts of) the delimiter must pass through untouched.
  const tricky: [string, Buffer][] = [
    ['a full boundary without the leading CRLF', Buffer.from(`abc--${B}--\r\nxyz`)],
    ['CRLF + "--" + a boundary prefix', Buffer.from(`abc\r\n--${B.slice(0, -1)}\r\n`)],
    ['CRLF + "-" + boundary', Buffer.from(`\r\n-${B}`)],
    ['CRLF + "--" + a different boundary', Buffer.from(`\r\n--${B.toLowerCase()}--`)],
    ['many CRs and CRLFs', Buffer.from('\r\r\n\r\n\r\r\r\n-\r\n--\r\n\r')],
    ['content ending in CR', Buffer.from('data\r')],
    ['content ending in CRLF', Buffer.from('data\r\n')],
    ['content ending in CRLF-', Buffer.from('data\r\n-')],
    ['content ending in CRLF--', Buffer.from('data\r\n--')],
    ['content ending in CRLF + boundary prefix', Buffer.from(`data\r\n--${B.slice(0, 5)}`)],
    ['content that is only CRLF', Buffer.from('\r\n')],
    ['content starting with CRLF CRLF', Buffer.from('\r\n\r\nbody')],
  ];
  for (const [label, content] of tricky) {
    it(`keeps ${label} in the file`, async () => {
      const body = handBody([], content, [part('x', 'y')]);
      for (const [min, max] of [[1, 1], [1, 3], [2, 40], [100, 100]] as const) {
        for (let seed = 1; seed <= 8; seed++) {
          const up = await parseFormUpload(chunked(body, seed, min, max), CT);
          assert.deepEqual(await readAll(up.file), content, `chunks ${min}..${max} seed ${seed}`);
        }
      }
    });
  }

  it('random content seeded with delimiter fragments survives 1..64-byte chunking', async () => {
    const rand = rng(99);
    const d = `\r\n--${B}`;
    let content: Buffer;
    // Random bytes can complete a fragment into the whole delimiter, which would really end
    // the file: such content is not a valid upload, so draw again until it holds none.
    do {
      const pieces: Buffer[] = [];
      for (let i = 0; i < 400; i++) pieces.push(randomBytes(rand(0, 50)), Buffer.from(d.slice(0, rand(0, d.length - 1))));
      content = Buffer.concat(pieces);
    } while (content.includes(d));
    const body = handBody([['k', 'v']], content);
    for (let seed = 1; seed <= 10; seed++) {
      const up = await parseFormUpload(chunked(body, seed, 1, 64), CT);
      assert.ok((await readAll(up.file)).equals(content), `seed ${seed}`);
    }
  });
});

describe('parseFormUpload: streaming behaviour', () => {
  it('resolves once the file headers are parsed, before the file content arrives', async () => {
    const head = Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n`);
    const body = new Readable({ read() {} });
    body.push(head);
    const up = await parseFormUpload(body, CT);
    assert.equal(up.fileName, 'f');
    body.push(Buffer.from('late content'));
    body.push(Buffer.from(`\r\n--${B}--\r\n`));
    body.push(null);
    assert.equal((await readAll(up.file)).toString(), 'late content');
  });

  it('respects backpressure: an unread 5 MiB file is not pulled from the body', async () => {
    const content = randomBytes(5 * 1024 * 1024);
    const body = handBody([], content);
    const src = chunked(body, 5, 16 * 1024, 64 * 1024);
    const up = await parseFormUpload(src, CT);
    up.file.resume();
    up.file.pause();
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(src.served() < 1024 * 1024, `served ${src.served()} bytes while paused`);
    up.file.resume();
    const hash = createHash('sha256');
    for await (const c of up.file) hash.update(c as Buffer);
    assert.deepEqual(hash.digest(), createHash('sha256').update(content).digest());
  });

  it('works on a real HTTP request posted with fetch and FormData', async () => {
    const content = randomBytes(3 * 1024 * 1024 + 17);
    const server = createServer((req, res) => {
      parseFormUpload(req, req.headers['content-type'] ?? '')
        .then(async (up) => {
          const hash = createHash('sha256');
          for await (const c of up.file) hash.update(c as Buffer);
          res.end(JSON.stringify({ fields: up.fields, name: up.fileName, sha: hash.digest('hex') }));
        })
        .catch((e: Error) => {
          res.statusCode = 400;
          res.end(e.message);
        });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const fd = new FormData();
      fd.append('Key', 'a/b');
      fd.append('file', new Blob([content]), 'big.bin');
      fd.append('trailing', 'x');
      const res = await fetch(`http://127.0.0.1:${port}/bucket`, { method: 'POST', body: fd });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {
        fields: { key: 'a/b' },
        name: 'big.bin',
        sha: createHash('sha256').update(content).digest('hex'),
      });
    } finally {
      server.close();
    }
  });
});

describe('parseFormUpload: errors', () => {
  const MALFORMED = 'The body of your POST request is not well-formed multipart/form-data.';

  it('rejects a Content-Type without a boundary, or not form-data, as MalformedPOSTRequest', async () => {
    for (const ct of ['multipart/form-data', 'application/x-www-form-urlencoded', '']) {
      await assert.rejects(parseFormUpload(chunked(handBody([], Buffer.from('x')), 1), ct), isServiceError('MalformedPOSTRequest', MALFORMED));
    }
  });

  it('rejects bodies that are not well-formed', async () => {
    const bad: [string, string][] = [
      ['empty body', ''],
      ['no delimiter at all', 'just some text'],
      ['garbage after a delimiter', `--${B}xx\r\n`],
      ['part without Content-Disposition', `--${B}\r\nContent-Type: text/plain\r\n\r\nv\r\n--${B}--`],
      ['part without headers', `--${B}\r\n\r\nv\r\n--${B}--`],
      ['disposition without a name', `--${B}\r\nContent-Disposition: form-data\r\n\r\nv\r\n--${B}--`],
      ['header line without a colon', `--${B}\r\nContent-Disposition form-data; name="a"\r\n\r\nv\r\n--${B}--`],
      ['body ending inside a field', `--${B}\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue`],
      ['body ending inside part headers', `--${B}\r\nContent-Disposition: form-da`],
    ];
    for (const [label, text] of bad) {
      await assert.rejects(parseFormUpload(chunked(Buffer.from(text), 1, 1, 4), CT), isServiceError('MalformedPOSTRequest', MALFORMED), label);
    }
  });

  it('rejects a form without a file field as InvalidArgument (ArgumentName=file)', async () => {
    const body = handBody([['key', 'a'], ['policy', 'p']], undefined);
    await assert.rejects(parseFormUpload(chunked(body, 1), CT), (e: unknown) => {
      isServiceError('InvalidArgument', 'POST requires exactly one file upload per request.')(e);
      assert.equal((e as ServiceError).fields['ArgumentName'], 'file');
      return true;
    });
  });

  it('rejects fields preceding the file beyond the limit as MaxPostPreDataLengthExceeded', async () => {
    const TOO_LARGE = 'Your POST request fields preceding the upload file were too large.';
    const big = handBody([['policy', 'p'.repeat(21 * 1024)]], Buffer.from('x'));
    await assert.rejects(parseFormUpload(chunked(big, 1), CT), isServiceError('MaxPostPreDataLengthExceeded', TOO_LARGE));
    const many = handBody(Array.from({ length: 30 }, (_, i): [string, string] => [`f${i}`, 'v'.repeat(1000)]), Buffer.from('x'));
    await assert.rejects(parseFormUpload(chunked(many, 2), CT), isServiceError('MaxPostPreDataLengthExceeded', TOO_LARGE));
    const small = handBody([['policy', 'p'.repeat(100)]], Buffer.from('x'));
    await assert.rejects(parseFormUpload(chunked(small, 3), CT, { maxFieldBytes: 50 }), isServiceError('MaxPostPreDataLengthExceeded'));
    // Just under the default limit passes.
    const ok = handBody([['policy', 'p'.repeat(20 * 1024 - 100)]], Buffer.from('x'));
    const up = await parseFormUpload(chunked(ok, 4), CT);
    assert.equal((await readAll(up.file)).toString(), 'x');
  });

  it('errors the file stream when the body ends before the closing delimiter', async () => {
    for (const tail of ['', '\r', '\r\n--', `\r\n--${B}`, `\r\n--${B}-`]) {
      const body = Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"\r\n\r\npartial content${tail}`);
      const up = await parseFormUpload(chunked(body, 1, 1, 4), CT);
      await assert.rejects(readAll(up.file), isServiceError('MalformedPOSTRequest', MALFORMED), JSON.stringify(tail));
    }
  });

  it('errors the file stream on garbage after the delimiter that ends the file', async () => {
    const body = Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"\r\n\r\ncontent\r\n--${B}junk\r\n`);
    const up = await parseFormUpload(chunked(body, 1, 1, 4), CT);
    await assert.rejects(readAll(up.file), isServiceError('MalformedPOSTRequest'));
  });

  it('passes a body stream error through to the file stream', async () => {
    const body = new Readable({ read() {} });
    body.push(Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc`));
    const up = await parseFormUpload(body, CT);
    setImmediate(() => body.destroy(new Error('client aborted')));
    await assert.rejects(readAll(up.file), /client aborted/);
  });
});
