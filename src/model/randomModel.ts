// A Llama-family model with random weights built in memory for a given shape: the benchmark's
// stand-in for checkpoints we cannot ship or download (SmolLM2-135M's shape), and a quick way to
// get a model of any size in tests. The config goes through the same parser as a real
// config.json, and the tensors are exactly the ones the loader would upload (fp16 matrices, f32
// vectors), so the model trains and generates like a loaded one and the allocator sees the same
// bytes.
//
// Init (as reference/bench_torch.py): embeddings uniform with std 0.02, projections uniform with
// std 1/sqrt(in_features), norm weights 1 (Llama layout: no biases). Uniform rather than normal
// because it is cheap and the benchmark only needs well-scaled activations, not a trained model.
import type { GpuContext } from '../gpu/device';
import { f32ToF16Bits } from '../util/f16';
import { uploadF32, uploadHalves, releaseTensor, type Tensor } from '../gpu/tensor';
import { mixSeed, mulberry32 } from '../util/prng';
import { expectedTensors } from '../io/hfConfig';
import { parseHfConfig } from '../arch/config';
import { CausalLM } from './causalLM';
import type { ModelAssets } from './load';

export interface ModelShape {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** default hiddenSize / numHeads */
  headDim?: number;
  vocabSize: number;
  /** default true */
  tieWordEmbeddings?: boolean;
  /** default 2048 */
  maxPositions?: number;
  /** default 10000 */
  ropeTheta?: number;
  /** default 1e-5 */
  rmsNormEps?: number;
}

/** HuggingFaceTB/SmolLM2-135M's shape (its config.json; rope_theta 100000). */
export const SMOLLM2_135M_SHAPE: Readonly<ModelShape> = Object.freeze({
  hiddenSize: 576,
  intermediateSize: 1536,
  numLayers: 30,
  numHeads: 9,
  numKvHeads: 3,
  headDim: 64,
  vocabSize: 49152,
  tieWordEmbeddings: true,
  maxPositions: 8192,
  ropeTheta: 100000,
  rmsNormEps: 1e-5,
});

/** The config.json a checkpoint of this shape would have. */
export function randomModelConfigJson(shape: ModelShape): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: shape.hiddenSize,
    intermediate_size: shape.intermediateSize,
    num_hidden_layers: shape.numLayers,
    num_attention_heads: shape.numHeads,
    num_key_value_heads: shape.numKvHeads,
    head_dim: shape.headDim ?? shape.hiddenSize / shape.numHeads,
    vocab_size: shape.vocabSize,
    max_position_embeddings: shape.maxPositions ?? 2048,
    rms_norm_eps: shape.rmsNormEps ?? 1e-5,
    rope_theta: shape.ropeTheta ?? 10000,
    hidden_act: 'silu',
    tie_word_embeddings: shape.tieWordEmbeddings ?? true,
    attention_bias: false,
    mlp_bias: false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float16',
  };
}

/** Standard deviation of a matrix's random init (norm weights are 1, not random). */
export function initStd(name: string, shape: readonly number[]): number {
  if (name.includes('embed_tokens') || name === 'lm_head.weight') return 0.02;
  return 1 / Math.sqrt(shape[1]);
}

/** fp16 halves of a uniform(-std·√3, std·√3) matrix, seeded by (seed, tensor name). */
export function randomHalves(count: number, std: number, seed: number, name: string): Uint16Array {
  let h = seed >>> 0;
  for (let i = 0; i < name.length; i++) h = mixSeed(h, name.charCodeAt(i));
  const next = mulberry32(h);
  const scale = (2 * std * Math.sqrt(3)) / 4294967296;
  const offset = std * Math.sqrt(3);
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) out[i] = f32ToF16Bits(next() * scale - offset);
  return out;
}

/**
 * Build the model on the GPU. Tensors are generated and uploaded one at a time, so JS holds at
 * most one of them (SmolLM2-135M's embedding: 28M halves, ~0.5 s to generate).
 */
export function createRandomModel(ctx: GpuContext, shape: ModelShape, opts: { seed?: number; name?: string } = {}): CausalLM {
  return createRandomModelFromConfig(ctx, randomModelConfigJson(shape), { ...opts, name: opts.name ?? `random-${shape.numLayers}x${shape.hiddenSize}` });
}

/**
 * The same for any architecture's config.json (e.g. Qwen3's or Gemma 3's published one): parsed by
 * that architecture's own parser, its expected tensors random as above.
 */
export function createRandomModelFromConfig(ctx: GpuContext, rawConfig: Record<string, unknown>, opts: { seed?: number; name?: string } = {}): CausalLM {
  const seed = opts.seed ?? 0;
  const name = opts.name ?? 'random';
  const config = parseHfConfig(rawConfig, `${name}/config.json`);
  const weights = new Map<string, Tensor>();
  let parameterCount = 0;
  try {
    for (const t of expectedTensors(config)) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      parameterCount += n;
      if (t.shape.length === 2) {
        weights.set(t.name, uploadHalves(ctx, randomHalves(n, initStd(t.name, t.shape), seed, t.name), t.shape, t.name));
      } else {
        weights.set(t.name, uploadF32(ctx, new Float32Array(n).fill(1), t.shape, t.name));
      }
    }
  } catch (e) {
    for (const w of weights.values()) releaseTensor(ctx, w);
    throw e;
  }
  ctx.flush();
  const assets: ModelAssets = {
    name,
    config,
    rawConfig,
    tokenizerJson: null,
    tokenizerConfig: null,
    chatTemplate: null,
    generationConfig: null,
    shards: new Map(),
    fingerprint: `random-${(mixSeed(seed, config.hiddenSize, config.numLayers, config.vocabSize) >>> 0).toString(16).padStart(8, '0')}`,
    parameterCount,
  };
  return new CausalLM(ctx, assets, weights);
}
