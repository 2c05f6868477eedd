// The row reductions in the kernel benchmark (bench/kernels.ts): this device's choice per op (the
// version the ops run, and why: src/gpu/ops/rowKernels.ts), and each version's time on LLM-sized
// rows: RMSNorm and LayerNorm forward + backward dx over tokens x width, cross-entropy forward +
// backward in place over tokens x vocabulary, the gradient norm over a few million values.
// Version 2 is timed only where the device has subgroups. GB/s counts the least traffic each op
// needs (every input read once, every output written once), not what the kernel actually moves.
import type { GpuContext } from '../src/gpu/device';
import { crossEntropyForwardBackward } from '../src/gpu/ops/crossEntropy';
import { gradNorm, type GradNormResult } from '../src/gpu/ops/gradNorm';
import { layernormBackward, layernormForward } from '../src/gpu/ops/layernorm';
import { rmsnormBackward, rmsnormForward } from '../src/gpu/ops/rmsnorm';
import { prepareRowKernels } from '../src/gpu/ops/rowKernelChecks';
import type { RowChoice, RowVersion } from '../src/gpu/ops/rowKernels';
import { emptyTensor, releaseTensor, uploadF32, uploadI32, type Tensor } from '../src/gpu/tensor';
import { timeGpu } from '../src/gpu/tune/timing';
import { randn } from '../src/util/random';
import type { Probe } from './kernelMeasure';

export interface RowKernelRow {
  op: string;
  shape: string;
  version: RowVersion;
  ms: number;
  gbps: number;
}

export interface RowKernelBench {
  choices: RowChoice[];
  rows: RowKernelRow[];
}

export interface RowKernelShapes {
  /** rows (tokens), default 512 (64 on CPU rasterisers) */
  tokens?: number;
  /** hidden width, default 576 (SmolLM2-135M) */
  width?: number;
  /** vocabulary, default 49152 (SmolLM2-135M) */
  vocab?: number;
  /** gradient values for the norm, default 4M */
  gradValues?: number;
}

export async function benchRowKernels(ctx: GpuContext, probe: Probe, shapes: RowKernelShapes = {}): Promise<RowKernelBench> {
  const choices = await prepareRowKernels(ctx);
  for (const c of choices) probe.log(`row kernels: ${c.op} at ${c.wg} threads per row runs version ${c.version}: ${c.reason}`);
  const N = shapes.tokens ?? (ctx.description.isSoftware ? 64 : 512);
  const C = shapes.width ?? 576;
  const V = shapes.vocab ?? 49152;
  const G = shapes.gradValues ?? 4 << 20;
  const versions: RowVersion[] = ctx.description.features.subgroups ? [1, 2] : [1];
  const made: Tensor[] = [];
  const keep = <T extends Tensor>(t: T) => (made.push(t), t);
  const x = keep(uploadF32(ctx, randn(N * C, 1), [N, C], 'x'));
  const dy = keep(uploadF32(ctx, randn(N * C, 2), [N, C], 'dy'));
  const w = keep(uploadF32(ctx, randn(C, 3, 0.5), [C], 'w'));
  const b = keep(uploadF32(ctx, randn(C, 4, 0.5), [C], 'b'));
  const y = keep(emptyTensor(ctx, 'f32', [N, C], 'y'));
  const dx = keep(emptyTensor(ctx, 'f32', [N, C], 'dx'));
  const mean = keep(emptyTensor(ctx, 'f32', [N], 'mean'));
  const rstd = keep(emptyTensor(ctx, 'f32', [N], 'rstd'));
  const logits = keep(uploadF32(ctx, randn(N * V, 5, 2), [N, V], 'logits'));
  const labels = keep(uploadI32(ctx, Int32Array.from({ length: N }, (_, i) => (i * 7919) % V), [N], 'labels'));
  const loss = keep(emptyTensor(ctx, 'f32', [1], 'loss'));
  const grads = keep(uploadF32(ctx, randn(G, 6, 0.01), [G], 'gradients'));
  const rows: RowKernelRow[] = [];
  const time = async (op: string, shape: string, version: RowVersion, bytes: number, record: () => Promise<unknown>) => {
    const t = await timeGpu(ctx, record, { warmup: 1, reps: 3 });
    const row = { op, shape, version, ms: t.ms, gbps: bytes / t.ms / 1e6 };
    probe.log(`${op} v${version} ${shape}: ${t.ms.toFixed(3)} ms (${row.gbps.toFixed(2)} GB/s)`);
    rows.push(row);
  };
  const nc = `${N}x${C}`;
  for (const version of versions) {
    await time('rmsnorm forward + backward dx', nc, version, 4 * 5 * N * C, async () => {
      await rmsnormForward(ctx, x, w, { eps: 1e-5, out: y, rstdOut: rstd, version });
      await rmsnormBackward(ctx, dy, x, w, rstd, { dx, version });
    });
    await time('layernorm forward + backward dx', nc, version, 4 * 5 * N * C, async () => {
      await layernormForward(ctx, x, w, b, { eps: 1e-5, out: y, meanOut: mean, rstdOut: rstd, version });
      await layernormBackward(ctx, dy, x, w, mean, rstd, { dx, version });
    });
    // in place: the logits turn into gradients, and stay finite, so repeating it is fine for timing
    await time('cross-entropy forward + backward (in place)', `${N}x${V}`, version, 4 * 2 * N * V, () =>
      crossEntropyForwardBackward(ctx, logits, labels, { countedTokens: N, lossOut: loss, dlogits: 'inPlace', version }),
    );
    const norm: { r: GradNormResult | null } = { r: null };
    await time('gradient norm', `${G}`, version, 4 * G, async () => {
      norm.r = await gradNorm(ctx, [grads], { maxNorm: 1, version, ...(norm.r ?? {}) });
    });
    if (norm.r) for (const t of [norm.r.state, norm.r.partials, norm.r.flags]) releaseTensor(ctx, t);
  }
  for (const t of made) releaseTensor(ctx, t);
  return { choices, rows };
}
