// What was trained or imported last (one at a time): a LoRA adapter, prompt-tuning virtual tokens,
// (IA)³ vectors, bottleneck adapters, a key/value prefix or a fully fine-tuned model's master weights, and whether the loaded model's own weight tensors
// hold the base or the fine-tuned values.
//
// Full fine-tuning writes into the loaded model's own weight tensors (no second copy of the model
// on the GPU). Generation without the "adapter" and every new run reload the base weights from
// the model's files when needed, and generation with it writes the masters back (a cast on the GPU).
import { releaseAdapter, type LoraAdapter } from '../../model/adapter';
import { refreshWeights, releaseFullFinetune, type FullFinetune } from '../../model/fullFinetune';
import { releasePromptTuning, type PromptTuning } from '../../model/promptTuning';
import { releaseIa3, type Ia3Adapter } from '../../model/ia3';
import { releaseBottleneck, type BottleneckAdapter } from '../../model/bottleneck';
import { releasePrefixTuning, type PrefixTuning } from '../../model/prefixTuning';
import { loadWeights } from '../../model/load';
import { copyTensor } from '../../gpu/ops/elementwise';
import { releaseTensor } from '../../gpu/tensor';
import type { GpuContext } from '../../gpu/device';
import type { TrainMethod } from '../../train/config';
import { requireModel, type EngineCore } from './core';

export type Trained =
  | { kind: 'none' }
  | { kind: 'lora'; adapter: LoraAdapter }
  | { kind: 'prompt'; tuning: PromptTuning }
  | { kind: 'ia3'; ia3: Ia3Adapter }
  | { kind: 'bottleneck'; bottleneck: BottleneckAdapter }
  | { kind: 'prefix'; prefix: PrefixTuning }
  | { kind: 'full'; finetune: FullFinetune };

export const NO_TRAINED: Trained = { kind: 'none' };

/** The method of what is in memory, or null when nothing is. */
export function trainedMethod(t: Trained): TrainMethod | null {
  return t.kind === 'none' ? null : t.kind;
}

/** Free whatever was trained or imported (adapter, virtual tokens, full fine-tuning state). */
export function releaseTrained(core: EngineCore): void {
  const ctx = core.gpu.context;
  const t = core.trained;
  core.trained = NO_TRAINED;
  if (ctx) releaseTrainedValue(ctx, t);
}

/** Free the GPU tensors of one Trained value (the engine's, or one allocated for a measurement). */
export function releaseTrainedValue(ctx: GpuContext, t: Trained): void {
  if (t.kind === 'lora') releaseAdapter(ctx, t.adapter);
  else if (t.kind === 'prompt') releasePromptTuning(ctx, t.tuning);
  else if (t.kind === 'ia3') releaseIa3(ctx, t.ia3);
  else if (t.kind === 'bottleneck') releaseBottleneck(ctx, t.bottleneck);
  else if (t.kind === 'prefix') releasePrefixTuning(ctx, t.prefix);
  else if (t.kind === 'full') releaseFullFinetune(ctx, t.finetune);
}

/** Put the base weights back into the model's tensors after full fine-tuning changed them (reads the model's files again). */
export async function restoreBaseWeights(core: EngineCore): Promise<void> {
  if (!core.weightsFineTuned) return;
  if (core.training?.method === 'full') throw new Error('The base weights are being fine-tuned right now. Pause or stop the run first.');
  const ctx = core.gpu.require();
  const { folder, model } = requireModel(core);
  const fresh = await loadWeights(ctx, folder, model.assets);
  for (const [name, t] of fresh) {
    const target = model.weights.get(name);
    if (target) copyTensor(ctx, t, target);
  }
  ctx.flush();
  for (const t of fresh.values()) releaseTensor(ctx, t);
  core.weightsFineTuned = false;
}

/** Write the full fine-tuning masters into the model's tensors (after a base-model generation reloaded the base). */
export async function applyFineTunedWeights(core: EngineCore, ft: FullFinetune): Promise<void> {
  if (core.weightsFineTuned) return;
  const ctx = core.gpu.require();
  await refreshWeights(ctx, ft);
  ctx.flush();
  core.weightsFineTuned = true;
}
