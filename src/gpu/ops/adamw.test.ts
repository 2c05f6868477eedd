import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../device';
import { expectClose } from '../../util/check';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, emptyTensor, releaseTensor, uploadF32, type Tensor } from '../tensor';
import { adamwStep, type AdamWBuffers, type AdamWHyper } from './adamw';
import { adamwStepRef, type AdamWRefHyper } from './adamw.ref';
import { loadFixture, type AdamWFixture } from './fixtures';
import { gradNorm, readGradState } from './gradNorm';

// f32 arithmetic against f64 results, gradients of O(1): params are O(1), so a few ulps; m is a
// running mean in which terms of ~0.1 can cancel, so its error is absolute (~ulps of 0.1); v is a
// sum of positive terms, so its error is relative.
const TOL_P = { atol: 1e-6, rtol: 1e-6 };
const TOL_M = { atol: 5e-8, rtol: 4e-6 };
const TOL_V = { atol: 1e-12, rtol: 4e-6 };

function setup(ctx: GpuContext, p0: ArrayLike<number>): AdamWBuffers {
  const n = p0.length;
  return {
    param: uploadF32(ctx, Float32Array.from(p0), [n], 'param'),
    grad: emptyTensor(ctx, 'f32', [n], 'grad'),
    m: uploadF32(ctx, new Float32Array(n), [n], 'm'),
    v: uploadF32(ctx, new Float32Array(n), [n], 'v'),
  };
}

function setGrad(ctx: GpuContext, t: Tensor, g: ArrayLike<number>) {
  ctx.device.queue.writeBuffer(t.buffer, 0, Float32Array.from(g));
}

async function readAll(ctx: GpuContext, b: AdamWBuffers) {
  return { param: await downloadF32(ctx, b.param), m: await downloadF32(ctx, b.m), v: await downloadF32(ctx, b.v) };
}

function release(ctx: GpuContext, b: AdamWBuffers) {
  for (const t of Object.values(b)) releaseTensor(ctx, t);
}

describe('adamw vs PyTorch fixture (adamw.json)', () => {
  const fc = loadFixture<AdamWFixture>('adamw').cases[0];
  it(`${fc.name}: after each of ${fc.config.numSteps} steps`, async () => {
    const ctx = await getTestGpu();
    const c = fc.config;
    const b = setup(ctx, fc.param0);
    for (const s of fc.steps) {
      setGrad(ctx, b.grad, s.grad);
      await adamwStep(ctx, b, { lr: c.lr, beta1: c.beta1, beta2: c.beta2, eps: c.eps, weightDecay: c.weightDecay, step: s.step });
      const got = await readAll(ctx, b);
      expectClose(`param after step ${s.step}`, got.param, s.param, TOL_P);
      expectClose(`exp_avg after step ${s.step}`, got.m, s.exp_avg, TOL_M);
      expectClose(`exp_avg_sq after step ${s.step}`, got.v, s.exp_avg_sq, TOL_V);
    }
    release(ctx, b);
  });
});

describe('adamw vs TS reference', () => {
  // sizes around the 256-thread workgroup; beta1 = 0.3 makes torch's lerp take its other branch
  const HYPERS: [string, AdamWRefHyper][] = [
    ['defaults-like', { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 0 }],
    ['no decay, beta1 0.3', { lr: 5e-2, beta1: 0.3, beta2: 0.95, eps: 1e-6, weightDecay: 0, step: 0 }],
  ];
  it.each([1, 255, 257, 3001])('n=%i', async (n) => {
    const ctx = await getTestGpu();
    for (const [name, h] of HYPERS) {
      const p0 = randn(n, n, 0.5);
      const b = setup(ctx, p0);
      const ref = { p: Float64Array.from(p0), m: new Float64Array(n), v: new Float64Array(n) };
      for (let step = 1; step <= 3; step++) {
        const g = randn(n, n * 10 + step, 2 / step);
        setGrad(ctx, b.grad, g);
        const gradScale = 0.5;
        await adamwStep(ctx, b, { ...h, step } as AdamWHyper, { gradScale });
        adamwStepRef(ref.p, g, ref.m, ref.v, { ...h, step }, gradScale);
        const got = await readAll(ctx, b);
        const what = `${name} n=${n} step ${step}`;
        expectClose(`param ${what}`, got.param, ref.p, TOL_P);
        expectClose(`m ${what}`, got.m, ref.m, TOL_M);
        expectClose(`v ${what}`, got.v, ref.v, TOL_V);
      }
      release(ctx, b);
    }
  });
});

describe('adamw with gradNorm state', () => {
  it('applies the GPU clip factor without a readback', async () => {
    const ctx = await getTestGpu();
    const n = 700;
    const h = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step: 1 };
    const p0 = randn(n, 5);
    const g = randn(n, 6, 3);
    const b = setup(ctx, p0);
    setGrad(ctx, b.grad, g);
    const gradScale = 0.25;
    const { state, partials, flags } = await gradNorm(ctx, [b.grad], { maxNorm: 1, gradScale });
    await adamwStep(ctx, b, h, { gradScale, gradState: state });
    const got = await readAll(ctx, b);
    const st = await readGradState(ctx, state);
    expect(st.clip).toBeLessThan(0.5); // the clip really changes the update
    const ref = { p: Float64Array.from(p0), m: new Float64Array(n), v: new Float64Array(n) };
    adamwStepRef(ref.p, g, ref.m, ref.v, h, gradScale * st.clip);
    expectClose('param', got.param, ref.p, TOL_P);
    expectClose('m', got.m, ref.m, TOL_M);
    expectClose('v', got.v, ref.v, TOL_V);
    release(ctx, b);
    for (const t of [state, partials, flags]) releaseTensor(ctx, t);
  });

  it('skips a step with non-finite gradients unless told not to', async () => {
    const ctx = await getTestGpu();
    const n = 300;
    const p0 = randn(n, 7);
    const g = randn(n, 8);
    g[123] = NaN;
    const b = setup(ctx, p0);
    setGrad(ctx, b.grad, g);
    const { state, partials, flags } = await gradNorm(ctx, [b.grad], { maxNorm: 1 });
    const h = { lr: 1e-2, step: 1 };
    await adamwStep(ctx, b, h, { gradState: state });
    const skipped = await readAll(ctx, b);
    expect(Array.from(skipped.param)).toEqual(Array.from(Float32Array.from(p0)));
    expect(skipped.m.every((x) => x === 0) && skipped.v.every((x) => x === 0)).toBe(true);
    await adamwStep(ctx, b, h, { gradState: state, skipNonFinite: false });
    const taken = await readAll(ctx, b);
    expect(Number.isNaN(taken.param[123])).toBe(true);
    release(ctx, b);
    for (const t of [state, partials, flags]) releaseTensor(ctx, t);
  });
});

describe('adamw input checks', () => {
  it('names the bad buffer or hyper-parameter', async () => {
    const ctx = await getTestGpu();
    const b = setup(ctx, [1, 2, 3]);
    const short = uploadF32(ctx, [1, 2], [2], 'short m');
    await expect(adamwStep(ctx, { ...b, m: short }, { lr: 1e-3, step: 1 })).rejects.toThrow(/adamwStep: m \(short m\)/);
    await expect(adamwStep(ctx, b, { lr: 1e-3, step: 0 })).rejects.toThrow(/step is 0/);
    await expect(adamwStep(ctx, b, { lr: 1e-3, beta2: 1, step: 1 })).rejects.toThrow(/beta2 is 1/);
    await expect(adamwStep(ctx, b, { lr: 1e-3, step: 1 }, { gradState: b.m })).rejects.toThrow(/gradState must be gradNorm/);
    release(ctx, b);
    releaseTensor(ctx, short);
  });
});
