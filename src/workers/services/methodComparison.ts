// The method picker's comparison on the loaded model: per method its trainable parameters and the
// GPU memory estimate of the job as edited, and (when asked) its step time measured on this GPU:
// two optimizer steps after a warm-up one, on a synthetic batch of the job's shape, with what the
// method trains allocated for the measurement only (the engine's adapter is left alone).
import { guardGpuWork, unwrapGuarded } from '../../gpu/guard';
import { mib } from '../../train/memory';
import type { RunRecord } from '../../train/checkpointStore';
import { validateConfig, type TrainConfig } from '../../train/config';
import { comparisonRow, METHOD_CHOICES, methodConfig, type MethodChoice, type MethodComparisonRow } from '../../train/methodComparison';
import { FixedBatches, Trainer } from '../../train/trainer';
import type { Batch } from '../../data';
import { mulberry32 } from '../../util/prng';
import { requireModel, type EngineCore } from './core';
import { allocateTrainable, estimate, trainableOf } from './runs';
import { releaseTrainedValue } from './trained';

export interface MethodComparisonProgress {
  /** the method being measured, and how many of the measured ones are done */
  label: string;
  done: number;
  total: number;
}

/** Why the loaded model cannot run this method (null: it can). */
function unsupported(core: EngineCore, c: MethodChoice): string | null {
  const { model } = requireModel(core);
  const arch = model.config.hfArchitecture;
  const b = model.blocks;
  if (c.method === 'ia3' && !b.supportsIa3) return `Not available for ${arch} yet (Llama family only).`;
  if (c.method === 'prefix' && !b.supportsPrefix) return `Not available for ${arch} yet (Llama family only).`;
  if (c.method === 'bottleneck' && !b.supportsBottleneck) return `Not available for ${arch} yet (Llama family only).`;
  if (c.key === 'dora' && model.assets.quantize && model.assets.quantize !== 'none') return 'DoRA needs the fp16 base (its norms read the weights); this model is quantized.';
  if (c.method === 'full' && model.assets.quantize && model.assets.quantize !== 'none') return 'Full fine-tuning needs the fp16 base; this model is quantized.';
  return null;
}

/** A batch of the job's shape: one example per row (every method can take it), seeded tokens. */
function syntheticBatch(config: TrainConfig, vocab: number): Batch {
  const B = config.batchSize;
  const T = config.seqLen;
  const next = mulberry32(0x6d657468);
  const tokens = Int32Array.from({ length: B * T }, () => Math.floor((next() / 4294967296) * vocab));
  return {
    B,
    T,
    tokens,
    labels: Int32Array.from({ length: B * T }, (_, i) => (i % T === T - 1 ? -100 : tokens[i + 1])),
    positions: Int32Array.from({ length: B * T }, (_, i) => i % T),
    docIds: Int32Array.from({ length: B * T }, (_, i) => Math.floor(i / T)),
    trainedTokens: B * (T - 1),
  };
}

const MEASURED_STEPS = 2;

/** Milliseconds per optimizer step of this method's job: the mean of steps 2..3 (step 1 compiles its kernels). */
async function measureStep(core: EngineCore, config: TrainConfig): Promise<number> {
  const ctx = core.gpu.require();
  const { model } = requireModel(core);
  const c: TrainConfig = { ...config, maxSteps: 1 + MEASURED_STEPS, epochs: 1, evalEvery: 0, checkpointEvery: 0, gradAccumulation: 1 };
  const run: RunRecord = { id: `compare-${config.method}`, name: 'method comparison', createdAt: 0, updatedAt: 0, status: 'running', model: { name: '', architecture: '', fingerprint: '' }, dataset: { name: '', fingerprint: '' }, config: {}, totalSteps: 0, history: [], checkpoint: null, checkpointStep: 0 };
  const stamps: number[] = [];
  const outcome = await guardGpuWork(ctx, async () => {
    const trained = await allocateTrainable(core, c);
    let trainer: Trainer | null = null;
    try {
      trainer = new Trainer(ctx, model, trainableOf(trained), new FixedBatches([syntheticBatch(c, model.config.vocabSize)]), null, c, null, run, () => stamps.push(performance.now()));
      await trainer.runLoop();
    } finally {
      trainer?.release();
      releaseTrainedValue(ctx, trained);
    }
  });
  unwrapGuarded(outcome, 'while measuring', (f) => new Error(`it ran out of GPU memory (“${f.label}”, ${mib(f.size)})`));
  if (stamps.length < 1 + MEASURED_STEPS) throw new Error(`only ${stamps.length} of ${1 + MEASURED_STEPS} steps ran`);
  return (stamps[MEASURED_STEPS] - stamps[0]) / MEASURED_STEPS;
}

export async function compareMethods(core: EngineCore, job: TrainConfig, measure: boolean, onProgress?: (p: MethodComparisonProgress) => void): Promise<MethodComparisonRow[]> {
  await core.gpu.ready();
  requireModel(core);
  if (measure && core.training) throw new Error('A run is training: pause it (or wait for it to end) to measure the methods’ speed; the GPU is busy.');
  const rows: { row: MethodComparisonRow; config: TrainConfig }[] = [];
  for (const choice of METHOD_CHOICES) {
    const config = methodConfig(job, choice.key);
    const why = unsupported(core, choice) ?? validateConfig(config).map((i) => i.message)[0] ?? null;
    if (why) {
      rows.push({ row: { key: choice.key, label: choice.label, when: choice.when, trainableParams: null, memoryBytes: null, fits: false, why }, config });
      continue;
    }
    rows.push({ row: comparisonRow(choice, await estimate(core, config)), config });
  }
  if (measure) {
    // full fine-tuning writes its weights into the loaded model's tensors: not measured here
    const todo = rows.filter((r) => r.row.trainableParams !== null && r.row.fits && r.row.key !== 'full');
    for (const r of rows) if (r.row.key === 'full' && r.row.trainableParams !== null) r.row.why = r.row.why ?? 'Not measured: full fine-tuning would overwrite the loaded weights.';
    for (const [i, r] of todo.entries()) {
      onProgress?.({ label: r.row.label, done: i, total: todo.length });
      try {
        r.row.stepMs = await measureStep(core, r.config);
      } catch (e) {
        r.row.why = `Not measured: ${(e as Error).message}`;
      }
    }
    onProgress?.({ label: '', done: todo.length, total: todo.length });
  }
  return rows.map((r) => r.row);
}
