// The fuzzing engine and its targets: mutations are reproducible and bounded, an untyped
// error or a run that never settles is reported as a crash with its input saved, and every
// seed of every target's corpus (findings included) ends in a typed outcome — the valid
// XML and policy examples in an accepted one.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { Rng, fuzz, mutate, outcomeLabel, replay, type FuzzOptions, type FuzzTarget } from '../../fuzz/engine.js';

/** dist/test/fuzz -> the repository's fuzz/corpus */
const CORPUS = resolve(fileURLToPath(import.meta.url), '../../../../fuzz/corpus');
const scratch = await mkdtemp(join(tmpdir(), 'coffer-fuzz-test-'));
after(() => rm(scratch, { recursive: true, force: true }));

function options(runs: number, extra: Partial<FuzzOptions> = {}): FuzzOptions {
  return { runs, seed: 7, corpusDir: join(scratch, 'no-corpus'), crashDir: join(scratch, 'crashes'), hangMs: 2000, maxRssMb: 4096, log: () => undefined, ...extra };
}

describe('fuzz engine', () => {
  it('mutates the same way for the same seed and never past maxLen', () => {
    const run = (seed: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: 200 }, () => mutate(rng, Buffer.from('<a>hello</a>'), Buffer.from('{"x":1}'), [Buffer.from('<b>')], 40).toString('latin1'));
    };
    assert.deepEqual(run(1), run(1));
    assert.notDeepEqual(run(1), run(2));
    assert.ok(run(3).every((m) => m.length <= 40));
  });

  it('labels an error by its code and the plain words of its message, not the input it echoes', () => {
    assert.equal(outcomeLabel('NotFoundException', 'Invalid arn arn:aws:kms:us-east-1:1:key/x'), 'NotFoundException: Invalid arn _');
    assert.equal(outcomeLabel('InvalidRequest', 'invalid chunk size line "zz;x"'), 'InvalidRequest: invalid chunk size line _');
    assert.equal(outcomeLabel('NotFoundException', 'Invalid arn a:1 b:2 c:3'), 'NotFoundException: Invalid arn _');
  });

  it('reports an untyped error as a crash and saves the input that caused it', async () => {
    const target: FuzzTarget = {
      name: 'throws',
      maxLen: 16,
      dictionary: [],
      seeds: () => [Buffer.from('fine'), Buffer.from('boom')],
      run: (d) => {
        if (d.toString() === 'boom') throw new TypeError('not a typed error');
        return 'ok';
      },
    };
    const report = await fuzz(target, options(10));
    assert.equal(report.executions, 1);
    assert.match(report.crash?.reason ?? '', /TypeError: not a typed error/);
    assert.equal((await readFile(report.crash!.file)).toString(), 'boom');
  });

  it('reports a run that does not settle within hangMs as a hang', async () => {
    const target: FuzzTarget = { name: 'hangs', maxLen: 16, dictionary: [], seeds: () => [Buffer.from('x')], run: () => new Promise<string>(() => undefined) };
    const report = await fuzz(target, options(5, { hangMs: 50 }));
    assert.match(report.crash?.reason ?? '', /hang: the run did not settle within 50 ms/);
  });
});

describe('fuzz targets', () => {
  for (const name of ['sigv4', 'chunked', 'xml', 'policy', 'kms']) {
    const accepted = name === 'xml' || name === 'policy';
    it(`${name}: every corpus seed and generated seed ends in a typed outcome${accepted ? ', the corpus examples in an accepted one' : ''}`, async () => {
      const { target } = (await import(`../../fuzz/targets/${name}.js`)) as { target: FuzzTarget };
      const files = await readdir(join(CORPUS, name));
      assert.ok(files.length > 0, `fuzz/corpus/${name} has seeds`);
      await target.setup?.();
      try {
        for (const f of files) {
          const label = await target.run(await readFile(join(CORPUS, name, f)));
          if (accepted) assert.match(label, /^ok: /, `${f}: ${label}`);
        }
      } finally {
        await target.teardown?.();
      }
      const generated = await fuzz(target, options(target.seeds?.().length ?? 1));
      assert.equal(generated.crash, undefined, generated.crash?.reason);
    });
  }

  for (const [file, expected] of [['finding-key-spec-inherited-name.txt', /^GenerateDataKey ValidationException: /], ['finding-empty-member-name.txt', /^ok: ListKeys /]] as const) {
    it(`kms: the finding ${file} replays as ${expected.source.slice(1)}`, async () => {
      const { target } = (await import('../../fuzz/targets/kms.js')) as { target: FuzzTarget };
      assert.match(await replay(target, await readFile(join(CORPUS, 'kms', file)), 2000), expected);
    });
  }
});
