import { describe, expect, it } from 'vitest';
import { expectClose } from '../../util/check';
import { centralDiffVjp } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF32 } from '../tensor';
import { loadFixture, type GegluFixture } from './fixtures';
import { gegluBackward, gegluForward } from './geglu';
import { gegluBackwardRef, gegluForwardRef } from './geglu.ref';
import { swigluForward } from './swiglu';

// f32 kernels (GPU tanh) against the f64 reference on identical inputs.
const TOL = { atol: 1e-5, rtol: 1e-4 };
// f32 backward against a central finite difference (h = 1e-4) of the f64 forward.
const FD_TOL = { atol: 1e-4, rtol: 1e-3 };
const FIXTURE_TOL = { atol: 2e-5, rtol: 1e-4 };

// [N, F]: single element, odd F, more than one workgroup of 256 threads.
const SHAPES: [number, number][] = [
  [1, 1],
  [3, 7],
  [5, 67],
  [2, 300],
];

describe('geglu (tanh GELU)', () => {
  it.each(SHAPES)('forward and backward N=%i F=%i', async (N, F) => {
    const ctx = await getTestGpu();
    const gate = randn(N * F, N * 13 + F, 2);
    const up = randn(N * F, N * 17 + F);
    const dh = randn(N * F, N * 19 + F);
    const tg = uploadF32(ctx, gate, [N, F], 'gate');
    const tu = uploadF32(ctx, up, [N, F], 'up');
    const tdh = uploadF32(ctx, dh, [N, F], 'dh');
    const h = await gegluForward(ctx, tg, tu);
    expectClose('h', await downloadF32(ctx, h), gegluForwardRef(gate, up), TOL);
    const { dgate, dup } = await gegluBackward(ctx, tdh, tg, tu);
    const ref = gegluBackwardRef(dh, gate, up);
    expectClose('dgate', await downloadF32(ctx, dgate), ref.dgate, TOL);
    expectClose('dup', await downloadF32(ctx, dup), ref.dup, TOL);
    for (const t of [tg, tu, tdh, h, dgate, dup]) releaseTensor(ctx, t);
  });

  it('is not SwiGLU (the test can tell the activations apart)', async () => {
    const ctx = await getTestGpu();
    const gate = randn(16, 3, 2);
    const up = randn(16, 4);
    const tg = uploadF32(ctx, gate, [2, 8], 'gate');
    const tu = uploadF32(ctx, up, [2, 8], 'up');
    const ge = await downloadF32(ctx, await gegluForward(ctx, tg, tu));
    const sw = await downloadF32(ctx, await swigluForward(ctx, tg, tu));
    expect(Math.max(...Array.from(ge, (v, i) => Math.abs(v - sw[i])))).toBeGreaterThan(0.05);
  });

  it('stays finite for extreme gates', async () => {
    const ctx = await getTestGpu();
    const gate = [-1e30, -1000, -90, -20, 0, 20, 90, 1000];
    const up = gate.map(() => 1.5);
    const dh = gate.map(() => 1);
    const tg = uploadF32(ctx, gate, [1, 8], 'gate');
    const tu = uploadF32(ctx, up, [1, 8], 'up');
    const tdh = uploadF32(ctx, dh, [1, 8], 'dh');
    const h = await downloadF32(ctx, await gegluForward(ctx, tg, tu));
    const { dgate, dup } = await gegluBackward(ctx, tdh, tg, tu);
    const dg = await downloadF32(ctx, dgate);
    const du = await downloadF32(ctx, dup);
    expect([...h, ...dg, ...du].every(Number.isFinite)).toBe(true);
    // |g| <= 20 where the reference itself is finite in f64
    expectClose('h', h.slice(3, 6), gegluForwardRef(gate.slice(3, 6), up.slice(3, 6)), TOL);
    expectClose('dgate', dg.slice(3, 6), gegluBackwardRef(dh.slice(3, 6), gate.slice(3, 6), up.slice(3, 6)).dgate, TOL);
    expect(h[7]).toBeCloseTo(1500, 0);
    expect(h[0]).toBe(-0);
  });

  it('backward matches a central finite difference of the forward', async () => {
    const ctx = await getTestGpu();
    const [N, F] = [2, 5];
    const gate = randn(N * F, 91, 2);
    const up = randn(N * F, 92);
    const dh = randn(N * F, 93);
    const tg = uploadF32(ctx, gate, [N, F], 'gate');
    const tu = uploadF32(ctx, up, [N, F], 'up');
    const tdh = uploadF32(ctx, dh, [N, F], 'dh');
    const { dgate, dup } = await gegluBackward(ctx, tdh, tg, tu);
    expectClose('dgate vs FD', await downloadF32(ctx, dgate), centralDiffVjp((g) => gegluForwardRef(g, up), gate, dh, 1e-4), FD_TOL);
    expectClose('dup vs FD', await downloadF32(ctx, dup), centralDiffVjp((u) => gegluForwardRef(gate, u), up, dh, 1e-4), FD_TOL);
    for (const t of [tg, tu, tdh, dgate, dup]) releaseTensor(ctx, t);
  });

  it('matches the PyTorch fixture (F.gelu(approximate="tanh") * up)', async () => {
    const ctx = await getTestGpu();
    const c = loadFixture<GegluFixture>('geglu_tanh').cases[0];
    const { N, F } = c.config;
    const tg = uploadF32(ctx, c.gate, [N, F], 'gate');
    const tu = uploadF32(ctx, c.up, [N, F], 'up');
    const tdh = uploadF32(ctx, c.dh, [N, F], 'dh');
    expectClose('h', await downloadF32(ctx, await gegluForward(ctx, tg, tu)), c.h, FIXTURE_TOL);
    const { dgate, dup } = await gegluBackward(ctx, tdh, tg, tu);
    expectClose('dgate', await downloadF32(ctx, dgate), c.dgate, FIXTURE_TOL);
    expectClose('dup', await downloadF32(ctx, dup), c.dup, FIXTURE_TOL);
  });

  it('names the op and the tensor in input errors', async () => {
    const ctx = await getTestGpu();
    const a = uploadF32(ctx, new Float32Array(6), [2, 3], 'gate');
    const b = uploadF32(ctx, new Float32Array(8), [2, 4], 'up');
    await expect(gegluForward(ctx, a, b)).rejects.toThrow(/gegluForward: up \(up\) must be f32 \[2,3\]/);
    await expect(gegluForward(ctx, a, a, { out: a })).rejects.toThrow(/output gate shares a buffer/);
    releaseTensor(ctx, a);
    releaseTensor(ctx, b);
  });
});
