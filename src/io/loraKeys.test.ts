import { describe, expect, it } from 'vitest';
import { loraCheckpointKey, parseLoraCheckpointKey, parsePeftLoraKey, stripPeftPrefix } from './loraKeys';

describe('LoRA checkpoint keys', () => {
  it('parse back to the module and factor they were written from', () => {
    for (const module of ['model.layers.0.self_attn.q_proj', 'transformer.h.11.attn.c_attn', 'lm_head', 'a.lora_A.b']) {
      for (const factor of ['A', 'B'] as const) {
        expect(parseLoraCheckpointKey(loraCheckpointKey(module, factor))).toEqual({ module, factor });
      }
    }
  });

  it('keep the key format of checkpoints already stored in IndexedDB', () => {
    // Spelled out literally: checkpoints saved by every earlier version use exactly these strings.
    expect(loraCheckpointKey('model.layers.3.mlp.down_proj', 'A')).toBe('base_model.model.model.layers.3.mlp.down_proj.lora_A.weight');
    expect(parseLoraCheckpointKey('base_model.model.model.layers.3.mlp.down_proj.lora_B.weight')).toEqual({
      module: 'model.layers.3.mlp.down_proj',
      factor: 'B',
    });
  });

  it('reject names that are not LoRA keys', () => {
    for (const bad of [
      '',
      'model.layers.0.self_attn.q_proj.lora_A.weight', // no PEFT prefix
      'base_model.model.model.layers.0.self_attn.q_proj.lora_C.weight',
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A',
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight.grad',
      'base_model.model..lora_A.weight',
      'base_model.model.model.layers.0.self_attn.q_proj.lora_a.weight',
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight', // PEFT file form only
      'base_model.model.model.embed_tokens.weight',
    ]) {
      expect(parseLoraCheckpointKey(bad), bad).toBeNull();
    }
    expect(() => loraCheckpointKey('', 'A')).toThrow(/module path/);
  });

  it("accept PEFT's .default adapter name only when reading PEFT files", () => {
    expect(parsePeftLoraKey('base_model.model.model.layers.0.mlp.up_proj.lora_B.default.weight')).toEqual({
      module: 'model.layers.0.mlp.up_proj',
      factor: 'B',
    });
    expect(parsePeftLoraKey(loraCheckpointKey('lm_head', 'A'))).toEqual({ module: 'lm_head', factor: 'A' });
    expect(parsePeftLoraKey('base_model.model.lm_head.lora_A.other.weight')).toBeNull();
  });

  it('strip the PEFT prefix only when it is there', () => {
    expect(stripPeftPrefix('base_model.model.model.layers.1.self_attn.v_proj')).toBe('model.layers.1.self_attn.v_proj');
    expect(stripPeftPrefix('model.layers.1.self_attn.v_proj')).toBe('model.layers.1.self_attn.v_proj');
  });
});
