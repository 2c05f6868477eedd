import { describe, expect, it } from 'vitest';
import { roundToF16 } from '../../util/f16';
import { expectClose } from '../../util/check';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF16, uploadF32 } from '../tensor';
import { MATMUL_ALL_VARIANTS, MATMUL_VARIANTS, matmulXWt } from './matmul';
import { matmulXWtRef } from './matmul.ref';
import { illegalReason } from './matmulVariants';

// every variant but the native-f16 ones (their tests: matmulF16.test.ts)
const PACKED_VARIANTS = Object.keys(MATMUL_ALL_VARIANTS).filter((n) => !MATMUL_ALL_VARIANTS[n].f16);

// [M, N, K]: size 1, odd sizes not multiples of any tile, K not a multiple of 4, a tile-multiple
// one, and shapes that leave partial quads / partial 8x8 tiles / partial workgroup-memory tiles.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [17, 33, 7],
  [128, 96, 160],
  [5, 9, 11],
  [3, 70, 2],
  [1, 40, 12],
  [33, 1, 20],
  [19, 21, 36],
  [70, 17, 17],
];
// f32 accumulation of fp16-rounded weights against an f64 reference on the same rounded weights.
const TOL = { atol: 1e-5, rtol: 1e-5 };

describe.each(PACKED_VARIANTS)('matmul y = x·Wᵀ, variant %s', (variant) => {
  it.each(SHAPES)('M=%i N=%i K=%i', async (M, N, K) => {
    const ctx = await getTestGpu();
    const x = randn(M * K, M * 1000 + K);
    const w = randn(N * K, N * 77 + K, 0.5);
    const bias = randn(N, N + 5);
    const wRounded = Float32Array.from(w, roundToF16);
    const tx = uploadF32(ctx, x, [M, K], 'x');
    const tw = uploadF16(ctx, w, [N, K], 'W');
    const tw32 = uploadF32(ctx, w, [N, K], 'W f32');
    const tb = uploadF32(ctx, bias, [N], 'bias');
    const why = illegalReason(ctx, variant, { op: 'xwt', rows: M, cols: N, depth: K, vec4Ok: K % 4 === 0, batch: 1 });
    if (why) {
      // The op must refuse a variant that cannot run this shape, naming the reason.
      await expect(matmulXWt(ctx, tx, tw, null, { variant })).rejects.toThrow(/multiples of 4|subgroups/);
    } else {
      const y = await downloadF32(ctx, await matmulXWt(ctx, tx, tw, null, { variant }));
      expectClose(`y ${M}x${N}x${K}`, y, matmulXWtRef(x, wRounded, null, M, N, K), TOL);
      const yb = await downloadF32(ctx, await matmulXWt(ctx, tx, tw, tb, { variant }));
      expectClose(`y+bias ${M}x${N}x${K}`, yb, matmulXWtRef(x, wRounded, bias, M, N, K), TOL);
      const y32 = await downloadF32(ctx, await matmulXWt(ctx, tx, tw32, tb, { variant }));
      expectClose(`y f32 W ${M}x${N}x${K}`, y32, matmulXWtRef(x, w, bias, M, N, K), TOL);
    }
    for (const t of [tx, tw, tw32, tb]) releaseTensor(ctx, t);
  });
});

describe.each(PACKED_VARIANTS)('matmul options, variant %s', (variant) => {
  it('alpha and accumulate: y = 0.5·x·Wᵀ + bias + y0', async () => {
    const ctx = await getTestGpu();
    const [M, N, K] = [13, 18, 24];
    const x = randn(M * K, 3);
    const w = randn(N * K, 4);
    const bias = randn(N, 5);
    const y0 = randn(M * N, 6);
    const out = uploadF32(ctx, y0, [M, N], 'y0');
    const tx = uploadF32(ctx, x, [M, K], 'x');
    const tw = uploadF32(ctx, w, [N, K], 'W');
    const tb = uploadF32(ctx, bias, [N], 'bias');
    await matmulXWt(ctx, tx, tw, tb, { variant, out, accumulate: true, alpha: 0.5 });
    const ref = matmulXWtRef(x, w, null, M, N, K).map((v, i) => 0.5 * v + bias[i % N] + y0[i]);
    expectClose('accumulated y', await downloadF32(ctx, out), ref, TOL);
    for (const t of [out, tx, tw, tb]) releaseTensor(ctx, t);
  });

  it('batched x (B, M, K) with shared and per-batch W', async () => {
    const ctx = await getTestGpu();
    const [B, M, N, K] = [3, 9, 10, 12];
    const x = randn(B * M * K, 7);
    const w = randn(B * N * K, 8);
    const tx = uploadF32(ctx, x, [B, M, K], 'x');
    const twShared = uploadF16(ctx, w.subarray(0, N * K), [N, K], 'W shared');
    const twBatched = uploadF32(ctx, w, [B, N, K], 'W batched');
    const shared = await downloadF32(ctx, await matmulXWt(ctx, tx, twShared, null, { variant }));
    const batched = await downloadF32(ctx, await matmulXWt(ctx, tx, twBatched, null, { variant }));
    const w16 = Float32Array.from(w.subarray(0, N * K), roundToF16);
    for (let b = 0; b < B; b++) {
      const xb = x.subarray(b * M * K, (b + 1) * M * K);
      expectClose(`batch ${b} shared W`, shared.subarray(b * M * N, (b + 1) * M * N), matmulXWtRef(xb, w16, null, M, N, K), TOL);
      const wb = w.subarray(b * N * K, (b + 1) * N * K);
      expectClose(`batch ${b} own W`, batched.subarray(b * M * N, (b + 1) * M * N), matmulXWtRef(xb, wb, null, M, N, K), TOL);
    }
    for (const t of [tx, twShared, twBatched]) releaseTensor(ctx, t);
  });
});

describe('matmul variant sets', () => {
  it('MATMUL_VARIANTS holds only variants legal for every shape', async () => {
    const ctx = await getTestGpu();
    for (const v of Object.keys(MATMUL_VARIANTS)) {
      expect(illegalReason(ctx, v, { op: 'xwt', rows: 3, cols: 5, depth: 7, vec4Ok: false, batch: 1 })).toBeNull();
    }
    expect(Object.keys(MATMUL_ALL_VARIANTS).length).toBeGreaterThan(Object.keys(MATMUL_VARIANTS).length);
  });
});

describe('matmul input checks', () => {
  it('names mismatched inner dimensions', async () => {
    const ctx = await getTestGpu();
    const tx = uploadF32(ctx, new Float32Array(6), [2, 3], 'x');
    const tw = uploadF16(ctx, new Float32Array(8), [2, 4], 'W');
    await expect(matmulXWt(ctx, tx, tw)).rejects.toThrow(/inner dimensions/);
    const ti = uploadF32(ctx, new Float32Array(6), [2, 3], 'W');
    await expect(matmulXWt(ctx, tx, { ...ti, dtype: 'i32' })).rejects.toThrow(/W must be a rank-2 or rank-3 f16 or f32/);
    await expect(matmulXWt(ctx, tx, ti, null, { variant: 'v9' })).rejects.toThrow(/unknown variant 'v9'/);
    await expect(matmulXWt(ctx, tx, ti, null, { accumulate: true })).rejects.toThrow(/accumulate needs an out/);
    const wrongOut = uploadF32(ctx, new Float32Array(6), [3, 2], 'out');
    await expect(matmulXWt(ctx, tx, ti, null, { out: wrongOut })).rejects.toThrow(/out must be an f32 tensor of shape \[2,2\]/);
    const sq = uploadF32(ctx, new Float32Array(4), [2, 2], 'square');
    await expect(matmulXWt(ctx, sq, sq, null, { out: sq, accumulate: true })).rejects.toThrow(/out \(square\) is the same buffer as x/);
    const empty = uploadF32(ctx, new Float32Array(0), [0, 3], 'empty');
    await expect(matmulXWt(ctx, empty, ti)).rejects.toThrow(/x has a zero dimension/);
  });
});
