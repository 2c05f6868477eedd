// DoRA on one targeted linear, for the architectures' blocks (llama, gpt2, gemma3, phi3): PEFT's
// DoraLinearLayer for nn.Linear without dropout (Liu et al. 2024):
//   y = g ⊙ (x·Wᵀ + s·(x·Aᵀ)·Bᵀ) + b,  g = m / ‖W + s·B·A‖ per output row, the norm detached
//   (the paper's section 4.3: treated as a constant in backward, as PEFT's weight_norm.detach())
// The block runs its base matmul and loraForward as for LoRA, then doraForward rescales y; in
// backward doraUpstream turns dy into g ⊙ dy (also accumulating the magnitude's gradient), which
// the block's base dx matmul and loraBackward then take in place of dy.
// The norm depends only on W, A, B: computed once per adapter version (after each optimizer step)
// and reused by every forward, recomputation, backward and decode step until the next change.
import type { GpuContext } from '../gpu/device';
import { doraMagnitudeGrad, doraRowNorm, doraScaleBackward, doraScaleForward } from '../gpu/ops/dora';
import type { Tensor } from '../gpu/tensor';
import type { LoraAdapter, LoraModule } from './adapter';
import type { Workspace } from './workspace';

function baseWeight(m: LoraModule, W: Tensor): Tensor {
  if (W.dtype !== 'f16' && W.dtype !== 'f32') {
    throw new Error(`DoRA needs the base weights in fp16 or f32, but ${m.path} is ${W.dtype} (quantized). Load the model unquantized, or train plain LoRA.`);
  }
  return W;
}

/** ‖W + s·B·A‖ per output row for the adapter's current weights (cached per version). */
export async function doraNorm(ctx: GpuContext, adapter: LoraAdapter, m: LoraModule, W: Tensor): Promise<Tensor> {
  const d = m.dora;
  if (!d) throw new Error(`${m.path} has no DoRA state`);
  if (d.normVersion !== adapter.version) {
    await doraRowNorm(ctx, baseWeight(m, W), m.A, m.B, { scale: adapter.scale, out: d.norm });
    d.normVersion = adapter.version;
  }
  return d.norm;
}

/** y holds x·Wᵀ + b + s·LoRA: rescale it to g ⊙ (y - b) + b, keeping z = y - b under `${key}.z` for backward. */
export async function doraForward(ctx: GpuContext, ws: Workspace, adapter: LoraAdapter, m: LoraModule, W: Tensor, bias: Tensor | null, y: Tensor, key: string): Promise<void> {
  const norm = await doraNorm(ctx, adapter, m, W);
  const z = ws.get(`${key}.z`, 'f32', y.shape);
  await doraScaleForward(ctx, y, m.dora!.magnitude, norm, bias, { z });
}

/** dm += Σ dy ⊙ z / norm; returns g ⊙ dy, the upstream gradient of the base and LoRA paths. */
export async function doraUpstream(ctx: GpuContext, ws: Workspace, m: LoraModule, dy: Tensor, key: string): Promise<Tensor> {
  const d = m.dora;
  if (!d) throw new Error(`${m.path} has no DoRA state`);
  const z = ws.get(`${key}.z`, 'f32', dy.shape);
  await doraMagnitudeGrad(ctx, dy, z, d.norm, d.dMagnitude);
  return doraScaleBackward(ctx, dy, d.magnitude, d.norm, { out: ws.get(`scratch.dora.dz.${dy.shape[1]}`, 'f32', dy.shape) });
}

/**
 * DoRA's initial magnitude, as PEFT's update_layer: m = ‖W + s·B·A‖ (= ‖W‖ with the usual B = 0),
 * for every module whose magnitude was not given. `weight` names the base weight of a module path.
 */
export async function initDoraMagnitudes(ctx: GpuContext, adapter: LoraAdapter, weight: (name: string) => Tensor | undefined, given: ReadonlySet<string> = new Set()): Promise<void> {
  for (const m of adapter.modules.values()) {
    if (!m.dora || given.has(m.path)) continue;
    const W = weight(`${m.path}.weight`);
    if (!W) throw new Error(`DoRA: the base weight ${m.path}.weight is not loaded`);
    await doraRowNorm(ctx, baseWeight(m, W), m.A, m.B, { scale: adapter.scale, out: m.dora.magnitude });
  }
}
