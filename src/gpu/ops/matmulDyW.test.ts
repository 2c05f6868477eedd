import { describe, expect, it } from 'vitest';
import { roundToF16 } from '../../util/f16';
import { expectClose } from '../../util/check';
import { centralDiffVjp } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF16, uploadF32 } from '../tensor';
import { MATMUL_ALL_VARIANTS, matmulDyW } from './matmul';
import { matmulDyWRef, matmulXWtRef } from './matmul.ref';
import { illegalReason } from './matmulVariants';

// every variant but the native-f16 ones (their tests: matmulF16.test.ts)
const PACKED_VARIANTS = Object.keys(MATMUL_ALL_VARIANTS).filter((n) => !MATMUL_ALL_VARIANTS[n].f16);

// [M, N, K] of dx (M, K) = dy (M, N) · W (N, K): size 1, N and/or K not multiples of 4, partial
// 8x8 tiles, partial quads, partial workgroup-memory tiles (TILE_K 8 / 16).
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
];
// f32 accumulation against an f64 reference on the same (fp16-rounded where stored so) weights
const TOL = { atol: 1e-5, rtol: 1e-5 };

const legal = (variant: string, M: number, N: number, K: number) =>
  getTestGpu().then((ctx) => illegalReason(ctx, variant, { op: 'dyw', rows: M, cols: K, depth: N, vec4Ok: N % 4 === 0 && K % 4 === 0, batch: 1 }));

describe.each(PACKED_VARIANTS)('matmulDyW dx = dy·W, variant %s', (variant) => {
  it.each(SHAPES)('M=%i N=%i K=%i', async (M, N, K) => {
    const ctx = await getTestGpu();
    const dy = randn(M * N, M * 31 + N);
    const w = randn(N * K, N * 7 + K, 0.5);
    const tdy = uploadF32(ctx, dy, [M, N], 'dy');
    const tw = uploadF16(ctx, w, [N, K], 'W');
    const tw32 = uploadF32(ctx, w, [N, K], 'W f32');
    if (await legal(variant, M, N, K)) {
      await expect(matmulDyW(ctx, tdy, tw, { variant })).rejects.toThrow(/multiples of 4|subgroups/);
    } else {
      const dx = await downloadF32(ctx, await matmulDyW(ctx, tdy, tw, { variant }));
      expectClose(`dx fp16 W ${M}x${N}x${K}`, dx, matmulDyWRef(dy, Float32Array.from(w, roundToF16), M, N, K), TOL);
      const dx32 = await downloadF32(ctx, await matmulDyW(ctx, tdy, tw32, { variant }));
      expectClose(`dx f32 W ${M}x${N}x${K}`, dx32, matmulDyWRef(dy, w, M, N, K), TOL);
    }
    for (const t of [tdy, tw, tw32]) releaseTensor(ctx, t);
  });

  it('alpha and accumulate (dx = 0.25·dy·W + dx0), batched with shared and per-batch W', async () => {
    const ctx = await getTestGpu();
    const [B, M, N, K] = [2, 10, 12, 8];
    const dy = randn(B * M * N, 11);
    const w = randn(B * N * K, 12);
    const dx0 = randn(B * M * K, 13);
    const tdy = uploadF32(ctx, dy, [B, M, N], 'dy');
    const tws = uploadF32(ctx, w.subarray(0, N * K), [N, K], 'W shared');
    const twb = uploadF16(ctx, w, [B, N, K], 'W batched');
    const out = uploadF32(ctx, dx0, [B, M, K], 'dx0');
    await matmulDyW(ctx, tdy, tws, { variant, out, accumulate: true, alpha: 0.25 });
    const got = await downloadF32(ctx, out);
    const batched = await downloadF32(ctx, await matmulDyW(ctx, tdy, twb, { variant }));
    for (let b = 0; b < B; b++) {
      const dyb = dy.subarray(b * M * N, (b + 1) * M * N);
      const ref = matmulDyWRef(dyb, w.subarray(0, N * K), M, N, K).map((v, i) => 0.25 * v + dx0[b * M * K + i]);
      expectClose(`batch ${b} accumulated`, got.subarray(b * M * K, (b + 1) * M * K), ref, TOL);
      const wb = Float32Array.from(w.subarray(b * N * K, (b + 1) * N * K), roundToF16);
      expectClose(`batch ${b} own W`, batched.subarray(b * M * K, (b + 1) * M * K), matmulDyWRef(dyb, wb, M, N, K), TOL);
    }
    for (const t of [tdy, tws, twb, out]) releaseTensor(ctx, t);
  });
});

describe('matmulDyW is the gradient of y = x·Wᵀ', () => {
  it('matches a central finite difference of L = Σ dy ⊙ (x·Wᵀ) in x', async () => {
    const ctx = await getTestGpu();
    const [M, N, K] = [3, 5, 6];
    const x = randn(M * K, 21);
    const w = Float32Array.from(randn(N * K, 22), roundToF16);
    const dy = randn(M * N, 23);
    const h = 1e-2; // L is linear in x, so a large step only reduces rounding error
    const fd = centralDiffVjp((xv) => matmulXWtRef(Float32Array.from(xv), w, null, M, N, K), x, dy, h);
    const tdy = uploadF32(ctx, dy, [M, N], 'dy');
    const tw = uploadF16(ctx, w, [N, K], 'W');
    const dx = await downloadF32(ctx, await matmulDyW(ctx, tdy, tw));
    expectClose('dx vs finite difference', dx, fd, { atol: 1e-4, rtol: 1e-4 });
    releaseTensor(ctx, tdy);
    releaseTensor(ctx, tw);
  });
});

describe('matmulDyW input checks', () => {
  it('names the mismatched dimension', async () => {
    const ctx = await getTestGpu();
    const tdy = uploadF32(ctx, new Float32Array(6), [2, 3], 'dy');
    const tw = uploadF16(ctx, new Float32Array(8), [4, 2], 'W');
    await expect(matmulDyW(ctx, tdy, tw)).rejects.toThrow(/dy's columns must equal W's rows/);
    const out = uploadF32(ctx, new Float32Array(4), [2, 2], 'out');
    await expect(matmulDyW(ctx, tdy, uploadF32(ctx, new Float32Array(6), [3, 2], 'W'), { out: tdy })).rejects.toThrow(/out must be an f32 tensor of shape \[2,2\]/);
    await expect(matmulDyW(ctx, tdy, uploadF32(ctx, new Float32Array(6), [3, 2], 'W'), { accumulate: true })).rejects.toThrow(/accumulate needs an out/);
    releaseTensor(ctx, out);
  });
});
