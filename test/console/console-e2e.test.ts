// The console end to end in a real browser: playwright-core drives Debian's Chromium
// (installed by .ci/run) against the real server. It walks what an administrator does:
// sign in, create a key and alias, create a user, grant it the key, set a bucket's
// default encryption to that key, upload a file and see its key, disable the key and
// see the download refused, then the audit and usage views; and a limited user who is
// refused key creation and user creation (and nothing changed on the server).
// Every refused request is checked against the list of refusals the walk provokes on
// purpose. Screenshots of each page go to test-artifacts/console/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { createHmac, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { chromium, type Browser, type Page, type ConsoleMessage, type Response } from 'playwright-core';
import { CreateAliasCommand, CreateKeyCommand, GenerateDataKeyCommand, GenerateMacCommand, GetPublicKeyCommand, ListKeysCommand, UpdateAliasCommand } from '@aws-sdk/client-kms';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { startTestServer, ROOT_KEY_ID, ROOT_SECRET } from '../helpers/server.js';
import { adminCall } from '../helpers/admin.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = new URL('../../../test-artifacts/console/', import.meta.url).pathname;
// --disable-dev-shm-usage: containers often have a small /dev/shm, which crashes tabs.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];
const BUCKET = 'console-e2e';
const ALIAS = 'alias/console-e2e';
const LONG_DESCRIPTION = 'Encrypts the finance ledger exports; owner arn:aws:iam::123456789012:role/' + 'finance-ledger-export-'.repeat(10) + 'reader, rotated yearly';
const SEALED = Buffer.from('only the client has the key\n');

// A developer machine without Chromium skips the walks; in CI (.ci/run exports CI=1,
// and installs Chromium) a missing browser fails them, so the console is never silently untested.
const NO_BROWSER = existsSync(CHROMIUM) || process.env['CI'] ? false : `${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`;

function launch(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing and CI is set: the console walk must run in CI (apt-get install chromium)`);
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

interface Problem {
  text: string;
  url: string;
}

// The steps of the walk, in order, and every request in them the server refuses on purpose:
// "<step> <what> <status> <code>".
const steps = ['sign-in', 'key', 'byok', 'user', 'grant', 'iam', 'bucket', 'upload', 'bucket-key', 'disable', 'audit', 'usage', 'alice-sign-in', 'alice-create-key', 'alice-buckets', 'alice-users', 'alice-create-user'];
const EXPECTED_REFUSALS: string[] = [
  'sign-in admin:whoami 403 SignatureDoesNotMatch', // the wrong secret
  // KMS answers with 400 for these, as AWS KMS does.
  'key kms:PutKeyPolicy 400 MalformedPolicyDocumentException',
  'bucket GET /console-e2e?policy= 404 NoSuchBucketPolicy', // the policy tab before a policy is saved
  // An SSE-C object: HEAD without its key is a bare 400, its attributes name the reason (and the console shows SSE-C).
  'upload HEAD /console-e2e/sealed/secret.bin 400 ',
  'upload GET /console-e2e/sealed/secret.bin?attributes= 400 InvalidRequest',
  'disable GET /console-e2e/hello.bin 400 KMS.DisabledException',
  'alice-create-key kms:CreateKey 400 AccessDeniedException',
  'alice-buckets GET / 403 AccessDenied', // ListBuckets
  'alice-users iam:ListUsers 403 AccessDenied',
  'alice-create-user iam:CreateUser 403 AccessDenied',
];

interface Refusal {
  step: string;
  url: string;
  status: number;
  /** What was refused: "kms:CreateKey", "iam:CreateUser", "GET /bucket?policy=", "admin:whoami". */
  what: string;
  /** The wire error code from the body (KMS __type, S3/IAM <Code>, admin JSON code); "" when there is no body. */
  code: string;
}

/** Names a refused request precisely: the KMS target, the IAM/STS Action, the admin route or the S3 method and path. */
async function describeRefusal(res: Response, step: string): Promise<Refusal> {
  const req = res.request();
  const url = new URL(res.url());
  const target = await req.headerValue('x-amz-target');
  let what: string;
  if (target) what = `kms:${target.replace(/^TrentService\./, '')}`;
  else if (url.pathname.startsWith('/_coffer/api/')) what = `admin:${url.pathname.slice('/_coffer/api/'.length)}`;
  else if (req.method() === 'POST' && url.pathname === '/' && /\bAction=/.test(req.postData() ?? '')) what = `iam:${new URLSearchParams(req.postData()!).get('Action')}`;
  else what = `${req.method()} ${url.pathname}${url.search}`;
  let body = '';
  try {
    body = await res.text();
  } catch {
    // HEAD, or a body the browser has already let go of: the status still names the refusal.
  }
  const code = /"__type"\s*:\s*"(?:[^"#]*#)?([^"]+)"/.exec(body)?.[1] ?? /"code"\s*:\s*"([^"]+)"/.exec(body)?.[1] ?? /<Code>([^<]+)<\/Code>/.exec(body)?.[1] ?? '';
  return { step, url: res.url(), status: res.status(), what, code };
}

test('the console in Chromium: keys, users, grants, buckets, upload, disable, audit, usage', { skip: NO_BROWSER, timeout: 180_000 }, async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // The browser first: if it cannot start, no server is left running.
  const browser: Browser = await launch();
  const srv = await startTestServer().catch(async (e: unknown) => {
    await browser.close();
    throw e;
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems: Problem[] = [];
  page.on('pageerror', (e) => problems.push({ text: `pageerror: ${e.message}`, url: '' }));
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push({ text: `${m.type()}: ${m.text()}`, url: m.location().url });
  });
  // Every refused request, named by what it asked for and tagged with the step that made it.
  let step = 'sign-in';
  const pending: Array<Promise<Refusal>> = [];
  page.on('response', (res) => {
    if (res.status() >= 400) pending.push(describeRefusal(res, step));
  });
  let shots = 0;
  // Numbered in walk order, so the directory reads as the story of the test.
  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: `${ARTIFACTS}${String(++shots).padStart(2, '0')}-${name}.png`, fullPage: true });
  // The audit and usage views are part of the console: their routes must answer.
  assert.equal((await adminCall(srv, 'GET', 'audit/events')).status, 200, 'the audit route answers');
  assert.equal((await adminCall(srv, 'GET', 'usage')).status, 200, 'the usage route answers');
  const countKeys = async (): Promise<number> => (await srv.kms.send(new ListKeysCommand({ Limit: 1000 }))).Keys?.length ?? 0;
  let keyId = '';
  let aliceArn = '';
  let alice = { id: '', secret: '' };
  // Large enough that the upload outlasts Chromium's progress reporting interval (about 100 ms) even on loopback.
  const payload = randomBytes(32 * 1024 * 1024 + 123);
  try {
    await t.test('sign in with the root credentials', async () => {
      await page.goto(`${srv.url}/console`);
      await shot('sign-in');
      await page.fill('[name=accessKeyId]', ROOT_KEY_ID);
      await page.fill('[name=secretAccessKey]', 'not-the-secret');
      await page.click('[data-testid=signin] button[type=submit]');
      await page.locator('[data-testid=signin] [data-testid=error]', { hasText: 'SignatureDoesNotMatch' }).waitFor();
      assert.equal(await page.evaluate('sessionStorage.length'), 0, 'a refused sign-in keeps nothing');
      await signIn(page, ROOT_KEY_ID, ROOT_SECRET);
      assert.match(await page.textContent('[data-testid=whoami]') ?? '', /^arn:aws:iam::\d{12}:root$/);
    });

    await t.test('create a key with an alias', async () => {
      step = 'key';
      // A key whose description holds a long unbroken token (an ARN): it wraps in its cell and is whole in the title.
      await srv.kms.send(new CreateKeyCommand({ Description: LONG_DESCRIPTION }));
      await page.click('text=Create key');
      await page.fill('dialog[open] [name=alias]', ALIAS);
      await page.fill('dialog[open] [name=description]', 'made by the console test');
      await page.click('dialog[open] button[type=submit]');
      const row = page.locator('[data-testid=keys-table] tr', { hasText: ALIAS });
      await row.waitFor();
      keyId = (await row.locator('[data-key]').getAttribute('data-key'))!;
      assert.match(keyId, /^[0-9a-f-]{36}$/);
      assert.match(await row.textContent() ?? '', /Enabled/);
      await row.locator('[data-key]').click();
      const policy = page.locator('.panel .policy-editor textarea');
      await policy.waitFor();
      assert.match(await policy.inputValue(), /"Enable IAM User Permissions"/);
      await shot('key-panel');
      // The editor checks JSON before sending; the server judges the policy itself.
      await policy.fill('{"Version": "2012-10-17", "Statement": [');
      await page.click('.panel >> text=Save policy');
      await page.locator('[data-testid=policy-status]', { hasText: 'Invalid JSON' }).waitFor();
      await policy.fill('{"Version": "2012-10-17", "Statement": "not a statement"}');
      await page.click('.panel >> text=Save policy');
      await page.locator('.panel [data-testid=error]', { hasText: 'MalformedPolicyDocumentException' }).waitFor();
      // Rotation: automatic on, then one on demand.
      await page.click('.panel >> text=Turn on rotation');
      await page.locator('.panel dd', { hasText: 'On, every 365 days' }).waitFor();
      await page.click('.panel >> text=Rotate now');
      await page.locator('.panel [data-testid=rotations]', { hasText: /^1 \u2014 last .*\(on-demand\)$/ }).waitFor();
      // Deletion scheduled, cancelled (which leaves the key disabled, as in AWS), enabled again.
      await page.click('.panel >> text=Schedule deletion');
      await page.fill('dialog[open] [name=days]', '7');
      await page.click('dialog[open] button[type=submit]');
      await page.locator('.panel dd', { hasText: 'PendingDeletion' }).waitFor();
      await page.locator('.panel dt', { hasText: 'Deletion date' }).waitFor();
      await shot('key-pending-deletion');
      await page.click('.panel >> text=Cancel deletion');
      await page.locator('.panel dd', { hasText: /^Disabled$/ }).waitFor();
      await page.click('.panel >> text=Enable key');
      await page.locator('.panel dd', { hasText: /^Enabled$/ }).waitFor();
      await page.click('.panel >> text=Add alias');
      await page.fill('dialog[open] [name=alias]', 'console-e2e-second');
      await page.click('dialog[open] button[type=submit]');
      await page.locator('.panel .chip', { hasText: 'alias/console-e2e-second' }).waitFor();
      await page.click('.panel >> text=Close');
      const description = page.locator('[data-testid=keys-table] [data-testid=key-description]', { hasText: 'finance ledger' });
      assert.equal(await description.getAttribute('title'), LONG_DESCRIPTION);
      assert.equal(await description.textContent(), LONG_DESCRIPTION, 'the description is shown whole');
      // It wraps (inside the ARN too) within a bounded column instead of stretching the table one line wide.
      const cell = JSON.parse(await page.evaluate(`(() => {
        const span = [...document.querySelectorAll('[data-testid=keys-table] [data-testid=key-description]')].find((s) => s.textContent.includes('finance ledger'));
        const td = span.closest('td');
        return JSON.stringify({ width: td.getBoundingClientRect().width, multiline: span.getBoundingClientRect().height > 2 * parseFloat(getComputedStyle(span).fontSize), overflow: span.scrollWidth - td.clientWidth });
      })()`) as string) as { width: number; multiline: boolean; overflow: number };
      assert.ok(cell.width <= 560 && cell.multiline && cell.overflow <= 0, `the description wraps in its column: ${JSON.stringify(cell)}`);
      await shot('keys');
    });

    await t.test('imported key material and public keys: an EXTERNAL key waits in PendingImport, the browser wraps and imports the material, an ECC key\'s public key downloads as DER', async () => {
      step = 'byok';
      await page.click('text=Create key');
      await page.fill('dialog[open] [name=description]', 'console byok');
      await page.selectOption('dialog[open] [name=spec]', 'HMAC_256/GENERATE_VERIFY_MAC');
      await page.selectOption('dialog[open] [name=origin]', 'EXTERNAL');
      await page.click('dialog[open] button[type=submit]');
      const row = page.locator('[data-testid=keys-table] tr', { hasText: 'console byok' });
      await row.waitFor();
      assert.match(await row.textContent() ?? '', /PendingImport/);
      const hmacKeyId = (await row.locator('[data-key]').getAttribute('data-key'))!;
      await row.locator('[data-key]').click();
      await page.locator('.panel dd', { hasText: 'waiting for key material' }).waitFor();
      await page.click('.panel >> text=Import key material');
      const material = randomBytes(32);
      await page.setInputFiles('dialog[open] [name=material]', { name: 'material.bin', mimeType: 'application/octet-stream', buffer: material });
      await page.click('dialog[open] button[type=submit]');
      await page.locator('.panel dd', { hasText: /^Enabled$/ }).waitFor();
      await page.locator('.panel dd', { hasText: 'imported \u2014 does not expire' }).waitFor();
      await shot('key-imported');
      // The material really is the file's: the MAC equals HMAC-SHA-256 over the same bytes.
      const mac = await srv.kms.send(new GenerateMacCommand({ KeyId: hmacKeyId, Message: Buffer.from('console'), MacAlgorithm: 'HMAC_SHA_256' }));
      assert.ok(Buffer.from(mac.Mac!).equals(createHmac('sha256', material).update('console').digest()));
      await page.click('.panel >> text=Close');

      await page.click('text=Create key');
      await page.fill('dialog[open] [name=description]', 'console ecdh');
      await page.selectOption('dialog[open] [name=spec]', 'ECC_NIST_P384/KEY_AGREEMENT');
      await page.click('dialog[open] button[type=submit]');
      const ecc = page.locator('[data-testid=keys-table] tr', { hasText: 'console ecdh' });
      await ecc.waitFor();
      const eccKeyId = (await ecc.locator('[data-key]').getAttribute('data-key'))!;
      await ecc.locator('[data-key]').click();
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('.panel >> text=Download public key')]);
      assert.equal(download.suggestedFilename(), `${eccKeyId}.der`);
      const der = await readFile((await download.path())!);
      assert.ok(der.equals(Buffer.from((await srv.kms.send(new GetPublicKeyCommand({ KeyId: eccKeyId }))).PublicKey!)), 'the download is GetPublicKey\'s DER');
      await page.click('.panel >> text=Close');
    });

    await t.test('create a user with an access key and an inline policy', async () => {
      step = 'user';
      await page.goto(`${srv.url}/console#/iam/users`);
      await page.click('text=Create user');
      await page.fill('dialog[open] [name=name]', 'alice');
      await page.click('dialog[open] button[type=submit]');
      await page.click('[data-testid=users-table] >> text=alice');
      await page.click('.panel >> text=Create access key');
      const secret = page.locator('[data-testid=new-secret] code');
      await secret.nth(1).waitFor();
      alice = { id: (await secret.nth(0).textContent())!, secret: (await secret.nth(1).textContent())! };
      assert.match(alice.id, /^AKIA/);
      assert.ok(alice.secret.length >= 30);
      aliceArn = (await page.locator('.panel-body > p code').first().textContent())!;
      assert.match(aliceArn, /:user\/alice$/);
      await page.click('.panel >> text=Add inline policy');
      await page.fill('dialog[open] [name=name]', 'console-read');
      await page.fill('dialog[open] [name=doc]', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['kms:ListKeys', 'kms:ListAliases', 'kms:DescribeKey'], Resource: '*' }] }));
      await page.click('dialog[open] button[type=submit]');
      await page.locator('.panel td', { hasText: 'console-read' }).waitFor();
      await shot('user-panel');
      await page.click('.panel >> text=Close');
      await shot('users');
    });

    await t.test('grant the user the key', async () => {
      step = 'grant';
      await page.goto(`${srv.url}/console#/grants?key=${keyId}`);
      await page.click('text=Create grant');
      await page.fill('dialog[open] [name=grantee]', aliceArn);
      await page.fill('dialog[open] [name=name]', 'alice-uses-the-key');
      await page.click('dialog[open] button[type=submit]');
      const row = page.locator('[data-testid=grants-table] tr', { hasText: 'alice-uses-the-key' });
      await row.waitFor();
      assert.match(await row.textContent() ?? '', /Decrypt.*GenerateDataKey/);
      await shot('grants');
      // The grant is real: alice (no identity policy for it) may now generate data keys under the key.
      const aliceKms = srv.kmsClient({ credentials: { accessKeyId: alice.id, secretAccessKey: alice.secret } });
      const dk = await aliceKms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }));
      assert.equal(dk.Plaintext?.length, 32);
      aliceKms.destroy();
      // A second grant, limited to an encryption context, then revoked.
      await page.click('text=Create grant');
      await page.fill('dialog[open] [name=grantee]', aliceArn);
      await page.fill('dialog[open] [name=name]', 'context-only');
      await page.selectOption('dialog[open] [name=ctxKind]', 'subset');
      await page.fill('dialog[open] [name=ctx]', '{"purpose": "e2e"}');
      await page.click('dialog[open] button[type=submit]');
      const limited = page.locator('[data-testid=grants-table] tr', { hasText: 'context-only' });
      await limited.waitFor();
      assert.match(await limited.textContent() ?? '', /context includes \{"purpose":"e2e"\}/);
      await limited.locator('text=Revoke').click();
      await page.click('dialog[open] button[type=submit]');
      await limited.waitFor({ state: 'detached' });
      assert.equal(await page.locator('[data-testid=grants-table] tbody tr').count(), 1);
    });

    await t.test('a managed policy, a group with a member and the policy, a role with a trust policy', async () => {
      step = 'iam';
      await page.goto(`${srv.url}/console#/iam/policies`);
      await page.click('text=Create policy');
      await page.fill('dialog[open] [name=name]', 'read-objects');
      await page.click('dialog[open] button[type=submit]');
      await page.locator('[data-testid=policies-table] tr', { hasText: 'read-objects' }).waitFor();
      await page.goto(`${srv.url}/console#/iam/groups`);
      await page.click('text=Create group');
      await page.fill('dialog[open] [name=name]', 'analysts');
      await page.click('dialog[open] button[type=submit]');
      await page.click('[data-testid=groups-table] >> text=analysts');
      await page.fill('.panel [name=member]', 'alice');
      await page.click('.panel >> text=Add member');
      await page.locator('.panel td', { hasText: /^alice$/ }).waitFor();
      await page.selectOption('.panel select[name=policy]', { label: 'read-objects' });
      await page.click('.panel button:has-text("Attach")');
      await page.locator('.panel td', { hasText: 'read-objects' }).waitFor();
      await shot('group-panel');
      await page.click('.panel >> text=Close');
      await page.goto(`${srv.url}/console#/iam/roles`);
      await page.click('text=Create role');
      await page.fill('dialog[open] [name=name]', 'reader');
      await page.click('dialog[open] button[type=submit]');
      await page.click('[data-testid=roles-table] >> text=reader');
      assert.match(await page.locator('.panel textarea[name=trust]').inputValue(), /sts:AssumeRole/);
      await page.click('.panel >> text=Close');
      await shot('roles');
      // Sortable tables: the users table by name, descending then.
      await page.goto(`${srv.url}/console#/iam/users`);
      await page.click('[data-testid=users-table] th:has-text("Name")');
      await page.click('[data-testid=users-table] th:has-text("Name")');
      assert.equal(await page.getAttribute('[data-testid=users-table] th:has-text("Name")', 'aria-sort'), 'descending');
    });

    await t.test("create a bucket and set its default encryption to the key", async () => {
      step = 'bucket';
      await page.goto(`${srv.url}/console#/buckets`);
      await page.click('text=Create bucket');
      await page.fill('dialog[open] [name=name]', BUCKET);
      await page.click('dialog[open] button[type=submit]');
      await page.click(`[data-testid=buckets-table] >> text=${BUCKET}`);
      await page.click('.tabs >> text=Default encryption');
      await page.selectOption('select[name=algorithm]', 'aws:kms');
      const option = page.locator('select[name=key] option', { hasText: ALIAS });
      await page.selectOption('select[name=key]', (await option.getAttribute('value'))!);
      await page.click('button:has-text("Save")');
      await page.locator('[data-testid=current-encryption]', { hasText: 'SSE-KMS' }).waitFor();
      assert.match(await page.textContent('[data-testid=current-encryption]') ?? '', new RegExp(ALIAS));
      await shot('bucket-encryption');
      await page.click('.tabs >> text=Bucket policy');
      await page.locator('.banner-info', { hasText: 'no policy' }).waitFor();
      await page.fill('textarea[name=policy]', JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'AliceReads', Effect: 'Allow', Principal: { AWS: aliceArn }, Action: 's3:GetObject', Resource: `arn:aws:s3:::${BUCKET}/*` }] }));
      await page.click('button:has-text("Save policy")');
      await page.locator('[data-testid=toast]', { hasText: 'Bucket policy saved' }).waitFor();
      await page.reload();
      assert.match(await page.locator('textarea[name=policy]').inputValue(), /"Sid": "AliceReads"/);
      await shot('bucket-policy');
      await page.goto(`${srv.url}/console#/buckets`);
      const listed = page.locator('[data-testid=buckets-table] tr', { hasText: 'SSE-KMS' });
      await listed.waitFor();
      assert.match(await listed.textContent() ?? '', new RegExp(ALIAS), 'the default key by its alias');
      await shot('buckets');
    });

    await t.test('upload a file with a progress bar and see its key in the object list', async () => {
      step = 'upload';
      await page.goto(`${srv.url}/console#/buckets/${BUCKET}`);
      await page.locator('[data-testid=upload-progress]').waitFor({ state: 'attached' });
      // Every value the progress bar takes during the upload, seen as it changes (a bar that
      // jumps from 0 to 100 would pass a check of the final value alone).
      // (A string: the tests compile without the DOM library.)
      await page.evaluate(`
        window.progressSeen = [];
        new MutationObserver((changes) => {
          for (const c of changes) if (c.target.dataset.testid === 'upload-progress') window.progressSeen.push(c.target.value);
        }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['value'] });
      `);
      await page.setInputFiles('[data-testid=upload-file]', { name: 'hello.bin', mimeType: 'application/octet-stream', buffer: payload }, { timeout: 90_000 });
      // Chromium's own throttling makes the upload last about half a second however fast the
      // machine: over loopback it can otherwise end before the first progress event (Chromium
      // sends one every 50 ms), and the bar would have nothing between 0 and 100 to show.
      const cdp = await page.context().newCDPSession(page);
      const upTo = (uploadThroughput: number) => cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput });
      await cdp.send('Network.enable');
      await upTo(payload.length * 2);
      await page.click('.uploader button:has-text("Upload")');
      await page.locator('[data-testid=upload-status]', { hasText: 'Uploaded hello.bin' }).waitFor({ timeout: 60_000 });
      await upTo(-1);
      await cdp.detach();
      assert.equal(await page.getAttribute('[data-testid=upload-progress]', 'value'), '100');
      const progress = (await page.evaluate('window.progressSeen')) as number[];
      t.diagnostic(`progress values seen: ${progress.join(' ')}`);
      assert.ok(progress.some((v) => v > 0 && v < 100), `the bar moved through intermediate values, saw: ${progress.join(' ')}`);
      assert.equal(progress.at(-1), 100);
      const row = page.locator('[data-testid=objects-table] tr', { hasText: 'hello.bin' });
      await row.waitFor();
      assert.match(await row.textContent() ?? '', /SSE-KMS/);
      assert.match(await row.locator('[data-testid=object-key]').textContent() ?? '', new RegExp(ALIAS));
      assert.match(await row.locator('[data-testid=object-key]').getAttribute('title') ?? '', new RegExp(`key/${keyId}$`));
      await shot('objects');
      const [download] = await Promise.all([page.waitForEvent('download'), row.locator('text=Download').click()]);
      const got = await download.path();
      const { readFile } = await import('node:fs/promises');
      assert.ok((await readFile(got)).equals(payload), 'the downloaded file is the uploaded one');
      // Into a folder, with SSE-S3 chosen for this upload: the folder appears, and in it the object with its own encryption.
      await page.fill('.uploader [name=folder]', 'docs');
      await page.selectOption('.uploader [name=sse]', 'AES256');
      await page.setInputFiles('[data-testid=upload-file]', { name: 'readme.txt', mimeType: 'text/plain', buffer: Buffer.from('read me\n') });
      await page.click('.uploader button:has-text("Upload")');
      await page.locator('[data-testid=upload-status]', { hasText: 'Uploaded docs/readme.txt' }).waitFor();
      await page.click('[data-testid=objects-table] a.folder');
      await page.waitForURL(/prefix=docs%2F/);
      const inFolder = page.locator('[data-testid=objects-table] tr', { hasText: 'readme.txt' });
      await inFolder.waitFor();
      assert.match(await inFolder.textContent() ?? '', /SSE-S3/);
      assert.equal(await inFolder.locator('[data-testid=object-key]').count(), 0, 'no KMS key on an SSE-S3 object');
      await shot('objects-folder');
      // An SSE-C object (written by a client with its own key): the list shows SSE-C, not HEAD's bare 400.
      await srv.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'sealed/secret.bin', Body: SEALED, SSECustomerAlgorithm: 'AES256', SSECustomerKey: randomBytes(32).toString('base64') }));
      await page.goto(`${srv.url}/console#/buckets/${BUCKET}?prefix=sealed%2F`);
      const sealed = page.locator('[data-testid=objects-table] tr', { hasText: 'secret.bin' });
      await sealed.locator('.badge').waitFor();
      assert.match(await sealed.textContent() ?? '', /SSE-C/);
      assert.doesNotMatch(await sealed.textContent() ?? '', /BadRequest|InvalidRequest/);
      await shot('objects-sse-c');
      await page.click(`.prefix-crumbs >> text=${BUCKET}`);
      await page.locator('[data-testid=objects-table] tr', { hasText: 'hello.bin' }).waitFor();
    });

    await t.test('a bucket with an S3 Bucket Key: two files in one upload, both under the bucket key', async () => {
      step = 'bucket-key';
      await page.goto(`${srv.url}/console#/buckets`);
      // Each bucket's object count and size: hello.bin, docs/readme.txt and sealed/secret.bin.
      const counted = page.locator('[data-testid=buckets-table] tr', { hasText: BUCKET });
      await counted.locator('[data-testid=bucket-objects]').waitFor();
      assert.equal(await counted.locator('[data-testid=bucket-objects]').textContent(), '3');
      const bytes = payload.length + 'read me\n'.length + SEALED.length;
      assert.equal(await counted.locator('[data-testid=bucket-size]').getAttribute('title'), `${bytes.toLocaleString('en-US')} bytes`);
      assert.equal(await counted.locator('[data-testid=bucket-size]').textContent(), '32 MiB');
      await page.click('text=Create bucket');
      await page.fill('dialog[open] [name=name]', `${BUCKET}-bk`);
      await page.click('dialog[open] button[type=submit]');
      await page.goto(`${srv.url}/console#/buckets/${BUCKET}-bk/encryption`);
      await page.selectOption('select[name=algorithm]', 'aws:kms');
      await page.selectOption('select[name=key]', (await page.locator('select[name=key] option', { hasText: ALIAS }).first().getAttribute('value'))!);
      await page.check('input[name=bucketKey]');
      await page.click('button:has-text("Save")');
      await page.locator('[data-testid=current-encryption]', { hasText: 'bucket key' }).waitFor();
      await page.goto(`${srv.url}/console#/buckets/${BUCKET}-bk`);
      await page.setInputFiles('[data-testid=upload-file]', [
        { name: 'one.txt', mimeType: 'text/plain', buffer: Buffer.from('one\n') },
        { name: 'two.txt', mimeType: 'text/plain', buffer: Buffer.from('two\n') },
      ]);
      await page.click('.uploader button:has-text("Upload")');
      await page.locator('[data-testid=upload-status]', { hasText: 'Uploaded 2 files' }).waitFor();
      for (const name of ['one.txt', 'two.txt']) {
        const row = page.locator('[data-testid=objects-table] tr', { hasText: name });
        await row.waitFor();
        assert.match(await row.textContent() ?? '', /SSE-KMS\s*bucket key/);
      }
      await shot('objects-bucket-key');
    });

    await t.test('disable the key and see the download refused with the KMS error', async () => {
      step = 'disable';
      await page.goto(`${srv.url}/console#/keys`);
      await page.click(`[data-key="${keyId}"]`);
      await page.click('.panel >> text=Disable key');
      await page.locator('.panel dd', { hasText: 'Disabled' }).waitFor();
      await shot('key-disabled');
      await page.goto(`${srv.url}/console#/buckets/${BUCKET}`);
      await page.locator('[data-testid=objects-table] tr', { hasText: 'hello.bin' }).locator('text=Download').click();
      const banner = page.locator('[data-testid=error]');
      await banner.waitFor();
      assert.match(await banner.textContent() ?? '', /KMS\.DisabledException/);
      await shot('download-refused');
    });

    await t.test('the audit view shows the events', async () => {
      step = 'audit';
      // UpdateAlias names two keys: the alias's old key and its new one.
      const from = await srv.kms.send(new CreateKeyCommand({ Description: 'console alias source' }));
      const to = await srv.kms.send(new CreateKeyCommand({ Description: 'console alias target' }));
      await srv.kms.send(new CreateAliasCommand({ AliasName: 'alias/e2e-moving', TargetKeyId: from.KeyMetadata!.KeyId! }));
      await srv.kms.send(new UpdateAliasCommand({ AliasName: 'alias/e2e-moving', TargetKeyId: to.KeyMetadata!.KeyId! }));
      await page.goto(`${srv.url}/console#/audit`);
      const table = page.locator('[data-testid=audit-table]');
      await table.waitFor();
      const text = await table.textContent() ?? '';
      assert.match(text, /DisableKey/);
      assert.match(text, /GenerateDataKey/);
      assert.match(text, /Decrypt/);
      assert.match(text, /via s3\.amazonaws\.com/, 'S3 calls KMS on the uploader\'s behalf');
      await shot('audit');
      // More than a page of events (50): the next page, then back.
      await page.click('.pager >> text=Next');
      await page.locator('.pager', { hasText: 'Page 2' }).waitFor();
      assert.ok((await page.locator('[data-testid=audit-table] tbody tr').count()) > 0);
      await page.click('.pager >> text=Previous');
      await page.locator('.pager', { hasText: 'Page 1' }).waitFor();
      await page.fill('[name=event]', 'DisableKey');
      await page.click('text=Apply');
      await page.waitForURL(/event=DisableKey/);
      // The URL changes before the filtered page replaces the rows: wait for the table to hold no other event.
      const rows = page.locator('[data-testid=audit-table] tbody tr');
      for (const until = Date.now() + 15_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
        const texts = await rows.allTextContents();
        if (texts.length > 0 && texts.every((t) => t.includes('DisableKey'))) break;
      }
      for (const row of await rows.allTextContents()) assert.match(row, /DisableKey/);
      // Two resources in one event are two names, not one run together.
      await page.fill('[name=event]', 'UpdateAlias');
      await page.click('text=Apply');
      await page.waitForURL(/event=UpdateAlias/);
      const resources = page.locator('[data-testid=audit-table] tbody tr', { hasText: 'UpdateAlias' }).first().locator('[data-testid=audit-resources]');
      await resources.waitFor();
      // The alias's old key (no alias now: its short id) and its new key (by the alias).
      const names = (await resources.textContent() ?? '').split(', ').sort();
      assert.equal(names.length, 2, names.join(' | '));
      assert.equal(names[0], 'alias/e2e-moving');
      assert.equal(names[1], `key/${from.KeyMetadata!.KeyId!.slice(0, 8)}\u2026`);
      await shot('audit-two-keys');
      // Failures only: the refused download's Decrypt is among them, made by S3 for root.
      await page.fill('[name=event]', '');
      await page.fill('[name=error]', 'any');
      await page.click('text=Apply');
      await page.waitForURL(/error=any/);
      await page.locator('[data-testid=audit-table] tbody tr').first().waitFor();
      const failures = await page.locator('[data-testid=audit-table] tbody tr').allTextContents();
      for (const row of failures) assert.doesNotMatch(row, /\bOK\b/);
      assert.ok(failures.some((row) => /Decrypt.*via s3\.amazonaws\.com.*DisabledException/.test(row)), failures.join('\n'));
      await shot('audit-filtered');
    });

    await t.test('the usage view charts the requests', async () => {
      step = 'usage';
      await page.goto(`${srv.url}/console#/usage?since=24h`);
      await page.locator('[data-testid=chart-by-key] rect.bar').first().waitFor();
      assert.ok((await page.locator('[data-testid=chart-by-principal] rect.bar').count()) > 0);
      assert.ok(Number((await page.textContent('[data-testid=usage-total] .stat-value'))!.replace(/,/g, '')) > 0);
      // The second object under the bucket key needed no GenerateDataKey.
      assert.match(await page.textContent('[data-testid=usage-savings] .stat-hint') ?? '', /^[1-9][\d,]* KMS requests? avoided$/);
      await shot('usage');
    });

    await t.test('a limited user is refused creating a key, listing buckets and creating a user, and nothing changes', async () => {
      step = 'alice-sign-in';
      const keysBefore = await countKeys();
      await page.click('text=Sign out');
      await page.locator('[data-testid=signin]').waitFor();
      assert.equal(await page.evaluate('sessionStorage.length'), 0, 'sign-out clears the credentials');
      await signIn(page, alice.id, alice.secret);
      assert.match(await page.textContent('[data-testid=whoami]') ?? '', /:user\/alice$/);
      await page.locator('[data-testid=keys-table] tr', { hasText: ALIAS }).waitFor();
      step = 'alice-create-key';
      await page.click('text=Create key');
      await page.fill('dialog[open] [name=description]', 'alice tries');
      await page.click('dialog[open] button[type=submit]');
      const err = page.locator('dialog[open] [data-testid=error]');
      await err.waitFor();
      assert.match(await err.textContent() ?? '', /AccessDeniedException/);
      assert.match(await err.textContent() ?? '', /kms:CreateKey/);
      await shot('limited-user-denied');
      await page.click('dialog[open] >> text=Cancel');
      assert.equal(await countKeys(), keysBefore, 'the refused CreateKey made no key');
      step = 'alice-buckets';
      await page.goto(`${srv.url}/console#/buckets`);
      await page.locator('[data-testid=error]', { hasText: 'AccessDenied' }).waitFor();
      await shot('limited-user-buckets');
      // A refused change of IAM state: alice may not list users, nor create one.
      step = 'alice-users';
      await page.goto(`${srv.url}/console#/iam/users`);
      await page.locator('[data-testid=error]', { hasText: 'AccessDenied' }).waitFor();
      step = 'alice-create-user';
      await page.click('text=Create user');
      await page.fill('dialog[open] [name=name]', 'mallory');
      await page.click('dialog[open] button[type=submit]');
      const userErr = page.locator('dialog[open] [data-testid=error]');
      await userErr.waitFor();
      assert.match(await userErr.textContent() ?? '', /AccessDenied/);
      assert.match(await userErr.textContent() ?? '', /iam:CreateUser/);
      await shot('limited-user-create-user-denied');
      await page.click('dialog[open] >> text=Cancel');
      const iam = new IAMClient({ endpoint: srv.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, maxAttempts: 1 });
      try {
        await assert.rejects(iam.send(new GetUserCommand({ UserName: 'mallory' })), { name: 'NoSuchEntityException' }, 'the refused CreateUser made no user');
        assert.equal((await iam.send(new GetUserCommand({ UserName: 'alice' }))).User?.UserName, 'alice');
      } finally {
        iam.destroy();
      }
    });

    // Exactly the refusals provoked on purpose, each named by what it asked for (sorted within a step: a page's requests may race).
    const refusals = await Promise.all(pending);
    const got = refusals.map((r) => `${r.step} ${r.what} ${r.status} ${r.code}`);
    const order = (list: string[]): string[] => [...list].sort((a, b) => steps.indexOf(a.split(' ')[0]!) - steps.indexOf(b.split(' ')[0]!) || a.localeCompare(b));
    t.diagnostic(`refusals: ${got.join(' | ')}`);
    assert.deepEqual(order(got), order(EXPECTED_REFUSALS), 'only the refusals the walk provokes on purpose');
    // The browser logs each refused request ("Failed to load resource: ... 403"): those of the refusals above are expected, nothing else is.
    const unexpected = problems.filter((p) => {
      const status = /^error: Failed to load resource: the server responded with a status of (\d+)/.exec(p.text)?.[1];
      return !(status && refusals.some((r) => r.url === p.url && String(r.status) === status));
    });
    assert.deepEqual(unexpected, [], 'no page errors and no console errors other than the refusals provoked on purpose');
  } finally {
    await browser.close();
    await srv.stop();
  }
});

async function signIn(page: Page, id: string, secret: string): Promise<void> {
  await page.fill('[name=accessKeyId]', id);
  await page.fill('[name=secretAccessKey]', secret);
  await page.click('[data-testid=signin] button[type=submit]');
  await page.locator('[data-testid=whoami]').waitFor();
}


// Setting location.hash navigates within the page at once, but its hashchange event comes
// later (Chromium: after the next frame, 5-20 ms here, more on a loaded machine), so the
// route() it triggers runs after whatever the user (or playwright) did in between. Sign-out used to render the
// sign-in form and then, on its own hashchange, render it again: a form already filled
// was replaced by an empty one whose submit the browser blocks (required fields), and the
// walk's second sign-in waited for a whoami that was never sent. This test holds every
// hashchange until the form is filled, then lets them through, so the late event always
// comes at the worst moment.
test('signing out and in again: no late hashchange replaces the sign-in form being filled or the shell just shown', { skip: NO_BROWSER, timeout: 60_000 }, async () => {
  const browser = await launch();
  const srv = await startTestServer().catch(async (e: unknown) => {
    await browser.close();
    throw e;
  });
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Hash navigations started (the Navigation API's navigate event, fired synchronously by a
  // location.hash assignment, not by history.replaceState) and the hashchange events held back.
  const hold = `(() => {
    window.__hashNavigations = 0;
    window.__held = [];
    navigation.addEventListener('navigate', (e) => { if (e.hashChange && e.navigationType !== 'reload') window.__hashNavigations++; });
    window.__hold = (e) => { if (e.isTrusted) { e.stopImmediatePropagation(); window.__held.push(e); } };
    window.addEventListener('hashchange', window.__hold, { capture: true });
  })()`;
  // Waits until every hash navigation started has delivered its (held) hashchange, then delivers them to the console.
  const release = async (): Promise<number> => {
    await page.waitForFunction('window.__held.length === window.__hashNavigations');
    return await page.evaluate(`(() => {
      const held = window.__held.splice(0);
      window.__hashNavigations = 0;
      for (const e of held) window.dispatchEvent(new HashChangeEvent('hashchange', { oldURL: e.oldURL, newURL: e.newURL }));
      return held.length;
    })()`) as number;
  };
  try {
    await page.goto(`${srv.url}/console#/buckets`);
    await page.evaluate(hold);
    await signIn(page, ROOT_KEY_ID, ROOT_SECRET);
    await page.locator('[data-testid=buckets-table]').waitFor();
    await release();
    await page.click('text=Sign out');
    await page.locator('[data-testid=signin]').waitFor();
    // Sign-out loads a fresh document (console-signout.test.ts): hold its hashchanges too.
    await page.evaluate(hold);
    assert.equal(await page.evaluate('sessionStorage.length'), 0, 'sign-out clears the credentials');
    await page.fill('[name=accessKeyId]', ROOT_KEY_ID);
    await page.fill('[name=secretAccessKey]', ROOT_SECRET);
    await release();
    assert.equal(await page.inputValue('[name=accessKeyId]'), ROOT_KEY_ID, 'the form being filled is still the one shown');
    assert.equal(await page.inputValue('[name=secretAccessKey]'), ROOT_SECRET, 'the form being filled is still the one shown');
    await page.click('[data-testid=signin] button[type=submit]');
    const whoami = page.locator('[data-testid=whoami]');
    await whoami.waitFor();
    assert.match(await whoami.textContent() ?? '', /^arn:aws:iam::\d{12}:root$/);
    // The shell shown at sign-in stays: a dialog opened from it is not orphaned by a second render.
    await page.evaluate(`document.querySelector('[data-testid=whoami]').dataset.first = 'yes'`);
    await page.locator('[data-testid=keys-table]').waitFor();
    await release();
    assert.equal(await page.locator('[data-testid=whoami][data-first]').count(), 1, 'the shell shown at sign-in is not rendered again');
    assert.match(page.url(), /#\/keys$/, 'sign-in lands on the keys page');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await srv.stop();
  }
});

test("the console finds the server's region at sign-in and signs every service with it", { skip: NO_BROWSER, timeout: 60_000 }, async () => {
  const browser = await launch();
  const srv = await startTestServer({ COFFER_REGION: 'eu-central-1' }).catch(async (e: unknown) => {
    await browser.close();
    throw e;
  });
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    // The first whoami, signed for us-east-1, is refused (400) before the retry with the server's region.
    if (m.type() === 'error' && !(/\/_coffer\/api\/whoami$/.test(m.location().url) && /status of 400/.test(m.text()))) errors.push(m.text());
  });
  try {
    await page.goto(`${srv.url}/console`);
    await signIn(page, ROOT_KEY_ID, ROOT_SECRET);
    assert.equal(await page.textContent('.topbar .region'), 'eu-central-1');
    await page.locator('[data-testid=keys-table]').waitFor();
    await page.goto(`${srv.url}/console#/buckets`);
    await page.locator('[data-testid=buckets-table]').waitFor();
    await page.goto(`${srv.url}/console#/iam/users`);
    await page.locator('[data-testid=users-table]').waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await srv.stop();
  }
});
