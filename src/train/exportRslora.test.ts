// rsLoRA adapters export to llama.cpp GGUF: llama.cpp scales every adapter by adapter.lora.alpha / r,
// so the file carries alpha·√r and llama.cpp applies alpha/√r, the scale the run trained with.
// (The end-to-end check with llama.cpp itself is in src/cli/cli.test.ts.)
import { describe, expect, it } from 'vitest';
import { readGguf } from '../io/gguf';
import { parseHfConfig } from '../arch/config';
import { loraTargetShape } from '../io/loraTargets';
import { exportGgufFile, type AdapterExportInput } from './export';

const config = parseHfConfig({
  architectures: ['LlamaForCausalLM'], hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1,
  num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 10, bos_token_id: 1, eos_token_id: 2,
});

function input(useRslora: boolean, rank: number, alpha: number): AdapterExportInput {
  const module = 'model.layers.0.self_attn.v_proj';
  const s = loraTargetShape(config, module);
  return {
    config, modelName: 'tiny', rank, alpha, dropout: 0, useRslora,
    adapters: [{ module, a: new Float32Array(rank * s.in).fill(0.5), b: new Float32Array(s.out * rank).fill(0.25) }],
  };
}

/** The scale llama.cpp applies: adapter.lora.alpha / r (llama-adapter.cpp), in f32. */
function llamaCppScale(file: Uint8Array, rank: number): number {
  const alpha = readGguf(file).kv.get('adapter.lora.alpha')!.value as number;
  return Math.fround(alpha / rank);
}

describe('GGUF export of rsLoRA adapters', () => {
  for (const [rank, alpha] of [[8, 16], [4, 8], [16, 32], [3, 7]] as const) {
    it(`r=${rank} alpha=${alpha}: llama.cpp's alpha/r equals alpha/√r`, () => {
      const f = exportGgufFile(input(true, rank, alpha));
      expect(f.name).toBe('tiny-lora.gguf');
      expect(llamaCppScale(f.bytes, rank)).toBeCloseTo(alpha / Math.sqrt(rank), 6);
    });
  }

  it('plain LoRA still writes alpha itself (scale alpha/r)', () => {
    const f = exportGgufFile(input(false, 8, 16));
    expect(readGguf(f.bytes).kv.get('adapter.lora.alpha')!.value).toBe(16);
    expect(llamaCppScale(f.bytes, 8)).toBe(2);
  });
});
