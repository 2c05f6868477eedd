// The model's logits against PyTorch (reference/model_fixtures.py): stories260K converted by our
// llama2.c importer, and tiny random-weight Qwen2 (BF16, biases) and sharded Llama (F16) folders,
// all loaded through the real loader. Both sides use the same fp16-rounded weights; the fixture
// math is f64, ours f32 on the GPU.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBuffer } from '../gpu/tensor';
import { expectClose } from '../util/check';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import type { CausalLM } from './causalLM';
import { generateIds } from './generate';
import { DEMO_MODEL_DIR, FIXTURES_DIR, loadModelDir } from './testing/loadForTest';

interface PromptFixture {
  name: string;
  ids: number[];
  logits: number[];
}

// f32 accumulation over 5 layers vs f64: the fixture's own f32 rerun differs by ~1e-5.
const LOGITS_TOL = { atol: 2e-4, rtol: 1e-4 };

async function allLogits(model: CausalLM, ids: number[]): Promise<Float32Array> {
  // logits for every position: run each prefix (T is tiny) through the inference path
  const V = model.config.vocabSize;
  const out = new Float32Array(ids.length * V);
  for (let t = 1; t <= ids.length; t++) {
    const inp = model.upload({ B: 1, T: t, tokens: Int32Array.from(ids.slice(0, t)), positions: Int32Array.from({ length: t }, (_, i) => i), docIds: null }, 'test');
    const l = await model.lastLogits(inp, null);
    out.set(new Float32Array(await readBuffer(model.ctx, l.buffer, V * 4)), (t - 1) * V);
  }
  return out;
}

describe('stories260K against PyTorch', () => {
  const fx = JSON.parse(readFileSync(join(FIXTURES_DIR, 'stories260k_logits.json'), 'utf8')) as {
    prompts: PromptFixture[];
    greedy: { promptIds: number[]; ids: number[] };
  };

  it.each(fx.prompts.map((p) => [p.name, p] as const))('logits for "%s"', async (_name, p) => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    expectClose(`stories260K logits ${p.name}`, await allLogits(model, p.ids), Float32Array.from(p.logits), LOGITS_TOL);
  });

  it('greedy generation from BOS gives the same first 40 tokens as PyTorch', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const ids = await generateIds(model, fx.greedy.promptIds, { greedy: true, temperature: 0, topK: 0, topP: 1, maxTokens: 40, seed: 0, eosIds: [], run: null });
    expect(ids).toEqual(fx.greedy.ids);
  });
});

describe('tiny Hugging Face models through the real loader against PyTorch', () => {
  const fx = JSON.parse(readFileSync(join(FIXTURES_DIR, 'tiny_models_logits.json'), 'utf8')) as {
    models: (PromptFixture & { folder: string; architecture: string })[];
  };
  it.each(fx.models.map((m) => [m.name, m] as const))('%s logits', async (_name, m) => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, join(FIXTURES_DIR, m.folder.replace(/^.*fixtures\//, '')));
    expectClose(`${m.name} logits`, await allLogits(model, m.ids), Float32Array.from(m.logits), LOGITS_TOL);
  });
});
