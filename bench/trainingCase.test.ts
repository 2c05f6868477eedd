// The training benchmark's case runner on the test GPU with a tiny random model: the numbers it
// reports are consistent with each other (split adds up to the step, tokens/s from step times,
// peak memory at least the analytic minimum and reached in the warm-up), both timing methods
// work, the deadline cuts measured steps, and everything it allocated is freed.
import { describe, expect, it } from 'vitest';
import { getTestGpu } from '../src/gpu/testing/nodeGpu';
import { createRandomModel, type ModelShape } from '../src/model/randomModel';
import { passCategory } from '../src/train/passTimer';
import { measureFmaPeak, randomBatches, runTrainingCase, type CaseHooks } from './trainingCase';
import type { TrainingCase } from './trainingTypes';

const TINY: ModelShape = { hiddenSize: 32, intermediateSize: 48, numLayers: 3, numHeads: 4, numKvHeads: 2, vocabSize: 64 };

/** Buffers allocated since `before` and still live. */
function leftovers(before: { label: string; size: number }[], after: { label: string; size: number }[]): string[] {
  const pool = before.map((b) => `${b.label}:${b.size}`);
  const out: string[] = [];
  for (const a of after) {
    const i = pool.indexOf(`${a.label}:${a.size}`);
    if (i >= 0) pool.splice(i, 1);
    else out.push(a.label);
  }
  return out;
}

// What a case may leave behind: per-device caches the ops keep on purpose (cross-entropy's row
// scratch, RoPE's frequency table), and the gradient-norm scratch (state, partials, flags) that
// Trainer.release() does not free. The benchmark worker destroys its device after each case.
const ALLOWED_LEFTOVERS = /^gradNorm |^cross-entropy .*\(scratch\)$|^rope inv_freq /;

const hooks = (lines: string[]): CaseHooks => ({
  loadModel: async (ctx, layers) => ({ model: createRandomModel(ctx, { ...TINY, numLayers: layers ?? TINY.numLayers }), name: 'tiny', fullLayers: TINY.numLayers }),
  log: (l) => lines.push(l),
});

const base: TrainingCase = {
  model: 'smollm2-135m-shape',
  layers: null,
  layersOnSoftware: 2,
  batchSize: 2,
  seqLen: 16,
  rank: 4,
  warmup: 1,
  steps: 2,
  deadline: null,
  activationCheckpointing: false,
  timing: 'auto',
  peakGflops: 10,
  peakAdapter: null,
  seed: 1,
};

describe('randomBatches', () => {
  it('labels are the next tokens of each row, ids inside the vocabulary, seeded', () => {
    const [b] = randomBatches(1, 2, 8, 50, 3);
    expect(b.tokens.length).toBe(16);
    for (let r = 0; r < 2; r++) for (let t = 0; t < 7; t++) expect(b.labels[r * 8 + t]).toBe(b.tokens[r * 8 + t + 1]);
    expect(b.tokens.every((x) => x >= 0 && x < 50)).toBe(true);
    expect(randomBatches(1, 2, 8, 50, 3)[0].tokens).toEqual(b.tokens);
    expect(Array.from(b.positions.slice(6, 10))).toEqual([6, 7, 0, 1]);
  });
});

describe('runTrainingCase', () => {
  it('timestamps: the split adds up to the step and the numbers agree with each other', async () => {
    const ctx = await getTestGpu();
    const live = ctx.allocator.liveBuffers();
    const lines: string[] = [];
    const r = await runTrainingCase(ctx, base, hooks(lines));
    // the software adapter gets layersOnSoftware
    expect(r.layers).toBe(ctx.description.isSoftware ? 2 : 3);
    expect(r.stepsMeasured).toBe(2);
    expect(r.stepMs.length).toBe(2);
    expect(r.warmupMs.length).toBe(1);
    expect(r.losses.length).toBe(3);
    expect(r.losses.every(Number.isFinite)).toBe(true);
    expect(r.tokensPerStep).toBe(32);
    expect(r.tokensPerSecond).toBeCloseTo((32 * 1000) / ((r.stepMs[0] + r.stepMs[1]) / 2), 6);
    expect(r.timing).toBe(ctx.description.features.timestampQuery ? 'timestamp' : 'category-runs');
    const s = r.split;
    for (const v of [s.matmulMs, s.attentionMs, s.otherMs, s.overheadMs]) expect(v).toBeGreaterThanOrEqual(0);
    if (r.timing === 'timestamp') {
      expect(s.matmulMs + s.attentionMs + s.otherMs + s.overheadMs).toBeCloseTo(r.msPerStep, 6);
      expect(s.matmulMs).toBeGreaterThan(0);
      expect(s.attentionMs).toBeGreaterThan(0);
      expect(r.topPasses.length).toBeGreaterThan(0);
      for (const p of r.topPasses) expect(p.category).toBe(passCategory(p.label));
      expect(r.topPasses.length).toBeLessThanOrEqual(12);
      for (let i = 1; i < r.topPasses.length; i++) expect(r.topPasses[i].ms).toBeLessThanOrEqual(r.topPasses[i - 1].ms);
    }
    expect(r.overheadFraction).toBeCloseTo(s.overheadMs / r.msPerStep, 9);
    expect(r.outsideFraction).toBeCloseTo((s.otherMs + s.overheadMs) / r.msPerStep, 9);
    expect(r.passesPerStep).toBeGreaterThan(20 * r.layers);
    expect(r.peakSource).toBe('kernels.json');
    expect(r.ofPeak).toBeCloseTo(r.flops.total / (r.msPerStep * 1e6) / 10, 9);
    // memory: at least what any implementation must hold, all of it allocated by the warm-up
    expect(r.memoryRatio).toBeGreaterThanOrEqual(1);
    expect(r.memoryRatio).toBeCloseTo(r.peakBytes / r.memory.analyticBytes, 9);
    expect(r.peakBytesAfterWarmup).toBe(r.peakBytes);
    const groups = Object.fromEntries(r.liveByGroup.map((g) => [g.group, g.bytes]));
    expect(groups['base weights']).toBe(r.memory.weightsBytes);
    expect(groups['AdamW state']).toBe(r.memory.optimizerBytes);
    // the model also keeps the last layer's output x.L for the final norm's backward, which
    // estimateMemory does not count: at most one residual (N x C f32) more
    const residual = base.batchSize * base.seqLen * TINY.hiddenSize * 4;
    expect(groups['kept activations']).toBeGreaterThanOrEqual(r.memory.activationsBytes);
    expect(groups['kept activations']).toBeLessThanOrEqual(r.memory.activationsBytes + residual);
    // every buffer live at the peak, in some group
    expect(r.liveByGroup.reduce((a, g) => a + g.bytes, 0)).toBe(r.peakBytes);
    expect(r.reduced).toBeNull();
    expect(lines.some((l) => l.includes('tokens/s'))).toBe(true);
    expect(leftovers(live, ctx.allocator.liveBuffers()).filter((l) => !ALLOWED_LEFTOVERS.test(l))).toEqual([]);
  });

  it('wall timing: categories from runs with only one category, a deadline cuts steps, the peak is measured here', async () => {
    const ctx = await getTestGpu();
    const live = ctx.allocator.liveBuffers();
    const lines: string[] = [];
    const r = await runTrainingCase(ctx, { ...base, timing: 'wall', deadline: Date.now(), steps: 3, peakAdapter: 'another adapter', activationCheckpointing: true }, hooks(lines));
    expect(r.timing).toBe('category-runs');
    expect(r.stepsMeasured).toBe(1);
    expect(r.reduced).toMatch(/1 of 3 steps/);
    const runs = r.categoryRunsMs!;
    expect(runs.none).toBeGreaterThan(0);
    expect(r.split.matmulMs).toBeCloseTo(Math.max(0, runs.matmul - runs.none), 9);
    expect(r.topPasses).toEqual([]);
    expect(r.peakSource).toBe('measured here');
    expect(r.peakGflops).toBeGreaterThan(0);
    expect(r.activationCheckpointing).toBe(true);
    expect(r.flops.recompute).toBeGreaterThan(0);
    expect(r.memoryRatio).toBeGreaterThanOrEqual(1);
    expect(lines.some((l) => l.startsWith('  only recording and submits'))).toBe(true);
    expect(lines.some((l) => l.includes(`kernels.json's peak was measured on "another adapter"`))).toBe(true);
    expect(leftovers(live, ctx.allocator.liveBuffers()).filter((l) => !ALLOWED_LEFTOVERS.test(l))).toEqual([]);
  });

  it('GPU commands per step (studio-style warm-up steps and timed steps) and decode speed with the adapter', async () => {
    const ctx = await getTestGpu();
    const live = ctx.allocator.liveBuffers();
    const lines: string[] = [];
    const decode = { promptTokens: 6, newTokens: 5, warmup: 1, seed: 2 };
    const r = await runTrainingCase(ctx, { ...base, warmup: 2, steps: 1, decode }, hooks(lines));
    const c = r.commandsPerStep!;
    // one compute pass and one submit: dispatches share the pass, the readback goes with the step
    expect(c.passes).toBe(1);
    expect(c.submits).toBe(1);
    expect(c.buffers).toBe(0);
    expect(c.dispatches).toBeGreaterThan(20 * r.layers);
    expect(r.untimedStepMs).toBe(r.warmupMs[1]);
    // under the pass timer every dispatch has its own pass; the work is the same
    const t = r.timedCommandsPerStep;
    expect(t.dispatches).toBe(c.dispatches);
    expect(t.passes).toBe(t.dispatches);
    expect(r.passesPerStep).toBe(t.passes);
    const d = r.decode!;
    expect(d.weights).toBe('LoRA adapter');
    expect(d.promptTokens).toBe(6);
    expect(d.newTokens).toBe(5);
    expect(d.msPerToken).toBeCloseTo((d.firstStepMs + 3 * d.steadyMsPerToken) / 4, 6);
    expect(d.prefillMs).toBeGreaterThan(0);
    expect(d.tokensPerSecond).toBeCloseTo(1000 / d.msPerToken, 9);
    expect(d.prefillTokensPerSecond).toBeCloseTo(6000 / d.prefillMs, 9);
    // a steady decode step: the layers' dispatches, then the logits readback (one submit, its
    // staging buffer); the first one also re-makes the buffers the prompt's forward sized
    expect(d.commandsPerToken.buffers).toBeLessThanOrEqual(1);
    expect(d.firstStepCommands.buffers).toBeGreaterThan(d.commandsPerToken.buffers);
    expect(d.commandsPerToken.dispatches).toBeGreaterThan(5 * r.layers);
    expect(d.commandsPerToken.submits).toBe(1);
    expect(d.commandsPerToken.passes).toBeGreaterThanOrEqual(1);
    expect(d.commandsPerToken.passes).toBeLessThan(d.commandsPerToken.dispatches);
    expect(d.prefillCommands.dispatches).toBeGreaterThan(5 * r.layers);
    expect(lines.some((l) => l.startsWith('  decode (LoRA adapter, 6-token prompt, 5 new)'))).toBe(true);
    expect(ctx.mergePasses).toBe(true);
    expect(leftovers(live, ctx.allocator.liveBuffers()).filter((l) => !ALLOWED_LEFTOVERS.test(l))).toEqual([]);
  });

  it('FMA peak: a positive rate, its scratch buffer freed', async () => {
    const ctx = await getTestGpu();
    const live = ctx.allocator.liveBytes;
    const a = await measureFmaPeak(ctx, { groups: 64, iterations: 64 });
    expect(a).toBeGreaterThan(0.1);
    expect(Number.isFinite(a)).toBe(true);
    expect(ctx.allocator.liveBytes).toBe(live);
  });
});
