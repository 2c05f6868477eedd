// The memory estimate of a quantized base: the linear layers' matrices in the q8 / q4 layouts,
// everything else as for fp16 (what load.ts allocates is checked in quantizedBase.test.ts).
import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../arch/config';
import { linearModules } from '../model/adapter';
import { DEFAULT_CONFIG } from './config';
import { baseWeightsBytes, estimateMemory } from './memory';

// Qwen2.5-0.5B's shape (K = 896 and 4864: whole 32-blocks)
const qwen = parseHfConfig({
  architectures: ['Qwen2ForCausalLM'], hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14,
  num_key_value_heads: 2, vocab_size: 151936, max_position_embeddings: 32768, tie_word_embeddings: true, rope_theta: 1000000, rms_norm_eps: 1e-6,
});

describe('baseWeightsBytes / estimateMemory with a quantized base', () => {
  it('int8: 1 byte per linear weight + a 4-byte scale per row; int4: half a byte + 8 bytes per 32', () => {
    const linear = linearModules(qwen).reduce((s, m) => s + m.inFeatures * m.outFeatures, 0);
    const rows = linearModules(qwen).reduce((s, m) => s + m.outFeatures, 0);
    const fp16 = baseWeightsBytes(qwen);
    expect(baseWeightsBytes(qwen, 'int8')).toBe(fp16 - 2 * linear + linear + 4 * rows);
    expect(baseWeightsBytes(qwen, 'int4')).toBe(fp16 - 2 * linear + linear / 2 + (linear / 32) * 8);
  });

  it('the estimate carries it, and only the weights change', () => {
    const job = { ...DEFAULT_CONFIG, batchSize: 1, seqLen: 256 };
    const fp16 = estimateMemory(qwen, job);
    const int4 = estimateMemory(qwen, job, undefined, { quantize: 'int4' });
    expect(int4.weightsBytes).toBe(baseWeightsBytes(qwen, 'int4'));
    expect(int4.weightsBytes).toBeLessThan(0.6 * fp16.weightsBytes); // the tied 151936 x 896 embedding stays fp16
    expect(int4.totalBytes - int4.weightsBytes).toBe(fp16.totalBytes - fp16.weightsBytes);
    expect(estimateMemory(qwen, job, undefined, { quantize: 'none' }).weightsBytes).toBe(fp16.weightsBytes);
  });
});
