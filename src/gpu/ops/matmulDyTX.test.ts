import { describe, expect, it } from 'vitest';
import { expectClose } from '../../util/check';
import { centralDiffVjp } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF32 } from '../tensor';
import { MATMUL_ALL_VARIANTS, matmulDyTX } from './matmul';
import { matmulDyTXRef, matmulXWtRef } from './matmul.ref';
import { illegalReason } from './matmulVariants';

// every variant but the native-f16 ones (their tests: matmulF16.test.ts)
const PACKED_VARIANTS = Object.keys(MATMUL_ALL_VARIANTS).filter((n) => !MATMUL_ALL_VARIANTS[n].f16);

// [M, N, K] of dW (N, K) = dy (M, N)ᵀ · x (M, K): size 1, N and/or K not multiples of 4, M (the
// reduction) not a multiple of 4 or of TILE_K, partial 8x8 tiles and quads.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [17, 33, 7],
  [128, 96, 160],
  [5, 9, 11],
  [3, 70, 2],
  [1, 40, 12],
  [33, 12, 1],
  [19, 21, 36],
  [70, 17, 20],
  [6, 8, 24],
];
const TOL = { atol: 1e-5, rtol: 1e-5 };

describe.each(PACKED_VARIANTS)('matmulDyTX dW = dyᵀ·x, variant %s', (variant) => {
  it.each(SHAPES)('M=%i N=%i K=%i', async (M, N, K) => {
    const ctx = await getTestGpu();
    const dy = randn(M * N, M * 13 + N);
    const x = randn(M * K, M * 17 + K);
    const tdy = uploadF32(ctx, dy, [M, N], 'dy');
    const tx = uploadF32(ctx, x, [M, K], 'x');
    const why = illegalReason(ctx, variant, { op: 'dytx', rows: N, cols: K, depth: M, vec4Ok: N % 4 === 0 && K % 4 === 0, batch: 1 });
    if (why) {
      await expect(matmulDyTX(ctx, tdy, tx, { variant })).rejects.toThrow(/multiples of 4|subgroups/);
    } else {
      const dw = await downloadF32(ctx, await matmulDyTX(ctx, tdy, tx, { variant }));
      expectClose(`dW ${M}x${N}x${K}`, dw, matmulDyTXRef(dy, x, M, N, K), TOL);
    }
    releaseTensor(ctx, tdy);
    releaseTensor(ctx, tx);
  });

  it('alpha and accumulate (dW = 2·dyᵀ·x + dW0), batched with a shared x', async () => {
    const ctx = await getTestGpu();
    const [B, M, N, K] = [3, 9, 8, 12];
    const dy = randn(B * M * N, 31);
    const x = randn(M * K, 32);
    const dw0 = randn(B * N * K, 33);
    const tdy = uploadF32(ctx, dy, [B, M, N], 'dy');
    const tx = uploadF32(ctx, x, [M, K], 'x shared');
    const out = uploadF32(ctx, dw0, [B, N, K], 'dW0');
    await matmulDyTX(ctx, tdy, tx, { variant, out, accumulate: true, alpha: 2 });
    const got = await downloadF32(ctx, out);
    for (let b = 0; b < B; b++) {
      const ref = matmulDyTXRef(dy.subarray(b * M * N, (b + 1) * M * N), x, M, N, K).map((v, i) => 2 * v + dw0[b * N * K + i]);
      expectClose(`batch ${b}`, got.subarray(b * N * K, (b + 1) * N * K), ref, TOL);
    }
    for (const t of [tdy, tx, out]) releaseTensor(ctx, t);
  });
});

describe('matmulDyTX is the gradient of y = x·Wᵀ', () => {
  it('matches a central finite difference of L = Σ dy ⊙ (x·Wᵀ) in W', async () => {
    const ctx = await getTestGpu();
    const [M, N, K] = [5, 3, 6];
    const x = randn(M * K, 41);
    const w = randn(N * K, 42);
    const dy = randn(M * N, 43);
    const h = 1e-2; // L is linear in W
    const fd = centralDiffVjp((wv) => matmulXWtRef(x, Float32Array.from(wv), null, M, N, K), w, dy, h);
    const tdy = uploadF32(ctx, dy, [M, N], 'dy');
    const tx = uploadF32(ctx, x, [M, K], 'x');
    const dw = await downloadF32(ctx, await matmulDyTX(ctx, tdy, tx));
    expectClose('dW vs finite difference', dw, fd, { atol: 1e-4, rtol: 1e-4 });
    releaseTensor(ctx, tdy);
    releaseTensor(ctx, tx);
  });
});

describe('matmulDyTX input checks', () => {
  it('names the mismatched dimension', async () => {
    const ctx = await getTestGpu();
    const tdy = uploadF32(ctx, new Float32Array(6), [2, 3], 'dy');
    const tx = uploadF32(ctx, new Float32Array(6), [3, 2], 'x');
    await expect(matmulDyTX(ctx, tdy, tx)).rejects.toThrow(/same rows/);
    await expect(matmulDyTX(ctx, tdy, { ...tx, dtype: 'f16' })).rejects.toThrow(/x must be a rank-2 or rank-3 f32/);
    releaseTensor(ctx, tdy);
    releaseTensor(ctx, tx);
  });
});
