// The kernel benchmark page (bench/kernels.html), driven by bench/run-kernels.mjs in headless
// Chromium: window.runKernelBench() measures and returns KernelBenchResults; progress goes to the
// console (the runner prints it) and to the page. Asserts nothing about speed.
//   - the adapter's FMA-only peak (fma_peak.wgsl)
//   - y = x·Wᵀ (fp16 W) at 256³, 512³, 1024³ and two LLM shapes: the autotuner's per-variant
//     timings, its winner re-timed (also with f32 W), and tfjs-backend-webgpu's tf.matMul (f32)
//   - dx = dy·W and dW = dyᵀ·x at the LLM shapes (tuned winner)
//   - attention forward + backward (src/gpu/ops/attention.ts) and a LoRA layer forward + backward
//     (base matmul + src/gpu/ops/lora.ts)
// Times are medians of a few reps after warm-up (big shapes: fewer reps; each takes seconds here).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { acquireGpu, type AdapterDescription, type GpuContext } from '../src/gpu/device';
import { attentionBackward, attentionForward } from '../src/gpu/ops/attention';
import { loraBackward, loraForward, loraScale } from '../src/gpu/ops/lora';
import { matmulDyTX, matmulDyW, matmulXWt } from '../src/gpu/ops/matmul';
import { emptyTensor, releaseTensor, uploadF16, uploadF32, type Tensor } from '../src/gpu/tensor';
import { randn } from '../src/util/random';
import { browserTuneStore } from '../src/gpu/tune/idbStore';
import { matmulFlops, tuneMatmul, type VariantTiming } from '../src/gpu/tune/matmulTuner';
import type { MatmulShapeClass } from '../src/gpu/ops/matmulRegistry';
import { MemoryTuneStore } from '../src/gpu/tune/store';
import { timeGpu } from '../src/gpu/tune/timing';
import { fmaPeakFlops, timeFmaPeak } from './fmaPeak';

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

export interface KernelBenchResults {
  date: string;
  userAgent: string;
  adapter: AdapterDescription;
  peakGflops: number;
  /** the peak in GFLOP per CPU-second of the GPU process (null without /proc) */
  peakCpuGflops: number | null;
  matmul: MatmulRow[];
  backward: BackwardRow[];
  attention: AttentionRow[] | string;
  lora: LoraRow[] | string;
  tfjs: string;
  seconds: number;
  /** after a page reload, where each matmul shape's winner came from (expected: 'store', IndexedDB) */
  persistence?: { shape: string; source: string; winner: string }[];
}

export interface KernelBenchOptions {
  /** override the matmul shapes [m, n, k] (default: 256³, 512³, 1024³, 512x1536x576, 512x576x1536) */
  shapes?: [number, number, number][];
  attentionT?: number[];
  /** [m, n, k] for dx = dy·W and dW = dyᵀ·x (default: the two LLM shapes) */
  backwardShapes?: [number, number, number][];
  /** [tokens, in, out] of the LoRA layer (default: 512 x 576 -> 1536 and 512 x 1536 -> 576) */
  loraShapes?: [number, number, number][];
  skipTfjs?: boolean;
}

const LLM_SHAPES: [number, number, number][] = [
  [512, 1536, 576],
  [512, 576, 1536],
];

const DEFAULT_SHAPES: [number, number, number][] = [
  [256, 256, 256],
  [512, 512, 512],
  [1024, 1024, 1024],
  [512, 1536, 576], // tokens x 576 -> 1536 (SmolLM2-135M up/gate projections)
  [512, 576, 1536], // tokens x 1536 -> 576 (down projection)
];

function log(line: string): void {
  console.log(`[bench] ${line}`);
  const el = document.getElementById('log');
  if (el) el.textContent += `${line}\n`;
}

/** CPU seconds of Chromium's GPU process so far, from the runner (null when it cannot tell). */
async function cpuSeconds(): Promise<number | null> {
  return window.__gpuCpuSeconds ? window.__gpuCpuSeconds() : null;
}

/** GFLOP per CPU-second over `work`, which reports how many runs of `flopsPerRun` it did. */
async function cpuRate<T>(flopsPerRun: number, work: () => Promise<T & { runs: number }>): Promise<{ result: T & { runs: number }; cpuGflops: number | null }> {
  const c0 = await cpuSeconds();
  const result = await work();
  const c1 = await cpuSeconds();
  const cpuGflops = c0 !== null && c1 !== null && c1 > c0 ? (flopsPerRun * result.runs) / (c1 - c0) / 1e9 : null;
  return { result, cpuGflops };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** Fewer reps where one run takes seconds. */
function repsFor(flops: number): number {
  return flops > 1e9 ? 2 : 3;
}

async function measurePeak(ctx: GpuContext): Promise<{ gflops: number; cpuGflops: number | null }> {
  const groups = 256;
  const iterations = 512;
  const flops = fmaPeakFlops(groups, iterations);
  const { result: t, cpuGflops } = await cpuRate(flops, () => timeFmaPeak(ctx, groups, iterations));
  // the best rep: a peak is what the adapter can do when nothing else is in the way
  return { gflops: flops / t.best / 1e6, cpuGflops };
}

async function timeMatmul(ctx: GpuContext, m: number, n: number, k: number, variant: string, wDtype: 'f16' | 'f32') {
  const x = uploadF32(ctx, randn(m * k, 1), [m, k], 'bench x');
  const wv = randn(n * k, 2, 0.5);
  const w = wDtype === 'f16' ? uploadF16(ctx, wv, [n, k], 'bench W') : uploadF32(ctx, wv, [n, k], 'bench W');
  const out = emptyTensor(ctx, 'f32', [m, n], 'bench y');
  const flops = 2 * m * n * k;
  const { result: t, cpuGflops } = await cpuRate(flops, () =>
    timeGpu(ctx, () => matmulXWt(ctx, x, w, null, { variant, out }), { warmup: 1, reps: repsFor(flops) }),
  );
  for (const b of [x, w, out]) releaseTensor(ctx, b);
  return { gflops: flops / t.ms / 1e6, method: t.method, cpuGflops };
}

async function timeBackward(ctx: GpuContext, op: 'dyw' | 'dytx', m: number, n: number, k: number, variant: string): Promise<number> {
  const dy = uploadF32(ctx, randn(m * n, 3), [m, n], 'bench dy');
  const b = op === 'dyw' ? uploadF16(ctx, randn(n * k, 4, 0.5), [n, k], 'bench W') : uploadF32(ctx, randn(m * k, 4), [m, k], 'bench x');
  const out = emptyTensor(ctx, 'f32', op === 'dyw' ? [m, k] : [n, k], 'bench out');
  const flops = 2 * m * n * k;
  const record = () => (op === 'dyw' ? matmulDyW(ctx, dy, b, { variant, out }) : matmulDyTX(ctx, dy, b, { variant, out }));
  const t = await timeGpu(ctx, record, { warmup: 1, reps: repsFor(flops) });
  for (const x of [dy, b, out]) releaseTensor(ctx, x);
  return flops / t.ms / 1e6;
}

async function tfjsMatmulGflops(m: number, n: number, k: number): Promise<{ gflops: number; cpuGflops: number | null }> {
  const a = tf.tensor2d(randn(m * k, 1), [m, k]);
  const b = tf.tensor2d(randn(n * k, 2, 0.5), [n, k]);
  const run = async () => {
    const c = tf.matMul(a, b, false, true);
    await c.data();
    c.dispose();
  };
  await run(); // compiles tfjs's program
  const ts: number[] = [];
  // one rep where a run takes seconds (tfjs is several times slower than our kernels here)
  const reps = m * n * k > 5e8 ? 1 : 3;
  const { cpuGflops } = await cpuRate(2 * m * n * k, async () => {
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await run();
      ts.push(performance.now() - t0);
    }
    return { runs: reps };
  });
  a.dispose();
  b.dispose();
  return { gflops: (2 * m * n * k) / median(ts) / 1e6, cpuGflops };
}

async function benchAttention(ctx: GpuContext, Ts: number[]): Promise<AttentionRow[]> {
  const rows: AttentionRow[] = [];
  // SmolLM2-135M's attention: 9 query heads, 3 kv heads, head dim 64
  const [B, Hq, Hkv, D] = [1, 9, 3, 64];
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
    const shape = { B, T, Hq, Hkv, D };
    const { out, lse } = await attentionForward(ctx, q, k, v, shape);
    const grads = await attentionBackward(ctx, q, k, v, out, lse, dout, shape);
    made.push(out, lse, grads.dq, grads.dk, grads.dv, grads.scratch);
    const reps = T >= 512 ? 2 : 3;
    const fwd = await timeGpu(ctx, () => attentionForward(ctx, q, k, v, { ...shape, out, lse }), { warmup: 1, reps });
    const bwd = await timeGpu(
      ctx,
      () => attentionBackward(ctx, q, k, v, out, lse, dout, { ...shape, dq: grads.dq, dk: grads.dk, dv: grads.dv, scratch: grads.scratch }),
      { warmup: 1, reps },
    );
    const fwdFlops = 2 * B * Hq * T * T * D;
    const row = { B, T, Hq, Hkv, D, fwdMs: fwd.ms, bwdMs: bwd.ms, fwdGflops: fwdFlops / fwd.ms / 1e6, bwdGflops: (2.5 * fwdFlops) / bwd.ms / 1e6 };
    log(`attention T=${T}: forward ${fwd.ms.toFixed(1)} ms (${row.fwdGflops.toFixed(2)} GFLOP/s), backward ${bwd.ms.toFixed(1)} ms (${row.bwdGflops.toFixed(2)} GFLOP/s)`);
    rows.push(row);
    for (const t of made) releaseTensor(ctx, t);
  }
  return rows;
}

async function benchLora(ctx: GpuContext, shapes: [number, number, number][]): Promise<LoraRow[]> {
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
    log(`LoRA layer ${N}x${IN}->${OUT} r=${r}: forward ${fwd.ms.toFixed(1)} ms, backward ${bwd.ms.toFixed(1)} ms, ${row.gflops.toFixed(2)} GFLOP/s`);
    rows.push(row);
    for (const t of made) releaseTensor(ctx, t);
  }
  return rows;
}

export async function runKernelBench(opts: KernelBenchOptions = {}): Promise<KernelBenchResults> {
  const started = performance.now();
  const ctx = await acquireGpu({ timeoutMs: 30_000 });
  const d = ctx.description;
  log(`adapter: ${d.name} (software: ${d.isSoftware}, subgroups: ${d.features.subgroups}, timestamps: ${d.features.timestampQuery})`);

  const peak = await measurePeak(ctx);
  const peakGflops = peak.gflops;
  log(`FMA-only peak: ${peakGflops.toFixed(2)} GFLOP/s${peak.cpuGflops ? `, ${peak.cpuGflops.toFixed(2)} GFLOP per CPU-second` : ''}`);

  let tfjsStatus = 'skipped';
  if (!opts.skipTfjs) {
    try {
      await tf.setBackend('webgpu');
      await tf.ready();
      tfjsStatus = `tfjs-core ${tf.version_core}, backend ${tf.getBackend()}`;
    } catch (e) {
      tfjsStatus = `unavailable: ${(e as Error).message}`;
    }
    log(`tfjs: ${tfjsStatus}`);
  }
  const tfjsOk = tfjsStatus.startsWith('tfjs-core') && tf.getBackend() === 'webgpu';

  // Winners persist in IndexedDB (the app's store); a rerun shows the remembered winner, then
  // re-measures every variant anyway (this is a benchmark).
  const store = browserTuneStore() ?? new MemoryTuneStore();
  const matmul: MatmulRow[] = [];
  for (const [m, n, k] of opts.shapes ?? DEFAULT_SHAPES) {
    const sc: MatmulShapeClass = { op: 'xwt', m, n, k, wDtype: 'f16' };
    log(`matmul y = x·Wᵀ ${m}x${n}x${k} (fp16 W): tuning`);
    const prior = await tuneMatmul(ctx, sc, { store, onProgress: log });
    const cachedWinner = prior.source === 'store' ? prior.winner : null;
    if (cachedWinner) log(`  winner remembered from IndexedDB: ${cachedWinner}; measuring again`);
    const tuned = prior.source === 'measured' ? prior : await tuneMatmul(ctx, sc, { store, force: true, onProgress: log });
    const best = await timeMatmul(ctx, m, n, k, tuned.winner, 'f16');
    const f32w = await timeMatmul(ctx, m, n, k, tuned.winner, 'f32');
    let tfjs: { gflops: number; cpuGflops: number | null } | null = null;
    if (tfjsOk) {
      log(`  tfjs tf.matMul ${m}x${n}x${k} (f32)`);
      tfjs = await tfjsMatmulGflops(m, n, k);
    }
    const tfjsGflops = tfjs?.gflops ?? null;
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
      ofPeak: best.gflops / peakGflops,
      cpuGflops: best.cpuGflops,
      tfjsCpuGflops: tfjs?.cpuGflops ?? null,
      vsTfjsCpu: ratio(best.cpuGflops, tfjs?.cpuGflops),
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
    matmul.push(row);
  }

  const backward: BackwardRow[] = [];
  for (const [m, n, k] of opts.backwardShapes ?? LLM_SHAPES) {
    for (const op of ['dyw', 'dytx'] as const) {
      const sc: MatmulShapeClass = { op, m, n, k, wDtype: 'f16' };
      log(`${op === 'dyw' ? 'dx = dy·W' : 'dW = dyᵀ·x'} m=${m} n=${n} k=${k}: tuning`);
      const tuned = await tuneMatmul(ctx, sc, { store, onProgress: log });
      const gflops = await timeBackward(ctx, op, m, n, k, tuned.winner);
      log(`  => ${tuned.winner}: ${gflops.toFixed(2)} GFLOP/s, ${((100 * gflops) / peakGflops).toFixed(0)}% of peak (FLOPs = 2·${matmulFlops(sc) / 2})`);
      backward.push({ op, m, n, k, variant: tuned.winner, gflops, ofPeak: gflops / peakGflops });
    }
  }

  log('attention forward + backward (src/gpu/ops/attention.ts)');
  const attention = await benchAttention(ctx, opts.attentionT ?? [128, 256, 512]);
  log('LoRA layer forward + backward (matmul + src/gpu/ops/lora.ts)');
  const lora = await benchLora(ctx, opts.loraShapes ?? LLM_SHAPES);

  ctx.destroy();
  return {
    date: new Date().toISOString(),
    userAgent: navigator.userAgent,
    adapter: d,
    peakGflops,
    peakCpuGflops: peak.cpuGflops,
    matmul,
    backward,
    attention,
    lora,
    tfjs: tfjsStatus,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * After a page reload: are the winners of runKernelBench's matmul shapes still known? They should
 * come back from IndexedDB (source 'store') without timing anything.
 */
export async function checkTunePersistence(shapes: [number, number, number][] = DEFAULT_SHAPES): Promise<{ shape: string; source: string; winner: string }[]> {
  const ctx = await acquireGpu({ timeoutMs: 30_000 });
  const store = browserTuneStore();
  if (!store) throw new Error('no IndexedDB in this page');
  const out = [];
  for (const [m, n, k] of shapes) {
    // a persisted winner returns before anything is timed; were it missing, only v1 would be timed
    const r = await tuneMatmul(ctx, { op: 'xwt', m, n, k, wDtype: 'f16' }, { store, candidates: ['v1_16x16'], reps: 1 });
    out.push({ shape: `${m}x${n}x${k}`, source: r.source, winner: r.winner });
  }
  ctx.destroy();
  return out;
}

declare global {
  interface Window {
    runKernelBench: typeof runKernelBench;
    checkTunePersistence: typeof checkTunePersistence;
    /** exposed by bench/run-kernels.mjs */
    __gpuCpuSeconds?: () => Promise<number | null>;
  }
}

window.runKernelBench = runKernelBench;
window.checkTunePersistence = checkTunePersistence;
if (new URLSearchParams(location.search).has('run')) {
  runKernelBench().then(
    (r) => log(JSON.stringify(r, null, 2)),
    (e) => log(`failed: ${(e as Error).stack ?? e}`),
  );
}
