// Attention with a trained key/value prefix (prefix tuning, PEFT PREFIX_TUNING): every query also
// sees P prefix keys/values that sit before the sequence, as Hugging Face's KV cache holds them
// when past_key_values of length P are given (query t of the sequence is at cache position P + t,
// the prefix at positions 0..P-1). No kernel of its own: the prefix and the sequence are laid out
// as one extended sequence of P + T rows per batch entry and attentionForward/attentionBackward run
// on it, causal over the extended positions, so
//   - query t sees every prefix key and the sequence keys 0..t (causal), and
//   - with a sliding window W, the keys at extended positions P + t - W < e <= P + t (the window
//     counts prefix positions too, exactly as Hugging Face's cache_position-based mask does).
// The P extra query rows are zeros; their outputs are never read and their upstream gradient is
// zero, so they add nothing to any gradient (ds = p·(dout·v - rowsum(dout ⊙ out)) = 0 there).
// Shapes: q (B, T, Hq, D), k and v (B, T, Hkv, D) (the projection outputs as they are), out
// (B, T, Hq, D); the prefix is one (2, P, Hkv, D) f32 tensor (its keys, then its values), the
// same for every batch entry. The backward ACCUMULATES Σ_b dL/d(prefix) into a (2, P, Hkv, D)
// gradient. Packed documents are not supported (one document per row): the extended layout has
// no document that every other document can see.
// The extended tensors (qx, kx, vx, outx of P + T rows, lse over P + T) are the forward's saved
// activations for the backward: pass the same ones to both.
import type { GpuContext } from '../device';
import { emptyTensor, type Tensor } from '../tensor';
import { attentionBackward, attentionForward, checkAttentionShape, expectTensor } from './attention';
import { addInPlace, copyTensor, zeroTensor } from './elementwise';

export interface AttentionPrefix {
  /** number of prefix positions (num_virtual_tokens), >= 1 */
  P: number;
  /** (2, P, Hkv, D) f32: the prefix keys, then its values */
  kv: Tensor;
}

export interface PrefixAttentionShape {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  scale?: number;
  window?: number | null;
  variant?: string;
}

/** The extended (P + T rows) tensors the forward fills and the backward reads. */
export interface PrefixAttentionSaved {
  qx: Tensor;
  kx: Tensor;
  vx: Tensor;
  outx: Tensor;
  lse: Tensor;
}

/** Extended-sequence scratch for the backward: dout, dq, dk, dv of P + T rows, the attention workspace, a (2, P, Hkv, D) staging buffer. */
export interface PrefixAttentionScratch {
  doutx: Tensor;
  dqx: Tensor;
  dkx: Tensor;
  dvx: Tensor;
  attn: Tensor;
  rows: Tensor;
}

function checkPrefix(op: string, s: PrefixAttentionShape, p: AttentionPrefix) {
  checkAttentionShape(op, s);
  if (!Number.isInteger(p.P) || p.P < 1) throw new Error(`${op}: the prefix needs at least one position, got ${p.P}`);
  expectTensor(op, 'prefix kv', p.kv, 'f32', 2 * p.P * s.Hkv * s.D, '(2, P, Hkv, D)');
}

/** Sizes of the saved tensors and the backward's scratch (callers that keep them in a workspace). */
export function prefixAttentionSizes(s: PrefixAttentionShape, P: number) {
  const X = s.B * (P + s.T);
  return {
    q: [X, s.Hq * s.D],
    kv: [X, s.Hkv * s.D],
    lse: [s.B * s.Hq * (P + s.T)],
    attn: [s.B * s.Hq * (P + s.T) * 2],
    rows: [2, P, s.Hkv * s.D],
  };
}

/** Allocates the forward's extended tensors (tests; the model keeps them in its workspace). */
export function emptyPrefixSaved(ctx: GpuContext, s: PrefixAttentionShape, P: number): PrefixAttentionSaved {
  const z = prefixAttentionSizes(s, P);
  return {
    qx: emptyTensor(ctx, 'f32', z.q, 'prefix attn qx'),
    kx: emptyTensor(ctx, 'f32', z.kv, 'prefix attn kx'),
    vx: emptyTensor(ctx, 'f32', z.kv, 'prefix attn vx'),
    outx: emptyTensor(ctx, 'f32', z.q, 'prefix attn outx'),
    lse: emptyTensor(ctx, 'f32', z.lse, 'prefix attn lse'),
  };
}

/** Allocates the backward's scratch (tests; the model keeps it in its workspace). */
export function emptyPrefixScratch(ctx: GpuContext, s: PrefixAttentionShape, P: number): PrefixAttentionScratch {
  const z = prefixAttentionSizes(s, P);
  return {
    doutx: emptyTensor(ctx, 'f32', z.q, 'prefix attn doutx'),
    dqx: emptyTensor(ctx, 'f32', z.q, 'prefix attn dqx'),
    dkx: emptyTensor(ctx, 'f32', z.kv, 'prefix attn dkx'),
    dvx: emptyTensor(ctx, 'f32', z.kv, 'prefix attn dvx'),
    attn: emptyTensor(ctx, 'f32', z.attn, 'prefix attn lse+delta'),
    rows: emptyTensor(ctx, 'f32', z.rows, 'prefix attn rows'),
  };
}

function expectSaved(op: string, s: PrefixAttentionShape, P: number, x: PrefixAttentionSaved) {
  const z = prefixAttentionSizes(s, P);
  const n = (a: number[]) => a.reduce((u, v) => u * v, 1);
  expectTensor(op, 'qx', x.qx, 'f32', n(z.q), '(B, P+T, Hq, D)');
  expectTensor(op, 'kx', x.kx, 'f32', n(z.kv), '(B, P+T, Hkv, D)');
  expectTensor(op, 'vx', x.vx, 'f32', n(z.kv), '(B, P+T, Hkv, D)');
  expectTensor(op, 'outx', x.outx, 'f32', n(z.q), '(B, P+T, Hq, D)');
  expectTensor(op, 'lse', x.lse, 'f32', n(z.lse), '(B, Hq, P+T)');
}

/**
 * out (B, T, Hq, D) = attention of q over [prefix keys | k] with [prefix values | v] (see the file
 * comment for the mask). Fills `saved` for the backward. Records into ctx.encoder(); the caller flushes.
 */
export async function attentionPrefixForward(
  ctx: GpuContext,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  prefix: AttentionPrefix,
  out: Tensor,
  saved: PrefixAttentionSaved,
  s: PrefixAttentionShape,
): Promise<void> {
  const op = 'attentionPrefixForward';
  checkPrefix(op, s, prefix);
  const { B, T, Hq, Hkv, D } = s;
  const P = prefix.P;
  const Q = Hq * D;
  const KV = Hkv * D;
  expectTensor(op, 'q', q, 'f32', B * T * Q, '(B, T, Hq, D)');
  expectTensor(op, 'k', k, 'f32', B * T * KV, '(B, T, Hkv, D)');
  expectTensor(op, 'v', v, 'f32', B * T * KV, '(B, T, Hkv, D)');
  expectTensor(op, 'out', out, 'f32', B * T * Q, '(B, T, Hq, D)');
  expectSaved(op, s, P, saved);
  const X = P + T;
  zeroTensor(ctx, saved.qx);
  for (let b = 0; b < B; b++) {
    copyTensor(ctx, q, saved.qx, { srcOffset: b * T * Q, dstOffset: (b * X + P) * Q, count: T * Q });
    copyTensor(ctx, prefix.kv, saved.kx, { srcOffset: 0, dstOffset: b * X * KV, count: P * KV });
    copyTensor(ctx, k, saved.kx, { srcOffset: b * T * KV, dstOffset: (b * X + P) * KV, count: T * KV });
    copyTensor(ctx, prefix.kv, saved.vx, { srcOffset: P * KV, dstOffset: b * X * KV, count: P * KV });
    copyTensor(ctx, v, saved.vx, { srcOffset: b * T * KV, dstOffset: (b * X + P) * KV, count: T * KV });
  }
  await attentionForward(ctx, saved.qx, saved.kx, saved.vx, {
    B,
    T: X,
    Hq,
    Hkv,
    D,
    scale: s.scale,
    window: s.window,
    variant: s.variant,
    out: saved.outx,
    lse: saved.lse,
  });
  for (let b = 0; b < B; b++) copyTensor(ctx, saved.outx, out, { srcOffset: (b * X + P) * Q, dstOffset: b * T * Q, count: T * Q });
}

/**
 * Gradients of attentionPrefixForward for dout (B, T, Hq, D): dq, dk, dv of the sequence
 * (overwritten) and Σ_b of the prefix keys' and values' gradients ADDED into `prefixGrad`
 * (2, P, Hkv, D). Records into ctx.encoder(); the caller flushes.
 */
export async function attentionPrefixBackward(
  ctx: GpuContext,
  prefix: AttentionPrefix,
  saved: PrefixAttentionSaved,
  dout: Tensor,
  grads: { dq: Tensor; dk: Tensor; dv: Tensor; prefixGrad: Tensor | null },
  scratch: PrefixAttentionScratch,
  s: PrefixAttentionShape,
): Promise<void> {
  const op = 'attentionPrefixBackward';
  checkPrefix(op, s, prefix);
  const { B, T, Hq, Hkv, D } = s;
  const P = prefix.P;
  const Q = Hq * D;
  const KV = Hkv * D;
  expectSaved(op, s, P, saved);
  expectTensor(op, 'dout', dout, 'f32', B * T * Q, '(B, T, Hq, D)');
  expectTensor(op, 'dq', grads.dq, 'f32', B * T * Q, '(B, T, Hq, D)');
  expectTensor(op, 'dk', grads.dk, 'f32', B * T * KV, '(B, T, Hkv, D)');
  expectTensor(op, 'dv', grads.dv, 'f32', B * T * KV, '(B, T, Hkv, D)');
  if (grads.prefixGrad) expectTensor(op, 'prefixGrad', grads.prefixGrad, 'f32', 2 * P * KV, '(2, P, Hkv, D)');
  const X = P + T;
  // the prefix query rows get no upstream gradient
  zeroTensor(ctx, scratch.doutx);
  for (let b = 0; b < B; b++) copyTensor(ctx, dout, scratch.doutx, { srcOffset: b * T * Q, dstOffset: (b * X + P) * Q, count: T * Q });
  await attentionBackward(ctx, saved.qx, saved.kx, saved.vx, saved.outx, saved.lse, scratch.doutx, {
    B,
    T: X,
    Hq,
    Hkv,
    D,
    scale: s.scale,
    window: s.window,
    variant: s.variant,
    dq: scratch.dqx,
    dk: scratch.dkx,
    dv: scratch.dvx,
    scratch: scratch.attn,
  });
  for (let b = 0; b < B; b++) {
    copyTensor(ctx, scratch.dqx, grads.dq, { srcOffset: (b * X + P) * Q, dstOffset: b * T * Q, count: T * Q });
    copyTensor(ctx, scratch.dkx, grads.dk, { srcOffset: (b * X + P) * KV, dstOffset: b * T * KV, count: T * KV });
    copyTensor(ctx, scratch.dvx, grads.dv, { srcOffset: (b * X + P) * KV, dstOffset: b * T * KV, count: T * KV });
  }
  const pg = grads.prefixGrad;
  if (!pg) return;
  // Σ_b of the prefix rows' dk and dv, one batch entry at a time through the staging buffer
  const rows = scratch.rows;
  expectTensor(op, 'rows', rows, 'f32', 2 * P * KV, '(2, P, Hkv, D)');
  for (let b = 0; b < B; b++) {
    copyTensor(ctx, scratch.dkx, rows, { srcOffset: b * X * KV, dstOffset: 0, count: P * KV });
    copyTensor(ctx, scratch.dvx, rows, { srcOffset: b * X * KV, dstOffset: P * KV, count: P * KV });
    await addInPlace(ctx, pg, rows);
  }
}
