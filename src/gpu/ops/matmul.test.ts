import { describe, expect, it } from 'vitest';
import { roundToF16 } from '../f16';
import { expectClose } from '../testing/check';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../testing/random';
import { downloadF32, releaseTensor, uploadF16, uploadF32 } from '../tensor';
import { MATMUL_VARIANTS, matmulXWt } from './matmul';
import { matmulXWtRef } from './matmul.ref';

// [M, N, K]: size 1, odd sizes not multiples of any tile, K not a multiple of 4, a tile-multiple one.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [17, 33, 7],
  [128, 96, 160],
  [5, 9, 11],
  [3, 70, 2],
];
// f32 accumulation of fp16-rounded weights against an f64 reference on the same rounded weights.
const TOL = { atol: 1e-5, rtol: 1e-5 };

describe.each(Object.keys(MATMUL_VARIANTS))('matmul y = x·Wᵀ, variant %s', (variant) => {
  it.each(SHAPES)('M=%i N=%i K=%i', async (M, N, K) => {
    const ctx = await getTestGpu();
    const x = randn(M * K, M * 1000 + K);
    const w = randn(N * K, N * 77 + K, 0.5);
    const bias = randn(N, N + 5);
    const wRounded = Float32Array.from(w, roundToF16);
    const tx = uploadF32(ctx, x, [M, K], 'x');
    const tw = uploadF16(ctx, w, [N, K], 'W');
    const tb = uploadF32(ctx, bias, [N], 'bias');
    const y = await downloadF32(ctx, await matmulXWt(ctx, tx, tw, null, { variant }));
    expectClose(`y ${M}x${N}x${K}`, y, matmulXWtRef(x, wRounded, null, M, N, K), TOL);
    const yb = await downloadF32(ctx, await matmulXWt(ctx, tx, tw, tb, { variant }));
    expectClose(`y+bias ${M}x${N}x${K}`, yb, matmulXWtRef(x, wRounded, bias, M, N, K), TOL);
    for (const t of [tx, tw, tb]) releaseTensor(ctx, t);
  });
});

describe('matmul input checks', () => {
  it('names mismatched inner dimensions', async () => {
    const ctx = await getTestGpu();
    const tx = uploadF32(ctx, new Float32Array(6), [2, 3], 'x');
    const tw = uploadF16(ctx, new Float32Array(8), [2, 4], 'W');
    await expect(matmulXWt(ctx, tx, tw)).rejects.toThrow(/inner dimensions/);
    await expect(matmulXWt(ctx, tx, tx)).rejects.toThrow(/W must be a rank-2 f16/);
  });
});
