// Attention version 2: FlashAttention-2 tiling (shaders/attention_fa2.wgsl,
// attention_fa2_bwd_dq.wgsl, attention_fa2_bwd_dkdv.wgsl). Same tensors, masks and results as
// version 1 (see ops/attention.ts for the shapes); what changes is the work split:
//   forward, dq:  a workgroup per (b, h, block of BR query rows); K/V tiles of BC keys staged in
//                 workgroup memory and shared by the block's rows
//   dk, dv:       a workgroup per (b, g, block of BK key rows); tiles of BQ queries (q, dout,
//                 lse, delta, document ids) staged in workgroup memory, the group's q heads in turn
// Tile sizes depend on the head dim only: the largest tiles (at most 32) whose workgroup memory
// fits FA2_WORKGROUP_BYTES (16 KiB, WebGPU's default maxComputeWorkgroupStorageSize, so the
// same pipelines work on every adapter); fa2IllegalReason checks them against the device anyway.
import type { AdapterLimits, GpuContext } from '../device';
import { dispatch } from '../dispatch';
import { FA2_KV_TILE } from '../fragments';
import type { WgslSource } from '../shader';
import fwdCode from '../shaders/attention_fa2.wgsl?raw';
import dkdvCode from '../shaders/attention_fa2_bwd_dkdv.wgsl?raw';
import dqCode from '../shaders/attention_fa2_bwd_dq.wgsl?raw';
import type { Tensor } from '../tensor';

export const ATTENTION_FA2_SHADER: WgslSource = { file: 'attention_fa2.wgsl', code: fwdCode, fragments: [FA2_KV_TILE] };
export const ATTENTION_FA2_BWD_DQ_SHADER: WgslSource = { file: 'attention_fa2_bwd_dq.wgsl', code: dqCode, fragments: [FA2_KV_TILE] };
export const ATTENTION_FA2_BWD_DKDV_SHADER: WgslSource = { file: 'attention_fa2_bwd_dkdv.wgsl', code: dkdvCode };

/** Workgroup memory every FA2 pipeline stays within (WebGPU's default limit). */
export const FA2_WORKGROUP_BYTES = 16384;
/** Query rows (forward, dq) and key rows (dk/dv) per workgroup. */
export const FA2_ROWS = 32;
/** Largest tile (MAX_BC / MAX_BQ in the shaders: the per-thread score arrays). */
const FA2_MAX_TILE = 32;

export interface Fa2Tiles {
  D: number;
  /** threads per row: 1 up to 128 dims, 2 above */
  ds: number;
  /** forward: BR query rows per workgroup, BC keys per tile */
  fwd: { br: number; bc: number; bytes: number };
  /** dq: BR query rows per workgroup, BC keys per tile */
  dq: { br: number; bc: number; bytes: number };
  /** dk/dv: BK key rows per workgroup, BQ queries per tile */
  dkdv: { bk: number; bq: number; bytes: number };
}

/** Size of a workgroup variable as Dawn counts it: rounded up to 16 bytes. */
const wgVar = (bytes: number) => Math.ceil(bytes / 16) * 16;

/** Workgroup bytes of attention_fa2.wgsl (kt, vt, dt, part). */
export function fa2FwdBytes(D: number, ds: number, br: number, bc: number): number {
  return 2 * wgVar(bc * D * 4) + wgVar(bc * 4) + wgVar(4 * ((ds - 1) * br * bc * ds + 1));
}
/** Workgroup bytes of attention_fa2_bwd_dq.wgsl (kt, vt, dt, part of vec2). */
export function fa2DqBytes(D: number, ds: number, br: number, bc: number): number {
  return 2 * wgVar(bc * D * 4) + wgVar(bc * 4) + wgVar(8 * ((ds - 1) * br * bc * ds + 1));
}
/** Workgroup bytes of attention_fa2_bwd_dkdv.wgsl (qt, ot, ldt, dt, part of vec2). */
export function fa2DkdvBytes(D: number, ds: number, bk: number, bq: number): number {
  return 2 * wgVar(bq * D * 4) + wgVar(bq * 8) + wgVar(bq * 4) + wgVar(8 * ((ds - 1) * bk * bq * ds + 1));
}

function largestTile(bytes: (tile: number) => number): number {
  let t = FA2_MAX_TILE;
  while (t > 1 && bytes(t) > FA2_WORKGROUP_BYTES) t--;
  return t;
}

/** Tile sizes for head dim D (a multiple of 4, at most 256; above 128 a multiple of 8). */
export function fa2Tiles(D: number): Fa2Tiles {
  const ds = D > 128 ? 2 : 1;
  const br = FA2_ROWS;
  const bc = largestTile((t) => fa2FwdBytes(D, ds, br, t));
  const dqc = largestTile((t) => fa2DqBytes(D, ds, br, t));
  const bq = largestTile((t) => fa2DkdvBytes(D, ds, br, t));
  return {
    D,
    ds,
    fwd: { br, bc, bytes: fa2FwdBytes(D, ds, br, bc) },
    dq: { br, bc: dqc, bytes: fa2DqBytes(D, ds, br, dqc) },
    dkdv: { bk: br, bq, bytes: fa2DkdvBytes(D, ds, br, bq) },
  };
}

/**
 * Why version 2 cannot run this problem on a device with these limits (null: it can). rows is
 * the grid: query (or key) rows per batch entry; heads: B·Hq (the larger of B·Hq and B·Hkv).
 */
export function fa2IllegalReason(limits: AdapterLimits, D: number, rows: number, heads: number): string | null {
  const t = fa2Tiles(D);
  const bytes = Math.max(t.fwd.bytes, t.dq.bytes, t.dkdv.bytes);
  if (bytes > limits.maxComputeWorkgroupStorageSize) {
    return `needs ${bytes} bytes of workgroup memory at head dim ${D}, the device allows ${limits.maxComputeWorkgroupStorageSize}`;
  }
  const threads = FA2_ROWS * t.ds;
  if (threads > limits.maxComputeInvocationsPerWorkgroup || threads > limits.maxComputeWorkgroupSizeX) {
    return `needs ${threads} threads per workgroup, the device allows ${Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX)}`;
  }
  const groups = Math.max(Math.ceil(rows / FA2_ROWS), heads);
  if (groups > limits.maxComputeWorkgroupsPerDimension) {
    return `needs ${groups} workgroups in one dimension, the device allows ${limits.maxComputeWorkgroupsPerDimension}`;
  }
  return null;
}

export interface Fa2ForwardDispatch {
  B: number;
  Tq: number;
  Tk: number;
  Hq: number;
  Hkv: number;
  D: number;
  qPos0: number;
  scale: number;
  window: number;
  docIds?: Tensor;
  label: string;
}

/** Records attention_fwd_v2 (out, lse); the caller has checked the tensors and fa2IllegalReason. */
export async function recordFa2Forward(ctx: GpuContext, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, a: Fa2ForwardDispatch): Promise<void> {
  const t = fa2Tiles(a.D);
  const pipeline = await ctx.pipelines.get({
    shader: ATTENTION_FA2_SHADER,
    entryPoint: 'attention_fwd_v2',
    constants: { BR: t.fwd.br, BC: t.fwd.bc, D4: a.D / 4, DS: t.ds },
  });
  const params = new ArrayBuffer(48);
  const u = new Uint32Array(params);
  u.set([a.B, a.Tq, a.Tk, a.Hq, a.Hkv, a.qPos0, a.docIds ? 1 : 0]);
  new Float32Array(params)[7] = a.scale;
  u[8] = a.window;
  dispatch(ctx, {
    pipeline,
    bindings: [q, k, v, a.docIds ?? ctx.emptyBuffer, out, lse],
    uniforms: u,
    workgroups: [Math.ceil(a.Tq / t.fwd.br), a.B * a.Hq],
    label: a.label,
  });
}

export interface Fa2BackwardDispatch {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  scale: number;
  window: number;
  docIds?: Tensor;
  /** shape words for the labels */
  shape: string;
}

/** Records attention_bwd_dq_v2 and attention_bwd_dkdv_v2; scratch holds (lse, delta) already. */
export async function recordFa2Backward(
  ctx: GpuContext,
  t: { q: Tensor; k: Tensor; v: Tensor; dout: Tensor; scratch: Tensor; dq: Tensor; dk: Tensor; dv: Tensor },
  a: Fa2BackwardDispatch,
): Promise<void> {
  const tiles = fa2Tiles(a.D);
  const D4 = a.D / 4;
  const DS = tiles.ds;
  const [dqPipe, dkdvPipe] = await Promise.all([
    ctx.pipelines.get({ shader: ATTENTION_FA2_BWD_DQ_SHADER, entryPoint: 'attention_bwd_dq_v2', constants: { BR: tiles.dq.br, BC: tiles.dq.bc, D4, DS } }),
    ctx.pipelines.get({ shader: ATTENTION_FA2_BWD_DKDV_SHADER, entryPoint: 'attention_bwd_dkdv_v2', constants: { BK: tiles.dkdv.bk, BQ: tiles.dkdv.bq, D4, DS } }),
  ]);
  const params = () => {
    const buf = new ArrayBuffer(32);
    new Uint32Array(buf).set([a.T, a.Hq, a.Hkv, a.docIds ? 1 : 0]);
    new Float32Array(buf)[4] = a.scale;
    new Uint32Array(buf)[5] = a.window;
    return new Uint32Array(buf);
  };
  const doc = a.docIds ?? ctx.emptyBuffer;
  dispatch(ctx, {
    pipeline: dqPipe,
    bindings: [t.q, t.k, t.v, doc, t.dout, t.scratch, t.dq],
    uniforms: params(),
    workgroups: [Math.ceil(a.T / tiles.dq.br), a.B * a.Hq],
    label: `attention bwd dq fa2 ${a.shape}`,
  });
  dispatch(ctx, {
    pipeline: dkdvPipe,
    bindings: [t.q, t.k, t.v, doc, t.dout, t.scratch, t.dk, t.dv],
    uniforms: params(),
    workgroups: [Math.ceil(a.T / tiles.dkdv.bk), a.B * a.Hkv],
    label: `attention bwd dk dv fa2 ${a.shape}`,
  });
}
