// (IA)³ through the whole model against the PyTorch reference (reference/ia3_fixtures.py, written
// from the paper and PEFT's IA3 semantics): on the demo model (stories260K, Llama) and the tiny
// random Qwen2 of the architecture fixtures (k/v biases, which the output scaling scales too),
// with vectors away from their initial ones on k_proj, v_proj (output) and down_proj (input): the
// loss and the gradient of every vector after one training step, and the logits of the last
// position. Also: a fresh adapter (all ones, PEFT's init) gives the base model's logits exactly.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { downloadF32, emptyTensor, readBuffer, releaseTensor } from '../gpu/tensor';
import { fileSource } from '../io/byteSourceNode';
import { readSafetensorsHeader, readTensorF32 } from '../io/safetensors';
import { expectClose } from '../util/check';
import type { CausalLM } from './causalLM';
import { createIa3, ia3Key, releaseIa3 } from './ia3';
import { FIXTURES_DIR, loadModelDir } from './testing/loadForTest';

interface Ia3Fixture {
  name: string;
  folder: string;
  architecture: string;
  ids: number[];
  modules: string[];
  feedforward: string[];
  loss: number;
  lastLogits: number[];
  checks: { lossF32Math: number; lossBase: number };
}

const ROOT = join(FIXTURES_DIR, '..', '..', '..');
const DIR = join(FIXTURES_DIR, 'ia3');
const FX = (JSON.parse(readFileSync(join(DIR, 'reference.json'), 'utf8')) as { models: Ia3Fixture[] }).models;

// f32 GPU vs the f64 reference: the fixture's own f32 rerun of the loss differs by < 1e-5 relative
const LOSS_RTOL = 1e-5;
const LOGITS_TOL = { atol: 5e-4, rtol: 1e-4 };
// gradients: f32 accumulation over the sequence, relative to each vector's largest element
const GRAD_RTOL = 5e-4;

async function lastLogits(model: CausalLM, ids: number[], run: Parameters<CausalLM['lastLogits']>[1]): Promise<Float32Array> {
  const inp = model.upload({ B: 1, T: ids.length, tokens: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => i), docIds: null }, 'test');
  const l = await model.lastLogits(inp, run);
  return new Float32Array(await readBuffer(model.ctx, l.buffer, model.config.vocabSize * 4));
}

describe.each(FX.map((f) => [f.name, f] as const))('(IA)³ on %s against PyTorch', (_name, fx) => {
  it('loss, the gradient of every vector, and the last logits', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, join(ROOT, fx.folder));
    expect(model.config.hfArchitecture).toBe(fx.architecture);
    expect(model.blocks.supportsIa3).toBe(true);
    const src = await fileSource(join(DIR, `${fx.name}.safetensors`));
    const header = await readSafetensorsHeader(src);
    const initial = new Map<string, Float32Array>();
    for (const m of fx.modules) initial.set(m, await readTensorF32(src, header, ia3Key(m)));
    const ia3 = createIa3(ctx, model.config, { initial });
    expect([...ia3.modules.keys()]).toEqual(fx.modules);
    expect([...ia3.modules.values()].filter((m) => m.feedforward).map((m) => m.path)).toEqual(fx.feedforward);

    expectClose(`${fx.name} last logits`, await lastLogits(model, fx.ids, { ia3, seed: 0, training: false }), Float32Array.from(fx.lastLogits), LOGITS_TOL);

    const T = fx.ids.length;
    const labels = Int32Array.from(fx.ids, (_, t) => (t + 1 < T ? fx.ids[t + 1] : -100));
    const inp = model.upload({ B: 1, T, tokens: Int32Array.from(fx.ids), positions: Int32Array.from(fx.ids, (_, i) => i), docIds: null, labels });
    const lossAcc = emptyTensor(ctx, 'f32', [1], 'loss');
    model.zero(lossAcc);
    for (const m of ia3.modules.values()) model.zero(m.dl);
    await model.trainStep(inp, lossAcc, { run: { ia3, seed: 0, training: true }, countedTokens: T - 1, labelSmoothing: 0, activationCheckpointing: false });
    ctx.flush();
    const loss = new Float32Array(await readBuffer(ctx, lossAcc.buffer, 4))[0];
    // the vectors move the loss by |loss - lossBase|, far more than the tolerance
    expect(Math.abs(fx.loss - fx.checks.lossBase)).toBeGreaterThan(0.05);
    expect(Math.abs(loss - fx.loss), `loss ${loss} vs PyTorch ${fx.loss}`).toBeLessThanOrEqual(LOSS_RTOL * fx.loss);
    let worst = 0;
    for (const m of ia3.modules.values()) {
      const key = ia3Key(m.path);
      const want = await readTensorF32(src, header, `grad/${key}`);
      const scale = want.reduce((s, x) => Math.max(s, Math.abs(x)), 0);
      expect(scale, `${key} gradient is not all zero`).toBeGreaterThan(0);
      const got = await downloadF32(ctx, m.dl);
      expectClose(`${fx.name} d ${key}`, got, want, { atol: GRAD_RTOL * scale, rtol: 1e-3 });
      worst = Math.max(worst, got.reduce((e, g, j) => Math.max(e, Math.abs(g - want[j]) / scale), 0));
    }
    console.log(`(IA)³ ${fx.name}: loss ${loss} vs ${fx.loss} (relative ${(Math.abs(loss - fx.loss) / fx.loss).toExponential(2)}), worst vector gradient error ${worst.toExponential(2)} of its max, ${ia3.modules.size} vectors`);
    releaseTensor(ctx, lossAcc);
    releaseIa3(ctx, ia3);
    model.release();
  }, 240_000);

  it('a fresh adapter (every vector one, as PEFT initialises it) gives the base logits exactly', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, join(ROOT, fx.folder));
    const ia3 = createIa3(ctx, model.config);
    const ids = fx.ids.slice(0, 24);
    const base = await lastLogits(model, ids, null);
    const withIa3 = await lastLogits(model, ids, { ia3, seed: 0, training: false });
    expect(Array.from(withIa3)).toEqual(Array.from(base));
    releaseIa3(ctx, ia3);
    model.release();
  }, 240_000);
});
