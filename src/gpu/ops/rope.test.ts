import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../device';
import { expectClose } from '../../util/check';
import { centralDiffVjp } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn, rng } from '../../util/random';
import { downloadF32, releaseTensor, uploadF32, uploadI32 } from '../tensor';
import { loadFixture, type RopeFixture } from './fixtures';
import { ropeBackward, ropeForward, ropeInvFreq, type RopeOptions } from './rope';
import { ropeRef } from './rope.ref';

// Kernel vs the reference with the same f32 angles: what is left is the kernel's f32 sin/cos
// (a few ulps after its own range reduction) and the f32 rotation, for |x| up to ~4. Measured on
// SwiftShader: max abs error 2.7e-7 (its built-in sin/cos would be off by up to 5e-4 here).
const TOL = { atol: 1e-6, rtol: 1e-6 };
// The PyTorch fixtures use f64 angles; at positions <= 7 the f32 angle differs by < 1e-6
// (measured max abs error 2.3e-7).
const FIXTURE_TOL = { atol: 1e-6, rtol: 1e-6 };
// Backward vs a central finite difference (step 1e-3, f64) of the f64 forward: the forward is
// linear in x, so the quotient is exact up to f64 rounding; the bound is the kernel's own error.
const FD_TOL = { atol: 1e-6, rtol: 1e-6 };

async function run(ctx: GpuContext, x: Float32Array, positions: number[], opts: RopeOptions, dir: 'fwd' | 'bwd') {
  const N = positions.length;
  const tx = uploadF32(ctx, x, [N, opts.H, opts.D], 'x');
  const tp = uploadI32(ctx, positions, [N], 'positions');
  const y = await (dir === 'fwd' ? ropeForward : ropeBackward)(ctx, tx, tp, opts);
  const got = await downloadF32(ctx, y);
  for (const t of [tx, tp, y]) releaseTensor(ctx, t);
  return got;
}

function randomPositions(n: number, max: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.floor(r() * (max + 1)));
}

interface Case {
  name: string;
  H: number;
  D: number;
  theta: number;
  positions: number[];
}

// (token, pair) thread counts of 1, 28, 160, 576 and 33 (not multiples of the 256-thread workgroup);
// positions up to 2047 where HF models live, a restart for packed documents.
const CASES: Case[] = [
  { name: 'one pair at position 0', H: 1, D: 2, theta: 10000, positions: [0] },
  { name: 'packed restart', H: 3, D: 8, theta: 10000, positions: [0, 1, 2, 3, 0, 1, 2] },
  { name: 'D=64 long positions', H: 2, D: 64, theta: 10000, positions: [2047, 1000, 1, 1500, 2046] },
  { name: 'D=128 theta 500000, random positions', H: 3, D: 128, theta: 500000, positions: randomPositions(9, 2047, 3) },
  { name: 'D=6 theta 100', H: 5, D: 6, theta: 100, positions: randomPositions(11, 300, 4) },
];

describe('rope vs reference (f32 angles like Hugging Face)', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const ctx = await getTestGpu();
    const x = randn(c.positions.length * c.H * c.D, c.D * 31 + c.H);
    const opts = { H: c.H, D: c.D, theta: c.theta };
    expectClose('forward', await run(ctx, x, c.positions, opts, 'fwd'), ropeRef(x, c.positions, opts), TOL);
    expectClose('backward', await run(ctx, x, c.positions, opts, 'bwd'), ropeRef(x, c.positions, { ...opts, inverse: true }), TOL);
  });

  // measured: 1.7e-7 near 6400 (the end of the exact range reduction), 6.5e-7 up to 65535
  it('keeps the accuracy up to positions 6400 and degrades slowly beyond', async () => {
    const ctx = await getTestGpu();
    const opts = { H: 1, D: 16, theta: 10000 };
    const near = [6000, 6100, 6200, 6300, 6400, 6433];
    const x = randn(near.length * 16, 8);
    expectClose('positions ~6400', await run(ctx, x, near, opts, 'fwd'), ropeRef(x, near, opts), TOL);
    const far = [20000, 30000, 40000, 50000, 60000, 65535];
    expectClose('positions up to 65535', await run(ctx, x, far, opts, 'fwd'), ropeRef(x, far, opts), { atol: 3e-6, rtol: 1e-6 });
  });

  it('adds positionOffset to every position (KV-cache decode)', async () => {
    const ctx = await getTestGpu();
    const opts = { H: 2, D: 8, theta: 10000 };
    const x = randn(3 * 2 * 8, 12);
    const got = await run(ctx, x, [0, 1, 2], { ...opts, positionOffset: 100 }, 'fwd');
    expectClose('offset 100', got, ropeRef(x, [100, 101, 102], opts), TOL);
  });

  it('uses a given invFreq tensor (scaled RoPE variants)', async () => {
    const ctx = await getTestGpu();
    const D = 8;
    const halved = ropeInvFreq(10000, D).map((f) => f / 2); // exact in f32
    const tf = uploadF32(ctx, halved, [D / 2], 'inv_freq / 2');
    const x = randn(4 * D, 13);
    // f32(p * f/2) == f32((p/2) * f) for even p, so this equals RoPE at half the positions
    const got = await run(ctx, x, [0, 2, 10, 400], { H: 1, D, invFreq: tf }, 'fwd');
    expectClose('invFreq / 2', got, ropeRef(x, [0, 1, 5, 200], { H: 1, D, theta: 10000 }), TOL);
    releaseTensor(ctx, tf);
  });

  it('backward undoes forward', async () => {
    const ctx = await getTestGpu();
    const opts = { H: 2, D: 16, theta: 10000 };
    const pos = [5, 900, 0, 31];
    const x = randn(pos.length * 32, 14);
    const y = await run(ctx, x, pos, opts, 'fwd');
    expectClose('bwd(fwd(x))', await run(ctx, y, pos, opts, 'bwd'), x, { atol: 2e-6, rtol: 2e-6 });
  });
});

describe('rope backward vs central finite differences of the forward', () => {
  it('H=2 D=6', async () => {
    const ctx = await getTestGpu();
    const opts = { H: 2, D: 6, theta: 10000 };
    const pos = [3, 0, 17];
    const x = randn(pos.length * 12, 21);
    const dy = randn(x.length, 22);
    const got = await run(ctx, dy, pos, opts, 'bwd');
    const h = 1e-3;
    const fd = centralDiffVjp((xx) => ropeRef(xx, pos, opts), x, dy, h);
    expectClose('dx vs FD', got, fd, FD_TOL);
  });
});

describe('rope vs the PyTorch fixtures', () => {
  const fx = loadFixture<RopeFixture>('rope');
  it.each(fx.cases.map((c) => [c.name, c] as const))('%s', async (_, fc) => {
    const ctx = await getTestGpu();
    const { H, D, theta } = fc.config;
    const opts = { H, D, theta };
    expectClose('y', await run(ctx, Float32Array.from(fc.x), fc.positions, opts, 'fwd'), fc.y, FIXTURE_TOL);
    expectClose('dx', await run(ctx, Float32Array.from(fc.dy), fc.positions, opts, 'bwd'), fc.dx, FIXTURE_TOL);
  });
});

describe('rope input checks', () => {
  it('names the op and what is wrong', async () => {
    const ctx = await getTestGpu();
    const x = uploadF32(ctx, new Float32Array(24), [2, 2, 6], 'x');
    const pos = uploadI32(ctx, [0, 1], [2], 'positions');
    await expect(ropeForward(ctx, x, pos, { H: 2, D: 5 })).rejects.toThrow(/ropeForward: head dim D must be a positive even integer/);
    await expect(ropeForward(ctx, x, pos, { H: 3, D: 6 })).rejects.toThrow(/x must be an f32 tensor of N\*H\*D = 2\*3\*6/);
    await expect(ropeBackward(ctx, x, x, { H: 2, D: 6 })).rejects.toThrow(/ropeBackward: positions must be an i32 tensor/);
    await expect(ropeForward(ctx, x, pos, { H: 2, D: 6, out: x })).rejects.toThrow(/no in-place RoPE/);
    releaseTensor(ctx, x);
    releaseTensor(ctx, pos);
  });
});

describe('rope after an out-of-memory', () => {
  // The inv_freq table is cached per device for its lifetime: one whose allocation failed must
  // not be handed out again once the failure has been reported (the next run would use an
  // invalid buffer and raise validation errors).
  it('makes its cached inv_freq table again when that allocation ran out of memory', async () => {
    const ctx = await getTestGpu();
    const opts = { H: 2, D: 10, theta: 4321 };
    const positions = [0, 3, 1];
    const x = randn(positions.length * opts.H * opts.D, 77);
    const tx = uploadF32(ctx, x, [positions.length, opts.H, opts.D], 'x');
    const tp = uploadI32(ctx, positions, [positions.length], 'positions');
    ctx.allocator.simulatedLimitBytes = ctx.allocator.liveBytes;
    ctx.device.pushErrorScope('validation');
    let failed;
    try {
      const y = await ropeForward(ctx, tx, tp, opts);
      ctx.flush();
      releaseTensor(ctx, y);
    } finally {
      ctx.allocator.simulatedLimitBytes = null;
      failed = await ctx.device.popErrorScope();
    }
    expect(failed).not.toBeNull();
    const oom = await ctx.allocator.checkOutOfMemory();
    expect(oom?.label).toBe('rope inv_freq theta=4321 D=10');
    releaseTensor(ctx, tx);
    releaseTensor(ctx, tp);
    expectClose('forward after the failure', await run(ctx, x, positions, opts, 'fwd'), ropeRef(x, positions, opts), TOL);
  });
});
