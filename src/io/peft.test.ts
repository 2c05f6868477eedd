import { describe, expect, it } from 'vitest';
import { bf16BitsToF32, f16BitsToF32, f32ToF16Bits } from '../util/f16';
import { bufferSource } from './byteSource';
import { type ModelConfig } from './hfConfig';
import { parseHfConfig } from '../arch/config';
import { linearModules, loraTargetShape } from './loraTargets';
import { loraScale, parsePeftConfig, PeftError, readPeftAdapter, targetModulesFor, writePeftAdapter } from './peft';
import { readSafetensorsHeader, writeSafetensors, type TensorToWrite } from './safetensors';

function randoms(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32 - 0.5));
}

const llama = parseHfConfig({
  architectures: ['LlamaForCausalLM'], hidden_size: 16, intermediate_size: 24, num_hidden_layers: 3,
  num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 10, bos_token_id: 1, eos_token_id: 2,
});
const gpt2 = parseHfConfig({ architectures: ['GPT2LMHeadModel'], n_embd: 8, n_head: 2, n_layer: 2, vocab_size: 11, n_positions: 6, bos_token_id: 10, eos_token_id: 10 });

function lora(config: ModelConfig, module: string, r: number, seed: number) {
  const s = loraTargetShape(config, module);
  return { module, a: randoms(r * s.in, seed), b: randoms(s.out * r, seed + 1) };
}

async function roundTrip(files: ReturnType<typeof writePeftAdapter>, model?: ModelConfig) {
  const cfg = parsePeftConfig(files['adapter_config.json']);
  return readPeftAdapter(cfg, bufferSource(files['adapter_model.safetensors'], 'adapter_model.safetensors'), model);
}

describe('writePeftAdapter', () => {
  it('writes PEFT keys, shapes and adapter_config.json, and reads them back exactly', async () => {
    const modules = [0, 1, 2].flatMap((i) => [`model.layers.${i}.self_attn.q_proj`, `model.layers.${i}.self_attn.v_proj`]);
    const ads = modules.map((m, i) => lora(llama, m, 4, i));
    const files = writePeftAdapter({ config: llama, r: 4, alpha: 8, dropout: 0.05, baseModel: 'karpathy/stories260K', adapters: ads });
    const cfg = JSON.parse(files['adapter_config.json']);
    expect(cfg).toMatchObject({
      peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, lora_dropout: 0.05, target_modules: ['q_proj', 'v_proj'],
      bias: 'none', use_rslora: false, fan_in_fan_out: false, base_model_name_or_path: 'karpathy/stories260K', use_dora: false,
    });
    const h = await readSafetensorsHeader(bufferSource(files['adapter_model.safetensors']));
    expect(h.metadata).toEqual({ format: 'pt' });
    expect(h.byName.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')).toMatchObject({ dtype: 'F32', shape: [4, 16] });
    expect(h.byName.get('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight')).toMatchObject({ dtype: 'F32', shape: [16, 4] });
    expect(h.byName.get('base_model.model.model.layers.2.self_attn.v_proj.lora_B.weight')).toMatchObject({ shape: [8, 4] });
    expect(h.tensors).toHaveLength(12);
    const back = await roundTrip(files, llama);
    expect(back.config).toMatchObject({ r: 4, loraAlpha: 8, loraDropout: 0.05, useRslora: false, fanInFanOut: false, baseModelNameOrPath: 'karpathy/stories260K', taskType: 'CAUSAL_LM' });
    expect(new Map(back.adapters.map((a) => [a.module, a]))).toEqual(new Map(ads.map((a) => [a.module, a])));
  });

  it('writes GPT-2 adapters with fan_in_fan_out and unambiguous target_modules', async () => {
    const ads = [0, 1].flatMap((i) => [lora(gpt2, `transformer.h.${i}.attn.c_attn`, 2, i), lora(gpt2, `h.${i}.attn.c_proj`, 2, 7 + i)]);
    const files = writePeftAdapter({ config: gpt2, r: 2, alpha: 4, adapters: ads, useRslora: true });
    const cfg = JSON.parse(files['adapter_config.json']);
    expect(cfg.fan_in_fan_out).toBe(true);
    expect(cfg.use_rslora).toBe(true);
    expect(cfg.base_model_name_or_path).toBeNull();
    // "c_proj" alone would also match mlp.c_proj
    expect(cfg.target_modules).toEqual(['c_attn', 'attn.c_proj']);
    const h = await readSafetensorsHeader(bufferSource(files['adapter_model.safetensors']));
    expect(h.byName.get('base_model.model.transformer.h.1.attn.c_attn.lora_A.weight')!.shape).toEqual([2, 8]);
    expect(h.byName.get('base_model.model.transformer.h.1.attn.c_attn.lora_B.weight')!.shape).toEqual([24, 2]);
    const back = await roundTrip(files, gpt2);
    expect(back.adapters.map((a) => a.module)).toContain('transformer.h.0.attn.c_proj');
    expect(back.adapters.find((a) => a.module === 'transformer.h.0.attn.c_proj')!.b).toEqual(ads[1].b);
  });

  it('uses a full-name regex when only some layers are adapted', () => {
    const chosen = ['model.layers.1.self_attn.q_proj', 'model.layers.1.mlp.down_proj'];
    const tm = targetModulesFor(llama, chosen);
    expect(typeof tm).toBe('string');
    const re = new RegExp(tm as string);
    expect(linearModules(llama).map((m) => m.module).filter((n) => re.test(n))).toEqual(chosen);
    expect(targetModulesFor(llama, linearModules(llama).map((m) => m.module))).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head']);
  });

  it('validates its inputs', () => {
    const q = lora(llama, 'model.layers.0.self_attn.q_proj', 2, 1);
    const w = (o: Partial<Parameters<typeof writePeftAdapter>[0]>) => () => writePeftAdapter({ config: llama, r: 2, alpha: 4, adapters: [q], ...o });
    expect(w({ r: 1.5 })).toThrow(/r must be a positive integer/);
    expect(w({ alpha: 0 })).toThrow(/alpha must be a positive number/);
    expect(w({ dropout: 1 })).toThrow(/dropout must be in \[0, 1\)/);
    expect(w({ adapters: [] })).toThrow(PeftError);
    expect(w({ adapters: [q, { ...q, module: 'base_model.model.' + q.module }] })).toThrow(/appears twice/);
    expect(w({ r: 3 })).toThrow(/\.a must be a Float32Array \[3, 16\]/);
    expect(w({ adapters: [{ ...q, b: randoms(3, 1) }] })).toThrow(/\.b must be a Float32Array \[16, 2\]/);
    expect(w({ adapters: [{ ...q, module: 'model.layers.0.input_layernorm' }] })).toThrow(/is not a linear layer/);
  });
});

describe('reading PEFT adapters', () => {
  const base = { peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 2, lora_alpha: 16, target_modules: ['q_proj'], bias: 'none' };

  it('parses adapter_config.json, with PEFT defaults and a regex target', () => {
    const c = parsePeftConfig(JSON.stringify({ peft_type: 'LORA', r: 8, target_modules: '.*q_proj' }));
    expect(c).toMatchObject({ r: 8, loraAlpha: 8, loraDropout: 0, targetModules: '.*q_proj', useRslora: false, fanInFanOut: false, baseModelNameOrPath: null, taskType: null });
    expect(loraScale({ r: 4, loraAlpha: 8, useRslora: false })).toBe(2);
    expect(loraScale({ r: 4, loraAlpha: 8, useRslora: true })).toBe(4);
  });

  it('refuses configs it cannot apply, saying why', () => {
    const cases: [object, RegExp][] = [
      [{ ...base, peft_type: 'IA3' }, /peft_type is "IA3"\. Only LoRA/],
      [{ ...base, task_type: 'SEQ_CLS' }, /task_type is "SEQ_CLS"/],
      [{ ...base, r: 0 }, /r must be a positive integer, got 0/],
      [{ ...base, lora_alpha: 'x' }, /lora_alpha must be a positive number/],
      [{ ...base, lora_dropout: 2 }, /lora_dropout must be in \[0, 1\)/],
      [{ ...base, target_modules: [] }, /target_modules must be a list/],
      [{ ...base, bias: 'all' }, /bias is "all"/],
      [{ ...base, use_dora: 'yes' }, /use_dora must be true or false/],
      [{ ...base, rank_pattern: { q_proj: 4 } }, /Per-module ranks/],
      [{ ...base, modules_to_save: ['lm_head'] }, /modules_to_save is \["lm_head"\]/],
      [{ ...base, use_rslora: 'yes' }, /use_rslora must be true or false/],
    ];
    for (const [cfg, re] of cases) expect(() => parsePeftConfig(cfg, 'x/adapter_config.json'), String(re)).toThrow(re);
    expect(() => parsePeftConfig('{', 'a.json')).toThrow(/^a.json: is not valid JSON/);
    expect(() => parsePeftConfig(base)).not.toThrow();
  });

  it('reads F16 and BF16 adapters as written by Python, converting to f32', async () => {
    const a = new Uint16Array(Array.from(randoms(2 * 16, 3), f32ToF16Bits));
    const bBits = new Uint16Array(Array.from(randoms(16 * 2, 4), (x) => new Uint32Array(new Float32Array([x]).buffer)[0] >>> 16));
    const file = writeSafetensors([
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', dtype: 'F16', shape: [2, 16], data: a },
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', dtype: 'BF16', shape: [16, 2], data: bBits },
    ]);
    const { adapters } = await readPeftAdapter(parsePeftConfig(base), bufferSource(file), llama);
    expect(adapters).toHaveLength(1);
    expect(Array.from(adapters[0].a)).toEqual(Array.from(a, f16BitsToF32));
    expect(Array.from(adapters[0].b)).toEqual(Array.from(bBits, bf16BitsToF32));
  });

  it('rejects adapters whose tensors do not fit the config or the base model', async () => {
    const A = (m: string, shape: number[]): TensorToWrite => ({ name: `base_model.model.${m}.lora_A.weight`, dtype: 'F32', shape, data: new Float32Array(shape[0] * shape[1]) });
    const B = (m: string, shape: number[]): TensorToWrite => ({ name: `base_model.model.${m}.lora_B.weight`, dtype: 'F32', shape, data: new Float32Array(shape[0] * shape[1]) });
    const q = 'model.layers.0.self_attn.q_proj';
    const read = (ts: TensorToWrite[], model: ModelConfig | null = llama) =>
      readPeftAdapter(parsePeftConfig(base), bufferSource(writeSafetensors(ts), 'adapter_model.safetensors'), model ?? undefined);
    await expect(read([A(q, [2, 16]), B(q, [16, 2]), { name: 'base_model.model.lm_head.weight', dtype: 'F32', shape: [1], data: new Float32Array(1) }]))
      .rejects.toThrow(/^adapter_model.safetensors: has tensor "base_model.model.lm_head.weight", which is not a LoRA weight/);
    await expect(read([A(q, [2, 16])])).rejects.toThrow(/has lora_A but no lora_B for "model.layers.0.self_attn.q_proj"/);
    await expect(read([A(q, [3, 16]), B(q, [16, 3])])).rejects.toThrow(/adapter_config.json says r = 2/);
    await expect(read([A(q, [2, 12]), B(q, [16, 2])])).rejects.toThrow(/is \[in 12, out 16\] but the base model's layer is \[in 16, out 16\].*different base model/);
    await expect(read([A('model.layers.7.self_attn.q_proj', [2, 16]), B('model.layers.7.self_attn.q_proj', [16, 2])])).rejects.toThrow(/not a linear layer of this LlamaForCausalLM model/);
    await expect(read([], null)).rejects.toThrow(/holds no LoRA tensors/);
    // without a base model, shapes are checked only against r
    const { adapters } = await read([A(q, [2, 12]), B(q, [16, 2])], null);
    expect(adapters[0].a).toHaveLength(24);
    await expect(read([A('h.0.attn.c_attn', [2, 8]), B('h.0.attn.c_attn', [24, 2]), A('transformer.h.0.attn.c_attn', [2, 8]), B('transformer.h.0.attn.c_attn', [24, 2])], gpt2))
      .rejects.toThrow(/two LoRA pairs for "transformer.h.0.attn.c_attn"/);
  });
});
