// The training path's attention version is checked on the running adapter before use: version 2
// runs only after its check (real kernels vs the TS reference, prepareAttentionKernels) passed on
// this device for this head dim; a version that fails there (wrong numbers or an error) or cannot
// run within the device's limits is never used, and the ops fall back to version 1 — the same
// numbers, bit for bit, as asking for version 1. The trainer's part is in trainerAttention.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import type { GpuContext } from '../device';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF32, type Tensor } from '../tensor';
import { attentionBackward, attentionChoiceFor, attentionForward, attentionVariantFor, DEFAULT_ATTENTION_VARIANT, FA2_ATTENTION_VARIANT, FA2_SG_ATTENTION_VARIANT, prepareAttentionKernels } from './attention';
import { checkProblems, finishedAttentionCheck, forgetAttentionChecks, type AttentionRunner } from './attentionValidate';

const SHAPE = { B: 1, T: 45, Hq: 4, Hkv: 2, D: 8 };

/** Forward + backward with the op's own choice (variant undefined) or an explicit one. */
async function run(ctx: GpuContext, variant?: string) {
  const { B, T, Hq, Hkv, D } = SHAPE;
  const q = uploadF32(ctx, randn(B * T * Hq * D, 1), [B, T, Hq, D], 'q');
  const k = uploadF32(ctx, randn(B * T * Hkv * D, 2), [B, T, Hkv, D], 'k');
  const v = uploadF32(ctx, randn(B * T * Hkv * D, 3), [B, T, Hkv, D], 'v');
  const dout = uploadF32(ctx, randn(B * T * Hq * D, 4), [B, T, Hq, D], 'dout');
  const opts = { ...SHAPE, variant };
  const { out, lse } = await attentionForward(ctx, q, k, v, opts);
  const g = await attentionBackward(ctx, q, k, v, out, lse, dout, opts);
  const res = { out: Array.from(await downloadF32(ctx, out)), dq: Array.from(await downloadF32(ctx, g.dq)), dk: Array.from(await downloadF32(ctx, g.dk)) };
  for (const t of [q, k, v, dout, out, lse, g.dq, g.dk, g.dv, g.scratch] as Tensor[]) releaseTensor(ctx, t);
  return res;
}

/** The real version 2 runner (what attentionVariantFor uses), optionally corrupting its results. */
function v2Runner(corrupt?: (r: Awaited<ReturnType<AttentionRunner>>) => void): AttentionRunner & { calls: number } {
  const runner = Object.assign(
    async (ctx: GpuContext, p: Parameters<AttentionRunner>[1], t: Parameters<AttentionRunner>[2]) => {
      runner.calls++;
      const opts = { B: p.B, T: p.T, Hq: p.Hq, Hkv: p.Hkv, D: p.D, window: p.window, docIds: t.docIds, variant: FA2_ATTENTION_VARIANT };
      const { out, lse } = await attentionForward(ctx, t.q, t.k, t.v, opts);
      const g = await attentionBackward(ctx, t.q, t.k, t.v, out, lse, t.dout, opts);
      const r = {
        out: await downloadF32(ctx, out),
        lse: await downloadF32(ctx, lse),
        dq: await downloadF32(ctx, g.dq),
        dk: await downloadF32(ctx, g.dk),
        dv: await downloadF32(ctx, g.dv),
      };
      for (const x of [out, lse, g.dq, g.dk, g.dv, g.scratch]) releaseTensor(ctx, x);
      corrupt?.(r);
      return r;
    },
    { calls: 0 },
  );
  return runner;
}

/** A version 3 (subgroup softmax) runner that fails its check, so the tests of version 2 see v2 chosen. */
const v3Fails: AttentionRunner = async () => {
  throw new Error('v3 refused in this test');
};

describe('the attention version is validated on the running adapter before use', () => {
  afterEach(async () => forgetAttentionChecks(await getTestGpu()));

  it('v1 and v2 give different low bits here, so the comparisons below tell which one ran', async () => {
    const ctx = await getTestGpu();
    const a = await run(ctx, DEFAULT_ATTENTION_VARIANT);
    const b = await run(ctx, FA2_ATTENTION_VARIANT);
    // dq sums its keys in the same order in both; out (tiles of 16 vs 32 keys between rescales)
    // and dk (v2 takes the group's two q heads per query tile) do not
    expect(a.out).not.toEqual(b.out);
    expect(a.dk).not.toEqual(b.dk);
  }, 300_000);

  it('unchecked, the ops run v1 and never check on their own (no submits inside a step)', async () => {
    const ctx = await getTestGpu();
    forgetAttentionChecks(ctx);
    expect(attentionVariantFor(ctx, SHAPE)).toBe(DEFAULT_ATTENTION_VARIANT);
    const before = ctx.counters.snapshot();
    const { B, T, Hq, D } = SHAPE;
    const q = uploadF32(ctx, randn(B * T * Hq * D, 1), [B, T, Hq, D], 'q');
    const { out, lse } = await attentionForward(ctx, q, q, q, { ...SHAPE, Hkv: Hq });
    expect(ctx.counters.since(before).submits).toBe(0);
    expect(finishedAttentionCheck(ctx, D)).toBeUndefined();
    ctx.flush();
    for (const t of [q, out, lse]) releaseTensor(ctx, t);
    expect(await run(ctx)).toEqual(await run(ctx, DEFAULT_ATTENTION_VARIANT));
  }, 300_000);

  it('runs v2 once its check passed on this device (checked once per head dim, however many calls)', async () => {
    const ctx = await getTestGpu();
    forgetAttentionChecks(ctx);
    const runner = v2Runner();
    const [r1, r2] = await Promise.all([prepareAttentionKernels(ctx, SHAPE.D, runner, v3Fails), prepareAttentionKernels(ctx, SHAPE.D, runner, v3Fails)]);
    expect(r1).toEqual({ D: SHAPE.D, passed: true, failures: [] });
    expect(r2).toBe(r1);
    expect(await prepareAttentionKernels(ctx, SHAPE.D, runner, v3Fails)).toBe(r1);
    expect(runner.calls).toBe(checkProblems(SHAPE.D).length);
    expect(attentionVariantFor(ctx, SHAPE)).toBe(FA2_ATTENTION_VARIANT);
    expect(attentionVariantFor(ctx, { ...SHAPE, T: 3 })).toBe(FA2_ATTENTION_VARIANT);
    // another head dim is not checked by this one
    expect(attentionVariantFor(ctx, { ...SHAPE, D: 16 })).toBe(DEFAULT_ATTENTION_VARIANT);
    // the ops' own choice is now v2, bit for bit
    expect(await run(ctx)).toEqual(await run(ctx, FA2_ATTENTION_VARIANT));
  }, 300_000);

  it('the default check runs the real v2 kernels and passes here', async () => {
    const ctx = await getTestGpu();
    forgetAttentionChecks(ctx);
    const report = await prepareAttentionKernels(ctx, SHAPE.D);
    expect(report).toEqual({ D: SHAPE.D, passed: true, failures: [] });
    expect(finishedAttentionCheck(ctx, SHAPE.D)).toBe(report);
    // with subgroups (this machine) version 3 is checked too, passes, and is what the ops run
    expect(ctx.description.features.subgroups).toBe(true);
    expect(finishedAttentionCheck(ctx, SHAPE.D, 3)).toEqual({ D: SHAPE.D, passed: true, failures: [] });
    expect(attentionChoiceFor(ctx, SHAPE)).toEqual({ variant: FA2_SG_ATTENTION_VARIANT, reason: expect.stringMatching(/subgroup softmax matched the reference/) });
    expect(await run(ctx)).toEqual(await run(ctx, FA2_SG_ATTENTION_VARIANT));
  }, 300_000);

  it('a version 3 that fails its check is never used: the ops run v2, and the reason says why', async () => {
    const ctx = await getTestGpu();
    forgetAttentionChecks(ctx);
    await prepareAttentionKernels(ctx, SHAPE.D, v2Runner(), v3Fails);
    expect(finishedAttentionCheck(ctx, SHAPE.D, 3)?.passed).toBe(false);
    expect(attentionChoiceFor(ctx, SHAPE)).toEqual({ variant: FA2_ATTENTION_VARIANT, reason: expect.stringMatching(/subgroup softmax failed its check: problem 0: v3 refused in this test/) });
    expect(await run(ctx)).toEqual(await run(ctx, FA2_ATTENTION_VARIANT));
  }, 300_000);

  it('a device without subgroups never checks version 3 and runs v2', async () => {
    const ctx = await getTestGpu();
    forgetAttentionChecks(ctx);
    const noSg: GpuContext = { ...ctx, description: { ...ctx.description, features: { ...ctx.description.features, subgroups: false } } };
    let v3Calls = 0;
    await prepareAttentionKernels(noSg, SHAPE.D, v2Runner(), async () => {
      v3Calls++;
      throw new Error('must not run');
    });
    expect(v3Calls).toBe(0);
    expect(attentionChoiceFor(noSg, SHAPE)).toEqual({ variant: FA2_ATTENTION_VARIANT, reason: "subgroup softmax not legal: the device has no 'subgroups' feature" });
  }, 300_000);

  it('a v2 that computes one wrong gradient element fails its check, is never used, and the ops run v1', async () => {
    const ctx = await getTestGpu();
    forgetAttentionChecks(ctx);
    const runner = v2Runner((r) => {
      r.dq[5] += 1e-2;
    });
    const report = await prepareAttentionKernels(ctx, SHAPE.D, runner);
    expect(report?.passed).toBe(false);
    // the report names the problem and the tensor and lists the first mismatches
    expect(report?.failures.join('\n')).toMatch(/problem 0 \(B2 T37 Hq4 Hkv2 D8\): dq: 1 mismatches .*first:\n {2}\[5\] got .*expected/s);
    expect(attentionVariantFor(ctx, SHAPE)).toBe(DEFAULT_ATTENTION_VARIANT);
    expect(await prepareAttentionKernels(ctx, SHAPE.D, runner)).toBe(report); // remembered, not rerun
    expect(runner.calls).toBe(checkProblems(SHAPE.D).length);
    expect(await run(ctx)).toEqual(await run(ctx, DEFAULT_ATTENTION_VARIANT));
  }, 300_000);

  it('a v2 whose run throws fails its check; the ops run v1', async () => {
    const ctx = await getTestGpu();
    forgetAttentionChecks(ctx);
    const runner: AttentionRunner = async () => {
      throw new Error('pipeline creation failed on this driver');
    };
    const report = await prepareAttentionKernels(ctx, SHAPE.D, runner);
    expect(report?.failures[0]).toMatch(/problem 0: pipeline creation failed on this driver/);
    expect(attentionVariantFor(ctx, SHAPE)).toBe(DEFAULT_ATTENTION_VARIANT);
    expect(await run(ctx)).toEqual(await run(ctx, DEFAULT_ATTENTION_VARIANT));
  }, 300_000);

  it('a device whose limits the tiles exceed gets v1 without any check, and an explicit v2 there is refused by name', async () => {
    const ctx = await getTestGpu();
    forgetAttentionChecks(ctx);
    const small: GpuContext = { ...ctx, description: { ...ctx.description, limits: { ...ctx.description.limits, maxComputeWorkgroupStorageSize: 1024 } } };
    const runner = v2Runner();
    expect(await prepareAttentionKernels(small, SHAPE.D, runner)).toBeNull();
    expect(runner.calls).toBe(0);
    expect(attentionVariantFor(small, SHAPE)).toBe(DEFAULT_ATTENTION_VARIANT);
    // even a passed check on the device does not make v2 legal where the limits forbid it
    await prepareAttentionKernels(ctx, SHAPE.D, runner, v3Fails);
    expect(attentionVariantFor(ctx, SHAPE)).toBe(FA2_ATTENTION_VARIANT);
    expect(attentionVariantFor(small, SHAPE)).toBe(DEFAULT_ATTENTION_VARIANT);
    const { B, T, Hq, Hkv, D } = SHAPE;
    const q = uploadF32(ctx, randn(B * T * Hq * D, 1), [B, T, Hq, D], 'q');
    const kv = uploadF32(ctx, randn(B * T * Hkv * D, 2), [B, T, Hkv, D], 'kv');
    await expect(attentionForward(small, q, kv, kv, { ...SHAPE, variant: FA2_ATTENTION_VARIANT })).rejects.toThrow(
      /variant v2_fa2 cannot run on this device: needs \d+ bytes of workgroup memory at head dim 8, the device allows 1024/,
    );
    releaseTensor(ctx, q);
    releaseTensor(ctx, kv);
  }, 300_000);
});
