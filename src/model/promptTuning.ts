// Prompt tuning (PEFT's PROMPT_TUNING for CAUSAL_LM): n trainable virtual-token embeddings (n, C)
// f32 prepended to every sequence. The model sees [virtual tokens | the row's tokens] with
// positions 0..n+T-1 (PEFT passes no position ids, so the base model counts from 0 over the
// whole input), the virtual positions carry label -100, and attention is causal within the row.
// CausalLM writes the embeddings over the first n rows after the token lookup (GPT-2 then adds its
// learned positions 0..n-1 to them, as transformers does for inputs_embeds) and, in training,
// accumulates their gradient (the residual stream's gradient at those rows, summed over rows).
//
// Init as PEFT: RANDOM is torch.nn.Embedding's default N(0, 1); TEXT takes the word-embedding
// rows of the init text's token ids (with whatever special tokens the tokenizer adds), cut to n
// or repeated until there are n.
//
// Difference from PEFT: the last virtual position's label is -100 too. Our batches carry labels
// already shifted (labels[t] = tokens[t+1]), so whether the row's first token is trained is not
// known here; PEFT trains it from the last virtual token when the HF labels keep it (usually a BOS
// or prompt token, which instruction data masks anyway).
import type { Batch } from '../data';
import { mixSeed, mulberry32 } from '../util/prng';
import type { GpuContext } from '../gpu/device';
import { scaleInPlace } from '../gpu/ops/elementwise';
import { embeddingForward } from '../gpu/ops/embedding';
import { downloadF32, emptyTensor, releaseTensor, uploadF32, uploadI32, type Tensor } from '../gpu/tensor';
import { PROMPT_EMBEDDINGS } from '../io/peft';
import type { CausalLM, HostBatch } from './causalLM';
import { generateIds, type GenerateOptions } from './generate';
import type { ForwardRun } from './blocks';

/** The tensor name PEFT saves prompt-tuning weights under (adapter_model.safetensors); also the checkpoint's parameter name. */
export const PROMPT_EMBEDDINGS_KEY = PROMPT_EMBEDDINGS;

export type PromptInit = 'random' | 'text';

export interface PromptTuning {
  kind: 'prompt';
  /** num_virtual_tokens */
  n: number;
  /** token_dim = hidden size */
  dim: number;
  init: PromptInit;
  /** (n, C) f32, trained */
  embeddings: Tensor;
  /** (n, C) f32 gradient */
  grad: Tensor;
}

/** N(0, 1) values (Box-Muller over a seeded mulberry32): PEFT's RANDOM init, torch.nn.Embedding's default. */
export function randomPromptInit(n: number, dim: number, seed: number): Float32Array {
  const next = mulberry32(mixSeed(seed, 0x70726f6d));
  const u = () => (next() + 0.5) / 4294967296; // (0, 1): log() stays finite
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    out[i] = r * Math.cos(t);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

/** PEFT's TEXT init token ids: the text's ids cut to n, or repeated until there are n. */
export function textInitIds(ids: readonly number[], n: number): number[] {
  if (ids.length === 0) throw new Error('The prompt-tuning init text has no tokens: give a non-empty text, or use random init.');
  const out: number[] = [];
  while (out.length < n) out.push(...ids);
  return out.slice(0, n);
}

export interface PromptTuningOptions {
  n: number;
  init: PromptInit;
  seed: number;
  /** token ids of the init text (init 'text') */
  textIds?: readonly number[];
  /** (n, C) values to start from (a checkpoint or an imported adapter); overrides init */
  initial?: Float32Array;
}

export async function createPromptTuning(ctx: GpuContext, model: CausalLM, o: PromptTuningOptions): Promise<PromptTuning> {
  const C = model.config.hiddenSize;
  if (!Number.isInteger(o.n) || o.n < 1) throw new Error(`Prompt tuning needs at least one virtual token, got ${o.n}.`);
  if (o.initial && o.initial.length !== o.n * C) {
    throw new Error(`Prompt embeddings have ${o.initial.length} values, but ${o.n} virtual tokens of this model's hidden size ${C} need ${o.n * C}.`);
  }
  let embeddings: Tensor;
  if (o.initial) {
    embeddings = uploadF32(ctx, o.initial, [o.n, C], PROMPT_EMBEDDINGS_KEY);
  } else if (o.init === 'text') {
    const ids = textInitIds(o.textIds ?? [], o.n);
    const V = model.config.vocabSize;
    const bad = ids.find((id) => !(Number.isInteger(id) && id >= 0 && id < V));
    if (bad !== undefined) throw new Error(`The init text's token id ${bad} is outside this model's vocabulary (0..${V - 1}).`);
    const idsT = uploadI32(ctx, ids, [o.n], 'prompt init ids');
    embeddings = emptyTensor(ctx, 'f32', [o.n, C], PROMPT_EMBEDDINGS_KEY);
    await embeddingForward(ctx, model.weights.get(model.blocks.embeddingName())!, idsT, { out: embeddings });
    // PEFT takes the rows from the model's input embedding module, which scales them (Gemma)
    const scale = model.config.embeddingScale;
    if (scale !== undefined && scale !== 1) await scaleInPlace(ctx, embeddings, scale);
    ctx.flush();
    releaseTensor(ctx, idsT);
  } else {
    embeddings = uploadF32(ctx, randomPromptInit(o.n, C, o.seed), [o.n, C], PROMPT_EMBEDDINGS_KEY);
  }
  return { kind: 'prompt', n: o.n, dim: C, init: o.init, embeddings, grad: emptyTensor(ctx, 'f32', [o.n, C], `${PROMPT_EMBEDDINGS_KEY}.grad`) };
}

export function releasePromptTuning(ctx: GpuContext, p: PromptTuning): void {
  releaseTensor(ctx, p.embeddings);
  releaseTensor(ctx, p.grad);
}

export function downloadPromptEmbeddings(ctx: GpuContext, p: PromptTuning): Promise<Float32Array> {
  return downloadF32(ctx, p.embeddings);
}

/** The run that applies (and, training, differentiates) the virtual tokens. */
export function promptRun(p: PromptTuning, training: boolean): ForwardRun {
  return { prompt: { embeddings: p.embeddings, grad: training ? p.grad : null }, seed: 0, training };
}

/**
 * The batch the model sees: n placeholder tokens (id 0, replaced by the embeddings) before every
 * row, positions 0..n+T-1 (a row's tokens at n + their position), labels -100 on the virtual
 * tokens, and the virtual tokens in the row's document (its doc id, or 0 for an all-padding row).
 * Rows must hold one document each (packing off).
 */
export function withVirtualTokens(b: Batch, n: number): HostBatch & { trainedTokens: number } {
  const T = b.T + n;
  const N = b.B * T;
  const tokens = new Int32Array(N);
  const positions = new Int32Array(N);
  const labels = new Int32Array(N).fill(-100);
  const docIds = new Int32Array(N);
  for (let r = 0; r < b.B; r++) {
    const src = r * b.T;
    const dst = r * T;
    const doc = b.docIds[src] >= 0 ? b.docIds[src] : 0;
    for (let t = 0; t < b.T; t++) {
      if (b.docIds[src + t] !== b.docIds[src] && b.docIds[src + t] >= 0) {
        throw new Error('Prompt tuning needs one example per sequence: turn packing off.');
      }
    }
    for (let j = 0; j < n; j++) {
      positions[dst + j] = j;
      docIds[dst + j] = doc;
    }
    for (let t = 0; t < b.T; t++) {
      tokens[dst + n + t] = b.tokens[src + t];
      positions[dst + n + t] = n + b.positions[src + t];
      labels[dst + n + t] = b.labels[src + t];
      docIds[dst + n + t] = b.docIds[src + t];
    }
  }
  return { B: b.B, T, tokens, positions, docIds, labels, trainedTokens: b.trainedTokens };
}

/**
 * Generation with the virtual tokens: the prefill is [virtual embeddings | prompt tokens] at
 * positions 0..n+P-1, then one token per step against the KV cache (the same loop as
 * generateIds, with every position shifted by n).
 */
export async function generateWithPrompt(model: CausalLM, p: PromptTuning, promptIds: number[], o: GenerateOptions): Promise<number[]> {
  if (promptIds.length === 0) throw new Error('generate: the prompt has no tokens');
  // n placeholder ids in front: the run writes the virtual tokens over their embeddings
  return generateIds(model, [...new Array<number>(p.n).fill(0), ...promptIds], { ...o, run: promptRun(p, false) });
}
