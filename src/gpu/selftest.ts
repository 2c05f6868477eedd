// A quick end-to-end check of the GPU path that runs wherever the engine runs (worker, Node):
// matmul kernels against the plain TS reference on the same fp16-rounded weights.
import type { GpuContext } from './device';
import { roundToF16 } from '../util/f16';
import { MATMUL_VARIANTS, matmulXWt } from './ops/matmul';
import { matmulXWtRef } from './ops/matmul.ref';
import { compareArrays } from '../util/check';
import { randn } from '../util/random';
import { downloadF32, releaseTensor, uploadF16, uploadF32 } from './tensor';

export interface SelfTestCase {
  op: string;
  variant: string;
  shape: string;
  maxAbsErr: number;
  maxRelErr: number;
  mismatches: number;
  passed: boolean;
  ms: number;
}

export const SELF_TEST_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [17, 33, 7],
  [64, 48, 80],
];
const TOL = { atol: 1e-5, rtol: 1e-5 };

export async function runSelfTest(ctx: GpuContext, shapes = SELF_TEST_SHAPES): Promise<SelfTestCase[]> {
  const results: SelfTestCase[] = [];
  for (const [M, N, K] of shapes) {
    const x = randn(M * K, 1 + M + K);
    const w = randn(N * K, 2 + N + K, 0.5);
    const ref = matmulXWtRef(x, Float32Array.from(w, roundToF16), null, M, N, K);
    const tx = uploadF32(ctx, x, [M, K], 'selftest x');
    const tw = uploadF16(ctx, w, [N, K], 'selftest W');
    for (const variant of Object.keys(MATMUL_VARIANTS)) {
      const t0 = performance.now();
      const ty = await matmulXWt(ctx, tx, tw, null, { variant });
      const y = await downloadF32(ctx, ty);
      const ms = performance.now() - t0;
      releaseTensor(ctx, ty);
      const r = compareArrays(y, ref, TOL);
      results.push({
        op: 'matmul y = x·Wᵀ',
        variant,
        shape: `${M}x${N}x${K}`,
        maxAbsErr: r.maxAbsErr,
        maxRelErr: r.maxRelErr,
        mismatches: r.mismatches,
        passed: r.mismatches === 0,
        ms,
      });
    }
    releaseTensor(ctx, tx);
    releaseTensor(ctx, tw);
  }
  return results;
}
