// Version 7 (register-tiled, workgroup-memory tiles) of all three matmul ops, every v7 parameter
// set of the table, against the f64 TS references on awkward shapes: size 1, odd M/N/K, K not a
// multiple of BK, more than one workgroup in each dimension with partial last tiles, batch > 1
// with shared and per-batch operands, alpha, bias and accumulate. f16 and f32 W.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../device';
import { roundToF16 } from '../../util/f16';
import { expectClose } from '../../util/check';
import { randn } from '../../util/random';
import { getTestGpu } from '../testing/nodeGpu';
import { downloadF32, releaseTensor, uploadF16, uploadF32, type Tensor } from '../tensor';
import { matmulDyTX, matmulDyW, matmulXWt } from './matmul';
import { matmulDyTXRef, matmulDyWRef, matmulXWtRef } from './matmul.ref';
import { problemOf } from './matmulRegistry';
import { illegalReason, MATMUL_FAMILY_VARIANTS, workgroupBytes } from './matmulVariants';

// (the native-f16 ones: matmulF16.test.ts)
const V7 = Object.keys(MATMUL_FAMILY_VARIANTS).filter((n) => MATMUL_FAMILY_VARIANTS[n].version === 7 && !MATMUL_FAMILY_VARIANTS[n].f16);
// compiling five pipelines takes minutes on SwiftShader when the machine is busy
const SLOW = 600_000;
// f32 accumulation against f64 on the same (fp16-rounded) values
const TOL = { atol: 2e-5, rtol: 1e-5 };
// [M, N, K]
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [5, 9, 11],
  [67, 131, 37],
  [130, 68, 36],
  [33, 20, 132],
];

const up = (ctx: GpuContext, v: Float32Array, shape: number[], f16: boolean, label: string): Tensor =>
  f16 ? uploadF16(ctx, v, shape, label) : uploadF32(ctx, v, shape, label);
const r16 = (v: Float32Array, f16: boolean) => (f16 ? Float32Array.from(v, roundToF16) : v);

describe('matmul v7 parameter sets', () => {
  it('has several, all consistent and within the default WebGPU limits', async () => {
    const ctx = await getTestGpu();
    expect(V7.length).toBeGreaterThanOrEqual(4);
    for (const name of V7) {
      expect(workgroupBytes(MATMUL_FAMILY_VARIANTS[name])).toBeLessThanOrEqual(16384);
      expect(illegalReason(ctx, name, { op: 'xwt', rows: 64, cols: 64, depth: 64, vec4Ok: true, batch: 1 })).toBeNull();
    }
    // vec4 ones need the alignment, and say so; scalar ones run any shape
    for (const name of V7) {
      const why = illegalReason(ctx, name, problemOf({ op: 'dyw', m: 5, n: 7, k: 8 }));
      if (MATMUL_FAMILY_VARIANTS[name].vec4) expect(why).toMatch(/uses vec4 loads: N and K must be multiples of 4/);
      else expect(why).toBeNull();
    }
  });

  it('refuses misconfigured parameters and tiles too big for the device, naming why', async () => {
    const ctx = await getTestGpu();
    const p = problemOf({ op: 'xwt', m: 64, n: 64, k: 64 });
    MATMUL_FAMILY_VARIANTS.test_v7_tm9 = { version: 7, wgX: 8, wgY: 8, tileK: 8, tm: 9, tn: 4 };
    MATMUL_FAMILY_VARIANTS.test_v7_vec4_bk6 = { version: 7, wgX: 8, wgY: 8, tileK: 6, tm: 4, tn: 4, vec4: true };
    MATMUL_FAMILY_VARIANTS.test_v7_huge = { version: 7, wgX: 16, wgY: 16, tileK: 64, tm: 8, tn: 8, double: true };
    try {
      expect(illegalReason(ctx, 'test_v7_tm9', p)).toMatch(/misconfigured: TM x TN 9x4 outside 1\.\.8/);
      expect(illegalReason(ctx, 'test_v7_vec4_bk6', p)).toMatch(/misconfigured: vec4 loads need BK, BM and BN multiples of 4/);
      expect(illegalReason(ctx, 'test_v7_huge', p)).toMatch(/needs 132096 bytes of workgroup memory, above this device's \d+/);
    } finally {
      for (const n of ['test_v7_tm9', 'test_v7_vec4_bk6', 'test_v7_huge']) delete MATMUL_FAMILY_VARIANTS[n];
    }
  });
});

describe.each(V7)('matmul %s', (variant) => {
  it.each(SHAPES)('y = x·Wᵀ, dx = dy·W, dW = dyᵀ·x at M=%i N=%i K=%i (f16 and f32 W)', async (M, N, K) => {
    const ctx = await getTestGpu();
    const x = randn(M * K, M + 3 * K);
    const w = randn(N * K, N + 5 * K, 0.5);
    const dy = randn(M * N, M + 7 * N);
    const bias = randn(N, N);
    const tx = uploadF32(ctx, x, [M, K], 'x');
    const tdy = uploadF32(ctx, dy, [M, N], 'dy');
    const tb = uploadF32(ctx, bias, [N], 'bias');
    const tensors: Tensor[] = [tx, tdy, tb];
    const run = async (what: string, op: 'xwt' | 'dyw' | 'dytx', f: () => Promise<Tensor>, ref: () => Float32Array) => {
      const why = illegalReason(ctx, variant, problemOf({ op, m: M, n: N, k: K }));
      if (why) {
        expect(why).toMatch(/uses vec4 loads/);
        await expect(f()).rejects.toThrow(/uses vec4 loads/);
        return;
      }
      const t = await f();
      tensors.push(t);
      expectClose(`${what} ${variant} ${M}x${N}x${K}`, await downloadF32(ctx, t), ref(), TOL);
    };
    for (const f16 of [true, false]) {
      const tw = up(ctx, w, [N, K], f16, 'W');
      tensors.push(tw);
      const wr = r16(w, f16);
      await run(`y (f16 ${f16})`, 'xwt', () => matmulXWt(ctx, tx, tw, tb, { variant }), () => matmulXWtRef(x, wr, bias, M, N, K));
      await run(`dx (f16 ${f16})`, 'dyw', () => matmulDyW(ctx, tdy, tw, { variant }), () => matmulDyWRef(dy, wr, M, N, K));
    }
    await run('dW', 'dytx', () => matmulDyTX(ctx, tdy, tx, { variant }), () => matmulDyTXRef(dy, x, M, N, K));
    for (const t of tensors) releaseTensor(ctx, t);
  }, SLOW);

  it('batch 3 (per-batch and shared operands), alpha 0.5, bias, accumulate', async () => {
    const ctx = await getTestGpu();
    const [B, M, N, K] = [3, 19, 72, 44];
    const x = randn(B * M * K, 11);
    const w = randn(B * N * K, 12, 0.5);
    const dy = randn(B * M * N, 13);
    const bias = randn(N, 14);
    const o = { y: randn(B * M * N, 15), dx: randn(B * M * K, 16), dw: randn(B * N * K, 17) };
    const tx = uploadF32(ctx, x, [B, M, K], 'x');
    const tw = uploadF16(ctx, w, [B, N, K], 'W');
    const twShared = uploadF32(ctx, w.subarray(0, N * K), [N, K], 'W shared');
    const tdy = uploadF32(ctx, dy, [B, M, N], 'dy');
    const tdy2 = uploadF32(ctx, dy.subarray(0, M * N), [M, N], 'dy shared');
    const tb = uploadF32(ctx, bias, [N], 'bias');
    const y = uploadF32(ctx, o.y, [B, M, N], 'y');
    const dx = uploadF32(ctx, o.dx, [B, M, K], 'dx');
    const dw = uploadF32(ctx, o.dw, [B, N, K], 'dW');
    const ys = uploadF32(ctx, o.y, [B, M, N], 'y shared W');
    const opts = { variant, accumulate: true, alpha: 0.5 };
    await matmulXWt(ctx, tx, tw, tb, { ...opts, out: y });
    await matmulXWt(ctx, tx, twShared, null, { ...opts, out: ys });
    await matmulDyW(ctx, tdy, tw, { ...opts, out: dx });
    await matmulDyTX(ctx, tdy2, tx, { ...opts, out: dw });
    const w16 = Float32Array.from(w, roundToF16);
    const got = { y: await downloadF32(ctx, y), ys: await downloadF32(ctx, ys), dx: await downloadF32(ctx, dx), dw: await downloadF32(ctx, dw) };
    for (let b = 0; b < B; b++) {
      const xb = x.subarray(b * M * K, (b + 1) * M * K);
      const wb = w16.subarray(b * N * K, (b + 1) * N * K);
      const dyb = dy.subarray(b * M * N, (b + 1) * M * N);
      const sl = (a: Float32Array, n: number) => a.subarray(b * n, (b + 1) * n);
      const yRef = matmulXWtRef(xb, wb, null, M, N, K).map((v, i) => 0.5 * v + bias[i % N] + sl(o.y, M * N)[i]);
      expectClose(`y batch ${b}`, sl(got.y, M * N), yRef, TOL);
      const ysRef = matmulXWtRef(xb, w.subarray(0, N * K), null, M, N, K).map((v, i) => 0.5 * v + sl(o.y, M * N)[i]);
      expectClose(`y shared W batch ${b}`, sl(got.ys, M * N), ysRef, TOL);
      const dxRef = matmulDyWRef(dyb, wb, M, N, K).map((v, i) => 0.5 * v + sl(o.dx, M * K)[i]);
      expectClose(`dx batch ${b}`, sl(got.dx, M * K), dxRef, TOL);
      const dwRef = matmulDyTXRef(dy.subarray(0, M * N), xb, M, N, K).map((v, i) => 0.5 * v + sl(o.dw, N * K)[i]);
      expectClose(`dW batch ${b}`, sl(got.dw, N * K), dwRef, TOL);
    }
    for (const t of [tx, tw, twShared, tdy, tdy2, tb, y, dx, dw, ys]) releaseTensor(ctx, t);
  }, SLOW);
});
