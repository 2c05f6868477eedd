// KV-cache generation: append new k/v rows to a cache, and attend new queries to the cache.
//   kCache, vCache are (B, Tmax, Hkv, D) f32: row t holds the (already RoPE'd) key/value of
//   position t. New k, v are (B, Tn, Hkv, D); q is (B, Tq, Hq, D) for the Tq newest tokens, whose
//   positions are pos .. pos + Tq - 1; out is (B, Tq, Hq, D), lse (B, Hq, Tq).
// Query t attends cache rows 0 .. pos + t (with a sliding window W only rows pos + t - W + 1 ..
// pos + t), so decoding token t gives exactly row t of the training attention with the same window. Same kernel as the training forward (shaders/attention.wgsl) with the cache
// as keys; one thread per (b, t, h) query row. Version 1 unless opts.variant asks for another
// (version 2's 32-row query blocks would leave most threads idle for one new token).
import type { GpuContext } from '../device';
import { emptyTensor, numel, type Tensor } from '../tensor';
import { checkAttentionShape, expectDistinct, expectTensor, pickAttentionVariant, recordAttentionForward, windowParam } from './attention';

export interface AttentionDecodeOptions {
  /** cache position of q's first token (its k/v must already be in the cache) */
  pos: number;
  /** query heads (B, Tmax, Hkv and D come from the cache's shape) */
  Hq: number;
  /** defaults to 1/sqrt(D) */
  scale?: number;
  /** sliding window: position i sees cache rows j with i - window < j <= i; absent or null: all */
  window?: number | null;
  variant?: string;
  out?: Tensor;
  lse?: Tensor;
}

function cacheShape(op: string, kCache: Tensor, vCache: Tensor): [number, number, number, number] {
  if (kCache.shape.length !== 4) {
    throw new Error(`${op}: kCache must have shape (B, Tmax, Hkv, D), got [${kCache.shape.join(',')}] (${kCache.label})`);
  }
  const [B, Tmax, Hkv, D] = kCache.shape;
  expectTensor(op, 'kCache', kCache, 'f32', B * Tmax * Hkv * D, '(B, Tmax, Hkv, D)');
  if (vCache.dtype !== 'f32' || vCache.shape.join(',') !== kCache.shape.join(',')) {
    throw new Error(`${op}: vCache must match kCache [${kCache.shape.join(',')}] f32, got ${vCache.dtype} [${vCache.shape.join(',')}] (${vCache.label})`);
  }
  return [B, Tmax, Hkv, D];
}

/** Rows (tokens per batch) of a (B, rows, H, D) tensor given by element count only. */
function rowsOf(op: string, what: string, t: Tensor, B: number, H: number, D: number): number {
  const rows = numel(t.shape) / (B * H * D);
  if (t.dtype !== 'f32' || !Number.isInteger(rows) || rows < 1) {
    throw new Error(
      `${op}: ${what} must be an f32 tensor of B*n*${H}*D elements with B = ${B}, D = ${D} (from the cache), ` +
        `got ${t.dtype} [${t.shape.join(',')}] (${t.label})`,
    );
  }
  return rows;
}

function checkPos(op: string, pos: number, n: number, Tmax: number) {
  if (!Number.isInteger(pos) || pos < 0 || pos + n > Tmax) {
    throw new Error(`${op}: positions ${pos}..${pos + n - 1} do not fit the cache of ${Tmax} rows (pos must be an integer >= 0)`);
  }
}

/**
 * Writes new k, v (B, Tn, Hkv, D) into cache rows pos .. pos + Tn - 1 of every batch entry.
 * Records buffer copies into ctx.encoder(); the caller flushes.
 */
export function kvCacheWrite(ctx: GpuContext, k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, opts: { pos: number }): void {
  const op = 'kvCacheWrite';
  const [B, Tmax, Hkv, D] = cacheShape(op, kCache, vCache);
  const Tn = rowsOf(op, 'k', k, B, Hkv, D);
  if (rowsOf(op, 'v', v, B, Hkv, D) !== Tn) throw new Error(`${op}: k has ${Tn} rows per batch entry but v has ${numel(v.shape) / (B * Hkv * D)}`);
  checkPos(op, opts.pos, Tn, Tmax);
  expectDistinct(op, [['kCache', kCache], ['vCache', vCache]], [['k', k], ['v', v]]);
  const rowBytes = Hkv * D * 4;
  const enc = ctx.encoder();
  for (let b = 0; b < B; b++) {
    const src = b * Tn * rowBytes;
    const dst = (b * Tmax + opts.pos) * rowBytes;
    enc.copyBufferToBuffer(k.buffer, src, kCache.buffer, dst, Tn * rowBytes);
    enc.copyBufferToBuffer(v.buffer, src, vCache.buffer, dst, Tn * rowBytes);
  }
}

/**
 * Attention of the Tq newest tokens (positions pos ..) over the cache rows up to each one's
 * position. Returns out (B, Tq, Hq, D) and lse (B, Hq, Tq). Records into ctx.encoder().
 */
export async function attentionDecode(
  ctx: GpuContext,
  q: Tensor,
  kCache: Tensor,
  vCache: Tensor,
  opts: AttentionDecodeOptions,
): Promise<{ out: Tensor; lse: Tensor }> {
  const op = 'attentionDecode';
  const [B, Tmax, Hkv, D] = cacheShape(op, kCache, vCache);
  const { Hq } = opts;
  const Tq = rowsOf(op, 'q', q, B, Hq, D);
  const scale = checkAttentionShape(op, { B, T: Tq, Hq, Hkv, D, scale: opts.scale });
  checkPos(op, opts.pos, Tq, Tmax);
  const window = windowParam(op, opts.window);
  const variant = pickAttentionVariant(op, opts.variant);
  if (opts.out) expectTensor(op, 'out', opts.out, 'f32', B * Tq * Hq * D, '(B, Tq, Hq, D)');
  if (opts.lse) expectTensor(op, 'lse', opts.lse, 'f32', B * Hq * Tq, '(B, Hq, Tq)');
  const out = opts.out ?? emptyTensor(ctx, 'f32', [B, Tq, Hq, D], 'attention decode out');
  const lse = opts.lse ?? emptyTensor(ctx, 'f32', [B, Hq, Tq], 'attention decode lse');
  expectDistinct(op, [['out', out], ['lse', lse]], [['q', q], ['kCache', kCache], ['vCache', vCache]]);
  await recordAttentionForward(ctx, q, kCache, vCache, out, lse, {
    B,
    Tq,
    Tk: Tmax,
    Hq,
    Hkv,
    D,
    qPos0: opts.pos,
    scale,
    window,
    variant,
    label: `attention decode B${B} Tq${Tq} pos${opts.pos} Tmax${Tmax} Hq${Hq} Hkv${Hkv} D${D}${window ? ` W${window}` : ''}`,
  });
  return { out, lse };
}
