// The PEFT prefix-tuning files: what we write reads back exactly, with PEFT's config fields; a
// config or table that does not fit the model is refused with a message naming the problem and the
// fix; a prefix_projection adapter reads as the table PEFT saved for it.
import { describe, expect, it } from 'vitest';
import { bufferSource } from './byteSource';
import { parsePrefixTuningConfig, readPeftPrefixTuning, writePeftPrefixTuning } from './peftPrefix';
import { writeSafetensors } from './safetensors';

const MODEL = { numLayers: 3, numKvHeads: 2, headDim: 4, hfArchitecture: 'Qwen2ForCausalLM' };
const n = 5;
const width = 3 * 2 * 8;
const table = Float32Array.from({ length: n * width }, (_, i) => Math.sin(i) * 2);

describe('PEFT prefix-tuning files', () => {
  it('round-trips the table with PEFT’s config fields (kv heads and their width)', async () => {
    const f = writePeftPrefixTuning({ config: MODEL, numVirtualTokens: n, table, baseModel: 'x/y' });
    const cfg = JSON.parse(f['adapter_config.json']);
    expect(cfg).toMatchObject({ peft_type: 'PREFIX_TUNING', task_type: 'CAUSAL_LM', num_virtual_tokens: 5, token_dim: 8, num_attention_heads: 2, num_layers: 3, prefix_projection: false, base_model_name_or_path: 'x/y' });
    const pc = parsePrefixTuningConfig(f['adapter_config.json']);
    expect(pc).toEqual({ numVirtualTokens: 5, tokenDim: 8, numLayers: 3, numAttentionHeads: 2, baseModelNameOrPath: 'x/y' });
    const back = await readPeftPrefixTuning(pc, bufferSource(f['adapter_model.safetensors'], 'adapter_model.safetensors'), MODEL);
    expect(Array.from(back)).toEqual(Array.from(table));
  });

  it('refuses what does not fit, saying why and what to do', async () => {
    expect(() => writePeftPrefixTuning({ config: MODEL, numVirtualTokens: n, table: new Float32Array(7) })).toThrow(/the table must be a Float32Array \[5, 48\] \(240 values\), got 7/);
    const f = writePeftPrefixTuning({ config: MODEL, numVirtualTokens: n, table });
    const cfg = JSON.parse(f['adapter_config.json']);
    // PEFT saves a prefix_projection adapter as the MLP's output table: it reads like any other
    expect(parsePrefixTuningConfig({ ...cfg, prefix_projection: true, encoder_hidden_size: 64 }).numVirtualTokens).toBe(5);
    expect(() => parsePrefixTuningConfig({ ...cfg, peft_type: 'LORA' })).toThrow(/peft_type is "LORA"\. This reader takes prefix-tuning adapters/);
    expect(() => parsePrefixTuningConfig({ ...cfg, num_virtual_tokens: 0 })).toThrow(/num_virtual_tokens must be a positive integer, got 0/);
    const pc = parsePrefixTuningConfig(f['adapter_config.json']);
    const w = bufferSource(f['adapter_model.safetensors'], 'adapter_model.safetensors');
    await expect(readPeftPrefixTuning(pc, w, { ...MODEL, numLayers: 4 })).rejects.toThrow(/the prefix is for 3 layers of key\/value width 8, but this Qwen2ForCausalLM has 4 layers of 8 .* different base model/);
    const wrong = writeSafetensors([{ name: 'prompt_embeddings', dtype: 'F32', shape: [4, width], data: new Float32Array(4 * width) }], { format: 'pt' });
    await expect(readPeftPrefixTuning(pc, bufferSource(wrong, 'adapter_model.safetensors'), MODEL)).rejects.toThrow(/"prompt_embeddings" is \[4,48\] but adapter_config.json says \[5, 48\]/);
  });
});
