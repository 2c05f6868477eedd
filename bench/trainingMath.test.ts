// The training benchmark's arithmetic, checked against counts made another way: FLOPs from the
// checkpoint's own tensor list (every frozen matrix is used in one forward and one dx product)
// and memory from tensor sizes.
import { describe, expect, it } from 'vitest';
import { expectedTensors, type ModelConfig } from '../src/io/hfConfig';
import { parseHfConfig } from '../src/arch/config';
import { randomModelConfigJson, SMOLLM2_135M_SHAPE } from '../src/model/randomModel';
import { LLAMA_ALL_LINEAR } from '../src/train/config';
import { analyticMemory, median, memoryBreakdown, memoryGroup, splitFromCategoryRuns, splitStep, stepFlops, type StepShape } from './trainingMath';

const stories = parseHfConfig({
  architectures: ['LlamaForCausalLM'],
  hidden_size: 64,
  intermediate_size: 172,
  num_hidden_layers: 5,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  vocab_size: 512,
  max_position_embeddings: 512,
  tie_word_embeddings: true,
});
const smol2 = parseHfConfig(randomModelConfigJson({ ...SMOLLM2_135M_SHAPE, numLayers: 2 }));
const shape = (checkpointing: boolean): StepShape => ({
  batchSize: 4,
  seqLen: 256,
  activationCheckpointing: checkpointing,
  lora: { rank: 16, alpha: 32, dropout: 0, targetModules: LLAMA_ALL_LINEAR, useRslora: false },
});

function flopsFromTensors(c: ModelConfig, N: number, r: number): number {
  let f = 0;
  for (const t of expectedTensors(c)) {
    if (t.shape.length !== 2) continue;
    const [out, inp] = t.shape;
    if (t.name.includes('embed_tokens')) {
      f += 2 * (2 * N * out * inp); // used as the tied LM head: logits and dh
      continue;
    }
    f += 2 * (2 * N * out * inp); // y = x·Wᵀ and dx = dy·W
    f += 2 * N * r * (inp + out) * 3; // LoRA: u, y+=; du, dB, dA, dx
  }
  return f;
}

describe('stepFlops', () => {
  it('stories260K, B=4 T=256 r=16 all linear: matmul FLOPs equal the count from its tensors', () => {
    const f = stepFlops(stories, shape(false));
    expect(f.matmul).toBe(flopsFromTensors(stories, 1024, 16));
    expect(f.matmul).toBe(1_630_404_608);
    // attention: 5 layers · 2·B·Hq·T²·D forward (8 heads of 8), 3.5x with the backward
    expect(f.attention).toBe(5 * 2 * 4 * 8 * 256 * 256 * 8 * 3.5);
    expect(f.total).toBe(f.matmul + f.attention);
    expect(f.recompute).toBe(0);
  });

  it("SmolLM2-135M's shape with 2 layers: dominated by the 49152-token LM head", () => {
    const f = stepFlops(smol2, shape(false));
    expect(f.matmul).toBe(flopsFromTensors(smol2, 1024, 16));
    const head = 4 * 1024 * 576 * 49152;
    expect(head / f.total).toBeGreaterThan(0.75);
    expect(f.total / 1e9).toBeCloseTo(149.07, 1);
  });

  it('checkpointing adds one forward of every layer (not the head) as recompute', () => {
    const a = stepFlops(smol2, shape(false));
    const b = stepFlops(smol2, shape(true));
    expect(b.total).toBe(a.total);
    const baseFwd = 2 * 1024 * 2 * (576 * 576 * 2 + 576 * 192 * 2 + 3 * 576 * 1536);
    // LoRA forward: 2·N·r·(in+out) summed over q,k,v,o,gate,up,down of both layers
    const loraFwd = 2 * 2 * 1024 * 16 * (1152 + 768 + 768 + 1152 + 3 * 2112);
    const attnFwd = 2 * 2 * 4 * 9 * 256 * 256 * 64;
    expect(b.recompute).toBe(baseFwd + loraFwd + attnFwd);
  });
});

describe('analyticMemory', () => {
  it('weights in fp16 (vectors f32), LoRA and its gradient, AdamW m and v, and kept activations', () => {
    const m = analyticMemory(stories, shape(false));
    let weights = 0;
    for (const t of expectedTensors(stories)) weights += t.shape.length === 2 ? 2 * t.shape[0] * t.shape[1] : 4 * t.shape[0];
    expect(m.weightsBytes).toBe(weights);
    const loraFloats = 5 * 16 * (128 + 96 + 96 + 128 + 236 + 236 + 236);
    expect(m.loraBytes).toBe(2 * 4 * loraFloats);
    expect(m.optimizerBytes).toBe(2 * 4 * loraFloats);
    // per layer and token: h1 x2 h2 (64), q qr o (64), k v kr (32), g up m (172), 2 rstd, 8 lse,
    // 7 LoRA u (16); plus the layer input (64), and the last layer's output (64) once
    const perToken = 3 * 64 + 3 * 64 + 3 * 32 + 3 * 172 + 2 + 8 + 7 * 16 + 64;
    expect(m.activationsBytes).toBe(5 * 1024 * perToken * 4 + 1024 * 64 * 4);
    expect(m.analyticBytes).toBe(m.weightsBytes + m.loraBytes + m.optimizerBytes + m.activationsBytes);
    expect(m.estimateBytes).toBeGreaterThan(m.analyticBytes);
  });

  it('checkpointing keeps every layer input but only one layer of activations', () => {
    const off = analyticMemory(stories, shape(false));
    const on = analyticMemory(stories, shape(true));
    const layerActs = 1024 * (3 * 64 + 3 * 64 + 3 * 32 + 3 * 172 + 2 + 8 + 7 * 16) * 4;
    expect(on.activationsBytes).toBe(6 * 1024 * 64 * 4 + layerActs); // 5 layer inputs + the last output
    expect(off.activationsBytes - on.activationsBytes).toBe(4 * layerActs);
  });
});

describe('splitting a step', () => {
  it('overhead is the wall time outside passes, never negative', () => {
    expect(splitStep(100, { matmul: 50, attention: 20, other: 10 })).toEqual({ matmulMs: 50, attentionMs: 20, otherMs: 10, overheadMs: 20 });
    expect(splitStep(70, { matmul: 50, attention: 20, other: 10 }).overheadMs).toBe(0);
  });

  it('category runs: each category is its run minus the run with no passes', () => {
    expect(splitFromCategoryRuns(100, { none: 10, matmul: 60, attention: 25, other: 12 })).toEqual({ matmulMs: 50, attentionMs: 15, otherMs: 2, overheadMs: 33 });
    expect(splitFromCategoryRuns(100, { none: 10, matmul: 60, attention: 25, other: 8 }).otherMs).toBe(0);
  });

  it('median', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe('memory breakdown by buffer label', () => {
  it('sorts the labels the model, adapter, trainer and workspace use into groups', () => {
    expect(memoryGroup('model.layers.3.mlp.up_proj.weight')).toBe('base weights');
    expect(memoryGroup('model.embed_tokens.weight')).toBe('base weights');
    expect(memoryGroup('model.layers.3.mlp.up_proj.lora_A')).toBe('LoRA + gradients');
    expect(memoryGroup('model.layers.3.mlp.up_proj.lora_B.grad')).toBe('LoRA + gradients');
    expect(memoryGroup('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight adam v')).toBe('AdamW state');
    expect(memoryGroup('L12.h1')).toBe('kept activations');
    expect(memoryGroup('L0.q_proj.u')).toBe('kept activations');
    expect(memoryGroup('cur.g')).toBe('kept activations');
    expect(memoryGroup('x.30')).toBe('kept activations');
    expect(memoryGroup('grad.m')).toBe('gradients + scratch');
    expect(memoryGroup('scratch.du')).toBe('gradients + scratch');
    expect(memoryGroup('final.h')).toBe('gradients + scratch');
    expect(memoryGroup('chunk.logits')).toBe('logits chunk');
    expect(memoryGroup('in.tokens')).toBe('other');
    expect(memoryGroup('loss accumulator')).toBe('other');
  });

  it('sums bytes per group, largest first', () => {
    const b = memoryBreakdown([
      { label: 'L0.h1', size: 10 },
      { label: 'chunk.logits', size: 100 },
      { label: 'L1.h1', size: 10 },
      { label: 'in.tokens', size: 4 },
    ]);
    expect(b).toEqual([
      { group: 'logits chunk', bytes: 100 },
      { group: 'kept activations', bytes: 20 },
      { group: 'other', bytes: 4 },
    ]);
  });
});
