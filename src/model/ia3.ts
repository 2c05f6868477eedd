// (IA)³ (Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than
// In-Context Learning"; HF PEFT's IA3 for CAUSAL_LM): one learned vector ia3_l per targeted
// linear, initialised to ones, no dropout. PEFT's default targets for the Llama family are
// k_proj and v_proj, whose OUTPUT is scaled (y = l ⊙ (x·Wᵀ + b), l [out]), and down_proj (a
// feedforward module), whose INPUT is scaled (y = (l ⊙ x)·Wᵀ + b, l [in]).
// PEFT saves l as base_model.model.<module>.ia3_l, shape [out, 1] (output scaling) or [1, in]
// (feedforward); that key (io/peftIa3.ts) is also our checkpoint's parameter name.
// The blocks call ia3LinearForward/ia3LinearBackward in place of their base matmul for a module
// the adapter has (llama.ts); blocks without them refuse (TransformerBlocks.supportsIa3).
import type { GpuContext } from '../gpu/device';
import { baseDyW, baseXWt } from '../gpu/ops/baseLinear';
import { ia3ColumnDot, ia3Scale } from '../gpu/ops/ia3';
import { downloadF32, emptyTensor, releaseTensor, uploadF32, type Tensor } from '../gpu/tensor';
import type { ModelConfig } from '../io/hfConfig';
import { ia3Key } from '../io/peftIa3';
import { linearModules } from './adapter';
import type { Workspace } from './workspace';

/** PEFT's TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING / ..._FEEDFORWARD_MODULES_MAPPING for llama (and mistral, qwen2). */
export const IA3_LLAMA_TARGETS = ['k_proj', 'v_proj', 'down_proj'];
export const IA3_LLAMA_FEEDFORWARD = ['down_proj'];

export interface Ia3Module {
  /** HF module path, e.g. model.layers.0.self_attn.k_proj */
  path: string;
  /** true: the input is scaled (l has in_features values); false: the output (out_features) */
  feedforward: boolean;
  inFeatures: number;
  outFeatures: number;
  /** (K) f32, K = in (feedforward) or out */
  l: Tensor;
  dl: Tensor;
}

export interface Ia3Adapter {
  kind: 'ia3';
  /** short names, as adapter_config.json's target_modules / feedforward_modules */
  targetModules: string[];
  feedforwardModules: string[];
  modules: Map<string, Ia3Module>;
}

/** The modules an (IA)³ adapter with these targets scales, in model order, each with its vector's length. */
export function ia3Modules(c: ModelConfig, targets: readonly string[] = IA3_LLAMA_TARGETS, feedforward: readonly string[] = IA3_LLAMA_FEEDFORWARD) {
  for (const f of feedforward) {
    if (!targets.includes(f)) throw new Error(`(IA)³: the feedforward module ${f} is not among the target modules [${targets.join(', ')}] (PEFT requires feedforward_modules ⊆ target_modules).`);
  }
  const all = linearModules(c);
  const mods = all.filter((m) => targets.includes(m.name));
  if (mods.length === 0) {
    throw new Error(`(IA)³ scales [${targets.join(', ')}], but this ${c.hfArchitecture} has none of them (its linear modules: ${[...new Set(all.map((m) => m.name))].join(', ')}).`);
  }
  return mods.map((m) => {
    const ff = feedforward.includes(m.name);
    return { path: m.path, name: m.name, feedforward: ff, inFeatures: m.inFeatures, outFeatures: m.outFeatures, size: ff ? m.inFeatures : m.outFeatures };
  });
}

/** A new adapter (every vector ones, PEFT's init_ia3_weights), or the given vectors by module path. */
export function createIa3(ctx: GpuContext, c: ModelConfig, opts: { targets?: string[]; feedforward?: string[]; initial?: Map<string, Float32Array> } = {}): Ia3Adapter {
  const targets = opts.targets ?? IA3_LLAMA_TARGETS;
  const feedforward = opts.feedforward ?? IA3_LLAMA_FEEDFORWARD;
  const modules = new Map<string, Ia3Module>();
  for (const m of ia3Modules(c, targets, feedforward)) {
    const given = opts.initial?.get(m.path);
    if (given && given.length !== m.size) throw new Error(`The (IA)³ vector of ${m.path} has ${given.length} values, but the module needs ${m.size} (its ${m.feedforward ? 'in' : 'out'}_features).`);
    modules.set(m.path, {
      path: m.path,
      feedforward: m.feedforward,
      inFeatures: m.inFeatures,
      outFeatures: m.outFeatures,
      l: uploadF32(ctx, given ?? new Float32Array(m.size).fill(1), [m.size], `${m.path}.ia3_l`),
      dl: emptyTensor(ctx, 'f32', [m.size], `${m.path}.ia3_l.grad`),
    });
  }
  return { kind: 'ia3', targetModules: [...targets], feedforwardModules: [...feedforward], modules };
}

/** The trainable tensors in model order (optimizer state and checkpoints use this order and these names). */
export function ia3Params(a: Ia3Adapter): { name: string; param: Tensor; grad: Tensor }[] {
  return [...a.modules.values()].map((m) => ({ name: ia3Key(m.path), param: m.l, grad: m.dl }));
}

export async function downloadIa3(ctx: GpuContext, a: Ia3Adapter): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const m of a.modules.values()) out.set(m.path, await downloadF32(ctx, m.l));
  return out;
}

export function releaseIa3(ctx: GpuContext, a: Ia3Adapter): void {
  for (const m of a.modules.values()) for (const t of [m.l, m.dl]) releaseTensor(ctx, t);
}

/**
 * y = x·Wᵀ + b with the module's scaling: output (y = l ⊙ z, z = x·Wᵀ + b kept under `${key}.z`
 * for the backward) or input (y = (l ⊙ x)·Wᵀ + b; the backward needs only x).
 */
export async function ia3LinearForward(ctx: GpuContext, ws: Workspace, m: Ia3Module, x: Tensor, W: Tensor, bias: Tensor | null, y: Tensor, key: string): Promise<void> {
  const N = x.shape[0];
  if (m.feedforward) {
    const xs = await ia3Scale(ctx, x, m.l, { out: ws.get(`scratch.ia3.in.${m.inFeatures}`, 'f32', [N, m.inFeatures]) });
    await baseXWt(ctx, xs, W, bias, { out: y });
  } else {
    const z = ws.get(`${key}.z`, 'f32', [N, m.outFeatures]);
    await baseXWt(ctx, x, W, bias, { out: z });
    await ia3Scale(ctx, z, m.l, { out: y });
  }
}

/** dx (+)= dL/dx for upstream dy, and dl += the vector's gradient (x is the linear's input). */
export async function ia3LinearBackward(ctx: GpuContext, ws: Workspace, m: Ia3Module, x: Tensor, W: Tensor, dy: Tensor, dx: Tensor, accumulate: boolean, key: string): Promise<void> {
  const N = x.shape[0];
  if (m.feedforward) {
    // g = dy·W is dL/d(l ⊙ x): dl += Σ g ⊙ x, dx (+)= l ⊙ g
    const g = await baseDyW(ctx, dy, W, { out: ws.get(`scratch.ia3.in.${m.inFeatures}`, 'f32', [N, m.inFeatures]) });
    await ia3ColumnDot(ctx, g, x, m.dl);
    await ia3Scale(ctx, g, m.l, { out: dx, accumulate });
  } else {
    const z = ws.get(`${key}.z`, 'f32', [N, m.outFeatures]);
    await ia3ColumnDot(ctx, dy, z, m.dl);
    const dz = await ia3Scale(ctx, dy, m.l, { out: ws.get(`scratch.ia3.dz.${m.outFeatures}`, 'f32', [N, m.outFeatures]) });
    await baseDyW(ctx, dz, W, { out: dx, accumulate });
  }
}

/**
 * f32 values an (IA)³ run adds, for the memory estimate (train/memory.ts), at N tokens per
 * micro-batch: the trained vectors (each with a gradient, AdamW m and v on top), what one layer
 * keeps for its backward (z (N, out) of every output-scaled module) and the shared scratch
 * (the scaled input / g = dy·W (N, in) per distinct feedforward width, dz (N, out) per distinct
 * output width).
 */
export function ia3Footprint(c: ModelConfig, N: number): { trainedFloats: number; perLayerFloats: number; scratchFloats: number } {
  const mods = ia3Modules(c);
  const L = Math.max(1, c.numLayers);
  const out = mods.filter((m) => !m.feedforward);
  const ff = mods.filter((m) => m.feedforward);
  const distinct = (xs: number[]) => [...new Set(xs)].reduce((a, b) => a + b, 0);
  return {
    trainedFloats: mods.reduce((s, m) => s + m.size, 0),
    perLayerFloats: (N * out.reduce((s, m) => s + m.outFeatures, 0)) / L,
    scratchFloats: N * (distinct(ff.map((m) => m.inFeatures)) + distinct(out.map((m) => m.outFeatures))),
  };
}

export { ia3Key, parseIa3Key } from '../io/peftIa3';
