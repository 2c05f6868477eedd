// PEFT adapters (what `peft` saves with save_pretrained and loads with
// PeftModel.from_pretrained), as adapter_model.safetensors + adapter_config.json:
//   LoRA           base_model.model.<module>.lora_A.weight [r, in] and .lora_B.weight [out, r]
//   DoRA           LoRA plus base_model.model.<module>.lora_magnitude_vector [out] (use_dora: true)
//   prompt tuning  prompt_embeddings [num_virtual_tokens, token_dim] (PROMPT_TUNING, CAUSAL_LM)
import type { ByteSource } from './byteSource';
import { describeJson } from './describeJson';
import type { ModelConfig } from './hfConfig';
import { canonicalModule, linearModules, loraTargetShape, type LoraWeights } from './loraTargets';
import { doraMagnitudeKey, loraCheckpointKey, parseDoraMagnitudeKey, parsePeftLoraKey } from './loraKeys';
import { readSafetensorsHeader, readTensorF32, writeSafetensors } from './safetensors';

export type { LoraWeights } from './loraTargets';

export class PeftError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PeftError';
  }
}

/** The adapter_config.json fields we use (others are kept in `raw`). */
export interface PeftConfig {
  r: number;
  loraAlpha: number;
  loraDropout: number;
  /** A list of module-name suffixes, or one regex that must match whole module names. */
  targetModules: string[] | string;
  useRslora: boolean;
  /** DoRA (use_dora): every module also has a lora_magnitude_vector */
  useDora: boolean;
  fanInFanOut: boolean;
  baseModelNameOrPath: string | null;
  taskType: string | null;
  raw: Record<string, unknown>;
}

/** The scale PEFT applies to B·A: alpha / r, or alpha / sqrt(r) with rsLoRA. */
export function loraScale(c: Pick<PeftConfig, 'r' | 'loraAlpha' | 'useRslora'>): number {
  return c.useRslora ? c.loraAlpha / Math.sqrt(c.r) : c.loraAlpha / c.r;
}

export interface PeftWriteOptions {
  config: ModelConfig;
  r: number;
  alpha: number;
  dropout?: number;
  useRslora?: boolean;
  /** DoRA: every adapter carries its magnitude, written as lora_magnitude_vector; use_dora true */
  useDora?: boolean;
  /** base_model_name_or_path: the Hub id or path of the base model, if known. */
  baseModel?: string | null;
  adapters: readonly LoraWeights[];
}


/**
 * target_modules that select exactly the adapted modules: short suffixes ("q_proj") when they
 * pick out exactly that set (PEFT matches `name == t or name.endswith("." + t)`), longer ones
 * ("attn.c_proj") when the short one is ambiguous, else a regex of the full names.
 */
export function targetModulesFor(config: ModelConfig, modules: readonly string[]): string[] | string {
  const all = linearModules(config).map((m) => m.module);
  const chosen = new Set(modules.map((m) => canonicalModule(config, m)));
  const matches = (t: string) => all.filter((n) => n === t || n.endsWith(`.${t}`));
  const suffixes: string[] = [];
  for (const m of chosen) {
    const parts = m.split('.');
    let picked: string | null = null;
    for (let k = 1; k <= 2 && k <= parts.length; k++) {
      const t = parts.slice(-k).join('.');
      const hit = matches(t);
      if (hit.every((n) => chosen.has(n))) {
        picked = t;
        break;
      }
    }
    if (picked === null) {
      const escaped = [...chosen].map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
      return `^(?:${escaped.join('|')})$`;
    }
    if (!suffixes.includes(picked)) suffixes.push(picked);
  }
  return suffixes;
}

function checkPositive(what: string, v: unknown, integer: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isSafeInteger(v))) {
    throw new PeftError(`writePeftAdapter: ${what} must be a positive ${integer ? 'integer' : 'number'}, got ${describeJson(v)}.`);
  }
  return v;
}

/** adapter_model.safetensors and adapter_config.json for a LoRA adapter. */
export function writePeftAdapter(o: PeftWriteOptions): { 'adapter_model.safetensors': Uint8Array<ArrayBuffer>; 'adapter_config.json': string } {
  const { config } = o;
  const r = checkPositive('r', o.r, true);
  const alpha = checkPositive('alpha', o.alpha, false);
  const dropout = o.dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) throw new PeftError(`writePeftAdapter: dropout must be in [0, 1), got ${describeJson(dropout)}.`);
  if (o.adapters.length === 0) throw new PeftError('writePeftAdapter: no adapters to write.');
  const tensors = [];
  const seen = new Set<string>();
  for (const ad of o.adapters) {
    const module = canonicalModule(config, ad.module);
    if (seen.has(module)) throw new PeftError(`writePeftAdapter: "${ad.module}" appears twice.`);
    seen.add(module);
    const s = loraTargetShape(config, module);
    if (!(ad.a instanceof Float32Array) || ad.a.length !== r * s.in) {
      throw new PeftError(`writePeftAdapter: "${module}".a must be a Float32Array [${r}, ${s.in}] (${r * s.in} values), got ${ad.a?.length}.`);
    }
    if (!(ad.b instanceof Float32Array) || ad.b.length !== s.out * r) {
      throw new PeftError(`writePeftAdapter: "${module}".b must be a Float32Array [${s.out}, ${r}] (${s.out * r} values), got ${ad.b?.length}.`);
    }
    tensors.push({ name: loraCheckpointKey(module, 'A'), dtype: 'F32' as const, shape: [r, s.in], data: ad.a });
    tensors.push({ name: loraCheckpointKey(module, 'B'), dtype: 'F32' as const, shape: [s.out, r], data: ad.b });
    if (o.useDora) {
      if (!(ad.magnitude instanceof Float32Array) || ad.magnitude.length !== s.out) {
        throw new PeftError(`writePeftAdapter: DoRA needs "${module}".magnitude, a Float32Array [${s.out}], got ${ad.magnitude?.length}.`);
      }
      tensors.push({ name: doraMagnitudeKey(module), dtype: 'F32' as const, shape: [s.out], data: ad.magnitude });
    } else if (ad.magnitude) {
      throw new PeftError(`writePeftAdapter: "${module}" has a DoRA magnitude but useDora is off.`);
    }
  }
  const adapterConfig = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: o.baseModel ?? null,
    r,
    lora_alpha: alpha,
    lora_dropout: dropout,
    target_modules: targetModulesFor(config, [...seen]),
    bias: 'none',
    use_rslora: o.useRslora ?? false,
    // Conv1D (GPT-2) stores weights as [in, out]; the LoRA matrices keep PEFT's usual layout
    fan_in_fan_out: config.format.peft.fanInFanOut,
    use_dora: o.useDora ?? false,
    modules_to_save: null,
    init_lora_weights: true,
    inference_mode: true,
    rank_pattern: {},
    alpha_pattern: {},
    layers_to_transform: null,
    layers_pattern: null,
    revision: null,
  };
  return {
    'adapter_model.safetensors': writeSafetensors(tensors, { format: 'pt' }),
    'adapter_config.json': JSON.stringify(adapterConfig, null, 2) + '\n',
  };
}

/** Parses and validates adapter_config.json; refuses features we cannot apply. */
export function parsePeftConfig(json: string | unknown, fileName = 'adapter_config.json'): PeftConfig {
  function fail(problem: string, fix: string): never {
    throw new PeftError(`${fileName}: ${problem}. ${fix}`);
  }
  let c: unknown = json;
  if (typeof json === 'string') {
    try {
      c = JSON.parse(json);
    } catch (e) {
      fail(`is not valid JSON (${(e as Error).message})`, 'Export the adapter again.');
    }
  }
  if (c === null || typeof c !== 'object' || Array.isArray(c)) fail('must be a JSON object', 'Export the adapter again.');
  const raw = c as Record<string, unknown>;
  if (raw.peft_type !== 'LORA') {
    fail(
      `peft_type is ${describeJson(raw.peft_type)}`,
      raw.peft_type === 'PROMPT_TUNING' ? 'Only LoRA adapters (peft_type "LORA") are read here; read prompt tuning with parsePromptTuningConfig.' : 'Only LoRA adapters (peft_type "LORA") are supported.',
    );
  }
  if (raw.task_type !== undefined && raw.task_type !== null && raw.task_type !== 'CAUSAL_LM') {
    fail(`task_type is ${describeJson(raw.task_type)}`, 'Only CAUSAL_LM adapters are supported.');
  }
  const r = raw.r;
  if (typeof r !== 'number' || !Number.isSafeInteger(r) || r <= 0) fail(`r must be a positive integer, got ${describeJson(r)}`, 'Fix adapter_config.json.');
  const alpha = raw.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0) fail(`lora_alpha must be a positive number, got ${describeJson(alpha)}`, 'Fix adapter_config.json.');
  const dropout = raw.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) fail(`lora_dropout must be in [0, 1), got ${describeJson(dropout)}`, 'Fix adapter_config.json.');
  const tm = raw.target_modules;
  if (!(typeof tm === 'string' || (Array.isArray(tm) && tm.length > 0 && tm.every((t) => typeof t === 'string')))) {
    fail(`target_modules must be a list of module names or a regex string, got ${describeJson(tm)}`, 'Fix adapter_config.json.');
  }
  if ((raw.bias ?? 'none') !== 'none') fail(`bias is ${describeJson(raw.bias)}`, 'Only adapters trained with bias "none" are supported.');
  for (const k of ['rank_pattern', 'alpha_pattern'] as const) {
    const v = raw[k];
    if (v !== undefined && v !== null && (typeof v !== 'object' || Object.keys(v as object).length > 0)) {
      fail(`${k} is ${describeJson(v)}`, 'Per-module ranks and alphas are not supported.');
    }
  }
  const mts = raw.modules_to_save;
  if (mts !== undefined && mts !== null && !(Array.isArray(mts) && mts.length === 0)) {
    fail(`modules_to_save is ${describeJson(mts)}`, 'Adapters that also save fully trained modules are not supported.');
  }
  const bool = (k: string) => {
    const v = raw[k] ?? false;
    if (typeof v !== 'boolean') fail(`${k} must be true or false, got ${describeJson(v)}`, 'Fix adapter_config.json.');
    return v as boolean;
  };
  const base = raw.base_model_name_or_path;
  return {
    r: r as number,
    loraAlpha: alpha as number,
    loraDropout: dropout as number,
    targetModules: typeof tm === 'string' ? tm : [...(tm as string[])],
    useRslora: bool('use_rslora'),
    useDora: bool('use_dora'),
    fanInFanOut: bool('fan_in_fan_out'),
    baseModelNameOrPath: typeof base === 'string' ? base : null,
    taskType: typeof raw.task_type === 'string' ? raw.task_type : null,
    raw,
  };
}

/**
 * Reads adapter_model.safetensors against its parsed config (F32, F16 or BF16 tensors, returned
 * as f32). With `model`, every module must exist in the base model with matching sizes.
 */
export async function readPeftAdapter(
  config: PeftConfig,
  weights: ByteSource,
  model?: ModelConfig,
): Promise<{ config: PeftConfig; adapters: LoraWeights[] }> {
  const file = weights.name;
  function fail(problem: string, fix = 'The adapter files do not belong together or are corrupt; export the adapter again.'): never {
    throw new PeftError(`${file}: ${problem}. ${fix}`);
  }
  const header = await readSafetensorsHeader(weights);
  const pairs = new Map<string, { A?: string; B?: string }>();
  const magnitudes = new Map<string, string>();
  for (const t of header.tensors) {
    const dora = parseDoraMagnitudeKey(t.name);
    if (dora !== null) {
      if (!config.useDora) fail(`has the DoRA magnitude "${t.name}" but adapter_config.json has no use_dora: true`);
      if (magnitudes.has(dora)) fail(`has two DoRA magnitudes for "${dora}"`);
      magnitudes.set(dora, t.name);
      continue;
    }
    const k = parsePeftLoraKey(t.name);
    if (!k) {
      fail(`has tensor "${t.name}", which is not a LoRA weight (base_model.model.<module>.lora_A.weight / lora_B.weight)`, 'Only plain LoRA adapters are supported (no embeddings, biases or saved modules).');
    }
    const { module, factor: which } = k;
    const p = pairs.get(module) ?? {};
    if (p[which]) fail(`has two lora_${which} tensors for "${module}"`);
    p[which] = t.name;
    pairs.set(module, p);
  }
  if (pairs.size === 0) fail('holds no LoRA tensors');
  const r = config.r;
  const adapters: LoraWeights[] = [];
  const seen = new Set<string>();
  for (const [module, p] of pairs) {
    const canonical = model ? canonicalModule(model, module) : module;
    if (seen.has(canonical)) fail(`has two LoRA pairs for "${canonical}"`);
    seen.add(canonical);
    if (!p.A || !p.B) fail(`has lora_${p.A ? 'A' : 'B'} but no lora_${p.A ? 'B' : 'A'} for "${module}"`);
    const sa = header.byName.get(p.A)!.shape;
    const sb = header.byName.get(p.B)!.shape;
    if (sa.length !== 2 || sb.length !== 2 || sa[0] !== r || sb[1] !== r) {
      fail(`"${module}" has lora_A [${sa}] and lora_B [${sb}], but adapter_config.json says r = ${r} (expected [${r}, in] and [out, ${r}])`);
    }
    if (model) {
      let s: { in: number; out: number };
      try {
        s = loraTargetShape(model, module);
      } catch (e) {
        fail((e as Error).message.replace(/\.$/, ''), 'Was this adapter trained on a different base model?');
      }
      if (s.in !== sa[1] || s.out !== sb[0]) {
        fail(`"${module}" is [in ${sa[1]}, out ${sb[0]}] but the base model's layer is [in ${s.in}, out ${s.out}]`, 'Was this adapter trained on a different base model?');
      }
    }
    const w: LoraWeights = {
      module: canonical,
      a: await readTensorF32(weights, header, p.A),
      b: await readTensorF32(weights, header, p.B),
    };
    if (config.useDora) {
      const mk = magnitudes.get(module);
      if (!mk) fail(`has no DoRA magnitude (lora_magnitude_vector) for "${module}", but adapter_config.json says use_dora: true`);
      const sm = header.byName.get(mk)!.shape;
      if (sm.length !== 1 || sm[0] !== sb[0]) fail(`"${module}" has a DoRA magnitude of shape [${sm}], but lora_B has ${sb[0]} outputs`);
      w.magnitude = await readTensorF32(weights, header, mk);
      magnitudes.delete(module);
    }
    adapters.push(w);
  }
  for (const m of magnitudes.keys()) fail(`has a DoRA magnitude for "${m}" but no lora_A / lora_B for it`);
  return { config, adapters };
}

// ---- prompt tuning ----

/** The tensor PEFT saves prompt-tuning embeddings under. */
export const PROMPT_EMBEDDINGS = 'prompt_embeddings';

/** peft_type of an adapter_config.json ("LORA", "PROMPT_TUNING", ...), or null when it is not a JSON object with one. */
export function peftTypeOf(json: string | unknown): string | null {
  let c: unknown = json;
  if (typeof json === 'string') {
    try {
      c = JSON.parse(json);
    } catch {
      return null;
    }
  }
  const t = c !== null && typeof c === 'object' ? (c as Record<string, unknown>).peft_type : undefined;
  return typeof t === 'string' ? t : null;
}

export interface PromptTuningWriteOptions {
  config: ModelConfig;
  /** [numVirtualTokens, hiddenSize] row-major */
  embeddings: Float32Array;
  numVirtualTokens: number;
  baseModel?: string | null;
}

/**
 * adapter_model.safetensors (prompt_embeddings [n, C] F32) and adapter_config.json for a
 * prompt-tuning adapter of a causal LM. prompt_tuning_init is written as RANDOM whatever the
 * init was: once the embeddings are saved the init no longer matters, and PEFT refuses a TEXT
 * config without tokenizer_name_or_path.
 */
export function writePeftPromptTuning(o: PromptTuningWriteOptions): { 'adapter_model.safetensors': Uint8Array<ArrayBuffer>; 'adapter_config.json': string } {
  const n = o.numVirtualTokens;
  if (!Number.isSafeInteger(n) || n <= 0) throw new PeftError(`writePeftPromptTuning: numVirtualTokens must be a positive integer, got ${describeJson(n)}.`);
  const C = o.config.hiddenSize;
  if (!(o.embeddings instanceof Float32Array) || o.embeddings.length !== n * C) {
    throw new PeftError(`writePeftPromptTuning: embeddings must be a Float32Array [${n}, ${C}] (${n * C} values), got ${o.embeddings?.length}.`);
  }
  const adapterConfig = {
    peft_type: 'PROMPT_TUNING',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: o.baseModel ?? null,
    num_virtual_tokens: n,
    token_dim: C,
    num_transformer_submodules: 1,
    num_attention_heads: o.config.numHeads,
    num_layers: o.config.numLayers,
    prompt_tuning_init: 'RANDOM',
    prompt_tuning_init_text: null,
    tokenizer_name_or_path: null,
    tokenizer_kwargs: null,
    inference_mode: true,
    revision: null,
  };
  return {
    'adapter_model.safetensors': writeSafetensors([{ name: PROMPT_EMBEDDINGS, dtype: 'F32', shape: [n, C], data: o.embeddings }], { format: 'pt' }),
    'adapter_config.json': JSON.stringify(adapterConfig, null, 2) + '\n',
  };
}

export interface PromptTuningConfig {
  numVirtualTokens: number;
  tokenDim: number;
  numTransformerSubmodules: number;
  baseModelNameOrPath: string | null;
  raw: Record<string, unknown>;
}

/** Parses and validates a PROMPT_TUNING adapter_config.json for a causal LM. */
export function parsePromptTuningConfig(json: string | unknown, fileName = 'adapter_config.json'): PromptTuningConfig {
  function fail(problem: string, fix: string): never {
    throw new PeftError(`${fileName}: ${problem}. ${fix}`);
  }
  let c: unknown = json;
  if (typeof json === 'string') {
    try {
      c = JSON.parse(json);
    } catch (e) {
      fail(`is not valid JSON (${(e as Error).message})`, 'Export the adapter again.');
    }
  }
  if (c === null || typeof c !== 'object' || Array.isArray(c)) fail('must be a JSON object', 'Export the adapter again.');
  const raw = c as Record<string, unknown>;
  if (raw.peft_type !== 'PROMPT_TUNING') fail(`peft_type is ${describeJson(raw.peft_type)}`, 'This reader takes prompt-tuning adapters (peft_type "PROMPT_TUNING").');
  if (raw.task_type !== undefined && raw.task_type !== null && raw.task_type !== 'CAUSAL_LM') {
    fail(`task_type is ${describeJson(raw.task_type)}`, 'Only CAUSAL_LM prompt tuning is supported.');
  }
  const posInt = (k: string, fallback?: number): number => {
    const v = raw[k] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) fail(`${k} must be a positive integer, got ${describeJson(v)}`, 'Fix adapter_config.json.');
    return v;
  };
  const numVirtualTokens = posInt('num_virtual_tokens');
  const tokenDim = posInt('token_dim');
  const numTransformerSubmodules = posInt('num_transformer_submodules', 1);
  if (numTransformerSubmodules !== 1) {
    fail(`num_transformer_submodules is ${numTransformerSubmodules}`, 'A causal LM has one transformer submodule; this adapter is for an encoder-decoder model.');
  }
  const base = raw.base_model_name_or_path;
  return { numVirtualTokens, tokenDim, numTransformerSubmodules, baseModelNameOrPath: typeof base === 'string' ? base : null, raw };
}

/**
 * Reads prompt_embeddings (F32, F16 or BF16, returned as f32) against its parsed config; with
 * `model`, token_dim must be the model's hidden size.
 */
export async function readPeftPromptTuning(config: PromptTuningConfig, weights: ByteSource, model?: ModelConfig): Promise<{ config: PromptTuningConfig; embeddings: Float32Array }> {
  const file = weights.name;
  function fail(problem: string, fix = 'The adapter files do not belong together or are corrupt; export the adapter again.'): never {
    throw new PeftError(`${file}: ${problem}. ${fix}`);
  }
  if (model && config.tokenDim !== model.hiddenSize) {
    fail(`the prompt embeddings have token_dim ${config.tokenDim} but this ${model.hfArchitecture} has hidden size ${model.hiddenSize}`, 'Was this adapter trained on a different base model?');
  }
  const header = await readSafetensorsHeader(weights);
  const names = header.tensors.map((t) => t.name);
  const key = names.find((n) => n === PROMPT_EMBEDDINGS || n === `${PROMPT_EMBEDDINGS}.default`);
  if (!key) fail(`has no "${PROMPT_EMBEDDINGS}" tensor (it has ${names.slice(0, 5).map((n) => describeJson(n)).join(', ') || 'none'})`);
  const extra = names.filter((n) => n !== key);
  if (extra.length > 0) fail(`has tensors besides ${PROMPT_EMBEDDINGS}: ${extra.slice(0, 5).join(', ')}`, 'Only plain prompt-tuning adapters are supported.');
  const shape = header.byName.get(key)!.shape;
  const n = config.numVirtualTokens * config.numTransformerSubmodules;
  if (shape.length !== 2 || shape[0] !== n || shape[1] !== config.tokenDim) {
    fail(`"${key}" is [${shape}] but adapter_config.json says [${n}, ${config.tokenDim}] (num_virtual_tokens, token_dim)`);
  }
  return { config, embeddings: await readTensorF32(weights, header, key) };
}
