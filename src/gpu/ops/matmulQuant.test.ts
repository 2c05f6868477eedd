import { describe, expect, it } from 'vitest';
import { expectClose } from '../../util/check';
import { randn } from '../../util/random';
import { dequantizeMatrix, quantizeInt4Blocks, quantizeInt8Rows, type QuantMatrix } from '../../util/quant';
import { encodeQ4_0, encodeQ4_K, encodeQ6_K, encodeQ8_0, GGML_Q4_0, GGML_Q4_K, GGML_Q6_K, GGML_Q8_0, ggmlToQuantMatrix } from '../../io/ggmlBlocks';
import { getTestGpu } from '../testing/nodeGpu';
import { downloadF32, releaseTensor, uploadF32 } from '../tensor';
import { matmulDyWRef, matmulXWtRef } from './matmul.ref';
import { downloadQuant, matmulDyWQuant, matmulXWtQuant, uploadQuant, type QuantVariant } from './matmulQuant';

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
// [M, N, K]: size 1, nothing a multiple of 4, partial 32 x 32 tiles, K not whole 32-blocks
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
const VARIANTS: QuantVariant[] = ['v1', 'v2'];

describe.each(FORMATS)('quantized base matmuls, %s', (name, make, fits) => {
  const shapes = SHAPES.filter(([, , K]) => fits(K));
  it.each(VARIANTS.flatMap((v) => shapes.map(([M, N, K]) => [v, M, N, K] as const)))('%s M=%i N=%i K=%i: y = x·Wᵀ and dx = dy·W', async (variant, M, N, K) => {
    const ctx = await getTestGpu();
    const m = make(randn(N * K, N * 13 + K, 0.4), N, K);
    const wd = dequantizeMatrix(m);
    const x = randn(M * K, M + 2 * K);
    const dy = randn(M * N, 3 * M + N);
    const tw = uploadQuant(ctx, m, `W ${name}`);
    const tx = uploadF32(ctx, x, [M, K], 'x');
    const tdy = uploadF32(ctx, dy, [M, N], 'dy');
    const y = await downloadF32(ctx, await matmulXWtQuant(ctx, tx, tw, null, { variant }));
    expectClose(`${name} ${variant} y ${M}x${N}x${K}`, y, matmulXWtRef(x, wd, null, M, N, K), TOL);
    const dx = await downloadF32(ctx, await matmulDyWQuant(ctx, tdy, tw, { variant }));
    expectClose(`${name} ${variant} dx ${M}x${N}x${K}`, dx, matmulDyWRef(dy, wd, M, N, K), TOL);
    for (const t of [tw, tx, tdy]) releaseTensor(ctx, t);
  });
});

describe('quantized base matmuls: options and layout', () => {
  it('bias, alpha and accumulate (y = 0.5·x·Wᵀ + b + y0; dx = 2·dy·W + dx0), both variants', async () => {
    const ctx = await getTestGpu();
    const [M, N, K] = [9, 21, 50];
    const m = quantizeInt4Blocks(randn(N * K, 1), N, K);
    const wd = dequantizeMatrix(m);
    const [x, b, y0, dy, dx0] = [randn(M * K, 2), randn(N, 3), randn(M * N, 4), randn(M * N, 5), randn(M * K, 6)];
    const tw = uploadQuant(ctx, m, 'W');
    for (const variant of VARIANTS) {
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
