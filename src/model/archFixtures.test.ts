// Every architecture module against its PyTorch reference (reference/arch_fixtures.py, written from
// the models' published math): tiny random-weight HF folders (src/model/fixtures/arch-*) loaded
// through the real loader. At T = 640 (so RoPE scaling matters): the logits of the last position
// of two prefixes, the loss and the LoRA gradients (A and B of every linear of every block) of one
// training step, and 20 greedy tokens decoded with the KV cache.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { archOf, ARCHITECTURES } from '../arch/registry';
import { expectClose } from '../util/check';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { emptyTensor, readBuffer, releaseTensor, uploadF32 } from '../gpu/tensor';
import { fileSource } from '../io/byteSourceNode';
import { readSafetensorsHeader, readTensorF32 } from '../io/safetensors';
import { createAdapter, releaseAdapter } from './adapter';
import type { CausalLM } from './causalLM';
import { downloadF32 } from '../gpu/tensor';
import { generateIds } from './generate';
import { FIXTURES_DIR, loadModelDir } from './testing/loadForTest';

interface ArchFixture {
  name: string;
  architecture: string;
  ids: number[];
  prefixes: number[];
  logits: number[][];
  lora: { r: number; alpha: number; modules: string[] };
  /** 1-D base weights (norm weights, biases) whose gradients lora.safetensors holds under grad/<name> */
  vectorGrads?: string[];
  loss: number;
  greedy: { promptLength: number; ids: number[]; margins: number[] };
  checks: Record<string, number>;
}

// f32 on the GPU vs the fixture's f64 math over 640 positions; the fixture's own f32 rerun lands
// within 7e-6 of it (checks.maxAbsDiffF32Math)
const LOGITS_TOL = { atol: 2e-4, rtol: 1e-4 };
// loss: the f32 sum of 639 token losses
const LOSS_RTOL = 2e-6;
// gradients: f32 accumulation over 640 tokens; relative to each tensor's largest element
const GRAD_RTOL = 2e-4;

const FOLDERS = readdirSync(FIXTURES_DIR).filter((n) => n.startsWith('arch-')).sort();

async function lastLogits(model: CausalLM, ids: number[]): Promise<Float32Array> {
  const inp = model.upload({ B: 1, T: ids.length, tokens: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => i), docIds: null }, 'test');
  const l = await model.lastLogits(inp, null);
  return new Float32Array(await readBuffer(model.ctx, l.buffer, model.config.vocabSize * 4));
}

describe('architecture fixtures against PyTorch', () => {
  it('covers every registered architecture and the three RoPE scalings', () => {
    const archs = FOLDERS.map((f) => (JSON.parse(readFileSync(join(FIXTURES_DIR, f, 'reference.json'), 'utf8')) as ArchFixture).architecture);
    // every registered architecture has a fixture (a new module brings its arch-<name>/ folder)
    expect(new Set(archs)).toEqual(new Set(ARCHITECTURES.flatMap((a) => [...a.hfArchitectures])));
    expect(FOLDERS).toEqual(expect.arrayContaining(['arch-llama3', 'arch-llama-linear', 'arch-llama-dynamic']));
  });

  describe.each(FOLDERS)('%s', (folder) => {
    const dir = join(FIXTURES_DIR, folder);
    const fx = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as ArchFixture;

    it(`logits at T = ${fx.prefixes.join(', ')}${fx.checks.maxAbsDiffWithoutScaling ? ' (RoPE scaling changes them by up to ' + fx.checks.maxAbsDiffWithoutScaling.toFixed(2) + ')' : ''}`, async () => {
      const ctx = await getTestGpu();
      const model = await loadModelDir(ctx, dir);
      expect(model.config.hfArchitecture).toBe(fx.architecture);
      for (const [k, n] of fx.prefixes.entries()) {
        expectClose(`${folder} logits of position ${n - 1}`, await lastLogits(model, fx.ids.slice(0, n)), Float32Array.from(fx.logits[k]), LOGITS_TOL);
      }
      model.release();
    });

    it(`loss and LoRA gradients of every targeted module${fx.vectorGrads ? ', and the gradients of every norm weight and bias (full fine-tuning)' : ''}`, async () => {
      const ctx = await getTestGpu();
      const model = await loadModelDir(ctx, dir);
      const loraFile = join(dir, 'lora.safetensors');
      const src = await fileSource(loraFile);
      const header = await readSafetensorsHeader(src);
      const key = (m: string, w: 'A' | 'B') => `base_model.model.${m}.lora_${w}.weight`;
      const init = new Map<string, { A: Float32Array; B: Float32Array }>();
      for (const m of fx.lora.modules) init.set(m, { A: await readTensorF32(src, header, key(m, 'A')), B: await readTensorF32(src, header, key(m, 'B')) });
      const spec = { rank: fx.lora.r, alpha: fx.lora.alpha, dropout: 0, useRslora: false, targetModules: [...archOf(model.config).loraTargets.allLinear] };
      const adapter = createAdapter(ctx, model.config, spec, 0, init);
      expect([...adapter.modules.keys()]).toEqual(fx.lora.modules);
      const T = fx.ids.length;
      const labels = Int32Array.from(fx.ids, (_, t) => (t + 1 < T ? fx.ids[t + 1] : -100));
      const inp = model.upload({ B: 1, T, tokens: Int32Array.from(fx.ids), positions: Int32Array.from(fx.ids, (_, i) => i), docIds: null, labels });
      const lossAcc = emptyTensor(ctx, 'f32', [1], 'loss');
      model.zero(lossAcc);
      for (const m of adapter.modules.values()) {
        model.zero(m.dA);
        model.zero(m.dB);
      }
      // full fine-tuning's gradients of the 1-D weights, accumulated by the same backward
      const weightGrads = new Map((fx.vectorGrads ?? []).map((name) => {
        const t = emptyTensor(ctx, 'f32', [...model.weights.get(name)!.shape], `${name}.grad`);
        model.zero(t);
        return [name, t] as const;
      }));
      await model.trainStep(inp, lossAcc, { run: { adapter, weightGrads: weightGrads.size > 0 ? weightGrads : null, seed: 0, training: true }, countedTokens: T - 1, labelSmoothing: 0, activationCheckpointing: false });
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
      for (const [name, t] of weightGrads) {
        const want = await readTensorF32(src, header, `grad/${name}`);
        const scale = want.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
        expectClose(`${folder} d ${name}`, await downloadF32(ctx, t), want, { atol: GRAD_RTOL * scale, rtol: 1e-3 });
        releaseTensor(ctx, t);
      }
      releaseTensor(ctx, lossAcc);
      releaseAdapter(ctx, adapter);
      model.release();
    });

    it('prompt tuning: virtual tokens equal to the first 8 tokens\' embedding rows give those tokens\' logits', async () => {
      const ctx = await getTestGpu();
      const model = await loadModelDir(ctx, dir);
      const n = 8;
      const C = model.config.hiddenSize;
      const ids = fx.ids.slice(0, 200);
      const src = await fileSource(join(dir, 'model.safetensors'));
      const table = await readTensorF32(src, await readSafetensorsHeader(src), model.blocks.embeddingName());
      const rows = new Float32Array(n * C);
      // Gemma 3 scales token embeddings inside its embedding module, not PEFT's virtual tokens
      // (inputs_embeds): those rows must come scaled already
      const scale = model.config.embeddingScale ?? 1;
      for (let t = 0; t < n; t++) for (let j = 0; j < C; j++) rows[t * C + j] = Math.fround(table[ids[t] * C + j] * scale);
      const embeddings = uploadF32(ctx, rows, [n, C], 'virtual tokens');
      const placeholders = ids.map((id, t) => (t < n ? 0 : id));
      const inp = model.upload({ B: 1, T: ids.length, tokens: Int32Array.from(placeholders), positions: Int32Array.from(ids, (_, i) => i), docIds: null }, 'test');
      const l = await model.lastLogits(inp, { prompt: { embeddings }, seed: 0, training: false });
      const got = new Float32Array(await readBuffer(ctx, l.buffer, model.config.vocabSize * 4));
      expectClose(`${folder} logits with virtual tokens`, got, await lastLogits(model, ids), { atol: 1e-5, rtol: 1e-5 });
      releaseTensor(ctx, embeddings);
      model.release();
    });

    it(`${fx.greedy.ids.length} greedy tokens with the KV cache after ${fx.greedy.promptLength} prompt tokens`, async () => {
      const ctx = await getTestGpu();
      const model = await loadModelDir(ctx, dir);
      const prompt = fx.ids.slice(0, fx.greedy.promptLength);
      const ids = await generateIds(model, prompt, { greedy: true, temperature: 0, topK: 0, topP: 1, maxTokens: fx.greedy.ids.length, seed: 0, eosIds: [], run: null });
      expect(ids).toEqual(fx.greedy.ids);
      model.release();
    });
  });
});
