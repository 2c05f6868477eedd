// Gemma's RMSNorm: y = x·rstd·(1 + w), the option weightOffset: 1 of the rmsnorm op.
import { describe, expect, it } from 'vitest';
import { roundToF16 } from '../../util/f16';
import { expectClose } from '../../util/check';
import { centralDiffVjp } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF16, uploadF32 } from '../tensor';
import { loadFixture, type RmsNormOffsetFixture } from './fixtures';
import { rmsnormBackward, rmsnormForward } from './rmsnorm';
import { rmsnormBackwardRef, rmsnormForwardRef } from './rmsnorm.ref';

// as rmsnorm.test.ts
const TOL = { atol: 1e-5, rtol: 1e-4 };
const FD_TOL = { atol: 1e-4, rtol: 1e-3 };
const FIXTURE_TOL = { atol: 2e-5, rtol: 1e-4 };
const EPS = 1e-6;

// [N, C, wg]: C below / not a multiple of / several times the workgroup size, 4 threads (CPU default)
const SHAPES: [number, number, number][] = [
  [1, 7, 64],
  [5, 67, 64],
  [2, 300, 256],
  [3, 37, 4],
];

describe.each(['f32', 'f16'] as const)('rmsnorm (1 + w) with %s weight', (wdtype) => {
  it.each(SHAPES)('forward and backward N=%i C=%i wg=%i', async (N, C, wg) => {
    const ctx = await getTestGpu();
    const x = randn(N * C, N * 31 + C);
    // Gemma's stored weights sit around 0 (some near -1: the scale 1 + w is then small)
    const w0 = randn(C, C + 3, 0.5);
    const w = wdtype === 'f16' ? w0.map(roundToF16) : w0;
    const dy = randn(N * C, N * 7 + C + 1);
    const tx = uploadF32(ctx, x, [N, C], 'x');
    const tw = wdtype === 'f16' ? uploadF16(ctx, w0, [C], 'w') : uploadF32(ctx, w0, [C], 'w');
    const tdy = uploadF32(ctx, dy, [N, C], 'dy');
    const { y, rstd } = await rmsnormForward(ctx, tx, tw, { eps: EPS, wg, weightOffset: 1 });
    const ref = rmsnormForwardRef(x, w, N, C, EPS, 1);
    const gotY = await downloadF32(ctx, y);
    expectClose('y', gotY, ref.y, TOL);
    expectClose('rstd', await downloadF32(ctx, rstd), ref.rstd, TOL);
    // and it is not the plain norm
    const plain = rmsnormForwardRef(x, w, N, C, EPS);
    expect(Math.max(...Array.from(gotY, (v, i) => Math.abs(v - plain.y[i])))).toBeGreaterThan(0.1);
    const { dx, dw } = await rmsnormBackward(ctx, tdy, tx, tw, rstd, { dw: true, wg, weightOffset: 1 });
    const bref = rmsnormBackwardRef(dy, x, w, N, C, EPS, 1);
    expectClose('dx', await downloadF32(ctx, dx), bref.dx, TOL);
    expectClose('dw', await downloadF32(ctx, dw!), bref.dw, TOL);
    for (const t of [tx, tw, tdy, y, rstd, dx, dw!]) releaseTensor(ctx, t);
  });
});

describe('rmsnorm (1 + w) backward', () => {
  it('matches a central finite difference of the forward (dx and dw)', async () => {
    const ctx = await getTestGpu();
    const [N, C] = [3, 5];
    const x = randn(N * C, 11);
    const w = randn(C, 12, 0.5);
    const dy = randn(N * C, 13);
    const tx = uploadF32(ctx, x, [N, C], 'x');
    const tw = uploadF32(ctx, w, [C], 'w');
    const tdy = uploadF32(ctx, dy, [N, C], 'dy');
    const { rstd } = await rmsnormForward(ctx, tx, tw, { eps: EPS, weightOffset: 1 });
    const { dx, dw } = await rmsnormBackward(ctx, tdy, tx, tw, rstd, { dw: true, weightOffset: 1 });
    const fdx = centralDiffVjp((v) => rmsnormForwardRef(v, w, N, C, EPS, 1).y, x, dy, 1e-4);
    const fdw = centralDiffVjp((v) => rmsnormForwardRef(x, v, N, C, EPS, 1).y, w, dy, 1e-4);
    expectClose('dx vs FD', await downloadF32(ctx, dx), fdx, FD_TOL);
    expectClose('dw vs FD', await downloadF32(ctx, dw!), fdw, FD_TOL);
  });

  it('matches the PyTorch fixture (HF Gemma3RMSNorm)', async () => {
    const ctx = await getTestGpu();
    const c = loadFixture<RmsNormOffsetFixture>('rmsnorm_offset').cases[0];
    const { N, C, eps } = c.config;
    const tx = uploadF32(ctx, c.x, [N, C], 'x');
    const tw = uploadF32(ctx, c.w, [C], 'w');
    const tdy = uploadF32(ctx, c.dy, [N, C], 'dy');
    const { y, rstd } = await rmsnormForward(ctx, tx, tw, { eps, weightOffset: 1 });
    expectClose('y', await downloadF32(ctx, y), c.y, FIXTURE_TOL);
    expectClose('rstd', await downloadF32(ctx, rstd), c.rstd, FIXTURE_TOL);
    const { dx, dw } = await rmsnormBackward(ctx, tdy, tx, tw, rstd, { dw: true, weightOffset: 1 });
    expectClose('dx', await downloadF32(ctx, dx), c.dx, FIXTURE_TOL);
    expectClose('dw', await downloadF32(ctx, dw!), c.dw, FIXTURE_TOL);
  });

  it('rejects a weightOffset that is not finite', async () => {
    const ctx = await getTestGpu();
    const tx = uploadF32(ctx, new Float32Array(4), [1, 4], 'x');
    const tw = uploadF32(ctx, new Float32Array(4), [4], 'w');
    await expect(rmsnormForward(ctx, tx, tw, { eps: EPS, weightOffset: Number.NaN })).rejects.toThrow(/rmsnormForward: weightOffset must be a finite number/);
    releaseTensor(ctx, tx);
    releaseTensor(ctx, tw);
  });
});
