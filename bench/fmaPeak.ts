// The adapter's FMA-only peak (fma_peak.wgsl): the kernel benchmark's "% of peak" column and the
// training benchmark's fallback when the kernel benchmark has not run.
import type { GpuContext } from '../src/gpu/device';
import { dispatch } from '../src/gpu/dispatch';
import { emptyTensor, releaseTensor } from '../src/gpu/tensor';
import { timeGpu, type Timing } from '../src/gpu/tune/timing';
import peakCode from './fma_peak.wgsl?raw';

const WG = 64;

/** FLOPs of one dispatch of `groups` workgroups running `iterations` iterations (see fma_peak.wgsl). */
export function fmaPeakFlops(groups: number, iterations: number): number {
  return groups * WG * iterations * 16 * 4 * 4 * 2;
}

/** Times one dispatch of fma_peak.wgsl (1 warm-up, 5 reps); its best rep is the peak. */
export async function timeFmaPeak(ctx: GpuContext, groups: number, iterations: number): Promise<Timing> {
  const pipeline = await ctx.pipelines.get({ shader: { file: 'fma_peak.wgsl (bench)', code: peakCode }, entryPoint: 'fma_peak', constants: { WG } });
  const out = emptyTensor(ctx, 'f32', [groups * WG * 4], 'fma peak out');
  try {
    return await timeGpu(
      ctx,
      async () => dispatch(ctx, { pipeline, bindings: [out], uniforms: new Uint32Array([iterations, 1, 0, 0]), workgroups: [groups], label: 'fma peak' }),
      { warmup: 1, reps: 5 },
    );
  } finally {
    releaseTensor(ctx, out);
  }
}
