// Attention version 2 inside real models: architecture fixtures (src/model/fixtures/arch-*, tiny
// random-weight HF folders with PyTorch references, as in src/model/archFixtures.test.ts) trained
// for one step at T = 640 (20 query blocks, windows of 256/300/512 keys, GQA, Gemma 3's head dim
// 256 and query_pre_attn_scalar) with version 2 prepared, so the ops choose it: the loss and every
// LoRA gradient against PyTorch, with archFixtures.test.ts's tolerances.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { archOf } from '../../arch/registry';
import { expectClose } from '../../util/check';
import { getTestGpu } from '../testing/nodeGpu';
import { downloadF32, emptyTensor, readBuffer, releaseTensor } from '../tensor';
import { fileSource } from '../../io/byteSourceNode';
import { readSafetensorsHeader, readTensorF32 } from '../../io/safetensors';
import { createAdapter, releaseAdapter } from '../../model/adapter';
import { FIXTURES_DIR, loadModelDir } from '../../model/testing/loadForTest';
import { attentionVariantFor, FA2_ATTENTION_VARIANT, FA2_SG_ATTENTION_VARIANT, prepareAttentionKernels } from './attention';
import { FA2_SG_MAX_D } from './attentionFa2Sg';

const LOSS_RTOL = 2e-6;
const GRAD_RTOL = 2e-4;

interface ArchFixture {
  ids: number[];
  lora: { r: number; alpha: number; modules: string[] };
  loss: number;
}

describe.each(['arch-mistral-window', 'arch-phi3', 'arch-qwen3', 'arch-gemma3-d256'])('%s with FA2 attention (v3 where subgroups allow, else v2)', (folder) => {
  it('loss and LoRA gradients of one step at T = 640 match PyTorch', async () => {
    const ctx = await getTestGpu();
    const dir = join(FIXTURES_DIR, folder);
    const fx = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as ArchFixture;
    const model = await loadModelDir(ctx, dir);
    const c = model.config;
    const T = fx.ids.length;
    expect((await prepareAttentionKernels(ctx, c.headDim))?.passed).toBe(true);
    // subgroups (this machine has them) and a head dim a lane can hold: the subgroup softmax
    const fa2 = ctx.description.features.subgroups && c.headDim <= FA2_SG_MAX_D ? FA2_SG_ATTENTION_VARIANT : FA2_ATTENTION_VARIANT;
    expect(attentionVariantFor(ctx, { B: 1, T, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim })).toBe(fa2);

    const src = await fileSource(join(dir, 'lora.safetensors'));
    const header = await readSafetensorsHeader(src);
    const key = (m: string, w: 'A' | 'B') => `base_model.model.${m}.lora_${w}.weight`;
    const init = new Map<string, { A: Float32Array; B: Float32Array }>();
    for (const m of fx.lora.modules) init.set(m, { A: await readTensorF32(src, header, key(m, 'A')), B: await readTensorF32(src, header, key(m, 'B')) });
    const spec = { rank: fx.lora.r, alpha: fx.lora.alpha, dropout: 0, useRslora: false, targetModules: [...archOf(c).loraTargets.allLinear] };
    const adapter = createAdapter(ctx, c, spec, 0, init);
    const labels = Int32Array.from(fx.ids, (_, t) => (t + 1 < T ? fx.ids[t + 1] : -100));
    const inp = model.upload({ B: 1, T, tokens: Int32Array.from(fx.ids), positions: Int32Array.from(fx.ids, (_, i) => i), docIds: null, labels });
    const lossAcc = emptyTensor(ctx, 'f32', [1], 'loss');
    model.zero(lossAcc);
    for (const m of adapter.modules.values()) {
      model.zero(m.dA);
      model.zero(m.dB);
    }
    await model.trainStep(inp, lossAcc, { run: { adapter, weightGrads: null, seed: 0, training: true }, countedTokens: T - 1, labelSmoothing: 0, activationCheckpointing: false });
    ctx.flush();
    const loss = new Float32Array(await readBuffer(ctx, lossAcc.buffer, 4))[0];
    expect(Math.abs(loss - fx.loss), `loss ${loss} vs PyTorch ${fx.loss}`).toBeLessThanOrEqual(LOSS_RTOL * fx.loss);
    for (const m of adapter.modules.values()) {
      for (const [w, t] of [['A', m.dA], ['B', m.dB]] as const) {
        const want = await readTensorF32(src, header, `grad/${key(m.path, w)}`);
        const scale = want.reduce((s, x) => Math.max(s, Math.abs(x)), 0);
        expect(scale, `${m.path} d${w} is not all zero`).toBeGreaterThan(0);
        expectClose(`${folder} ${m.path} d${w}`, await downloadF32(ctx, t), want, { atol: GRAD_RTOL * scale, rtol: 1e-3 });
      }
    }
    releaseTensor(ctx, lossAcc);
    releaseAdapter(ctx, adapter);
    model.release();
  }, 600_000);
});
