import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../arch/config';
import { canonicalModule, linearModules, LoraTargetError, loraTargetShape } from './loraTargets';

const rawLlama = {
  architectures: ['LlamaForCausalLM'], hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 10, bos_token_id: 1, eos_token_id: 2,
};
const llama = parseHfConfig(rawLlama);
const gpt2 = parseHfConfig({ architectures: ['GPT2LMHeadModel'], n_embd: 8, n_head: 2, n_layer: 1, vocab_size: 11, n_positions: 6, bos_token_id: 10, eos_token_id: 10 });

describe('LoRA targets', () => {
  it('lists every linear layer with nn.Linear in/out sizes', () => {
    const m = linearModules(llama);
    expect(m).toHaveLength(2 * 7 + 1);
    expect(m[0]).toEqual({ module: 'model.layers.0.self_attn.q_proj', in: 16, out: 16 });
    expect(m.find((x) => x.module.endsWith('k_proj'))).toMatchObject({ in: 16, out: 8 });
    expect(m.find((x) => x.module.endsWith('down_proj'))).toMatchObject({ in: 24, out: 16 });
    expect(m.at(-1)).toEqual({ module: 'lm_head', in: 16, out: 10 });
    const tied = parseHfConfig({ ...rawLlama, tie_word_embeddings: true });
    expect(linearModules(tied).some((x) => x.module === 'lm_head')).toBe(false);
  });

  it('reads GPT-2 Conv1D [in, out] weights the right way round', () => {
    expect(linearModules(gpt2)).toEqual([
      { module: 'transformer.h.0.attn.c_attn', in: 8, out: 24 },
      { module: 'transformer.h.0.attn.c_proj', in: 8, out: 8 },
      { module: 'transformer.h.0.mlp.c_fc', in: 8, out: 32 },
      { module: 'transformer.h.0.mlp.c_proj', in: 32, out: 8 },
    ]);
    expect(loraTargetShape(gpt2, 'base_model.model.h.0.mlp.c_fc')).toEqual({ in: 8, out: 32 });
  });

  it('canonicalizes module paths and rejects non-linear targets', () => {
    expect(canonicalModule(gpt2, 'base_model.model.h.0.attn.c_attn')).toBe('transformer.h.0.attn.c_attn');
    expect(canonicalModule(llama, 'base_model.model.model.layers.1.mlp.up_proj')).toBe('model.layers.1.mlp.up_proj');
    expect(() => loraTargetShape(llama, 'model.norm')).toThrow(LoraTargetError);
    expect(() => loraTargetShape(gpt2, 'transformer.wte')).toThrow(/"transformer.wte" is not a linear layer of this GPT2LMHeadModel model \(1 layers/);
  });
});
