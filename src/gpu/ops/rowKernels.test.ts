// The row reductions' version gating (rowKernels.ts) on real devices of this adapter: version 2 is
// used only after it passed its check here; a device without subgroups, and a check that fails,
// both give version 1 with the reason recorded; the check runs on its own encoder and leaves the
// caller's unsubmitted work alone; both versions repeat bit for bit.
import { describe, expect, it } from 'vitest';
import { acquireGpu, type GpuContext } from '../device';
import { compileComputePipeline } from '../shader';
import { getTestGpu, newTestGpu, nodeGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, readBuffer, releaseTensor, uploadF32, uploadI32 } from '../tensor';
import { checkCrossEntropyV2, checkSumRowsV2, crossEntropyForwardBackward } from './crossEntropy';
import { checkGradNormV2 } from './gradNorm';
import { checkLayernormV2 } from './layernorm';
import { checkRmsnormV2, RMSNORM_SG_SHADER, rmsnormForward } from './rmsnorm';
import { prepareRowKernels } from './rowKernelChecks';
import { isolatedContext, rowKernelChoices, validateRowVersion2, type RowCheck, type RowOp, type RowVersion } from './rowKernels';

const CHECKS: [RowOp, RowCheck, number][] = [
  ['crossEntropy', checkCrossEntropyV2, 4],
  ['sumRows', checkSumRowsV2, 256],
  ['rmsnorm', checkRmsnormV2, 4],
  ['layernorm', checkLayernormV2, 4],
  ['gradNorm', checkGradNormV2, 256],
];

const [N, C] = [16, 1000];
const x = randn(N * C, 7);
const w = randn(C, 8, 0.5).map((v) => 1 + v);

async function rmsnormY(ctx: GpuContext, version?: RowVersion): Promise<Float32Array> {
  const tx = uploadF32(ctx, x, [N, C], 'x');
  const tw = uploadF32(ctx, w, [C], 'w');
  const { y, rstd } = await rmsnormForward(ctx, tx, tw, { eps: 1e-5, wg: 4, version });
  const out = await downloadF32(ctx, y);
  for (const t of [tx, tw, y, rstd]) releaseTensor(ctx, t);
  return out;
}

describe('row kernel versions', () => {
  it('this adapter: every op passes its version 2 check at its default threads per row, and then runs version 2', async () => {
    const ctx = await newTestGpu();
    try {
      if (!ctx.description.features.subgroups) return; // nothing to choose between on such an adapter
      const prepared = await prepareRowKernels(ctx);
      expect(prepared.map((c) => c.op)).toEqual(['crossEntropy', 'sumRows', 'rmsnorm', 'layernorm', 'gradNorm']);
      for (const c of prepared) {
        expect(c.reason, `${c.op}: ${c.reason}`).toMatch(/matched the reference/);
        expect(c.version).toBe(2);
        expect(c.check!.mismatches).toBe(0);
      }
      // a later op uses the recorded choice (no second check): bit-identical to explicit version 2
      const submits = ctx.counters.submits;
      const y = await rmsnormY(ctx);
      expect(ctx.counters.submits - submits).toBe(1); // the readback's
      expect(y).toEqual(await rmsnormY(ctx, 2));
      expect(await rowKernelChoices(ctx)).toEqual(prepared);
    } finally {
      ctx.destroy();
    }
  });

  it('a check that fails (zero tolerance) is never used: version 1 runs, and the reason names the mismatches', async () => {
    const ctx = await newTestGpu();
    try {
      if (!ctx.description.features.subgroups) return;
      for (const [op, check, wg] of CHECKS) {
        const c = await validateRowVersion2(ctx, op, wg, check, { atol: 0, rtol: 0 });
        expect(c.version, op).toBe(1);
        expect(c.reason).toMatch(/version 2 failed its check on .*outside tolerance.*got .* expected .*version 1 is used/);
        expect(c.check!.mismatches).toBeGreaterThan(0);
      }
      const v1 = await rmsnormY(ctx, 1);
      const v2 = await rmsnormY(ctx, 2);
      // the two versions add in different orders, so their bits differ somewhere on this input:
      // which one ran is visible in the result
      expect(v2).not.toEqual(v1);
      expect(await rmsnormY(ctx)).toEqual(v1);
      // a later successful check replaces the choice
      expect((await validateRowVersion2(ctx, 'rmsnorm', 4, checkRmsnormV2)).version).toBe(2);
      expect(await rmsnormY(ctx)).toEqual(v2);
    } finally {
      ctx.destroy();
    }
  });

  it('a device without subgroups: version 1, the reason recorded; version 2 cannot even compile there', async () => {
    const ctx = await acquireGpu({ gpu: nodeGpu(), timeoutMs: 30_000, useSubgroups: false });
    try {
      expect(ctx.description.features.subgroups).toBe(false);
      const ref = await getTestGpu();
      // same adapter, same version 1 arithmetic
      expect(await rmsnormY(ctx)).toEqual(await rmsnormY(ref, 1));
      const labels = uploadI32(ctx, [3, -100], [2], 'labels');
      const logits = uploadF32(ctx, randn(2 * 9, 3), [2, 9], 'logits');
      const rows = uploadF32(ctx, [0, 0], [2], 'rows');
      await crossEntropyForwardBackward(ctx, logits, labels, { countedTokens: 1, lossOut: rows });
      expect(Number.isFinite((await downloadF32(ctx, rows))[0])).toBe(true);
      const choices = await rowKernelChoices(ctx);
      expect(choices.map((c) => c.op).sort()).toEqual(['crossEntropy', 'rmsnorm']);
      for (const c of choices) {
        expect(c.version).toBe(1);
        expect(c.reason).toBe("the device has no 'subgroups' feature");
      }
      const tx = uploadF32(ctx, x, [N, C], 'x');
      const tw = uploadF32(ctx, w, [C], 'w');
      await expect(rmsnormForward(ctx, tx, tw, { eps: 1e-5, version: 2 })).rejects.toThrow(/version 2 needs the 'subgroups' feature/);
      await expect(compileComputePipeline(ctx.device, { shader: RMSNORM_SG_SHADER, entryPoint: 'rmsnorm_forward', constants: { WG: 4 } })).rejects.toThrow(
        /rmsnorm_sg\.wgsl/,
      );
    } finally {
      ctx.destroy();
    }
  });

  it("the check runs on its own encoder: the caller's recorded, unsubmitted work stays unsubmitted", async () => {
    const ctx = await newTestGpu();
    try {
      if (!ctx.description.features.subgroups) return;
      const tx = uploadF32(ctx, x, [N, C], 'x');
      const tw = uploadF32(ctx, w, [C], 'w');
      const { y } = await rmsnormForward(ctx, tx, tw, { eps: 1e-5, wg: 4, version: 1 }); // recorded, not submitted
      const submits = ctx.counters.submits;
      expect((await validateRowVersion2(ctx, 'layernorm', 4, checkLayernormV2)).version).toBe(2);
      // read y through another isolated encoder: still the zeros of a fresh buffer
      const peek = isolatedContext(ctx);
      const before = new Float32Array(await readBuffer(peek, y.buffer, N * C * 4));
      peek.close();
      expect(before.every((v) => v === 0)).toBe(true);
      expect(ctx.counters.submits).toBeGreaterThan(submits); // the check's own submits
      expect(await downloadF32(ctx, y)).toEqual(await rmsnormY(ctx, 1));
    } finally {
      ctx.destroy();
    }
  });

  it('a check that runs out of memory is no verdict: version 1 for now, nothing recorded, its errors kept from the page; checked again later', async () => {
    const uncaptured: string[] = [];
    const ctx = await acquireGpu({ gpu: nodeGpu(), timeoutMs: 30_000, onUncapturedError: (m) => uncaptured.push(m) });
    try {
      if (!ctx.description.features.subgroups) return;
      ctx.allocator.simulatedLimitBytes = ctx.allocator.liveBytes; // every allocation fails
      const c = await validateRowVersion2(ctx, 'gradNorm', 256, checkGradNormV2);
      expect(c.version).toBe(1);
      expect(c.reason).toMatch(/check could not run \(.*: version 1 is used until it can/);
      expect(await rowKernelChoices(ctx)).toEqual([]);
      ctx.allocator.simulatedLimitBytes = null;
      await ctx.allocator.checkOutOfMemory();
      expect((await validateRowVersion2(ctx, 'gradNorm', 256, checkGradNormV2)).version).toBe(2);
      await ctx.device.queue.onSubmittedWorkDone();
      // the check's uploads and submits failed inside their own error scopes
      expect(uncaptured).toEqual([]);
    } finally {
      ctx.destroy();
    }
  });

  it.each([1, 2] as const)('version %i repeats bit for bit', async (version) => {
    const ctx = await getTestGpu();
    if (version === 2 && !ctx.description.features.subgroups) return;
    expect(await rmsnormY(ctx, version)).toEqual(await rmsnormY(ctx, version));
  });
});
