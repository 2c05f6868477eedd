// Threads per row for the row-reduction kernels (RMSNorm, LayerNorm, cross-entropy), which give each
// row one workgroup and reduce it in workgroup memory. On GPUs a wide workgroup hides memory latency.
// CPU rasterisers (SwiftShader, llvmpipe) run a workgroup's invocations as fibers and pay for every
// barrier once per invocation, so a narrow one wins there: on SwiftShader, N = 1024 rows,
// cross-entropy forward+backward over V = 512 took 544 ms with 256 threads, 80 with 64, 24 with 16,
// 14 with 4 and 52 with 1; RMSNorm C = 64 forward 41 ms with 64 threads, 2.9 with 4 (C = 576:
// 55 -> 11 ms). The op's `wg` option still picks any size (version 1 of the kernels: a power of
// two; rowKernels.ts). With version 2 (subgroups) a workgroup of 4 is exactly one of SwiftShader's
// subgroups, so its rows reduce with no barrier at all; real GPUs' subgroups are 32 or 64 wide
// (some 8-128), so there 256/64 threads are a few subgroups each, combined in workgroup memory.
import type { GpuContext } from '../device';

/** The software adapters' threads per row (see above). */
export const SOFTWARE_ROW_THREADS = 4;

/** `requested` when given, else the adapter's default: `hardware` on GPUs, SOFTWARE_ROW_THREADS on CPU rasterisers. */
export function rowThreads(ctx: GpuContext, hardware: number, requested?: number): number {
  if (requested !== undefined) return requested;
  return ctx.description.isSoftware ? SOFTWARE_ROW_THREADS : hardware;
}
