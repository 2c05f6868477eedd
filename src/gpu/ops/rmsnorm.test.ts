import { describe, expect, it } from 'vitest';
import { roundToF16 } from '../../util/f16';
import { expectClose } from '../../util/check';
import { centralDiffVjp } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF16, uploadF32, type Tensor } from '../tensor';
import { loadFixture, type RmsNormFixture } from './fixtures';
import { rmsnormBackward, rmsnormForward } from './rmsnorm';
import { rmsnormBackwardRef, rmsnormForwardRef } from './rmsnorm.ref';

// f32 kernels against the f64 reference on identical inputs.
const TOL = { atol: 1e-5, rtol: 1e-4 };
// f32 backward against a central finite difference (h = 1e-4) of the f64 forward.
const FD_TOL = { atol: 1e-4, rtol: 1e-3 };
// against PyTorch's float64 results stored as f32
const FIXTURE_TOL = { atol: 2e-5, rtol: 1e-4 };

// [N, C, wg]: size 1, C below / not a multiple of / several times the workgroup size.
const SHAPES: [number, number, number][] = [
  [1, 1, 64],
  [1, 7, 64],
  [3, 64, 64],
  [5, 67, 64],
  [4, 300, 64],
  [6, 37, 1],
  [2, 300, 256],
  [5, 67, 4],
];
const EPS = 1e-5;

describe.each(['f32', 'f16'] as const)('rmsnorm with %s weight', (wdtype) => {
  it.each(SHAPES)('forward and backward N=%i C=%i wg=%i', async (N, C, wg) => {
    const ctx = await getTestGpu();
    const x = randn(N * C, N * 31 + C);
    const w0 = randn(C, C + 3, 0.5).map((v) => 1 + v);
    const w = wdtype === 'f16' ? w0.map(roundToF16) : w0;
    const dy = randn(N * C, N * 7 + C + 1);
    const tx = uploadF32(ctx, x, [N, C], 'x');
    const tw = wdtype === 'f16' ? uploadF16(ctx, w0, [C], 'w') : uploadF32(ctx, w0, [C], 'w');
    const tdy = uploadF32(ctx, dy, [N, C], 'dy');
    const { y, rstd } = await rmsnormForward(ctx, tx, tw, { eps: EPS, wg });
    const ref = rmsnormForwardRef(x, w, N, C, EPS);
    expectClose('y', await downloadF32(ctx, y), ref.y, TOL);
    expectClose('rstd', await downloadF32(ctx, rstd), ref.rstd, TOL);
    const { dx, dw } = await rmsnormBackward(ctx, tdy, tx, tw, rstd, { dw: true, wg });
    const bref = rmsnormBackwardRef(dy, x, w, N, C, EPS);
    expectClose('dx', await downloadF32(ctx, dx), bref.dx, TOL);
    expectClose('dw', await downloadF32(ctx, dw!), bref.dw, TOL);
    for (const t of [tx, tw, tdy, y, rstd, dx, dw!]) releaseTensor(ctx, t);
  });
});

describe('rmsnorm backward', () => {
  it('matches a central finite difference of the forward (dx and dw)', async () => {
    const ctx = await getTestGpu();
    const [N, C] = [3, 5];
    const x = randn(N * C, 11);
    const w = randn(C, 12, 0.5).map((v) => 1 + v);
    const dy = randn(N * C, 13);
    const tx = uploadF32(ctx, x, [N, C], 'x');
    const tw = uploadF32(ctx, w, [C], 'w');
    const tdy = uploadF32(ctx, dy, [N, C], 'dy');
    const { rstd } = await rmsnormForward(ctx, tx, tw, { eps: EPS });
    const { dx, dw } = await rmsnormBackward(ctx, tdy, tx, tw, rstd, { dw: true });
    const h = 1e-4;
    const fdx = centralDiffVjp((v) => rmsnormForwardRef(v, w, N, C, EPS).y, x, dy, h);
    const fdw = centralDiffVjp((v) => rmsnormForwardRef(x, v, N, C, EPS).y, w, dy, h);
    expectClose('dx vs finite difference', await downloadF32(ctx, dx), fdx, FD_TOL);
    expectClose('dw vs finite difference', await downloadF32(ctx, dw!), fdw, FD_TOL);
  });

  it('accumulates into given dx and dw, and skips dw unless asked', async () => {
    const ctx = await getTestGpu();
    const [N, C] = [4, 9];
    const x = randn(N * C, 21);
    const w = randn(C, 22);
    const dy = randn(N * C, 23);
    const dx0 = randn(N * C, 24);
    const dw0 = randn(C, 25);
    const tx = uploadF32(ctx, x, [N, C], 'x');
    const tw = uploadF32(ctx, w, [C], 'w');
    const tdy = uploadF32(ctx, dy, [N, C], 'dy');
    const tdx = uploadF32(ctx, dx0, [N, C], 'dx');
    const tdw = uploadF32(ctx, dw0, [C], 'dw');
    const { rstd } = await rmsnormForward(ctx, tx, tw, { eps: EPS });
    const noDw = await rmsnormBackward(ctx, tdy, tx, tw, rstd);
    expect(noDw.dw).toBeNull();
    await rmsnormBackward(ctx, tdy, tx, tw, rstd, { dx: tdx, accumulateDx: true, dw: tdw, accumulateDw: true });
    const ref = rmsnormBackwardRef(dy, x, w, N, C, EPS);
    expectClose('dx accumulated', await downloadF32(ctx, tdx), ref.dx.map((v, i) => v + dx0[i]), TOL);
    expectClose('dw accumulated', await downloadF32(ctx, tdw), ref.dw.map((v, i) => v + dw0[i]), TOL);
  });

  it('is deterministic: two runs give identical bits', async () => {
    const ctx = await getTestGpu();
    const [N, C] = [50, 40];
    const tx = uploadF32(ctx, randn(N * C, 31), [N, C], 'x');
    const tw = uploadF32(ctx, randn(C, 32), [C], 'w');
    const tdy = uploadF32(ctx, randn(N * C, 33), [N, C], 'dy');
    const { rstd } = await rmsnormForward(ctx, tx, tw, { eps: EPS });
    const a = await rmsnormBackward(ctx, tdy, tx, tw, rstd, { dw: true });
    const b = await rmsnormBackward(ctx, tdy, tx, tw, rstd, { dw: true });
    expect(await downloadF32(ctx, b.dx)).toEqual(await downloadF32(ctx, a.dx));
    expect(await downloadF32(ctx, b.dw!)).toEqual(await downloadF32(ctx, a.dw!));
  });
});

describe('rmsnorm vs PyTorch fixture', () => {
  const fx = loadFixture<RmsNormFixture>('rmsnorm');
  it.each(fx.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const ctx = await getTestGpu();
    const { N, C, eps } = c.config;
    const tx = uploadF32(ctx, c.x, [N, C], 'x');
    const tw = uploadF32(ctx, c.w, [C], 'w');
    const tdy = uploadF32(ctx, c.dy, [N, C], 'dy');
    const { y, rstd } = await rmsnormForward(ctx, tx, tw, { eps });
    const { dx, dw } = await rmsnormBackward(ctx, tdy, tx, tw, rstd, { dw: true });
    expectClose('y', await downloadF32(ctx, y), c.y, FIXTURE_TOL);
    expectClose('rstd', await downloadF32(ctx, rstd), c.rstd, FIXTURE_TOL);
    expectClose('dx', await downloadF32(ctx, dx), c.dx, FIXTURE_TOL);
    expectClose('dw', await downloadF32(ctx, dw!), c.dw, FIXTURE_TOL);
  });
});

describe('rmsnorm grid and input checks', () => {
  it('handles more rows than one grid dimension holds', async () => {
    const ctx = await getTestGpu();
    const N = ctx.description.limits.maxComputeWorkgroupsPerDimension + 2;
    const C = 2;
    const x = randn(N * C, 41);
    const tx = uploadF32(ctx, x, [N, C], 'x');
    const tw = uploadF32(ctx, [1, 2], [C], 'w');
    const { y } = await rmsnormForward(ctx, tx, tw, { eps: EPS, wg: 1 });
    const got = await downloadF32(ctx, y);
    expectClose('y', got, rmsnormForwardRef(x, [1, 2], N, C, EPS).y, TOL);
    for (const t of [tx, tw, y] as Tensor[]) releaseTensor(ctx, t);
  });

  it('names bad shapes, dtypes and workgroup sizes', async () => {
    const ctx = await getTestGpu();
    const tx = uploadF32(ctx, new Float32Array(6), [2, 3], 'x');
    const tw = uploadF32(ctx, new Float32Array(4), [4], 'w');
    await expect(rmsnormForward(ctx, tx, tw, { eps: EPS })).rejects.toThrow(/rmsnormForward: w \(w\) must be f16 or f32 \[3\]/);
    const tw3 = uploadF32(ctx, new Float32Array(3), [3], 'w3');
    await expect(rmsnormForward(ctx, tx, tw3, { eps: EPS, wg: 48, version: 1 })).rejects.toThrow(/power of two/);
    await expect(rmsnormForward(ctx, tx, tw3, { eps: EPS, wg: 0 })).rejects.toThrow(/rmsnormForward: wg 0 must be a whole number/);
    const { rstd } = await rmsnormForward(ctx, tx, tw3, { eps: EPS });
    await expect(rmsnormBackward(ctx, tw3, tx, tw3, rstd)).rejects.toThrow(/dy \(w3\) must be f32 \[2,3\]/);
    await expect(rmsnormBackward(ctx, tx, tx, tw3, rstd, { dx: tx })).rejects.toThrow(/must not share a buffer/);
  });
});
