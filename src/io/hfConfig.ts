// What a parsed Hugging Face config is (ModelConfig), the checkpoint format an architecture has
// (ArchFormat: implemented by the architecture modules in src/arch, attached to every parsed
// config as `format`), and the checks of a checkpoint's tensors against it. Parsing config.json
// is per architecture: src/arch/config.ts (parseHfConfig).

/** ModelConfig.architecture: the id of an architecture module (e.g. "llama", "gpt2"). */
export type Architecture = string;

/** RoPE frequency scaling as HF's rope_scaling / rope_parameters ask for it (see src/arch/rope.ts). */
export type RopeScaling =
  | { type: 'default' }
  /** inv_freq / factor */
  | { type: 'linear'; factor: number }
  /** NTK: the base grows once a forward's positions exceed maxPositions (HF dynamic_rope_update) */
  | { type: 'dynamic'; factor: number; maxPositions: number }
  /** Llama 3.1/3.2: low frequencies / factor, high ones kept, a smooth ramp between */
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

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
  /** ropeScaling parsed and validated (what the model applies); null without RoPE. */
  rope: RopeScaling | null;
  /** RMSNorm over the head dim on every q and k head after the projections, before RoPE (Qwen3). */
  qkNorm: boolean;
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
  /**
   * Per-layer sliding window (null: full attention) when layers differ (Gemma 3's local/global
   * layers); absent: slidingWindow applies to every layer.
   */
  layerWindows?: (number | null)[];
  /** Attention score scale when it is not 1/sqrt(headDim) (Gemma 3: query_pre_attn_scalar^-0.5). */
  attentionScale?: number;
  /** RoPE base of the sliding-window layers (Gemma 3: rope_local_base_freq, plain RoPE there). */
  localRopeTheta?: number;
  /** Token embeddings are multiplied by this (Gemma: sqrt(hidden) in the checkpoint's dtype). */
  embeddingScale?: number;
  /** Dims of each head RoPE rotates when fewer than headDim (Phi-3's partial_rotary_factor). */
  rotaryDim?: number;
  /**
   * Phi-3's LongRoPE (rope_scaling type "longrope"; config.rope is then 'default'): inv_freq =
   * 1 / (factor_i · theta^(2i/R)) with shortFactor while a forward's positions stay within
   * originalMaxPositions, longFactor beyond; cos and sin times attentionFactor.
   */
  longRope?: { shortFactor: number[]; longFactor: number[]; originalMaxPositions: number; attentionFactor: number };
  /** torch_dtype / dtype of the checkpoint as the config states it, if it does. */
  torchDtype: string | null;
  /**
   * The checkpoint format of this architecture (its module in src/arch, which parseHfConfig in
   * src/arch/config.ts attaches): what the io readers and writers below ask.
   */
  format: ArchFormat;
}



export class HfConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HfConfigError';
  }
}

/** Sizes beyond these are not a model a browser tab can hold; refusing them early keeps the loader bounded. */
export const CONFIG_LIMITS = { layers: 1024, hidden: 65536, intermediate: 262144, vocab: 4194304, positions: 1048576, heads: 1024 };

export interface ExpectedTensor {
  /** Canonical Hugging Face name (GPT-2 names carry the "transformer." prefix). */
  name: string;
  /** shape as stored in the checkpoint (GPT-2's Conv1D weights are [in, out]) */
  shape: number[];
}

/** An architecture's checkpoint format: names, shapes and layouts the io readers and writers use. */
export interface ArchFormat {
  /** canonical tensor names and checkpoint shapes the weights must contain, in model order */
  expectedTensors(c: ModelConfig): ExpectedTensor[];
  /** other names a checkpoint may store a canonical tensor under (GPT2Model without "transformer.") */
  checkpointAliases?(canonical: string): string[];
  /** checkpoint tensors that are neither expected nor a problem (buffers, a redundant tied head) */
  ignorableTensor?(c: ModelConfig, name: string): boolean;
  /** the canonical name of a checkpoint tensor name (inverse of checkpointAliases) */
  canonicalTensorName?(name: string): string;
  /** a 2-D weight stored [in, out] (GPT-2's Conv1D): transposed to [out, in] at load and back on export */
  storedTransposed?(canonicalName: string): boolean;
  /** the module path as the model's own state dict names it (after PEFT's "base_model.model." is dropped) */
  canonicalModule?(module: string): string;
  /** tensors that are tables, not linear layers (never LoRA targets) */
  embeddingTensors(c: ModelConfig): string[];
  peft: {
    /** adapter_config.json fan_in_fan_out (true for Conv1D weights stored [in, out]) */
    fanInFanOut: boolean;
  };
  gguf: {
    /** general.architecture llama.cpp expects */
    architecture: string;
    /** llama.cpp's name for a module/tensor path without .weight/.bias, or null when it has none */
    tensorName(hfPath: string): string | null;
    /** the names tensorName knows, for the error message */
    knownNames: string;
    /**
     * For modules whose output rows llama.cpp's converter permutes into its interleaved RoPE
     * order (Llama/Mistral q_proj, k_proj): the number of heads; otherwise null.
     */
    permutedHeads(c: ModelConfig, module: string): number | null;
  };
}

function fail(file: string, problem: string, fix: string): never {
  throw new HfConfigError(`${file}: ${problem}. ${fix}`);
}

/** Tensor names and shapes the checkpoint of `config` must contain, in model order. */
export function expectedTensors(config: ModelConfig): ExpectedTensor[] {
  return config.format.expectedTensors(config);
}

/** Tensors a checkpoint may contain that we do not need (buffers, a redundant tied head). */
function ignorable(config: ModelConfig, name: string): boolean {
  return config.format.ignorableTensor?.(config, name) ?? false;
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
 * A checkpoint may store a tensor under an alias its architecture accepts (GPT2Model's names
 * without "transformer.").
 */
export function matchTensors(config: ModelConfig, available: Iterable<{ name: string; shape: readonly number[] }>): TensorMatch {
  const have = new Map<string, readonly number[]>();
  for (const t of available) have.set(t.name, t.shape);
  const names = new Map<string, string>();
  const missing: ExpectedTensor[] = [];
  const wrongShape: TensorMatch['wrongShape'] = [];
  const used = new Set<string>();
  const arch = config.format;
  for (const e of arch.expectedTensors(config)) {
    const candidates = [e.name, ...(arch.checkpointAliases?.(e.name) ?? [])];
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
