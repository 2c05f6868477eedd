// Bottleneck adapters through the whole model against the PyTorch reference
// (reference/bottleneck_fixtures.py, written from the AdapterHub adapters library's math): on the
// demo model (stories260K, Llama) and the tiny random Qwen2 (q/k/v biases, GQA) of the
// architecture fixtures, both variants (double_seq_bn / Houlsby: after attention and after the
// MLP, swish; seq_bn / Pfeiffer: after the MLP, relu) with random adapter weights and awkward
// widths (4, 6, 8, 10): the logits of the last position, the loss and the gradients of every
// adapter tensor after one training step, also with activation checkpointing.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { downloadF32, emptyTensor, readBuffer, releaseTensor } from '../gpu/tensor';
import { fileSource } from '../io/byteSourceNode';
import { readSafetensorsHeader, readTensorF32 } from '../io/safetensors';
import { expectClose } from '../util/check';
import { bottleneckParams, createBottleneck, releaseBottleneck, type BottleneckVariant } from './bottleneck';
import type { CausalLM } from './causalLM';
import { FIXTURES_DIR, loadModelDir } from './testing/loadForTest';

interface BottleneckFixture {
  name: string;
  folder: string;
  architecture: string;
  ids: number[];
  variant: BottleneckVariant;
  reductionFactor: number;
  width: number;
  adapterName: string;
  loss: number;
  lastLogits: number[];
  checks: { baseLoss: number; lossOtherPlacement: number };
}

const ROOT = join(FIXTURES_DIR, '..', '..', '..');
const DIR = join(FIXTURES_DIR, 'bottleneck');
const FX = (JSON.parse(readFileSync(join(DIR, 'reference.json'), 'utf8')) as { cases: BottleneckFixture[] }).cases;

// f32 GPU vs the f64 reference
const LOSS_RTOL = 1e-5;
const LOGITS_TOL = { atol: 5e-4, rtol: 1e-4 };
// gradients: f32 accumulation over the sequence, relative to each tensor's largest element
const GRAD_RTOL = 5e-4;

async function lastLogits(model: CausalLM, ids: number[], run: Parameters<CausalLM['lastLogits']>[1]): Promise<Float32Array> {
  const inp = model.upload({ B: 1, T: ids.length, tokens: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => i), docIds: null }, 'test');
  const l = await model.lastLogits(inp, run);
  return new Float32Array(await readBuffer(model.ctx, l.buffer, model.config.vocabSize * 4));
}

describe.each(FX.map((f) => [f.name, f] as const))('bottleneck adapters, %s, against PyTorch', (_name, fx) => {
  it.each([false, true])('last logits, loss and the gradient of every adapter tensor (activation checkpointing %s)', async (checkpointing) => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, join(ROOT, fx.folder));
    expect(model.config.hfArchitecture).toBe(fx.architecture);
    const src = await fileSource(join(DIR, `${fx.name}.safetensors`));
    const header = await readSafetensorsHeader(src);
    const names = [...header.byName.keys()].filter((k) => !k.startsWith('grad/'));
    const initial = new Map<string, Float32Array>();
    for (const k of names) initial.set(k, await readTensorF32(src, header, k));
    const b = createBottleneck(ctx, model.config, { variant: fx.variant, reductionFactor: fx.reductionFactor, seed: 0, name: fx.adapterName, initial });
    expect(b.width).toBe(fx.width);
    const params = bottleneckParams(b);
    // every tensor of the file is one of the adapter's, and the other way round
    expect(params.map((p) => p.name).sort()).toEqual([...names].sort());

    expectClose(`${fx.name} last logits`, await lastLogits(model, fx.ids, { bottleneck: b, seed: 0, training: false }), Float32Array.from(fx.lastLogits), LOGITS_TOL);

    const T = fx.ids.length;
    const labels = Int32Array.from(fx.ids, (_, t) => (t + 1 < T ? fx.ids[t + 1] : -100));
    const inp = model.upload({ B: 1, T, tokens: Int32Array.from(fx.ids), positions: Int32Array.from(fx.ids, (_, i) => i), docIds: null, labels });
    const lossAcc = emptyTensor(ctx, 'f32', [1], 'loss');
    model.zero(lossAcc);
    for (const p of params) model.zero(p.grad);
    await model.trainStep(inp, lossAcc, { run: { bottleneck: b, seed: 0, training: true }, countedTokens: T - 1, labelSmoothing: 0, activationCheckpointing: checkpointing });
    ctx.flush();
    const loss = new Float32Array(await readBuffer(ctx, lossAcc.buffer, 4))[0];
    // the adapter, and its placement (the other variant's, same weights), move the loss far more than the tolerance (>= 50x)
    expect(Math.abs(fx.loss - fx.checks.baseLoss)).toBeGreaterThan(50 * LOSS_RTOL * fx.loss);
    expect(Math.abs(fx.loss - fx.checks.lossOtherPlacement)).toBeGreaterThan(50 * LOSS_RTOL * fx.loss);
    expect(Math.abs(loss - fx.loss), `loss ${loss} vs PyTorch ${fx.loss}`).toBeLessThanOrEqual(LOSS_RTOL * fx.loss);
    for (const p of params) {
      const want = await readTensorF32(src, header, `grad/${p.name}`);
      const scale = want.reduce((s, x) => Math.max(s, Math.abs(x)), 0);
      expect(scale, `${p.name} gradient is not all zero`).toBeGreaterThan(0);
      expectClose(`${fx.name} d ${p.name}`, await downloadF32(ctx, p.grad), want, { atol: GRAD_RTOL * scale, rtol: 1e-3 });
    }
    releaseTensor(ctx, lossAcc);
    releaseBottleneck(ctx, b);
    model.release();
  }, 240_000);
});

describe('a fresh bottleneck adapter', () => {
  it("is the library's bert init (weights N(0, 0.02), biases 0): near the base model, not equal to it", async () => {
    const ctx = await getTestGpu();
    const fx = FX[0];
    const model = await loadModelDir(ctx, join(ROOT, fx.folder));
    const b = createBottleneck(ctx, model.config, { variant: 'houlsby', reductionFactor: 16, seed: 3 });
    const m = [...b.modules.values()][0];
    const down = await downloadF32(ctx, m.down);
    const std = Math.sqrt(down.reduce((s, x) => s + x * x, 0) / down.length);
    expect(std).toBeGreaterThan(0.017);
    expect(std).toBeLessThan(0.023);
    expect((await downloadF32(ctx, m.upBias)).every((x) => x === 0)).toBe(true);
    const ids = fx.ids.slice(0, 24);
    const base = await lastLogits(model, ids, null);
    const withAdapter = await lastLogits(model, ids, { bottleneck: b, seed: 0, training: false });
    const diff = base.reduce((s, x, i) => Math.max(s, Math.abs(x - withAdapter[i])), 0);
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThan(0.5);
    releaseBottleneck(ctx, b);
    model.release();
  }, 240_000);
});
