// Weight gradients of full fine-tuning, shared by the Llama and GPT-2 blocks and CausalLM. Every
// gradient ACCUMULATES into the f32 tensor the run's weightGrads map holds for that weight
// (zeroed by the trainer at the start of each optimizer step), so micro-batches add up.
//   linear y = x·Wᵀ + b:   dW (out, in) += dyᵀ·x        db (out) += Σ_rows dy
//   embedding lookup:      dTable (V, C) += scatter of the embedding output's gradient (N, C)
// The bias sum is dyᵀ·1 with matmulDyTX against a column of ones, so it is deterministic and
// needs no kernel of its own. The embedding scatter groups token indices by id on the CPU (the
// ids are host data anyway) into workspace buffers sized for N tokens, so steady-state steps
// allocate nothing.
import type { GpuContext } from '../gpu/device';
import { fillTensor } from '../gpu/ops/elementwise';
import { embeddingBackward, embeddingGradGroups, type EmbeddingGradPlan } from '../gpu/ops/embedding';
import { matmulDyTX } from '../gpu/ops/matmulDyTX';
import type { Tensor } from '../gpu/tensor';
import type { Workspace } from './workspace';

/** Buffers of ones (N, 1) already filled; a workspace buffer keeps its contents between steps. */
const filledOnes = new WeakSet<GPUBuffer>();

/** A (N, 1) f32 column of ones from the workspace (filled once per buffer). */
export async function onesColumn(ctx: GpuContext, ws: Workspace, N: number): Promise<Tensor> {
  const t = ws.get('full.ones', 'f32', [N, 1]);
  if (!filledOnes.has(t.buffer)) {
    await fillTensor(ctx, t, 1);
    filledOnes.add(t.buffer);
  }
  return t;
}

/**
 * Full fine-tuning's gradients of the linear `module` (an HF module path): dW += dyᵀ·x when
 * grads holds `${module}.weight`, db += Σ_rows dy when it holds `${module}.bias`.
 *   x (N, in) f32 the linear's input, dy (N, out) f32 the gradient of its output.
 */
export async function linearWeightGrads(ctx: GpuContext, ws: Workspace, grads: ReadonlyMap<string, Tensor>, module: string, x: Tensor, dy: Tensor): Promise<void> {
  const dW = grads.get(`${module}.weight`);
  if (dW) await matmulDyTX(ctx, dy, x, { out: dW, accumulate: true });
  const db = grads.get(`${module}.bias`);
  if (db) {
    const [N, out] = dy.shape;
    if (db.shape.length !== 1 || db.shape[0] !== out) throw new Error(`linearWeightGrads: the gradient of ${module}.bias is [${db.shape.join(',')}], expected [${out}]`);
    await matmulDyTX(ctx, dy, await onesColumn(ctx, ws, N), { out: { ...db, shape: [out, 1] }, accumulate: true });
  }
}

/**
 * dTable[ids[i]] += dOut[i] for the N host ids (token ids, or GPT-2's position ids), with the
 * grouping plan in workspace buffers under `key`.
 */
export async function embeddingWeightGrad(ctx: GpuContext, ws: Workspace, key: string, ids: Int32Array, dOut: Tensor, dTable: Tensor): Promise<void> {
  const N = ids.length;
  const V = dTable.shape[0];
  const g = embeddingGradGroups(ids, V);
  const q = ctx.device.queue;
  const write = (name: string, data: Int32Array, size: number) => {
    // sized for the worst case (N distinct ids), so the buffers stay the same from step to step
    const t = ws.get(`${key}.${name}`, 'i32', [size]);
    q.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return t;
  };
  const plan: EmbeddingGradPlan = {
    N,
    V,
    U: g.uniqueIds.length,
    order: write('order', g.order, N),
    segStart: write('segStart', g.segStart, N + 1),
    uniqueIds: write('uniqueIds', g.uniqueIds, N),
  };
  await embeddingBackward(ctx, dOut, plan, dTable);
}
