import { describe, expect, it } from 'vitest';
import { roundToF16 } from '../../util/f16';
import { expectClose } from '../../util/check';
import { centralDiffVjp } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF16, uploadF32 } from '../tensor';
import { loadFixture, type LayerNormFixture } from './fixtures';
import { layernormBackward, layernormForward } from './layernorm';
import { layernormBackwardRef, layernormForwardRef } from './layernorm.ref';

// f32 kernels against the f64 reference on identical inputs.
const TOL = { atol: 1e-5, rtol: 1e-4 };
// f32 backward against a central finite difference (h = 1e-4) of the f64 forward.
const FD_TOL = { atol: 1e-4, rtol: 1e-3 };
// against PyTorch's float64 results stored as f32
const FIXTURE_TOL = { atol: 2e-5, rtol: 1e-4 };

// [N, C, wg]: size 1 rows, C below / not a multiple of / several times the workgroup size.
const SHAPES: [number, number, number][] = [
  [1, 2, 64],
  [1, 7, 64],
  [3, 64, 64],
  [5, 67, 64],
  [4, 300, 64],
  [6, 37, 1],
  [2, 300, 256],
  [5, 67, 4],
];
const EPS = 1e-5;

describe.each([
  ['f32', 'f32'],
  ['f16', 'f16'],
  ['f16', 'f32'],
] as const)('layernorm with %s weight, %s bias', (wdtype, bdtype) => {
  it.each(SHAPES)('forward and backward N=%i C=%i wg=%i', async (N, C, wg) => {
    const ctx = await getTestGpu();
    // an offset mean checks the centred variance
    const x = randn(N * C, N * 31 + C).map((v) => v + 3);
    const w0 = randn(C, C + 3, 0.5).map((v) => 1 + v);
    const b0 = randn(C, C + 4, 0.5);
    const w = wdtype === 'f16' ? w0.map(roundToF16) : w0;
    const b = bdtype === 'f16' ? b0.map(roundToF16) : b0;
    const dy = randn(N * C, N * 7 + C + 1);
    const tx = uploadF32(ctx, x, [N, C], 'x');
    const tw = wdtype === 'f16' ? uploadF16(ctx, w0, [C], 'w') : uploadF32(ctx, w0, [C], 'w');
    const tb = bdtype === 'f16' ? uploadF16(ctx, b0, [C], 'b') : uploadF32(ctx, b0, [C], 'b');
    const tdy = uploadF32(ctx, dy, [N, C], 'dy');
    const { y, mean, rstd } = await layernormForward(ctx, tx, tw, tb, { eps: EPS, wg });
    const ref = layernormForwardRef(x, w, b, N, C, EPS);
    expectClose('y', await downloadF32(ctx, y), ref.y, TOL);
    expectClose('mean', await downloadF32(ctx, mean), ref.mean, TOL);
    expectClose('rstd', await downloadF32(ctx, rstd), ref.rstd, TOL);
    const { dx, dw, db } = await layernormBackward(ctx, tdy, tx, tw, mean, rstd, { weightGrads: true, wg });
    const bref = layernormBackwardRef(dy, x, w, N, C, EPS);
    expectClose('dx', await downloadF32(ctx, dx), bref.dx, TOL);
    expectClose('dw', await downloadF32(ctx, dw!), bref.dw, TOL);
    expectClose('db', await downloadF32(ctx, db!), bref.db, TOL);
    for (const t of [tx, tw, tb, tdy, y, mean, rstd, dx, dw!, db!]) releaseTensor(ctx, t);
  });
});

describe('layernorm backward', () => {
  it('matches a central finite difference of the forward (dx, dw, db)', async () => {
    const ctx = await getTestGpu();
    const [N, C] = [3, 5];
    const x = randn(N * C, 11);
    const w = randn(C, 12, 0.5).map((v) => 1 + v);
    const b = randn(C, 14);
    const dy = randn(N * C, 13);
    const tx = uploadF32(ctx, x, [N, C], 'x');
    const tw = uploadF32(ctx, w, [C], 'w');
    const tb = uploadF32(ctx, b, [C], 'b');
    const tdy = uploadF32(ctx, dy, [N, C], 'dy');
    const { mean, rstd } = await layernormForward(ctx, tx, tw, tb, { eps: EPS });
    const g = await layernormBackward(ctx, tdy, tx, tw, mean, rstd, { weightGrads: true });
    const h = 1e-4;
    const fdx = centralDiffVjp((v) => layernormForwardRef(v, w, b, N, C, EPS).y, x, dy, h);
    const fdw = centralDiffVjp((v) => layernormForwardRef(x, v, b, N, C, EPS).y, w, dy, h);
    const fdb = centralDiffVjp((v) => layernormForwardRef(x, w, v, N, C, EPS).y, b, dy, h);
    expectClose('dx vs finite difference', await downloadF32(ctx, g.dx), fdx, FD_TOL);
    expectClose('dw vs finite difference', await downloadF32(ctx, g.dw!), fdw, FD_TOL);
    expectClose('db vs finite difference', await downloadF32(ctx, g.db!), fdb, FD_TOL);
  });

  it('accumulates into given dx, dw, db and skips dw/db unless asked', async () => {
    const ctx = await getTestGpu();
    const [N, C] = [4, 9];
    const x = randn(N * C, 21);
    const w = randn(C, 22);
    const dy = randn(N * C, 23);
    const [dx0, dw0, db0] = [randn(N * C, 24), randn(C, 25), randn(C, 26)];
    const tx = uploadF32(ctx, x, [N, C], 'x');
    const tw = uploadF32(ctx, w, [C], 'w');
    const tb = uploadF32(ctx, new Float32Array(C), [C], 'b');
    const tdy = uploadF32(ctx, dy, [N, C], 'dy');
    const tdx = uploadF32(ctx, dx0, [N, C], 'dx');
    const tdw = uploadF32(ctx, dw0, [C], 'dw');
    const tdb = uploadF32(ctx, db0, [C], 'db');
    const { mean, rstd } = await layernormForward(ctx, tx, tw, tb, { eps: EPS });
    const none = await layernormBackward(ctx, tdy, tx, tw, mean, rstd);
    expect(none.dw).toBeNull();
    expect(none.db).toBeNull();
    await layernormBackward(ctx, tdy, tx, tw, mean, rstd, {
      dx: tdx,
      accumulateDx: true,
      weightGrads: { dw: tdw, db: tdb },
      accumulateWeightGrads: true,
    });
    const ref = layernormBackwardRef(dy, x, w, N, C, EPS);
    expectClose('dx accumulated', await downloadF32(ctx, tdx), ref.dx.map((v, i) => v + dx0[i]), TOL);
    expectClose('dw accumulated', await downloadF32(ctx, tdw), ref.dw.map((v, i) => v + dw0[i]), TOL);
    expectClose('db accumulated', await downloadF32(ctx, tdb), ref.db.map((v, i) => v + db0[i]), TOL);
  });

  it('rejects mismatched shapes with the tensor named', async () => {
    const ctx = await getTestGpu();
    const tx = uploadF32(ctx, new Float32Array(6), [2, 3], 'x');
    const tw = uploadF32(ctx, new Float32Array(3), [3], 'w');
    const tb = uploadF32(ctx, new Float32Array(2), [2], 'short b');
    await expect(layernormForward(ctx, tx, tw, tb, { eps: EPS })).rejects.toThrow(/layernormForward: b \(short b\) must be f16 or f32 \[3\]/);
    const { mean, rstd } = await layernormForward(ctx, tx, tw, tw, { eps: EPS });
    await expect(layernormBackward(ctx, tx, tx, tw, rstd, mean, { accumulateWeightGrads: true })).rejects.toThrow(/weightGrads/);
  });
});

describe('layernorm vs PyTorch fixture', () => {
  const fx = loadFixture<LayerNormFixture>('layernorm');
  it.each(fx.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const ctx = await getTestGpu();
    const { N, C, eps } = c.config;
    const tx = uploadF32(ctx, c.x, [N, C], 'x');
    const tw = uploadF32(ctx, c.w, [C], 'w');
    const tb = uploadF32(ctx, c.b, [C], 'b');
    const tdy = uploadF32(ctx, c.dy, [N, C], 'dy');
    const { y, mean, rstd } = await layernormForward(ctx, tx, tw, tb, { eps });
    const { dx, dw, db } = await layernormBackward(ctx, tdy, tx, tw, mean, rstd, { weightGrads: true });
    expectClose('y', await downloadF32(ctx, y), c.y, FIXTURE_TOL);
    expectClose('mean', await downloadF32(ctx, mean), c.mean, FIXTURE_TOL);
    expectClose('rstd', await downloadF32(ctx, rstd), c.rstd, FIXTURE_TOL);
    expectClose('dx', await downloadF32(ctx, dx), c.dx, FIXTURE_TOL);
    expectClose('dw', await downloadF32(ctx, dw!), c.dw, FIXTURE_TOL);
    expectClose('db', await downloadF32(ctx, db!), c.db, FIXTURE_TOL);
  });
});
