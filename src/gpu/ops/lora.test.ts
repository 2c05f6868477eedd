import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../device';
import { expectClose } from '../../util/check';
import { centralDiffVjp } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF32, type Tensor } from '../tensor';
import { loadFixture, type LoraLinearFixture } from './fixtures';
import { LORA_VARIANTS, loraBackward, loraForward, loraScale, type LoraDropout } from './lora';
import { dropFactor, loraBackwardRef, loraForwardRef, pcgHash, type LoraRefDims } from './lora.ref';

// [N, IN, OUT, r]: size 1, a single token (T=1), odd sizes that are no multiple of the 4x4
// register tile or of any workgroup size, a rank above the tile (r = 64 and r = 128).
const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [1, 37, 21, 5],
  [7, 13, 9, 3],
  [33, 40, 17, 8],
  [6, 19, 23, 64],
  [3, 130, 5, 128],
];
// f32 accumulation (at most a few hundred terms of O(1) values) against the f64 reference.
const TOL = { atol: 2e-5, rtol: 2e-5 };

function up(ctx: GpuContext, data: Float32Array, shape: number[], label: string): Tensor {
  return uploadF32(ctx, data, shape, label);
}

function plus(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from(a, (v, i) => v + b[i]);
}

interface Case {
  x: Float32Array;
  A: Float32Array;
  B: Float32Array;
  dy: Float32Array;
  y0: Float32Array;
  dx0: Float32Array;
  dA0: Float32Array;
  dB0: Float32Array;
}

function makeCase([N, IN, OUT, r]: [number, number, number, number], seed: number): Case {
  return {
    x: randn(N * IN, seed + 1),
    A: randn(r * IN, seed + 2, 0.3),
    B: randn(OUT * r, seed + 3, 0.3),
    dy: randn(N * OUT, seed + 4),
    // the buffers start non-zero: everything but u and du accumulates
    y0: randn(N * OUT, seed + 5),
    dx0: randn(N * IN, seed + 6),
    dA0: randn(r * IN, seed + 7),
    dB0: randn(OUT * r, seed + 8),
  };
}

/** Runs forward then backward on the GPU; returns every result downloaded. */
async function runGpu(ctx: GpuContext, dims: LoraRefDims, c: Case, scale: number, dropout: LoraDropout | null, variant: string) {
  const { N, IN, OUT, r } = dims;
  const tx = up(ctx, c.x, [N, IN], 'x');
  const tA = up(ctx, c.A, [r, IN], 'A');
  const tB = up(ctx, c.B, [OUT, r], 'B');
  const ty = up(ctx, c.y0, [N, OUT], 'y');
  const tdy = up(ctx, c.dy, [N, OUT], 'dy');
  const tdx = up(ctx, c.dx0, [N, IN], 'dx');
  const tdA = up(ctx, c.dA0, [r, IN], 'dA');
  const tdB = up(ctx, c.dB0, [OUT, r], 'dB');
  const { u } = await loraForward(ctx, tx, tA, tB, ty, { scale, dropout, variant });
  const { du } = await loraBackward(ctx, tx, tA, tB, u, tdy, { scale, dropout, variant }, { dA: tdA, dB: tdB, dx: tdx });
  const out = {
    y: await downloadF32(ctx, ty),
    u: await downloadF32(ctx, u),
    dx: await downloadF32(ctx, tdx),
    dA: await downloadF32(ctx, tdA),
    dB: await downloadF32(ctx, tdB),
  };
  for (const t of [tx, tA, tB, ty, tdy, tdx, tdA, tdB, u, du]) releaseTensor(ctx, t);
  return out;
}

describe.each(Object.keys(LORA_VARIANTS))('lora forward + backward vs TS reference, variant %s', (variant) => {
  it.each(SHAPES)('N=%i IN=%i OUT=%i r=%i', async (N, IN, OUT, r) => {
    const ctx = await getTestGpu();
    const dims = { N, IN, OUT, r };
    const c = makeCase([N, IN, OUT, r], N * 131 + IN * 7 + r);
    const scale = loraScale(16, r);
    for (const dropout of [null, { p: 0.25, seed: 1234 + r }]) {
      const what = `${N}x${IN}x${OUT} r${r} dropout ${dropout ? dropout.p : 0}`;
      const got = await runGpu(ctx, dims, c, scale, dropout, variant);
      const f = loraForwardRef(c.x, c.A, c.B, dims, scale, dropout);
      const g = loraBackwardRef(c.x, c.A, c.B, c.dy, dims, scale, dropout);
      expectClose(`u ${what}`, got.u, f.u, TOL);
      expectClose(`y ${what}`, got.y, plus(c.y0, f.y), TOL);
      expectClose(`dx ${what}`, got.dx, plus(c.dx0, g.dx), TOL);
      expectClose(`dA ${what}`, got.dA, plus(c.dA0, g.dA), TOL);
      expectClose(`dB ${what}`, got.dB, plus(c.dB0, g.dB), TOL);
    }
  });
});

describe('lora backward vs central finite differences of the forward', () => {
  // L(x, A, B) = sum(dy ⊙ s·(drop(x)·Aᵀ)·Bᵀ), in f64 (the reference forward). With a fixed seed
  // the mask is a constant, so L is smooth in every input. Central differences in f64 with
  // h = 1e-4 are exact to ~1e-8 for this (bilinear-in-pairs) function; the tolerance covers the
  // GPU's f32 gradients.
  const FD_TOL = { atol: 1e-4, rtol: 1e-4 };
  const dims = { N: 3, IN: 5, OUT: 4, r: 2 };
  const h = 1e-4;

  it.each([null, { p: 0.4, seed: 99 }])('dropout %o', async (dropout) => {
    const ctx = await getTestGpu();
    const c = makeCase([dims.N, dims.IN, dims.OUT, dims.r], 4242);
    c.dx0.fill(0);
    c.dA0.fill(0);
    c.dB0.fill(0);
    const scale = loraScale(8, dims.r, true);
    const y = (x: ArrayLike<number>, A: ArrayLike<number>, B: ArrayLike<number>) => loraForwardRef(x, A, B, dims, scale, dropout).y;
    const got = await runGpu(ctx, dims, c, scale, dropout, 'v2_8x8');
    expectClose('dx vs FD', got.dx, centralDiffVjp((x) => y(x, c.A, c.B), c.x, c.dy, h), FD_TOL);
    expectClose('dA vs FD', got.dA, centralDiffVjp((A) => y(c.x, A, c.B), c.A, c.dy, h), FD_TOL);
    expectClose('dB vs FD', got.dB, centralDiffVjp((B) => y(c.x, c.A, B), c.B, c.dy, h), FD_TOL);
    if (dropout) {
      // the mask must actually bite here, or this case would not test it
      const dropped = Array.from({ length: dims.N * dims.IN }, (_, e) => dropFactor(dropout.seed, e, dropout.p)).filter((f) => f === 0);
      expect(dropped.length).toBeGreaterThan(0);
    }
  });
});

describe('lora vs PyTorch fixture (lora_linear.json)', () => {
  // Stored values are f64 results rounded to f32; the base path x·Wᵀ + bias (and dy·W for dx) is
  // added here in f64, so only the adapter term comes from the GPU.
  const TOL_FIX = { atol: 2e-5, rtol: 2e-5 };
  const fixture = loadFixture<LoraLinearFixture>('lora_linear');
  it.each(fixture.cases.map((c) => [c.name, c] as const))('case %s', async (_name, fc) => {
    const ctx = await getTestGpu();
    const { N, IN, OUT, r, alpha, rslora } = fc.config;
    expect(loraScale(alpha, r, rslora)).toBe(fc.config.scale);
    const base = new Float32Array(N * OUT);
    const dxBase = new Float32Array(N * IN);
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < OUT; o++) {
        let acc = fc.bias ? fc.bias[o] : 0;
        for (let k = 0; k < IN; k++) acc += fc.x[n * IN + k] * fc.W[o * IN + k];
        base[n * OUT + o] = acc;
      }
      for (let k = 0; k < IN; k++) {
        let acc = 0;
        for (let o = 0; o < OUT; o++) acc += fc.dy[n * OUT + o] * fc.W[o * IN + k];
        dxBase[n * IN + k] = acc;
      }
    }
    const c: Case = {
      x: Float32Array.from(fc.x),
      A: Float32Array.from(fc.A),
      B: Float32Array.from(fc.B),
      dy: Float32Array.from(fc.dy),
      y0: base,
      dx0: dxBase,
      dA0: new Float32Array(r * IN),
      dB0: new Float32Array(OUT * r),
    };
    const got = await runGpu(ctx, { N, IN, OUT, r }, c, fc.config.scale, null, 'v2_8x8');
    expectClose('y', got.y, fc.y, TOL_FIX);
    expectClose('dx', got.dx, fc.dx, TOL_FIX);
    expectClose('dA', got.dA, fc.dA, TOL_FIX);
    expectClose('dB', got.dB, fc.dB, TOL_FIX);
  });
});

describe('lora dropout mask', () => {
  it('GPU mask equals the reference hash, keeps ~1-p, depends on the seed, is repeatable', async () => {
    const ctx = await getTestGpu();
    // A = identity (r = IN) turns u = drop(x)·Aᵀ into drop(x) itself, so the mask is visible.
    const N = 50;
    const IN = 40;
    const p = 0.3;
    const x = new Float32Array(N * IN).fill(1);
    const eye = new Float32Array(IN * IN);
    for (let i = 0; i < IN; i++) eye[i * IN + i] = 1;
    const tx = uploadF32(ctx, x, [N, IN], 'x');
    const tA = uploadF32(ctx, eye, [IN, IN], 'A');
    const tB = uploadF32(ctx, new Float32Array(IN), [1, IN], 'B');
    const ty = uploadF32(ctx, new Float32Array(N), [N, 1], 'y');
    const mask = async (seed: number) => {
      const { u } = await loraForward(ctx, tx, tA, tB, ty, { scale: 1, dropout: { p, seed } });
      const m = await downloadF32(ctx, u);
      releaseTensor(ctx, u);
      return m;
    };
    const m1 = await mask(7);
    const ref = Float32Array.from({ length: N * IN }, (_, e) => dropFactor(7, e, p));
    expect(Array.from(m1)).toEqual(Array.from(ref));
    const kept = m1.filter((v) => v !== 0).length / m1.length;
    // 2000 Bernoulli(0.7) draws: standard deviation ~0.01
    expect(Math.abs(kept - (1 - p))).toBeLessThan(0.04);
    expect(m1.filter((v) => v !== 0).every((v) => v === Math.fround(1 / (1 - p)))).toBe(true);
    expect(Array.from(await mask(7))).toEqual(Array.from(m1));
    const m2 = await mask(8);
    const differ = m1.filter((v, i) => (v === 0) !== (m2[i] === 0)).length / m1.length;
    // independent masks differ in 2·p·(1-p) = 42% of places
    expect(differ).toBeGreaterThan(0.3);
    for (const t of [tx, tA, tB, ty]) releaseTensor(ctx, t);
  });

  it('pcgHash (Math.imul u32 arithmetic) agrees with a BigInt evaluation of the definition', () => {
    // the definition in exact integers
    // (state = v*747796405 + 2891336453 mod 2^32, word = ((state >> ((state >> 28) + 4)) ^ state)
    // * 277803737 mod 2^32, (word >> 22) ^ word).
    const ref = (v: number) => {
      const state = (BigInt(v) * 747796405n + 2891336453n) % 2n ** 32n;
      const word = (((state >> ((state >> 28n) + 4n)) ^ state) * 277803737n) % 2n ** 32n;
      return Number((word >> 22n) ^ word);
    };
    for (const v of [0, 1, 2, 12345, 0xffffffff, 0x80000000]) expect(pcgHash(v)).toBe(ref(v));
  });
});

describe('lora is deterministic', () => {
  it('two backward passes give bit-identical gradients', async () => {
    const ctx = await getTestGpu();
    const dims = { N: 29, IN: 21, OUT: 14, r: 6 };
    const c = makeCase([dims.N, dims.IN, dims.OUT, dims.r], 77);
    const a = await runGpu(ctx, dims, c, 2, { p: 0.1, seed: 3 }, 'v2_8x8');
    const b = await runGpu(ctx, dims, c, 2, { p: 0.1, seed: 3 }, 'v2_8x8');
    expect(Array.from(b.dA)).toEqual(Array.from(a.dA));
    expect(Array.from(b.dB)).toEqual(Array.from(a.dB));
    expect(Array.from(b.dx)).toEqual(Array.from(a.dx));
  });
});

describe('lora input checks', () => {
  it('names the offending tensor', async () => {
    const ctx = await getTestGpu();
    const x = uploadF32(ctx, new Float32Array(6), [2, 3], 'x');
    const A = uploadF32(ctx, new Float32Array(8), [2, 4], 'A');
    const A2 = uploadF32(ctx, new Float32Array(6), [2, 3], 'A');
    const B = uploadF32(ctx, new Float32Array(10), [5, 2], 'B');
    const y = uploadF32(ctx, new Float32Array(10), [2, 5], 'y');
    await expect(loraForward(ctx, x, A, B, y, { scale: 1, dropout: null })).rejects.toThrow(/loraForward: A is \[2,4\]/);
    await expect(loraForward(ctx, x, A2, B, x, { scale: 1, dropout: null })).rejects.toThrow(/loraForward: y is \[2,3\]/);
    await expect(loraForward(ctx, x, A2, B, y, { scale: 1, dropout: { p: 1, seed: 0 } })).rejects.toThrow(/dropout p/);
    await expect(loraForward(ctx, x, A2, B, y, { scale: NaN, dropout: null })).rejects.toThrow(/scale must be a finite number/);
    await expect(loraForward(ctx, x, A2, B, y, { scale: 1, dropout: null, variant: 'v9' })).rejects.toThrow(/unknown variant 'v9'/);
    await expect(
      loraBackward(ctx, x, A2, B, y, y, { scale: 1, dropout: null }, { dA: A2, dB: B, dx: null }),
    ).rejects.toThrow(/loraBackward: u is \[2,5\]/);
    for (const t of [x, A, A2, B, y]) releaseTensor(ctx, t);
  });
});
