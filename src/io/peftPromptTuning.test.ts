// PEFT prompt-tuning adapters (peft_type PROMPT_TUNING, CAUSAL_LM): what we write is what PEFT
// saves (prompt_embeddings [n, token_dim] and the config fields PromptTuningConfig reads), it
// reads back exactly, and files that do not fit are refused with a reason.
import { describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToF16Bits } from '../util/f16';
import { bufferSource } from './byteSource';
import { parseHfConfig } from '../arch/config';
import { parsePeftConfig, parsePromptTuningConfig, peftTypeOf, PeftError, PROMPT_EMBEDDINGS, readPeftPromptTuning, writePeftPromptTuning } from './peft';
import { readSafetensorsHeader, writeSafetensors } from './safetensors';

const llama = parseHfConfig({
  architectures: ['LlamaForCausalLM'], hidden_size: 16, intermediate_size: 24, num_hidden_layers: 3,
  num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 10, bos_token_id: 1, eos_token_id: 2,
});

function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32 - 0.5));
}

describe('PEFT prompt tuning', () => {
  it('writes prompt_embeddings [n, C] F32 and the PROMPT_TUNING config, and reads them back exactly', async () => {
    const embeddings = values(5 * 16, 1);
    const files = writePeftPromptTuning({ config: llama, embeddings, numVirtualTokens: 5, baseModel: 'karpathy/stories260K' });
    const cfg = JSON.parse(files['adapter_config.json']);
    expect(cfg).toMatchObject({
      peft_type: 'PROMPT_TUNING', task_type: 'CAUSAL_LM', num_virtual_tokens: 5, token_dim: 16, num_transformer_submodules: 1,
      num_attention_heads: 4, num_layers: 3, prompt_tuning_init: 'RANDOM', base_model_name_or_path: 'karpathy/stories260K', inference_mode: true,
    });
    expect(peftTypeOf(files['adapter_config.json'])).toBe('PROMPT_TUNING');
    const h = await readSafetensorsHeader(bufferSource(files['adapter_model.safetensors']));
    expect(h.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([[PROMPT_EMBEDDINGS, 'F32', [5, 16]]]);
    const pc = parsePromptTuningConfig(files['adapter_config.json']);
    expect(pc).toMatchObject({ numVirtualTokens: 5, tokenDim: 16, numTransformerSubmodules: 1, baseModelNameOrPath: 'karpathy/stories260K' });
    const back = await readPeftPromptTuning(pc, bufferSource(files['adapter_model.safetensors'], 'adapter_model.safetensors'), llama);
    expect(Array.from(back.embeddings)).toEqual(Array.from(embeddings));
  });

  it('reads F16 embeddings as Python may save them', async () => {
    const halves = Uint16Array.from(values(2 * 16, 2), f32ToF16Bits);
    const file = writeSafetensors([{ name: PROMPT_EMBEDDINGS, dtype: 'F16', shape: [2, 16], data: halves }]);
    const pc = parsePromptTuningConfig({ peft_type: 'PROMPT_TUNING', task_type: 'CAUSAL_LM', num_virtual_tokens: 2, token_dim: 16 });
    const { embeddings } = await readPeftPromptTuning(pc, bufferSource(file, 'a.safetensors'), llama);
    expect(Array.from(embeddings)).toEqual(Array.from(halves, f16BitsToF32));
  });

  it('refuses configs and files that do not fit, saying why', async () => {
    const base = { peft_type: 'PROMPT_TUNING', task_type: 'CAUSAL_LM', num_virtual_tokens: 2, token_dim: 16 };
    expect(() => parsePromptTuningConfig({ ...base, peft_type: 'LORA' })).toThrow(/peft_type is "LORA"/);
    expect(() => parsePromptTuningConfig({ ...base, task_type: 'SEQ_2_SEQ_LM' })).toThrow(/Only CAUSAL_LM/);
    expect(() => parsePromptTuningConfig({ ...base, num_virtual_tokens: 0 })).toThrow(/num_virtual_tokens must be a positive integer/);
    expect(() => parsePromptTuningConfig({ ...base, num_transformer_submodules: 2 })).toThrow(/encoder-decoder/);
    expect(() => parsePeftConfig(base)).toThrow(/read prompt tuning with parsePromptTuningConfig/);
    expect(peftTypeOf('{')).toBeNull();
    const pc = parsePromptTuningConfig(base);
    const file = (name: string, shape: number[]) => bufferSource(writeSafetensors([{ name, dtype: 'F32', shape, data: new Float32Array(shape[0] * shape[1]) }]), 'adapter_model.safetensors');
    await expect(readPeftPromptTuning(pc, file(PROMPT_EMBEDDINGS, [3, 16]), llama)).rejects.toThrow(/is \[3,16\] but adapter_config.json says \[2, 16\]/);
    await expect(readPeftPromptTuning(pc, file('base_model.model.x.lora_A.weight', [2, 16]), llama)).rejects.toThrow(/has no "prompt_embeddings" tensor/);
    await expect(readPeftPromptTuning(parsePromptTuningConfig({ ...base, token_dim: 8 }), file(PROMPT_EMBEDDINGS, [2, 8]), llama)).rejects.toThrow(/token_dim 8 but this LlamaForCausalLM has hidden size 16.*different base model/);
    expect(() => writePeftPromptTuning({ config: llama, embeddings: new Float32Array(3), numVirtualTokens: 2 })).toThrow(PeftError);
  });
});
