// PEFT prefix tuning (PREFIX_TUNING, CAUSAL_LM, prefix_projection false) as PEFT saves it:
//   adapter_model.safetensors  prompt_embeddings  F32 [num_virtual_tokens, num_layers·2·token_dim]
//                              (PrefixEncoder's nn.Embedding table; model/prefixTuning.ts says
//                              which element is which layer's key or value)
//   adapter_config.json        peft_type PREFIX_TUNING, num_virtual_tokens, token_dim,
//                              num_attention_heads, num_layers, prefix_projection false, ...
// token_dim and num_attention_heads are the key/value heads' (PEFT sets them so for grouped-query
// models: token_dim = hidden/heads·kv_heads, heads = kv_heads; it recomputes them the same way
// when it loads, so writing the kv values keeps a saved config stable).
// A prefix_projection adapter (PEFT trains an MLP between a small embedding and the table) is
// saved by PEFT as the MLP's output, the same [n, L·2·token_dim] table (get_peft_model_state_dict
// saves get_prompt_embedding_to_save, and a PrefixEncoder in inference mode is that table): it
// imports as its table. The engine itself trains the table directly (no MLP).
import type { ModelConfig } from './hfConfig';
import type { ByteSource } from './byteSource';
import { describeJson } from './describeJson';
import { PeftError, PROMPT_EMBEDDINGS } from './peft';
import { readSafetensorsHeader, readTensorF32, writeSafetensors } from './safetensors';

type PrefixShapeOf = Pick<ModelConfig, 'numLayers' | 'numKvHeads' | 'headDim'>;

export interface PrefixTuningWriteOptions {
  config: PrefixShapeOf;
  numVirtualTokens: number;
  /** PEFT's prompt_embeddings, [n, L·2·Hkv·D] row-major */
  table: Float32Array;
  baseModel?: string | null;
}

export function writePeftPrefixTuning(o: PrefixTuningWriteOptions): { 'adapter_model.safetensors': Uint8Array<ArrayBuffer>; 'adapter_config.json': string } {
  const n = o.numVirtualTokens;
  if (!Number.isSafeInteger(n) || n <= 0) throw new PeftError(`writePeftPrefixTuning: numVirtualTokens must be a positive integer, got ${describeJson(n)}.`);
  const TD = o.config.numKvHeads * o.config.headDim;
  const width = o.config.numLayers * 2 * TD;
  if (!(o.table instanceof Float32Array) || o.table.length !== n * width) {
    throw new PeftError(`writePeftPrefixTuning: the table must be a Float32Array [${n}, ${width}] (${n * width} values), got ${o.table?.length}.`);
  }
  const adapterConfig = {
    peft_type: 'PREFIX_TUNING',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: o.baseModel ?? null,
    num_virtual_tokens: n,
    token_dim: TD,
    num_transformer_submodules: 1,
    num_attention_heads: o.config.numKvHeads,
    num_layers: o.config.numLayers,
    encoder_hidden_size: TD,
    prefix_projection: false,
    inference_mode: true,
    revision: null,
  };
  return {
    'adapter_model.safetensors': writeSafetensors([{ name: PROMPT_EMBEDDINGS, dtype: 'F32', shape: [n, width], data: o.table }], { format: 'pt' }),
    'adapter_config.json': JSON.stringify(adapterConfig, null, 2) + '\n',
  };
}

export interface PrefixTuningConfig {
  numVirtualTokens: number;
  tokenDim: number;
  numLayers: number;
  numAttentionHeads: number;
  baseModelNameOrPath: string | null;
}

/** Parses and validates a PREFIX_TUNING adapter_config.json for a causal LM. */
export function parsePrefixTuningConfig(json: string | unknown, fileName = 'adapter_config.json'): PrefixTuningConfig {
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
  if (raw.peft_type !== 'PREFIX_TUNING') fail(`peft_type is ${describeJson(raw.peft_type)}`, 'This reader takes prefix-tuning adapters (peft_type "PREFIX_TUNING").');
  if (raw.task_type !== undefined && raw.task_type !== null && raw.task_type !== 'CAUSAL_LM') fail(`task_type is ${describeJson(raw.task_type)}`, 'Only CAUSAL_LM prefix tuning is supported.');
  const posInt = (k: string, fallback?: number): number => {
    const v = raw[k] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) fail(`${k} must be a positive integer, got ${describeJson(v)}`, 'Fix adapter_config.json.');
    return v;
  };
  const subs = posInt('num_transformer_submodules', 1);
  if (subs !== 1) fail(`num_transformer_submodules is ${subs}`, 'A causal LM has one transformer submodule; this adapter is for an encoder-decoder model.');
  const base = raw.base_model_name_or_path;
  return {
    numVirtualTokens: posInt('num_virtual_tokens'),
    tokenDim: posInt('token_dim'),
    numLayers: posInt('num_layers'),
    numAttentionHeads: posInt('num_attention_heads'),
    baseModelNameOrPath: typeof base === 'string' ? base : null,
  };
}

/**
 * Reads prompt_embeddings (F32, F16 or BF16, returned as f32) against its config and the model:
 * the layers and the key/value width must be the model's.
 */
export async function readPeftPrefixTuning(config: PrefixTuningConfig, weights: ByteSource, model: PrefixShapeOf & Pick<ModelConfig, 'hfArchitecture'>): Promise<Float32Array> {
  const file = weights.name;
  function fail(problem: string, fix = 'The adapter files do not belong together or are corrupt; export the adapter again.'): never {
    throw new PeftError(`${file}: ${problem}. ${fix}`);
  }
  const TD = model.numKvHeads * model.headDim;
  if (config.numLayers !== model.numLayers || config.tokenDim !== TD) {
    fail(
      `the prefix is for ${config.numLayers} layers of key/value width ${config.tokenDim}, but this ${model.hfArchitecture} has ${model.numLayers} layers of ${TD} (${model.numKvHeads} kv heads × ${model.headDim})`,
      'Was this adapter trained on a different base model?',
    );
  }
  const header = await readSafetensorsHeader(weights);
  const names = header.tensors.map((t) => t.name);
  const key = names.find((n) => n === PROMPT_EMBEDDINGS || n === `${PROMPT_EMBEDDINGS}.default`);
  if (!key) fail(`has no "${PROMPT_EMBEDDINGS}" tensor (it has ${names.slice(0, 5).map((n) => describeJson(n)).join(', ') || 'none'})`);
  const extra = names.filter((n) => n !== key);
  if (extra.length > 0) fail(`has tensors besides ${PROMPT_EMBEDDINGS}: ${extra.slice(0, 5).join(', ')}`, 'Only the prefix table is read (PEFT saves a prefix_projection adapter as its table too): save the adapter with PEFT’s save_pretrained.');
  const shape = header.byName.get(key)!.shape;
  const width = config.numLayers * 2 * config.tokenDim;
  if (shape.length !== 2 || shape[0] !== config.numVirtualTokens || shape[1] !== width) {
    fail(`"${key}" is [${shape}] but adapter_config.json says [${config.numVirtualTokens}, ${width}] (num_virtual_tokens, num_layers·2·token_dim)`);
  }
  return readTensorF32(weights, header, key);
}
