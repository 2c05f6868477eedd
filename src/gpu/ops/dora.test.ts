// DoRA's kernels composed into one DoRA linear exactly as the model runs it (matmul + LoRA +
// dora.ts), against the f64 reference (dora.ref.ts) on awkward shapes: single element, rows and
// columns not multiples of the 64-thread workgroups, a rank above 64 (B's row loaded in several
// passes), fp16 and f32 base weights, with and without bias. Backward checked against the
// reference's detached-norm gradients.
import { describe, expect, it } from 'vitest';
import { expectClose } from '../../util/check';
import { roundToF16 } from '../../util/f16';
import { randn } from '../../util/random';
import { getTestGpu } from '../testing/nodeGpu';
import { downloadF32, emptyTensor, releaseTensor, uploadF16, uploadF32, type Tensor } from '../tensor';
import { doraMagnitudeGrad, doraRowNorm, doraScaleBackward, doraScaleForward } from './dora';
import { doraBackwardRef, doraForwardRef, doraRowNormRef } from './dora.ref';
import { zeroTensor } from './elementwise';
import { loraBackward, loraForward } from './lora';
import { matmulDyW, matmulXWt } from './matmul';

// f32 GPU sums against f64 (IN up to 130 terms per dot product, plus the norm's sqrt)
const TOL = { atol: 2e-5, rtol: 2e-4 };

// [N, IN, OUT, r, fp16 W, bias]
const SHAPES: [number, number, number, number, boolean, boolean][] = [
  [1, 1, 1, 1, false, false],
  [3, 7, 5, 2, true, true],
  [5, 67, 33, 4, true, false],
  [2, 130, 70, 8, false, true],
  [4, 20, 9, 70, true, true],
];

describe('DoRA linear: kernels vs the f64 reference', () => {
  it.each(SHAPES)('N=%i IN=%i OUT=%i r=%i fp16=%s bias=%s', async (N, IN, OUT, r, f16, hasBias) => {
    const ctx = await getTestGpu();
    const seed = N * 1000 + IN * 10 + OUT + r;
    const x = randn(N * IN, seed, 1);
    let W = randn(OUT * IN, seed + 1, 0.3);
    if (f16) W = Float32Array.from(W, roundToF16);
    const A = randn(r * IN, seed + 2, 0.2);
    const B = randn(OUT * r, seed + 3, 0.2);
    const bias = hasBias ? randn(OUT, seed + 4, 0.5) : null;
    const s = 1.7;
    // a magnitude away from the norm, so that g is not 1
    const m = Float32Array.from(doraRowNormRef(W, A, B, OUT, IN, r, s), (v, j) => v * (0.5 + (j % 3) * 0.4));
    const dy = randn(N * OUT, seed + 5, 1);
    const inputs = { x, W, A, B, m, bias, N, IN, OUT, r, s };

    const tx = uploadF32(ctx, x, [N, IN], 'x');
    const tW = f16 ? uploadF16(ctx, W, [OUT, IN], 'W') : uploadF32(ctx, W, [OUT, IN], 'W');
    const tA = uploadF32(ctx, A, [r, IN], 'A');
    const tB = uploadF32(ctx, B, [OUT, r], 'B');
    const tm = uploadF32(ctx, m, [OUT], 'm');
    const tb = bias ? uploadF32(ctx, bias, [OUT], 'bias') : null;
    const tdy = uploadF32(ctx, dy, [N, OUT], 'dy');

    const norm = await doraRowNorm(ctx, tW, tA, tB, { scale: s });
    const y = await matmulXWt(ctx, tx, tW, tb);
    const { u } = await loraForward(ctx, tx, tA, tB, y, { scale: s, dropout: null });
    const { z } = await doraScaleForward(ctx, y, tm, norm, tb);
    const ref = doraForwardRef(inputs);
    expectClose('norm', await downloadF32(ctx, norm), ref.norm, TOL);
    expectClose('z', await downloadF32(ctx, z), ref.z, TOL);
    expectClose('y', await downloadF32(ctx, y), ref.y, TOL);

    const dA = emptyTensor(ctx, 'f32', [r, IN], 'dA');
    const dB = emptyTensor(ctx, 'f32', [OUT, r], 'dB');
    const dm = emptyTensor(ctx, 'f32', [OUT], 'dm');
    for (const t of [dA, dB, dm]) await zeroTensor(ctx, t);
    const dz = await doraScaleBackward(ctx, tdy, tm, norm);
    await doraMagnitudeGrad(ctx, tdy, z, norm, dm);
    const dx = await matmulDyW(ctx, dz, tW);
    await loraBackward(ctx, tx, tA, tB, u, dz, { scale: s, dropout: null }, { dA, dB, dx });
    const g = doraBackwardRef(inputs, dy);
    expectClose('dm', await downloadF32(ctx, dm), g.dm, TOL);
    expectClose('dA', await downloadF32(ctx, dA), g.dA, TOL);
    expectClose('dB', await downloadF32(ctx, dB), g.dB, TOL);
    expectClose('dx', await downloadF32(ctx, dx), g.dx, TOL);
    // accumulation: a second magnitude-gradient call adds the same again
    await doraMagnitudeGrad(ctx, tdy, z, norm, dm);
    expectClose('dm twice', await downloadF32(ctx, dm), g.dm.map((v) => 2 * v), TOL);
    for (const t of [tx, tW, tA, tB, tm, tdy, norm, y, u, z, dA, dB, dm, dz, dx, ...(tb ? [tb] : [])] as Tensor[]) releaseTensor(ctx, t);
  }, 120_000);

  it('refuses mismatched shapes with a message naming the tensor', async () => {
    const ctx = await getTestGpu();
    const W = uploadF32(ctx, new Float32Array(12), [3, 4], 'W');
    const A = uploadF32(ctx, new Float32Array(10), [2, 5], 'A');
    const B = uploadF32(ctx, new Float32Array(6), [3, 2], 'B');
    await expect(doraRowNorm(ctx, W, A, B, { scale: 1 })).rejects.toThrow(/doraRowNorm: A \(A\) is \[2,5\] but \[\*,4\] is expected/);
    const y = uploadF32(ctx, new Float32Array(6), [2, 3], 'y');
    const m = uploadF32(ctx, new Float32Array(4), [4], 'm');
    await expect(doraScaleForward(ctx, y, m, m, null)).rejects.toThrow(/doraScaleForward: m \(m\) must be f32 \[3\]/);
    for (const t of [W, A, B, y, m]) releaseTensor(ctx, t);
  });
});
