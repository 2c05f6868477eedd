// PEFT (IA)³ adapters (peft_type "IA3", what `peft` saves with save_pretrained for an IA3Config):
//   adapter_model.safetensors  base_model.model.<module>.ia3_l, F32, [out, 1] for a module whose
//                              output is scaled, [1, in] for a feedforward module (input scaled)
//   adapter_config.json        target_modules, feedforward_modules (a subset of them), ...
// The key is also the checkpoint's parameter name of an (IA)³ run (model/ia3.ts): changing it
// needs a migration for the checkpoints already stored in users' browsers.
import type { ByteSource } from './byteSource';
import { describeJson } from './describeJson';
import { PEFT_PREFIX } from './loraKeys';
import { PeftError } from './peft';
import { readSafetensorsHeader, readTensorF32, writeSafetensors } from './safetensors';

/** The PEFT key of one module's vector (adapter_model.safetensors and our checkpoints). */
export function ia3Key(module: string): string {
  if (module.length === 0) throw new Error('An (IA)³ key needs a module path (e.g. model.layers.0.self_attn.k_proj).');
  return `${PEFT_PREFIX}${module}.ia3_l`;
}

// files written straight from a model's state dict keep the adapter name
const IA3_KEY = /^base_model\.model\.(.+)\.ia3_l(?:\.default)?$/;

/** The module of an (IA)³ key (ours or PEFT's); null for any other name. */
export function parseIa3Key(key: string): string | null {
  const m = IA3_KEY.exec(key);
  return m ? m[1] : null;
}

/** One targeted module as the model has it: its vector is [1, in] (feedforward) or [out, 1]. */
export interface Ia3ModuleShape {
  path: string;
  feedforward: boolean;
  inFeatures: number;
  outFeatures: number;
}

export interface Ia3WriteOptions {
  baseModel?: string | null;
  /** short names, as target_modules / feedforward_modules */
  targetModules: string[];
  feedforwardModules: string[];
  modules: (Ia3ModuleShape & { values: Float32Array })[];
}

export function writePeftIa3(o: Ia3WriteOptions): { 'adapter_model.safetensors': Uint8Array<ArrayBuffer>; 'adapter_config.json': string } {
  if (o.modules.length === 0) throw new PeftError('writePeftIa3: there are no (IA)³ vectors to write.');
  const tensors = o.modules.map((m) => {
    const shape = m.feedforward ? [1, m.inFeatures] : [m.outFeatures, 1];
    if (!(m.values instanceof Float32Array) || m.values.length !== shape[0] * shape[1]) {
      throw new PeftError(`writePeftIa3: the vector of ${m.path} has ${m.values?.length} values, but [${shape}] needs ${shape[0] * shape[1]}.`);
    }
    return { name: ia3Key(m.path), dtype: 'F32' as const, shape, data: m.values };
  });
  const adapterConfig = {
    peft_type: 'IA3',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: o.baseModel ?? null,
    target_modules: o.targetModules,
    feedforward_modules: o.feedforwardModules,
    exclude_modules: null,
    fan_in_fan_out: false,
    init_ia3_weights: true,
    layers_to_transform: null,
    layers_pattern: null,
    modules_to_save: null,
    inference_mode: true,
    revision: null,
  };
  return {
    'adapter_model.safetensors': writeSafetensors(tensors, { format: 'pt' }),
    'adapter_config.json': JSON.stringify(adapterConfig, null, 2) + '\n',
  };
}

export interface Ia3Config {
  targetModules: string[];
  feedforwardModules: string[];
  baseModelNameOrPath: string | null;
}

/** Parses and validates an IA3 adapter_config.json for a causal LM (target lists of module names; a regex is refused). */
export function parseIa3Config(json: string | unknown, fileName = 'adapter_config.json'): Ia3Config {
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
  if (raw.peft_type !== 'IA3') fail(`peft_type is ${describeJson(raw.peft_type)}`, 'This reader takes (IA)³ adapters (peft_type "IA3").');
  if (raw.task_type !== undefined && raw.task_type !== null && raw.task_type !== 'CAUSAL_LM') fail(`task_type is ${describeJson(raw.task_type)}`, 'Only CAUSAL_LM (IA)³ adapters are supported.');
  const list = (k: string): string[] => {
    const v = raw[k] ?? [];
    if (typeof v === 'string') fail(`${k} is the pattern ${describeJson(v)}`, `Write ${k} as a list of module names (e.g. ["k_proj", "v_proj", "down_proj"]).`);
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x.length > 0)) fail(`${k} must be a list of module names, got ${describeJson(v)}`, 'Fix adapter_config.json.');
    return v as string[];
  };
  const targetModules = list('target_modules');
  const feedforwardModules = list('feedforward_modules');
  if (targetModules.length === 0) fail('target_modules is empty', 'Fix adapter_config.json.');
  const stray = feedforwardModules.filter((f) => !targetModules.includes(f));
  if (stray.length > 0) fail(`feedforward_modules [${stray.join(', ')}] are not among target_modules`, 'PEFT requires feedforward_modules to be a subset of target_modules.');
  if (raw.fan_in_fan_out === true) fail('fan_in_fan_out is true', 'Only Linear (not Conv1D) layers are supported for (IA)³.');
  const base = raw.base_model_name_or_path;
  return { targetModules, feedforwardModules, baseModelNameOrPath: typeof base === 'string' ? base : null };
}

/** Reads every module's vector (F32, F16 or BF16, returned as f32) with the shape PEFT gives it. */
export async function readPeftIa3(modules: readonly Ia3ModuleShape[], weights: ByteSource): Promise<Map<string, Float32Array>> {
  const file = weights.name;
  function fail(problem: string, fix = 'The adapter files do not belong together or are corrupt; export the adapter again.'): never {
    throw new PeftError(`${file}: ${problem}. ${fix}`);
  }
  const header = await readSafetensorsHeader(weights);
  const byModule = new Map<string, string>();
  for (const t of header.tensors) {
    const m = parseIa3Key(t.name);
    if (m === null) fail(`has a tensor that is not an (IA)³ vector: ${describeJson(t.name)}`, 'Only plain (IA)³ adapters are supported.');
    byModule.set(m, t.name);
  }
  const known = new Set(modules.map((m) => m.path));
  const extra = [...byModule.keys()].filter((m) => !known.has(m));
  if (extra.length > 0) fail(`has vectors for modules this model's targets do not have: ${extra.slice(0, 5).join(', ')}`, 'Was this adapter trained on a different base model?');
  const out = new Map<string, Float32Array>();
  for (const m of modules) {
    const key = byModule.get(m.path);
    if (!key) fail(`has no vector for ${m.path} (${ia3Key(m.path)})`);
    const want = m.feedforward ? [1, m.inFeatures] : [m.outFeatures, 1];
    const shape = header.byName.get(key)!.shape;
    if (shape.length !== 2 || shape[0] !== want[0] || shape[1] !== want[1]) {
      fail(`"${key}" is [${shape}] but this model's ${m.feedforward ? 'feedforward ' : ''}module needs [${want}]`, 'Was this adapter trained on a different base model?');
    }
    out.set(m.path, await readTensorF32(weights, header, key));
  }
  return out;
}
