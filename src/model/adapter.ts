// A LoRA adapter on the GPU: for each target module, A (r, in) and B (out, r) in f32 with their
// gradients. Module paths are Hugging Face module names (model.layers.3.self_attn.q_proj), which
// are also the PEFT keys once prefixed (io/loraKeys spells the keys).
import type { GpuContext } from '../gpu/device';
import { downloadF32, emptyTensor, releaseTensor, uploadF32, type Tensor } from '../gpu/tensor';
import { mixSeed, mulberry32 } from '../util/prng';
import type { ModelConfig } from '../io/hfConfig';
import { linearModules as formatLinearModules } from '../io/loraTargets';
import { doraMagnitudeKey, loraCheckpointKey } from '../io/loraKeys';

export interface LoraModule {
  /** HF module path, e.g. model.layers.0.self_attn.q_proj */
  path: string;
  inFeatures: number;
  outFeatures: number;
  A: Tensor;
  B: Tensor;
  dA: Tensor;
  dB: Tensor;
  /** DoRA only (spec.useDora): the trained magnitude and what its forward/backward need */
  dora?: DoraState;
}

/**
 * DoRA's per-module state (Liu et al. 2024, PEFT's lora_magnitude_vector): the magnitude m
 * (OUT) and its gradient, and norm = ‖W + s·B·A‖ per output row for the adapter's current
 * weights (normVersion === LoraAdapter.version; recomputed by the first forward after a change).
 */
export interface DoraState {
  magnitude: Tensor;
  dMagnitude: Tensor;
  norm: Tensor;
  normVersion: number;
}

export interface AdapterSpec {
  rank: number;
  alpha: number;
  dropout: number;
  useRslora: boolean;
  /** DoRA (PEFT use_dora): a trained magnitude per output feature of every targeted linear */
  useDora?: boolean;
  /** short names (q_proj, gate_proj, c_attn, ...) */
  targetModules: string[];
}

export interface LoraAdapter {
  spec: AdapterSpec;
  scale: number;
  modules: Map<string, LoraModule>;
  /**
   * Bumped whenever A, B or the magnitude change (each optimizer step, a restore): DoRA's cached
   * norms are for one version.
   */
  version: number;
}

/** Initial weights of one module: A, B, and for DoRA the magnitude (absent: initDoraMagnitudes sets ‖W + s·B·A‖). */
export interface ModuleWeights {
  A: Float32Array;
  B: Float32Array;
  magnitude?: Float32Array;
}

/**
 * Every linear module of the layers with its (in, out) features, in model order (the order of the
 * trained parameters, hence of the gradient-norm sum and of checkpoints). Derived from the
 * formats' list (io/loraTargets), without lm_head; `name` is the short name targets use, with
 * GPT-2's two c_proj told apart as attn.c_proj and mlp.c_proj.
 */
export function linearModules(c: ModelConfig): { path: string; name: string; inFeatures: number; outFeatures: number }[] {
  const mods = formatLinearModules(c).filter((m) => m.module !== 'lm_head');
  // a last part that occurs more than once per layer (GPT-2's attn.c_proj and mlp.c_proj) is
  // told apart by its parent
  const perName = new Map<string, number>();
  for (const m of mods) perName.set(m.module.split('.').at(-1)!, (perName.get(m.module.split('.').at(-1)!) ?? 0) + 1);
  return mods.map((m) => {
    const parts = m.module.split('.');
    const name = (perName.get(parts.at(-1)!) ?? 0) > c.numLayers ? parts.slice(-2).join('.') : parts.at(-1)!;
    return { path: m.module, name, inFeatures: m.in, outFeatures: m.out };
  });
}

function matchesTarget(m: { path: string; name: string }, targets: string[]): boolean {
  // 'c_proj' alone matches both GPT-2 projections, as in PEFT's suffix matching
  return targets.some((t) => m.name === t || m.path.endsWith(`.${t}`));
}

export function targetedModules(c: ModelConfig, targets: string[]) {
  const mods = linearModules(c).filter((m) => matchesTarget(m, targets));
  if (mods.length === 0) {
    const names = [...new Set(linearModules(c).map((m) => m.name))].join(', ');
    throw new Error(`No module of this ${c.hfArchitecture} matches the LoRA targets [${targets.join(', ')}]. Its linear modules are: ${names}.`);
  }
  return mods;
}

/** PEFT's default init: A ~ kaiming_uniform(a=√5) = U(-1/√in, 1/√in), B = 0. Seeded per module. */
export function initLoraWeights(inFeatures: number, outFeatures: number, rank: number, seed: number, path: string) {
  let h = seed >>> 0;
  for (let i = 0; i < path.length; i++) h = mixSeed(h, path.charCodeAt(i));
  const next = mulberry32(h);
  const bound = 1 / Math.sqrt(inFeatures);
  const A = new Float32Array(rank * inFeatures);
  // mulberry32 yields u32s: scale to [0, 1) first
  for (let i = 0; i < A.length; i++) A[i] = ((next() / 4294967296) * 2 - 1) * bound;
  return { A, B: new Float32Array(outFeatures * rank) };
}

export function loraScaleOf(spec: AdapterSpec): number {
  return spec.useRslora ? spec.alpha / Math.sqrt(spec.rank) : spec.alpha / spec.rank;
}

/** Create an adapter on the GPU; `initial` (PEFT-style path -> {A, B}) overrides the random init. */
export function createAdapter(
  ctx: GpuContext,
  config: ModelConfig,
  spec: AdapterSpec,
  seed: number,
  initial?: Map<string, ModuleWeights>,
): LoraAdapter {
  const modules = new Map<string, LoraModule>();
  const r = spec.rank;
  for (const m of targetedModules(config, spec.targetModules)) {
    const init: ModuleWeights = initial?.get(m.path) ?? initLoraWeights(m.inFeatures, m.outFeatures, r, seed, m.path);
    if (init.A.length !== r * m.inFeatures || init.B.length !== m.outFeatures * r) {
      throw new Error(`Adapter weights for ${m.path} have the wrong size for rank ${r} (${m.outFeatures}x${m.inFeatures}).`);
    }
    modules.set(m.path, {
      path: m.path,
      inFeatures: m.inFeatures,
      outFeatures: m.outFeatures,
      A: uploadF32(ctx, init.A, [r, m.inFeatures], `${m.path}.lora_A`),
      B: uploadF32(ctx, init.B, [m.outFeatures, r], `${m.path}.lora_B`),
      dA: emptyTensor(ctx, 'f32', [r, m.inFeatures], `${m.path}.lora_A.grad`),
      dB: emptyTensor(ctx, 'f32', [m.outFeatures, r], `${m.path}.lora_B.grad`),
      dora: spec.useDora ? doraState(ctx, m.path, m.outFeatures, init.magnitude) : undefined,
    });
  }
  return { spec, scale: loraScaleOf(spec), modules, version: 0 };
}

function doraState(ctx: GpuContext, path: string, out: number, magnitude?: Float32Array): DoraState {
  if (magnitude && magnitude.length !== out) throw new Error(`The DoRA magnitude of ${path} has ${magnitude.length} values, but the module has ${out} outputs.`);
  return {
    magnitude: magnitude ? uploadF32(ctx, magnitude, [out], `${path}.lora_magnitude_vector`) : emptyTensor(ctx, 'f32', [out], `${path}.lora_magnitude_vector`),
    dMagnitude: emptyTensor(ctx, 'f32', [out], `${path}.lora_magnitude_vector.grad`),
    norm: emptyTensor(ctx, 'f32', [out], `${path} dora norm`),
    normVersion: -1,
  };
}

/** A, B or the magnitude changed (optimizer step, restore): DoRA's norms are recomputed on next use. */
export function markAdapterChanged(a: LoraAdapter): void {
  a.version++;
}

/** The trainable tensors in a fixed order (optimizer state and checkpoints use this order). */
export function adapterParams(a: LoraAdapter): { name: string; param: Tensor; grad: Tensor }[] {
  const out: { name: string; param: Tensor; grad: Tensor }[] = [];
  for (const m of a.modules.values()) {
    out.push({ name: loraCheckpointKey(m.path, 'A'), param: m.A, grad: m.dA });
    out.push({ name: loraCheckpointKey(m.path, 'B'), param: m.B, grad: m.dB });
    if (m.dora) out.push({ name: doraMagnitudeKey(m.path), param: m.dora.magnitude, grad: m.dora.dMagnitude });
  }
  return out;
}

export async function downloadAdapter(ctx: GpuContext, a: LoraAdapter): Promise<Map<string, ModuleWeights>> {
  const out = new Map<string, ModuleWeights>();
  for (const m of a.modules.values()) {
    const w: ModuleWeights = { A: await downloadF32(ctx, m.A), B: await downloadF32(ctx, m.B) };
    if (m.dora) w.magnitude = await downloadF32(ctx, m.dora.magnitude);
    out.set(m.path, w);
  }
  return out;
}

export function releaseAdapter(ctx: GpuContext, a: LoraAdapter): void {
  for (const m of a.modules.values()) {
    for (const t of [m.A, m.B, m.dA, m.dB]) releaseTensor(ctx, t);
    if (m.dora) for (const t of [m.dora.magnitude, m.dora.dMagnitude, m.dora.norm]) releaseTensor(ctx, t);
  }
}
