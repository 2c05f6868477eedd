// Partial rotary (Phi-3 / Phi-4-mini partial_rotary_factor, GPT-NeoX): RoPE on the first
// rotaryDim dims of each head as a head of that width, the rest passed through.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../device';
import { expectClose } from '../../util/check';
import { centralDiffVjp } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF32, uploadI32 } from '../tensor';
import { loadFixture, type RopePartialFixture } from './fixtures';
import { ropeBackward, ropeForward, ropeInvFreq, type RopeOptions } from './rope';
import { ropeRef } from './rope.ref';

// as rope.test.ts: the kernel's f32 sin/cos and rotation against f64 math on the same f32 angles
const TOL = { atol: 1e-6, rtol: 1e-6 };

async function run(ctx: GpuContext, x: Float32Array, positions: number[], opts: RopeOptions, dir: 'fwd' | 'bwd') {
  const N = positions.length;
  const tx = uploadF32(ctx, x, [N, opts.H, opts.D], 'x');
  const tp = uploadI32(ctx, positions, [N], 'positions');
  const y = await (dir === 'fwd' ? ropeForward : ropeBackward)(ctx, tx, tp, opts);
  const got = await downloadF32(ctx, y);
  for (const t of [tx, tp, y]) releaseTensor(ctx, t);
  return got;
}

// Phi-3-mini keeps the full 96-dim head; Phi-4-mini rotates 96 of 128 (factor 0.75); the others
// are awkward: a pass-through wider than the rotary half (8 of 20), rotaryDim 2, odd head counts.
const CASES = [
  { name: 'Phi-4-mini: 96 of 128', H: 3, D: 128, rotaryDim: 96, theta: 10000, positions: [0, 5, 900, 4095, 17] },
  { name: '8 of 20: pass-through wider than half the rotary dims', H: 2, D: 20, rotaryDim: 8, theta: 500000, positions: [0, 1, 2, 3, 0, 1] },
  { name: 'rotaryDim 2 of 6', H: 5, D: 6, rotaryDim: 2, theta: 100, positions: [7, 300, 2] },
  { name: 'rotaryDim = D is ordinary RoPE', H: 2, D: 16, rotaryDim: 16, theta: 10000, positions: [3, 1, 4, 1, 5] },
];

describe('partial rotary vs reference', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const ctx = await getTestGpu();
    const x = randn(c.positions.length * c.H * c.D, c.D + c.rotaryDim);
    const opts = { H: c.H, D: c.D, rotaryDim: c.rotaryDim, theta: c.theta };
    const y = await run(ctx, x, c.positions, opts, 'fwd');
    expectClose('forward', y, ropeRef(x, c.positions, opts), TOL);
    expectClose('backward', await run(ctx, x, c.positions, opts, 'bwd'), ropeRef(x, c.positions, { ...opts, inverse: true }), TOL);
    // the pass-through dims are copied bit for bit, the rotated ones change
    for (let n = 0; n < c.positions.length * c.H; n++) {
      for (let d = c.rotaryDim; d < c.D; d++) expect(y[n * c.D + d]).toBe(x[n * c.D + d]);
    }
    if (c.rotaryDim === c.D) expectClose('= full RoPE', y, ropeRef(x, c.positions, { H: c.H, D: c.D, theta: c.theta }), TOL);
  });

  it('uses inv_freq over rotaryDim, not D (so it differs from rotating the first dims of a D-wide head)', async () => {
    const ctx = await getTestGpu();
    const c = CASES[1];
    const x = randn(c.positions.length * c.H * c.D, 5);
    const y = await run(ctx, x, c.positions, { H: c.H, D: c.D, rotaryDim: c.rotaryDim, theta: c.theta }, 'fwd');
    // frequencies of a D-wide head for the first rotaryDim/2 pairs
    const wrong = ropeRef(x, c.positions, { H: c.H, D: c.D, rotaryDim: c.rotaryDim, theta: c.theta, invFreq: ropeInvFreq(c.theta, c.D).subarray(0, c.rotaryDim / 2) });
    expect(Math.max(...Array.from(y, (v, i) => Math.abs(v - wrong[i])))).toBeGreaterThan(1e-3);
  });

  it('takes invFreq of rotaryDim/2 values (scaled RoPE computed on the CPU)', async () => {
    const ctx = await getTestGpu();
    const inv = Float32Array.from(ropeInvFreq(10000, 12), (f, i) => f / (1 + i));
    const t = uploadF32(ctx, inv, [6], 'scaled inv_freq');
    const positions = [0, 9, 33];
    const x = randn(3 * 2 * 16, 6);
    const opts = { H: 2, D: 16, rotaryDim: 12, invFreq: t };
    expectClose('forward', await run(ctx, x, positions, opts, 'fwd'), ropeRef(x, positions, { H: 2, D: 16, rotaryDim: 12, theta: 0, invFreq: inv }), TOL);
    const wrongSize = uploadF32(ctx, new Float32Array(8), [8], 'D/2 inv_freq');
    await expect(run(ctx, x, positions, { ...opts, invFreq: wrongSize }, 'fwd')).rejects.toThrow(/invFreq must be an f32 tensor of rotaryDim\/2 = 6 elements/);
    releaseTensor(ctx, t);
    releaseTensor(ctx, wrongSize);
  });

  it('adds positionOffset (KV-cache decode) with partial rotary', async () => {
    const ctx = await getTestGpu();
    const opts = { H: 2, D: 12, rotaryDim: 4, theta: 10000 };
    const x = randn(3 * 2 * 12, 12);
    const got = await run(ctx, x, [0, 1, 2], { ...opts, positionOffset: 100 }, 'fwd');
    expectClose('offset', got, ropeRef(x, [100, 101, 102], opts), TOL);
  });

  it('rejects an odd or too large rotaryDim, naming it', async () => {
    const ctx = await getTestGpu();
    const x = randn(2 * 8, 1);
    for (const rotaryDim of [3, 10, 0]) {
      await expect(run(ctx, x, [0, 1], { H: 1, D: 8, rotaryDim }, 'fwd')).rejects.toThrow(/ropeForward: rotaryDim must be an even integer in 2..D \(8\)/);
    }
  });
});

describe('partial rotary backward vs central finite differences', () => {
  it('is the transpose of the forward', async () => {
    const ctx = await getTestGpu();
    const opts = { H: 2, D: 10, rotaryDim: 6, theta: 10000 };
    const positions = [4, 0, 77];
    const x = randn(3 * 2 * 10, 21);
    const dy = randn(3 * 2 * 10, 22);
    const got = await run(ctx, dy, positions, opts, 'bwd');
    expectClose('dx vs FD', got, centralDiffVjp((v) => ropeRef(v, positions, opts), x, dy, 1e-3), TOL);
  });
});

describe('partial rotary vs the PyTorch fixtures', () => {
  const fx = loadFixture<RopePartialFixture>('rope_partial');
  it.each(fx.cases.map((c) => [c.name, c] as const))('%s', async (_, fc) => {
    const ctx = await getTestGpu();
    const { H, D, rotaryDim, theta } = fc.config;
    const opts = { H, D, rotaryDim, theta };
    // the fixtures use f64 angles; positions are small, so f32 angles differ by < 1e-6
    expectClose('y', await run(ctx, Float32Array.from(fc.x), fc.positions, opts, 'fwd'), fc.y, TOL);
    expectClose('dx', await run(ctx, Float32Array.from(fc.dy), fc.positions, opts, 'bwd'), fc.dx, TOL);
  });
});

describe('rotatedScale (LongRoPE attention factor on cos and sin)', () => {
  it('scales the rotated dims only, forward and backward', async () => {
    const ctx = await getTestGpu();
    const opts = { H: 2, D: 12, rotaryDim: 8, theta: 10000, rotatedScale: 1.118 };
    const positions = [3, 700, 5000];
    const x = randn(3 * 2 * 12, 31);
    const y = await run(ctx, x, positions, opts, 'fwd');
    expectClose('forward', y, ropeRef(x, positions, opts), TOL);
    expectClose('backward', await run(ctx, x, positions, opts, 'bwd'), ropeRef(x, positions, { ...opts, inverse: true }), TOL);
    for (let n = 0; n < 6; n++) for (let d = 8; d < 12; d++) expect(y[n * 12 + d]).toBe(x[n * 12 + d]);
    // and it is not the unscaled rotation
    const plain = ropeRef(x, positions, { ...opts, rotatedScale: 1 });
    expect(Math.max(...Array.from(y, (v, i) => Math.abs(v - plain[i])))).toBeGreaterThan(0.01);
    await expect(run(ctx, x, positions, { ...opts, rotatedScale: Number.NaN }, 'fwd')).rejects.toThrow(/rotatedScale must be a finite number/);
  });
});
