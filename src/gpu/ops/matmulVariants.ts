// The matmul family's kernel versions, which of them are legal for a problem, and how each one is
// dispatched. Shared by matmulXWt (y = x·Wᵀ), matmulDyW (dx = dy·W) and matmulDyTX (dW = dyᵀ·x),
// whose shaders all number their versions the same way:
//   v1  one output per thread                                   any shape
//   v2  4 x 4 outputs per thread in registers, scalar loads     any shape
//   v3  4 x 4 outputs per thread, tiles in workgroup memory     any shape
//   v4  8 x 8 outputs per thread in registers, vec4 loads       the vec4 dims % 4 == 0
//   v5  8 x 8 per thread, loads shared across a quad, vec4      vec4 dims % 4 == 0, subgroups
//   v6  8 x 8 per thread, loads shared across a quad, scalar    any shape, subgroups
// A variant = a version plus its override constants (workgroup shape, tile depth).
import type { GpuContext } from '../device';
import type { WgslSource } from '../shader';
import type { Tensor } from '../tensor';

export type MatmulOp = 'xwt' | 'dyw' | 'dytx';
type MatmulVersion = 1 | 2 | 3 | 4 | 5 | 6;

export interface MatmulVariant {
  version: MatmulVersion;
  /** threads per workgroup along the output's columns / rows (v1-v4); quads (2 x 2 threads) for v5, v6 */
  wgX: number;
  wgY: number;
  /** reduction depth of one workgroup-memory tile (v3 only) */
  tileK?: number;
  /**
   * Test-only: the kernel's epilogue deliberately corrupts the last output (override FAULT in the
   * io fragments), so tests can check that validation rejects a variant computing wrong results
   * on the real adapter. No table entry sets it.
   */
  fault?: boolean;
}

interface VersionInfo {
  /** outputs one thread computes along the output's columns and rows */
  perThread: [number, number];
  vec4: boolean;
  subgroups: boolean;
}

const VERSION_INFO: Record<MatmulVersion, VersionInfo> = {
  1: { perThread: [1, 1], vec4: false, subgroups: false },
  2: { perThread: [4, 4], vec4: false, subgroups: false },
  3: { perThread: [4, 4], vec4: false, subgroups: false },
  4: { perThread: [8, 8], vec4: true, subgroups: false },
  // a quad (counted by wgX/wgY) is 2 x 2 threads of 8 x 8
  5: { perThread: [16, 16], vec4: true, subgroups: true },
  6: { perThread: [16, 16], vec4: false, subgroups: true },
};

/** The same variant names for every op of the family (each op has all six versions). */
export const MATMUL_FAMILY_VARIANTS: Record<string, MatmulVariant> = {
  v1_16x16: { version: 1, wgX: 16, wgY: 16 },
  v2_8x8: { version: 2, wgX: 8, wgY: 8 },
  v2_16x8: { version: 2, wgX: 16, wgY: 8 },
  v2_16x16: { version: 2, wgX: 16, wgY: 16 },
  v3_8x8_k16: { version: 3, wgX: 8, wgY: 8, tileK: 16 },
  v3_16x16_k8: { version: 3, wgX: 16, wgY: 16, tileK: 8 },
  v3_16x16_k16: { version: 3, wgX: 16, wgY: 16, tileK: 16 },
  v4_8x8: { version: 4, wgX: 8, wgY: 8 },
  v4_4x4: { version: 4, wgX: 4, wgY: 4 },
  v5_q2x2: { version: 5, wgX: 2, wgY: 2 },
  v5_q4x4: { version: 5, wgX: 4, wgY: 4 },
  v6_q2x2: { version: 6, wgX: 2, wgY: 2 },
};

/** Always legal, on every adapter and shape. */
const FALLBACK_VARIANT = 'v2_8x8';

export interface MatmulOptions {
  /** a name from MATMUL_VARIANTS; throws if it cannot run this shape on this device */
  variant?: string;
  /** write here instead of allocating (must have the output's exact shape, f32) */
  out?: Tensor;
  /** out += result instead of out = result; needs `out` */
  accumulate?: boolean;
  /** multiplies the product (not the bias, not what is accumulated into); default 1 */
  alpha?: number;
}

/** What one call of an op needs, as far as choosing and dispatching a kernel goes. */
export interface MatmulProblem {
  op: MatmulOp;
  /** output rows / columns (xwt: M x N, dyw: M x K, dytx: N x K) */
  rows: number;
  cols: number;
  /** reduction length (xwt: K, dyw: N, dytx: M) */
  depth: number;
  /** true when every dimension and batch stride read with vec4 loads is a multiple of 4 */
  vec4Ok: boolean;
  batch: number;
  /** dtype of W (xwt, dyw); absent means f32 (dytx has no W) */
  wDtype?: 'f16' | 'f32';
}

export function variantOf(name: string): MatmulVariant {
  const v = MATMUL_FAMILY_VARIANTS[name];
  if (!v) throw new Error(`matmul: unknown variant '${name}' (have ${Object.keys(MATMUL_FAMILY_VARIANTS).join(', ')})`);
  return v;
}

function threads(v: MatmulVariant): number {
  return VERSION_INFO[v.version].subgroups ? v.wgX * v.wgY * 4 : v.wgX * v.wgY;
}

/**
 * The validation class of a variant: the op, W's dtype and the vec4 alignment. Validation on the
 * running adapter (matmulTrust.ts) is done once per device for each class and variant.
 */
export function trustKey(p: MatmulProblem, name: string): string {
  return `${p.op}/w${p.wDtype ?? 'f32'}/${p.vec4Ok ? 'v4' : 's'}/${name}`;
}

// Variants that computed wrong results on a device (trustKey -> why), so they are illegal there.
const failures = new WeakMap<GPUDevice, Map<string, string>>();

/** Records that `name` computed wrong results for problems like `p` on this device: it is never used there again. */
export function recordValidationFailure(ctx: GpuContext, p: MatmulProblem, name: string, why: string): void {
  let m = failures.get(ctx.device);
  if (!m) failures.set(ctx.device, (m = new Map()));
  m.set(trustKey(p, name), why);
}

/** Why `name` cannot run `p` on this device, or null when it can. */
export function illegalReason(ctx: GpuContext, name: string, p: MatmulProblem): string | null {
  const v = variantOf(name);
  const info = VERSION_INFO[v.version];
  const lim = ctx.description.limits;
  const failed = failures.get(ctx.device)?.get(trustKey(p, name));
  if (failed !== undefined) return `variant ${name} failed validation on this device: ${failed}`;
  if (info.vec4 && !p.vec4Ok) {
    return `variant ${name} uses vec4 loads: ${vec4Rule(p.op)} must be multiples of 4`;
  }
  if (info.subgroups && !ctx.device.features.has('subgroups')) {
    return `variant ${name} needs the 'subgroups' feature, which this device lacks`;
  }
  if (threads(v) > lim.maxComputeInvocationsPerWorkgroup) {
    return `variant ${name} has ${threads(v)} threads per workgroup, above this device's ${lim.maxComputeInvocationsPerWorkgroup}`;
  }
  if (v.version === 3) {
    const bytes = (v.tileK ?? 16) * (v.wgX + v.wgY) * 16;
    if (bytes > lim.maxComputeWorkgroupStorageSize) {
      return `variant ${name} needs ${bytes} bytes of workgroup memory, above this device's ${lim.maxComputeWorkgroupStorageSize}`;
    }
  }
  const [gx, gy] = workgroupsFor(v, p);
  const max = lim.maxComputeWorkgroupsPerDimension;
  if (gx > max || gy > max || p.batch > max) return `variant ${name} would need ${gx}x${gy}x${p.batch} workgroups (limit ${max})`;
  return null;
}

function vec4Rule(op: MatmulOp): string {
  return op === 'xwt' ? 'K' : 'N and K';
}

export function legalVariants(ctx: GpuContext, p: MatmulProblem): string[] {
  return Object.keys(MATMUL_FAMILY_VARIANTS).filter((n) => illegalReason(ctx, n, p) === null);
}

export function workgroupsFor(v: MatmulVariant, p: MatmulProblem): [number, number, number] {
  const [pn, pm] = VERSION_INFO[v.version].perThread;
  return [Math.ceil(p.cols / (pn * v.wgX)), Math.ceil(p.rows / (pm * v.wgY)), p.batch];
}

/** Entry point and override constants of a variant in its shader file. */
export function pipelineSpecFor(
  v: MatmulVariant,
  entryPrefix: string,
  plain: WgslSource,
  quad: WgslSource,
  constants: Record<string, number>,
): { shader: WgslSource; entryPoint: string; constants: Record<string, number> } {
  const entryPoint = `${entryPrefix}_v${v.version}`;
  // FAULT only when set, so the real variants' pipelines (and cache keys) do not mention it
  const fault: Record<string, number> = v.fault ? { FAULT: 1 } : {};
  if (VERSION_INFO[v.version].subgroups) {
    return { shader: quad, entryPoint, constants: { ...constants, ...fault, QX: v.wgX, QY: v.wgY } };
  }
  const c: Record<string, number> = { ...constants, ...fault, WG_X: v.wgX, WG_Y: v.wgY };
  if (v.version === 3) c.TILE_K = v.tileK ?? 16;
  return { shader: plain, entryPoint, constants: c };
}

/**
 * The 32-byte parameter block every matmul shader reads:
 * { rows-ish M, N, K, flags, alpha (f32), three batch strides in elements }.
 */
export function matmulParams(
  dims: [number, number, number],
  flags: number,
  alpha: number,
  strides: [number, number, number],
): Uint32Array {
  const buf = new ArrayBuffer(32);
  const u = new Uint32Array(buf);
  const f = new Float32Array(buf);
  u.set([dims[0], dims[1], dims[2], flags]);
  f[4] = alpha;
  u.set(strides, 5);
  return u;
}

/**
 * The variant an op runs, as far as legality goes: the caller's explicit choice (which must be
 * legal), else the autotuner's winner for this shape class on this device, else a per-adapter
 * default. Variants that failed validation on this device are illegal, so never chosen; the ops
 * validate the choice before its first use (matmulTrust.ts).
 */
export function chooseVariant(ctx: GpuContext, opName: string, p: MatmulProblem, tuned: string | undefined, requested?: string): string {
  if (requested !== undefined) {
    const why = illegalReason(ctx, requested, p);
    if (why) throw new Error(`${opName}: ${why}`);
    return requested;
  }
  if (tuned !== undefined && MATMUL_FAMILY_VARIANTS[tuned] && illegalReason(ctx, tuned, p) === null) return tuned;
  return defaultVariant(ctx, p);
}

/**
 * Untuned preference, best first, ending with every other variant of the table (so a variant that
 * fails validation always has a next one). Software adapters: share loads across quads, no
 * barriers (see matmul_sg.wgsl). GPUs: workgroup-memory tiles.
 */
export function defaultOrder(ctx: GpuContext): string[] {
  const preferred = ctx.description.isSoftware
    ? ['v5_q2x2', 'v6_q2x2', 'v4_8x8', FALLBACK_VARIANT]
    : ['v3_16x16_k16', 'v3_8x8_k16', FALLBACK_VARIANT];
  return [...preferred, ...Object.keys(MATMUL_FAMILY_VARIANTS).filter((n) => !preferred.includes(n))];
}

/** Untuned choice: the first legal variant of defaultOrder; throws (with every reason) when none is. */
export function defaultVariant(ctx: GpuContext, p: MatmulProblem): string {
  const order = defaultOrder(ctx);
  const found = order.find((n) => illegalReason(ctx, n, p) === null);
  if (found !== undefined) return found;
  const why = order.map((n) => illegalReason(ctx, n, p)).join('; ');
  throw new Error(`matmul: no usable kernel variant for ${p.op} ${p.rows}x${p.cols}x${p.depth} on ${ctx.description.name}: ${why}`);
}

/** A rank-2 (rows, cols) or rank-3 (batch, rows, cols) tensor's dimensions. */
interface MatDims {
  batch: number;
  rows: number;
  cols: number;
  rank: number;
}

export function matDims(opName: string, t: { shape: readonly number[]; dtype: string; label: string }, what: string, dtypes: string[]): MatDims {
  if (!dtypes.includes(t.dtype) || (t.shape.length !== 2 && t.shape.length !== 3)) {
    throw new Error(
      `${opName}: ${what} must be a rank-2 or rank-3 ${dtypes.join(' or ')} tensor, got ${t.dtype} [${t.shape.join(',')}] (${t.label})`,
    );
  }
  const s = t.shape;
  if (s.some((d) => d === 0)) throw new Error(`${opName}: ${what} has a zero dimension [${s.join(',')}] (${t.label}); skip the call instead`);
  return s.length === 2 ? { batch: 1, rows: s[0], cols: s[1], rank: 2 } : { batch: s[0], rows: s[1], cols: s[2], rank: 3 };
}

/** Batch count shared by the inputs: rank-2 inputs broadcast over a rank-3 one's batch. */
export function commonBatch(opName: string, a: MatDims, aName: string, b: MatDims, bName: string): number {
  if (a.rank === 3 && b.rank === 3 && a.batch !== b.batch) {
    throw new Error(`${opName}: ${aName} has batch ${a.batch} but ${bName} has batch ${b.batch}`);
  }
  return a.rank === 3 ? a.batch : b.rank === 3 ? b.batch : 1;
}

export function checkOut(opName: string, out: Tensor, shape: number[], inputs: [string, Tensor | null][]): void {
  if (out.dtype !== 'f32' || out.shape.length !== shape.length || out.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${opName}: out must be an f32 tensor of shape [${shape.join(',')}], got ${out.dtype} [${out.shape.join(',')}] (${out.label})`);
  }
  for (const [name, t] of inputs) {
    if (t && t.buffer === out.buffer) throw new Error(`${opName}: out (${out.label}) is the same buffer as ${name}; write to a separate tensor`);
  }
}
