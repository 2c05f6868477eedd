import { describe, expect, it } from 'vitest';
import { checkTensors, expectedTensors, HfConfigError, matchTensors, type ModelConfig } from './hfConfig';
import { parseHfConfig } from '../arch/config';

// Abridged copies of real config.json files (the keys that matter here).
const tinyllama = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 2048, intermediate_size: 5632,
  num_hidden_layers: 22, num_attention_heads: 32, num_key_value_heads: 4, vocab_size: 32000,
  max_position_embeddings: 2048, rms_norm_eps: 1e-5, rope_theta: 10000, rope_scaling: null,
  tie_word_embeddings: false, hidden_act: 'silu', bos_token_id: 1, eos_token_id: 2, torch_dtype: 'bfloat16',
};
const qwen2 = {
  architectures: ['Qwen2ForCausalLM'], hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24,
  num_attention_heads: 14, num_key_value_heads: 2, vocab_size: 151936, max_position_embeddings: 32768,
  rms_norm_eps: 1e-6, rope_theta: 1000000.0, tie_word_embeddings: true, hidden_act: 'silu',
  bos_token_id: 151643, eos_token_id: 151643, use_sliding_window: false, sliding_window: 32768,
};
const mistral = {
  architectures: ['MistralForCausalLM'], hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32,
  num_attention_heads: 32, num_key_value_heads: 8, vocab_size: 32000, max_position_embeddings: 32768,
  rms_norm_eps: 1e-5, rope_theta: 1000000.0, sliding_window: null, tie_word_embeddings: false,
};
const gpt2 = {
  architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: 768, n_layer: 12, n_head: 12, n_ctx: 1024,
  n_positions: 1024, vocab_size: 50257, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5,
  bos_token_id: 50256, eos_token_id: 50256,
};

describe('parseHfConfig', () => {
  it('normalizes a Llama config', () => {
    const c = parseHfConfig(JSON.stringify(tinyllama));
    expect(c).toMatchObject({
      architecture: 'llama', hfArchitecture: 'LlamaForCausalLM', hiddenSize: 2048, intermediateSize: 5632,
      numLayers: 22, numHeads: 32, numKvHeads: 4, headDim: 64, vocabSize: 32000, maxPositions: 2048,
      norm: 'rmsnorm', normEps: 1e-5, rmsNormEps: 1e-5, positions: 'rope', ropeTheta: 10000, ropeScaling: null,
      tieWordEmbeddings: false, hiddenAct: 'silu', bosTokenId: 1, eosTokenId: 2, eosTokenIds: [2],
      qkvBias: false, oBias: false, mlpBias: false, slidingWindow: null, torchDtype: 'bfloat16',
    });
    expect(c.layerNormEps).toBeUndefined();
  });

  it('normalizes Qwen2 (q/k/v bias, tied) and Mistral (sliding window)', () => {
    const q = parseHfConfig(qwen2);
    expect(q).toMatchObject({ architecture: 'qwen2', headDim: 64, numKvHeads: 2, ropeTheta: 1e6, tieWordEmbeddings: true, qkvBias: true, oBias: false, slidingWindow: null });
    expect(parseHfConfig({ ...qwen2, use_sliding_window: true }).slidingWindow).toBe(32768);
    const m = parseHfConfig(mistral);
    expect(m).toMatchObject({ architecture: 'mistral', headDim: 128, slidingWindow: null, bosTokenId: 1, eosTokenIds: [2] });
    const { sliding_window: _drop, ...noWindow } = mistral;
    expect(parseHfConfig(noWindow).slidingWindow).toBe(4096);
    expect(parseHfConfig({ ...mistral, sliding_window: 4096 }).slidingWindow).toBe(4096);
  });

  it('normalizes GPT-2 key names with their defaults', () => {
    const c = parseHfConfig(gpt2);
    expect(c).toMatchObject({
      architecture: 'gpt2', hiddenSize: 768, intermediateSize: 3072, numLayers: 12, numHeads: 12, numKvHeads: 12,
      headDim: 64, vocabSize: 50257, maxPositions: 1024, norm: 'layernorm', normEps: 1e-5, layerNormEps: 1e-5,
      positions: 'learned', ropeTheta: null, tieWordEmbeddings: true, hiddenAct: 'gelu_new',
      bosTokenId: 50256, eosTokenIds: [50256], qkvBias: true, oBias: true, mlpBias: true,
    });
    expect(parseHfConfig({ ...gpt2, n_inner: 1000 }).intermediateSize).toBe(1000);
  });

  it('applies transformers defaults and accepts newer config spellings', () => {
    const { num_key_value_heads: _a, rms_norm_eps: _b, rope_theta: _c, tie_word_embeddings: _d, hidden_act: _e, max_position_embeddings: _f, ...bare } = tinyllama;
    const c = parseHfConfig(bare);
    expect(c).toMatchObject({ numKvHeads: 32, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false, hiddenAct: 'silu', maxPositions: 2048 });
    // transformers 5: rope_parameters; Llama 3: a list of eos ids, llama3 rope scaling, explicit head_dim
    const l3 = parseHfConfig({
      ...tinyllama, rope_theta: undefined, eos_token_id: [128001, 128008, 128009], vocab_size: 128256, head_dim: 64,
      rope_parameters: { rope_theta: 500000, rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    });
    expect(l3.ropeTheta).toBe(500000);
    expect(l3.ropeScaling).toEqual({ rope_theta: 500000, rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 });
    expect(l3.rope).toEqual({ type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 });
    expect(l3.eosTokenIds).toEqual([128001, 128008, 128009]);
    expect(l3.eosTokenId).toBe(128001);
    expect(parseHfConfig({ ...tinyllama, rope_scaling: { rope_type: 'default' } }).ropeScaling).toBeNull();
    // an explicit head_dim may differ from hidden/heads (Mistral NeMo style)
    expect(parseHfConfig({ ...mistral, hidden_size: 5120, head_dim: 128 }).headDim).toBe(128);
    // model_type alone, without architectures
    const { architectures: _g, ...typed } = gpt2;
    expect(parseHfConfig(typed).architecture).toBe('gpt2');
    expect(parseHfConfig({ ...tinyllama, attention_bias: true, mlp_bias: true })).toMatchObject({ qkvBias: true, oBias: true, mlpBias: true });
  });

  it('rejects unsupported architectures, naming them and listing the supported ones', () => {
    const err = () => parseHfConfig({ ...tinyllama, architectures: ['PhiForCausalLM'] }, 'phi/config.json');
    expect(err).toThrow(HfConfigError);
    expect(err).toThrow(/^phi\/config.json: architecture "PhiForCausalLM" is not supported\. Supported architectures: LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM, GPT2LMHeadModel/);
    expect(() => parseHfConfig({ hidden_size: 8 })).toThrow(/has no "architectures" list\. Supported/);
    expect(() => parseHfConfig({ model_type: 'bert' })).toThrow(/unsupported model_type "bert"/);
    expect(() => parseHfConfig({ architectures: [] })).toThrow(/must be a non-empty list/);
    expect(() => parseHfConfig('{oops')).toThrow(/not valid JSON/);
    expect(() => parseHfConfig('[1]')).toThrow(/must be a JSON object/);
  });

  it('validates numbers with messages that name the key', () => {
    const cases: [object, RegExp][] = [
      [{ ...tinyllama, hidden_size: undefined }, /"hidden_size" is missing/],
      [{ ...tinyllama, hidden_size: 0 }, /"hidden_size" must be a positive integer, got 0/],
      [{ ...tinyllama, num_hidden_layers: 2.5 }, /"num_hidden_layers" must be a positive integer, got 2.5/],
      [{ ...tinyllama, vocab_size: '32000' }, /"vocab_size" must be a positive integer, got "32000"/],
      [{ ...tinyllama, hidden_size: 2050 }, /hidden_size 2050 is not divisible by num_attention_heads 32/],
      [{ ...tinyllama, num_key_value_heads: 5 }, /num_attention_heads 32 is not divisible by num_key_value_heads 5/],
      [{ ...gpt2, n_embd: 770 }, /n_embd 770 is not divisible by n_head 12/],
      [{ ...gpt2, n_inner: -1 }, /"n_inner" must be a positive integer/],
      [{ ...tinyllama, rms_norm_eps: -1 }, /"rms_norm_eps" must be a positive number/],
      [{ ...tinyllama, rope_theta: 'big' }, /"rope_theta" must be a positive number/],
      [{ ...tinyllama, tie_word_embeddings: 'yes' }, /"tie_word_embeddings" must be true or false/],
      [{ ...tinyllama, eos_token_id: 32000 }, /eos_token_id 32000 is outside the vocabulary \(vocab_size 32000\)/],
      [{ ...tinyllama, bos_token_id: -1 }, /"bos_token_id" must be a token id/],
      [{ ...tinyllama, eos_token_id: [2, 'x'] }, /"eos_token_id" must be a token id or a list/],
      [{ ...tinyllama, head_dim: 63 }, /head size 63 is odd/],
    ];
    for (const [cfg, re] of cases) expect(() => parseHfConfig(cfg), String(re)).toThrow(re);
  });
});

function tiny(arch: 'llama' | 'qwen2' | 'gpt2', extra: object = {}): ModelConfig {
  if (arch === 'gpt2') return parseHfConfig({ ...gpt2, n_embd: 8, n_head: 2, n_layer: 2, vocab_size: 11, n_positions: 6, bos_token_id: 10, eos_token_id: 10, ...extra });
  const base = arch === 'llama' ? tinyllama : qwen2;
  return parseHfConfig({ ...base, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 10, bos_token_id: 1, eos_token_id: 2, ...extra });
}

describe('expectedTensors', () => {
  it('lists Llama tensors with [out, in] shapes and lm_head only when untied', () => {
    const t = expectedTensors(tiny('llama'));
    const m = new Map(t.map((e) => [e.name, e.shape]));
    expect(t).toHaveLength(1 + 2 * 9 + 1 + 1);
    expect(m.get('model.embed_tokens.weight')).toEqual([10, 8]);
    expect(m.get('model.layers.1.self_attn.q_proj.weight')).toEqual([8, 8]);
    expect(m.get('model.layers.1.self_attn.k_proj.weight')).toEqual([4, 8]);
    expect(m.get('model.layers.0.self_attn.v_proj.weight')).toEqual([4, 8]);
    expect(m.get('model.layers.0.self_attn.o_proj.weight')).toEqual([8, 8]);
    expect(m.get('model.layers.0.mlp.gate_proj.weight')).toEqual([12, 8]);
    expect(m.get('model.layers.0.mlp.up_proj.weight')).toEqual([12, 8]);
    expect(m.get('model.layers.0.mlp.down_proj.weight')).toEqual([8, 12]);
    expect(m.get('model.layers.0.input_layernorm.weight')).toEqual([8]);
    expect(m.get('model.layers.0.post_attention_layernorm.weight')).toEqual([8]);
    expect(m.get('model.norm.weight')).toEqual([8]);
    expect(m.get('lm_head.weight')).toEqual([10, 8]);
    expect(expectedTensors(tiny('llama', { tie_word_embeddings: true })).some((e) => e.name === 'lm_head.weight')).toBe(false);
    expect(t.some((e) => e.name.endsWith('.bias'))).toBe(false);
  });

  it('adds q/k/v biases for Qwen2, and a head_dim that differs from hidden/heads shapes q/k/v/o', () => {
    const m = new Map(expectedTensors(tiny('qwen2')).map((e) => [e.name, e.shape]));
    expect(m.get('model.layers.0.self_attn.q_proj.bias')).toEqual([8]);
    expect(m.get('model.layers.0.self_attn.k_proj.bias')).toEqual([4]);
    expect(m.get('model.layers.0.self_attn.v_proj.bias')).toEqual([4]);
    expect(m.has('model.layers.0.self_attn.o_proj.bias')).toBe(false);
    expect(m.has('lm_head.weight')).toBe(false);
    const wide = new Map(expectedTensors(tiny('llama', { head_dim: 6 })).map((e) => [e.name, e.shape]));
    expect(wide.get('model.layers.0.self_attn.q_proj.weight')).toEqual([24, 8]);
    expect(wide.get('model.layers.0.self_attn.k_proj.weight')).toEqual([12, 8]);
    expect(wide.get('model.layers.0.self_attn.o_proj.weight')).toEqual([8, 24]);
  });

  it('lists GPT-2 tensors with Conv1D [in, out] shapes', () => {
    const t = expectedTensors(tiny('gpt2'));
    const m = new Map(t.map((e) => [e.name, e.shape]));
    expect(t).toHaveLength(2 + 2 * 12 + 2);
    expect(m.get('transformer.wte.weight')).toEqual([11, 8]);
    expect(m.get('transformer.wpe.weight')).toEqual([6, 8]);
    expect(m.get('transformer.h.1.attn.c_attn.weight')).toEqual([8, 24]);
    expect(m.get('transformer.h.1.attn.c_attn.bias')).toEqual([24]);
    expect(m.get('transformer.h.0.attn.c_proj.weight')).toEqual([8, 8]);
    expect(m.get('transformer.h.0.mlp.c_fc.weight')).toEqual([8, 32]);
    expect(m.get('transformer.h.0.mlp.c_proj.weight')).toEqual([32, 8]);
    expect(m.get('transformer.h.0.mlp.c_proj.bias')).toEqual([8]);
    expect(m.get('transformer.h.0.ln_2.bias')).toEqual([8]);
    expect(m.get('transformer.ln_f.bias')).toEqual([8]);
  });
});

describe('matchTensors / checkTensors', () => {
  it('accepts GPT-2 names without the transformer. prefix and ignores known buffers', () => {
    const c = tiny('gpt2');
    const avail = expectedTensors(c).map((e) => ({ name: e.name.replace(/^transformer\./, ''), shape: e.shape }));
    avail.push({ name: 'h.0.attn.bias', shape: [1, 1, 6, 6] }, { name: 'h.1.attn.masked_bias', shape: [] }, { name: 'lm_head.weight', shape: [11, 8] });
    const m = checkTensors(c, avail);
    expect(m.names.get('transformer.h.0.attn.c_attn.weight')).toBe('h.0.attn.c_attn.weight');
    expect(m.unexpected).toEqual([]);
    expect(m.missing).toEqual([]);
  });

  it('reports missing, mis-shaped and unexpected tensors', () => {
    const c = tiny('llama');
    const avail = expectedTensors(c).filter((e) => e.name !== 'model.norm.weight').map((e) => ({ ...e }));
    avail.find((e) => e.name === 'model.layers.0.self_attn.k_proj.weight')!.shape = [8, 8];
    avail.push({ name: 'model.layers.0.self_attn.rotary_emb.inv_freq', shape: [1] }, { name: 'extra.weight', shape: [2] });
    const m = matchTensors(c, avail);
    expect(m.missing.map((e) => e.name)).toEqual(['model.norm.weight']);
    expect(m.wrongShape).toEqual([{ name: 'model.layers.0.self_attn.k_proj.weight', expected: [4, 8], actual: [8, 8] }]);
    expect(m.unexpected).toEqual(['extra.weight']);
    expect(() => checkTensors(c, avail, 'shard.safetensors')).toThrow(
      /^shard.safetensors: does not match config.json \(LlamaForCausalLM\): 1 tensor\(s\) missing: model.norm.weight; 1 tensor\(s\) with the wrong shape: model.layers.0.self_attn.k_proj.weight is \[8,8\] but config.json implies \[4,8\]/,
    );
    expect(() => checkTensors(c, [])).toThrow(/21 tensor\(s\) missing: .*, and 16 more/);
  });
});

describe('hostile config.json values (found by the fuzzers)', () => {
  const base = { architectures: ['LlamaForCausalLM'], hidden_size: 64, num_attention_heads: 4, intermediate_size: 128, num_hidden_layers: 2, vocab_size: 100 };
  it('a value nested 20,000 levels deep is a typed error, not a stack overflow', () => {
    const deep = JSON.parse('['.repeat(20000) + ']'.repeat(20000));
    expect(() => parseHfConfig({ ...base, hidden_size: deep })).toThrow(HfConfigError);
  });
  it('model_type names from Object.prototype are not architectures', () => {
    const { architectures: _a, ...rest } = base;
    for (const t of ['constructor', 'toString', '__proto__', 'valueOf']) {
      expect(() => parseHfConfig({ ...rest, model_type: t })).toThrow(HfConfigError);
    }
  });
  it('absurd sizes are refused before anything grows with them', () => {
    expect(() => parseHfConfig({ ...base, num_hidden_layers: 2 ** 31 - 1 })).toThrow(/larger than any model/);
    expect(() => parseHfConfig({ architectures: ['GPT2LMHeadModel'], n_embd: 2 ** 52, n_head: 1, n_layer: 1, vocab_size: 50257 })).toThrow(HfConfigError);
  });
  it("GPT-2's head size is n_embd / n_head even when a head_dim key is present", () => {
    expect(() => parseHfConfig({ architectures: ['GPT2LMHeadModel'], n_embd: 2, n_head: 12, n_layer: 1, vocab_size: 50257, head_dim: 1 })).toThrow(/not divisible/);
  });
});
