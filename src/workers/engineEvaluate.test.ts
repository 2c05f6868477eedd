// Engine.evaluate in Node on the test GPU: the base model's loss equals the trainer's own
// validation at step 0, and a run's loss equals the last validation loss the run reported.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeGpu } from '../gpu/testing/nodeGpu';
import { createAdapter, releaseAdapter } from '../model/adapter';
import { DEMO_MODEL_DIR, REPO_ROOT } from '../model/testing/loadForTest';
import { MemoryKeyValueStore, type RunRecord } from '../train/checkpointStore';
import { DEFAULT_CONFIG, type TrainConfig } from '../train/config';
import { Trainer, type TrainProgress } from '../train/trainer';
import { coreOf, Engine } from './engine';

function filesOf(dir: string): File[] {
  return readdirSync(dir).map((f) => new File([readFileSync(join(dir, f))], f));
}

const config: TrainConfig = {
  ...DEFAULT_CONFIG,
  lora: { ...DEFAULT_CONFIG.lora, rank: 4, alpha: 8 },
  maxSteps: 3,
  batchSize: 2,
  seqLen: 64,
  learningRate: 5e-3,
  warmupSteps: 0,
  evalEvery: 3,
  checkpointEvery: 3,
};

async function engineWithData(validationFraction: number): Promise<Engine> {
  const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
  expect((await engine.init()).state).toBe('ready');
  await engine.loadModel({ kind: 'files', files: filesOf(DEMO_MODEL_DIR), name: 'stories260K' });
  const sample = new File([readFileSync(join(REPO_ROOT, 'public/datasets/sample.jsonl'))], 'sample.jsonl');
  await engine.loadDataset({ kind: 'file', file: sample }, { maxSeqLen: 64, trainOn: 'completions', onBadRow: 'skip', validationFraction, seed: 1 });
  return engine;
}

describe('Engine.evaluate', () => {
  it("the base model's loss is the trainer's step-0 validation loss; a run's is its last reported validation loss", async () => {
    const engine = await engineWithData(0.1);
    const base = await engine.evaluate({ config });
    expect(base.split).toBe('validation');
    expect(base.runId).toBeNull();
    expect(Number.isFinite(base.loss)).toBe(true);
    expect(base.tokens).toBeGreaterThan(0);
    expect(base.examples).toBeGreaterThan(0);

    // the trainer's own evaluation before any step, with a fresh (untrained) adapter
    const core = coreOf(engine);
    const ctx = core.gpu.require();
    const { model } = core.loaded!;
    const ds = core.dataset!;
    const adapter = createAdapter(ctx, model.config, { rank: 4, alpha: 8, dropout: config.lora.dropout, useRslora: false, targetModules: config.lora.targetModules }, 7);
    const trainer = new Trainer(ctx, model, adapter, ds.train, ds.validation, config, null, { id: 't', history: [] } as unknown as RunRecord, () => {});
    const step0 = await trainer.evaluate();
    trainer.release();
    releaseAdapter(ctx, adapter);
    expect(step0).not.toBeNull();
    expect(Math.abs(base.loss - step0!)).toBeLessThanOrEqual(1e-6);

    const progress: TrainProgress[] = [];
    const run = await engine.startTraining(config, { onProgress: (p) => progress.push(p), onStatus: () => {} });
    expect(run.status).toBe('finished');
    const lastVal = progress.at(-1)!.valLoss!;
    expect(Number.isFinite(lastVal)).toBe(true);
    const trained = await engine.evaluate({ runId: run.id });
    expect(trained.runId).toBe(run.id);
    expect(trained.split).toBe('validation');
    expect(Math.abs(trained.loss - lastVal)).toBeLessThanOrEqual(1e-6);
    expect(Math.abs(trained.loss - base.loss)).toBeGreaterThan(1e-4); // the run's weights were in place

    // the base model again: unchanged by the run evaluated before it
    expect(Math.abs((await engine.evaluate({ config })).loss - base.loss)).toBeLessThanOrEqual(1e-6);
    // evaluating creates no run
    expect((await engine.listRuns()).length).toBe(1);
    await expect(engine.evaluate({ runId: 'no-such-run' })).rejects.toThrow(/no run no-such-run/);
  }, 240_000);

  it('uses the training split (and says so) when the dataset has no validation split', async () => {
    const engine = await engineWithData(0);
    const r = await engine.evaluate({ config });
    expect(r.split).toBe('train');
    expect(Number.isFinite(r.loss) && r.loss > 0).toBe(true);
  }, 240_000);
});
