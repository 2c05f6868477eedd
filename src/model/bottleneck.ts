// Bottleneck adapters as the AdapterHub `adapters` library computes them for Llama-family
// decoders (LlamaDecoderLayerWithAdapters: attention_adapters / output_adapters, each a
// BottleneckLayer called as adapter_layer(sublayer_output, residual, layer_norm=None)):
//
//   g(v) = W_up · f(W_down · v + b_down) + b_up        W_down (r, C), W_up (C, r), r = C // reduction_factor
//
// With layer_norm None the library's pre_forward / Adapter.forward / post_forward give, for a
// sub-block output h (attention's o_proj output, or the MLP's down_proj output) and the residual
// x entering that sub-block (residual_before_ln true: the adapter's own residual is h, taken
// before any add; original_ln_after true: post_forward adds x):
//   double_seq_bn (Houlsby), original_ln_before false:  out = g(h) + h + x
//   seq_bn (Pfeiffer), original_ln_before true: the adapter reads s = h + x, so
//                                                       out = g(h + x) + h + x = s + g(s)
// (derivation line by line in reference/bottleneck_fixtures.py).
// Houlsby has an adapter after attention and one after the MLP (swish = SiLU), Pfeiffer one after
// the MLP (relu). No layer norms inside the adapter (ln_before / ln_after false), scaling 1.0,
// no gating, no dropout. Init "bert": both weights N(0, 0.02), biases 0 (near identity).
//
// Each module applies y ← y + g(y) in place at one point of the block: before the sub-block's
// residual add ('sublayer', Houlsby) or after it ('residual', Pfeiffer). Backward: dy_in = dy +
// W_downᵀ·(f'(z) ⊙ W_upᵀ·dy), with dW_up += dyᵀ·a, db_up += Σ dy, dW_down += dzᵀ·v, db_down += Σ dz.
import { mixSeed, mulberry32 } from '../util/prng';
import type { GpuContext } from '../gpu/device';
import { bottleneckActBackward, bottleneckActForward, type BottleneckActivation } from '../gpu/ops/bottleneckAct';
import { copyTensor, zeroTensor } from '../gpu/ops/elementwise';
import { matmulDyTX } from '../gpu/ops/matmulDyTX';
import { matmulDyW } from '../gpu/ops/matmulDyW';
import { matmulXWt } from '../gpu/ops/matmul';
import { downloadF32, emptyTensor, releaseTensor, uploadF32, type Tensor } from '../gpu/tensor';
import { bottleneckModulePath, bottleneckTensorNames } from '../io/adaptersBottleneck';
import type { ModelConfig } from '../io/hfConfig';

export { bottleneckLibraryConfig, bottleneckTensorNames } from '../io/adaptersBottleneck';
import { onesColumn } from './fullFinetuneGrads';
import type { Workspace } from './workspace';

export type BottleneckVariant = 'houlsby' | 'pfeiffer';
/** The library's BottleneckLayer location keys: attention_adapters (mh_adapter) and output_adapters (output_adapter). */
export type BottleneckLocation = 'attention' | 'output';
/** Where in the block the module adds g: before the sub-block's residual add, or after it. */
export type BottleneckStage = 'sublayer' | 'residual';

/** The adapter name written into the files (the library's adapter_name). */
export const DEFAULT_BOTTLENECK_NAME = 'bottleneck';

export interface BottleneckModule {
  layer: number;
  location: BottleneckLocation;
  stage: BottleneckStage;
  /** the library's module path: model.layers.N.{attention,output}_adapters.adapters.NAME */
  path: string;
  /** (r, C), (r), (C, r), (C) f32, trained */
  down: Tensor;
  downBias: Tensor;
  up: Tensor;
  upBias: Tensor;
  /** their f32 gradients (accumulated by the backward) */
  dDown: Tensor;
  dDownBias: Tensor;
  dUp: Tensor;
  dUpBias: Tensor;
}

export interface BottleneckAdapter {
  kind: 'bottleneck';
  variant: BottleneckVariant;
  reductionFactor: number;
  /** r = max(1, C // reduction_factor) */
  width: number;
  activation: BottleneckActivation;
  name: string;
  /** by `${layer}.${location}`, in layer order (attention before output) */
  modules: Map<string, BottleneckModule>;
}

/** The library's bottleneck width: int(hidden_size // reduction_factor), at least 1. */
export function bottleneckWidth(hiddenSize: number, reductionFactor: number): number {
  return Math.max(1, Math.floor(hiddenSize / reductionFactor));
}

export function bottleneckLocations(variant: BottleneckVariant): BottleneckLocation[] {
  return variant === 'houlsby' ? ['attention', 'output'] : ['output'];
}

/** N(0, std) values (Box-Muller over a seeded mulberry32): the library's "bert" init of a Linear weight. */
function normalInit(n: number, std: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  const u = () => (next() + 0.5) / 4294967296;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    out[i] = std * r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = std * r * Math.sin(t);
  }
  return out;
}

export interface BottleneckOptions {
  variant: BottleneckVariant;
  reductionFactor: number;
  seed: number;
  name?: string;
  /** values by tensor name (a checkpoint, a fixture or imported files); the rest get the bert init */
  initial?: ReadonlyMap<string, Float32Array>;
}

export function createBottleneck(ctx: GpuContext, config: ModelConfig, o: BottleneckOptions): BottleneckAdapter {
  if (o.variant !== 'houlsby' && o.variant !== 'pfeiffer') throw new Error(`Bottleneck variant must be 'houlsby' or 'pfeiffer', got ${JSON.stringify(o.variant)}.`);
  if (!(o.reductionFactor >= 1)) throw new Error(`The bottleneck reduction factor must be at least 1, got ${o.reductionFactor}.`);
  const C = config.hiddenSize;
  const r = bottleneckWidth(C, o.reductionFactor);
  const name = o.name ?? DEFAULT_BOTTLENECK_NAME;
  const modules = new Map<string, BottleneckModule>();
  const stage: BottleneckStage = o.variant === 'houlsby' ? 'sublayer' : 'residual';
  for (let i = 0; i < config.numLayers; i++) {
    for (const location of bottleneckLocations(o.variant)) {
      const path = bottleneckModulePath(i, location, name);
      const n = bottleneckTensorNames(path);
      const k = modules.size;
      const value = (key: string, count: number, init: () => Float32Array) => {
        const v = o.initial?.get(key);
        if (v && v.length !== count) throw new Error(`${key} has ${v.length} values, expected ${count} (hidden size ${C}, bottleneck width ${r})`);
        return v ?? init();
      };
      const t = (key: string, shape: number[], init: () => Float32Array) => uploadF32(ctx, value(key, shape.reduce((a, b) => a * b, 1), init), shape, key);
      const g = (key: string, shape: number[]) => zeroTensor(ctx, emptyTensor(ctx, 'f32', shape, `grad ${key}`));
      modules.set(`${i}.${location}`, {
        layer: i,
        location,
        stage,
        path,
        down: t(n.down, [r, C], () => normalInit(r * C, 0.02, mixSeed(o.seed, 0x626e0000 + 2 * k))),
        downBias: t(n.downBias, [r], () => new Float32Array(r)),
        up: t(n.up, [C, r], () => normalInit(C * r, 0.02, mixSeed(o.seed, 0x626e0001 + 2 * k))),
        upBias: t(n.upBias, [C], () => new Float32Array(C)),
        dDown: g(n.down, [r, C]),
        dDownBias: g(n.downBias, [r]),
        dUp: g(n.up, [C, r]),
        dUpBias: g(n.upBias, [C]),
      });
    }
  }
  return { kind: 'bottleneck', variant: o.variant, reductionFactor: o.reductionFactor, width: r, activation: o.variant === 'houlsby' ? 'swish' : 'relu', name, modules };
}

export function releaseBottleneck(ctx: GpuContext, b: BottleneckAdapter): void {
  for (const m of b.modules.values()) for (const t of [m.down, m.downBias, m.up, m.upBias, m.dDown, m.dDownBias, m.dUp, m.dUpBias]) releaseTensor(ctx, t);
}

/** Parameters in a fixed order (layers, attention before output; down W, down b, up W, up b), named as the library saves them. */
export function bottleneckParams(b: BottleneckAdapter): { name: string; param: Tensor; grad: Tensor; decay: boolean }[] {
  const out: { name: string; param: Tensor; grad: Tensor; decay: boolean }[] = [];
  for (const m of b.modules.values()) {
    const n = bottleneckTensorNames(m.path);
    // no weight decay on biases, as the HF Trainer the library trains with
    out.push({ name: n.down, param: m.down, grad: m.dDown, decay: true });
    out.push({ name: n.downBias, param: m.downBias, grad: m.dDownBias, decay: false });
    out.push({ name: n.up, param: m.up, grad: m.dUp, decay: true });
    out.push({ name: n.upBias, param: m.upBias, grad: m.dUpBias, decay: false });
  }
  return out;
}

/** The module of layer i at this location and stage, if the run trains or applies one there. */
export function bottleneckAt(b: BottleneckAdapter | null | undefined, i: number, location: BottleneckLocation, stage: BottleneckStage): BottleneckModule | null {
  const m = b?.modules.get(`${i}.${location}`);
  return m && m.stage === stage ? m : null;
}

function acts(ws: Workspace, m: BottleneckModule, key: string, N: number, C: number, r: number) {
  const k = `${key}.bn.${m.location}`;
  return { v: ws.get(`${k}.in`, 'f32', [N, C]), z: ws.get(`${k}.z`, 'f32', [N, r]), a: ws.get(`${k}.a`, 'f32', [N, r]) };
}

/** y (N, C) ← y + g(y), keeping the adapter's input, z and f(z) under `${key}.bn.<location>` for backward. */
export async function bottleneckForward(ctx: GpuContext, ws: Workspace, b: BottleneckAdapter, m: BottleneckModule, y: Tensor, key: string): Promise<void> {
  const [N, C] = y.shape;
  const s = acts(ws, m, key, N, C, b.width);
  copyTensor(ctx, y, s.v);
  await matmulXWt(ctx, s.v, m.down, m.downBias, { out: s.z });
  await bottleneckActForward(ctx, s.z, b.activation, { out: s.a });
  await matmulXWt(ctx, s.a, m.up, m.upBias, { out: y, accumulate: true });
}

/**
 * dIn = dy + J_gᵀ·dy for dy (N, C) the gradient of the module's output, accumulating the four
 * parameter gradients. dIn may be dy itself (in place: 'residual' stage) or another (N, C) buffer.
 */
export async function bottleneckBackward(ctx: GpuContext, ws: Workspace, b: BottleneckAdapter, m: BottleneckModule, dy: Tensor, dIn: Tensor, key: string): Promise<void> {
  const [N, C] = dy.shape;
  const r = b.width;
  const s = acts(ws, m, key, N, C, r);
  const ones = await onesColumn(ctx, ws, N);
  await matmulDyTX(ctx, dy, s.a, { out: m.dUp, accumulate: true });
  await matmulDyTX(ctx, dy, ones, { out: { ...m.dUpBias, shape: [C, 1] }, accumulate: true });
  const da = await matmulDyW(ctx, dy, m.up, { out: ws.get('scratch.bn.da', 'f32', [N, r]) });
  const dz = await bottleneckActBackward(ctx, da, s.z, b.activation, { out: ws.get('scratch.bn.dz', 'f32', [N, r]) });
  await matmulDyTX(ctx, dz, s.v, { out: m.dDown, accumulate: true });
  await matmulDyTX(ctx, dz, ones, { out: { ...m.dDownBias, shape: [r, 1] }, accumulate: true });
  if (dIn.buffer !== dy.buffer) copyTensor(ctx, dy, dIn);
  await matmulDyW(ctx, dz, m.down, { out: dIn, accumulate: true });
}

/**
 * What a bottleneck run adds to the memory estimate (train/memory.ts), in f32 values: the trained
 * tensors (their gradients and AdamW m, v are counted by the caller), per layer the saved input
 * (N, C), z and f(z) (N, r) of each module, and the shared scratch: da, dz (N, r), the
 * 'sublayer' stage's input gradient (N, C) per location and the ones column (N) of the bias sums.
 */
export function bottleneckFootprint(c: ModelConfig, s: { variant: BottleneckVariant; reductionFactor: number }, N: number): { trainedFloats: number; perLayerFloats: number; scratchFloats: number } {
  const C = c.hiddenSize;
  const r = bottleneckWidth(C, s.reductionFactor);
  const perLayer = bottleneckLocations(s.variant).length;
  return {
    trainedFloats: c.numLayers * perLayer * (2 * r * C + r + C),
    perLayerFloats: perLayer * N * (C + 2 * r),
    scratchFloats: 2 * N * r + (s.variant === 'houlsby' ? perLayer * N * C : 0) + N,
  };
}

/** Every tensor's values by its library name (for the export of the adapter in memory). */
export async function downloadBottleneck(ctx: GpuContext, b: BottleneckAdapter): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const p of bottleneckParams(b)) out.set(p.name, await downloadF32(ctx, p.param));
  return out;
}
