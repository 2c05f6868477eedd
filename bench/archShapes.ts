// The published config.json of the small checkpoints people fine-tune most, for the training
// benchmark's random-weight models: the real widths, heads and vocabularies, cut to a few layers
// on a software adapter. They go through the architecture's own config parser
// (src/arch/qwen3.ts, src/arch/gemma3.ts) exactly as a downloaded config.json would.
import type { GpuContext } from '../src/gpu/device';
import { createRandomModelFromConfig } from '../src/model/randomModel';
import type { LoadedForBench } from './trainingCase';
import type { TrainingModel } from './trainingTypes';

type RawConfig = Record<string, unknown>;

/** Qwen/Qwen3-0.6B config.json (28 layers, 16/8 heads of 128, q_norm/k_norm, tied, 151936 tokens). */
export const QWEN3_0_6B_CONFIG: Readonly<RawConfig> = Object.freeze({
  architectures: ['Qwen3ForCausalLM'],
  model_type: 'qwen3',
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  head_dim: 128,
  hidden_act: 'silu',
  hidden_size: 1024,
  initializer_range: 0.02,
  intermediate_size: 3072,
  max_position_embeddings: 40960,
  max_window_layers: 28,
  num_attention_heads: 16,
  num_hidden_layers: 28,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
});

const GEMMA3_LAYER_TYPES = Array.from({ length: 18 }, (_, i) => ((i + 1) % 6 === 0 ? 'full_attention' : 'sliding_attention'));

/** google/gemma-3-270m config.json (18 layers, 5 sliding : 1 full, 4/1 heads of 256, 262144 tokens, tied). */
export const GEMMA3_270M_CONFIG: Readonly<RawConfig> = Object.freeze({
  architectures: ['Gemma3ForCausalLM'],
  model_type: 'gemma3_text',
  _sliding_window_pattern: 6,
  attention_bias: false,
  attention_dropout: 0.0,
  attn_logit_softcapping: null,
  bos_token_id: 2,
  eos_token_id: 1,
  final_logit_softcapping: null,
  head_dim: 256,
  hidden_activation: 'gelu_pytorch_tanh',
  hidden_size: 640,
  initializer_range: 0.02,
  intermediate_size: 2048,
  layer_types: GEMMA3_LAYER_TYPES,
  max_position_embeddings: 32768,
  num_attention_heads: 4,
  num_hidden_layers: 18,
  num_key_value_heads: 1,
  pad_token_id: 0,
  query_pre_attn_scalar: 256,
  rms_norm_eps: 1e-6,
  rope_local_base_freq: 10000.0,
  rope_scaling: null,
  rope_theta: 1000000.0,
  sliding_window: 512,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  use_bidirectional_attention: false,
  use_cache: true,
  vocab_size: 262144,
});

export interface ArchShape {
  /** the table's and the log's name */
  name: string;
  config: Readonly<RawConfig>;
}

/** The benchmark's published-config models, by case. */
export const ARCH_SHAPES: Partial<Record<TrainingModel, ArchShape>> = {
  'qwen3-0.6b-shape': { name: 'Qwen3-0.6B shape (random weights)', config: QWEN3_0_6B_CONFIG },
  'gemma3-270m-shape': { name: 'Gemma-3-270M shape (random weights)', config: GEMMA3_270M_CONFIG },
};

/**
 * The config cut to its first `layers` layers (layer_types cut with it, so a 1-layer Gemma 3 is
 * its first, sliding layer); `vocabSize` only for tests that cannot afford the real vocabulary.
 */
export function cutConfig(config: Readonly<RawConfig>, layers: number | null, vocabSize?: number): RawConfig {
  const out: RawConfig = { ...config };
  if (layers !== null) {
    const full = config.num_hidden_layers as number;
    if (!(Number.isInteger(layers) && layers >= 1 && layers <= full)) throw new Error(`layers must be an integer from 1 to ${full}, got ${layers}`);
    out.num_hidden_layers = layers;
    if (Array.isArray(config.layer_types)) out.layer_types = config.layer_types.slice(0, layers);
    if (typeof config.max_window_layers === 'number') out.max_window_layers = Math.min(config.max_window_layers, layers);
  }
  if (vocabSize !== undefined) {
    out.vocab_size = vocabSize;
    // special tokens past the cut vocabulary (Qwen3's 151643/151645) become its last id
    for (const k of ['bos_token_id', 'eos_token_id', 'pad_token_id']) if (typeof out[k] === 'number' && (out[k] as number) >= vocabSize) out[k] = vocabSize - 1;
  }
  return out;
}

/**
 * The case's model with random weights (null: not one of ARCH_SHAPES): its published config cut
 * to `layers` (null: all), through the architecture's own parser. `vocabSize`: tests only.
 */
export function createArchShapeModel(ctx: GpuContext, model: TrainingModel, layers: number | null, seed: number, vocabSize?: number): LoadedForBench | null {
  const arch = ARCH_SHAPES[model];
  if (!arch) return null;
  return {
    model: createRandomModelFromConfig(ctx, cutConfig(arch.config, layers, vocabSize), { seed, name: arch.name }),
    name: arch.name,
    fullLayers: arch.config.num_hidden_layers as number,
  };
}
