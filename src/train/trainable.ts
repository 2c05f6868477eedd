// What a run trains, behind one small surface the trainer uses: a LoRA adapter, prompt-tuning
// virtual tokens, (IA)³ vectors, or every weight (full fine-tuning). Each gives its parameters (optimizer state
// and checkpoints follow this order and these names), the run the model's forward/backward gets,
// the batch the model sees, and what must happen after an optimizer step or a restore.
import type { Batch } from '../data';
import type { GpuContext } from '../gpu/device';
import type { Tensor } from '../gpu/tensor';
import { adapterParams, markAdapterChanged, type LoraAdapter } from '../model/adapter';
import type { HostBatch } from '../model/causalLM';
import { refreshWeights, fullRun, type FullFinetune } from '../model/fullFinetune';
import type { ForwardRun } from '../model/blocks';
import { PROMPT_EMBEDDINGS_KEY, promptRun, withVirtualTokens, type PromptTuning } from '../model/promptTuning';
import { ia3Params, type Ia3Adapter } from '../model/ia3';
import { bottleneckParams, type BottleneckAdapter } from '../model/bottleneck';
import { prefixParamName, prefixProjectionParams, prefixRun, projectPrefix, projectPrefixBackward, withPrefixPositions, type PrefixTuning } from '../model/prefixTuning';
import { zeroTensor } from '../gpu/ops/elementwise';

export type Trainable = LoraAdapter | PromptTuning | FullFinetune | Ia3Adapter | BottleneckAdapter | PrefixTuning;

export interface TrainableParam {
  name: string;
  param: Tensor;
  grad: Tensor;
  /** false: AdamW without weight decay (full fine-tuning's biases and norm weights) */
  decay?: boolean;
}

export function isPromptTuning(t: Trainable): t is PromptTuning {
  return (t as PromptTuning).kind === 'prompt';
}

export function isFullFinetune(t: Trainable): t is FullFinetune {
  return (t as FullFinetune).kind === 'full';
}

export function isIa3(t: Trainable): t is Ia3Adapter {
  return (t as Ia3Adapter).kind === 'ia3';
}

export function isPrefixTuning(t: Trainable): t is PrefixTuning {
  return (t as PrefixTuning).kind === 'prefix';
}

export function isBottleneck(t: Trainable): t is BottleneckAdapter {
  return (t as BottleneckAdapter).kind === 'bottleneck';
}

export function methodOf(t: Trainable): 'lora' | 'prompt' | 'full' | 'ia3' | 'bottleneck' | 'prefix' {
  if (isPrefixTuning(t)) return 'prefix';
  return isPromptTuning(t) ? 'prompt' : isFullFinetune(t) ? 'full' : isIa3(t) ? 'ia3' : isBottleneck(t) ? 'bottleneck' : 'lora';
}

/** The trainable tensors in a fixed order (optimizer state and checkpoints use this order and these names). */
export function trainableParams(t: Trainable): TrainableParam[] {
  if (isPromptTuning(t)) return [{ name: PROMPT_EMBEDDINGS_KEY, param: t.embeddings, grad: t.grad }];
  if (isPrefixTuning(t)) return t.projection ? prefixProjectionParams(t.projection) : t.layers.map((l, i) => ({ name: prefixParamName(i), param: l.kv, grad: l.grad }));
  if (isFullFinetune(t)) return t.params.map((p) => ({ name: p.name, param: p.master, grad: p.grad, decay: p.decay }));
  if (isIa3(t)) return ia3Params(t);
  if (isBottleneck(t)) return bottleneckParams(t);
  return adapterParams(t);
}

/** The run a forward/backward gets: training differentiates the trainable tensors. */
export function runFor(t: Trainable, seed: number, training: boolean): ForwardRun {
  if (isPromptTuning(t)) return { ...promptRun(t, training), seed };
  if (isPrefixTuning(t)) return { ...prefixRun(t, training), seed };
  if (isFullFinetune(t)) return fullRun(t, seed, training);
  if (isIa3(t)) return { ia3: t, seed, training };
  if (isBottleneck(t)) return { bottleneck: t, seed, training };
  return { adapter: t, seed, training };
}

/** The batch as the model sees it (prompt tuning prepends its virtual tokens). */
export function modelBatch(t: Trainable, b: Batch): HostBatch {
  if (isPromptTuning(t)) return withVirtualTokens(b, t.n);
  if (isPrefixTuning(t)) return withPrefixPositions(b, t.n);
  return { B: b.B, T: b.T, tokens: b.tokens, positions: b.positions, docIds: b.docIds, labels: b.labels };
}

/**
 * After AdamW changed the parameters (or a checkpoint was restored): full fine-tuning refreshes
 * the weights the kernels read; an adapter's version moves on (DoRA recomputes its norms).
 */
export async function syncWeights(ctx: GpuContext, t: Trainable): Promise<void> {
  if (isFullFinetune(t)) await refreshWeights(ctx, t);
  else if (isPrefixTuning(t)) await projectPrefix(ctx, t);
  else if (!isPromptTuning(t) && !isIa3(t) && !isBottleneck(t) && !isPrefixTuning(t)) markAdapterChanged(t);
}

/**
 * Before a step's micro-batches (after the trained tensors' gradients were zeroed): gradients the
 * backward accumulates into that are not trained tensors themselves are zeroed too (prefix tuning
 * with its MLP: the layers' blocks).
 */
export function startGradients(ctx: GpuContext, t: Trainable): void {
  if (isPrefixTuning(t) && t.projection) for (const l of t.layers) zeroTensor(ctx, l.grad);
}

/** After a step's micro-batches, before the gradient norm: gradients that flow on into the trained tensors (prefix tuning's MLP). */
export async function finishGradients(ctx: GpuContext, t: Trainable): Promise<void> {
  if (isPrefixTuning(t) && t.projection) await projectPrefixBackward(ctx, t);
}
