import { describe, expect, it } from 'vitest';
import { expectClose } from '../../util/check';
import { centralDiffGrad } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF32, uploadI32 } from '../tensor';
import { copyColumns, mergeColumns, splitColumns } from './splitColumns';
import { mergeColumnsRef, splitColumnsRef } from './splitColumns.ref';

// Pure copies: bit-exact.
const EXACT = { atol: 0, rtol: 0 };
// merge (the backward of split) against a central finite difference (h = 1e-3) of the f64
// forward reference; split is linear, so only f32 rounding of the inputs separates them.
const FD_TOL = { atol: 1e-6, rtol: 1e-6 };

describe('splitColumns / mergeColumns', () => {
  it.each([
    // N, widths: size 1, awkward widths, a GPT-2-like [q | k | v], rows spanning many workgroups
    [1, [1]],
    [1, [3, 32, 3]],
    [5, [1, 7, 2]],
    [3, [32, 32, 32]],
    [257, [5, 5, 5]],
    [70, [64, 64, 64]],
  ] as const)('N=%i widths %j: split, merge, round trip', async (N, widths) => {
    const ctx = await getTestGpu();
    const S = widths.reduce((a, b) => a + b, 0);
    const x = randn(N * S, N * 31 + S);
    const tx = uploadF32(ctx, x, [N, S], 'x');
    // parts start non-zero so that a kernel writing too little shows up
    const parts = widths.map((w, i) => uploadF32(ctx, randn(N * w, 100 + i), [N, w], `part${i}`));
    await splitColumns(ctx, tx, parts);
    const ref = splitColumnsRef(x, N, widths);
    for (const [i, p] of parts.entries()) expectClose(`part ${i}`, await downloadF32(ctx, p), ref[i], EXACT);
    const back = uploadF32(ctx, randn(N * S, 7), [N, S], 'back');
    await mergeColumns(ctx, parts, back);
    expectClose('merge(split(x))', await downloadF32(ctx, back), x, EXACT);
    const gs = widths.map((w, i) => randn(N * w, 200 + i));
    const tg = gs.map((g, i) => uploadF32(ctx, g, [N, widths[i]], `g${i}`));
    await mergeColumns(ctx, tg, back);
    expectClose('merge', await downloadF32(ctx, back), mergeColumnsRef(gs, N, widths), EXACT);
    for (const t of [tx, back, ...parts, ...tg]) releaseTensor(ctx, t);
  });

  it('merge is the backward of split (central finite difference)', async () => {
    const ctx = await getTestGpu();
    const N = 3;
    const widths = [2, 4, 3];
    const S = 9;
    const x = randn(N * S, 5);
    const gs = widths.map((w, i) => randn(N * w, 50 + i));
    // L(x) = Σ_i <g_i, split(x)_i>
    const loss = (xs: Float64Array) => splitColumnsRef(xs, N, widths).reduce((s, p, i) => s + p.reduce((a, v, k) => a + v * gs[i][k], 0), 0);
    const h = 1e-3;
    const fd = centralDiffGrad(loss, x, h);
    const tg = gs.map((g, i) => uploadF32(ctx, g, [N, widths[i]], `g${i}`));
    const dx = uploadF32(ctx, new Float32Array(N * S), [N, S], 'dx');
    await mergeColumns(ctx, tg, dx);
    expectClose('dL/dx', await downloadF32(ctx, dx), fd, FD_TOL);
    for (const t of [dx, ...tg]) releaseTensor(ctx, t);
  });

  it('copyColumns leaves the other columns alone', async () => {
    const ctx = await getTestGpu();
    const src = uploadF32(ctx, [1, 2, 3, 4, 5, 6], [2, 3], 'src');
    const dst = uploadF32(ctx, [0, 0, 0, 0, 0, 0, 0, 0], [2, 4], 'dst');
    await copyColumns(ctx, src, dst, { srcCol: 1, dstCol: 2, cols: 2 });
    expect(Array.from(await downloadF32(ctx, dst))).toEqual([0, 0, 2, 3, 0, 0, 5, 6]);
    for (const t of [src, dst]) releaseTensor(ctx, t);
  });

  it('rejects widths that do not add up, row mismatches, bad blocks and non-f32 tensors', async () => {
    const ctx = await getTestGpu();
    const x = uploadF32(ctx, new Float32Array(12), [2, 6], 'qkv');
    const a = uploadF32(ctx, new Float32Array(4), [2, 2], 'a');
    const b = uploadF32(ctx, new Float32Array(6), [2, 3], 'b');
    const c3 = uploadF32(ctx, new Float32Array(6), [3, 2], 'c3');
    const ints = uploadI32(ctx, new Int32Array(4), [2, 2], 'ints');
    await expect(splitColumns(ctx, x, [a, b])).rejects.toThrow(/widths \[2, 3\] sum to 5, but qkv has 6/);
    await expect(splitColumns(ctx, x, [a, a, c3])).rejects.toThrow(/parts\[2\] \(c3\) has 3 rows but qkv has 2/);
    await expect(mergeColumns(ctx, [a, a, ints], x)).rejects.toThrow(/parts\[2\] \(ints\) must be a 2-D f32 tensor/);
    await expect(mergeColumns(ctx, [], x)).rejects.toThrow(/at least one part/);
    await expect(copyColumns(ctx, x, a, { srcCol: 5, dstCol: 0, cols: 2 })).rejects.toThrow(/columns 5..6 are outside src \(qkv\)/);
    await expect(copyColumns(ctx, x, a, { srcCol: 0, dstCol: 1, cols: 2 })).rejects.toThrow(/outside dst \(a\)/);
    await expect(copyColumns(ctx, x, x, { srcCol: 0, dstCol: 3, cols: 2 })).rejects.toThrow(/different buffers/);
    await expect(copyColumns(ctx, x, a, { srcCol: -1, dstCol: 0, cols: 1 })).rejects.toThrow(/srcCol must be an integer >= 0/);
    for (const t of [x, a, b, c3, ints]) releaseTensor(ctx, t);
  });
});
