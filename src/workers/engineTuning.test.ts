// Kernel tuning from the studio, driven in Node on the test GPU with the demo model: the job's
// matmul shape classes are timed once, persisted per adapter, looked up (not timed) again by a
// later call and by a new engine on the same store, and used by the ops from then on.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MATMUL_FAMILY_VARIANTS } from '../gpu/ops/matmulVariants';
import { forgetTuned, tunedVariant } from '../gpu/ops/matmulRegistry';
import { MemoryTuneStore } from '../gpu/tune/store';
import { nodeGpu } from '../gpu/testing/nodeGpu';
import { DEMO_MODEL_DIR, REPO_ROOT } from '../model/testing/loadForTest';
import { MemoryKeyValueStore } from '../train/checkpointStore';
import { DEFAULT_CONFIG, type TrainConfig } from '../train/config';
import { Engine } from './engine';
import { engineDebug } from './debugHooks';

function filesOf(dir: string): File[] {
  return readdirSync(dir).map((f) => new File([readFileSync(join(dir, f))], f));
}

const job: TrainConfig = { ...DEFAULT_CONFIG, batchSize: 1, seqLen: 32, maxSteps: 2, evalEvery: 0, checkpointEvery: 0 };

async function engineWith(tuneStore: MemoryTuneStore) {
  const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore(), tuneStore });
  await engine.init();
  // every engine here gets a fresh device, but start from nothing tuned in memory anyway
  forgetTuned(engineDebug(engine).gpu());
  await engine.loadModel({ kind: 'files', files: filesOf(DEMO_MODEL_DIR), name: 'stories260K' });
  return engine;
}

describe('Engine: kernel tuning', () => {
  it('times each shape class of the job once, persists the winners, and the ops use them', async () => {
    const store = new MemoryTuneStore();
    const engine = await engineWith(store);
    const before = await engine.kernelTuning(job);
    expect(before.total).toBeGreaterThan(3);
    expect(before.shapes).toEqual([]);

    const progress: [number, number][] = [];
    const tuned = await engine.tuneKernels(job, { onProgress: (d, t) => progress.push([d, t]) });
    expect(tuned.shapes).toHaveLength(tuned.total);
    expect(tuned.shapes.every((s) => s.source === 'measured' && s.winner in MATMUL_FAMILY_VARIANTS)).toBe(true);
    expect(tuned.shapes.every((s) => s.winnerMs !== null && s.winnerMs > 0)).toBe(true);
    // the winner is the fastest timed, so never slower than the default it was timed against
    for (const s of tuned.shapes) if (s.defaultMs !== null) expect(s.winnerMs!).toBeLessThanOrEqual(s.defaultMs);
    expect(progress[0]).toEqual([0, tuned.total]);
    expect(progress.at(-1)).toEqual([tuned.total, tuned.total]);
    expect(store.size).toBe(tuned.total);
    const ctx = engineDebug(engine).gpu();
    for (const s of tuned.shapes) expect(tunedVariant(ctx, s.key)).toBe(s.winner);

    // again: nothing is timed
    const again = await engine.tuneKernels(job, { onProgress: () => {} });
    expect(again.shapes.map((s) => [s.key, s.winner, s.source])).toEqual(tuned.shapes.map((s) => [s.key, s.winner, 'stored']));

    // a later session on the same adapter: looked up from the store, used by a training run
    const later = await engineWith(store);
    const laterCtx = engineDebug(later).gpu();
    expect(tunedVariant(laterCtx, tuned.shapes[0].key)).toBeUndefined();
    const sample = new File([readFileSync(join(REPO_ROOT, 'public/datasets/sample.jsonl'))], 'sample.jsonl');
    await later.loadDataset({ kind: 'file', file: sample }, { maxSeqLen: 32, trainOn: 'all', onBadRow: 'skip', validationFraction: 0.1, seed: 1 });
    const losses: number[] = [];
    const run = await later.startTraining(job, { onProgress: (p) => losses.push(p.loss), onStatus: () => {} });
    expect(run.status).toBe('finished');
    expect(losses.every(Number.isFinite)).toBe(true);
    for (const s of tuned.shapes) expect(tunedVariant(laterCtx, s.key)).toBe(s.winner);
    expect((await later.kernelTuning(job)).shapes.every((s) => s.source === 'stored')).toBe(true);
  });

  it('refuses to time kernels while a run trains', async () => {
    const engine = await engineWith(new MemoryTuneStore());
    const sample = new File([readFileSync(join(REPO_ROOT, 'public/datasets/sample.jsonl'))], 'sample.jsonl');
    await engine.loadDataset({ kind: 'file', file: sample }, { maxSeqLen: 32, trainOn: 'all', onBadRow: 'skip', validationFraction: 0.1, seed: 1 });
    let refusal = '';
    await engine.startTraining({ ...job, maxSteps: 3 }, {
      onProgress: (p) => {
        if (p.step === 1) void engine.tuneKernels(job, { onProgress: () => {} }).catch((e) => (refusal = e.message));
      },
      onStatus: () => {},
    });
    expect(refusal).toMatch(/A run is training: pause it before tuning the kernels/);
  });
});
