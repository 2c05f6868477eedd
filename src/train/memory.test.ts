// The memory estimate per method: full fine-tuning adds 16 bytes per parameter beyond the fp16
// weights and is refused against the budget with a message naming what to change; prompt tuning
// adds its virtual tokens to every sequence; LoRA's estimate does not depend on the new fields.
import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../arch/config';
import { DEFAULT_CONFIG, DEFAULT_DEVICE_BUDGET_BYTES, validateConfig, type TrainConfig } from './config';
import { estimateMemory, parameterCount } from './memory';

// SmolLM2-135M's shape
const smol = parseHfConfig({
  architectures: ['LlamaForCausalLM'], hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9,
  num_key_value_heads: 3, vocab_size: 49152, max_position_embeddings: 8192, tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2,
});
const limits = { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 30 };
const job = (o: Partial<TrainConfig>): TrainConfig => ({ ...DEFAULT_CONFIG, batchSize: 2, seqLen: 256, ...o });

describe('estimateMemory by method', () => {
  it('full fine-tuning: f32 masters + gradients and AdamW m, v for every parameter', () => {
    const P = parameterCount(smol);
    expect(P).toBeGreaterThan(134e6);
    expect(P).toBeLessThan(135e6);
    const full = estimateMemory(smol, job({ method: 'full' }), limits);
    const lora = estimateMemory(smol, job({ method: 'lora' }), limits);
    expect(full.method).toBe('full');
    expect(full.loraBytes).toBe(8 * P);
    expect(full.optimizerBytes).toBe(8 * P);
    expect(full.weightsBytes).toBe(lora.weightsBytes);
    // no LoRA u activations
    expect(full.activationsBytes).toBeLessThan(lora.activationsBytes);
    expect(full.totalBytes - full.weightsBytes).toBeGreaterThan(16 * P);
  });

  it('refuses full fine-tuning over the budget, naming the settings to change', () => {
    const big = estimateMemory(smol, job({ method: 'full', batchSize: 8, seqLen: 1024 }), { ...limits, deviceBytes: DEFAULT_DEVICE_BUDGET_BYTES });
    expect(big.fits).toBe(false);
    expect(big.limitBytes).toBe(DEFAULT_DEVICE_BUDGET_BYTES);
    expect(big.advice).toMatch(/^Full fine-tuning needs about [\d.]+ GiB of GPU memory \([\d.]+ GiB of it the f32 master weights, gradients and AdamW state: 16 bytes for each of the model's 134,\d{3},\d{3} parameters\), but the budget is 4.00 GiB\./);
    expect(big.advice).toMatch(/Switch the method to LoRA.*; or lower the batch size or the sequence length, or turn on activation checkpointing \(saves [\d.]+ [MG]iB\).*raise the budget \(deviceBudgetBytes\)/);
    // the same job fits when small enough
    expect(estimateMemory(smol, job({ method: 'full', batchSize: 1, seqLen: 128 }), { ...limits, deviceBytes: DEFAULT_DEVICE_BUDGET_BYTES }).fits).toBe(true);
    // when the weights and their state alone exceed the budget, batch and length cannot help
    const tiny = estimateMemory(smol, job({ method: 'full', batchSize: 1, seqLen: 16 }), { ...limits, deviceBytes: 2 ** 30 });
    expect(tiny.fits).toBe(false);
    expect(tiny.advice).toMatch(/Switch the method to LoRA, which trains a small adapter and needs far less \(lowering the batch size or the sequence length cannot help/);
    // an f32 copy of a matrix over the per-buffer limit
    const perBuffer = estimateMemory(smol, job({ method: 'full', batchSize: 1, seqLen: 16 }), { maxBufferSize: 64 * 2 ** 20, maxStorageBufferBindingSize: 2 ** 30 });
    expect(perBuffer.fits).toBe(false);
    expect(perBuffer.advice).toMatch(/f32 copy of every weight.*switch the method to LoRA/);
  });

  it('prompt tuning: n virtual tokens make every sequence longer; only n·C values are trained', () => {
    const prompt = estimateMemory(smol, job({ method: 'prompt', pack: false, promptTuning: { numVirtualTokens: 16, init: 'random' } }), limits);
    // full fine-tuning keeps the same activations (no LoRA ones) for sequences 16 tokens longer
    const longer = estimateMemory(smol, job({ method: 'full', seqLen: 256 + 16 }), limits);
    expect(prompt.loraBytes).toBe(16 * 576 * 8);
    expect(prompt.optimizerBytes).toBe(16 * 576 * 8);
    expect(prompt.activationsBytes).toBe(longer.activationsBytes);
  });

  it('LoRA is not refused by a budget nobody set', () => {
    const e = estimateMemory(smol, job({ method: 'lora', batchSize: 16, seqLen: 2048 }), limits);
    expect(e.limitBytes).toBeNull();
    expect(e.method).toBe('lora');
  });
});

describe('validateConfig by method', () => {
  it('prompt tuning needs packing off, a number of virtual tokens and, for text init, a text', () => {
    const issues = (c: Partial<TrainConfig>) => validateConfig({ ...DEFAULT_CONFIG, ...c }).map((i) => `${i.field}: ${i.message}`);
    expect(issues({ method: 'prompt', pack: true })).toEqual([expect.stringMatching(/^pack: Prompt tuning needs packing off.*Turn off packing\.$/)]);
    expect(issues({ method: 'prompt', pack: false })).toEqual([]);
    expect(issues({ method: 'prompt', pack: false, promptTuning: { numVirtualTokens: 0, init: 'random' } })).toEqual([expect.stringMatching(/^numVirtualTokens: /)]);
    expect(issues({ method: 'prompt', pack: false, promptTuning: { numVirtualTokens: 8, init: 'text', initText: ' ' } })).toEqual([expect.stringMatching(/^initText: Text init needs an init text/)]);
    // LoRA settings are not checked for other methods
    expect(issues({ method: 'full', lora: { ...DEFAULT_CONFIG.lora, rank: 0 } })).toEqual([]);
    expect(issues({ method: 'lora', lora: { ...DEFAULT_CONFIG.lora, rank: 0 } })).toEqual([expect.stringMatching(/^rank: /)]);
    expect(issues({ method: 'full', deviceBudgetBytes: -1 })).toEqual([expect.stringMatching(/^deviceBudgetBytes: /)]);
  });
});
