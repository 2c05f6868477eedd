// The gating of matmul variants by validation on the running adapter (matmulTrust.ts). The broken
// variant here is a real kernel run on the real adapter: MatmulVariant.fault compiles the epilogue
// with FAULT set, so the last output of each matrix really comes out 1 too big.
import { afterEach, describe, expect, it } from 'vitest';
import type { GpuContext } from '../device';
import { roundToF16 } from '../../util/f16';
import { expectClose } from '../../util/check';
import { randn } from '../../util/random';
import { newTestGpu } from '../testing/nodeGpu';
import { downloadF32, releaseTensor, uploadF16, uploadF32 } from '../tensor';
import { MemoryTuneStore } from '../tune/store';
import { knownWinner, TUNE_SCHEMA, tuneMatmul, tuneStoreKey } from '../tune/matmulTuner';
import { matmulDyTX, matmulDyW, matmulXWt, prepareMatmulKernels, validateMatmulVariant } from './matmul';
import { isolatedContext } from './rowKernels';
import { matmulDyTXRef, matmulDyWRef, matmulXWtRef } from './matmul.ref';
import { problemOf, rememberTuned, shapeClassKey, variantFor, type MatmulShapeClass } from './matmulRegistry';
import { validationVerdicts } from './matmulTrust';
import { defaultVariant, illegalReason, MATMUL_FAMILY_VARIANTS, trustKey, type MatmulVariant } from './matmulVariants';

const FAULTY = 'test_fault_v2';
const TOL = { atol: 1e-5, rtol: 1e-5 };
const saved = new Map<string, MatmulVariant | undefined>();

/** Puts `v` into the variant table under `name` until the test ends. */
function plant(name: string, v: MatmulVariant): void {
  if (!saved.has(name)) saved.set(name, MATMUL_FAMILY_VARIANTS[name]);
  MATMUL_FAMILY_VARIANTS[name] = v;
}

const contexts: GpuContext[] = [];
async function freshGpu(): Promise<GpuContext> {
  const ctx = await newTestGpu();
  contexts.push(ctx);
  return ctx;
}

afterEach(() => {
  for (const [name, v] of saved) {
    if (v) MATMUL_FAMILY_VARIANTS[name] = v;
    else delete MATMUL_FAMILY_VARIANTS[name];
  }
  saved.clear();
  for (const c of contexts.splice(0)) c.destroy();
});

/** Runs all three ops without naming a variant and checks them against the references. */
async function checkOps(ctx: GpuContext, [M, N, K]: [number, number, number]): Promise<void> {
  const x = randn(M * K, 1);
  const w = randn(N * K, 2, 0.5);
  const dy = randn(M * N, 3);
  const w16 = Float32Array.from(w, roundToF16);
  const tx = uploadF32(ctx, x, [M, K], 'x');
  const tw = uploadF16(ctx, w, [N, K], 'W');
  const tdy = uploadF32(ctx, dy, [M, N], 'dy');
  expectClose('y', await downloadF32(ctx, await matmulXWt(ctx, tx, tw)), matmulXWtRef(x, w16, null, M, N, K), TOL);
  expectClose('dx', await downloadF32(ctx, await matmulDyW(ctx, tdy, tw)), matmulDyWRef(dy, w16, M, N, K), TOL);
  expectClose('dW', await downloadF32(ctx, await matmulDyTX(ctx, tdy, tx)), matmulDyTXRef(dy, x, M, N, K), TOL);
  for (const t of [tx, tw, tdy]) releaseTensor(ctx, t);
}

const XWT: MatmulShapeClass = { op: 'xwt', m: 20, n: 24, k: 16, wDtype: 'f16' };

describe('matmul variant validation on the running adapter', () => {
  it('validates the variant an op picks before its first use, once per device and class', async () => {
    const ctx = await freshGpu();
    expect((await validationVerdicts(ctx)).size).toBe(0);
    await checkOps(ctx, [20, 24, 16]);
    const verdicts = await validationVerdicts(ctx);
    const name = defaultVariant(ctx, problemOf(XWT));
    expect(verdicts.get(trustKey(problemOf(XWT), name))).toBeNull();
    // one verdict per op here (xwt f16, dyw f16, dytx), all passed
    expect([...verdicts.values()]).toEqual([null, null, null]);
    // another shape of the same classes: nothing validated again
    await checkOps(ctx, [36, 8, 44]);
    expect((await validationVerdicts(ctx)).size).toBe(3);
  });

  it("validation runs on its own encoder: the caller's recorded, unsubmitted work stays unsubmitted", async () => {
    const ctx = await freshGpu();
    const [M, N, K] = [4, 6, 8];
    const x = randn(M * K, 21);
    const w = randn(N * K, 22);
    const tx = uploadF32(ctx, x, [M, K], 'x');
    const tw = uploadF32(ctx, w, [N, K], 'W');
    const y = await matmulXWt(ctx, tx, tw, null, { variant: 'v1_16x16' }); // recorded, not submitted
    const submits = ctx.counters.submits;
    await matmulXWt(ctx, tx, tw); // the default, validated first
    expect((await validationVerdicts(ctx)).size).toBe(1);
    expect(ctx.counters.submits).toBeGreaterThan(submits); // the check's own
    const iso = isolatedContext(ctx);
    expect(Array.from(await downloadF32(iso, y))).toEqual(new Array(M * N).fill(0));
    iso.close();
    expectClose('y', await downloadF32(ctx, y), matmulXWtRef(x, w, null, M, N, K), TOL);
    for (const t of [tx, tw, y]) releaseTensor(ctx, t);
  });

  it('prepareMatmulKernels validates the default of every class up front: ops then submit nothing of their own', async () => {
    const ctx = await freshGpu();
    const prepared = await prepareMatmulKernels(ctx);
    expect(prepared).toHaveLength(10);
    const verdicts = await validationVerdicts(ctx);
    expect([...verdicts.values()].every((v) => v === null)).toBe(true);
    for (const p of prepared) {
      const sc: MatmulShapeClass = { op: p.op, m: 64, n: p.vec4 ? 64 : 63, k: p.vec4 ? 64 : 63, wDtype: p.wDtype };
      expect(p.variant).toBe(defaultVariant(ctx, problemOf(sc)));
      expect(verdicts.get(trustKey(problemOf(sc), p.variant))).toBeNull();
    }
    const submits = ctx.counters.submits;
    const [M, N, K] = [9, 7, 13];
    const tx = uploadF32(ctx, randn(M * K, 1), [M, K], 'x');
    const tdy = uploadF32(ctx, randn(M * N, 2), [M, N], 'dy');
    for (const tw of [uploadF16(ctx, randn(N * K, 3), [N, K], 'W16'), uploadF32(ctx, randn(N * K, 3), [N, K], 'W32')]) {
      await matmulXWt(ctx, tx, tw);
      await matmulDyW(ctx, tdy, tw);
    }
    await matmulDyTX(ctx, tdy, tx);
    expect(ctx.counters.submits).toBe(submits);
    expect((await validationVerdicts(ctx)).size).toBe(10);
  });

  it('a validation that cannot run (out of memory) is no verdict: the fallback runs, nothing is recorded, the next use checks again', async () => {
    const ctx = await freshGpu();
    const tx = uploadF32(ctx, randn(4 * 8, 1), [4, 8], 'x');
    const tw = uploadF16(ctx, randn(6 * 8, 2), [6, 8], 'W');
    const p = problemOf({ op: 'xwt', m: 4, n: 6, k: 8, wDtype: 'f16' });
    const first = defaultVariant(ctx, p);
    ctx.allocator.simulatedLimitBytes = ctx.allocator.liveBytes; // every new buffer fails
    const out = await matmulXWt(ctx, tx, tw); // recorded with the fallback; never submitted here
    expect(out.label).toBe('matmul y');
    expect((await validationVerdicts(ctx)).size).toBe(0);
    expect(illegalReason(ctx, first, p)).toBeNull();
    await ctx.allocator.checkOutOfMemory();
    ctx.allocator.simulatedLimitBytes = null;
    await validateMatmulVariant(ctx, { op: 'xwt', m: 4, n: 6, k: 8, wDtype: 'f16' }, first);
    expect((await validationVerdicts(ctx)).get(trustKey(p, first))).toBeNull();
  });

  it('rejects a deliberately wrong variant with the reason; it is then illegal and refused by name', async () => {
    const ctx = await freshGpu();
    plant(FAULTY, { version: 2, wgX: 8, wgY: 8, fault: true });
    // the fault is real: run by name before any validation, the last output is 1 too big
    const [M, N, K] = [5, 6, 7];
    const x = randn(M * K, 4);
    const w = randn(N * K, 5);
    const tx = uploadF32(ctx, x, [M, K], 'x');
    const tw = uploadF32(ctx, w, [N, K], 'W');
    const y = await downloadF32(ctx, await matmulXWt(ctx, tx, tw, null, { variant: FAULTY }));
    const ref = matmulXWtRef(x, w, null, M, N, K);
    expect(() => expectClose('faulty y', y, ref, TOL)).toThrow(/1 of 30 values outside/);
    expect(y[M * N - 1] - ref[M * N - 1]).toBeCloseTo(1, 4);

    for (const s of [XWT, { op: 'dyw', m: 9, n: 7, k: 5, wDtype: 'f32' }, { op: 'dytx', m: 9, n: 12, k: 8 }] as MatmulShapeClass[]) {
      const why = await validateMatmulVariant(ctx, s, FAULTY);
      // batch 2 of the validation problem: one wrong value per matrix
      expect(why).toMatch(/^wrong result on 2x \d+x\d+x\d+ \(alpha, .*accumulate\): 2 of \d+ values outside atol/);
      expect(illegalReason(ctx, FAULTY, problemOf(s))).toMatch(/failed validation on this device: wrong result/);
      // a real variant of the same class passes
      expect(await validateMatmulVariant(ctx, s, 'v1_16x16')).toBeNull();
    }
    // asked for by name in a class where it failed (XWT's: f16 W, K % 4 == 0): refused
    const x4 = uploadF32(ctx, randn(3 * 16, 6), [3, 16], 'x4');
    const w4 = uploadF16(ctx, randn(4 * 16, 7), [4, 16], 'W16');
    await expect(matmulXWt(ctx, x4, w4, null, { variant: FAULTY })).rejects.toThrow(/matmulXWt: variant test_fault_v2 failed validation on this device/);
    for (const t of [tx, tw, x4, w4]) releaseTensor(ctx, t);
  });

  it('never uses a wrong tuned winner, in memory or stored by an earlier session', async () => {
    const ctx = await freshGpu();
    plant(FAULTY, { version: 2, wgX: 8, wgY: 8, fault: true });
    for (const op of ['xwt', 'dyw', 'dytx'] as const) rememberTuned(ctx, shapeClassKey({ op, m: 20, n: 24, k: 16 }), FAULTY);
    // legal as far as shapes go, so the sync choice names it ...
    expect(variantFor(ctx, XWT)).toBe(FAULTY);
    // ... but the ops validate it first and run the default instead
    await checkOps(ctx, [20, 24, 16]);
    expect(illegalReason(ctx, FAULTY, problemOf(XWT))).toMatch(/failed validation/);
    expect(variantFor(ctx, XWT)).toBe(defaultVariant(ctx, problemOf(XWT)));

    // a record from an earlier session on this adapter naming it: not taken, measured again
    const fresh = await freshGpu();
    const store = new MemoryTuneStore();
    const s: MatmulShapeClass = { op: 'dyw', m: 12, n: 8, k: 16, wDtype: 'f16' };
    await store.set(tuneStoreKey(fresh, shapeClassKey(s)), { schema: TUNE_SCHEMA, winner: FAULTY, timings: [] });
    expect(await knownWinner(fresh, s, store)).toBeNull();
    const r = await tuneMatmul(fresh, s, { store, reps: 1, candidates: [FAULTY, 'v1_16x16', 'v2_8x8'] });
    expect(r.source).toBe('measured');
    expect(['v1_16x16', 'v2_8x8']).toContain(r.winner);
  });

  it('the tuner rejects a wrong candidate, naming why, and never picks it', async () => {
    const ctx = await freshGpu();
    plant(FAULTY, { version: 2, wgX: 8, wgY: 8, fault: true });
    const lines: string[] = [];
    const r = await tuneMatmul(ctx, { op: 'dytx', m: 16, n: 12, k: 8 }, { store: new MemoryTuneStore(), reps: 1, candidates: [FAULTY, 'v2_8x8'], onProgress: (l) => lines.push(l) });
    expect(r.winner).toBe('v2_8x8');
    expect(r.timings.find((t) => t.variant === FAULTY)).toMatchObject({ ms: null, rejected: expect.stringMatching(/wrong result.*2 of/) });
    expect(lines.some((l) => /test_fault_v2: rejected, wrong result/.test(l))).toBe(true);
  });

  it('never uses a wrong default: the next one in the default order runs', async () => {
    const ctx = await freshGpu();
    const first = defaultVariant(ctx, problemOf(XWT));
    plant(first, { ...MATMUL_FAMILY_VARIANTS[first], fault: true });
    await checkOps(ctx, [20, 24, 16]);
    const verdicts = await validationVerdicts(ctx);
    for (const op of ['xwt', 'dyw', 'dytx'] as const) {
      const p = problemOf({ op, m: 20, n: 24, k: 16 });
      expect(verdicts.get(trustKey(p, first))).toMatch(/wrong result/);
      const next = defaultVariant(ctx, p);
      expect(next).not.toBe(first);
      expect(verdicts.get(trustKey(p, next))).toBeNull();
    }
  });

  it('says so, with every reason, when no variant computes correct results', async () => {
    const ctx = await freshGpu();
    for (const [name, v] of Object.entries(MATMUL_FAMILY_VARIANTS)) plant(name, { ...v, fault: true });
    const [M, N, K] = [6, 8, 4];
    const dy = uploadF32(ctx, randn(M * N, 1), [M, N], 'dy');
    const x = uploadF32(ctx, randn(M * K, 2), [M, K], 'x');
    const err = await matmulDyTX(ctx, dy, x).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(err).toMatch(/^matmul: no usable kernel variant for dytx 8x4x6 on .*: variant v5_q2x2 failed validation on this device: wrong result/);
    for (const name of Object.keys(MATMUL_FAMILY_VARIANTS)) expect(err).toContain(`variant ${name} `);
    // every variant of the table compiled and validated: minutes on SwiftShader when the machine is busy
  }, 600_000);
});
