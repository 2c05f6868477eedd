import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../device';
import { expectClose } from '../../util/check';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, emptyTensor, releaseTensor, uploadF32, type Tensor } from '../tensor';
import { ATTENTION_VARIANTS } from './attention';
import { attentionForwardRef } from './attention.ref';
import { attentionDecode, kvCacheWrite } from './attentionDecode';

// f32 kernel against the f64 reference of the full causal attention on the same inputs.
const TOL = { atol: 2e-5, rtol: 1e-4 };

/** Rows t0 .. t1-1 of every batch entry of a (B, T, H, D) array, as (B, t1-t0, H, D). */
function rows(x: Float32Array | Float64Array, B: number, T: number, HD: number, t0: number, t1: number): Float32Array {
  const out = new Float32Array(B * (t1 - t0) * HD);
  for (let b = 0; b < B; b++) out.set(x.subarray((b * T + t0) * HD, (b * T + t1) * HD), b * (t1 - t0) * HD);
  return out;
}

/** lse (B, H, T) restricted to t0 .. t1-1. */
function lseRows(lse: Float64Array, B: number, H: number, T: number, t0: number, t1: number): Float64Array {
  const out = new Float64Array(B * H * (t1 - t0));
  for (let bh = 0; bh < B * H; bh++) out.set(lse.subarray(bh * T + t0, bh * T + t1), bh * (t1 - t0));
  return out;
}

interface Case {
  name: string;
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  Tmax: number;
  /** token counts fed per step (prefill chunk, then single tokens...) summing to T */
  chunks: number[];
}

const CASES: Case[] = [
  { name: 'one token at a time', B: 2, T: 6, Hq: 4, Hkv: 2, D: 8, Tmax: 9, chunks: [1, 1, 1, 1, 1, 1] },
  { name: 'prefill chunk then tokens', B: 2, T: 7, Hq: 4, Hkv: 2, D: 8, Tmax: 7, chunks: [4, 2, 1] },
  { name: 'mqa D=4, several key blocks', B: 1, T: 37, Hq: 3, Hkv: 1, D: 4, Tmax: 40, chunks: [33, 1, 3] },
];

async function decodeAll(ctx: GpuContext, c: Case, variant: string) {
  const { B, T, Hq, Hkv, D, Tmax } = c;
  const q = randn(B * T * Hq * D, T + 1);
  const k = randn(B * T * Hkv * D, T + 2);
  const v = randn(B * T * Hkv * D, T + 3);
  const ref = attentionForwardRef(q, k, v, { B, T, Hq, Hkv, D });
  const kCache = emptyTensor(ctx, 'f32', [B, Tmax, Hkv, D], 'k cache');
  const vCache = emptyTensor(ctx, 'f32', [B, Tmax, Hkv, D], 'v cache');
  let pos = 0;
  for (const n of c.chunks) {
    const tk = uploadF32(ctx, rows(k, B, T, Hkv * D, pos, pos + n), [B, n, Hkv, D], 'new k');
    const tv = uploadF32(ctx, rows(v, B, T, Hkv * D, pos, pos + n), [B, n, Hkv, D], 'new v');
    const tq = uploadF32(ctx, rows(q, B, T, Hq * D, pos, pos + n), [B, n, Hq, D], 'new q');
    kvCacheWrite(ctx, tk, tv, kCache, vCache, { pos });
    const { out, lse } = await attentionDecode(ctx, tq, kCache, vCache, { pos, Hq, variant });
    expectClose(`out rows ${pos}..${pos + n - 1}`, await downloadF32(ctx, out), rows(ref.out, B, T, Hq * D, pos, pos + n), TOL);
    expectClose(`lse rows ${pos}..${pos + n - 1}`, await downloadF32(ctx, lse), lseRows(ref.lse, B, Hq, T, pos, pos + n), TOL);
    for (const t of [tk, tv, tq, out, lse]) releaseTensor(ctx, t);
    pos += n;
  }
  // the cache holds exactly the rows written, zeros after them
  const expectCache = (x: Float32Array) => {
    const full = new Float32Array(B * Tmax * Hkv * D);
    for (let b = 0; b < B; b++) full.set(x.subarray(b * T * Hkv * D, (b + 1) * T * Hkv * D), b * Tmax * Hkv * D);
    return full;
  };
  expectClose('k cache', await downloadF32(ctx, kCache), expectCache(k), { atol: 0, rtol: 0 });
  expectClose('v cache', await downloadF32(ctx, vCache), expectCache(v), { atol: 0, rtol: 0 });
  releaseTensor(ctx, kCache);
  releaseTensor(ctx, vCache);
}

describe.each(Object.keys(ATTENTION_VARIANTS))('KV-cache decode equals rows of full causal attention, variant %s', (variant) => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const ctx = await getTestGpu();
    await decodeAll(ctx, c, variant);
  });
});

describe('KV-cache input checks', () => {
  it('names the op and what is wrong', async () => {
    const ctx = await getTestGpu();
    const cache = emptyTensor(ctx, 'f32', [1, 4, 2, 8], 'k cache');
    const other = emptyTensor(ctx, 'f32', [1, 4, 2, 8], 'v cache');
    const flat = emptyTensor(ctx, 'f32', [64], 'flat cache');
    const q = uploadF32(ctx, new Float32Array(2 * 4 * 8), [1, 2, 4, 8], 'q');
    const k: Tensor = uploadF32(ctx, new Float32Array(2 * 2 * 8), [1, 2, 2, 8], 'k');
    expect(() => kvCacheWrite(ctx, k, k, cache, other, { pos: 3 })).toThrow(/kvCacheWrite: positions 3..4 do not fit the cache of 4 rows/);
    expect(() => kvCacheWrite(ctx, k, k, flat, flat, { pos: 0 })).toThrow(/kCache must have shape \(B, Tmax, Hkv, D\)/);
    await expect(attentionDecode(ctx, q, cache, other, { pos: 3, Hq: 4 })).rejects.toThrow(/attentionDecode: positions 3..4/);
    await expect(attentionDecode(ctx, q, cache, other, { pos: 0, Hq: 3 })).rejects.toThrow(/q must be an f32 tensor of B\*n\*3\*D/);
    await expect(attentionDecode(ctx, k, cache, flat, { pos: 0, Hq: 2 })).rejects.toThrow(/vCache must match kCache/);
    for (const t of [cache, other, flat, q, k]) releaseTensor(ctx, t);
  });
});
