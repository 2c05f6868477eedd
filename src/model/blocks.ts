// What CausalLM needs from an architecture's transformer blocks: the per-layer forward (training,
// inference and KV-cache decode) and backward with LoRA, the final norm and its backward, and the
// names of the embedding tables and LM head. LlamaBlocks (llama.ts) and Gpt2Blocks (gpt2.ts)
// implement it; CausalLM owns the embedding lookup, the LM head, the loss and the residual buffers.
import type { Tensor } from '../gpu/tensor';
import type { ModelConfig } from '../io/hfConfig';
import type { LoraAdapter } from './adapter';
import type { BottleneckAdapter } from './bottleneck';
import type { Ia3Adapter } from './ia3';
import type { PrefixRun } from './prefixTuning';
import type { Workspace } from './workspace';

export interface StepInputs {
  B: number;
  T: number;
  /** (N) i32 token ids, positions and document ids (all on the GPU) */
  tokens: Tensor;
  positions: Tensor;
  docIds: Tensor | null;
  /**
   * The largest value in positions (CausalLM.upload fills it in): dynamic RoPE scaling chooses
   * its frequencies from it, as HF does from max(position_ids) + 1.
   */
  maxPosition?: number;
}

/** Generation: this layer's key/value cache (1, Tmax, Hkv, D) and the position of x's first row. */
export interface LayerCache {
  k: Tensor;
  v: Tensor;
  pos: number;
}

/**
 * One forward/backward pass: what it uses beyond the frozen base weights (a LoRA adapter, the
 * weight gradients of full fine-tuning, or the virtual tokens of prompt tuning; one method at a
 * time, with none of them the base model runs), its dropout seed and whether it is training.
 */
export interface ForwardRun {
  /** LoRA on the targeted linears; absent or null: no adapter */
  adapter?: LoraAdapter | null;
  /**
   * Full fine-tuning: f32 gradient per HF weight name (GPU layout, [out, in] for matrices), which
   * the backward ACCUMULATES into (dW += dyᵀ·x, db += Σ dy, norm dw, embedding rows, LM head).
   */
  weightGrads?: ReadonlyMap<string, Tensor> | null;
  /**
   * Prompt tuning: (n, C) f32 embeddings written over the first n rows of every sequence (after
   * the token lookup, before learned positions are added), and the (n, C) f32 gradient the
   * training backward ACCUMULATES into (summed over the batch's rows).
   */
  prompt?: { embeddings: Tensor; grad?: Tensor | null } | null;
  /** (IA)³: learned vectors scaling the targeted linears' outputs (k/v) or inputs (down_proj); the training backward ACCUMULATES their gradients */
  ia3?: Ia3Adapter | null;
  /**
   * Prefix tuning: per layer a (2, P, Hkv·D) key/value prefix every query attends to (past keys:
   * no RoPE; the batch's positions start at P), and its gradient, which the training backward
   * ACCUMULATES into (grad null: not trained). KV-cache decode ignores it: the cache holds the prefix.
   */
  prefix?: PrefixRun | null;
  /** Bottleneck adapters (AdapterHub adapters): y ← y + g(y) after attention and/or the MLP; the training backward ACCUMULATES their gradients */
  bottleneck?: BottleneckAdapter | null;
  /** dropout seed for this step (the same in recomputation and backward) */
  seed: number;
  training: boolean;
}

export interface TransformerBlocks {
  readonly c: ModelConfig;
  /** true where layerForward/layerBackward apply ForwardRun.ia3 (absent: (IA)³ is refused for the architecture) */
  readonly supportsIa3?: boolean;
  /** true where layerForward/layerBackward apply ForwardRun.prefix (absent: prefix tuning is refused for the architecture) */
  readonly supportsPrefix?: boolean;
  /** true where layerForward/layerBackward apply ForwardRun.bottleneck (absent: bottleneck adapters are refused for the architecture) */
  readonly supportsBottleneck?: boolean;
  /** Layer i: x (N, C) -> xOut (N, C), keeping activations under `key` (with a cache: decode). */
  layerForward(ws: Workspace, run: ForwardRun | null, i: number, inp: StepInputs, x: Tensor, xOut: Tensor, key: string, cache?: LayerCache): Promise<void>;
  /**
   * Backward of layer i. dX (N, C) holds dL/d(layer output) on entry and dL/d(layer input) on
   * return; x is the layer's input, activations are read from `key`. LoRA gradients accumulate.
   */
  layerBackward(ws: Workspace, run: ForwardRun | null, i: number, inp: StepInputs, x: Tensor, dX: Tensor, key: string): Promise<void>;
  /** Final norm of x (N, C): h (N, C) and the statistic its backward needs. */
  finalNorm(ws: Workspace, x: Tensor, N: number): Promise<{ h: Tensor; rstd: Tensor }>;
  /** dX = dL/dx from dh = dL/dh, for the x and rstd of the last finalNorm. */
  finalNormBackward(dh: Tensor, x: Tensor, rstd: Tensor, dX: Tensor): Promise<void>;
  /** finalNormBackward plus the final norm's weight (and bias) gradients, added into `grads` by weight name (full fine-tuning). */
  finalNormBackwardWithGrads(dh: Tensor, x: Tensor, rstd: Tensor, dX: Tensor, grads: ReadonlyMap<string, Tensor>): Promise<void>;
  /** token embedding table (V, C) */
  embeddingName(): string;
  /** learned absolute position table (maxPositions, C), for config.positions === 'learned' */
  positionEmbeddingName?(): string;
  /** LM head (V, C); the embedding table when tied */
  lmHeadName(): string;
}
