// The matmul family's kernel versions, which of them are legal for a problem, and how each one is
// dispatched. Shared by matmulXWt (y = x·Wᵀ), matmulDyW (dx = dy·W) and matmulDyTX (dW = dyᵀ·x),
// whose shaders all number their versions the same way:
//   v1  one output per thread                                   any shape
//   v2  4 x 4 outputs per thread in registers, scalar loads     any shape
//   v3  4 x 4 outputs per thread, tiles in workgroup memory     any shape
//   v4  8 x 8 outputs per thread in registers, vec4 loads       the vec4 dims % 4 == 0
//   v5  8 x 8 per thread, loads shared across a quad, vec4      vec4 dims % 4 == 0, subgroups
//   v6  8 x 8 per thread, loads shared across a quad, scalar    any shape, subgroups
//   v7  register-tiled: BM x BN output tiles per workgroup, A and B tiles BK deep in workgroup
//       memory (coalesced loads, scalar or vec4), TM x TN outputs per thread, optional double
//       buffering (one barrier per tile); override constants but for the load width (vec4
//       loads are a second module: one entry point may not use both views of a binding)
//                                                               vec4 ones: the vec4 dims % 4 == 0
// A variant = a version plus its override constants (workgroup shape, tile depth, ...), plus
// whether it reads an fp16 W as native f16 (`*_f16`: versions 2, 3, 4, 7 with 'shader-f16'; the
// others unpack u32 pairs). Not here: a subgroup-matrix version (chromium-experimental-subgroup-
// matrix): neither this machine's adapter nor its WGSL validator (naga) has the extension, so it
// could be neither run nor validated, and a variant that cannot be checked is not added.
// v7 is shaped for GPUs (workgroup-memory reuse, coalescing); its register tiles are loops over
// arrays, which SwiftShader keeps in memory (see matmul.wgsl), so its speed there says nothing.
import type { GpuContext } from '../device';
import type { WgslSource } from '../shader';
import type { Tensor } from '../tensor';
import type { QuantWDtype } from './quantWeights';

/** What W holds: fp16, f32, or a quantized layout (quantWeights.ts) read by fragments/quant_weights.wgsl. */
export type WDtype = 'f16' | 'f32' | QuantWDtype;

export type MatmulOp = 'xwt' | 'dyw' | 'dytx';
type MatmulVersion = 1 | 2 | 3 | 4 | 5 | 6 | 7;

export interface MatmulVariant {
  version: MatmulVersion;
  /** threads per workgroup along the output's columns / rows (v1-v4, v7); quads (2 x 2 threads) for v5, v6 */
  wgX: number;
  wgY: number;
  /** reduction depth of one workgroup-memory tile (v3, v7) */
  tileK?: number;
  /** v7: outputs per thread along rows (TM) and columns (TN), 1..8 each */
  tm?: number;
  tn?: number;
  /** v7: vec4 global loads (needs the vec4 alignment of the problem) */
  vec4?: boolean;
  /** v7: two tile buffers, the next tile loaded while this one is used (one barrier per tile) */
  double?: boolean;
  /** reads W as native f16 (needs 'shader-f16' and an fp16 W; accumulation stays f32) */
  f16?: boolean;
  /**
   * Test-only: the kernel's epilogue deliberately corrupts the last output (override FAULT in the
   * io fragments), so tests can check that validation rejects a variant computing wrong results
   * on the real adapter. No table entry sets it.
   */
  fault?: boolean;
}

interface VersionInfo {
  /** outputs one thread computes along the output's columns and rows (v7: from the variant) */
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
  7: { perThread: [0, 0], vec4: false, subgroups: false },
};

/** v7 entries: BM x BN tile, BK deep, TM x TN per thread, vec4 loads, double buffering. */
function v7(wgX: number, wgY: number, tileK: number, tm: number, tn: number, vec4: boolean, double: boolean): MatmulVariant {
  return { version: 7, wgX, wgY, tileK, tm, tn, vec4, double };
}

/** The same variant names for every op of the family (each op has all versions). */
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
  // v7_{BM}x{BN}_k{BK}_{TM}x{TN}[_v4][_db]
  v7_64x64_k8_4x4_v4_db: v7(16, 16, 8, 4, 4, true, true),
  v7_64x64_k16_4x4_v4: v7(16, 16, 16, 4, 4, true, false),
  v7_128x128_k8_8x8_v4: v7(16, 16, 8, 8, 8, true, false),
  v7_128x64_k8_8x4_v4_db: v7(16, 16, 8, 8, 4, true, true),
  v7_64x64_k8_4x4_db: v7(16, 16, 8, 4, 4, false, true),
  v7_32x32_k16_2x2: v7(16, 16, 16, 2, 2, false, false),
  // W read as native f16 ('shader-f16'); fp16 W of xwt and dyw only
  v2_8x8_f16: { version: 2, wgX: 8, wgY: 8, f16: true },
  v3_16x16_k16_f16: { version: 3, wgX: 16, wgY: 16, tileK: 16, f16: true },
  v4_8x8_f16: { version: 4, wgX: 8, wgY: 8, f16: true },
  v7_64x64_k8_4x4_v4_db_f16: { ...v7(16, 16, 8, 4, 4, true, true), f16: true },
  v7_128x64_k8_8x4_v4_db_f16: { ...v7(16, 16, 8, 8, 4, true, true), f16: true },
  v7_64x64_k8_4x4_db_f16: { ...v7(16, 16, 8, 4, 4, false, true), f16: true },
};

/** Legal on every adapter and shape (unless it failed validation there). */
export const FALLBACK_VARIANT = 'v2_8x8';

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
  wDtype?: WDtype;
}

export function variantOf(name: string): MatmulVariant {
  const v = MATMUL_FAMILY_VARIANTS[name];
  if (!v) throw new Error(`matmul: unknown variant '${name}' (have ${Object.keys(MATMUL_FAMILY_VARIANTS).join(', ')})`);
  return v;
}

function threads(v: MatmulVariant): number {
  return VERSION_INFO[v.version].subgroups ? v.wgX * v.wgY * 4 : v.wgX * v.wgY;
}

/** Outputs one thread computes along the output's columns and rows. */
function perThread(v: MatmulVariant): [number, number] {
  return v.version === 7 ? [v.tn ?? 4, v.tm ?? 4] : VERSION_INFO[v.version].perThread;
}

function usesVec4(v: MatmulVariant): boolean {
  return v.version === 7 ? v.vec4 === true : VERSION_INFO[v.version].vec4;
}

/** Bytes of workgroup memory a variant declares (v3, v7), 0 for the others. */
export function workgroupBytes(v: MatmulVariant): number {
  const bk = v.tileK ?? 16;
  if (v.version === 3) return bk * (v.wgX + v.wgY) * 16;
  if (v.version !== 7) return 0;
  const [tn, tm] = perThread(v);
  // each tile row padded by one word against bank conflicts (matmul_rt.wgsl)
  return (v.double ? 2 : 1) * bk * (v.wgY * tm + 1 + v.wgX * tn + 1) * 4;
}

/** What is wrong with a v7 variant's parameters themselves (a bad table entry), or null. */
function v7ConfigProblem(v: MatmulVariant): string | null {
  const [tn, tm] = perThread(v);
  const bk = v.tileK ?? 16;
  if (!(tm >= 1 && tm <= 8 && tn >= 1 && tn <= 8)) return `TM x TN ${tm}x${tn} outside 1..8 (the kernel's register arrays hold 8 x 8)`;
  if (bk < 1) return `BK ${bk} < 1`;
  if (v.vec4 && (bk % 4 !== 0 || (v.wgY * tm) % 4 !== 0 || (v.wgX * tn) % 4 !== 0)) return `vec4 loads need BK, BM and BN multiples of 4`;
  return null;
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
  const lim = ctx.description.limits;
  const failed = failures.get(ctx.device)?.get(trustKey(p, name));
  if (failed !== undefined) return `variant ${name} failed validation on this device: ${failed}`;
  if (v.version === 7) {
    const bad = v7ConfigProblem(v);
    if (bad) return `variant ${name} is misconfigured: ${bad}`;
  }
  if (v.f16) {
    if (p.op === 'dytx' || p.wDtype !== 'f16') return `variant ${name} reads W as native f16: only for an fp16 W (x·Wᵀ, dy·W)`;
    if (!ctx.device.features.has('shader-f16')) {
      return `variant ${name} reads W as native f16 and needs the 'shader-f16' feature, which this device lacks (the packed-u32 variants read fp16 W instead)`;
    }
    if (VERSION_INFO[v.version].subgroups) return `variant ${name} is misconfigured: no native-f16 quad kernels`;
  }
  if (usesVec4(v) && !p.vec4Ok) {
    return `variant ${name} uses vec4 loads: ${vec4Rule(p.op)} must be multiples of 4`;
  }
  if (VERSION_INFO[v.version].subgroups && !ctx.device.features.has('subgroups')) {
    return `variant ${name} needs the 'subgroups' feature, which this device lacks`;
  }
  if (threads(v) > lim.maxComputeInvocationsPerWorkgroup) {
    return `variant ${name} has ${threads(v)} threads per workgroup, above this device's ${lim.maxComputeInvocationsPerWorkgroup}`;
  }
  if (v.wgX > lim.maxComputeWorkgroupSizeX || v.wgY > lim.maxComputeWorkgroupSizeY) {
    return `variant ${name} has a ${v.wgX}x${v.wgY} workgroup, above this device's ${lim.maxComputeWorkgroupSizeX}x${lim.maxComputeWorkgroupSizeY}`;
  }
  const bytes = workgroupBytes(v);
  if (bytes > lim.maxComputeWorkgroupStorageSize) {
    return `variant ${name} needs ${bytes} bytes of workgroup memory, above this device's ${lim.maxComputeWorkgroupStorageSize}`;
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
  const [pn, pm] = perThread(v);
  return [Math.ceil(p.cols / (pn * v.wgX)), Math.ceil(p.rows / (pm * v.wgY)), p.batch];
}

/**
 * The shader modules of one op: v1-v4, the quad versions v5/v6, the register-tiled v7 (scalar,
 * vec4 loads). An op with a base weight W has one such set per way of reading W (packed fp16 /
 * f32, quantized): the same kernel bodies composed with another weights fragment.
 */
export interface MatmulShaders {
  plain: WgslSource;
  quad: WgslSource;
  tiled: WgslSource;
  tiledVec4: WgslSource;
  /** the same kernels reading W as native f16 (ops with a base weight W only) */
  nativeF16?: NativeF16Shaders;
}

/** Native-f16 modules: no quad versions (nothing to validate their text with here). */
export type NativeF16Shaders = Pick<MatmulShaders, 'plain' | 'tiled' | 'tiledVec4'>;

/** Entry point and override constants of a variant in its shader file. */
export function pipelineSpecFor(
  v: MatmulVariant,
  entryPrefix: string,
  shaders: MatmulShaders,
  constants: Record<string, number>,
): { shader: WgslSource; entryPoint: string; constants: Record<string, number> } {
  const entryPoint = `${entryPrefix}_v${v.version}`;
  // FAULT only when set, so the real variants' pipelines (and cache keys) do not mention it
  const fault: Record<string, number> = v.fault ? { FAULT: 1 } : {};
  if (v.f16) {
    const native = shaders.nativeF16;
    if (!native || VERSION_INFO[v.version].subgroups) throw new Error(`matmul: no native-f16 module for ${entryPoint}`);
    // the native fragment always reads f16: no W_F16 override
    const { W_F16: _packed, ...rest } = constants;
    shaders = { ...shaders, ...native };
    constants = rest;
  }
  const { plain, quad } = shaders;
  if (v.version === 7) {
    const [tn, tm] = perThread(v);
    return {
      shader: v.vec4 ? shaders.tiledVec4 : shaders.tiled,
      entryPoint,
      constants: { ...constants, ...fault, WG_X: v.wgX, WG_Y: v.wgY, BK: v.tileK ?? 16, TM: tm, TN: tn, STAGES: v.double ? 2 : 1 },
    };
  }
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
  // On GPUs: register-tiled first (native f16 W where the adapter has it, then packed), vec4
  // loads before scalar ones; the v3 tiles after them; every choice is validated before use.
  const preferred = ctx.description.isSoftware
    ? ['v5_q2x2', 'v6_q2x2', 'v4_8x8', FALLBACK_VARIANT]
    : [
        'v7_64x64_k8_4x4_v4_db_f16',
        'v7_64x64_k8_4x4_db_f16',
        'v7_64x64_k8_4x4_v4_db',
        'v7_64x64_k8_4x4_db',
        'v3_16x16_k16',
        'v3_8x8_k16',
        FALLBACK_VARIANT,
      ];
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
