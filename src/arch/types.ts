// What an architecture module describes (one module per architecture under src/arch/, listed in
// registry.ts), and the normalized ModelConfig every other layer works with. Nothing outside
// src/arch tests an architecture's name: it asks the descriptor (registry.archOf(config)).
import type { GpuContext } from '../gpu/device';
import type { Tensor } from '../gpu/tensor';
import type { TransformerBlocks } from '../model/blocks';

/** ModelConfig.architecture: the id of an architecture module (e.g. "llama", "gpt2"). */
export type Architecture = string;

/** RoPE frequency scaling as HF's rope_scaling / rope_parameters ask for it (see ./rope.ts). */
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
  /** torch_dtype / dtype of the checkpoint as the config states it, if it does. */
  torchDtype: string | null;
}

export class HfConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HfConfigError';
  }
}

export type Json = Record<string, unknown>;

/** What an architecture's parseConfig returns: everything but the two names the registry fills in. */
export type ParsedConfig = Omit<ModelConfig, 'architecture' | 'hfArchitecture'>;

export interface ExpectedTensor {
  /** Canonical Hugging Face name (GPT-2 names carry the "transformer." prefix). */
  name: string;
  /** shape as stored in the checkpoint (GPT-2's Conv1D weights are [in, out]) */
  shape: number[];
}

/** One saved tensor of a layer's forward, for the memory estimate: `perToken` f32 values per token. */
export interface ActivationEntry {
  name: string;
  perToken: number;
}

export interface ArchDescriptor {
  /** ModelConfig.architecture */
  id: Architecture;
  /** HF `architectures[0]` names this module accepts, e.g. ["LlamaForCausalLM"] */
  hfArchitectures: readonly string[];
  /** `model_type` values accepted when a config has no `architectures` list (the first HF name is used) */
  modelTypes: readonly string[];
  /** config.json key names of the sizes (error messages name the key the user can find) */
  configKeys: { layers: string; hidden: string; intermediate: string; heads: string; kvHeads: string; positions: string };
  /**
   * config.json -> every ModelConfig field but the names; `explicitHeadDim` when the config sets
   * a head size of its own (then hidden need not divide by heads). Throw HfConfigError (see
   * ./parse.ts: fail, posInt, ...) for anything the module cannot run.
   */
  parseConfig(c: Json, file: string): { config: ParsedConfig; explicitHeadDim: boolean };
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
  /** LoRA target sets as TrainConfig.lora.targetModules spells them (PEFT suffixes) */
  loraTargets: { allLinear: readonly string[]; attention: readonly string[] };
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
  memory: {
    /** what one layer's forward keeps for its backward (per token), LoRA u excluded */
    layerActivations(c: ModelConfig): ActivationEntry[];
    /** shared per-step scratch (per token): gradient buffers, residual in/out, ids, final norm */
    scratch(c: ModelConfig): ActivationEntry[];
  };
  /** this architecture's transformer blocks on the GPU */
  createBlocks(ctx: GpuContext, c: ModelConfig, weights: Map<string, Tensor>): TransformerBlocks;
}
