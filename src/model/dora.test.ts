// DoRA through the whole model against the PyTorch reference (reference/dora_fixtures.py, written
// from the paper and PEFT's semantics): on the demo model (stories260K, Llama) and the tiny random
// Qwen3 and GPT-2 (bias, fused c_attn, Conv1D weights) of the architecture fixtures, with a DoRA
// adapter on every linear whose B is not zero and whose magnitude is not the norm: the loss and the
// gradients of A, B and the magnitude of every module after one training step, and the logits of
// the last position. Also: the initial magnitude is ‖W + s·B·A‖ (PEFT's init), so a fresh DoRA
// adapter (B = 0) leaves the base model's logits unchanged.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { archOf } from '../arch/registry';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { downloadF32, emptyTensor, readBuffer, releaseTensor } from '../gpu/tensor';
import { fileSource } from '../io/byteSourceNode';
import { doraMagnitudeKey, loraCheckpointKey } from '../io/loraKeys';
import { readSafetensorsHeader, readTensorF32 } from '../io/safetensors';
import { expectClose } from '../util/check';
import { createAdapter, releaseAdapter, type ModuleWeights } from './adapter';
import type { CausalLM } from './causalLM';
import { initDoraMagnitudes } from './doraLinear';
import { FIXTURES_DIR, loadModelDir } from './testing/loadForTest';

interface DoraFixture {
  name: string;
  folder: string;
  architecture: string;
  ids: number[];
  r: number;
  alpha: number;
  modules: string[];
  loss: number;
  lastLogits: number[];
  checks: { lossF32Math: number; lossWithMagnitudeAtNorm: number };
}

const ROOT = join(FIXTURES_DIR, '..', '..', '..');
const DIR = join(FIXTURES_DIR, 'dora');
const FX = (JSON.parse(readFileSync(join(DIR, 'reference.json'), 'utf8')) as { models: DoraFixture[] }).models;

// f32 GPU vs the f64 reference: the fixture's own f32 rerun of the loss differs by < 1e-5 relative
const LOSS_RTOL = 1e-5;
const LOGITS_TOL = { atol: 5e-4, rtol: 1e-4 };
// gradients: f32 accumulation over the sequence, relative to each tensor's largest element
const GRAD_RTOL = 5e-4;

async function lastLogits(model: CausalLM, ids: number[], run: Parameters<CausalLM['lastLogits']>[1]): Promise<Float32Array> {
  const inp = model.upload({ B: 1, T: ids.length, tokens: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => i), docIds: null }, 'test');
  const l = await model.lastLogits(inp, run);
  return new Float32Array(await readBuffer(model.ctx, l.buffer, model.config.vocabSize * 4));
}

describe.each(FX.map((f) => [f.name, f] as const))('DoRA on %s against PyTorch', (_name, fx) => {
  it('loss, gradients of A, B and the magnitude of every module, and the last logits', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, join(ROOT, fx.folder));
    expect(model.config.hfArchitecture).toBe(fx.architecture);
    const src = await fileSource(join(DIR, `${fx.name}.safetensors`));
    const header = await readSafetensorsHeader(src);
    const init = new Map<string, ModuleWeights>();
    for (const m of fx.modules) {
      init.set(m, { A: await readTensorF32(src, header, loraCheckpointKey(m, 'A')), B: await readTensorF32(src, header, loraCheckpointKey(m, 'B')), magnitude: await readTensorF32(src, header, doraMagnitudeKey(m)) });
    }
    const spec = { rank: fx.r, alpha: fx.alpha, dropout: 0, useRslora: false, useDora: true, targetModules: [...archOf(model.config).loraTargets.allLinear] };
    const adapter = createAdapter(ctx, model.config, spec, 0, init);
    expect([...adapter.modules.keys()]).toEqual(fx.modules);

    expectClose(`${fx.name} last logits`, await lastLogits(model, fx.ids, { adapter, seed: 0, training: false }), Float32Array.from(fx.lastLogits), LOGITS_TOL);

    const T = fx.ids.length;
    const labels = Int32Array.from(fx.ids, (_, t) => (t + 1 < T ? fx.ids[t + 1] : -100));
    const inp = model.upload({ B: 1, T, tokens: Int32Array.from(fx.ids), positions: Int32Array.from(fx.ids, (_, i) => i), docIds: null, labels });
    const lossAcc = emptyTensor(ctx, 'f32', [1], 'loss');
    model.zero(lossAcc);
    for (const m of adapter.modules.values()) for (const t of [m.dA, m.dB, m.dora!.dMagnitude]) model.zero(t);
    await model.trainStep(inp, lossAcc, { run: { adapter, seed: 0, training: true }, countedTokens: T - 1, labelSmoothing: 0, activationCheckpointing: false });
    ctx.flush();
    const loss = new Float32Array(await readBuffer(ctx, lossAcc.buffer, 4))[0];
    // DoRA's rescaling moves the loss by |loss - lossWithMagnitudeAtNorm|, far more than the tolerance
    expect(Math.abs(fx.loss - fx.checks.lossWithMagnitudeAtNorm)).toBeGreaterThan(0.05);
    expect(Math.abs(loss - fx.loss), `loss ${loss} vs PyTorch ${fx.loss}`).toBeLessThanOrEqual(LOSS_RTOL * fx.loss);
    for (const m of adapter.modules.values()) {
      const pairs = [
        [loraCheckpointKey(m.path, 'A'), m.dA],
        [loraCheckpointKey(m.path, 'B'), m.dB],
        [doraMagnitudeKey(m.path), m.dora!.dMagnitude],
      ] as const;
      for (const [key, t] of pairs) {
        const want = await readTensorF32(src, header, `grad/${key}`);
        const scale = want.reduce((s, x) => Math.max(s, Math.abs(x)), 0);
        expect(scale, `${key} gradient is not all zero`).toBeGreaterThan(0);
        expectClose(`${fx.name} d ${key}`, await downloadF32(ctx, t), want, { atol: GRAD_RTOL * scale, rtol: 1e-3 });
      }
    }
    releaseTensor(ctx, lossAcc);
    releaseAdapter(ctx, adapter);
    model.release();
  }, 240_000);

  it('a fresh DoRA adapter starts at m = ‖W‖ (B = 0) and leaves the base logits unchanged', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, join(ROOT, fx.folder));
    const spec = { rank: fx.r, alpha: fx.alpha, dropout: 0, useRslora: false, useDora: true, targetModules: [...archOf(model.config).loraTargets.allLinear] };
    const adapter = createAdapter(ctx, model.config, spec, 3);
    await initDoraMagnitudes(ctx, adapter, (n) => model.weights.get(n));
    const ids = fx.ids.slice(0, 24);
    const base = await lastLogits(model, ids, null);
    const withDora = await lastLogits(model, ids, { adapter, seed: 0, training: false });
    // g = m/‖W‖ = 1 up to the f32 rounding of the norm
    expectClose(`${fx.name} logits of a fresh DoRA adapter`, withDora, base, { atol: 2e-5, rtol: 1e-5 });
    releaseAdapter(ctx, adapter);
    model.release();
  }, 240_000);
});

describe('DoRA on a quantized base', () => {
  it('is refused with a message naming the module and the fix (its norm needs fp16 or f32 weights)', async () => {
    const ctx = await getTestGpu();
    const fx = FX[0];
    const model = await loadModelDir(ctx, join(ROOT, fx.folder));
    const spec = { rank: fx.r, alpha: fx.alpha, dropout: 0, useRslora: false, useDora: true, targetModules: ['q_proj'] };
    const adapter = createAdapter(ctx, model.config, spec, 3);
    // a packed quantized matrix is a 'u32' tensor (gpu/ops/matmulQuant.ts)
    const quantized = (n: string) => {
      const t = model.weights.get(n);
      return t ? { ...t, dtype: 'u32' as const } : undefined;
    };
    await expect(initDoraMagnitudes(ctx, adapter, quantized)).rejects.toThrow(/DoRA needs the base weights in fp16 or f32, but model\.layers\.0\.self_attn\.q_proj is u32 \(quantized\)\. Load the model unquantized, or train plain LoRA\./);
    releaseAdapter(ctx, adapter);
    model.release();
  });
});
