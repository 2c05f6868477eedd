import { describe, expect, it } from 'vitest';
import { expectClose } from '../../util/check';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { emptyTensor, readBuffer, releaseTensor, uploadF32, type Tensor } from '../tensor';
import { decodeGradState, gradNorm, gradNormScratchSize, readGradState } from './gradNorm';
import { gradNormRef } from './gradNorm.ref';

// Tensor lengths around the kernel's chunk of 2048 elements (256 threads x 8), size 1, and
// several tensors at once (their partial sums share one scratch buffer at different offsets).
const LISTS: number[][] = [[1], [2047], [2048, 2049], [37, 1, 5000, 4096, 300], [12_345]];
// f32 sums of up to ~12k squares against an f64 reference.
const TOL = { atol: 0, rtol: 2e-6 };

async function run(grads: Float32Array[], gradScale: number, maxNorm: number | null) {
  const ctx = await getTestGpu();
  const ts = grads.map((g, i) => uploadF32(ctx, g, [g.length], `g${i}`));
  const res = await gradNorm(ctx, ts, { gradScale, maxNorm });
  const got = await readGradState(ctx, res.state);
  for (const t of [...ts, res.state, res.partials, res.flags]) releaseTensor(ctx, t);
  return got;
}

describe('gradNorm vs TS reference', () => {
  it.each(LISTS.map((l) => [l.join('+'), l] as const))('lengths %s', async (_name, lens) => {
    const grads = lens.map((n, i) => randn(n, 1000 * i + n, 0.5));
    // no clipping; clipping to half the (scaled) norm; a bound far above the norm
    const half = gradNormRef(grads, 0.25).norm / 2;
    for (const [gradScale, maxNorm] of [
      [1, null],
      [0.25, half],
      [1, 1e6],
    ] as const) {
      const got = await run(grads, gradScale, maxNorm);
      const ref = gradNormRef(grads, gradScale, maxNorm);
      const what = `lengths ${lens} scale ${gradScale} max ${maxNorm}`;
      expectClose(`norm ${what}`, [got.norm], [ref.norm], TOL);
      expectClose(`sumsq ${what}`, [got.sumSq], [ref.sumSq], { atol: 0, rtol: 4e-6 });
      expectClose(`clip ${what}`, [got.clip], [ref.clip], TOL);
      expect(got.nonFinite).toBe(0);
      if (maxNorm === half) expect(got.clip).toBeCloseTo(0.5, 3); // this case does clip (1e-6 in the denominator aside)
      if (maxNorm === 1e6) expect(got.clip).toBe(1);
    }
  });

  it('is bit-for-bit repeatable', async () => {
    const grads = [randn(5000, 1), randn(777, 2)];
    const a = await run(grads, 1, 0.5);
    const b = await run(grads, 1, 0.5);
    expect(b).toEqual(a);
  });
});

describe('gradNorm non-finite flag', () => {
  it.each([
    ['NaN in the last tensor', NaN, 2, 4095, 1],
    ['+Inf at the first element', Infinity, 0, 0, 1],
    ['-Inf in a chunk tail', -Infinity, 1, 2048, 1],
    ['finite but the square overflows f32', 1e30, 1, 7, 2],
  ] as const)('%s', async (_name, value, tensor, index, want) => {
    const grads = [randn(100, 3), randn(2049, 4), randn(4096, 5)];
    grads[tensor][index] = value;
    const got = await run(grads, 1, 1.0);
    const ref = gradNormRef(grads, 1, 1.0);
    expect(ref.nonFinite).toBe(want);
    expect(got.nonFinite).toBe(want);
    expect(got.clip).toBe(0);
  });
});

describe('gradNorm buffers', () => {
  it('reuses given scratch and state, rejects scratch that is too small, decodes a combined readback', async () => {
    const ctx = await getTestGpu();
    const g = uploadF32(ctx, randn(3000, 9), [3000], 'g');
    const need = gradNormScratchSize([g]);
    expect(need).toBe(2);
    const small = emptyTensor(ctx, 'f32', [1], 'partials');
    await expect(gradNorm(ctx, [g], { partials: small })).rejects.toThrow(/partials must be a f32 tensor of at least 2/);
    const partials = emptyTensor(ctx, 'f32', [need], 'partials');
    const flags = emptyTensor(ctx, 'u32', [need], 'flags');
    const state = emptyTensor(ctx, 'u32', [4], 'state');
    const res = await gradNorm(ctx, [g], { partials, flags, state, maxNorm: 2 });
    expect(res.state).toBe(state);
    expect(res.partials).toBe(partials);
    const direct = await readGradState(ctx, state);
    // a caller's combined readback: [loss f32, pad x3, state x4]
    const combined = new ArrayBuffer(32);
    new Uint8Array(combined).set(new Uint8Array(await readBuffer(ctx, state.buffer, 16)), 16);
    expect(decodeGradState(combined, 16)).toEqual(direct);
    await expect(gradNorm(ctx, [])).rejects.toThrow(/no gradient tensors/);
    await expect(gradNorm(ctx, [g], { maxNorm: 0 })).rejects.toThrow(/maxNorm must be positive/);
    for (const t of [g, small, partials, flags, state] as Tensor[]) releaseTensor(ctx, t);
  });
});
