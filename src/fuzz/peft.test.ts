// Fuzzes the PEFT adapter_config.json readers (src/io/peft.ts): parsePeftConfig (LoRA) and
// parsePromptTuningConfig, with real configs (PEFT 0.13 LoRA as written by `save_pretrained`, a
// regex target, rsLoRA, our own export, a prompt-tuning config) mutated structurally and as text,
// plus values nested up to 100,000 deep where a message quotes them, plus random JSON.
// Contract: PeftError, or a config whose fields have the types and ranges the readers promise
// (positive integer r, finite positive alpha, dropout in [0, 1), string targets...). The same
// document as an object and as JSON text gives the same outcome, and peftTypeOf never throws.

import { expect, it } from 'vitest';
import { parsePeftConfig, parsePromptTuningConfig, peftTypeOf, PeftError, type PeftConfig, type PromptTuningConfig } from '../io/peft';
import { fuzz, FUZZ_TIMEOUT_MS, type Rng, summary } from './harness';
import { jsonText, maxNesting, mutateJsonMany, mutateTextMany, nestedArray, randomJson, randomNumber, randomString } from './mutate';

const LORA_SEEDS: Record<string, unknown>[] = [
  {
    alpha_pattern: {}, auto_mapping: null, base_model_name_or_path: 'Qwen/Qwen2.5-0.5B-Instruct', bias: 'none', fan_in_fan_out: false,
    inference_mode: true, init_lora_weights: true, layer_replication: null, layers_pattern: null, layers_to_transform: null,
    loftq_config: {}, lora_alpha: 32, lora_dropout: 0.05, megatron_config: null, megatron_core: 'megatron.core', modules_to_save: null,
    peft_type: 'LORA', r: 16, rank_pattern: {}, revision: null, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    task_type: 'CAUSAL_LM', use_dora: false, use_rslora: false,
  },
  { peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 8, lora_alpha: 16, target_modules: '.*\\.(q_proj|v_proj)', use_rslora: true },
  { peft_type: 'LORA', r: 4, lora_alpha: 8, lora_dropout: 0, target_modules: ['c_attn', 'attn.c_proj'], fan_in_fan_out: true, bias: 'none' },
];

const PROMPT_SEEDS: Record<string, unknown>[] = [
  {
    base_model_name_or_path: 'HuggingFaceTB/SmolLM2-135M', inference_mode: true, num_attention_heads: 9, num_layers: 30,
    num_transformer_submodules: 1, num_virtual_tokens: 20, peft_type: 'PROMPT_TUNING', prompt_tuning_init: 'RANDOM',
    prompt_tuning_init_text: null, revision: null, task_type: 'CAUSAL_LM', token_dim: 576, tokenizer_kwargs: null, tokenizer_name_or_path: null,
  },
];

/** Every key the readers look at, to aim mutations at (the messages quote most of them). */
const KEYS = [
  'peft_type', 'task_type', 'r', 'lora_alpha', 'lora_dropout', 'target_modules', 'bias', 'use_dora', 'rank_pattern', 'alpha_pattern',
  'modules_to_save', 'use_rslora', 'fan_in_fan_out', 'base_model_name_or_path', 'num_virtual_tokens', 'token_dim', 'num_transformer_submodules',
];

type Reader = 'lora' | 'prompt';
type Input = { reader: Reader; form: 'object' | 'text'; value: unknown; kind: string };
type Parsed = PeftConfig | PromptTuningConfig;

function targeted(rng: Rng, seed: Record<string, unknown>): Record<string, unknown> {
  const c: Record<string, unknown> = { ...seed };
  for (let i = rng.int(1, 3); i > 0; i--) {
    const key = rng.pick(KEYS);
    const r = rng.float();
    if (r < 0.1) {
      delete c[key];
      continue;
    }
    let v: unknown;
    // a deeply nested value where an error message quotes it (JSON.stringify would overflow)
    if (r < 0.35) v = rng.chance(0.5) ? nestedArray(rng.int(2, maxNesting(rng, false))) : { k: nestedArray(rng.int(2, maxNesting(rng, false))) };
    else if (r < 0.6) v = randomNumber(rng, true);
    else if (r < 0.7) v = randomString(rng);
    else if (r < 0.8) v = rng.pick<unknown>([null, true, false, [], {}, [''], ['q_proj', 3], 'LORA', 'PROMPT_TUNING', 'SEQ_2_SEQ_LM', 0.5, 2 ** 53, { q_proj: 8 }]);
    else v = randomJson(rng, 2, true);
    Object.defineProperty(c, key, { value: v, writable: true, enumerable: true, configurable: true });
  }
  return c;
}

function generate(rng: Rng): Input {
  const reader: Reader = rng.chance(0.7) ? 'lora' : 'prompt';
  const seed = rng.pick(reader === 'lora' ? LORA_SEEDS : PROMPT_SEEDS);
  const kind = ['valid', 'structured', 'targeted', 'text', 'random'][rng.weighted([1, 4, 6, 2, 1])];
  let value: unknown;
  if (kind === 'valid') value = seed;
  else if (kind === 'structured') value = mutateJsonMany(rng, seed, 3, rng.chance(0.3), KEYS);
  else if (kind === 'targeted') value = targeted(rng, seed);
  else if (kind === 'text') value = mutateTextMany(rng, JSON.stringify(seed), 3);
  else value = rng.chance(0.5) ? randomJson(rng, 3, true) : randomString(rng);
  const form = typeof value === 'string' ? 'text' : rng.chance(0.3) ? 'text' : 'object';
  return { reader, form, value: form === 'text' && typeof value !== 'string' ? jsonText(value) : value, kind };
}

function run(input: Input): Parsed {
  // peftTypeOf is how the engine picks a reader: it must take anything
  const type = peftTypeOf(input.value);
  expect(type === null || typeof type === 'string').toBe(true);
  return input.reader === 'lora' ? parsePeftConfig(input.value, 'fuzz/adapter_config.json') : parsePromptTuningConfig(input.value, 'fuzz/adapter_config.json');
}

const isPosInt = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

function hasNonJson(v: unknown): boolean {
  const stack = [v];
  while (stack.length > 0) {
    const x = stack.pop();
    // -0 too: JSON text writes it as 0
    if (x === undefined || Object.is(x, -0) || (typeof x === 'number' && !Number.isFinite(x))) return true;
    if (x && typeof x === 'object') stack.push(...Object.values(x));
  }
  return false;
}

function withoutRaw(c: Parsed): Omit<Parsed, 'raw'> {
  const { raw: _raw, ...fields } = c;
  return fields;
}

function check(c: Parsed, input: Input): void {
  if (input.reader === 'lora') {
    const l = c as PeftConfig;
    expect(isPosInt(l.r), `r = ${l.r}`).toBe(true);
    expect(Number.isFinite(l.loraAlpha) && l.loraAlpha > 0, `lora_alpha = ${l.loraAlpha}`).toBe(true);
    expect(l.loraDropout >= 0 && l.loraDropout < 1, `lora_dropout = ${l.loraDropout}`).toBe(true);
    if (typeof l.targetModules !== 'string') {
      expect(l.targetModules.length).toBeGreaterThan(0);
      for (const t of l.targetModules) expect(typeof t).toBe('string');
    }
    expect(typeof l.useRslora).toBe('boolean');
    expect(typeof l.fanInFanOut).toBe('boolean');
    expect(l.raw.peft_type).toBe('LORA');
  } else {
    const p = c as PromptTuningConfig;
    expect(isPosInt(p.numVirtualTokens) && isPosInt(p.tokenDim)).toBe(true);
    expect(p.numTransformerSubmodules).toBe(1);
    expect(p.raw.peft_type).toBe('PROMPT_TUNING');
  }
  expect(c.baseModelNameOrPath === null || typeof c.baseModelNameOrPath === 'string').toBe(true);
  // the same document as an object and as JSON text gives the same config (raw, which may hold
  // values nested 100,000 deep, compared by its keys: a deep equality check would recurse)
  if (input.form === 'object' && !hasNonJson(input.value)) {
    const { raw, ...fields } = run({ ...input, form: 'text', value: jsonText(input.value) });
    expect(fields).toEqual(withoutRaw(c));
    expect(Object.keys(raw)).toEqual(Object.keys(c.raw));
  }
}

function checkError(e: unknown, input: Input): void {
  const msg = (e as Error).message;
  expect(msg.startsWith('fuzz/adapter_config.json: ')).toBe(true);
  // a message quotes at most a short rendering of the value, never the whole document
  expect(msg.length).toBeLessThan(2000);
  if (input.form === 'object' && !hasNonJson(input.value)) {
    expect(() => run({ ...input, form: 'text', value: jsonText(input.value) })).toThrow(msg);
  }
}

it('parsePeftConfig / parsePromptTuningConfig: mutated adapter configs end in PeftError or a valid config', async () => {
  const stats = await fuzz<Input, Parsed>({
    name: 'peftConfig',
    seed: 0x9ef7,
    cases: 10_000,
    generate,
    run,
    typedError: (e) => e instanceof PeftError,
    check,
    checkError,
    describe: (x) => `${x.reader} ${x.kind}, as ${x.form}: ${(typeof x.value === 'string' ? x.value : jsonText(x.value)).slice(0, 2000)}`,
  });
  console.log(summary(stats));
  expect(stats.cases).toBeGreaterThanOrEqual(10_000);
  expect(stats.ok).toBeGreaterThan(stats.cases * 0.05);
  expect(stats.typed).toBeGreaterThan(stats.cases * 0.3);
}, FUZZ_TIMEOUT_MS);
