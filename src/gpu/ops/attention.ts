// Causal grouped-query attention (FlashAttention-style), forward and backward.
//   q is (B, T, Hq, D), k and v are (B, T, Hkv, D) (exactly the projection outputs reshaped),
//   out is (B, T, Hq, D); all f32. Hq % Hkv == 0; q head h uses kv head h / (Hq/Hkv) (HF
//   repeat_kv order). Causal; scale 1/sqrt(D) unless given (Gemma 3: query_pre_attn_scalar^-0.5).
//   Optional sliding window W: token i attends to j only if i - W < j <= i (Hugging Face's
//   sliding_window_overlay: Mistral, Gemma 3's local layers); keys outside it are never visited.
//   Optional per-token docIds (B*T) int32:
//   token i attends to j only if j <= i and docId[j] == docId[i] (packed sequences). lse is
//   (B, Hq, T) f32 (natural log-sum-exp of the scaled scores), saved by forward for backward.
// Tensors are checked by dtype and element count only, so (N, Hq*D) projection outputs can be
// passed as they are. D must be a multiple of 4 (the kernels read rows as vec4s; every common
// head dim is) and at most 256 (above 128 a multiple of 8: Gemma 3's 256 splits each row over
// two threads); each head dim gets its own compiled pipelines. Nothing allocated here grows with T²: the forward keeps an online softmax
// per query row, the backward recomputes probabilities from q, k and lse.
// Kernels: shaders/attention.wgsl (forward, also used by KV-cache decode in attentionDecode.ts),
// shaders/attention_bwd_pre.wgsl (delta), attention_bwd_dq.wgsl, attention_bwd_dkdv.wgsl (version
// 1: a thread per row reading K/V from storage), and version 2, FlashAttention-2 tiling through
// workgroup memory (attention_fa2*.wgsl, ops/attentionFa2.ts). Without an explicit variant the
// ops run version 2 when it is legal on the device (tiles fit its limits) and has passed its check
// on this device for this head dim (prepareAttentionKernels, ops/attentionValidate.ts: real
// kernels vs the TS reference on a small problem), else version 1. The check is never run inside
// an op: its submits and readbacks would land in the middle of a training step. The trainer
// awaits it before its first step, so every step of a run (and of its resumption) uses the same
// version. KV-cache decode keeps version 1 unless asked.
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import type { WgslSource } from '../shader';
import fwdCode from '../shaders/attention.wgsl?raw';
import dkdvCode from '../shaders/attention_bwd_dkdv.wgsl?raw';
import dqCode from '../shaders/attention_bwd_dq.wgsl?raw';
import preCode from '../shaders/attention_bwd_pre.wgsl?raw';
import { downloadF32, emptyTensor, numel, releaseTensor, type Tensor } from '../tensor';
import { fa2IllegalReason, recordFa2Backward, recordFa2Forward } from './attentionFa2';
import { fa2SgIllegalReason, recordFa2SgForward } from './attentionFa2Sg';
import { attentionCheckFor, finishedAttentionCheck, type AttentionCheckReport, type AttentionRunner } from './attentionValidate';

export const ATTENTION_SHADER: WgslSource = { file: 'attention.wgsl', code: fwdCode };
export const ATTENTION_BWD_PRE_SHADER: WgslSource = { file: 'attention_bwd_pre.wgsl', code: preCode };
export const ATTENTION_BWD_DQ_SHADER: WgslSource = { file: 'attention_bwd_dq.wgsl', code: dqCode };
export const ATTENTION_BWD_DKDV_SHADER: WgslSource = { file: 'attention_bwd_dkdv.wgsl', code: dkdvCode };

/** Largest head dim: two threads per row, each holding up to 128 dims (MAX_D4 * 4 in the .wgsl files). */
export const ATTENTION_MAX_D = 256;
/** Largest head dim one thread holds in registers. */
const THREAD_MAX_D = 128;

/** Threads per attention row: 1 up to 128 dims, 2 above (each owns half the head's columns). */
export function attentionSlices(D: number): number {
  return D > THREAD_MAX_D ? 2 : 1;
}
/** Largest key block of the forward's online softmax (MAX_BK in attention.wgsl). */
const MAX_BK = 32;

export interface AttentionVariantV1 {
  version: 1;
  /** threads (= query or key rows) per workgroup */
  wg: number;
  /** keys per online-softmax step in the forward (<= 32) */
  bk: number;
}

/** FlashAttention-2 tiling; tile sizes follow from the head dim (attentionFa2.ts). */
export interface AttentionVariantV2 {
  version: 2;
}

/** Version 2's tiles with the forward's softmax split over subgroup lanes (attentionFa2Sg.ts); backward as version 2. */
export interface AttentionVariantV3 {
  version: 3;
}

export type AttentionVariant = AttentionVariantV1 | AttentionVariantV2 | AttentionVariantV3;

export const ATTENTION_VARIANTS: Record<string, AttentionVariant> = {
  v1_wg64_bk16: { version: 1, wg: 64, bk: 16 },
  v1_wg32_bk32: { version: 1, wg: 32, bk: 32 },
  v1_wg64_bk1: { version: 1, wg: 64, bk: 1 },
  v2_fa2: { version: 2 },
  v3_fa2_sg: { version: 3 },
};

/** Version 1, the fallback: what runs when version 2 is illegal here or failed its check. */
export const DEFAULT_ATTENTION_VARIANT = 'v1_wg64_bk16';
export const FA2_ATTENTION_VARIANT = 'v2_fa2';
export const FA2_SG_ATTENTION_VARIANT = 'v3_fa2_sg';
/** Threads per workgroup of the delta pre-pass when version 2 runs the backward. */
const FA2_PRE_WG = 64;

export interface AttentionShape {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  /** (B*T) i32: tokens attend only within their own document */
  docIds?: Tensor;
  /** defaults to 1/sqrt(D) */
  scale?: number;
  /** sliding window: query i sees keys j with i - window < j <= i; absent or null: full causal */
  window?: number | null;
  /** a key of ATTENTION_VARIANTS (the autotuner chooses per adapter) */
  variant?: string;
}

export interface AttentionForwardOptions extends AttentionShape {
  out?: Tensor;
  lse?: Tensor;
}

export interface AttentionBackwardOptions extends AttentionShape {
  dq?: Tensor;
  dk?: Tensor;
  dv?: Tensor;
  /** (B, Hq, T, 2) f32 workspace for (lse, delta); returned so it can be reused or released */
  scratch?: Tensor;
  // forward-only fields, accepted so the forward's options object can be passed as it is
  out?: Tensor;
  lse?: Tensor;
}

export interface AttentionGrads {
  dq: Tensor;
  dk: Tensor;
  dv: Tensor;
  /** the (lse, delta) workspace: release it after the work is flushed, or pass it back as opts.scratch */
  scratch: Tensor;
}

export function pickAttentionVariant(op: string, name = DEFAULT_ATTENTION_VARIANT): AttentionVariant {
  const v = ATTENTION_VARIANTS[name];
  if (!v) throw new Error(`${op}: unknown variant '${name}' (have ${Object.keys(ATTENTION_VARIANTS).join(', ')})`);
  if (v.version === 1 && (v.bk < 1 || v.bk > MAX_BK)) throw new Error(`${op}: variant '${name}' has bk ${v.bk}, must be 1..${MAX_BK}`);
  return v;
}

/** Throws unless t is an f32/i32 tensor with exactly `count` elements. */
export function expectTensor(op: string, what: string, t: Tensor, dtype: Tensor['dtype'], count: number, shape: string) {
  if (t.dtype !== dtype || numel(t.shape) !== count) {
    throw new Error(
      `${op}: ${what} must be an ${dtype} tensor of ${count} elements ${shape}, got ${t.dtype} [${t.shape.join(',')}] (${t.label})`,
    );
  }
}

function positiveInt(op: string, name: string, x: number) {
  if (!Number.isInteger(x) || x < 1) throw new Error(`${op}: ${name} must be a positive integer, got ${x}`);
}

/** Validates B, T, Hq, Hkv, D and scale; returns the scale to use. */
export function checkAttentionShape(op: string, s: { B: number; T: number; Hq: number; Hkv: number; D: number; scale?: number }): number {
  for (const k of ['B', 'T', 'Hq', 'Hkv', 'D'] as const) positiveInt(op, k, s[k]);
  if (s.Hq % s.Hkv !== 0) throw new Error(`${op}: Hq (${s.Hq}) must be a multiple of Hkv (${s.Hkv})`);
  if (s.D > ATTENTION_MAX_D) {
    throw new Error(`${op}: head dim D = ${s.D} exceeds ${ATTENTION_MAX_D}; raise MAX_D4 in the attention shaders`);
  }
  if (s.D % 4 !== 0) throw new Error(`${op}: head dim D = ${s.D} must be a multiple of 4 (rows are read as vec4s)`);
  if (s.D > THREAD_MAX_D && s.D % 8 !== 0) {
    throw new Error(`${op}: head dim D = ${s.D} above ${THREAD_MAX_D} must be a multiple of 8 (each row is split over two threads)`);
  }
  const scale = s.scale ?? 1 / Math.sqrt(s.D);
  if (!Number.isFinite(scale)) throw new Error(`${op}: scale must be finite, got ${scale}`);
  return scale;
}

/** The sliding window as the kernels take it: 0 for full causal attention, else the window (checked). */
export function windowParam(op: string, window: number | null | undefined): number {
  if (window === undefined || window === null) return 0;
  if (!Number.isInteger(window) || window < 1 || window > 2 ** 31) {
    throw new Error(`${op}: window must be a positive integer number of keys (or null for full attention), got ${window}`);
  }
  return window;
}

/** A written tensor must not share its buffer with any input of the same dispatch. */
export function expectDistinct(op: string, written: [string, Tensor][], read: [string, Tensor | undefined][]) {
  written.forEach(([wn, w], wi) => {
    const others = [...read, ...written.filter((_, i) => i !== wi)];
    for (const [rn, r] of others) {
      if (r && r.buffer === w.buffer) {
        throw new Error(`${op}: ${wn} shares its buffer with ${rn}; pass a separate output tensor`);
      }
    }
  });
}

function checkCommon(op: string, q: Tensor, k: Tensor, v: Tensor, o: AttentionShape): number {
  const scale = checkAttentionShape(op, o);
  const { B, T, Hq, Hkv, D } = o;
  expectTensor(op, 'q', q, 'f32', B * T * Hq * D, '(B, T, Hq, D)');
  expectTensor(op, 'k', k, 'f32', B * T * Hkv * D, '(B, T, Hkv, D)');
  expectTensor(op, 'v', v, 'f32', B * T * Hkv * D, '(B, T, Hkv, D)');
  if (o.docIds) expectTensor(op, 'docIds', o.docIds, 'i32', B * T, '(B*T)');
  return scale;
}

export interface ForwardDispatch {
  B: number;
  Tq: number;
  Tk: number;
  Hq: number;
  Hkv: number;
  D: number;
  qPos0: number;
  scale: number;
  /** 0: full causal */
  window: number;
  docIds?: Tensor;
  variant: AttentionVariant;
  label: string;
}

/** Records the forward kernel (shared by attentionForward and attentionDecode). */
export async function recordAttentionForward(
  ctx: GpuContext,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  lse: Tensor,
  a: ForwardDispatch,
): Promise<void> {
  if (a.variant.version === 3) {
    const why = fa2SgIllegalReason(ctx, a.D, a.Tq, a.B * a.Hq);
    if (why) throw new Error(`${a.label}: variant ${FA2_SG_ATTENTION_VARIANT} cannot run on this device: ${why}`);
    await recordFa2SgForward(ctx, q, k, v, out, lse, { ...a, label: `${a.label} fa2 sg` });
    return;
  }
  if (a.variant.version === 2) {
    const why = fa2IllegalReason(ctx.description.limits, a.D, a.Tq, a.B * a.Hq);
    if (why) throw new Error(`${a.label}: variant ${FA2_ATTENTION_VARIANT} cannot run on this device: ${why}`);
    await recordFa2Forward(ctx, q, k, v, out, lse, { ...a, label: `${a.label} fa2` });
    return;
  }
  const DS = attentionSlices(a.D);
  const pipeline = await ctx.pipelines.get({
    shader: ATTENTION_SHADER,
    entryPoint: 'attention_fwd_v1',
    constants: { WG: a.variant.wg, BK: a.variant.bk, D4: a.D / 4, DS },
  });
  const rows = a.B * a.Tq * a.Hq;
  const [gx, gy] = grid1d(ctx, Math.ceil((rows * DS) / a.variant.wg));
  const params = new ArrayBuffer(48);
  const u = new Uint32Array(params);
  u.set([a.B, a.Tq, a.Tk, a.Hq, a.Hkv, a.qPos0, a.docIds ? 1 : 0, rows, gx * a.variant.wg]);
  new Float32Array(params)[9] = a.scale;
  u[10] = a.window;
  dispatch(ctx, {
    pipeline,
    bindings: [q, k, v, a.docIds ?? ctx.emptyBuffer, out, lse],
    uniforms: u,
    workgroups: [gx, gy],
    label: a.label,
  });
}

/**
 * out = softmax(scale · q kᵀ + causal/window/document mask) v per head, and the lse of each query row.
 * Records into ctx.encoder(); the caller flushes.
 */
export async function attentionForward(
  ctx: GpuContext,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: AttentionForwardOptions,
): Promise<{ out: Tensor; lse: Tensor }> {
  const op = 'attentionForward';
  const scale = checkCommon(op, q, k, v, opts);
  const window = windowParam(op, opts.window);
  const { B, T, Hq, Hkv, D } = opts;
  const variant = resolveVariant(ctx, op, opts);
  if (opts.out) expectTensor(op, 'out', opts.out, 'f32', B * T * Hq * D, '(B, T, Hq, D)');
  if (opts.lse) expectTensor(op, 'lse', opts.lse, 'f32', B * Hq * T, '(B, Hq, T)');
  const out = opts.out ?? emptyTensor(ctx, 'f32', [B, T, Hq, D], 'attention out');
  const lse = opts.lse ?? emptyTensor(ctx, 'f32', [B, Hq, T], 'attention lse');
  expectDistinct(op, [['out', out], ['lse', lse]], [['q', q], ['k', k], ['v', v], ['docIds', opts.docIds]]);
  await recordAttentionForward(ctx, q, k, v, out, lse, {
    B,
    Tq: T,
    Tk: T,
    Hq,
    Hkv,
    D,
    qPos0: 0,
    scale,
    window,
    docIds: opts.docIds,
    variant,
    label: `attention fwd B${B} T${T} Hq${Hq} Hkv${Hkv} D${D}${window ? ` W${window}` : ''}`,
  });
  return { out, lse };
}

/**
 * Gradients of attentionForward for the upstream gradient dout: three passes, delta (with lse
 * copied next to it), dq over keys per query row, dk/dv over queries per key row summing the q
 * heads of each kv head. Deterministic; no atomics. Records into ctx.encoder(); the caller flushes.
 */
export async function attentionBackward(
  ctx: GpuContext,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  lse: Tensor,
  dout: Tensor,
  opts: AttentionBackwardOptions,
): Promise<AttentionGrads> {
  const op = 'attentionBackward';
  const scale = checkCommon(op, q, k, v, opts);
  const window = windowParam(op, opts.window);
  const { B, T, Hq, Hkv, D } = opts;
  const variant = backwardVariant(resolveVariant(ctx, op, opts));
  if (variant.version === 2) {
    const why = fa2IllegalReason(ctx.description.limits, D, T, B * Hq);
    if (why) throw new Error(`${op}: variant ${FA2_ATTENTION_VARIANT} cannot run on this device: ${why}`);
  }
  expectTensor(op, 'out', out, 'f32', B * T * Hq * D, '(B, T, Hq, D)');
  expectTensor(op, 'lse', lse, 'f32', B * Hq * T, '(B, Hq, T)');
  expectTensor(op, 'dout', dout, 'f32', B * T * Hq * D, '(B, T, Hq, D)');
  if (opts.dq) expectTensor(op, 'dq', opts.dq, 'f32', B * T * Hq * D, '(B, T, Hq, D)');
  if (opts.dk) expectTensor(op, 'dk', opts.dk, 'f32', B * T * Hkv * D, '(B, T, Hkv, D)');
  if (opts.dv) expectTensor(op, 'dv', opts.dv, 'f32', B * T * Hkv * D, '(B, T, Hkv, D)');
  if (opts.scratch) expectTensor(op, 'scratch', opts.scratch, 'f32', B * Hq * T * 2, '(B, Hq, T, 2)');
  const dq = opts.dq ?? emptyTensor(ctx, 'f32', [B, T, Hq, D], 'attention dq');
  const dk = opts.dk ?? emptyTensor(ctx, 'f32', [B, T, Hkv, D], 'attention dk');
  const dv = opts.dv ?? emptyTensor(ctx, 'f32', [B, T, Hkv, D], 'attention dv');
  const scratch = opts.scratch ?? emptyTensor(ctx, 'f32', [B, Hq, T, 2], 'attention lse+delta');
  expectDistinct(
    op,
    [['dq', dq], ['dk', dk], ['dv', dv], ['scratch', scratch]],
    [['q', q], ['k', k], ['v', v], ['out', out], ['lse', lse], ['dout', dout], ['docIds', opts.docIds]],
  );
  const wg = variant.version === 1 ? variant.wg : FA2_PRE_WG;
  const D4 = D / 4;
  const DS = attentionSlices(D);
  const doc = opts.docIds ?? ctx.emptyBuffer;
  const shape = `B${B} T${T} Hq${Hq} Hkv${Hkv} D${D}${window ? ` W${window}` : ''}`;
  const pre = await ctx.pipelines.get({ shader: ATTENTION_BWD_PRE_SHADER, entryPoint: 'attention_bwd_delta', constants: { WG: wg, D4 } });
  const qRows = B * T * Hq;
  const [qx, qy] = grid1d(ctx, Math.ceil(qRows / wg));
  dispatch(ctx, {
    pipeline: pre,
    bindings: [out, dout, lse, scratch],
    uniforms: new Uint32Array([T, Hq, qRows, qx * wg]),
    workgroups: [qx, qy],
    label: `attention bwd delta ${shape}`,
  });
  if (variant.version === 2) {
    await recordFa2Backward(ctx, { q, k, v, dout, scratch, dq, dk, dv }, { B, T, Hq, Hkv, D, scale, window, docIds: opts.docIds, shape });
    return { dq, dk, dv, scratch };
  }
  const [dqPipe, dkdvPipe] = await Promise.all([
    ctx.pipelines.get({ shader: ATTENTION_BWD_DQ_SHADER, entryPoint: 'attention_bwd_dq_v1', constants: { WG: wg, D4, DS } }),
    ctx.pipelines.get({ shader: ATTENTION_BWD_DKDV_SHADER, entryPoint: 'attention_bwd_dkdv_v1', constants: { WG: wg, D4, DS } }),
  ]);

  const params = (rows: number, stride: number) => {
    const buf = new ArrayBuffer(32);
    new Uint32Array(buf).set([T, Hq, Hkv, opts.docIds ? 1 : 0, rows, stride]);
    new Float32Array(buf)[6] = scale;
    new Uint32Array(buf)[7] = window;
    return new Uint32Array(buf);
  };
  const [dqx, dqy] = grid1d(ctx, Math.ceil((qRows * DS) / wg));
  dispatch(ctx, {
    pipeline: dqPipe,
    bindings: [q, k, v, doc, dout, scratch, dq],
    uniforms: params(qRows, dqx * wg),
    workgroups: [dqx, dqy],
    label: `attention bwd dq ${shape}`,
  });

  const kRows = B * T * Hkv;
  const [kx, ky] = grid1d(ctx, Math.ceil((kRows * DS) / wg));
  dispatch(ctx, {
    pipeline: dkdvPipe,
    bindings: [q, k, v, doc, dout, scratch, dk, dv],
    uniforms: params(kRows, kx * wg),
    workgroups: [kx, ky],
    label: `attention bwd dk dv ${shape}`,
  });
  return { dq, dk, dv, scratch };
}

/** Version 3 runs version 2's backward (its own change is the forward's softmax). */
const backwardVariant = (v: AttentionVariant): AttentionVariantV1 | AttentionVariantV2 => (v.version === 3 ? { version: 2 } : v);

/** A version's forward and backward on the check inputs (explicit variant: no check of its own). */
const runnerOf = (variant: string): AttentionRunner => async (ctx, p, t) => {
  const opts = { B: p.B, T: p.T, Hq: p.Hq, Hkv: p.Hkv, D: p.D, window: p.window, docIds: t.docIds, variant };
  const { out, lse } = await attentionForward(ctx, t.q, t.k, t.v, opts);
  const g = await attentionBackward(ctx, t.q, t.k, t.v, out, lse, t.dout, opts);
  try {
    return {
      out: await downloadF32(ctx, out),
      lse: await downloadF32(ctx, lse),
      dq: await downloadF32(ctx, g.dq),
      dk: await downloadF32(ctx, g.dk),
      dv: await downloadF32(ctx, g.dv),
    };
  } finally {
    for (const x of [out, lse, g.dq, g.dk, g.dv, g.scratch]) releaseTensor(ctx, x);
  }
};
const fa2Runner = runnerOf(FA2_ATTENTION_VARIANT);
const fa2SgRunner = runnerOf(FA2_SG_ATTENTION_VARIANT);

const fa2Legal = (ctx: GpuContext, s: { B: number; T: number; Hq: number; Hkv: number; D: number }) =>
  fa2IllegalReason(ctx.description.limits, s.D, s.T, s.B * Math.max(s.Hq, s.Hkv)) === null;

/**
 * Runs version 2's check for head dim D on this device (once; later calls return the same report)
 * so that the ops may use it; null when version 2 cannot run here at all (its tiles exceed the
 * device's limits). Call it, and await it, before recording work that should use version 2.
 */
export async function prepareAttentionKernels(ctx: GpuContext, D: number, run: AttentionRunner = fa2Runner, runSg: AttentionRunner = fa2SgRunner): Promise<AttentionCheckReport | null> {
  if (!fa2Legal(ctx, { B: 1, T: 1, Hq: 1, Hkv: 1, D })) return null;
  const v2 = await attentionCheckFor(ctx, D, run);
  // version 3 (subgroup softmax) is checked only where it could run and version 2 passed
  if (v2.passed && fa2SgIllegalReason(ctx, D, 1, 1) === null) await attentionCheckFor(ctx, D, runSg, 3);
  return v2;
}

/** The variant the ops run for this problem when none is asked for, and why (the bench lists it). */
export function attentionChoiceFor(ctx: GpuContext, s: { B: number; T: number; Hq: number; Hkv: number; D: number }): { variant: string; reason: string } {
  if (!fa2Legal(ctx, s)) return { variant: DEFAULT_ATTENTION_VARIANT, reason: 'FA2 tiles exceed this device\'s limits' };
  const v2 = finishedAttentionCheck(ctx, s.D);
  if (!v2) return { variant: DEFAULT_ATTENTION_VARIANT, reason: `no finished FA2 check for head dim ${s.D} on this device` };
  if (!v2.passed) return { variant: DEFAULT_ATTENTION_VARIANT, reason: `FA2 failed its check: ${v2.failures[0] ?? ''}` };
  const sgWhy = fa2SgIllegalReason(ctx, s.D, s.T, s.B * Math.max(s.Hq, s.Hkv));
  if (sgWhy) return { variant: FA2_ATTENTION_VARIANT, reason: `subgroup softmax not legal: ${sgWhy}` };
  const v3 = finishedAttentionCheck(ctx, s.D, 3);
  if (!v3) return { variant: FA2_ATTENTION_VARIANT, reason: 'subgroup softmax not checked on this device' };
  if (!v3.passed) return { variant: FA2_ATTENTION_VARIANT, reason: `subgroup softmax failed its check: ${v3.failures[0] ?? ''}` };
  return { variant: FA2_SG_ATTENTION_VARIANT, reason: 'subgroups, and the subgroup softmax matched the reference on this device' };
}

/**
 * The variant the ops run for this problem when none is asked for: version 2 if it is legal here
 * for this problem and its check for head dim D has finished and passed on this device, else
 * version 1 (DEFAULT_ATTENTION_VARIANT). Never runs the check itself.
 */
export function attentionVariantFor(ctx: GpuContext, s: { B: number; T: number; Hq: number; Hkv: number; D: number }): string {
  return attentionChoiceFor(ctx, s).variant;
}

function resolveVariant(ctx: GpuContext, op: string, o: AttentionShape): AttentionVariant {
  return pickAttentionVariant(op, o.variant ?? attentionVariantFor(ctx, o));
}
