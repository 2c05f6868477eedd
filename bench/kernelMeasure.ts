// The kernel benchmark's measurements, shared by the browser page (bench/kernels.ts, driven by
// bench/run-kernels.mjs) and the GPU kit's Node runner (bench/kit/kernelsNode.ts): the FMA-only
// peak, a tuned y = x·Wᵀ per shape (every variant the tuner timed, its winner re-timed with fp16
// and f32 W), dx = dy·W and dW = dyᵀ·x, attention forward + backward, a LoRA layer. Times are
// medians of a few reps after warm-up (big shapes: fewer reps; each takes seconds on a CPU).
import type { GpuContext } from '../src/gpu/device';
import { attentionBackward, attentionChoiceFor, attentionForward, DEFAULT_ATTENTION_VARIANT, FA2_ATTENTION_VARIANT, FA2_SG_ATTENTION_VARIANT, prepareAttentionKernels } from '../src/gpu/ops/attention';
import { loraBackward, loraForward, loraScale } from '../src/gpu/ops/lora';
import { matmulDyTX, matmulDyW, matmulXWt } from '../src/gpu/ops/matmul';
import { problemOf, type MatmulShapeClass } from '../src/gpu/ops/matmulRegistry';
import { legalVariants } from '../src/gpu/ops/matmulVariants';
import { emptyTensor, releaseTensor, uploadF16, uploadF32, type Tensor } from '../src/gpu/tensor';
import { matmulFlops, tuneMatmul, type VariantTiming } from '../src/gpu/tune/matmulTuner';
import type { TuneStore } from '../src/gpu/tune/store';
import { timeGpu } from '../src/gpu/tune/timing';
import { randn } from '../src/util/random';
import { fmaPeakFlops, timeFmaPeak } from './fmaPeak';

/** Where progress goes, and the CPU seconds of the process running the kernels (null: unknown). */
export interface Probe {
  log: (line: string) => void;
  cpuSeconds: () => Promise<number | null>;
}

export const SMOLLM2_HEADS = { Hq: 9, Hkv: 3, D: 64 };

/** Tuner options: all legal variants, or (maxVariants, for quick checks) the first few of them. */
function tuneScope(ctx: GpuContext, sc: MatmulShapeClass, maxVariants: number | undefined) {
  return maxVariants === undefined ? {} : { candidates: legalVariants(ctx, problemOf(sc)).slice(0, maxVariants) };
}

export interface MatmulRow {
  m: number;
  n: number;
  k: number;
  /** y = x·Wᵀ with W fp16 (base weights): the tuned winner */
  variant: string;
  gflops: number;
  /** the same variant with f32 W (LoRA / attention weights) */
  gflopsF32W: number;
  tfjsGflops: number | null;
  vsTfjs: number | null;
  ofPeak: number;
  /** GFLOP per CPU-second of the GPU process (null without /proc): robust to other load */
  cpuGflops: number | null;
  tfjsCpuGflops: number | null;
  vsTfjsCpu: number | null;
  ofPeakCpu: number | null;
  /** every legal variant as the autotuner measured it (null: rejected; non-finalists on its smaller probe) */
  variants: Record<string, number | null>;
  /** where the tuner's previous winner came from before this run re-measured: IndexedDB or nothing */
  cachedWinner: string | null;
  timing: 'timestamp' | 'wall';
}

export interface BackwardRow {
  op: 'dyw' | 'dytx';
  m: number;
  n: number;
  k: number;
  variant: string;
  gflops: number;
  ofPeak: number;
}

export interface AttentionRow {
  /** kernel version: v1 (a thread per row) or v2 (FlashAttention-2 tiles) */
  variant: string;
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  fwdMs: number;
  bwdMs: number;
  /** causal FLOPs: forward 2·B·Hq·T²·D, backward 2.5x that */
  fwdGflops: number;
  bwdGflops: number;
  /** backward ms / forward ms */
  bwdOverFwd: number;
  /** backward GFLOP/s / forward GFLOP/s (issue 15's target on GPUs: >= 0.5; CUDA FlashAttention-2 ~0.74) */
  bwdRateOverFwd: number;
}

export interface LoraRow {
  N: number;
  IN: number;
  OUT: number;
  r: number;
  dropout: number;
  fwdMs: number;
  bwdMs: number;
  /** (fwd + bwd FLOPs) / (fwd + bwd time); the base x·Wᵀ and dy·W included, no dW (frozen) */
  gflops: number;
}

/** GFLOP per CPU-second over `work`, which reports how many runs of `flopsPerRun` it did. */
export async function cpuRate<T>(probe: Probe, flopsPerRun: number, work: () => Promise<T & { runs: number }>): Promise<{ result: T & { runs: number }; cpuGflops: number | null }> {
  const c0 = await probe.cpuSeconds();
  const result = await work();
  const c1 = await probe.cpuSeconds();
  const cpuGflops = c0 !== null && c1 !== null && c1 > c0 ? (flopsPerRun * result.runs) / (c1 - c0) / 1e9 : null;
  return { result, cpuGflops };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** Fewer reps where one run takes seconds. */
function repsFor(flops: number): number {
  return flops > 1e9 ? 2 : 3;
}

export async function measurePeak(ctx: GpuContext, probe: Probe): Promise<{ gflops: number; cpuGflops: number | null }> {
  const groups = 256;
  const iterations = 512;
  const flops = fmaPeakFlops(groups, iterations);
  const { result: t, cpuGflops } = await cpuRate(probe, flops, () => timeFmaPeak(ctx, groups, iterations));
  // the best rep: a peak is what the adapter can do when nothing else is in the way
  return { gflops: flops / t.best / 1e6, cpuGflops };
}

export async function timeMatmul(ctx: GpuContext, probe: Probe, m: number, n: number, k: number, variant: string, wDtype: 'f16' | 'f32') {
  const x = uploadF32(ctx, randn(m * k, 1), [m, k], 'bench x');
  const wv = randn(n * k, 2, 0.5);
  const w = wDtype === 'f16' ? uploadF16(ctx, wv, [n, k], 'bench W') : uploadF32(ctx, wv, [n, k], 'bench W');
  const out = emptyTensor(ctx, 'f32', [m, n], 'bench y');
  const flops = 2 * m * n * k;
  const { result: t, cpuGflops } = await cpuRate(probe, flops, () =>
    timeGpu(ctx, () => matmulXWt(ctx, x, w, null, { variant, out }), { warmup: 1, reps: repsFor(flops) }),
  );
  for (const b of [x, w, out]) releaseTensor(ctx, b);
  return { gflops: flops / t.ms / 1e6, method: t.method, cpuGflops };
}

export async function timeBackward(ctx: GpuContext, op: 'dyw' | 'dytx', m: number, n: number, k: number, variant: string): Promise<number> {
  const dy = uploadF32(ctx, randn(m * n, 3), [m, n], 'bench dy');
  const b = op === 'dyw' ? uploadF16(ctx, randn(n * k, 4, 0.5), [n, k], 'bench W') : uploadF32(ctx, randn(m * k, 4), [m, k], 'bench x');
  const out = emptyTensor(ctx, 'f32', op === 'dyw' ? [m, k] : [n, k], 'bench out');
  const flops = 2 * m * n * k;
  const record = () => (op === 'dyw' ? matmulDyW(ctx, dy, b, { variant, out }) : matmulDyTX(ctx, dy, b, { variant, out }));
  const t = await timeGpu(ctx, record, { warmup: 1, reps: repsFor(flops) });
  for (const x of [dy, b, out]) releaseTensor(ctx, x);
  return flops / t.ms / 1e6;
}

/**
 * Attention forward + backward at each T, version 1 and (where it is legal and passes its check
 * on this device) version 2; heads default to SmolLM2-135M's (9 query, 3 kv, head dim 64).
 */
export async function benchAttention(ctx: GpuContext, probe: Probe, Ts: number[], heads: { Hq: number; Hkv: number; D: number } = SMOLLM2_HEADS): Promise<AttentionRow[]> {
  const rows: AttentionRow[] = [];
  const B = 1;
  const { Hq, Hkv, D } = heads;
  for (const T of Ts) {
    const made: Tensor[] = [];
    const f32 = (n: number, seed: number, shape: number[], label: string) => {
      const t = uploadF32(ctx, randn(n, seed, 0.5), shape, label);
      made.push(t);
      return t;
    };
    const q = f32(B * T * Hq * D, 1, [B, T, Hq, D], 'q');
    const k = f32(B * T * Hkv * D, 2, [B, T, Hkv, D], 'k');
    const v = f32(B * T * Hkv * D, 3, [B, T, Hkv, D], 'v');
    const dout = f32(B * T * Hq * D, 4, [B, T, Hq, D], 'dout');
    const base = { B, T, Hq, Hkv, D };
    const variants = [DEFAULT_ATTENTION_VARIANT];
    await prepareAttentionKernels(ctx, D); // versions 2 and 3: one-time checks on this device
    const choice = attentionChoiceFor(ctx, base);
    // the ops' choice and every checked version below it (v3 -> v2 -> v1), so the rows compare them
    if (choice.variant === FA2_SG_ATTENTION_VARIANT) variants.push(FA2_ATTENTION_VARIANT, FA2_SG_ATTENTION_VARIANT);
    else if (choice.variant === FA2_ATTENTION_VARIANT) variants.push(FA2_ATTENTION_VARIANT);
    probe.log(`attention T=${T}: the ops run ${choice.variant} (${choice.reason})`);
    for (const variant of variants) {
      const shape = { ...base, variant };
      const { out, lse } = await attentionForward(ctx, q, k, v, shape);
      const grads = await attentionBackward(ctx, q, k, v, out, lse, dout, shape);
      const reps = T >= 512 ? 2 : 3;
      const fwd = await timeGpu(ctx, () => attentionForward(ctx, q, k, v, { ...shape, out, lse }), { warmup: 1, reps });
      const bwd = await timeGpu(
        ctx,
        () => attentionBackward(ctx, q, k, v, out, lse, dout, { ...shape, dq: grads.dq, dk: grads.dk, dv: grads.dv, scratch: grads.scratch }),
        { warmup: 1, reps },
      );
      const fwdFlops = 2 * B * Hq * T * T * D;
      const row = { variant, ...base, fwdMs: fwd.ms, bwdMs: bwd.ms, fwdGflops: fwdFlops / fwd.ms / 1e6, bwdGflops: (2.5 * fwdFlops) / bwd.ms / 1e6, bwdOverFwd: bwd.ms / fwd.ms, bwdRateOverFwd: (2.5 * fwd.ms) / bwd.ms };
      probe.log(
        `attention ${variant} T=${T}: forward ${fwd.ms.toFixed(1)} ms (${row.fwdGflops.toFixed(2)} GFLOP/s), backward ${bwd.ms.toFixed(1)} ms (${row.bwdGflops.toFixed(2)} GFLOP/s), backward/forward rate ${row.bwdRateOverFwd.toFixed(2)}x`,
      );
      rows.push(row);
      for (const t of [out, lse, grads.dq, grads.dk, grads.dv, grads.scratch]) releaseTensor(ctx, t);
    }
    for (const t of made) releaseTensor(ctx, t);
  }
  return rows;
}

export async function benchLora(ctx: GpuContext, probe: Probe, shapes: [number, number, number][]): Promise<LoraRow[]> {
  const rows: LoraRow[] = [];
  for (const [N, IN, OUT] of shapes) {
    const r = 16;
    const dropout = { p: 0.05, seed: 1234 };
    const scale = loraScale(32, r);
    const made: Tensor[] = [];
    const x = uploadF32(ctx, randn(N * IN, 1), [N, IN], 'x');
    const W = uploadF16(ctx, randn(OUT * IN, 2, 0.05), [OUT, IN], 'W');
    const A = uploadF32(ctx, randn(r * IN, 3, 0.05), [r, IN], 'A');
    const Bm = uploadF32(ctx, randn(OUT * r, 4, 0.05), [OUT, r], 'B');
    const dy = uploadF32(ctx, randn(N * OUT, 5), [N, OUT], 'dy');
    const y = emptyTensor(ctx, 'f32', [N, OUT], 'y');
    const u = emptyTensor(ctx, 'f32', [N, r], 'u');
    const du = emptyTensor(ctx, 'f32', [N, r], 'du');
    const dx = emptyTensor(ctx, 'f32', [N, IN], 'dx');
    const dA = emptyTensor(ctx, 'f32', [r, IN], 'dA');
    const dB = emptyTensor(ctx, 'f32', [OUT, r], 'dB');
    made.push(x, W, A, Bm, dy, y, u, du, dx, dA, dB);
    const forward = async () => {
      await matmulXWt(ctx, x, W, null, { out: y });
      await loraForward(ctx, x, A, Bm, y, { scale, dropout, u });
    };
    const backward = async () => {
      await matmulDyW(ctx, dy, W, { out: dx });
      await loraBackward(ctx, x, A, Bm, u, dy, { scale, dropout, du }, { dA, dB, dx });
    };
    const fwd = await timeGpu(ctx, forward, { warmup: 1, reps: 3 });
    const bwd = await timeGpu(ctx, backward, { warmup: 1, reps: 3 });
    const flops = 2 * N * IN * OUT * 2 + 2 * N * r * (IN + OUT) * 3;
    const row = { N, IN, OUT, r, dropout: dropout.p, fwdMs: fwd.ms, bwdMs: bwd.ms, gflops: flops / (fwd.ms + bwd.ms) / 1e6 };
    probe.log(`LoRA layer ${N}x${IN}->${OUT} r=${r}: forward ${fwd.ms.toFixed(1)} ms, backward ${bwd.ms.toFixed(1)} ms, ${row.gflops.toFixed(2)} GFLOP/s`);
    rows.push(row);
    for (const t of made) releaseTensor(ctx, t);
  }
  return rows;
}

/** Tune y = x·Wᵀ (fp16 W) for one shape and time the winner with fp16 and f32 W; tfjs: the peer's GFLOP/s, if it runs. */
export async function benchMatmulShape(
  ctx: GpuContext,
  probe: Probe,
  store: TuneStore,
  [m, n, k]: [number, number, number],
  peak: { gflops: number; cpuGflops: number | null },
  tfjs: ((m: number, n: number, k: number) => Promise<{ gflops: number; cpuGflops: number | null }>) | null,
  maxVariants?: number,
): Promise<MatmulRow> {
  const log = probe.log;
  const sc: MatmulShapeClass = { op: 'xwt', m, n, k, wDtype: 'f16' };
  log(`matmul y = x·Wᵀ ${m}x${n}x${k} (fp16 W): tuning`);
  const scope = tuneScope(ctx, sc, maxVariants);
  const prior = await tuneMatmul(ctx, sc, { store, onProgress: log, ...scope });
  const cachedWinner = prior.source === 'store' ? prior.winner : null;
  if (cachedWinner) log(`  winner remembered from the store: ${cachedWinner}; measuring again`);
  const tuned = prior.source === 'measured' ? prior : await tuneMatmul(ctx, sc, { store, force: true, onProgress: log, ...scope });
  const best = await timeMatmul(ctx, probe, m, n, k, tuned.winner, 'f16');
  const f32w = await timeMatmul(ctx, probe, m, n, k, tuned.winner, 'f32');
  let peer: { gflops: number; cpuGflops: number | null } | null = null;
  if (tfjs) {
    log(`  tfjs tf.matMul ${m}x${n}x${k} (f32)`);
    peer = await tfjs(m, n, k);
  }
  const tfjsGflops = peer?.gflops ?? null;
  const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? a / b : null);
  const row: MatmulRow = {
    m,
    n,
    k,
    variant: tuned.winner,
    gflops: best.gflops,
    gflopsF32W: f32w.gflops,
    tfjsGflops,
    vsTfjs: tfjsGflops ? best.gflops / tfjsGflops : null,
    ofPeak: best.gflops / peak.gflops,
    cpuGflops: best.cpuGflops,
    tfjsCpuGflops: peer?.cpuGflops ?? null,
    vsTfjsCpu: ratio(best.cpuGflops, peer?.cpuGflops),
    ofPeakCpu: ratio(best.cpuGflops, peak.cpuGflops),
    variants: Object.fromEntries(tuned.timings.map((t: VariantTiming) => [t.variant, t.gflops])),
    cachedWinner,
    timing: best.method,
  };
  log(
    `  => ${row.variant}: ${row.gflops.toFixed(2)} GFLOP/s (f32 W ${row.gflopsF32W.toFixed(2)})` +
      (tfjsGflops ? `, tfjs ${tfjsGflops.toFixed(2)}, x${row.vsTfjs!.toFixed(2)}` : '') +
      `, ${(100 * row.ofPeak).toFixed(0)}% of peak` +
      (row.ofPeakCpu ? ` (per CPU-second: ${row.cpuGflops!.toFixed(2)}, ${(100 * row.ofPeakCpu).toFixed(0)}% of peak${row.vsTfjsCpu ? `, x${row.vsTfjsCpu.toFixed(2)} tfjs` : ''})` : ''),
  );
  return row;
}

/** Tune and time dx = dy·W and dW = dyᵀ·x for each [m, n, k]. */
export async function benchBackward(ctx: GpuContext, probe: Probe, store: TuneStore, shapes: [number, number, number][], peakGflops: number, maxVariants?: number): Promise<BackwardRow[]> {
  const backward: BackwardRow[] = [];
  for (const [m, n, k] of shapes) {
    for (const op of ['dyw', 'dytx'] as const) {
      const sc: MatmulShapeClass = { op, m, n, k, wDtype: 'f16' };
      probe.log(`${op === 'dyw' ? 'dx = dy·W' : 'dW = dyᵀ·x'} m=${m} n=${n} k=${k}: tuning`);
      const tuned = await tuneMatmul(ctx, sc, { store, onProgress: probe.log, ...tuneScope(ctx, sc, maxVariants) });
      const gflops = await timeBackward(ctx, op, m, n, k, tuned.winner);
      probe.log(`  => ${tuned.winner}: ${gflops.toFixed(2)} GFLOP/s, ${((100 * gflops) / peakGflops).toFixed(0)}% of peak (FLOPs = 2·${matmulFlops(sc) / 2})`);
      backward.push({ op, m, n, k, variant: tuned.winner, gflops, ofPeak: gflops / peakGflops });
    }
  }
  return backward;
}
