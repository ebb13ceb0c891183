// Sign-out while a page is still loading, in a real browser (playwright-core driving
// Debian's Chromium) against the real server. A page's render makes its calls in
// sequence, each signed with the session read at that call; sign-out must end that page,
// or its later calls are signed with whatever session comes next: a page started for
// root goes on as alice, and its calls land in the audit trail under alice.
// The test holds the page's first call, signs out and in again as another principal,
// lets the held call answer, and looks at every request made after that.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Request, type Route } from 'playwright-core';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { startTestServer, ROOT_KEY_ID, ROOT_SECRET, type TestServer } from '../helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
// --disable-dev-shm-usage: containers often have a small /dev/shm, which crashes tabs.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];
// As in console-e2e.test.ts: without Chromium a developer machine skips, CI (CI=1) fails.
const NO_BROWSER = existsSync(CHROMIUM) || process.env['CI'] ? false : `${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`;
const BUCKET = 'console-signout';

function launch(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing and CI is set: the console walk must run in CI (apt-get install chromium)`);
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

/** The access key id a request is signed with (SigV4 Authorization: ... Credential=<id>/<scope>), or '' when unsigned. */
async function signer(req: Request): Promise<string> {
  const auth = (await req.headerValue('authorization')) ?? '';
  return /Credential=([^/,\s]+)\//.exec(auth)?.[1] ?? '';
}

/** Names a request: the KMS target, the IAM/STS Action, or the method and path (S3, the administration API). */
async function describe(req: Request): Promise<string> {
  const url = new URL(req.url());
  const target = await req.headerValue('x-amz-target');
  if (target) return `kms:${target.replace(/^TrentService\./, '')}`;
  if (req.method() === 'POST' && url.pathname === '/' && /\bAction=/.test(req.postData() ?? '')) return `iam:${new URLSearchParams(req.postData()!).get('Action')}`;
  return `${req.method()} ${url.pathname}${url.search}`;
}

interface Scenario {
  /** The page signed out of while it loads. */
  hash: string;
  /** Its first call, held until the next principal is signed in. */
  held: (req: Request) => Promise<boolean>;
  /** The calls this page makes after the held one answers and the next session's landing page (#/keys) never makes. */
  oldPageOnly: RegExp;
}

const SCENARIOS: Scenario[] = [
  // Buckets: ListBuckets, then each bucket's encryption, the keys and the buckets' usage.
  { hash: '#/buckets', held: async (req) => req.method() === 'GET' && new URL(req.url()).pathname === '/', oldPageOnly: /^GET \/console-signout\?encryption=$|^GET \/_coffer\/api\/buckets\/usage$/ },
  // Audit: the keys (to name them), then the events.
  { hash: '#/audit', held: async (req) => (await req.headerValue('x-amz-target')) === 'TrentService.ListKeys', oldPageOnly: /^GET \/_coffer\/api\/audit\/events/ },
];

async function newPrincipal(srv: TestServer, name: string): Promise<{ id: string; secret: string }> {
  const iam = new IAMClient({ endpoint: srv.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, maxAttempts: 1 });
  try {
    await iam.send(new CreateUserCommand({ UserName: name }));
    const k = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!;
    return { id: k.AccessKeyId!, secret: k.SecretAccessKey! };
  } finally {
    iam.destroy();
  }
}

test("signing out while a page loads: the page's later calls are not signed with the next principal's keys", { skip: NO_BROWSER, timeout: 90_000 }, async (t) => {
  const browser = await launch();
  const srv = await startTestServer().catch(async (e: unknown) => {
    await browser.close();
    throw e;
  });
  try {
    await srv.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const alice = await newPrincipal(srv, 'alice');
    for (const s of SCENARIOS) {
      await t.test(`${s.hash}: its first call held over sign-out and alice's sign-in`, async (st) => {
        const context = await browser.newContext();
        try {
          const page = await context.newPage();
          page.setDefaultTimeout(10_000);
          const errors: string[] = [];
          page.on('pageerror', (e) => errors.push(e.message));
          // Every signed request, named, with its signer and whether it was made after the held call was let go.
          let released = false;
          const seen: Array<Promise<{ what: string; signer: string; afterRelease: boolean }>> = [];
          page.on('request', (req) => {
            const afterRelease = released;
            seen.push(Promise.all([describe(req), signer(req)]).then(([what, by]) => ({ what, signer: by, afterRelease })));
          });
          let hold: (r: Route) => void = () => undefined;
          const held = new Promise<Route>((resolve) => (hold = resolve));
          let holding = true;
          await page.route(
            (url) => url.origin === srv.url,
            async (route) => {
              if (holding && (await s.held(route.request()))) {
                holding = false;
                hold(route);
                return;
              }
              await route.continue();
            },
          );

          await page.goto(`${srv.url}/console${s.hash}`);
          await page.fill('[name=accessKeyId]', ROOT_KEY_ID);
          await page.fill('[name=secretAccessKey]', ROOT_SECRET);
          await page.click('[data-testid=signin] button[type=submit]');
          const first = await held;
          assert.equal(await signer(first.request()), ROOT_KEY_ID, 'the held call was made for root');
          assert.match(await page.textContent('[data-testid=whoami]') ?? '', /:root$/);

          await page.click('text=Sign out');
          await page.locator('[data-testid=signin]').waitFor();
          await page.fill('[name=accessKeyId]', alice.id);
          await page.fill('[name=secretAccessKey]', alice.secret);
          await page.click('[data-testid=signin] button[type=submit]');
          await page.locator('[data-testid=whoami]', { hasText: ':user/alice' }).waitFor();

          released = true;
          // The old page's document may be gone by now, and its request with it.
          await first.continue().catch(() => undefined);
          // The old page, if it lives, makes its next call within milliseconds of the answer.
          await page.waitForTimeout(1500);

          const requests = await Promise.all(seen);
          const asAlice = requests.filter((r) => r.afterRelease && r.signer === alice.id).map((r) => r.what);
          st.diagnostic(`signed as alice after the release: ${asAlice.join(' | ') || '(none)'}`);
          assert.deepEqual(asAlice.filter((w) => s.oldPageOnly.test(w)), [], "no call of the page signed out of is signed with alice's keys");
          assert.match(await page.textContent('[data-testid=whoami]') ?? '', /:user\/alice$/, 'alice stays signed in');
          assert.match(page.url(), /#\/keys$/, "alice's session shows its own landing page");
          assert.deepEqual(errors, []);
        } finally {
          await context.close();
        }
      });
    }
  } finally {
    await browser.close();
    await srv.stop();
  }
});
