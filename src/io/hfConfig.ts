// Hugging Face config.json -> one normalized ModelConfig for the architectures we can train,
// plus the tensor names and shapes each architecture's checkpoint must contain.
import { describeJson } from './describeJson';

export type Architecture = 'llama' | 'qwen2' | 'mistral' | 'gpt2';

/** The `architectures` entries we support, and what each becomes. */
export const SUPPORTED_ARCHITECTURES: Readonly<Record<string, Architecture>> = Object.freeze({
  LlamaForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2',
  MistralForCausalLM: 'mistral',
  GPT2LMHeadModel: 'gpt2',
});

export interface ModelConfig {
  architecture: Architecture;
  /** The `architectures[0]` string of the config (e.g. "LlamaForCausalLM"). */
  hfArchitecture: string;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  maxPositions: number;
  /** Llama family: RMSNorm; GPT-2: LayerNorm (weight and bias). */
  norm: 'rmsnorm' | 'layernorm';
  /** Epsilon of whichever norm `norm` names. */
  normEps: number;
  rmsNormEps?: number;
  layerNormEps?: number;
  /** Llama family: rotary (HF rotate_half layout); GPT-2: learned absolute positions (wpe). */
  positions: 'rope' | 'learned';
  /** null for GPT-2. */
  ropeTheta: number | null;
  /** The raw rope_scaling / rope_parameters object when it asks for more than plain RoPE. */
  ropeScaling: Record<string, unknown> | null;
  tieWordEmbeddings: boolean;
  /** e.g. "silu" (SwiGLU MLP) or "gelu_new" (GPT-2). */
  hiddenAct: string;
  bosTokenId: number | null;
  /** First of eosTokenIds, or null. */
  eosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  /** Bias on the q/k/v projections (Qwen2, GPT-2, Llama with attention_bias). */
  qkvBias: boolean;
  /** Bias on the attention output projection (GPT-2, Llama with attention_bias). */
  oBias: boolean;
  /** Bias on the MLP projections (GPT-2, Llama with mlp_bias). */
  mlpBias: boolean;
  /** Mistral/Qwen2 sliding-window attention size, or null when attention is full. */
  slidingWindow: number | null;
  /** torch_dtype / dtype of the checkpoint as the config states it, if it does. */
  torchDtype: string | null;
}

export class HfConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HfConfigError';
  }
}

type Json = Record<string, unknown>;

/** Sizes beyond these are not a model a browser tab can hold; refusing them early keeps the loader bounded. */
export const CONFIG_LIMITS = { layers: 1024, hidden: 65536, intermediate: 262144, vocab: 4194304, positions: 1048576, heads: 1024 };

function fail(file: string, problem: string, fix: string): never {
  throw new HfConfigError(`${file}: ${problem}. ${fix}`);
}

const CHECK = 'Check config.json; it must come from the same checkpoint as the weights.';

function posInt(c: Json, file: string, key: string, fallback?: number): number {
  const v = c[key] ?? fallback;
  if (v === undefined) fail(file, `"${key}" is missing`, CHECK);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    fail(file, `"${key}" must be a positive integer, got ${describeJson(v)}`, CHECK);
  }
  return v;
}

function posNumber(c: Json, file: string, key: string, fallback: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    fail(file, `"${key}" must be a positive number, got ${describeJson(v)}`, CHECK);
  }
  return v;
}

function bool(c: Json, file: string, key: string, fallback: boolean): boolean {
  const v = c[key] ?? fallback;
  if (typeof v !== 'boolean') fail(file, `"${key}" must be true or false, got ${describeJson(v)}`, CHECK);
  return v;
}

function tokenId(c: Json, file: string, key: string, fallback: number | null): number | null {
  const v = c[key] === undefined ? fallback : c[key];
  if (v === null) return null;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    fail(file, `"${key}" must be a token id (a non-negative integer), got ${describeJson(v)}`, CHECK);
  }
  return v;
}

function tokenIds(c: Json, file: string, key: string, fallback: number | null): number[] {
  const v = c[key] === undefined ? fallback : c[key];
  if (v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const id of list) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
      fail(file, `"${key}" must be a token id or a list of them, got ${describeJson(v)}`, CHECK);
    }
  }
  return list as number[];
}

function pickArchitecture(c: Json, file: string): string {
  const supported = Object.keys(SUPPORTED_ARCHITECTURES).join(', ');
  const archs = c.architectures;
  if (archs === undefined || archs === null) {
    // configs written by hand or by old tools sometimes carry only model_type
    const byType: Record<string, string> = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', mistral: 'MistralForCausalLM', gpt2: 'GPT2LMHeadModel' };
    if (typeof c.model_type === 'string' && Object.hasOwn(byType, c.model_type)) return byType[c.model_type];
    fail(file, `has no "architectures" list${c.model_type !== undefined ? ` and an unsupported model_type ${describeJson(c.model_type)}` : ''}`, `Supported architectures: ${supported}.`);
  }
  if (!Array.isArray(archs) || archs.length === 0 || typeof archs[0] !== 'string') {
    fail(file, `"architectures" must be a non-empty list of names, got ${describeJson(archs)}`, `Supported architectures: ${supported}.`);
  }
  const name = archs[0];
  if (!Object.hasOwn(SUPPORTED_ARCHITECTURES, name)) {
    fail(file, `architecture "${name}" is not supported`, `Supported architectures: ${supported}. Pick a model with one of these.`);
  }
  return name;
}

function ropeSettings(c: Json, file: string): { theta: number; scaling: Record<string, unknown> | null } {
  // transformers 5 moved rope_theta into rope_parameters; older configs have rope_theta and
  // rope_scaling at the top level.
  const params = c.rope_parameters;
  const p = params && typeof params === 'object' && !Array.isArray(params) ? (params as Json) : null;
  const theta = posNumber({ rope_theta: c.rope_theta ?? p?.rope_theta }, file, 'rope_theta', 10000);
  const raw = c.rope_scaling ?? p;
  let scaling: Record<string, unknown> | null = null;
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const type = (raw as Json).rope_type ?? (raw as Json).type;
    if (type !== undefined && type !== 'default') scaling = { ...(raw as Json) };
  }
  return { theta, scaling };
}

/**
 * Parses config.json (text or already-parsed object). `fileName` names it in errors.
 * Missing optional keys take the defaults of the transformers config classes; the core sizes
 * must be present.
 */
export function parseHfConfig(json: string | unknown, fileName = 'config.json'): ModelConfig {
  let parsed: unknown = json;
  if (typeof json === 'string') {
    try {
      parsed = JSON.parse(json);
    } catch (e) {
      fail(fileName, `is not valid JSON (${(e as Error).message})`, 'Download config.json again.');
    }
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    fail(fileName, 'must be a JSON object', 'Download config.json again.');
  }
  const c = parsed as Json;
  const hfArchitecture = pickArchitecture(c, fileName);
  const architecture = SUPPORTED_ARCHITECTURES[hfArchitecture];
  const cfg = architecture === 'gpt2' ? parseGpt2(c, fileName) : parseLlamaFamily(c, fileName, architecture);
  const config: ModelConfig = { ...cfg, architecture, hfArchitecture };
  // GPT-2 has no head_dim: its head size is always n_embd / n_head
  checkHeads(config, fileName, architecture !== 'gpt2' && c.head_dim !== undefined && c.head_dim !== null);
  return config;
}

type Parsed = Omit<ModelConfig, 'architecture' | 'hfArchitecture'>;

function dtypeOf(c: Json): string | null {
  const d = c.torch_dtype ?? c.dtype;
  return typeof d === 'string' ? d : null;
}

function parseLlamaFamily(c: Json, file: string, arch: Architecture): Parsed {
  // defaults of LlamaConfig / Qwen2Config / MistralConfig
  const defaults = {
    llama: { maxPos: 2048, tie: false, bos: 1, eos: 2, window: null },
    qwen2: { maxPos: 32768, tie: false, bos: null, eos: null, window: null },
    mistral: { maxPos: 4096 * 32, tie: false, bos: 1, eos: 2, window: 4096 },
  }[arch as 'llama' | 'qwen2' | 'mistral'];
  const hiddenSize = posInt(c, file, 'hidden_size');
  const numHeads = posInt(c, file, 'num_attention_heads');
  const numKvHeads = posInt(c, file, 'num_key_value_heads', numHeads);
  const headDim = c.head_dim === undefined || c.head_dim === null ? hiddenSize / numHeads : posInt(c, file, 'head_dim');
  const rope = ropeSettings(c, file);
  const rmsNormEps = posNumber(c, file, 'rms_norm_eps', 1e-6);
  const attentionBias = bool(c, file, 'attention_bias', false);
  let slidingWindow: number | null = null;
  if (arch === 'mistral') {
    slidingWindow = c.sliding_window === null ? null : posInt(c, file, 'sliding_window', defaults.window!);
  } else if (arch === 'qwen2' && bool(c, file, 'use_sliding_window', false)) {
    slidingWindow = posInt(c, file, 'sliding_window', 4096);
  }
  const eosTokenIds = tokenIds(c, file, 'eos_token_id', defaults.eos);
  return {
    hiddenSize,
    intermediateSize: posInt(c, file, 'intermediate_size'),
    numLayers: posInt(c, file, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: posInt(c, file, 'vocab_size'),
    maxPositions: posInt(c, file, 'max_position_embeddings', defaults.maxPos),
    norm: 'rmsnorm',
    normEps: rmsNormEps,
    rmsNormEps,
    positions: 'rope',
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    tieWordEmbeddings: bool(c, file, 'tie_word_embeddings', defaults.tie),
    hiddenAct: hiddenAct(c, file, 'hidden_act', 'silu'),
    bosTokenId: tokenId(c, file, 'bos_token_id', defaults.bos),
    eosTokenId: eosTokenIds[0] ?? null,
    eosTokenIds,
    padTokenId: tokenId(c, file, 'pad_token_id', null),
    // Qwen2 always has q/k/v biases (and no o bias); Llama has them only with attention_bias
    qkvBias: arch === 'qwen2' || attentionBias,
    oBias: arch === 'llama' && attentionBias,
    mlpBias: arch === 'llama' && bool(c, file, 'mlp_bias', false),
    slidingWindow,
    torchDtype: dtypeOf(c),
  };
}

function hiddenAct(c: Json, file: string, key: string, fallback: string): string {
  const v = c[key] ?? fallback;
  if (typeof v !== 'string' || v.length === 0) fail(file, `"${key}" must be an activation name, got ${describeJson(v)}`, CHECK);
  return v;
}

function parseGpt2(c: Json, file: string): Parsed {
  const hiddenSize = posInt(c, file, 'n_embd');
  const numHeads = posInt(c, file, 'n_head');
  const layerNormEps = posNumber(c, file, 'layer_norm_epsilon', 1e-5);
  const eosTokenIds = tokenIds(c, file, 'eos_token_id', 50256);
  return {
    hiddenSize,
    intermediateSize: c.n_inner === null || c.n_inner === undefined ? 4 * hiddenSize : posInt(c, file, 'n_inner'),
    // (4 * n_embd is bounded by the size checks in checkHeads)
    numLayers: posInt(c, file, 'n_layer'),
    numHeads,
    numKvHeads: numHeads,
    headDim: hiddenSize / numHeads,
    vocabSize: posInt(c, file, 'vocab_size'),
    maxPositions: posInt(c, file, 'n_positions', 1024),
    norm: 'layernorm',
    normEps: layerNormEps,
    layerNormEps,
    positions: 'learned',
    ropeTheta: null,
    ropeScaling: null,
    tieWordEmbeddings: bool(c, file, 'tie_word_embeddings', true),
    hiddenAct: hiddenAct(c, file, 'activation_function', 'gelu_new'),
    bosTokenId: tokenId(c, file, 'bos_token_id', 50256),
    eosTokenId: eosTokenIds[0] ?? null,
    eosTokenIds,
    padTokenId: tokenId(c, file, 'pad_token_id', null),
    qkvBias: true,
    oBias: true,
    mlpBias: true,
    slidingWindow: null,
    torchDtype: dtypeOf(c),
  };
}

function checkHeads(c: ModelConfig, file: string, explicitHeadDim: boolean): void {
  const [h, nh, kv] = c.architecture === 'gpt2' ? ['n_embd', 'n_head', 'n_head'] : ['hidden_size', 'num_attention_heads', 'num_key_value_heads'];
  const limits: [string, number, number][] = [
    [c.architecture === 'gpt2' ? 'n_layer' : 'num_hidden_layers', c.numLayers, CONFIG_LIMITS.layers],
    [h, c.hiddenSize, CONFIG_LIMITS.hidden],
    [c.architecture === 'gpt2' ? 'n_inner' : 'intermediate_size', c.intermediateSize, CONFIG_LIMITS.intermediate],
    ['vocab_size', c.vocabSize, CONFIG_LIMITS.vocab],
    [c.architecture === 'gpt2' ? 'n_positions' : 'max_position_embeddings', c.maxPositions, CONFIG_LIMITS.positions],
    [nh, c.numHeads, CONFIG_LIMITS.heads],
  ];
  for (const [key, value, max] of limits) {
    if (value > max) fail(file, `${key} ${value} is larger than any model Whetstone can load (at most ${max})`, CHECK);
  }
  if (!explicitHeadDim && c.hiddenSize % c.numHeads !== 0) {
    fail(file, `${h} ${c.hiddenSize} is not divisible by ${nh} ${c.numHeads}`, CHECK);
  }
  if (c.numHeads % c.numKvHeads !== 0) {
    fail(file, `${nh} ${c.numHeads} is not divisible by ${kv} ${c.numKvHeads} (grouped-query attention needs whole groups)`, CHECK);
  }
  if (c.positions === 'rope' && c.headDim % 2 !== 0) {
    fail(file, `head size ${c.headDim} is odd; rotary embeddings rotate pairs and need an even head size`, CHECK);
  }
  for (const [key, id] of [['bos_token_id', c.bosTokenId], ['pad_token_id', c.padTokenId], ...c.eosTokenIds.map((e) => ['eos_token_id', e] as const)] as const) {
    if (id !== null && id >= c.vocabSize) {
      fail(file, `${key} ${id} is outside the vocabulary (vocab_size ${c.vocabSize})`, CHECK);
    }
  }
}

// ---- expected checkpoint tensors ----

export interface ExpectedTensor {
  /** Canonical Hugging Face name (GPT-2 names carry the "transformer." prefix). */
  name: string;
  shape: number[];
}

/** Tensor names and shapes the checkpoint of `config` must contain, in model order. */
export function expectedTensors(config: ModelConfig): ExpectedTensor[] {
  return config.architecture === 'gpt2' ? gpt2Tensors(config) : llamaTensors(config);
}

function llamaTensors(c: ModelConfig): ExpectedTensor[] {
  const H = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const I = c.intermediateSize;
  const out: ExpectedTensor[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocabSize, H] }];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    out.push({ name: `${p}.input_layernorm.weight`, shape: [H] });
    for (const [m, rows] of [['q', q], ['k', kv], ['v', kv]] as const) {
      out.push({ name: `${p}.self_attn.${m}_proj.weight`, shape: [rows, H] });
      if (c.qkvBias) out.push({ name: `${p}.self_attn.${m}_proj.bias`, shape: [rows] });
    }
    out.push({ name: `${p}.self_attn.o_proj.weight`, shape: [H, q] });
    if (c.oBias) out.push({ name: `${p}.self_attn.o_proj.bias`, shape: [H] });
    out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [H] });
    for (const [m, shape] of [['gate', [I, H]], ['up', [I, H]], ['down', [H, I]]] as const) {
      out.push({ name: `${p}.mlp.${m}_proj.weight`, shape: [...shape] });
      if (c.mlpBias) out.push({ name: `${p}.mlp.${m}_proj.bias`, shape: [shape[0]] });
    }
  }
  out.push({ name: 'model.norm.weight', shape: [H] });
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, H] });
  return out;
}

function gpt2Tensors(c: ModelConfig): ExpectedTensor[] {
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const out: ExpectedTensor[] = [
    { name: 'transformer.wte.weight', shape: [c.vocabSize, H] },
    { name: 'transformer.wpe.weight', shape: [c.maxPositions, H] },
  ];
  // GPT-2 uses Conv1D: weights are stored [in, out], the transpose of nn.Linear
  for (let i = 0; i < c.numLayers; i++) {
    const p = `transformer.h.${i}`;
    const add = (name: string, shape: number[]) => out.push({ name: `${p}.${name}`, shape });
    add('ln_1.weight', [H]);
    add('ln_1.bias', [H]);
    add('attn.c_attn.weight', [H, 3 * H]);
    add('attn.c_attn.bias', [3 * H]);
    add('attn.c_proj.weight', [H, H]);
    add('attn.c_proj.bias', [H]);
    add('ln_2.weight', [H]);
    add('ln_2.bias', [H]);
    add('mlp.c_fc.weight', [H, I]);
    add('mlp.c_fc.bias', [I]);
    add('mlp.c_proj.weight', [I, H]);
    add('mlp.c_proj.bias', [H]);
  }
  out.push({ name: 'transformer.ln_f.weight', shape: [H] }, { name: 'transformer.ln_f.bias', shape: [H] });
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, H] });
  return out;
}

/** Tensors a checkpoint may contain that we do not need (buffers, a redundant tied head). */
function ignorable(config: ModelConfig, name: string): boolean {
  if (name.endsWith('.rotary_emb.inv_freq')) return true;
  if (config.architecture === 'gpt2' && /(^|\.)h\.\d+\.attn\.(masked_)?bias$/.test(name)) return true;
  return config.tieWordEmbeddings && name === 'lm_head.weight';
}

export interface TensorMatch {
  /** canonical name -> the name as it appears in the checkpoint */
  names: Map<string, string>;
  missing: ExpectedTensor[];
  wrongShape: { name: string; expected: number[]; actual: number[] }[];
  /** checkpoint tensors that are neither expected nor known to be ignorable */
  unexpected: string[];
}

/**
 * Matches the tensors of a checkpoint (all shards together) to expectedTensors(config).
 * GPT-2 checkpoints saved from GPT2Model have no "transformer." prefix; both are accepted.
 */
export function matchTensors(config: ModelConfig, available: Iterable<{ name: string; shape: readonly number[] }>): TensorMatch {
  const have = new Map<string, readonly number[]>();
  for (const t of available) have.set(t.name, t.shape);
  const names = new Map<string, string>();
  const missing: ExpectedTensor[] = [];
  const wrongShape: TensorMatch['wrongShape'] = [];
  const used = new Set<string>();
  for (const e of expectedTensors(config)) {
    const candidates = [e.name];
    if (e.name.startsWith('transformer.')) candidates.push(e.name.slice('transformer.'.length));
    const actual = candidates.find((n) => have.has(n));
    if (actual === undefined) {
      missing.push(e);
      continue;
    }
    used.add(actual);
    names.set(e.name, actual);
    const shape = have.get(actual)!;
    if (shape.length !== e.shape.length || shape.some((d, i) => d !== e.shape[i])) {
      wrongShape.push({ name: actual, expected: e.shape, actual: [...shape] });
    }
  }
  const unexpected = [...have.keys()].filter((n) => !used.has(n) && !ignorable(config, n));
  return { names, missing, wrongShape, unexpected };
}

/**
 * Like matchTensors, but throws one HfConfigError that lists (the first few) missing and
 * mis-shaped tensors. Unexpected extra tensors are allowed (returned in the match).
 */
export function checkTensors(
  config: ModelConfig,
  available: Iterable<{ name: string; shape: readonly number[] }>,
  fileName = 'model.safetensors',
): TensorMatch {
  const m = matchTensors(config, available);
  const problems: string[] = [];
  const list = <T>(xs: T[], f: (x: T) => string) => xs.slice(0, 5).map(f).join(', ') + (xs.length > 5 ? `, and ${xs.length - 5} more` : '');
  if (m.missing.length > 0) problems.push(`${m.missing.length} tensor(s) missing: ${list(m.missing, (e) => e.name)}`);
  if (m.wrongShape.length > 0) {
    problems.push(`${m.wrongShape.length} tensor(s) with the wrong shape: ${list(m.wrongShape, (w) => `${w.name} is [${w.actual}] but config.json implies [${w.expected}]`)}`);
  }
  if (problems.length > 0) {
    fail(fileName, `does not match config.json (${config.hfArchitecture}): ${problems.join('; ')}`, 'Make sure the weights and config.json come from the same model (and that all shards are selected).');
  }
  return m;
}
