// Prefix tuning through the whole model against the PyTorch reference (reference/prefix_fixtures.py,
// written from PEFT's PREFIX_TUNING and transformers' past_key_values semantics): on the demo model
// (stories260K, MHA, P = 5) and the tiny random Qwen2 of the architecture fixtures (GQA 4:2, q/k/v
// biases, P = 3) with a random N(0, 1) table: the loss and the gradient of the whole
// prompt_embeddings table after one training step, the logits of the last position (training's
// attention path), and 8 greedy tokens decoded with the prefix in the KV cache. Also: the PEFT
// table layout round trip, and the batch rules (positions from P, packing refused).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Batch } from '../data';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { downloadF32, emptyTensor, readBuffer, releaseTensor } from '../gpu/tensor';
import { fileSource } from '../io/byteSourceNode';
import { readSafetensorsHeader, readTensorF32 } from '../io/safetensors';
import { expectClose } from '../util/check';
import { randn } from '../util/random';
import type { CausalLM } from './causalLM';
import { createPrefixTuning, downloadPrefixTable, generateWithPrefix, layerFromPeftTable, prefixRun, releasePrefixTuning, toPeftTable, withPrefixPositions, type PrefixTuning } from './prefixTuning';
import { FIXTURES_DIR, loadModelDir } from './testing/loadForTest';

interface PrefixFixture {
  name: string;
  folder: string;
  architecture: string;
  ids: number[];
  P: number;
  numLayers: number;
  heads: number;
  tokenDim: number;
  loss: number;
  lastLogits: number[];
  greedyPromptLength: number;
  greedy: number[];
  checks: { lossBase: number; lossPositionsFrom0: number };
}

const ROOT = join(FIXTURES_DIR, '..', '..', '..');
const DIR = join(FIXTURES_DIR, 'prefix');
const FX = (JSON.parse(readFileSync(join(DIR, 'reference.json'), 'utf8')) as { models: PrefixFixture[] }).models;

// f32 GPU vs the f64 reference (as the (IA)³ and architecture fixtures)
const LOSS_RTOL = 1e-5;
const LOGITS_TOL = { atol: 5e-4, rtol: 1e-4 };
// the table's gradient: f32 accumulation over the sequence, relative to its largest element
const GRAD_RTOL = 5e-4;

async function logitsWithPrefix(model: CausalLM, p: PrefixTuning, ids: number[]): Promise<Float32Array> {
  const T = ids.length;
  const inp = model.upload({ B: 1, T, tokens: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => p.n + i), docIds: null }, 'test');
  const l = await model.lastLogits(inp, prefixRun(p, false));
  return new Float32Array(await readBuffer(model.ctx, l.buffer, model.config.vocabSize * 4));
}

describe.each(FX.map((f) => [f.name, f] as const))('prefix tuning on %s against PyTorch', (_name, fx) => {
  it('loss, the gradient of the prompt_embeddings table, last logits and greedy decode with the prefix in the KV cache', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, join(ROOT, fx.folder));
    expect(model.config.hfArchitecture).toBe(fx.architecture);
    expect(model.blocks.supportsPrefix).toBe(true);
    const src = await fileSource(join(DIR, `${fx.name}.safetensors`));
    const header = await readSafetensorsHeader(src);
    const table = await readTensorF32(src, header, 'prompt_embeddings');
    const p = createPrefixTuning(ctx, model.config, { n: fx.P, seed: 0, initialTable: table });
    expect([p.tokenDim, p.heads, p.layers.length]).toEqual([fx.tokenDim, fx.heads, fx.numLayers]);
    expect(Array.from(await downloadPrefixTable(ctx, p))).toEqual(Array.from(table));

    expectClose(`${fx.name} last logits`, await logitsWithPrefix(model, p, fx.ids), Float32Array.from(fx.lastLogits), LOGITS_TOL);

    const T = fx.ids.length;
    const labels = Int32Array.from(fx.ids, (_, t) => (t + 1 < T ? fx.ids[t + 1] : -100));
    const positions = Int32Array.from(fx.ids, (_, i) => i);
    const batch: Batch = { B: 1, T, tokens: Int32Array.from(fx.ids), labels, positions, docIds: new Int32Array(T), trainedTokens: T - 1 };
    const inp = model.upload(withPrefixPositions(batch, fx.P));
    const lossAcc = emptyTensor(ctx, 'f32', [1], 'loss');
    model.zero(lossAcc);
    for (const l of p.layers) model.zero(l.grad);
    await model.trainStep(inp, lossAcc, { run: { ...prefixRun(p, true), seed: 1 }, countedTokens: T - 1, labelSmoothing: 0, activationCheckpointing: false });
    ctx.flush();
    const loss = new Float32Array(await readBuffer(ctx, lossAcc.buffer, 4))[0];
    // the prefix moves the loss, and so do its positions: both far more than the tolerance
    expect(Math.abs(fx.loss - fx.checks.lossBase)).toBeGreaterThan(0.05);
    expect(Math.abs(fx.loss - fx.checks.lossPositionsFrom0)).toBeGreaterThan(0.05);
    expect(Math.abs(loss - fx.loss), `loss ${loss} vs PyTorch ${fx.loss}`).toBeLessThanOrEqual(LOSS_RTOL * fx.loss);
    const want = await readTensorF32(src, header, 'grad/prompt_embeddings');
    const grads: Float32Array[] = [];
    for (const l of p.layers) grads.push(await downloadF32(ctx, l.grad));
    const got = toPeftTable(grads, p.n, p.tokenDim);
    const scale = want.reduce((s, x) => Math.max(s, Math.abs(x)), 0);
    expect(scale).toBeGreaterThan(0);
    expectClose(`${fx.name} d prompt_embeddings`, got, want, { atol: GRAD_RTOL * scale, rtol: 1e-3 });
    const worst = got.reduce((e, g, j) => Math.max(e, Math.abs(g - want[j]) / scale), 0);

    // greedy decode: the prefix written into every layer's KV cache, the prompt from position P
    const prompt = fx.ids.slice(0, fx.greedyPromptLength);
    const tokens = await generateWithPrefix(model, p, prompt, { greedy: true, temperature: 0, topK: 0, topP: 1, maxTokens: fx.greedy.length, seed: 0, eosIds: [], run: null });
    expect(tokens).toEqual(fx.greedy);
    console.log(`prefix ${fx.name}: loss ${loss} vs ${fx.loss} (relative ${(Math.abs(loss - fx.loss) / fx.loss).toExponential(2)}), table gradient worst error ${worst.toExponential(2)} of its max ${scale.toExponential(2)}, greedy ${tokens.join(' ')}`);
    releaseTensor(ctx, lossAcc);
    releasePrefixTuning(ctx, p);
    model.release();
  }, 300_000);
});

describe('prefix tuning layout and batches', () => {
  it("PEFT's table (P, L·2·token_dim) <-> per-layer (2, P, token_dim) blocks: element [p, (2l + s)·TD + c] is layer l's s-th block row p", () => {
    const [P, L, TD] = [3, 4, 5];
    const table = randn(P * L * 2 * TD, 4);
    const blocks = Array.from({ length: L }, (_, l) => layerFromPeftTable(table, P, L, TD, l));
    expect(blocks[2][(1 * P + 1) * TD + 4]).toBe(table[1 * L * 2 * TD + (2 * 2 + 1) * TD + 4]);
    expect(Array.from(toPeftTable(blocks, P, TD))).toEqual(Array.from(table));
  });

  it('positions start at P (HF cache_position), no document ids; packed rows are refused', () => {
    const b: Batch = { B: 2, T: 4, tokens: new Int32Array(8), labels: new Int32Array(8), positions: Int32Array.from([0, 1, 2, 0, 0, 1, 2, 3]), docIds: Int32Array.from([0, 0, 0, -1, 1, 1, 1, 1]), trainedTokens: 5 };
    const m = withPrefixPositions(b, 7);
    expect(Array.from(m.positions)).toEqual([7, 8, 9, 7, 7, 8, 9, 10]);
    expect(m.docIds).toBeNull();
    const packed = { ...b, docIds: Int32Array.from([0, 0, 1, 1, 2, 2, 2, 2]) };
    expect(() => withPrefixPositions(packed, 2)).toThrow(/one example per sequence: turn packing off/);
  });

  it('a prefix table of the wrong size names both sizes', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, join(ROOT, FX[1].folder));
    expect(() => createPrefixTuning(ctx, model.config, { n: 3, seed: 0, initialTable: new Float32Array(10) })).toThrow(/has 10 values, but 3 virtual tokens .* need 192/);
    model.release();
  });
});
