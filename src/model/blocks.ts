// What CausalLM needs from an architecture's transformer blocks: the per-layer forward (training,
// inference and KV-cache decode) and backward with LoRA, the final norm and its backward, and the
// names of the embedding tables and LM head. LlamaBlocks (llama.ts) and Gpt2Blocks (gpt2.ts)
// implement it; CausalLM owns the embedding lookup, the LM head, the loss and the residual buffers.
import type { Tensor } from '../gpu/tensor';
import type { ModelConfig } from '../io/hfConfig';
import type { LayerCache, LoraRun, StepInputs } from './llama';
import type { Workspace } from './workspace';

export type { LayerCache, LoraRun, StepInputs } from './llama';

export interface TransformerBlocks {
  readonly c: ModelConfig;
  /** Layer i: x (N, C) -> xOut (N, C), keeping activations under `key` (with a cache: decode). */
  layerForward(ws: Workspace, run: LoraRun | null, i: number, inp: StepInputs, x: Tensor, xOut: Tensor, key: string, cache?: LayerCache): Promise<void>;
  /**
   * Backward of layer i. dX (N, C) holds dL/d(layer output) on entry and dL/d(layer input) on
   * return; x is the layer's input, activations are read from `key`. LoRA gradients accumulate.
   */
  layerBackward(ws: Workspace, run: LoraRun | null, i: number, inp: StepInputs, x: Tensor, dX: Tensor, key: string): Promise<void>;
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
