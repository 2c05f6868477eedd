// (IA)³'s kernels composed into one (IA)³ linear as the model runs it (matmul + ia3.ts), output
// scaling (k/v_proj) and input scaling (down_proj), against the f64 reference (ia3.ref.ts) on
// awkward shapes: a single element, rows and columns not multiples of the 64-thread workgroups,
// more than 64 columns (several workgroups for the column reduction), many rows per column,
// fp16 and f32 base weights, with and without bias; and the two kernels alone (accumulation).
import { describe, expect, it } from 'vitest';
import { expectClose } from '../../util/check';
import { roundToF16 } from '../../util/f16';
import { randn } from '../../util/random';
import { getTestGpu } from '../testing/nodeGpu';
import { downloadF32, emptyTensor, releaseTensor, uploadF16, uploadF32, type Tensor } from '../tensor';
import { ia3ColumnDot, ia3Scale } from './ia3';
import { ia3ColumnDotRef, ia3LinearRef, ia3ScaleRef } from './ia3.ref';
import { zeroTensor } from './elementwise';
import { matmulDyW, matmulXWt } from './matmul';

// f32 GPU sums against f64 (up to 300 terms per dot product or column sum)
const TOL = { atol: 2e-5, rtol: 2e-4 };

// [N, IN, OUT, fp16 W, bias, feedforward]
const SHAPES: [number, number, number, boolean, boolean, boolean][] = [
  [1, 1, 1, false, false, false],
  [1, 1, 1, true, true, true],
  [3, 7, 5, true, true, false],
  [5, 67, 33, true, false, true],
  [2, 130, 70, false, true, false],
  [300, 9, 70, true, true, true],
  [300, 70, 9, false, true, false],
];

describe('(IA)³ linear: kernels vs the f64 reference', () => {
  it.each(SHAPES)('N=%i IN=%i OUT=%i fp16=%s bias=%s feedforward=%s', async (N, IN, OUT, f16, hasBias, ff) => {
    const ctx = await getTestGpu();
    const seed = N * 1000 + IN * 10 + OUT + (ff ? 7 : 0);
    const x = randn(N * IN, seed, 1);
    let W = randn(OUT * IN, seed + 1, 0.3);
    if (f16) W = Float32Array.from(W, roundToF16);
    const bias = hasBias ? randn(OUT, seed + 4, 0.5) : null;
    const K = ff ? IN : OUT;
    // a vector away from its initial ones
    const l = Float32Array.from({ length: K }, (_, j) => 0.4 + (j % 5) * 0.3);
    const dy = randn(N * OUT, seed + 5, 1);
    const ref = ia3LinearRef({ x, W, bias, l, feedforward: ff, N, IN, OUT }, dy);

    const tx = uploadF32(ctx, x, [N, IN], 'x');
    const tW = f16 ? uploadF16(ctx, W, [OUT, IN], 'W') : uploadF32(ctx, W, [OUT, IN], 'W');
    const tb = bias ? uploadF32(ctx, bias, [OUT], 'bias') : null;
    const tl = uploadF32(ctx, l, [K], 'l');
    const tdy = uploadF32(ctx, dy, [N, OUT], 'dy');
    const dl = emptyTensor(ctx, 'f32', [K], 'dl');
    await zeroTensor(ctx, dl);
    const made: Tensor[] = [];
    let y: Tensor;
    let dx: Tensor;
    if (ff) {
      const xs = await ia3Scale(ctx, tx, tl);
      y = await matmulXWt(ctx, xs, tW, tb);
      const g = await matmulDyW(ctx, tdy, tW);
      await ia3ColumnDot(ctx, g, tx, dl);
      dx = await ia3Scale(ctx, g, tl);
      made.push(xs, g);
    } else {
      const z = await matmulXWt(ctx, tx, tW, tb);
      y = await ia3Scale(ctx, z, tl);
      const dz = await ia3Scale(ctx, tdy, tl);
      await ia3ColumnDot(ctx, tdy, z, dl);
      dx = await matmulDyW(ctx, dz, tW);
      made.push(z, dz);
    }
    expectClose('y', await downloadF32(ctx, y), ref.y, TOL);
    expectClose('dx', await downloadF32(ctx, dx), ref.dx, TOL);
    expectClose('dl', await downloadF32(ctx, dl), ref.dl, TOL);
    for (const t of [tx, tW, tl, tdy, dl, y, dx, ...made, ...(tb ? [tb] : [])]) releaseTensor(ctx, t);
  }, 120_000);

  it.each([
    [1, 1],
    [4, 63],
    [65, 65],
    [1000, 3],
  ])('ia3Scale (with accumulate) and ia3ColumnDot (accumulating) alone: N=%i K=%i', async (N, K) => {
    const ctx = await getTestGpu();
    const x = randn(N * K, N + K, 1);
    const b = randn(N * K, N + K + 1, 1);
    const l = randn(K, N + K + 2, 1);
    const start = randn(N * K, N + K + 3, 1);
    const tx = uploadF32(ctx, x, [N, K], 'x');
    const tb = uploadF32(ctx, b, [N, K], 'b');
    const tl = uploadF32(ctx, l, [K], 'l');
    const out = uploadF32(ctx, start, [N, K], 'out');
    await ia3Scale(ctx, tx, tl, { out, accumulate: true });
    const scaled = ia3ScaleRef(x, l, N, K);
    expectClose('out += x ⊙ l', await downloadF32(ctx, out), scaled.map((v, i) => v + start[i]), TOL);
    await ia3Scale(ctx, tx, tl, { out });
    expectClose('out = x ⊙ l', await downloadF32(ctx, out), scaled, TOL);
    const dl = uploadF32(ctx, l, [K], 'dl');
    await ia3ColumnDot(ctx, tx, tb, dl);
    await ia3ColumnDot(ctx, tx, tb, dl);
    const dot = ia3ColumnDotRef(x, b, N, K);
    expectClose('dl = l + 2 Σ a ⊙ b', await downloadF32(ctx, dl), dot.map((v, j) => l[j] + 2 * v), TOL);
    for (const t of [tx, tb, tl, out, dl]) releaseTensor(ctx, t);
  }, 120_000);

  it('refuses mismatched shapes and aliasing with a message naming the tensor', async () => {
    const ctx = await getTestGpu();
    const x = uploadF32(ctx, new Float32Array(6), [2, 3], 'x');
    const l = uploadF32(ctx, new Float32Array(4), [4], 'l');
    await expect(ia3Scale(ctx, x, l)).rejects.toThrow(/ia3Scale: l \(l\) must be f32 \[3\]/);
    const l3 = uploadF32(ctx, new Float32Array(3), [3], 'l3');
    await expect(ia3Scale(ctx, x, l3, { out: x })).rejects.toThrow(/out must not share x's buffer/);
    const b = uploadF32(ctx, new Float32Array(6), [3, 2], 'b');
    await expect(ia3ColumnDot(ctx, x, b, l3)).rejects.toThrow(/ia3ColumnDot: b \(b\) is \[3,2\] but \[2,3\] is expected/);
    for (const t of [x, l, l3, b]) releaseTensor(ctx, t);
  });
});
