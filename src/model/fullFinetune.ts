// Full fine-tuning state: every weight of the model trainable, with an f32 master copy and an f32
// gradient per weight (the trainer adds AdamW's m and v). The kernels keep reading the model's
// own weight tensors (fp16 matrices, f32 norm weights and biases); after each optimizer step
// refreshWeights() writes the masters back into them (castF32ToF16 / copy), so the forward uses
// the fp16 rounding of the f32 masters, as mixed-precision training does.
//
// Memory per parameter beyond the fp16 forward copy: master 4 + gradient 4 + AdamW m 4 + v 4
// = 16 bytes (train/memory.ts counts it).
//
// The masters start as the model's current weights, so the caller must make sure those are the
// base weights (the engine reloads them after a previous full fine-tuning run). Names are the
// canonical Hugging Face names (expectedTensors order); matrices keep the GPU layout [out, in]
// (GPT-2's Conv1D weights are transposed back only on export).
import type { GpuContext } from '../gpu/device';
import { castF16ToF32, castF32ToF16 } from '../gpu/ops/cast';
import { copyTensor } from '../gpu/ops/elementwise';
import { downloadF32, emptyTensor, releaseTensor, type Tensor } from '../gpu/tensor';
import { expectedTensors } from '../io/hfConfig';
import type { CausalLM } from './causalLM';
import type { ForwardRun } from './blocks';
import { isQuantized } from '../gpu/ops/matmulQuant';

export interface FullParam {
  /** canonical HF name, e.g. model.layers.0.self_attn.q_proj.weight */
  name: string;
  /** f32 master, the tensor AdamW updates */
  master: Tensor;
  grad: Tensor;
  /** the model's tensor the kernels read (fp16 matrix or f32 vector), refreshed from master */
  target: Tensor;
  /** weight decay applies (matrices and embeddings; not biases and norm weights, as HF's Trainer) */
  decay: boolean;
}

export interface FullFinetune {
  kind: 'full';
  params: FullParam[];
  /** name -> gradient, what the model's backward accumulates into */
  grads: Map<string, Tensor>;
}

/** Canonical names of every trainable weight of the model, in model order. */
export function fullParamNames(model: CausalLM): string[] {
  return expectedTensors(model.config).map((t) => t.name);
}

/** Masters copied from the model's current weights, gradients allocated (the trainer zeroes them every step). */
export async function createFullFinetune(ctx: GpuContext, model: CausalLM): Promise<FullFinetune> {
  const params: FullParam[] = [];
  const grads = new Map<string, Tensor>();
  try {
    for (const name of fullParamNames(model)) {
      const target = model.weights.get(name);
      if (!target) throw new Error(`full fine-tuning: model weight ${name} is not loaded`);
      if (isQuantized(target)) {
        throw new Error(
          `Full fine-tuning trains every weight, but this model's base was quantized when it was loaded (${name} is ${target.quant.format}): ` +
            'load the model again without quantization, or fine-tune it with LoRA.',
        );
      }
      const master = emptyTensor(ctx, 'f32', target.shape, `${name} master`);
      if (target.dtype === 'f16') await castF16ToF32(ctx, target, master);
      else copyTensor(ctx, target, master);
      const grad = emptyTensor(ctx, 'f32', target.shape, `${name}.grad`);
      params.push({ name, master, grad, target, decay: target.shape.length === 2 });
      grads.set(name, grad);
    }
  } catch (e) {
    for (const p of params) {
      releaseTensor(ctx, p.master);
      releaseTensor(ctx, p.grad);
    }
    throw e;
  }
  ctx.flush();
  return { kind: 'full', params, grads };
}

/** Write the masters into the tensors the kernels read (record only; callers flush). */
export async function refreshWeights(ctx: GpuContext, ft: FullFinetune): Promise<void> {
  for (const p of ft.params) {
    if (p.target.dtype === 'f16') await castF32ToF16(ctx, p.master, p.target);
    else copyTensor(ctx, p.master, p.target);
  }
}

/** The run whose backward accumulates every weight's gradient. */
export function fullRun(ft: FullFinetune, seed: number, training: boolean): ForwardRun {
  return { weightGrads: training ? ft.grads : null, seed, training };
}

/** f32 masters by name (GPU layout). */
export async function downloadFullWeights(ctx: GpuContext, ft: FullFinetune): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const p of ft.params) out.set(p.name, { shape: [...p.master.shape], data: await downloadF32(ctx, p.master) });
  return out;
}

export function releaseFullFinetune(ctx: GpuContext, ft: FullFinetune): void {
  ctx.flush();
  for (const p of ft.params) {
    releaseTensor(ctx, p.master);
    releaseTensor(ctx, p.grad);
  }
}
