// LoRA adapter forward and backward on its own small-rank kernels (shaders/lora.wgsl).
//   x is (N, IN) f32 (N = B*T tokens), A is (r, IN) f32, B is (OUT, r) f32, s = alpha/r
//   (rsLoRA: alpha/sqrt(r)). y = x·Wᵀ + s·(drop(x)·Aᵀ)·Bᵀ; this file does only the adapter term,
//   the base x·Wᵀ belongs to matmul. Dropout: inverted dropout with keep prob 1-p, mask from a
//   seeded counter-based hash of (seed, element index of x), regenerated in backward (no mask
//   buffer). As in PEFT, dropout touches the adapter's input only; the base path sees plain x.
// Forward saves u = drop(x)·Aᵀ (N, r) for backward. Backward with du = s·dy·B (N, r):
//   dB += s·dyᵀ·u,  dA += duᵀ·drop(x),  dx += mask ⊙ (du·A) / (1-p)
// dA, dB and dx accumulate (gradient accumulation; dx also already holds the base path's dx).
// Ops only record into ctx.encoder(); callers flush.
import type { GpuContext } from '../device';
import { dispatch } from '../dispatch';
import type { WgslSource } from '../shader';
import loraCode from '../shaders/lora.wgsl?raw';
import { emptyTensor, type Tensor } from '../tensor';

export const LORA_SHADER: WgslSource = { file: 'lora.wgsl', code: loraCode };

export interface LoraVariant {
  version: 1 | 2;
  wgX: number;
  wgY: number;
}

export const LORA_VARIANTS: Record<string, LoraVariant> = {
  v1_16x16: { version: 1, wgX: 16, wgY: 16 },
  v2_8x8: { version: 2, wgX: 8, wgY: 8 },
  v2_16x4: { version: 2, wgX: 16, wgY: 4 },
  v2_4x16: { version: 2, wgX: 4, wgY: 16 },
};

export const DEFAULT_LORA_VARIANT = 'v2_8x8';

/** Outputs computed by one thread along (P, M) for each kernel version. */
const OUTPUTS_PER_THREAD: Record<LoraVariant['version'], [number, number]> = { 1: [1, 1], 2: [4, 4] };

export interface LoraDropout {
  /** drop probability, 0 <= p < 1 */
  p: number;
  /** any u32; use a different seed per layer and per step, the same in forward and backward */
  seed: number;
}

export interface LoraOptions {
  /** s = alpha/r, or alpha/sqrt(r) for rsLoRA (see loraScale) */
  scale: number;
  /** null (or p = 0) for no dropout */
  dropout: LoraDropout | null;
  /** kernel variant (a key of LORA_VARIANTS) */
  variant?: string;
}

/** s = alpha/r, or alpha/sqrt(r) for rsLoRA. */
export function loraScale(alpha: number, r: number, rslora = false): number {
  if (!(r > 0) || !Number.isInteger(r)) throw new Error(`loraScale: rank r must be a positive integer, got ${r}`);
  return rslora ? alpha / Math.sqrt(r) : alpha / r;
}

/** The integer threshold the kernel compares 24 hash bits against: keep iff bits >= threshold. */
export function dropoutThreshold(p: number): number {
  return Math.round(p * 2 ** 24);
}

function checkOptions(op: string, o: LoraOptions): void {
  if (!Number.isFinite(o.scale)) throw new Error(`${op}: scale must be a finite number (alpha/r, see loraScale), got ${o.scale}`);
  const d = o.dropout;
  if (!d) return;
  if (!(d.p >= 0 && d.p < 1)) throw new Error(`${op}: dropout p must be in [0, 1), got ${d.p}`);
  if (!Number.isInteger(d.seed) || d.seed < 0 || d.seed > 0xffffffff) {
    throw new Error(`${op}: dropout seed must be an integer in [0, 2^32), got ${d.seed}`);
  }
}

function expect2d(t: Tensor, what: string, rows: number | null, cols: number | null, op: string): [number, number] {
  if (t.dtype !== 'f32' || t.shape.length !== 2) {
    throw new Error(`${op}: ${what} must be a rank-2 f32 tensor, got ${t.dtype} [${t.shape.join(',')}] (${t.label})`);
  }
  const [r, c] = t.shape;
  if ((rows !== null && r !== rows) || (cols !== null && c !== cols)) {
    throw new Error(
      `${op}: ${what} is [${r},${c}] (${t.label}) but [${rows ?? '*'},${cols ?? '*'}] is expected from the other tensors`,
    );
  }
  return [r, c];
}

const MASK = { none: 0, a: 1, b: 2, c: 3 } as const;

interface Product {
  a: Tensor;
  b: Tensor;
  c: Tensor;
  M: number;
  P: number;
  K: number;
  /** opA[m,k] = a[m*aSm + k*aSk] */
  aSm: number;
  aSk: number;
  /** opB[k,p] = b[k*bSk + p*bSn] */
  bSk: number;
  bSn: number;
  alpha: number;
  accumulate: boolean;
  mask: keyof typeof MASK;
  label: string;
}

async function product(ctx: GpuContext, q: Product, dropout: LoraDropout | null, variantName: string) {
  const v = LORA_VARIANTS[variantName];
  if (!v) throw new Error(`lora: unknown variant '${variantName}' (have ${Object.keys(LORA_VARIANTS).join(', ')})`);
  const drop = dropout && dropout.p > 0 ? dropout : null;
  const pipeline = await ctx.pipelines.get({
    shader: LORA_SHADER,
    entryPoint: `lora_mm_v${v.version}`,
    constants: { WG_X: v.wgX, WG_Y: v.wgY, MASK_ON: drop ? MASK[q.mask] : MASK.none },
  });
  const raw = new ArrayBuffer(64);
  const u = new Uint32Array(raw);
  const f = new Float32Array(raw);
  u.set([q.M, q.P, q.K, q.accumulate ? 1 : 0, q.aSm, q.aSk, q.bSk, q.bSn]);
  u[8] = drop ? drop.seed >>> 0 : 0;
  u[9] = drop ? dropoutThreshold(drop.p) : 0;
  f[10] = q.alpha;
  f[11] = drop ? 1 / (1 - drop.p) : 1;
  const [tp, tm] = OUTPUTS_PER_THREAD[v.version];
  dispatch(ctx, {
    pipeline,
    bindings: [q.a, q.b, q.c],
    uniforms: u,
    workgroups: [Math.ceil(q.P / (tp * v.wgX)), Math.ceil(q.M / (tm * v.wgY))],
    label: `${q.label} ${q.M}x${q.P}x${q.K} ${variantName}`,
  });
}

/**
 * y += s·(drop(x)·Aᵀ)·Bᵀ. Returns u = drop(x)·Aᵀ (N, r), which backward needs (pass opts.u to
 * reuse a buffer). y (N, OUT) normally already holds the base projection x·Wᵀ.
 */
export async function loraForward(
  ctx: GpuContext,
  x: Tensor,
  A: Tensor,
  B: Tensor,
  y: Tensor,
  opts: LoraOptions & { u?: Tensor },
): Promise<{ u: Tensor }> {
  const op = 'loraForward';
  const [N, IN] = expect2d(x, 'x', null, null, op);
  const [r] = expect2d(A, 'A', null, IN, op);
  const [OUT] = expect2d(B, 'B', null, r, op);
  expect2d(y, 'y', N, OUT, op);
  checkOptions(op, opts);
  const u = opts.u ?? emptyTensor(ctx, 'f32', [N, r], 'lora u');
  expect2d(u, 'u', N, r, op);
  const variant = opts.variant ?? DEFAULT_LORA_VARIANT;
  // u (N, r) = drop(x) (N, IN) · Aᵀ
  await product(
    ctx,
    { a: x, b: A, c: u, M: N, P: r, K: IN, aSm: IN, aSk: 1, bSk: 1, bSn: IN, alpha: 1, accumulate: false, mask: 'a', label: 'lora u=drop(x)Aᵀ' },
    opts.dropout,
    variant,
  );
  // y (N, OUT) += s · u (N, r) · Bᵀ
  await product(
    ctx,
    { a: u, b: B, c: y, M: N, P: OUT, K: r, aSm: r, aSk: 1, bSk: 1, bSn: r, alpha: opts.scale, accumulate: true, mask: 'none', label: 'lora y+=s·uBᵀ' },
    opts.dropout,
    variant,
  );
  return { u };
}

export interface LoraGrads {
  /** (r, IN), accumulated into */
  dA: Tensor;
  /** (OUT, r), accumulated into */
  dB: Tensor;
  /** (N, IN), accumulated into; null when x needs no gradient */
  dx: Tensor | null;
}

/**
 * Accumulates the adapter's gradients for upstream dy (N, OUT) into grads.dA, grads.dB and
 * grads.dx. u is forward's saved drop(x)·Aᵀ; opts.scale and opts.dropout must be forward's.
 * Returns the scratch du = s·dy·B (N, r) (pass opts.du to reuse a buffer).
 */
export async function loraBackward(
  ctx: GpuContext,
  x: Tensor,
  A: Tensor,
  B: Tensor,
  u: Tensor,
  dy: Tensor,
  opts: LoraOptions & { du?: Tensor },
  grads: LoraGrads,
): Promise<{ du: Tensor }> {
  const op = 'loraBackward';
  const [N, IN] = expect2d(x, 'x', null, null, op);
  const [r] = expect2d(A, 'A', null, IN, op);
  const [OUT] = expect2d(B, 'B', null, r, op);
  expect2d(u, 'u', N, r, op);
  expect2d(dy, 'dy', N, OUT, op);
  expect2d(grads.dA, 'dA', r, IN, op);
  expect2d(grads.dB, 'dB', OUT, r, op);
  if (grads.dx) expect2d(grads.dx, 'dx', N, IN, op);
  checkOptions(op, opts);
  const du = opts.du ?? emptyTensor(ctx, 'f32', [N, r], 'lora du');
  expect2d(du, 'du', N, r, op);
  const variant = opts.variant ?? DEFAULT_LORA_VARIANT;
  const s = opts.scale;
  // du (N, r) = s · dy (N, OUT) · B (OUT, r)
  await product(
    ctx,
    { a: dy, b: B, c: du, M: N, P: r, K: OUT, aSm: OUT, aSk: 1, bSk: r, bSn: 1, alpha: s, accumulate: false, mask: 'none', label: 'lora du=s·dyB' },
    opts.dropout,
    variant,
  );
  // dB (OUT, r) += s · dyᵀ (OUT, N) · u (N, r)
  await product(
    ctx,
    { a: dy, b: u, c: grads.dB, M: OUT, P: r, K: N, aSm: 1, aSk: OUT, bSk: r, bSn: 1, alpha: s, accumulate: true, mask: 'none', label: 'lora dB+=s·dyᵀu' },
    opts.dropout,
    variant,
  );
  // dA (r, IN) += duᵀ (r, N) · drop(x) (N, IN)
  await product(
    ctx,
    { a: du, b: x, c: grads.dA, M: r, P: IN, K: N, aSm: 1, aSk: r, bSk: IN, bSn: 1, alpha: 1, accumulate: true, mask: 'b', label: 'lora dA+=duᵀdrop(x)' },
    opts.dropout,
    variant,
  );
  // dx (N, IN) += mask ⊙ du (N, r) · A (r, IN) / (1-p)
  if (grads.dx) {
    await product(
      ctx,
      { a: du, b: A, c: grads.dx, M: N, P: IN, K: r, aSm: r, aSk: 1, bSk: IN, bSn: 1, alpha: 1, accumulate: true, mask: 'c', label: 'lora dx+=mask⊙duA' },
      opts.dropout,
      variant,
    );
  }
  return { du };
}
