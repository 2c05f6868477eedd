// The quantized base's matmuls: the matmul family's kernels reading W through
// fragments/quant_weights.wgsl. Every format on awkward shapes through the ops' own choice
// (validated on this adapter first), every legal variant of the family on two shapes per format,
// every variant's validation per quantized class, a deliberately wrong variant rejected, and the
// tuner over a quantized class.
import { afterEach, describe, expect, it } from 'vitest';
import { expectClose } from '../../util/check';
import { randn } from '../../util/random';
import { dequantizeMatrix, quantizeInt4Blocks, quantizeInt8Rows, type QuantMatrix } from '../../util/quant';
import { encodeQ4_0, encodeQ4_K, encodeQ6_K, encodeQ8_0, GGML_Q4_0, GGML_Q4_K, GGML_Q6_K, GGML_Q8_0, ggmlToQuantMatrix } from '../../io/ggmlBlocks';
import { getTestGpu } from '../testing/nodeGpu';
import { downloadF32, releaseTensor, uploadF32 } from '../tensor';
import { MemoryTuneStore } from '../tune/store';
import { tuneMatmul } from '../tune/matmulTuner';
import { validateMatmulVariant } from './matmul';
import { matmulDyWRef, matmulXWtRef } from './matmul.ref';
import { problemOf, type MatmulShapeClass } from './matmulRegistry';
import { downloadQuant, matmulDyWQuant, matmulXWtQuant, uploadQuant } from './matmulQuant';
import { legalVariants, MATMUL_FAMILY_VARIANTS, type MatmulVariant } from './matmulVariants';
import { QUANT_WDTYPES, quantWDtype } from './quantWeights';

// f32 accumulation against an f64 reference on the same dequantized weights
const TOL = { atol: 2e-5, rtol: 1e-5 };

type Maker = (w: Float32Array, N: number, K: number) => QuantMatrix;
const FORMATS: [string, Maker, (K: number) => boolean][] = [
  ['int8 per channel', (w, N, K) => quantizeInt8Rows(w, N, K), () => true],
  ['int4 blockwise', (w, N, K) => quantizeInt4Blocks(w, N, K), () => true],
  ['GGUF Q8_0', (w, N, K) => ggmlToQuantMatrix(GGML_Q8_0, encodeQ8_0(w), N, K), (K) => K % 32 === 0],
  ['GGUF Q4_0', (w, N, K) => ggmlToQuantMatrix(GGML_Q4_0, encodeQ4_0(w), N, K), (K) => K % 32 === 0],
  ['GGUF Q4_K', (w, N, K) => ggmlToQuantMatrix(GGML_Q4_K, encodeQ4_K(w), N, K), (K) => K % 256 === 0],
  // q8 with 16-weight groups
  ['GGUF Q6_K', (w, N, K) => ggmlToQuantMatrix(GGML_Q6_K, encodeQ6_K(w), N, K), (K) => K % 256 === 0],
];
// [M, N, K]: size 1, nothing a multiple of 4, partial tiles, K not whole 32-blocks
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [17, 33, 7],
  [5, 9, 45],
  [33, 70, 64],
  [3, 40, 100],
  [70, 17, 37],
  [2, 5, 256],
  [40, 3, 512],
];
// One variant per kernel version and load width: what the formats sharing a class with another
// (Q4_0, Q4_K: q4) or differing from one only in GROUP (Q8_0, Q6_K: the scale's index) run, so
// that CI compiles each variant's pipeline once per layout rather than once per format; the two
// load-time formats (q8 per row, q4) run every variant.
const ONE_PER_VERSION = ['v1_16x16', 'v2_8x8', 'v3_8x8_k16', 'v4_8x8', 'v5_q2x2', 'v6_q2x2', 'v7_64x64_k8_4x4_db', 'v7_64x64_k16_4x4_v4'];
const EVERY_VARIANT = new Set(['int8 per channel', 'int4 blockwise', 'q8', 'q4']);
const variantsFor = (what: string, legal: string[]) => (EVERY_VARIANT.has(what) ? legal : legal.filter((v) => ONE_PER_VERSION.includes(v)));

// every variant: one shape vec4-aligned for both ops (N, K % 4 == 0), one aligned for neither
// dy·W (N odd) nor, with K = 45, x·Wᵀ
const EVERY_VARIANT_SHAPES = (fits: (K: number) => boolean): [number, number, number][] =>
  fits(45) ? [[37, 36, 64], [21, 33, 45]] : fits(64) ? [[37, 36, 64], [21, 33, 96]] : [[37, 36, 256], [21, 33, 256]];

async function check(name: string, make: Maker, [M, N, K]: [number, number, number], variant?: string) {
  const ctx = await getTestGpu();
  const m = make(randn(N * K, N * 13 + K, 0.4), N, K);
  const wd = dequantizeMatrix(m);
  const x = randn(M * K, M + 2 * K);
  const dy = randn(M * N, 3 * M + N);
  const tw = uploadQuant(ctx, m, `W ${name}`);
  const tx = uploadF32(ctx, x, [M, K], 'x');
  const tdy = uploadF32(ctx, dy, [M, N], 'dy');
  const what = `${name} ${variant ?? 'chosen'}`;
  const y = await downloadF32(ctx, await matmulXWtQuant(ctx, tx, tw, null, { variant }));
  expectClose(`${what} y ${M}x${N}x${K}`, y, matmulXWtRef(x, wd, null, M, N, K), TOL);
  const dx = await downloadF32(ctx, await matmulDyWQuant(ctx, tdy, tw, { variant }));
  expectClose(`${what} dx ${M}x${N}x${K}`, dx, matmulDyWRef(dy, wd, M, N, K), TOL);
  for (const t of [tw, tx, tdy]) releaseTensor(ctx, t);
}

describe.each(FORMATS)('quantized base matmuls, %s', (name, make, fits) => {
  const shapes = SHAPES.filter(([, , K]) => fits(K));
  it.each(shapes)("the op's own choice, M=%i N=%i K=%i: y = x·Wᵀ and dx = dy·W", async (M, N, K) => {
    await check(name, make, [M, N, K]);
  });

  it(`${EVERY_VARIANT.has(name) ? 'every legal variant' : 'one variant per kernel version'} of the family on two shapes (vec4-aligned and not)`, async () => {
    const ctx = await getTestGpu();
    let ran = 0;
    for (const [M, N, K] of EVERY_VARIANT_SHAPES(fits)) {
      const wDtype = quantWDtype(make(new Float32Array(N * K), N, K), K);
      const legal = new Set([
        ...legalVariants(ctx, problemOf({ op: 'xwt', m: M, n: N, k: K, wDtype })),
        ...legalVariants(ctx, problemOf({ op: 'dyw', m: M, n: N, k: K, wDtype })),
      ]);
      const both = [...legal].filter(
        (v) =>
          legalVariants(ctx, problemOf({ op: 'xwt', m: M, n: N, k: K, wDtype })).includes(v) &&
          legalVariants(ctx, problemOf({ op: 'dyw', m: M, n: N, k: K, wDtype })).includes(v),
      );
      for (const v of variantsFor(name, both)) {
        await check(name, make, [M, N, K], v);
        ran++;
      }
    }
    // every version on the aligned shape, the scalar ones on the other (v5 / v6 need subgroups)
    expect(ran).toBeGreaterThanOrEqual(EVERY_VARIANT.has(name) ? 16 : 8);
  });
});

describe('quantized base matmuls: validation and tuning per quantized class', () => {
  const saved = new Map<string, MatmulVariant | undefined>();
  afterEach(() => {
    for (const [n, v] of saved) {
      if (v) MATMUL_FAMILY_VARIANTS[n] = v;
      else delete MATMUL_FAMILY_VARIANTS[n];
    }
    saved.clear();
  });

  it.each(QUANT_WDTYPES)('%s: every legal variant (q8, q4; one per version for q8g32, q8g16) passes validation on this adapter for x·Wᵀ and dy·W, in both alignments; a wrong one fails', async (wDtype) => {
    const ctx = await getTestGpu();
    const counted: string[] = [];
    for (const op of ['xwt', 'dyw'] as const) {
      for (const d of [64, 63]) {
        const s: MatmulShapeClass = { op, m: 64, n: d, k: d, wDtype };
        for (const v of variantsFor(wDtype, legalVariants(ctx, problemOf(s)))) {
          expect(await validateMatmulVariant(ctx, s, v), `${op} ${wDtype} k=${d} ${v}`).toBeNull();
          counted.push(v);
        }
      }
    }
    expect(counted.length).toBeGreaterThanOrEqual(EVERY_VARIANT.has(wDtype) ? 30 : 20);
    // the kernel with FAULT set computes one wrong output: validation must say so
    const name = `test_quant_fault_${wDtype}`;
    saved.set(name, MATMUL_FAMILY_VARIANTS[name]);
    MATMUL_FAMILY_VARIANTS[name] = { version: 2, wgX: 8, wgY: 8, fault: true };
    const why = await validateMatmulVariant(ctx, { op: 'xwt', m: 64, n: 63, k: 63, wDtype }, name);
    expect(why).toMatch(/wrong result/);
  });

  it('the tuner times the legal variants of a quantized class and keeps a validated winner', async () => {
    const ctx = await getTestGpu();
    const store = new MemoryTuneStore();
    for (const wDtype of ['q8', 'q4'] as const) {
      const r = await tuneMatmul(ctx, { op: 'xwt', m: 64, n: 96, k: 128, wDtype }, { store, reps: 1, candidates: ['v1_16x16', 'v2_8x8', 'v3_8x8_k16', 'v4_8x8', 'v7_32x32_k16_2x2'] });
      expect(r.source).toBe('measured');
      expect(r.key).toContain(`/w${wDtype}/`);
      expect(r.timings.filter((t) => t.ms !== null).length).toBeGreaterThanOrEqual(3);
      expect(['v1_16x16', 'v2_8x8', 'v3_8x8_k16', 'v4_8x8', 'v7_32x32_k16_2x2']).toContain(r.winner);
    }
  });
});

describe('quantized base matmuls: options and layout', () => {
  it('bias, alpha and accumulate (y = 0.5·x·Wᵀ + b + y0; dx = 2·dy·W + dx0), three versions', async () => {
    const ctx = await getTestGpu();
    const [M, N, K] = [9, 21, 50];
    const m = quantizeInt4Blocks(randn(N * K, 1), N, K);
    const wd = dequantizeMatrix(m);
    const [x, b, y0, dy, dx0] = [randn(M * K, 2), randn(N, 3), randn(M * N, 4), randn(M * N, 5), randn(M * K, 6)];
    const tw = uploadQuant(ctx, m, 'W');
    for (const variant of ['v1_16x16', 'v3_8x8_k16', 'v7_64x64_k8_4x4_db']) {
      const out = uploadF32(ctx, y0, [M, N], 'y0');
      await matmulXWtQuant(ctx, uploadF32(ctx, x, [M, K], 'x'), tw, uploadF32(ctx, b, [N], 'b'), { out, accumulate: true, alpha: 0.5, variant });
      const ref = matmulXWtRef(x, wd, null, M, N, K).map((v, i) => 0.5 * v + b[i % N] + y0[i]);
      expectClose(`y ${variant}`, await downloadF32(ctx, out), ref, TOL);
      const dout = uploadF32(ctx, dx0, [M, K], 'dx0');
      await matmulDyWQuant(ctx, uploadF32(ctx, dy, [M, N], 'dy'), tw, { out: dout, accumulate: true, alpha: 2, variant });
      const dref = matmulDyWRef(dy, wd, M, N, K).map((v, i) => 2 * v + dx0[i]);
      expectClose(`dx ${variant}`, await downloadF32(ctx, dout), dref, TOL);
    }
  });

  it('a batched x (B, T, K) is folded into the rows', async () => {
    const ctx = await getTestGpu();
    const [B, T, N, K] = [3, 5, 11, 40];
    const m = quantizeInt8Rows(randn(N * K, 9, 0.5), N, K);
    const x = randn(B * T * K, 10);
    const y = await matmulXWtQuant(ctx, uploadF32(ctx, x, [B, T, K], 'x'), uploadQuant(ctx, m, 'W'));
    expect(y.shape).toEqual([B, T, N]);
    expectClose('y batched', await downloadF32(ctx, y), matmulXWtRef(x, dequantizeMatrix(m), null, B * T, N, K), TOL);
  });

  it('the GPU buffer holds the matrix as given (download round trip)', async () => {
    const ctx = await getTestGpu();
    const m = quantizeInt8Rows(randn(7 * 13, 8), 7, 13);
    const back = await downloadQuant(ctx, uploadQuant(ctx, m, 'W'));
    expect(back.codes).toEqual(m.codes);
    expect(back.meta).toEqual(m.meta);
    expect(back.group).toBe(13);
  });

  it('shape mismatches are refused with the shapes named', async () => {
    const ctx = await getTestGpu();
    const tw = uploadQuant(ctx, quantizeInt8Rows(randn(4 * 6, 1), 4, 6), 'W');
    await expect(matmulXWtQuant(ctx, uploadF32(ctx, randn(10, 1), [2, 5], 'x'), tw)).rejects.toThrow(/x is \[2,5\].*needs 6 columns/);
    await expect(matmulDyWQuant(ctx, uploadF32(ctx, randn(10, 1), [2, 5], 'dy'), tw)).rejects.toThrow(/dy is \[2,5\].*needs 4 columns/);
  });
});
