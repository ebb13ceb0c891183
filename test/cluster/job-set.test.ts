// The job leader's bookkeeping, and the embedded server's leader: jobs registered before or
// after the start run while leading and stop with it; one job failing to start or stop does
// not keep the others from it; an embedded server always leads (coffer_cluster_leader 1) and
// runs its jobs exactly as before the cluster work.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JobSet, SoleLeader } from '../../src/cluster/job-leader.js';
import { startTestServer } from '../helpers/server.js';

const recorder = () => {
  const log: string[] = [];
  const job = (name: string, fail?: 'start' | 'stop') => ({
    start() {
      if (fail === 'start') throw new Error(`${name} cannot start`);
      log.push(`start ${name}`);
    },
    async stop() {
      if (fail === 'stop') throw new Error(`${name} cannot stop`);
      log.push(`stop ${name}`);
    },
  });
  return { log, job };
};

describe('the job leader\'s jobs', () => {
  it('a job registered while leading starts at once; all stop together; nothing runs twice', async () => {
    const { log, job } = recorder();
    const errors: string[] = [];
    const set = new JobSet((name) => errors.push(name));
    set.add('a', job('a'));
    assert.deepEqual(log, [], 'not leading yet: nothing runs');
    set.startAll();
    set.startAll();
    set.add('b', job('b'));
    assert.deepEqual(log, ['start a', 'start b']);
    await set.stopAll();
    await set.stopAll();
    assert.deepEqual(log, ['start a', 'start b', 'stop a', 'stop b']);
    assert.throws(() => set.add('a', job('a')), /registered already/);
    assert.deepEqual(errors, []);
  });

  it('one job failing to start or stop is reported and the others go on', async () => {
    const { log, job } = recorder();
    const errors: string[] = [];
    const leader = new SoleLeader((name) => errors.push(name));
    leader.register('bad-start', job('bad-start', 'start'));
    leader.register('bad-stop', job('bad-stop', 'stop'));
    leader.register('good', job('good'));
    leader.start();
    await leader.stop();
    assert.deepEqual(log, ['start bad-stop', 'start good', 'stop bad-start', 'stop good'], 'stop is asked of every job (stopping one that never started is harmless)');
    assert.deepEqual(errors, ['bad-start', 'bad-stop']);
  });

  it('an embedded server always leads: coffer_cluster_leader is 1', async () => {
    const t = await startTestServer();
    try {
      assert.equal(t.coffer.leader.leading, true);
      const text = await (await fetch(`${t.url}/metrics`)).text();
      assert.match(text, /^coffer_cluster_leader 1$/m);
    } finally {
      await t.stop();
    }
  });
});
