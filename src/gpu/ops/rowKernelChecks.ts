// Runs every row reduction's version 2 check (rowKernels.ts) at the threads per row the ops use by
// default on this adapter, ahead of the first training step. Without it each op checks itself on
// first use (in training: during step 1, whose GPU command counts then include the checks' few
// submits and readbacks); tests and benchmarks that count commands per step call it first, and the
// kernel bench reports its choices. Checks already done are not run again.
import type { GpuContext } from '../device';
import { checkCrossEntropyV2, checkSumRowsV2, CROSS_ENTROPY_WG, SUM_WG } from './crossEntropy';
import { checkGradNormV2, GRADNORM_WG } from './gradNorm';
import { checkLayernormV2, LAYERNORM_WG } from './layernorm';
import { checkRmsnormV2, RMSNORM_WG } from './rmsnorm';
import { rowChoice, type RowChoice } from './rowKernels';
import { rowThreads } from './rowThreads';

/** The choices for the default threads per row of every row op on this device (checks run once each, in turn). */
export async function prepareRowKernels(ctx: GpuContext): Promise<RowChoice[]> {
  return [
    await rowChoice(ctx, 'crossEntropy', rowThreads(ctx, CROSS_ENTROPY_WG), checkCrossEntropyV2),
    await rowChoice(ctx, 'sumRows', SUM_WG, checkSumRowsV2),
    await rowChoice(ctx, 'rmsnorm', rowThreads(ctx, RMSNORM_WG), checkRmsnormV2),
    await rowChoice(ctx, 'layernorm', rowThreads(ctx, LAYERNORM_WG), checkLayernormV2),
    await rowChoice(ctx, 'gradNorm', GRADNORM_WG, checkGradNormV2),
  ];
}
