// The AuditStore contract: every implementation (the file log, the PostgreSQL store)
// runs this suite through runAuditStoreContract from its own *.test.ts file. It pins
// what the server relies on: record() resolves once the event is stored (and rejects
// after close), flush() makes what came before it readable, query() answers newest first with CloudTrail's shape, filters and a page
// token that later events do not shift, and close() keeps what was queued.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuditStore } from '../../src/audit/audit-store.js';
import { AuditUnavailableError, type AuditEvent } from '../../src/audit/sink.js';
import { scoped } from '../helpers/store-files.js';

export interface AuditStoreContractOptions {
  /** Closes `store` and opens the same log again, as a restarted server would. */
  reopen?: (store: AuditStore) => Promise<AuditStore>;
  /** A second store on `store`'s log, as another node of a cluster opens it (stores that are shared only). */
  twin?: (store: AuditStore) => Promise<AuditStore>;
}

const ACCOUNT = '111122223333';
const KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;

export function auditEvent(requestId: string, over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    eventName: 'Decrypt',
    caller: { principal: { kind: 'user', accountId: ACCOUNT, arn: ALICE, userName: 'alice', userId: 'AIDAEXAMPLE' } as never, requestId },
    requestParameters: { encryptionContext: { 'aws:s3:arn': 'arn:aws:s3:::photos/cat.jpg' } },
    resources: [{ ARN: KEY, accountId: ACCOUNT, type: 'AWS::KMS::Key' }],
    ...over,
  };
}

const ids = (page: { events: { requestID: string }[] }) => page.events.map((e) => e.requestID);

export function runAuditStoreContract(name: string, make: () => Promise<AuditStore>, opts: AuditStoreContractOptions = {}): void {
  const withStore = scoped(make);

  describe(`AuditStore contract: ${name}`, () => {
    it('record returns at once; after flush, query answers the events newest first as CloudTrail records', withStore(async (s) => {
      for (const id of ['r1', 'r2', 'r3']) s.record(auditEvent(id));
      await s.flush();
      const page = await s.query({ limit: 10 });
      assert.deepEqual(ids(page), ['r3', 'r2', 'r1']);
      assert.equal(page.nextToken, undefined);
      const e = page.events[0]!;
      assert.equal(e.eventVersion, '1.08');
      assert.equal(e.eventSource, 'kms.amazonaws.com');
      assert.equal(e.eventName, 'Decrypt');
      assert.equal(e.eventType, 'AwsApiCall');
      assert.equal(e.userIdentity.type, 'IAMUser');
      assert.equal(e.userIdentity.arn, ALICE);
      assert.deepEqual(e.resources, [{ ARN: KEY, accountId: ACCOUNT, type: 'AWS::KMS::Key' }]);
      assert.deepEqual(e.requestParameters, { encryptionContext: { 'aws:s3:arn': 'arn:aws:s3:::photos/cat.jpg' } });
      assert.equal(new Set(page.events.map((x) => x.eventID)).size, 3, 'each event has its own id');
    }));

    it('record resolves once the event is stored: a query right after it sees the event, with no flush', withStore(async (s) => {
      s.checkWritable();
      await Promise.all(['c1', 'c2', 'c3'].map((id) => s.record(auditEvent(id))));
      assert.deepEqual(ids(await s.query({ limit: 10 })).sort(), ['c1', 'c2', 'c3']);
    }));

    it('records what KMS does by itself as an AwsServiceEvent', withStore(async (s) => {
      s.record(auditEvent('svc', { eventName: 'RotateKey', eventType: 'AwsServiceEvent', requestParameters: {}, additionalEventData: { rotationType: 'AUTOMATIC' } }));
      await s.flush();
      const [e] = (await s.query({ limit: 1 })).events;
      assert.equal(e?.eventType, 'AwsServiceEvent');
      assert.equal(e?.userIdentity.invokedBy, 'kms.amazonaws.com');
      assert.deepEqual(e?.additionalEventData, { rotationType: 'AUTOMATIC' });
    }));

    it('filters by event name, principal, key, bucket and error', withStore(async (s) => {
      s.record(auditEvent('ok'));
      s.record(auditEvent('denied', { errorCode: 'AccessDeniedException', errorMessage: 'no' }));
      s.record(auditEvent('other-op', { eventName: 'GenerateDataKey', requestParameters: { encryptionContext: { 'aws:s3:arn': 'arn:aws:s3:::docs/a' } } }));
      s.record(auditEvent('no-key', { eventName: 'GenerateRandom', resources: [], requestParameters: {} }));
      await s.flush();
      assert.deepEqual(ids(await s.query({ limit: 10, eventName: 'GenerateDataKey' })), ['other-op']);
      assert.deepEqual(ids(await s.query({ limit: 10, error: 'any' })), ['denied']);
      assert.deepEqual(ids(await s.query({ limit: 10, error: 'none' })), ['no-key', 'other-op', 'ok']);
      assert.deepEqual(ids(await s.query({ limit: 10, key: KEY.slice(KEY.lastIndexOf('/') + 1) })), ['other-op', 'denied', 'ok']);
      assert.deepEqual(ids(await s.query({ limit: 10, bucket: 'photos' })), ['denied', 'ok']);
      assert.deepEqual(ids(await s.query({ limit: 10, principal: 'alice' })), ['no-key', 'other-op', 'denied', 'ok']);
      assert.deepEqual(ids(await s.query({ limit: 10, principal: 'bob' })), []);
    }));

    it('pages with a token: no event twice, none missed, and events stored later do not shift the pages', withStore(async (s) => {
      for (let i = 0; i < 7; i++) s.record(auditEvent(`e${i}`));
      await s.flush();
      const first = await s.query({ limit: 3 });
      assert.deepEqual(ids(first), ['e6', 'e5', 'e4']);
      assert.ok(first.nextToken);
      s.record(auditEvent('late'));
      await s.flush();
      const second = await s.query({ limit: 3, nextToken: first.nextToken });
      assert.deepEqual(ids(second), ['e3', 'e2', 'e1']);
      const third = await s.query({ limit: 3, nextToken: second.nextToken });
      assert.deepEqual(ids(third), ['e0']);
      assert.equal(third.nextToken, undefined);
      assert.deepEqual(ids(await s.query({ limit: 1 })), ['late']);
    }));

    it('close stores what was still queued, and nothing is recorded after it', async () => {
      const s = await make();
      const queued = s.record(auditEvent('queued'));
      await s.close();
      await queued;
      await assert.rejects(s.record(auditEvent('after-close')), AuditUnavailableError);
      assert.throws(() => s.checkWritable(), AuditUnavailableError);
      if (!opts.reopen) return;
      const again = await opts.reopen(s);
      try {
        assert.deepEqual(ids(await again.query({ limit: 10 })), ['queued']);
      } finally {
        await again.close();
      }
    });

    if (opts.twin) {
      const twin = opts.twin;
      it('two stores on one log (two nodes): one trail of both, newest first, each event once, pages stable across both', withStore(async (a) => {
        const b = await twin(a);
        try {
          await a.record(auditEvent('a1'));
          await b.record(auditEvent('b1'));
          await a.record(auditEvent('a2'));
          await Promise.all([b.record(auditEvent('b2')), a.record(auditEvent('a3'))]);
          for (const reader of [a, b]) {
            const all = ids(await reader.query({ limit: 10 }));
            assert.equal(all.length, 5);
            assert.deepEqual(all.slice(2), ['a2', 'b1', 'a1'], 'the events awaited one after another are in that order, whichever node wrote them');
            assert.deepEqual(new Set(all.slice(0, 2)), new Set(['b2', 'a3']));
          }
          const first = await b.query({ limit: 2 });
          await a.record(auditEvent('late'));
          const second = await a.query({ limit: 2, nextToken: first.nextToken });
          const third = await b.query({ limit: 2, nextToken: second.nextToken });
          assert.deepEqual([...ids(first), ...ids(second), ...ids(third)].slice(2), ['a2', 'b1', 'a1'], 'a token of one node pages on another');
          assert.equal(third.nextToken, undefined);
        } finally {
          await b.close();
        }
      }));
    }

    if (opts.reopen) {
      const reopen = opts.reopen;
      it('a reopened log keeps its events and adds new ones after them', withStore(async (s0) => {
        s0.record(auditEvent('before'));
        const s = await reopen(s0);
        s.record(auditEvent('after'));
        await s.flush();
        assert.deepEqual(ids(await s.query({ limit: 10 })), ['after', 'before']);
        return s;
      }));
    }
  });
}
