// Both kernel versions of every row reduction (rowKernels.ts) on this adapter, on awkward shapes,
// against the f64 TS references (atol + rtol·|ref|, the first mismatches in the message): row
// lengths 1, 3, 5, 127, 1000 and a vocabulary-sized 32003, row counts that are multiples of
// nothing, threads per row below, equal to and above the subgroup size (and for version 2 sizes
// that are not powers of two). Version 2 runs only where the device has subgroups (here:
// SwiftShader, subgroup size 4); the device without them is covered by rowKernels.test.ts.
import { describe, expect, it } from 'vitest';
import { expectClose } from '../../util/check';
import { randn, rng } from '../../util/random';
import { getTestGpu } from '../testing/nodeGpu';
import { downloadF32, releaseTensor, uploadF16, uploadF32, uploadI32, type Tensor } from '../tensor';
import { roundToF16 } from '../../util/f16';
import { countCountedLabels, crossEntropyForwardBackward, sumRows } from './crossEntropy';
import { crossEntropyRef } from './crossEntropy.ref';
import { gradNorm, readGradState } from './gradNorm';
import { gradNormRef } from './gradNorm.ref';
import { layernormBackward, layernormForward } from './layernorm';
import { layernormBackwardRef, layernormForwardRef } from './layernorm.ref';
import { rmsnormBackward, rmsnormForward } from './rmsnorm';
import { rmsnormBackwardRef, rmsnormForwardRef } from './rmsnorm.ref';
import type { RowVersion } from './rowKernels';

const TOL = { atol: 1e-5, rtol: 1e-4 };
// cross-entropy gradients are O(1/count): an absolute tolerance scaled to them
const GRAD_TOL = { atol: 1e-6, rtol: 1e-4 };
const EPS = 1e-5;

const ctxPromise = getTestGpu();
const versions: RowVersion[] = [1, 2];

// [N, C, wg]. Version 1 needs a power of two: it runs a non-power-of-two wg at the next lower one.
const SHAPES: [number, number, number][] = [
  [1, 1, 4],
  [7, 3, 4],
  [13, 5, 1],
  [7, 127, 64],
  [3, 1000, 256],
  [5, 1000, 3],
  [3, 127, 6],
  [2, 32003, 256],
  [3, 32003, 4],
];

function wgFor(version: RowVersion, wg: number): number {
  return version === 1 ? 2 ** Math.floor(Math.log2(wg)) : wg;
}

async function skipWithoutSubgroups(version: RowVersion): Promise<boolean> {
  const ctx = await ctxPromise;
  return version === 2 && !ctx.description.features.subgroups;
}

describe.each(versions)('rmsnorm version %i', (version) => {
  it.each(SHAPES)('N=%i C=%i wg=%i: y, rstd, dx, dw (fp16 w, Gemma offset on odd N)', async (N, C, wg0) => {
    if (await skipWithoutSubgroups(version)) return;
    const ctx = await ctxPromise;
    const wg = wgFor(version, wg0);
    const offset = N % 2;
    const x = randn(N * C, N * 31 + C);
    const w0 = randn(C, C + 3, 0.5);
    const w = w0.map(roundToF16);
    const dy = randn(N * C, N * 7 + C + 1);
    const tx = uploadF32(ctx, x, [N, C], 'x');
    const tw = uploadF16(ctx, w0, [C], 'w');
    const tdy = uploadF32(ctx, dy, [N, C], 'dy');
    const { y, rstd } = await rmsnormForward(ctx, tx, tw, { eps: EPS, wg, version, weightOffset: offset });
    const ref = rmsnormForwardRef(x, w, N, C, EPS, offset);
    expectClose('y', await downloadF32(ctx, y), ref.y, TOL);
    expectClose('rstd', await downloadF32(ctx, rstd), ref.rstd, TOL);
    const { dx, dw } = await rmsnormBackward(ctx, tdy, tx, tw, rstd, { dw: true, wg, version, weightOffset: offset });
    const bref = rmsnormBackwardRef(dy, x, w, N, C, EPS, offset);
    expectClose('dx', await downloadF32(ctx, dx), bref.dx, TOL);
    expectClose('dw', await downloadF32(ctx, dw!), bref.dw, TOL);
    for (const t of [tx, tw, tdy, y, rstd, dx, dw!]) releaseTensor(ctx, t);
  });
});

describe.each(versions)('layernorm version %i', (version) => {
  it.each(SHAPES)('N=%i C=%i wg=%i: y, mean, rstd, dx, dw, db', async (N, C, wg0) => {
    if (await skipWithoutSubgroups(version)) return;
    const ctx = await ctxPromise;
    const wg = wgFor(version, wg0);
    const x = randn(N * C, N * 13 + C).map((v) => v + 2);
    const w = randn(C, C + 5, 0.5).map((v) => 1 + v);
    const b = randn(C, C + 6, 0.5);
    const dy = randn(N * C, N * 3 + C);
    const tx = uploadF32(ctx, x, [N, C], 'x');
    const tw = uploadF32(ctx, w, [C], 'w');
    const tb = uploadF32(ctx, b, [C], 'b');
    const tdy = uploadF32(ctx, dy, [N, C], 'dy');
    const { y, mean, rstd } = await layernormForward(ctx, tx, tw, tb, { eps: EPS, wg, version });
    const ref = layernormForwardRef(x, w, b, N, C, EPS);
    expectClose('y', await downloadF32(ctx, y), ref.y, TOL);
    expectClose('mean', await downloadF32(ctx, mean), ref.mean, TOL);
    expectClose('rstd', await downloadF32(ctx, rstd), ref.rstd, TOL);
    const { dx, dw, db } = await layernormBackward(ctx, tdy, tx, tw, mean, rstd, { wg, version, weightGrads: true });
    const bref = layernormBackwardRef(dy, x, w, N, C, EPS);
    expectClose('dx', await downloadF32(ctx, dx), bref.dx, TOL);
    expectClose('dw', await downloadF32(ctx, dw!), bref.dw, TOL);
    expectClose('db', await downloadF32(ctx, db!), bref.db, TOL);
    for (const t of [tx, tw, tb, tdy, y, mean, rstd, dx, dw!, db!]) releaseTensor(ctx, t);
  });
});

function labelsFor(N: number, V: number, seed: number): Int32Array {
  const r = rng(seed);
  const labels = Int32Array.from({ length: N }, (_, i) => (i % 3 === 1 ? -100 : Math.floor(r() * V)));
  labels[0] = V - 1; // at least one counted row, with the last class
  if (N > 2) labels[2] = 0;
  return labels;
}

describe.each(versions)('cross-entropy version %i', (version) => {
  it.each(SHAPES)('N=%i V=%i wg=%i: smoothing 0.1, ignored rows; row losses, mean, dlogits, in place', async (N, V, wg0) => {
    if (await skipWithoutSubgroups(version)) return;
    const ctx = await ctxPromise;
    const wg = wgFor(version, wg0);
    const smoothing = 0.1;
    const logits = randn(N * V, N * 5 + V, 3);
    const labels = labelsFor(N, V, N + V);
    const counted = countCountedLabels(labels);
    const ref = crossEntropyRef(logits, labels, N, V, smoothing, counted);
    const tl = uploadF32(ctx, logits, [N, V], 'logits');
    const ty = uploadI32(ctx, labels, [N], 'labels');
    const rows = uploadF32(ctx, new Float32Array(N), [N], 'row losses');
    const opts = { smoothing, countedTokens: counted, wg, version };
    const { dlogits } = await crossEntropyForwardBackward(ctx, tl, ty, { ...opts, lossOut: rows });
    expectClose('row losses', await downloadF32(ctx, rows), ref.rowLoss, TOL);
    expectClose('dlogits', await downloadF32(ctx, dlogits), ref.dlogits, GRAD_TOL);
    const mean = await sumRows(ctx, rows, { scale: 1 / counted, version });
    expectClose('sumRows mean', await downloadF32(ctx, mean), [ref.loss], TOL);
    const acc = uploadF32(ctx, [0], [1], 'loss');
    await crossEntropyForwardBackward(ctx, tl, ty, { ...opts, lossOut: acc, dlogits: 'inPlace' });
    expectClose('accumulated mean (in place)', await downloadF32(ctx, acc), [ref.loss], TOL);
    expectClose('dlogits in place', await downloadF32(ctx, tl), ref.dlogits, GRAD_TOL);
    for (const t of [tl, ty, rows, dlogits, mean, acc]) releaseTensor(ctx, t);
  });
});

describe.each(versions)('gradient norm version %i', (version) => {
  it.each([[[1]], [[3, 5, 127]], [[1000, 32003]], [[2049, 6145, 7]]])('tensor sizes %j: norm, clip, sum of squares; an Inf sets the flag', async (sizes) => {
    if (await skipWithoutSubgroups(version)) return;
    const ctx = await ctxPromise;
    const values = sizes.map((n, i) => randn(n, 50 + n + i, 0.05));
    const grads = values.map((v, i) => uploadF32(ctx, v, [v.length], `g${i}`));
    const { state, partials, flags } = await gradNorm(ctx, grads, { maxNorm: 0.5, gradScale: 0.25, version });
    const got = await readGradState(ctx, state);
    const ref = gradNormRef(values, 0.25, 0.5);
    expectClose('norm, clip, sumsq', [got.norm, got.clip, got.sumSq], [ref.norm, ref.clip, ref.sumSq], TOL);
    expect(got.nonFinite).toBe(0);
    const last = values.length - 1;
    values[last][values[last].length - 1] = Infinity;
    const bad = uploadF32(ctx, values[last], [values[last].length], 'g bad');
    const second = await gradNorm(ctx, [...grads.slice(0, last), bad], { version, state, partials, flags });
    expect((await readGradState(ctx, second.state)).nonFinite).toBe(1);
    for (const t of [...grads, bad, state, partials, flags] as Tensor[]) releaseTensor(ctx, t);
  });
});
