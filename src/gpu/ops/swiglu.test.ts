import { describe, expect, it } from 'vitest';
import { expectClose } from '../../util/check';
import { centralDiffVjp } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF32 } from '../tensor';
import { loadFixture, type SwigluFixture } from './fixtures';
import { swigluBackward, swigluForward, swigluFusedBackward, swigluFusedForward } from './swiglu';
import { swigluBackwardRef, swigluForwardRef } from './swiglu.ref';

// f32 kernels (GPU exp) against the f64 reference on identical inputs.
const TOL = { atol: 1e-5, rtol: 1e-4 };
// f32 backward against a central finite difference (h = 1e-4) of the f64 forward.
const FD_TOL = { atol: 1e-4, rtol: 1e-3 };
const FIXTURE_TOL = { atol: 2e-5, rtol: 1e-4 };

/** Interleave per row: [gate | up] -> (N, 2F). */
function concatRows(a: ArrayLike<number>, b: ArrayLike<number>, N: number, F: number): Float32Array {
  const out = new Float32Array(N * 2 * F);
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < F; f++) {
      out[n * 2 * F + f] = a[n * F + f];
      out[n * 2 * F + F + f] = b[n * F + f];
    }
  }
  return out;
}

// [N, F]: single element, odd F, more than one workgroup of 256 threads.
const SHAPES: [number, number][] = [
  [1, 1],
  [3, 7],
  [5, 67],
  [2, 300],
];

describe('swiglu', () => {
  it.each(SHAPES)('forward and backward, separate and fused, N=%i F=%i', async (N, F) => {
    const ctx = await getTestGpu();
    const gate = randn(N * F, N * 13 + F, 2);
    const up = randn(N * F, N * 17 + F);
    const dh = randn(N * F, N * 19 + F);
    const tg = uploadF32(ctx, gate, [N, F], 'gate');
    const tu = uploadF32(ctx, up, [N, F], 'up');
    const tdh = uploadF32(ctx, dh, [N, F], 'dh');
    const tgu = uploadF32(ctx, concatRows(gate, up, N, F), [N, 2 * F], 'gu');
    const refH = swigluForwardRef(gate, up);
    const refB = swigluBackwardRef(dh, gate, up);
    const h = await swigluForward(ctx, tg, tu);
    expectClose('h', await downloadF32(ctx, h), refH, TOL);
    const { dgate, dup } = await swigluBackward(ctx, tdh, tg, tu);
    expectClose('dgate', await downloadF32(ctx, dgate), refB.dgate, TOL);
    expectClose('dup', await downloadF32(ctx, dup), refB.dup, TOL);
    const hf = await swigluFusedForward(ctx, tgu);
    expectClose('fused h', await downloadF32(ctx, hf), refH, TOL);
    const dgu = await swigluFusedBackward(ctx, tdh, tgu);
    expectClose('fused dgu', await downloadF32(ctx, dgu), concatRows(refB.dgate, refB.dup, N, F), TOL);
    for (const t of [tg, tu, tdh, tgu, h, dgate, dup, hf, dgu]) releaseTensor(ctx, t);
  });

  it('stays finite for extreme gates', async () => {
    const ctx = await getTestGpu();
    const gate = [-1e30, -1000, -90, -20, 0, 20, 90, 1000];
    const up = gate.map(() => 1.5);
    const dh = gate.map(() => 1);
    const tg = uploadF32(ctx, gate, [1, 8], 'gate');
    const tu = uploadF32(ctx, up, [1, 8], 'up');
    const tdh = uploadF32(ctx, dh, [1, 8], 'dh');
    const h = await downloadF32(ctx, await swigluForward(ctx, tg, tu));
    const { dgate, dup } = await swigluBackward(ctx, tdh, tg, tu);
    const dg = await downloadF32(ctx, dgate);
    const du = await downloadF32(ctx, dup);
    expect([...h, ...dg, ...du].every(Number.isFinite)).toBe(true);
    expectClose('h', h, swigluForwardRef(gate, up), TOL);
    expectClose('dgate', dg, swigluBackwardRef(dh, gate, up).dgate, TOL);
  });

  it('backward matches a central finite difference of the forward', async () => {
    const ctx = await getTestGpu();
    const [N, F] = [2, 5];
    const gate = randn(N * F, 3, 2);
    const up = randn(N * F, 4);
    const dh = randn(N * F, 5);
    const { dgate, dup } = await swigluBackward(
      ctx,
      uploadF32(ctx, dh, [N, F], 'dh'),
      uploadF32(ctx, gate, [N, F], 'gate'),
      uploadF32(ctx, up, [N, F], 'up'),
    );
    const h = 1e-4;
    const fdGate = centralDiffVjp((g) => swigluForwardRef(g, up), gate, dh, h);
    const fdUp = centralDiffVjp((u) => swigluForwardRef(gate, u), up, dh, h);
    expectClose('dgate vs finite difference', await downloadF32(ctx, dgate), fdGate, FD_TOL);
    expectClose('dup vs finite difference', await downloadF32(ctx, dup), fdUp, FD_TOL);
  });

  it('names bad shapes', async () => {
    const ctx = await getTestGpu();
    const a = uploadF32(ctx, new Float32Array(6), [2, 3], 'a');
    const b = uploadF32(ctx, new Float32Array(6), [3, 2], 'b');
    await expect(swigluForward(ctx, a, b)).rejects.toThrow(/swigluForward: up \(b\) must be f32 \[2,3\]/);
    await expect(swigluFusedForward(ctx, a)).rejects.toThrow(/even number/);
    await expect(swigluFusedForward(ctx, b, { out: b })).rejects.toThrow(/must be f32 \[3,1\]/);
  });
});

describe('swiglu vs PyTorch fixture', () => {
  const fx = loadFixture<SwigluFixture>('swiglu');
  it.each(fx.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const ctx = await getTestGpu();
    const { N, F } = c.config;
    const tg = uploadF32(ctx, c.gate, [N, F], 'gate');
    const tu = uploadF32(ctx, c.up, [N, F], 'up');
    const tdh = uploadF32(ctx, c.dh, [N, F], 'dh');
    expectClose('h', await downloadF32(ctx, await swigluForward(ctx, tg, tu)), c.h, FIXTURE_TOL);
    const { dgate, dup } = await swigluBackward(ctx, tdh, tg, tu);
    expectClose('dgate', await downloadF32(ctx, dgate), c.dgate, FIXTURE_TOL);
    expectClose('dup', await downloadF32(ctx, dup), c.dup, FIXTURE_TOL);
  });
});

describe('swiglu input checks', () => {
  it('refuses an output that is one of the inputs (the backward reads them)', async () => {
    const ctx = await getTestGpu();
    const g = uploadF32(ctx, new Float32Array(6), [2, 3], 'gate');
    const u = uploadF32(ctx, new Float32Array(6), [2, 3], 'up');
    const gu = uploadF32(ctx, new Float32Array(12), [2, 6], 'gu');
    await expect(swigluForward(ctx, g, u, { out: g })).rejects.toThrow(/swigluForward: output gate shares a buffer with gate/);
    await expect(swigluBackward(ctx, g, g, u, { dgate: u })).rejects.toThrow(/output up shares a buffer with up/);
    await expect(swigluFusedBackward(ctx, g, gu, { out: gu })).rejects.toThrow(/output gu shares a buffer with gu/);
    for (const t of [g, u, gu]) releaseTensor(ctx, t);
  });
});
